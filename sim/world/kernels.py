"""Compiled physics-step kernels (numba) with numpy fallbacks that give identical results.

Physics steps at 100 Hz; in numpy every step is ~40 calls on tiny arrays, a few
hundred µs holding the GIL that controller threads need. Here the step is three
compiled loops of ~10-30 µs. They keep the GIL: releasing it for so short a call
costs more than it frees, since under contention the caller then waits up to a
switch interval to get it back (measured here, three 19 µs kernels among 8 busy
threads: p99 wall 1.0-1.2 ms releasing, 0.3-0.7 ms holding). Identical results, not merely close: each
kernel does the same IEEE operations in the same order as its fallback (numba
does not fuse multiply-adds without ``fastmath``), and both take sines and cosines
from the C library (``math``), never from numpy's own SIMD versions, which may
round differently on some CPUs.

* ``advance``  - acceleration/rate limits and the exact unicycle arc.
* ``collide``  - discs vs the map's grid-registered segments and disc pairs, for a
  slice of robots (the worker pool splits the fleet this way). Same contact rule
  and formula as ``sim.world.collide``: strictly closer than the radius collides.
* ``grid_hits`` - discs vs the occupied cells of a ``world.map`` grid (exact disc/square test).
* ``settle``   - speeds cut by contacts (``sim.world.contact``); wheel travel, odometer, accelerations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import numpy as np

from sim.world.collide import bodies_hit_grid, disc_pairs_overlapping, discs_hit_segments
from sim.world.occgrid import OccupancyGrid
from sim.world.segmap import SegmentMap

_numba: ModuleType | None  # None where numba is not installed
try:  # optional, like in sim.world.raycast_numba: without numba the numpy fallbacks run
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba = None

__all__ = ["HAVE_NUMBA", "advance", "collide", "grid_hits", "settle", "warm_up"]

HAVE_NUMBA = _numba is not None
_STRAIGHT = 1e-9  # rad/s: below this yaw rate the arc is a straight line
_BRUTE_PAIRS = 64  # up to this many robots all pairs are tested, above it a spatial hash


def _trig(f: Callable[[float], float], a: np.ndarray) -> np.ndarray:
    """``f`` (math.sin/cos) elementwise: the C library's rounding, as the kernels use."""
    return np.fromiter(map(f, a.tolist()), dtype=np.float64, count=a.size)


# ---------------------------------------------------------------------- fallbacks (numpy)
def _advance_numpy(pose: np.ndarray, velocity: np.ndarray, target: np.ndarray, max_speed: np.ndarray,
                   max_yaw_rate: np.ndarray, max_accel: np.ndarray, max_yaw_accel: np.ndarray, dt: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v0, w0 = velocity[:, 0], velocity[:, 1]
    v_t = np.minimum(np.maximum(target[:, 0], -max_speed), max_speed)
    w_t = np.minimum(np.maximum(target[:, 1], -max_yaw_rate), max_yaw_rate)
    v = v0 + np.minimum(np.maximum(v_t - v0, -max_accel * dt), max_accel * dt)
    w = w0 + np.minimum(np.maximum(w_t - w0, -max_yaw_accel * dt), max_yaw_accel * dt)
    x, y, th = pose[:, 0], pose[:, 1], pose[:, 2]
    th1 = th + w * dt
    straight = np.abs(w) < _STRAIGHT
    w_safe = np.where(straight, 1.0, w)
    s0, c0, s1, c1 = _trig(math.sin, th), _trig(math.cos, th), _trig(math.sin, th1), _trig(math.cos, th1)
    dx = np.where(straight, v * dt * c0, v / w_safe * (s1 - s0))
    dy = np.where(straight, v * dt * s0, -v / w_safe * (c1 - c0))
    th1 = (th1 + math.pi) % (2 * math.pi) - math.pi
    return np.column_stack([x + dx, y + dy, th1]), v, w


def _settle_numpy(v: np.ndarray, w: np.ndarray, v0: np.ndarray, keep: np.ndarray, made: np.ndarray,
                  half_base: np.ndarray, dt: float, wheel_travel: np.ndarray, odometer: np.ndarray,
                  accel: np.ndarray) -> None:
    v *= keep
    wheel_travel[:, 0] += (v - w * half_base) * dt
    wheel_travel[:, 1] += (v + w * half_base) * dt
    odometer += np.abs(v) * dt * made
    accel[:, 0] = (v - v0) / dt
    accel[:, 1] = v * w


# ---------------------------------------------------------------------- kernels (numba)
if _numba is not None:
    _jit = _numba.njit(cache=True)  # keeps the GIL: see the module docstring

    @_jit
    def _advance_kernel(pose, velocity, target, max_speed, max_yaw_rate, max_accel, max_yaw_accel, dt,
                        new_pose, v_out, w_out):  # pragma: no cover - compiled
        for i in range(pose.shape[0]):
            v0 = velocity[i, 0]
            w0 = velocity[i, 1]
            v_t = min(max(target[i, 0], -max_speed[i]), max_speed[i])
            w_t = min(max(target[i, 1], -max_yaw_rate[i]), max_yaw_rate[i])
            v = v0 + min(max(v_t - v0, -max_accel[i] * dt), max_accel[i] * dt)
            w = w0 + min(max(w_t - w0, -max_yaw_accel[i] * dt), max_yaw_accel[i] * dt)
            th = pose[i, 2]
            th1 = th + w * dt
            if abs(w) < _STRAIGHT:
                dx = v * dt * math.cos(th)
                dy = v * dt * math.sin(th)
            else:
                dx = v / w * (math.sin(th1) - math.sin(th))
                dy = -v / w * (math.cos(th1) - math.cos(th))
            new_pose[i, 0] = pose[i, 0] + dx
            new_pose[i, 1] = pose[i, 1] + dy
            new_pose[i, 2] = (th1 + math.pi) % (2 * math.pi) - math.pi
            v_out[i] = v
            w_out[i] = w

    @_jit
    def _static_kernel(centers, radii, lo, hi, gx0, gy0, cs, nx, ny, eps, cell_start, cell_data,
                       out):  # pragma: no cover - compiled
        for i in range(lo, hi):
            px = centers[i, 0]
            py = centers[i, 1]
            r = radii[i]
            reach = abs(r)
            ix0 = min(max(math.floor((px - reach - eps - gx0) / cs), 0), nx - 1)
            ix1 = min(max(math.floor((px + reach + eps - gx0) / cs), 0), nx - 1)
            iy0 = min(max(math.floor((py - reach - eps - gy0) / cs), 0), ny - 1)
            iy1 = min(max(math.floor((py + reach + eps - gy0) / cs), 0), ny - 1)
            hit = False
            for iy in range(iy0, iy1 + 1):
                for ix in range(ix0, ix1 + 1):
                    cell = iy * nx + ix
                    for it in range(cell_start[cell], cell_start[cell + 1]):
                        ax = cell_data[it, 0]
                        ay = cell_data[it, 1]
                        ex = cell_data[it, 2]
                        ey = cell_data[it, 3]
                        len2 = ex * ex + ey * ey
                        num = (px - ax) * ex + (py - ay) * ey
                        t = num / len2 if len2 > 0.0 else 0.0
                        t = min(max(t, 0.0), 1.0)
                        cx = ax + t * ex - px
                        cy = ay + t * ey - py
                        if cx * cx + cy * cy < r * r:
                            hit = True
                            break
                    if hit:
                        break
                if hit:
                    break
            out[i - lo] = hit

    @_jit
    def _pairs_kernel(centers, radii, lo, hi):  # pragma: no cover - compiled
        n = centers.shape[0]
        found = []
        if n <= _BRUTE_PAIRS:
            for i in range(lo, hi):
                for j in range(i + 1, n):
                    dx = centers[i, 0] - centers[j, 0]
                    dy = centers[i, 1] - centers[j, 1]
                    s = radii[i] + radii[j]
                    if dx * dx + dy * dy < s * s:
                        found.append((i, j))
            return found
        cell = 2.0 * radii.max()
        if not cell > 0.0:
            return found
        kx = np.empty(n, np.int64)
        ky = np.empty(n, np.int64)
        for i in range(n):
            kx[i] = math.floor(centers[i, 0] / cell)
            ky[i] = math.floor(centers[i, 1] / cell)
        span = ky.max() - ky.min() + 3
        key = (kx - kx.min()) * span + (ky - ky.min()) + 1
        order = np.argsort(key, kind="mergesort")
        skey = key[order]
        for i in range(lo, hi):
            for ox in range(-1, 2):
                for oy in range(-1, 2):
                    target = key[i] + ox * span + oy
                    a = np.searchsorted(skey, target, side="left")
                    b = np.searchsorted(skey, target, side="right")
                    for q in range(a, b):
                        j = order[q]
                        if j <= i:
                            continue
                        dx = centers[i, 0] - centers[j, 0]
                        dy = centers[i, 1] - centers[j, 1]
                        s = radii[i] + radii[j]
                        if dx * dx + dy * dy < s * s:
                            found.append((i, j))
        found.sort()
        return found

    @_jit
    def _grid_kernel(pose, radii, occ, ox, oy, res, out):  # pragma: no cover - compiled
        rows = occ.shape[0]
        cols = occ.shape[1]
        for k in range(pose.shape[0]):
            x = pose[k, 0]
            y = pose[k, 1]
            r = abs(radii[k])
            r2 = r * r
            j0 = max(math.floor((x - r - ox) / res), 0)
            j1 = min(math.floor((x + r - ox) / res), cols - 1)
            i0 = max(math.floor((y - r - oy) / res), 0)
            i1 = min(math.floor((y + r - oy) / res), rows - 1)
            hit = False
            for i in range(i0, i1 + 1):
                y0 = oy + i * res
                dy = max(max(y0 - y, y - (y0 + res)), 0.0)
                for j in range(j0, j1 + 1):
                    if occ[i, j]:
                        x0 = ox + j * res
                        dx = max(max(x0 - x, x - (x0 + res)), 0.0)
                        if dy * dy + dx * dx < r2:
                            hit = True
                            break
                if hit:
                    break
            out[k] = hit

    @_jit
    def _settle_kernel(v, w, v0, keep, made, half_base, dt, wheel_travel, odometer,
                       accel):  # pragma: no cover - compiled
        for i in range(v.shape[0]):
            v[i] = v[i] * keep[i]
            wheel_travel[i, 0] += (v[i] - w[i] * half_base[i]) * dt
            wheel_travel[i, 1] += (v[i] + w[i] * half_base[i]) * dt
            odometer[i] += abs(v[i]) * dt * made[i]
            accel[i, 0] = (v[i] - v0[i]) / dt
            accel[i, 1] = v[i] * w[i]


# ---------------------------------------------------------------------- public
def advance(pose: np.ndarray, velocity: np.ndarray, target: np.ndarray, max_speed: np.ndarray,
            max_yaw_rate: np.ndarray, max_accel: np.ndarray, max_yaw_accel: np.ndarray, dt: float,
            compiled: bool = HAVE_NUMBA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New pose (N, 3), v (N,), w (N,) after one step of ``dt`` towards ``target`` (v, w) within limits."""
    if not compiled:
        return _advance_numpy(pose, velocity, target, max_speed, max_yaw_rate, max_accel, max_yaw_accel, dt)
    n = pose.shape[0]
    new_pose, v, w = np.empty((n, 3)), np.empty(n), np.empty(n)
    _advance_kernel(pose, velocity, target, max_speed, max_yaw_rate, max_accel, max_yaw_accel, float(dt),
                    new_pose, v, w)
    return new_pose, v, w


def collide(smap: SegmentMap, centers: np.ndarray, radii: np.ndarray, lo: int = 0, hi: int | None = None,
            compiled: bool = HAVE_NUMBA) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Robots ``lo..hi`` touching the map (bool per robot in the slice), and overlapping pairs ``(i, j)``.

    Pairs are those with ``lo <= i < hi`` and ``i < j`` (any ``j``), sorted: the
    slices of a split fleet concatenate to the whole fleet's list.
    """
    n = centers.shape[0]
    hi = n if hi is None else hi
    if not compiled:
        static = discs_hit_segments(smap, centers[lo:hi], radii[lo:hi])
        pairs = [p for p in disc_pairs_overlapping(centers, radii) if lo <= p[0] < hi]
        return static, pairs
    c = np.ascontiguousarray(centers, dtype=np.float64)
    r = np.ascontiguousarray(radii, dtype=np.float64)
    out = np.zeros(hi - lo, dtype=np.bool_)
    if smap.n_segments and hi > lo:
        _static_kernel(c, r, lo, hi, float(smap.origin[0]), float(smap.origin[1]), smap.cell_size,
                       int(smap.shape[0]), int(smap.shape[1]), smap.eps, smap.cell_start, smap.cell_data, out)
    pairs = [] if n < 2 or hi <= lo else [(int(i), int(j)) for i, j in _pairs_kernel(c, r, lo, hi)]
    return out, pairs


def grid_hits(grid: OccupancyGrid, pose: np.ndarray, radii: np.ndarray, compiled: bool = HAVE_NUMBA) -> np.ndarray:
    """Per body: overlapping an occupied cell of ``grid`` (a ``world.map``), shape (N,).

    The same exact disc/square test as ``sim.world.collide.bodies_hit_grid`` (its fallback),
    a few µs compiled instead of tens of numpy calls.
    """
    if not compiled:
        return bodies_hit_grid(grid, pose, radii)
    p = np.ascontiguousarray(pose, dtype=np.float64).reshape(len(pose), -1)
    out = np.zeros(p.shape[0], dtype=np.bool_)
    _grid_kernel(p, np.ascontiguousarray(radii, dtype=np.float64), grid.occupied, float(grid.origin[0]),
                 float(grid.origin[1]), float(grid.resolution), out)
    return out


def settle(v: np.ndarray, w: np.ndarray, v0: np.ndarray, keep: np.ndarray, made: np.ndarray,
           half_base: np.ndarray, dt: float, wheel_travel: np.ndarray, odometer: np.ndarray, accel: np.ndarray,
           compiled: bool = HAVE_NUMBA) -> None:
    """In place: stop stalled wheels (``keep`` 0.0, else 1.0); integrate wheels, and the odometer
    over the share of each step made (``made``, 1.0 when free); set accelerations. The turn
    rate is never cut: a disc turns freely (``sim.world.contact``)."""
    if not compiled:
        _settle_numpy(v, w, v0, keep, made, half_base, dt, wheel_travel, odometer, accel)
        return
    _settle_kernel(v, w, v0, keep, made, half_base, float(dt), wheel_travel, odometer, accel)


_WARM_GRID = OccupancyGrid.from_values(np.array([[0, 100]]), 1.0, (0.0, 0.0))  # warm_up's grid map


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel now, not inside a timed step."""
    if not HAVE_NUMBA:
        return
    smap = SegmentMap(np.array([[1.0, -1.0, 1.0, 1.0]]))
    for n in (2, _BRUTE_PAIRS + 1):
        pose = np.zeros((n, 3))
        pose[:, 0] = np.arange(n)
        z, ones = np.zeros(n), np.ones(n)
        _, v, w = advance(pose, np.zeros((n, 2)), np.ones((n, 2)), ones, ones, ones, ones, 0.01)
        collide(smap, pose[:, :2], ones * 0.3)
        grid_hits(_WARM_GRID, pose, ones * 0.3)
        settle(v, w, z, ones, ones, ones, 0.01, np.zeros((n, 2)), z.copy(), np.zeros((n, 2)))
