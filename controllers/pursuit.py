"""Path following (pure pursuit) and lidar-based local avoidance for the AMRs.

Both run every controller cycle (50 ms period): the follower in plain Python
floats over a short window of path segments (numpy calls on arrays that small
cost more than the arithmetic), the avoidance in one compiled loop over the
beams (``controllers.kernels``, when numba is installed) or else a handful of
numpy operations that give the same bits: microseconds, far below the deadline.
Poses are (x, y, theta) in the world frame; scans are in the robot frame
(x forward, y left, REP 103).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Literal

import numpy as np

from controllers import kernels
from controllers.avoidance import beam_trig

__all__ = ["AvoidState", "PurePursuit", "avoid", "corridor_ahead", "scale_to_gap"]

AvoidState = Literal["clear", "slow", "stop"]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)  # the kernel's own; others (and copies) are converted


class PurePursuit:
    """Pure-pursuit path follower with rotate-in-place and monotone progress.

    The carrot is taken ``lookahead`` metres of arc length ahead of the
    robot's projection on the path, and the projection only searches a short
    window ahead of the previous one, so progress never jumps back (nor ahead
    to a later part of the path that happens to pass close by). When the carrot
    is more than ``rotate_angle`` off the heading (path behind the robot) the
    robot turns in place until it is within ``rotate_exit_angle``; the
    hysteresis avoids chattering between the two modes.
    """

    def __init__(
        self,
        lookahead: float = 0.6,
        cruise_speed: float = 0.8,
        max_yaw_rate: float = 1.5,
        goal_tolerance: float = 0.1,
        slow_radius: float = 1.0,
        *,
        min_speed: float = 0.08,
        rotate_angle: float = 1.2,
        rotate_exit_angle: float = 0.3,
        yaw_gain: float = 2.0,
    ) -> None:
        if lookahead <= 0 or cruise_speed <= 0 or max_yaw_rate <= 0 or goal_tolerance <= 0:
            raise ValueError("lookahead, cruise_speed, max_yaw_rate and goal_tolerance must be > 0")
        if not 0.0 < rotate_exit_angle <= rotate_angle <= math.pi:
            raise ValueError("need 0 < rotate_exit_angle <= rotate_angle <= pi")
        self.lookahead = float(lookahead)
        self.cruise_speed = float(cruise_speed)
        self.max_yaw_rate = float(max_yaw_rate)
        self.goal_tolerance = float(goal_tolerance)
        self.slow_radius = max(float(slow_radius), 1e-9)
        self.min_speed = min(float(min_speed), self.cruise_speed)
        self.rotate_angle = float(rotate_angle)
        self.rotate_exit_angle = float(rotate_exit_angle)
        self.yaw_gain = float(yaw_gain)
        self._goal = (0.0, 0.0)
        self._segs: list[tuple[float, float, float, float, float]] = []  # (ax, ay, dx, dy, length)
        self._cum = [0.0]  # arc length at the start of each segment, and the total
        self._s = 0.0
        self._rotating = False
        self._done = True

    # -- path -----------------------------------------------------------------------

    def set_path(self, points: Sequence[Sequence[float]] | np.ndarray) -> None:
        """Start following a new polyline (world metres); resets progress and ``done``."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        if len(pts) == 0:
            raise ValueError("path must have at least one point")
        if len(pts) > 1:  # zero-length legs would divide by zero in the projection
            keep = np.ones(len(pts), dtype=bool)
            keep[1:] = np.any(np.diff(pts, axis=0) != 0.0, axis=1)
            pts = pts[keep]
        d = np.diff(pts, axis=0)
        length = np.hypot(d[:, 0], d[:, 1])
        self._goal = (float(pts[-1, 0]), float(pts[-1, 1]))
        self._segs = list(zip(*pts[:-1].T.tolist(), *d.T.tolist(), length.tolist(), strict=True))
        self._cum = [0.0, *np.cumsum(length).tolist()]
        self._s = 0.0
        self._rotating = False
        self._done = False

    @property
    def path_length(self) -> float:
        """Total arc length of the current path (m)."""
        return self._cum[-1]

    @property
    def progress(self) -> float:
        """Arc length (m) of the robot's projection on the path; never decreases."""
        return self._s

    @property
    def done(self) -> bool:
        """True once the goal was reached (or no path is set)."""
        return self._done

    def _segment(self, s: float) -> int:
        """Index of the segment holding arc length ``s`` (clamped to the path)."""
        return min(max(bisect_right(self._cum, s) - 1, 0), len(self._segs) - 1)

    def _point_at(self, s: float) -> tuple[float, float]:
        """Point at arc length ``s`` (clamped to the path)."""
        if not self._segs:
            return self._goal
        i = self._segment(s)
        ax, ay, dx, dy, length = self._segs[i]
        t = min(max((s - self._cum[i]) / length, 0.0), 1.0)
        return ax + t * dx, ay + t * dy

    def _project(self, x: float, y: float) -> float:
        """Arc length of the nearest path point within a forward window of the progress."""
        n = len(self._segs)
        if n == 0:
            return 0.0
        first = self._segment(self._s)
        window = self._s + max(2.0 * self.lookahead, 1.0)
        last = min(max(bisect_right(self._cum, window), first + 1), n)
        best, best_s = math.inf, 0.0
        for i in range(first, last):  # the first nearest, as argmin
            ax, ay, dx, dy, length = self._segs[i]
            t = ((x - ax) * dx + (y - ay) * dy) / (length * length)
            t = min(max(t, 0.0), 1.0)
            ex, ey = x - (ax + t * dx), y - (ay + t * dy)
            d2 = ex * ex + ey * ey
            if d2 < best or i == first:
                best, best_s = d2, self._cum[i] + t * length
        return best_s

    # -- control ----------------------------------------------------------------------

    def step(self, pose: Sequence[float] | np.ndarray) -> tuple[float, float, bool]:
        """One control cycle: ``(v m/s, w rad/s, done)`` for the pose ``(x, y, theta)``.

        ``v`` is in [0, cruise_speed] and ``|w| <= max_yaw_rate``; when the yaw
        limit binds, ``v`` is reduced too so the commanded arc is kept. Once
        within ``goal_tolerance`` of the last point (after having progressed to
        the final lookahead), returns ``(0, 0, True)`` until a new path is set.
        """
        if self._done:
            return 0.0, 0.0, True
        x, y, theta = float(pose[0]), float(pose[1]), float(pose[2])
        length = self.path_length
        self._s = max(self._s, self._project(x, y))
        goal = self._goal
        dist_goal = math.hypot(goal[0] - x, goal[1] - y)
        if dist_goal <= self.goal_tolerance and self._s + self.lookahead >= length:
            self._done = True
            return 0.0, 0.0, True

        target = self._point_at(self._s + self.lookahead)
        dx, dy = target[0] - x, target[1] - y
        c, s = math.cos(theta), math.sin(theta)
        tx, ty = c * dx + s * dy, -s * dx + c * dy  # target in the robot frame
        alpha = math.atan2(ty, tx)
        limit = self.rotate_exit_angle if self._rotating else self.rotate_angle
        self._rotating = abs(alpha) > limit
        if self._rotating:
            w = max(-self.max_yaw_rate, min(self.max_yaw_rate, self.yaw_gain * alpha))
            return 0.0, w, False

        remaining = max(length - self._s, dist_goal)
        v = self.cruise_speed * min(1.0, remaining / self.slow_radius)
        v = max(v, self.min_speed) * max(math.cos(alpha), 0.0)
        ld = max(math.hypot(tx, ty), 1e-6)
        w = v * 2.0 * math.sin(alpha) / ld  # pure-pursuit curvature 2 sin(alpha) / Ld
        if abs(w) > self.max_yaw_rate:
            v *= self.max_yaw_rate / abs(w)
            w = math.copysign(self.max_yaw_rate, w)
        return v, w, False


def corridor_ahead(
    scan_ranges: np.ndarray,
    beam_angles: np.ndarray,
    half_width: float,
    *,
    compiled: bool = kernels.HAVE_NUMBA,
) -> float:
    """Robot-frame ``x`` (m, from the centre) of the nearest return with ``x > 0, |y| < half_width``; inf if none.

    Non-finite or non-positive ranges (no return) are ignored. This is the scan-only
    half of :func:`avoid`: a controller faster than its lidar can keep it per scan.
    """
    cos_a, sin_a = beam_trig(beam_angles)
    r = np.asarray(scan_ranges)
    if r.shape != cos_a.shape:
        raise ValueError(f"{r.shape} ranges but {cos_a.shape} angles")
    half = float(half_width)
    if compiled:
        if (r.dtype is not _F32 and r.dtype is not _F64) or not r.flags.c_contiguous:
            r = np.ascontiguousarray(r, dtype=float)  # one compiled signature for the odd ones
        return kernels.corridor_nearest(r, cos_a, sin_a, half)
    r = np.asarray(r, dtype=float)
    r = np.where((r > 0.0) & (r < math.inf), r, 0.0)  # no return (inf, nan, <= 0): never ahead; no inf * 0
    px = r * cos_a
    px = px[(px > 0.0) & (np.abs(r * sin_a) < half)]
    return float(px.min()) if px.size else math.inf


def scale_to_gap(
    v: float,
    w: float,
    ahead: float,
    robot_radius: float,
    stop_distance: float,
    slow_distance: float,
) -> tuple[float, float, AvoidState]:
    """:func:`avoid`'s command and state for the corridor's nearest return ``ahead`` (:func:`corridor_ahead`)."""
    if ahead == math.inf:  # nothing in the corridor (a return in it is finite)
        return v, w, "clear"
    nearest = ahead - robot_radius
    if nearest <= stop_distance:
        state: AvoidState = "stop"
        scale = 0.0
    elif nearest < slow_distance:
        state = "slow"
        scale = (nearest - stop_distance) / (slow_distance - stop_distance)
    else:
        return v, w, "clear"
    if v <= 0.0:
        return v, w, state
    return v * scale, w * scale, state


def avoid(
    v: float,
    w: float,
    scan_ranges: np.ndarray,
    beam_angles: np.ndarray,
    robot_radius: float,
    stop_distance: float,
    slow_distance: float,
    *,
    margin: float = 0.1,
    compiled: bool = kernels.HAVE_NUMBA,
) -> tuple[float, float, AvoidState]:
    """Scale a forward command by the free space ahead in the robot's path corridor.

    The corridor is ``x > 0, |y| < robot_radius + margin`` in the robot frame
    (scan origin = robot centre). Distances are free space beyond the body:
    ``gap = x - robot_radius`` of the nearest return in the corridor. At or
    below ``stop_distance`` the command becomes (0, 0) ("stop"); below
    ``slow_distance`` both v and w are scaled by
    ``(gap - stop) / (slow - stop)``, so the robot keeps its arc ("slow");
    otherwise the command is unchanged ("clear"). Non-finite or non-positive
    ranges (no return) are ignored. A command with ``v <= 0`` (turning in
    place, reversing) is never scaled, since nothing ahead blocks it, but the
    state still reports the corridor so callers can log or re-plan.
    ``compiled``: the corridor search in numba (``controllers.kernels``) or
    numpy; both give the same bits.
    """
    ahead = corridor_ahead(scan_ranges, beam_angles, robot_radius + margin, compiled=compiled)
    return scale_to_gap(v, w, ahead, robot_radius, stop_distance, slow_distance)
