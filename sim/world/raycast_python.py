"""The ``"python"`` ray-cast method: plain loops over every beam and object, the slow baseline.

It holds the GIL throughout; ``bench/raycast_bench.py`` measures it against the others.
"""

from __future__ import annotations

import math

import numpy as np

from sim.world.segmap import SegmentMap


def _cast_python(
    smap: SegmentMap,
    o: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Pure-Python loops over every beam x object: the slow baseline (holds the GIL)."""
    m_count, k_count = dxs.shape
    seg = smap.segments
    segs = [
        (float(a), float(b), float(c) - float(a), float(d) - float(b), tol)
        for (a, b, c, d), tol in zip(seg.tolist(), smap.parallel_tol.tolist(), strict=True)
    ]
    circles: list[tuple[int, float, float, float]] = []
    if circ is not None:
        circles = [
            (j, float(x), float(y), float(rad))
            for j, ((x, y), rad) in enumerate(zip(circ[0].tolist(), circ[1].tolist(), strict=True))
        ]
    inf = math.inf
    out = [[inf] * k_count for _ in range(m_count)]
    dxl, dyl, ol, sl = dxs.tolist(), dys.tolist(), o.tolist(), self_index.tolist()
    for m in range(m_count):
        ox, oy = ol[m]
        mine = sl[m]
        row = out[m]
        for k in range(k_count):
            dx, dy = dxl[m][k], dyl[m][k]
            best = inf
            for ax, ay, ex, ey, tol in segs:
                denom = dx * ey - dy * ex
                if abs(denom) <= tol:
                    continue
                wx = ax - ox
                wy = ay - oy
                t = (wx * ey - wy * ex) / denom
                if t < rmin or t > rmax or t >= best:
                    continue
                u = (wx * dy - wy * dx) / denom
                if 0.0 <= u <= 1.0:
                    best = t
            for j, cx, cy, rad in circles:
                if j == mine:
                    continue
                fx = ox - cx
                fy = oy - cy
                b = fx * dx + fy * dy
                c = fx * fx + fy * fy - rad * rad
                disc = b * b - c
                if disc < 0.0:
                    continue
                sq = math.sqrt(disc)
                t = -b - sq
                if t < rmin:
                    t = -b + sq
                if rmin <= t <= rmax and t < best:
                    best = t
            row[k] = best
    return np.array(out, dtype=np.float64).reshape(m_count, k_count)
