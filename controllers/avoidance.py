"""Lidar-only local avoidance along the commanded arc, and obstacle marking for replans.

Every function works on the robot's own scan (robot frame: x forward, y left,
REP 103) and its own pose estimate, never on the true world. They run each
controller cycle on a few hundred beams: the per-point ones run a compiled loop
(``controllers.kernels``) when numba is installed (``compiled=True``, the
default then), else the numpy code below, which gives the same bits.
"""

from __future__ import annotations

import math

import numpy as np

from controllers import kernels
from sim.interfaces.payloads import LaserScan

__all__ = ["arc_gap", "beam_trig", "brake_speed", "clearance", "disc_offsets", "mark_points", "off_map",
           "rear_gap", "scan_points"]


# A lidar hands out the same beam-angle array every scan: its cos/sin are computed once.
# Entries keep their array alive, so an id is never reused while cached.
_TRIG: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def beam_trig(beam_angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of a scan's beam angles, cached for a read-only angle array (the lidar's own)."""
    hit = _TRIG.get(id(beam_angles))
    if hit is not None and hit[0] is beam_angles:
        return hit[1], hit[2]
    a = np.asarray(beam_angles, dtype=float)
    cos_a, sin_a = np.cos(a), np.sin(a)
    if isinstance(beam_angles, np.ndarray) and not beam_angles.flags.writeable:
        if len(_TRIG) >= 16:  # bounded: many runs in one process (tests, sweeps) start over
            _TRIG.clear()
        _TRIG[id(beam_angles)] = (beam_angles, cos_a, sin_a)
    return cos_a, sin_a


def scan_points(scan: LaserScan | None, compiled: bool = kernels.HAVE_NUMBA) -> np.ndarray:
    """Returns of ``scan`` as (P, 2) points in the robot frame; no return / NaN dropped."""
    if scan is None:
        return np.zeros((0, 2))
    cos_a, sin_a = beam_trig(scan.angles)  # the same angles every scan: cos/sin cached
    if len(scan.ranges) != len(cos_a):
        raise ValueError(f"{len(scan.ranges)} ranges but {len(cos_a)} angles")
    if compiled:
        return kernels.scan_points(np.ascontiguousarray(scan.ranges), cos_a, sin_a)
    r = np.asarray(scan.ranges, dtype=float)
    ok = np.isfinite(r) & (r > 0.0)
    r = r[ok]
    return np.column_stack([r * cos_a[ok], r * sin_a[ok]])


def off_map(points: np.ndarray, pose: np.ndarray, occupied: np.ndarray, resolution: float,
            compiled: bool = kernels.HAVE_NUMBA) -> np.ndarray:
    """The scan points (robot frame) the known map does not explain: robots, clutter, people.

    A point counts as the map when it falls in an occupied cell of ``occupied``
    (the map rasterised with a small inflation, to absorb range noise) or off
    the grid. Moving things are among the rest, so avoidance treats them with
    more caution than shelves it already planned around.
    """
    if len(points) == 0:
        return points
    x, y, th = float(pose[0]), float(pose[1]), float(pose[2])
    c, s = math.cos(th), math.sin(th)
    if compiled:
        return kernels.off_map(points, x, y, c, s, occupied, float(resolution))
    ix = np.floor((x + c * points[:, 0] - s * points[:, 1]) / resolution).astype(np.intp)
    iy = np.floor((y + s * points[:, 0] + c * points[:, 1]) / resolution).astype(np.intp)
    rows, cols = occupied.shape
    inside = (ix >= 0) & (ix < cols) & (iy >= 0) & (iy < rows)
    known = np.ones(len(points), dtype=bool)
    known[inside] = occupied[iy[inside], ix[inside]]
    return points[~known]


def arc_gap(points: np.ndarray, v: float, w: float, radius: float, side: float,
            horizon: float, compiled: bool = kernels.HAVE_NUMBA) -> float:
    """Free travel (m, beyond the body) along the arc of ``(v, w)`` before a scan point.

    The swept band is the arc widened by ``radius + side`` on each side; a point
    in it at arc length ``s`` leaves ``s - radius`` of free travel. Only the
    next ``horizon`` metres (and at most half a turn) count, so points behind or
    far round a tight turn do not stop the robot. ``inf`` when nothing is in the
    way or the command does not move forward.
    """
    if v <= 0.0 or len(points) == 0:
        return math.inf
    if compiled:
        return kernels.arc_gap(points, float(v), float(w), float(radius), float(side), float(horizon))
    half = radius + side
    x, y = points[:, 0], points[:, 1]
    k = w / v
    if abs(k) * horizon < 1e-3:  # straight enough: a rectangle ahead
        hit = (x > 0.0) & (np.abs(y) < half) & (x < horizon + radius)
        along = x[hit]
    else:
        rc = 1.0 / abs(k)
        cy = 1.0 / k  # centre of rotation (0, cy)
        band = (x > -radius) & (np.abs(np.hypot(x, y - cy) - rc) < half)
        x, y = x[band], y[band]
        # angle swept from the robot to the point, in the direction of motion (C library atan2, as the kernel)
        ang = np.fromiter(map(math.atan2, (abs(cy) * x).tolist(), (-cy * (y - cy)).tolist()), float, len(x))
        ang = np.mod(ang, 2.0 * math.pi)
        s = rc * ang
        along = s[(ang < math.pi) & (s < horizon + radius)]
    if along.size == 0:
        return math.inf
    return max(float(along.min()) - radius, 0.0)


def clearance(points: np.ndarray, radius: float, compiled: bool = kernels.HAVE_NUMBA) -> float:
    """Free space (m, beyond the body) to the nearest point not behind the body; ``inf`` if none."""
    if len(points) == 0:
        return math.inf
    if compiled:
        return kernels.clearance(points, float(radius))
    near = points[points[:, 0] > -radius]
    return float(np.hypot(near[:, 0], near[:, 1]).min()) - radius if len(near) else math.inf


def rear_gap(points: np.ndarray, radius: float, side: float) -> float:
    """Free space (m, beyond the body) straight behind the robot; ``inf`` if none seen."""
    if len(points) == 0:
        return math.inf
    x, y = points[:, 0], points[:, 1]
    hit = (x < 0.0) & (np.abs(y) < radius + side)
    return max(float(-x[hit].max()) - radius, 0.0) if hit.any() else math.inf


def brake_speed(gap: float, stop_distance: float, decel: float) -> float:
    """Highest speed (m/s) from which braking at ``decel`` stops ``stop_distance`` short of ``gap``."""
    room = gap - stop_distance
    return 0.0 if room <= 0.0 else math.sqrt(2.0 * decel * room)


def disc_offsets(radius_cells: float) -> np.ndarray:
    """(K, 2) integer (dx, dy) cell offsets of a disc, for stamping obstacles on a grid."""
    r = math.ceil(radius_cells)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = dx * dx + dy * dy <= radius_cells * radius_cells
    return np.column_stack([dx[keep], dy[keep]])


def mark_points(occupied: np.ndarray, resolution: float, points_world: np.ndarray,
                offsets: np.ndarray) -> np.ndarray:
    """Copy of ``occupied`` with a disc (``offsets``) stamped at every point's cell."""
    occ = np.array(occupied, dtype=bool)
    if len(points_world) == 0:
        return occ
    cells = np.floor(np.asarray(points_world) / resolution).astype(np.intp)
    stamp = (cells[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    rows, cols = occ.shape
    ok = (stamp[:, 0] >= 0) & (stamp[:, 0] < cols) & (stamp[:, 1] >= 0) & (stamp[:, 1] < rows)
    occ[stamp[ok, 1], stamp[ok, 0]] = True
    return occ
