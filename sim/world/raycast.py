"""2-D ray casting of range scans against wall segments and disc-shaped robots.

Every lidar in the simulator calls :func:`cast_scans` each tick, so the hot
paths avoid per-beam Python: ``"culled"`` is a fixed number of vectorised numpy
calls (numpy releases the GIL inside its kernels) and ``"numba"`` is a compiled
``nogil`` kernel, so controller threads are not starved while scans are cast.

Methods (all give the same answer; see ``bench/raycast_bench.py`` for speed):

* ``"plain"``  - numpy, every beam against every object; the reference.
* ``"culled"`` - numpy; grid + exact range cull, then each object is paired
  only with the beams inside the angular window it subtends.
* ``"numba"``  - compiled ``nogil`` kernel walking the grid cells each beam
  crosses (Amanatides-Woo), stopping at the first cell that holds a hit.
  Compiles on first use (~2 s, then cached on disk): call :func:`warm_up`
  before starting real-time threads.
* ``"python"`` - plain loops, the slow baseline; holds the GIL throughout.
* ``"auto"``   - ``"numba"`` when numba imports, else ``"culled"``.

Conventions (shared by every method, which is what keeps them equal to 1e-9):

* A beam of robot ``m`` starts at ``origins[m]`` with direction
  ``(cos(headings[m] + beam_angles[k]), sin(...))`` (REP 103, radians). The
  directions are computed once in numpy and handed to every backend, so all
  methods test exactly the same floating-point rays.
* A hit is an intersection at distance ``t`` with ``range_min <= t <= range_max``.
  Intersections closer than ``range_min`` are ignored as if they did not exist
  (the beam sees what lies behind them), not clamped to ``range_min``.
  No hit gives ``np.inf``.
* Segments are closed (endpoints included): a beam through an endpoint hits.
* A beam parallel to a segment - within 1e-12 rad, collinear included - never
  hits it and produces no NaN. (Without the tolerance, a nearly collinear
  beam turns rounding noise into spurious hits.) In a closed outline the
  neighbouring edge catches the corner instead.
* A beam whose origin lies on a segment, endpoints included, reads ``0.0``
  for every non-parallel direction when ``range_min == 0`` (the robot is
  touching the wall); with ``range_min > 0`` that contact is ignored.
* Circles (other robots) are their boundary curves: the hit is the smallest
  root of the ray/circle equation within ``[range_min, range_max]``. A beam
  from inside a circle therefore hits where it exits; tangent beams hit.
  ``self_index[m]`` names the circle of robot ``m`` itself (``-1``: none) and is
  skipped for that robot.

Where each part lives: the map and its grid in ``sim/world/segmap.py``; the methods in
``sim/world/raycast_numpy.py`` (plain, culled), ``sim/world/raycast_numba.py`` and
``sim/world/raycast_python.py``; this module checks the inputs, computes the beam
directions every method shares and dispatches.
"""

from __future__ import annotations

import math

import numpy as np

from sim.world.raycast_numba import _cast_numba, _numba
from sim.world.raycast_numpy import _cast_culled, _cast_plain, _segment_hits, _wrap
from sim.world.raycast_python import _cast_python
from sim.world.segmap import SegmentMap, point_segment_distance_sq

if _numba is not None:  # jit.dispatchers() finds the kernels of KERNEL_MODULES by name: this one is raycast's
    from sim.world.raycast_numba import _numba_kernel as _numba_kernel

__all__ = [
    "SegmentMap",
    "available_methods",
    "beam_directions",
    "cast_scans",
    "cast_segments",
    "point_segment_distance_sq",
    "warm_up",
]


def available_methods() -> list[str]:
    """Concrete methods usable here (``"numba"`` only if it imports); ``"auto"`` is always accepted too."""
    if _numba is None:
        return ["plain", "culled", "python"]
    return ["plain", "culled", "numba", "python"]


def cast_scans(
    smap: SegmentMap,
    origins: np.ndarray,
    headings: np.ndarray,
    beam_angles: np.ndarray,
    range_max: float,
    range_min: float = 0.0,
    circles: tuple[np.ndarray, np.ndarray] | None = None,
    self_index: np.ndarray | None = None,
    method: str = "auto",
) -> np.ndarray:
    """Range scans for M robots with K beams each, shape (M, K); ``np.inf`` = no return.

    ``beam_angles`` are relative to each robot's heading. ``circles`` is
    ``(centers (C, 2), radii (C,))``; ``self_index[m]`` (``-1`` = none) is the
    circle robot ``m`` must not see. See the module docstring for the exact
    hit rules (range_min, parallel beams, origins on segments, circles).
    ``method``: ``"plain"`` | ``"culled"`` | ``"numba"`` | ``"python"`` | ``"auto"``
    (numba when importable, else culled).
    """
    o = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
    m_count = o.shape[0]
    head = np.asarray(headings, dtype=np.float64).reshape(-1)
    rel = np.asarray(beam_angles, dtype=np.float64).reshape(-1)
    if head.shape[0] != m_count:
        raise ValueError("headings must have one entry per origin")
    if not (np.isfinite(o).all() and np.isfinite(head).all() and np.isfinite(rel).all()):
        # A NaN pose would silently read inf (numpy) or never leave the grid walk (numba).
        raise ValueError("origins, headings and beam_angles must be finite")
    rmin, rmax = float(range_min), float(range_max)
    if not (0.0 <= rmin <= rmax) or math.isnan(rmax):
        raise ValueError("need 0 <= range_min <= range_max")
    circ: tuple[np.ndarray, np.ndarray] | None = None
    if circles is not None:
        cc = np.asarray(circles[0], dtype=np.float64).reshape(-1, 2)
        cr = np.asarray(circles[1], dtype=np.float64).reshape(-1)
        if cc.shape[0] != cr.shape[0]:
            raise ValueError("circle centers and radii differ in length")
        if not (np.isfinite(cc).all() and np.isfinite(cr).all()):
            raise ValueError("circles must be finite")
        circ = (np.ascontiguousarray(cc), np.ascontiguousarray(cr))
    if self_index is None:
        sidx = np.full(m_count, -1, dtype=np.int64)
    else:
        sidx = np.ascontiguousarray(np.asarray(self_index, dtype=np.int64).reshape(-1))
        if sidx.shape[0] != m_count:
            raise ValueError("self_index must have one entry per origin")
    if method == "auto":
        method = "numba" if _numba is not None else "culled"
    if method not in available_methods():  # "auto" was resolved above
        raise ValueError(f"unknown or unavailable method {method!r}")
    k_count = rel.shape[0]
    if m_count == 0 or k_count == 0:
        return np.full((m_count, k_count), np.inf)
    head, rel, dxs, dys = _directions(head, rel)
    if method == "plain":
        return _cast_plain(smap, o, dxs, dys, rmin, rmax, circ, sidx)
    if method == "culled":
        return _cast_culled(smap, o, head, rel, dxs, dys, rmin, rmax, circ, sidx)
    if method == "numba":
        return _cast_numba(smap, o, dxs, dys, rmin, rmax, circ, sidx)
    return _cast_python(smap, o, dxs, dys, rmin, rmax, circ, sidx)


def _directions(head: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wrapped headings and beam angles, and the unit directions (M, K) every method casts along.

    Wrapping first keeps huge accumulated headings from costing precision in the culled
    path's angular windows; every method (and the grid cast) then sees the same rays.
    """
    head = _wrap(head)
    rel = _wrap(rel)
    ang = head[:, None] + rel[None, :]
    return head, rel, np.ascontiguousarray(np.cos(ang)), np.ascontiguousarray(np.sin(ang))


def beam_directions(headings: np.ndarray, beam_angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions ``(dxs, dys)``, each (M, K), of ``cast_scans``'s beams: bitwise the same rays."""
    head = np.asarray(headings, dtype=np.float64).reshape(-1)
    rel = np.asarray(beam_angles, dtype=np.float64).reshape(-1)
    return _directions(head, rel)[2:]


def cast_segments(segments: np.ndarray, owners: np.ndarray, origins: np.ndarray, headings: np.ndarray,
                  beam_angles: np.ndarray, range_max: float, range_min: float, self_index: np.ndarray) -> np.ndarray:
    """Ranges (M, K) to a few moving segments (E, 4) (footprint outlines), ``inf`` = none.

    ``owners[e]`` is the robot segment ``e`` belongs to; beams of robot ``self_index[m]`` skip
    its own. The beam directions and the hit rules are those of :func:`cast_scans` (the same
    formula, in numpy, whichever method cast the map), so its result can be combined with it
    by ``np.minimum``. Dense: every beam against every segment, for the handful of footprint
    robots a scene has.
    """
    o = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
    dxs, dys = beam_directions(headings, beam_angles)
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    ex, ey = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    tol = 1e-12 * np.hypot(ex, ey)  # the map's parallel tolerance (sim.world.segmap)
    out = np.full(dxs.shape, np.inf)
    for m in range(o.shape[0]):
        keep = owners != self_index[m]
        if not keep.any():
            continue
        wx = (seg[keep, 0] - o[m, 0])[None, :]
        wy = (seg[keep, 1] - o[m, 1])[None, :]
        kx, ky = ex[keep][None, :], ey[keep][None, :]
        t = _segment_hits(wx, wy, wx * ky - wy * kx, kx, ky, tol[keep][None, :], dxs[m][:, None], dys[m][:, None],
                          float(range_min), float(range_max))
        out[m] = t.min(axis=1)
    return out


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the numba kernel now.

    The first ``"numba"``/``"auto"`` call otherwise pays this (~2 s to compile,
    ~0.2 s from the cache) inside whichever sensor thread gets there first,
    holding the GIL meanwhile.
    """
    if _numba is not None:
        smap = SegmentMap(np.array([[1.0, -1.0, 1.0, 1.0]]))
        cast_scans(smap, np.zeros((1, 2)), np.zeros(1), np.zeros(1), 2.0,
                   circles=(np.ones((1, 2)), np.ones(1)), method="numba")
