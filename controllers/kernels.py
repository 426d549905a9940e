"""Compiled (numba) loops over lidar points for ``controllers.avoidance`` and ``.pursuit``.

The warehouse and waypoint controllers run these on every scan point at 20 Hz
per robot; as numpy they are ~15 calls each on a few hundred points, here one
loop each. ``controllers.avoidance`` and ``controllers.pursuit`` call them when
numba imports and run their own numpy code otherwise. Both give identical
results, not merely close: each loop does the same IEEE operations in the same
order as the numpy code (numba does not fuse multiply-adds without
``fastmath``), arc tangents and hypotenuses come from the C library in both
(``math.atan2`` / ``np.hypot``), and both take the beams' cosines and sines
from the same cached numpy arrays. Each call takes a few µs, so it keeps the GIL:
released and re-acquired among busy threads, it would wait up to a switch interval
to get it back (see ``sim.world.kernels``).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

_numba: ModuleType | None  # None where numba is not installed
try:  # optional, like in sim.world.kernels: without numba controllers.avoidance runs numpy
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba = None

__all__ = ["HAVE_NUMBA", "arc_gap", "clearance", "corridor_nearest", "off_map", "scan_points", "warm_up"]

HAVE_NUMBA = _numba is not None

if _numba is not None:
    _jit = _numba.njit(cache=True)  # keeps the GIL: a few µs per call

    @_jit
    def scan_points(ranges, cos_a, sin_a):  # pragma: no cover - compiled
        """(P, 2) robot-frame points of the finite, positive ranges."""
        out = np.empty((ranges.shape[0], 2))
        n = 0
        for i in range(ranges.shape[0]):
            r = np.float64(ranges[i])
            if math.isfinite(r) and r > 0.0:
                out[n, 0] = r * cos_a[i]
                out[n, 1] = r * sin_a[i]
                n += 1
        return out[:n]

    @_jit
    def off_map(points, x, y, c, s, occupied, resolution):  # pragma: no cover - compiled
        """The points whose world cell is on the grid and free."""
        rows, cols = occupied.shape
        out = np.empty_like(points)
        n = 0
        for i in range(points.shape[0]):
            px = points[i, 0]
            py = points[i, 1]
            ix = math.floor((x + c * px - s * py) / resolution)
            iy = math.floor((y + s * px + c * py) / resolution)
            if 0 <= ix < cols and 0 <= iy < rows and not occupied[iy, ix]:
                out[n, 0] = px
                out[n, 1] = py
                n += 1
        return out[:n]

    @_jit
    def arc_gap(points, v, w, radius, side, horizon):  # pragma: no cover - compiled
        """Smallest arc length to a point in the swept band, minus ``radius`` (>= 0); inf if none."""
        half = radius + side
        reach = horizon + radius
        k = w / v
        best = math.inf
        if abs(k) * horizon < 1e-3:
            for i in range(points.shape[0]):
                x = points[i, 0]
                if x > 0.0 and abs(points[i, 1]) < half and x < reach and x < best:
                    best = x
        else:
            rc = 1.0 / abs(k)
            cy = 1.0 / k
            for i in range(points.shape[0]):
                x = points[i, 0]
                y = points[i, 1]
                if x > -radius and abs(math.hypot(x, y - cy) - rc) < half:
                    ang = math.atan2(abs(cy) * x, -cy * (y - cy)) % (2.0 * math.pi)
                    s = rc * ang
                    if ang < math.pi and s < reach and s < best:
                        best = s
        return max(best - radius, 0.0)

    @_jit
    def clearance(points, radius):  # pragma: no cover - compiled
        """Distance to the nearest point with ``x > -radius``, minus ``radius``; inf if none."""
        best = math.inf
        for i in range(points.shape[0]):
            if points[i, 0] > -radius:
                d = math.hypot(points[i, 0], points[i, 1])
                if d < best:
                    best = d
        return best - radius

    @_jit
    def corridor_nearest(ranges, cos_a, sin_a, half):  # pragma: no cover - compiled
        """Smallest ``x = r cos a > 0`` of a finite, positive range with ``|r sin a| < half``; inf if none."""
        best = math.inf
        for i in range(ranges.shape[0]):
            r = np.float64(ranges[i])
            if math.isfinite(r) and r > 0.0:
                px = r * cos_a[i]
                if px > 0.0 and px < best and abs(r * sin_a[i]) < half:
                    best = px
        return best
else:  # pragma: no cover - exercised only where numba is missing
    scan_points = off_map = arc_gap = clearance = corridor_nearest = None


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel for the simulator's types now."""
    if not HAVE_NUMBA:
        return
    pts = np.array([[1.0, 0.0], [0.5, 0.5]])
    occupied = np.zeros((2, 2), dtype=bool)
    occupied.flags.writeable = False  # planning grids are read-only once prepared
    scan_points(np.ones(2, dtype=np.float32), np.ones(2), np.zeros(2))
    off_map(pts, 0.0, 0.0, 1.0, 0.0, occupied, 1.0)
    arc_gap(pts, 1.0, 0.5, 0.3, 0.05, 4.0)
    clearance(pts, 0.3)
    corridor_nearest(np.ones(2, dtype=np.float32), np.ones(2), np.zeros(2), 0.4)
