"""Ray casting on occupancy grids: where each lidar beam first enters an occupied cell.

What a beam returns (shared by both methods, which is what keeps them equal):

* A beam of direction ``(dxs[m, k], dys[m, k])`` (unit) from ``origins[m]`` walks the cells it
  crosses (Amanatides-Woo). A *hit* is the beam **entering an occupied cell**: the distance
  ``t`` at which it crosses that cell's face, with ``range_min <= t <= range_max``. The range
  is therefore to the occupied cell's boundary, not its centre (a wall one cell thick at
  columns ``j`` reads ``(ox + j*res - x0) / dx`` from the left).
* A beam starting inside an occupied cell enters it at ``t = 0``: it reads ``0.0`` when
  ``range_min == 0``. Entries closer than ``range_min`` are ignored as if that cell were
  free (the beam sees the next occupied cell it enters), never clamped - as for segments.
* Only ``grid.occupied`` stops beams: unknown (-1) and free cells do not.
* Cells are half-open (``sim/world/occgrid.py``): a beam running exactly along a grid line
  travels in the cells above it (+y) or right of it (+x). Where a beam passes exactly
  through a grid vertex it steps in y first (and so may touch a diagonal neighbour's
  corner); either way the distance is the same crossing.
* The grid ends at its edge: a beam that leaves it gets no more hits (``inf`` if none);
  a beam starting outside enters it where it crosses the edge (an occupied edge cell
  reads that distance). No hit within ``range_max`` gives ``np.inf``.

Speed: both methods jump through open space using a clearance map (the Chebyshev
distance, in cells, from every cell to the nearest occupied one; computed once per grid
and cached): around a cell of clearance ``c`` the square of ``2c - 1`` cells is free, so
the beam jumps to where it leaves that square - a face crossing, computed by the formula
the walk uses - and walks cell by cell only near obstacles (``c < 2``, or when it would
leave the square exactly through a corner). After a jump the cell indices are set from
the crossing formulas too, so the cells visited near obstacles - and the distances
returned - are the plain walk's exactly (``tests/test_gridcast.py`` checks both against it).

Methods: ``"numba"`` (a compiled ``nogil`` kernel, one beam at a time; compiled on first use
then cached on disk - ``warm_up``) and ``"numpy"`` (every beam advanced together, one step
per iteration, finished beams dropped). ``"auto"`` is numba when it imports.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from sim.world.occgrid import OccupancyGrid
from sim.world.raycast import beam_directions, cast_scans
from sim.world.segmap import SegmentMap

_numba: ModuleType | None  # None where numba is not installed
try:  # numba is optional: "auto" falls back to the numpy method without it.
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba = None

__all__ = ["PreparedGrid", "available_methods", "cast_grid", "cast_with_grid", "clearance", "prepare", "tile",
           "untile", "warm_up"]

# Cells of clearance below this are walked, not jumped.
_JUMP_MIN = 2
# Clearance is stored in a byte: farther than this many cells just means shorter jumps.
_CLEAR_CAP = 255


@dataclass(frozen=True)
class PreparedGrid:
    """What the kernels read: one byte per cell, its clearance (0 = occupied), in 8 x 8-cell tiles.

    One small array, not an occupancy array and a clearance array: a 2,000 x 2,000 grid is
    4 MB, and the walk's cost near obstacles is mostly the cache misses of its look-ups. A
    tile is one 64-byte cache line, so neighbouring beams ending on a wall - whichever way
    it runs - mostly read lines already loaded (~25 % faster than row-major here).
    Cell (i, j) is at ``(((i >> 3) * ((cols + 7) >> 3) + (j >> 3)) << 6) + ((i & 7) << 3) + (j & 7)``.
    """

    clear: np.ndarray  # (tiles * 64,) uint8: Chebyshev cells to the nearest occupied cell, capped at 255
    rows: int
    cols: int
    resolution: float
    origin: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    def clear_map(self) -> np.ndarray:
        """The clearance as a (rows, cols) array (untiled; for tests and inspection)."""
        return untile(self.clear, self.rows, self.cols)


def tile(values: np.ndarray) -> np.ndarray:
    """A (rows, cols) uint8 array in ``PreparedGrid``'s 8 x 8 tiles (padding reads 255: free)."""
    rows, cols = values.shape
    rp, cp = -(-rows // 8) * 8, -(-cols // 8) * 8
    pad = np.full((rp, cp), _CLEAR_CAP, dtype=np.uint8)
    pad[:rows, :cols] = values
    return np.ascontiguousarray(pad.reshape(rp // 8, 8, cp // 8, 8).transpose(0, 2, 1, 3).reshape(-1))


def untile(flat: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``tile``'s inverse."""
    rp, cp = -(-rows // 8) * 8, -(-cols // 8) * 8
    return flat.reshape(rp // 8, cp // 8, 8, 8).transpose(0, 2, 1, 3).reshape(rp, cp)[:rows, :cols]


def clearance(occupied: np.ndarray) -> np.ndarray:
    """Chebyshev distance (cells) from every cell to the nearest occupied one; 0 on occupied cells.

    Outside the grid counts as free; with nothing occupied every cell gets ``rows + cols``.
    Two exact chamfer passes (3x3 unit mask), each row's sideways propagation vectorised.
    """
    occ = np.asarray(occupied, dtype=bool)
    rows, cols = occ.shape
    big = rows + cols
    d = np.where(occ, 0, big).astype(np.int32)
    ar = np.arange(cols, dtype=np.int32)

    def sideways(row: np.ndarray) -> np.ndarray:
        left = np.minimum.accumulate(row - ar) + ar  # min over k <= j of row[k] + (j - k)
        right = (np.minimum.accumulate((row + ar)[::-1]))[::-1] - ar  # min over k >= j of row[k] + (k - j)
        return np.minimum(left, right)

    def from_row(prev: np.ndarray) -> np.ndarray:
        nb = prev.copy()
        nb[1:] = np.minimum(nb[1:], prev[:-1])
        nb[:-1] = np.minimum(nb[:-1], prev[1:])
        return nb + 1

    d[0] = sideways(d[0])
    for i in range(1, rows):
        d[i] = sideways(np.minimum(d[i], from_row(d[i - 1])))
    for i in range(rows - 2, -1, -1):
        d[i] = sideways(np.minimum(d[i], from_row(d[i + 1])))
    return np.minimum(d, big)


_prepared: dict[int, tuple[weakref.ref, PreparedGrid]] = {}


def prepare(grid: OccupancyGrid | PreparedGrid) -> PreparedGrid:
    """``grid`` ready for casting (the clearance map is computed once per grid object, then cached)."""
    if isinstance(grid, PreparedGrid):
        return grid
    key = id(grid)
    hit = _prepared.get(key)
    if hit is not None and hit[0]() is grid:
        return hit[1]
    clear = tile(np.minimum(clearance(grid.occupied), _CLEAR_CAP).astype(np.uint8))
    prepared = PreparedGrid(clear, grid.rows, grid.cols, float(grid.resolution),
                            (float(grid.origin[0]), float(grid.origin[1])))
    _prepared[key] = (weakref.ref(grid, lambda _: _prepared.pop(key, None)), prepared)
    return prepared


def cast_with_grid(segment_map: SegmentMap, grid: OccupancyGrid | PreparedGrid, origins: np.ndarray,
                   headings: np.ndarray, beam_angles: np.ndarray, range_max: float, range_min: float,
                   circles: tuple[np.ndarray, np.ndarray] | None = None,
                   self_index: np.ndarray | None = None) -> np.ndarray:
    """``raycast.cast_scans`` (segments and robots) and ``cast_grid`` along the same rays; the nearer per beam.

    How a world with a grid map casts its lidars, inline and in the physics workers alike.
    """
    ranges = cast_scans(segment_map, origins, headings, beam_angles, range_max, range_min, circles=circles,
                        self_index=self_index)
    if ranges.size == 0:
        return ranges
    dxs, dys = beam_directions(headings, beam_angles)
    return np.minimum(ranges, cast_grid(grid, origins, dxs, dys, range_min, range_max))


def available_methods() -> list[str]:
    """Concrete methods usable here (``"numba"`` only if it imports); ``"auto"`` is accepted too."""
    return ["numpy"] if _numba is None else ["numpy", "numba"]


def cast_grid(grid: OccupancyGrid | PreparedGrid, origins: np.ndarray, dxs: np.ndarray, dys: np.ndarray,
              range_min: float, range_max: float, method: str = "auto") -> np.ndarray:
    """Ranges (M, K) to the first occupied cell each beam enters; ``np.inf`` = none (module docstring).

    ``dxs``/``dys`` (M, K) are unit beam directions (``sim.world.raycast.beam_directions``),
    ``origins`` (M, 2) where robot ``m``'s beams start.
    """
    g = prepare(grid)
    o = _plain(np.asarray(origins, dtype=np.float64).reshape(-1, 2))
    dx = _plain(np.asarray(dxs, dtype=np.float64))
    dy = _plain(np.asarray(dys, dtype=np.float64))
    if dx.ndim != 2 or dx.shape != dy.shape or dx.shape[0] != o.shape[0]:
        raise ValueError("dxs and dys must be (M, K) with one row per origin")
    if not (np.isfinite(o).all() and np.isfinite(dx).all() and np.isfinite(dy).all()):
        raise ValueError("origins and beam directions must be finite")
    rmin, rmax = float(range_min), float(range_max)
    if not (0.0 <= rmin <= rmax) or math.isnan(rmax):
        raise ValueError("need 0 <= range_min <= range_max")
    if method == "auto":
        method = "numba" if _numba is not None else "numpy"
    if method not in available_methods():
        raise ValueError(f"unknown or unavailable method {method!r}")
    if dx.size == 0:
        return np.full(dx.shape, np.inf)
    rows, cols = g.shape
    if method == "numba":
        out = np.empty(dx.shape)
        _grid_kernel(o, dx, dy, rmin, rmax, g.origin[0], g.origin[1], g.resolution, cols, rows, g.clear, out)
        return out
    return _cast_numpy(g, o, dx, dy, rmin, rmax)


def _plain(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous and writeable: numba compiles a new specialisation for read-only or strided arrays."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def _cast_numpy(g: PreparedGrid, o: np.ndarray, dxs: np.ndarray, dys: np.ndarray, rmin: float,
                rmax: float) -> np.ndarray:
    """Every beam at once: each iteration one jump or one cell step per live beam, op for op the kernel's."""
    m_count, k_count = dxs.shape
    gx0, gy0 = g.origin
    cs = g.resolution
    rows, cols = g.shape
    clear_flat = g.clear
    tcols = (cols + 7) >> 3
    out = np.full(m_count * k_count, np.inf)
    px = np.repeat(o[:, 0], k_count)
    py = np.repeat(o[:, 1], k_count)
    dx = dxs.reshape(-1)
    dy = dys.reshape(-1)
    with np.errstate(divide="ignore"):
        qx = np.where(dx != 0.0, 1.0 / dx, 0.0)  # crossing times multiply by these (0: never crosses)
        qy = np.where(dy != 0.0, 1.0 / dy, 0.0)
    # Clip every beam to the grid box: [tlo, thi] is where it is inside.
    tlo = np.zeros_like(px)
    thi = np.full_like(px, np.inf)
    for p, d, q, lo, hi in ((px, dx, qx, gx0, gx0 + cols * cs), (py, dy, qy, gy0, gy0 + rows * cs)):
        ta = (lo - p) * q
        tb = (hi - p) * q
        tlo = np.where(d != 0.0, np.maximum(tlo, np.minimum(ta, tb)), tlo)
        thi = np.where(d != 0.0, np.minimum(thi, np.maximum(ta, tb)), np.where((p < lo) | (p > hi), -1.0, thi))
    idx = np.nonzero((tlo <= thi) & (tlo <= rmax))[0]
    px, py, dx, dy, qx, qy, t = px[idx], py[idx], dx[idx], dy[idx], qx[idx], qy[idx], tlo[idx]
    ix = np.clip(np.floor((px + t * dx - gx0) / cs), 0, cols - 1).astype(np.int64)
    iy = np.clip(np.floor((py + t * dy - gy0) / cs), 0, rows - 1).astype(np.int64)
    # The face a beam leaves its cell by: the next column's (+x), its own (-x); none without motion.
    fx = (dx > 0.0).astype(np.int64)
    fy = (dy > 0.0).astype(np.int64)
    sx = np.sign(dx).astype(np.int64)
    sy = np.sign(dy).astype(np.int64)
    while idx.size:
        c = clear_flat[(((iy >> 3) * tcols + (ix >> 3)) << 6) + ((iy & 7) << 3) + (ix & 7)].astype(np.int64)
        hit = (c == 0) & (t >= rmin)
        out[idx[hit]] = t[hit]
        keep = ~hit
        jump = c >= _JUMP_MIN
        # Jumps: to where the beam leaves the free square around its cell (a face crossing), the
        # indices from the crossing formulas. A beam leaving through the square's corner steps instead.
        j = np.nonzero(jump & keep)[0]
        if j.size:
            cj = c[j]
            tx = np.where(sx[j] != 0, (gx0 + (ix[j] + np.where(sx[j] > 0, cj, 1 - cj)) * cs - px[j]) * qx[j], np.inf)
            ty = np.where(sy[j] != 0, (gy0 + (iy[j] + np.where(sy[j] > 0, cj, 1 - cj)) * cs - py[j]) * qy[j], np.inf)
            corner = tx == ty
            jump[j[corner]] = False
            j = j[~corner]
            tx, ty = tx[~corner], ty[~corner]
            cj = cj[~corner]
            xexit = tx < ty
            tj = np.where(xexit, tx, ty)
            t[j] = tj
            # The exit face gives one index outright; the other comes from the crossing formulas - after
            # a y face counting only the x crossings before t (the walk's y-first tie). No motion along
            # an axis: its index stays (maybe clamped at the start).
            moved_x = np.where(dx[j] != 0.0, _index_at(px[j], dx[j], qx[j], np.nextafter(tj, -np.inf), gx0, cs), ix[j])
            moved_y = np.where(dy[j] != 0.0, _index_at(py[j], dy[j], qy[j], tj, gy0, cs), iy[j])
            ix[j] = np.where(xexit, ix[j] + np.where(sx[j] > 0, cj, -cj), moved_x)
            iy[j] = np.where(xexit, moved_y, iy[j] + np.where(sy[j] > 0, cj, -cj))
        # Steps: one Amanatides-Woo step to the next cell.
        s = np.nonzero(~jump & keep)[0]
        if s.size:
            tmx = np.where(sx[s] != 0, (gx0 + (ix[s] + fx[s]) * cs - px[s]) * qx[s], np.inf)
            tmy = np.where(sy[s] != 0, (gy0 + (iy[s] + fy[s]) * cs - py[s]) * qy[s], np.inf)
            step_x = tmx < tmy
            t[s] = np.where(step_x, tmx, tmy)
            ix[s] += np.where(step_x, sx[s], 0)
            iy[s] += np.where(step_x, 0, sy[s])
        keep &= (t <= rmax) & (ix >= 0) & (ix < cols) & (iy >= 0) & (iy < rows)
        idx, px, py, dx, dy, qx, qy, t, ix, iy, fx, fy, sx, sy = (
            a[keep] for a in (idx, px, py, dx, dy, qx, qy, t, ix, iy, fx, fy, sx, sy))
    return out.reshape(m_count, k_count)


def _index_at(p: np.ndarray, d: np.ndarray, q: np.ndarray, t: np.ndarray, g0: float, cs: float) -> np.ndarray:
    """One axis of the walk's cell at distance ``t``: the floor of the point, corrected by one
    against the face-crossing times (entered the next cell already? not yet entered this one?)."""
    i = np.floor((p + t * d - g0) * (1.0 / cs)).astype(np.int64)
    i += ((d > 0.0) & ((g0 + (i + 1) * cs - p) * q <= t)).astype(np.int64)
    i -= ((d > 0.0) & ((g0 + i * cs - p) * q > t)).astype(np.int64)
    i -= ((d < 0.0) & ((g0 + i * cs - p) * q <= t)).astype(np.int64)
    i += ((d < 0.0) & ((g0 + (i + 1) * cs - p) * q > t)).astype(np.int64)
    return i


if _numba is not None:

    @_numba.njit(cache=True, nogil=True)
    def _grid_kernel(o: np.ndarray, dxs: np.ndarray, dys: np.ndarray, rmin: float, rmax: float, gx0: float,
                     gy0: float, cs: float, nx: int, ny: int, clear: np.ndarray, out: np.ndarray) -> None:
        """Per beam: clip to the grid, then jump through open space and step cell by cell near obstacles."""
        m_count, k_count = dxs.shape
        gx1 = gx0 + nx * cs
        gy1 = gy0 + ny * cs
        ics = 1.0 / cs
        tcols = (nx + 7) >> 3
        for m in range(m_count):
            px = o[m, 0]
            py = o[m, 1]
            for k in range(k_count):
                dx = dxs[m, k]
                dy = dys[m, k]
                out[m, k] = np.inf
                qx = 1.0 / dx if dx != 0.0 else 0.0
                qy = 1.0 / dy if dy != 0.0 else 0.0
                tlo = 0.0
                thi = np.inf
                if dx != 0.0:
                    ta = (gx0 - px) * qx
                    tb = (gx1 - px) * qx
                    tlo = max(tlo, min(ta, tb))
                    thi = min(thi, max(ta, tb))
                elif px < gx0 or px > gx1:
                    thi = -1.0
                if dy != 0.0:
                    ta = (gy0 - py) * qy
                    tb = (gy1 - py) * qy
                    tlo = max(tlo, min(ta, tb))
                    thi = min(thi, max(ta, tb))
                elif py < gy0 or py > gy1:
                    thi = -1.0
                if not (tlo <= thi and tlo <= rmax):
                    continue
                t = tlo
                ix = min(max(math.floor((px + t * dx - gx0) / cs), 0), nx - 1)
                iy = min(max(math.floor((py + t * dy - gy0) / cs), 0), ny - 1)
                fx = 1 if dx > 0.0 else 0
                fy = 1 if dy > 0.0 else 0
                sx = 1 if dx > 0.0 else (-1 if dx < 0.0 else 0)
                sy = 1 if dy > 0.0 else (-1 if dy < 0.0 else 0)
                while True:
                    c = np.int64(clear[(((iy >> 3) * tcols + (ix >> 3)) << 6) + ((iy & 7) << 3) + (ix & 7)])
                    if c == 0 and t >= rmin:
                        out[m, k] = t
                        break
                    jumped = False
                    tx = ty = np.inf
                    if c >= _JUMP_MIN:
                        tx = (gx0 + (ix + (c if sx > 0 else 1 - c)) * cs - px) * qx if sx != 0 else np.inf
                        ty = (gy0 + (iy + (c if sy > 0 else 1 - c)) * cs - py) * qy if sy != 0 else np.inf
                        jumped = tx != ty
                    if jumped:
                        # The walk's cell at t: the exit face gives one index outright (the crossing it
                        # counts is the one at t); the other axis by _index_at's comparisons, in the same
                        # order - after a y face, counting only the x crossings before t (the walk's
                        # y-first tie). No motion along an axis: its index stays (clamped at the start).
                        if tx < ty:
                            t = tx
                            ix += c if sx > 0 else -c
                            if dy != 0.0:
                                iy = math.floor((py + t * dy - gy0) * ics)
                                if dy > 0.0:
                                    if (gy0 + (iy + 1) * cs - py) * qy <= t:
                                        iy += 1
                                    if (gy0 + iy * cs - py) * qy > t:
                                        iy -= 1
                                else:
                                    if (gy0 + iy * cs - py) * qy <= t:
                                        iy -= 1
                                    if (gy0 + (iy + 1) * cs - py) * qy > t:
                                        iy += 1
                        else:
                            t = ty
                            iy += c if sy > 0 else -c
                            if dx != 0.0:
                                t_x = np.nextafter(t, -np.inf)
                                ix = math.floor((px + t_x * dx - gx0) * ics)
                                if dx > 0.0:
                                    if (gx0 + (ix + 1) * cs - px) * qx <= t_x:
                                        ix += 1
                                    if (gx0 + ix * cs - px) * qx > t_x:
                                        ix -= 1
                                else:
                                    if (gx0 + ix * cs - px) * qx <= t_x:
                                        ix -= 1
                                    if (gx0 + (ix + 1) * cs - px) * qx > t_x:
                                        ix += 1
                    else:
                        tmx = (gx0 + (ix + fx) * cs - px) * qx if sx != 0 else np.inf
                        tmy = (gy0 + (iy + fy) * cs - py) * qy if sy != 0 else np.inf
                        if tmx < tmy:
                            t = tmx
                            ix += sx
                        else:
                            t = tmy
                            iy += sy
                    if not (t <= rmax and 0 <= ix < nx and 0 <= iy < ny):
                        break


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the numba kernel now, not inside a sensor thread."""
    if _numba is not None:
        occ = np.zeros((3, 3), dtype=bool)
        occ[1, 2] = True
        grid = OccupancyGrid.from_values(np.where(occ, 100, 0), 1.0, (0.0, 0.0))
        cast_grid(grid, np.array([[0.5, 1.5]]), np.array([[1.0]]), np.array([[0.0]]), 0.0, 5.0, method="numba")
