"""The ``"numba"`` ray-cast method: a compiled ``nogil`` kernel walking the grid cells each beam crosses.

Compiled on first use (~2 s, then cached on disk next to this module): ``warm_up`` in
``sim/world/raycast.py`` does it before real-time threads start. ``_numba`` is None where
numba is not installed; the kernel then does not exist and ``"auto"`` uses ``"culled"``.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from sim.world.raycast_numpy import _DIST_MARGIN
from sim.world.segmap import SegmentMap

_numba: ModuleType | None  # None where numba is not installed
try:  # numba is optional: "auto" falls back to the numpy culled path without it.
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba = None

# DDA stops once the best hit is this much closer than the current cell's exit.
_DDA_TOL = 1e-9


if _numba is not None:

    @_numba.njit(cache=True, nogil=True)
    def _numba_kernel(
        o: np.ndarray,
        dxs: np.ndarray,
        dys: np.ndarray,
        rmin: float,
        rmax: float,
        gx0: float,
        gy0: float,
        cs: float,
        nx: int,
        ny: int,
        eps: float,
        cell_start: np.ndarray,
        cell_data: np.ndarray,
        cc: np.ndarray,
        crr: np.ndarray,
        self_index: np.ndarray,
        out: np.ndarray,
    ) -> None:
        """Per beam: candidate circles, then Amanatides-Woo traversal of the grid.

        Traversal stops as soon as the best hit is closer than the exit of the
        current cell (nothing further along can beat it) or range_max is passed.
        Segment/circle formulas are the same as the numpy ones, op for op.
        """
        m_count, k_count = dxs.shape
        n_c = cc.shape[0]
        cand = np.empty(n_c, np.int64)
        inf = np.inf
        gx1 = gx0 + nx * cs
        gy1 = gy0 + ny * cs
        t_start = max(rmin - _DDA_TOL, 0.0)
        for m in range(m_count):
            px = o[m, 0]
            py = o[m, 1]
            nc = 0
            for j in range(n_c):
                if j == self_index[m]:
                    continue
                fx = px - cc[j, 0]
                fy = py - cc[j, 1]
                dc = math.sqrt(fx * fx + fy * fy)
                if dc - crr[j] > rmax + _DIST_MARGIN or dc + crr[j] < rmin - _DIST_MARGIN:
                    continue
                cand[nc] = j
                nc += 1
            for k in range(k_count):
                dx = dxs[m, k]
                dy = dys[m, k]
                best = inf
                for q in range(nc):
                    j = cand[q]
                    fx = px - cc[j, 0]
                    fy = py - cc[j, 1]
                    b = fx * dx + fy * dy
                    c = fx * fx + fy * fy - crr[j] * crr[j]
                    disc = b * b - c
                    if disc >= 0.0:
                        sq = math.sqrt(disc)
                        t = -b - sq
                        if not t >= rmin:
                            t = -b + sq
                        if t >= rmin and t <= rmax and t < best:
                            best = t
                # Clip the beam to the (slightly inflated) grid box.
                tlo = t_start
                thi = rmax + _DDA_TOL
                if dx != 0.0:
                    ta = (gx0 - eps - px) / dx
                    tb = (gx1 + eps - px) / dx
                    tlo = max(tlo, min(ta, tb))
                    thi = min(thi, max(ta, tb))
                elif px < gx0 - eps or px > gx1 + eps:
                    thi = -1.0
                if dy != 0.0:
                    ta = (gy0 - eps - py) / dy
                    tb = (gy1 + eps - py) / dy
                    tlo = max(tlo, min(ta, tb))
                    thi = min(thi, max(ta, tb))
                elif py < gy0 - eps or py > gy1 + eps:
                    thi = -1.0
                if tlo <= thi and best > tlo:
                    ix = math.floor((px + tlo * dx - gx0) / cs)
                    iy = math.floor((py + tlo * dy - gy0) / cs)
                    ix = min(max(ix, 0), nx - 1)
                    iy = min(max(iy, 0), ny - 1)
                    if dx > 0.0:
                        sx = 1
                        tmx = (gx0 + (ix + 1) * cs - px) / dx
                    elif dx < 0.0:
                        sx = -1
                        tmx = (gx0 + ix * cs - px) / dx
                    else:
                        sx = 0
                        tmx = inf
                    if dy > 0.0:
                        sy = 1
                        tmy = (gy0 + (iy + 1) * cs - py) / dy
                    elif dy < 0.0:
                        sy = -1
                        tmy = (gy0 + iy * cs - py) / dy
                    else:
                        sy = 0
                        tmy = inf
                    while True:
                        cell = iy * nx + ix
                        for it in range(cell_start[cell], cell_start[cell + 1]):
                            ax = cell_data[it, 0]
                            ay = cell_data[it, 1]
                            ex = cell_data[it, 2]
                            ey = cell_data[it, 3]
                            denom = dx * ey - dy * ex
                            if abs(denom) <= cell_data[it, 4]:
                                continue
                            wx = ax - px
                            wy = ay - py
                            t = (wx * ey - wy * ex) / denom
                            if t < rmin or t > rmax or t >= best:
                                continue
                            u = (wx * dy - wy * dx) / denom
                            if u >= 0.0 and u <= 1.0:
                                best = t
                        # Advance to the next cell. Stepping off the grid while
                        # still inside the eps-inflated box (a beam running along
                        # the border) only stops motion on that axis: segments
                        # in that band are registered in the border cells.
                        done = False
                        while True:
                            t_exit = min(tmx, tmy)
                            if best < t_exit - _DDA_TOL or t_exit > thi or t_exit == inf:
                                done = True
                                break
                            if tmx < tmy:
                                if 0 <= ix + sx < nx:
                                    ix += sx
                                    tmx = (gx0 + (ix + (1 if sx > 0 else 0)) * cs - px) / dx
                                    break
                                tmx = inf
                            else:
                                if 0 <= iy + sy < ny:
                                    iy += sy
                                    tmy = (gy0 + (iy + (1 if sy > 0 else 0)) * cs - py) / dy
                                    break
                                tmy = inf
                        if done:
                            break
                out[m, k] = best


def _cast_numba(
    smap: SegmentMap,
    o: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Run the compiled kernel (compiled on first use, then cached on disk).

    Inputs are forced to C-contiguous, writeable float64/int64 arrays: numba
    compiles a separate specialisation for read-only or strided arrays (e.g.
    views of an immutable snapshot), which would mean a fresh compile stall.
    """
    m_count, k_count = dxs.shape
    out = np.empty((m_count, k_count))
    cc, cr = (np.zeros((0, 2)), np.zeros(0)) if circ is None else circ
    _numba_kernel(
        _plain_array(o), _plain_array(dxs), _plain_array(dys), rmin, rmax,
        float(smap.origin[0]), float(smap.origin[1]), smap.cell_size, int(smap.shape[0]), int(smap.shape[1]),
        smap.eps, smap.cell_start, smap.cell_data,
        _plain_array(cc), _plain_array(cr), _plain_array(self_index, np.int64), out,
    )
    return out


def _plain_array(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``a`` as a C-contiguous, writeable array of ``dtype`` (copied only if needed)."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, dtype=dtype, order="C")
