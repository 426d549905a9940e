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
"""

from __future__ import annotations

import itertools
import math
from types import ModuleType

import numpy as np

_numba: ModuleType | None  # None where numba is not installed
try:  # numba is optional: "auto" falls back to the numpy culled path without it.
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba = None

__all__ = [
    "SegmentMap",
    "available_methods",
    "cast_scans",
    "point_segment_distance_sq",
    "warm_up",
]

# Registration slack: a segment is put in every cell it comes within this
# distance (relative to the map size) of, so floating-point cell lookups at
# cell borders and corners can never lose a segment.
_REG_EPS_REL = 1e-9
# Conservative slack for the numpy culling (angles in rad, distances in m):
# extra candidates cost little, a lost candidate would be a wrong reading.
_ANG_MARGIN = 1e-6
_DIST_MARGIN = 1e-6
# Within this distance of an object the angular window is ill-conditioned, so
# every beam is tested against it.
_FULL_EPS = 1e-3
# Beams within this angle (rad) of a segment's direction count as parallel:
# near-collinear rays would otherwise turn rounding noise into spurious hits.
_PARALLEL_EPS = 1e-12
# DDA stops once the best hit is this much closer than the current cell's exit.
_DDA_TOL = 1e-9
# Upper bound on elements per dense block in the "plain" method (memory cap).
_PLAIN_BLOCK = 1 << 21
# Up to this many (robot, segment) pairs, a dense distance check beats the grid.
_DENSE_CANDIDATES_MAX = 4096
# Beam/object pairs per numpy batch in the culled path (keeps arrays in cache).
_PAIR_CHUNK = 4096


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand ranges ``[starts[i], starts[i] + counts[i])`` into (owner, value) arrays.

    This is the vectorised replacement for a Python loop over variable-length
    runs, used everywhere candidate pairs are generated.
    """
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    total = int(counts.sum())
    if total == 0:
        return owner, np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts
    values = np.arange(total, dtype=np.int64) + np.repeat(starts - first, counts)
    return owner, values


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi) (same rule as ``sim.common.geometry.wrap_angle``)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def point_segment_distance_sq(
    px: np.ndarray, py: np.ndarray, seg: np.ndarray
) -> np.ndarray:
    """Squared distance from points to segments, elementwise with broadcasting.

    ``seg`` is ``(..., 4)``. Kept as one formula so grid-culled and brute-force
    collision checks round identically and therefore agree exactly.
    """
    ax, ay = seg[..., 0], seg[..., 1]
    ex, ey = seg[..., 2] - ax, seg[..., 3] - ay
    len2 = ex * ex + ey * ey
    rx, ry = px - ax, py - ay
    num = rx * ex + ry * ey
    # Degenerate (zero-length) segments: t = 0, i.e. distance to the point.
    t = np.divide(num, len2, out=np.zeros_like(num), where=len2 > 0.0)
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    cx = ax + t * ex - px
    cy = ay + t * ey - py
    return cx * cx + cy * cy


class SegmentMap:
    """Static wall segments plus a uniform grid (cell -> segment indices) for culling.

    Built once per map and shared read-only by every sensor and the physics:
    the grid lets a query touch only the segments near a robot or along a beam.
    ``bounds`` is the segments' bounding box ``(xmin, ymin, xmax, ymax)``; the
    grid starts at ``(xmin, ymin)`` and has ``shape == (nx, ny)`` cells of
    ``cell_size`` metres, stored row-major (``cell = iy * nx + ix``) as CSR
    arrays ``cell_start`` / ``cell_items``.
    """

    def __init__(self, segments: np.ndarray, cell_size: float = 1.0) -> None:
        seg = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
        if not np.all(np.isfinite(seg)):
            raise ValueError("segments must be finite")
        if not cell_size > 0.0:
            raise ValueError("cell_size must be positive")
        self.segments = np.ascontiguousarray(seg)
        self.cell_size = float(cell_size)
        if seg.shape[0]:
            xs = np.concatenate([seg[:, 0], seg[:, 2]])
            ys = np.concatenate([seg[:, 1], seg[:, 3]])
            xmin, xmax = float(xs.min()), float(xs.max())
            ymin, ymax = float(ys.min()), float(ys.max())
        else:
            xmin = xmax = ymin = ymax = 0.0
        self.bounds = (xmin, ymin, xmax, ymax)
        self.origin = (xmin, ymin)
        nx = max(1, math.ceil((xmax - xmin) / cell_size))
        ny = max(1, math.ceil((ymax - ymin) / cell_size))
        self.shape = (nx, ny)
        self._grid_lo = np.array([xmin, ymin])
        self._grid_hi = np.array([xmax, ymax])
        self._max_cell = np.array([nx - 1, ny - 1], dtype=np.int64)
        scale = max(1.0, abs(xmin), abs(xmax), abs(ymin), abs(ymax))
        self.eps = _REG_EPS_REL * scale
        self.cell_start, self.cell_items = self._build_grid()
        a = self.segments[:, 0:2]
        e = self.segments[:, 2:4] - a
        # Flat per-segment columns for the numpy culling (1-D gathers are cheap).
        self._ax, self._ay = a[:, 0].copy(), a[:, 1].copy()
        self._ex, self._ey = e[:, 0].copy(), e[:, 1].copy()
        len2 = self._ex * self._ex + self._ey * self._ey
        self._inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0.0)
        # |d x e| at or below this is "parallel" (|d| = 1): sin(angle) <= _PARALLEL_EPS.
        self.parallel_tol = _PARALLEL_EPS * np.hypot(e[:, 0], e[:, 1])
        # Per-cell copies of [ax, ay, ex, ey, parallel_tol] so the compiled
        # kernel streams through memory instead of chasing indices.
        self.cell_data = np.ascontiguousarray(np.hstack([a, e, self.parallel_tol[:, None]])[self.cell_items])
        for arr in (self.segments, self.cell_start, self.cell_items, self.cell_data, self.parallel_tol):
            arr.flags.writeable = False

    def __deepcopy__(self, memo: dict) -> SegmentMap:
        # Immutable (every array read-only): copies share it. A deep copy would also make its
        # arrays writeable, another type to numba: a warm-up on a copy (Run.warm_up copies each
        # sensor) would then compile a kernel the run never calls, and the run compile its own.
        return self

    @property
    def n_segments(self) -> int:
        """Number of wall segments."""
        return int(self.segments.shape[0])

    def _cell_index(self, v: np.ndarray, axis: int) -> np.ndarray:
        """Grid index along ``axis`` of coordinates ``v``, clamped into the grid."""
        n = self.shape[axis]
        i = np.floor((v - self.origin[axis]) / self.cell_size)
        return np.clip(i, 0, n - 1).astype(np.int64)

    def _build_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Register each segment in every cell it passes within ``eps`` of (exact SAT test)."""
        nx, ny = self.shape
        seg = self.segments
        cs, eps = self.cell_size, self.eps
        if seg.shape[0] == 0:
            return np.zeros(nx * ny + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        lo_x = np.minimum(seg[:, 0], seg[:, 2]) - eps
        hi_x = np.maximum(seg[:, 0], seg[:, 2]) + eps
        lo_y = np.minimum(seg[:, 1], seg[:, 3]) - eps
        hi_y = np.maximum(seg[:, 1], seg[:, 3]) + eps
        ix0, ix1 = self._cell_index(lo_x, 0), self._cell_index(hi_x, 0)
        iy0, iy1 = self._cell_index(lo_y, 1), self._cell_index(hi_y, 1)
        wx = ix1 - ix0 + 1
        owner, local = _ranges(np.zeros_like(wx), wx * (iy1 - iy0 + 1))
        ix = ix0[owner] + local % wx[owner]
        iy = iy0[owner] + local // wx[owner]
        # Separating-axis test of the segment against the eps-inflated cell:
        # the AABB axes are satisfied by construction, only the segment normal
        # remains - keep the cell unless all four corners lie clearly on one side.
        x0 = self.origin[0] + ix * cs - eps
        x1 = self.origin[0] + (ix + 1) * cs + eps
        y0 = self.origin[1] + iy * cs - eps
        y1 = self.origin[1] + (iy + 1) * cs + eps
        ax, ay = seg[owner, 0], seg[owner, 1]
        ex, ey = seg[owner, 2] - ax, seg[owner, 3] - ay
        tol = eps * np.hypot(ex, ey)
        corners = np.stack(
            [
                ex * (y0 - ay) - ey * (x0 - ax),
                ex * (y0 - ay) - ey * (x1 - ax),
                ex * (y1 - ay) - ey * (x0 - ax),
                ex * (y1 - ay) - ey * (x1 - ax),
            ]
        )
        keep = (corners.min(axis=0) <= tol) & (corners.max(axis=0) >= -tol)
        cell = (iy * nx + ix)[keep]
        owner = owner[keep]
        order = np.lexsort((owner, cell))
        counts = np.bincount(cell, minlength=nx * ny)
        start = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        return start, owner[order].astype(np.int64)

    def candidates_in_boxes(
        self, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unique ``(box, segment)`` index pairs for segments in cells touching each box.

        ``lo``/``hi`` are ``(N, 2)`` box corners. Conservative: every segment
        with a point inside a box is returned (plus some nearby ones); callers
        apply the exact test. Vectorised over boxes, sorted by box.
        """
        lo = np.asarray(lo, dtype=np.float64).reshape(-1, 2)
        hi = np.asarray(hi, dtype=np.float64).reshape(-1, 2)
        n_boxes, n_seg = lo.shape[0], self.n_segments
        empty = np.zeros(0, dtype=np.int64)
        if n_boxes == 0 or n_seg == 0:
            return empty, empty
        eps = self.eps
        # Boxes wholly off the grid (or NaN) have no candidates.
        inside = ((hi >= self._grid_lo - eps) & (lo <= self._grid_hi + eps)).all(axis=1)
        boxes = np.flatnonzero(inside)
        if boxes.size == 0:
            return empty, empty
        nx = self.shape[0]
        # One pass for both corners and both axes: rows [lo..., hi...], columns (ix, iy).
        corners = np.concatenate([lo[boxes] - eps, hi[boxes] + eps])
        cells = np.floor((corners - self._grid_lo) / self.cell_size).astype(np.int64)
        cells = np.minimum(np.maximum(cells, 0), self._max_cell)
        ix0, iy0 = cells[: boxes.size, 0], cells[: boxes.size, 1]
        ix1, iy1 = cells[boxes.size :, 0], cells[boxes.size :, 1]
        n_cells = nx * self.shape[1]
        covered = ((ix1 - ix0 + 1) * (iy1 - iy0 + 1)).sum()
        if covered * self.cell_items.size >= n_cells * n_seg * boxes.size:
            # Boxes cover most of the grid: listing every segment is cheaper
            # than gathering and de-duplicating cell lists.
            owner = np.repeat(boxes, n_seg)
            return owner, np.tile(np.arange(n_seg, dtype=np.int64), boxes.size)
        # Cells ix0..ix1 of one grid row are contiguous in the CSR arrays, so
        # each (box, row) contributes one contiguous run of items.
        row_owner, row = _ranges(iy0, iy1 - iy0 + 1)
        base = row * nx
        first = self.cell_start[base + ix0[row_owner]]
        last = self.cell_start[base + ix1[row_owner] + 1]
        run_owner, item = _ranges(first, last - first)
        key = np.sort(boxes[row_owner[run_owner]] * n_seg + self.cell_items[item])
        if key.size:
            key = key[np.concatenate(([True], key[1:] != key[:-1]))]  # np.unique, minus its overhead
        return key // n_seg, key % n_seg


def available_methods() -> list[str]:
    """Concrete methods usable here (``"numba"`` only if it imports); ``"auto"`` is always accepted too."""
    if _numba is None:
        return ["plain", "culled", "python"]
    return ["plain", "culled", "numba", "python"]


def _segment_hits(
    wx: np.ndarray,
    wy: np.ndarray,
    cw: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    tol: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    range_min: float,
    range_max: float,
) -> np.ndarray:
    """Ray/segment distances (inf = miss), elementwise; the one formula all methods use.

    With ``w = a - o`` (segment start relative to the ray origin), ``e`` the
    segment vector and ``cw = wx * ey - wy * ex``: ``t = cw / (d x e)``,
    ``u = (w x d) / (d x e)``. ``w`` and ``cw`` depend only on (robot, segment),
    so callers compute them once per pair of those, not per beam. ``|d x e| <= tol``
    counts as parallel (no hit).
    """
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cw / denom
        u = (wx * dy - wy * dx) / denom
    ok = (np.abs(denom) > tol) & (u >= 0.0) & (u <= 1.0) & (t >= range_min) & (t <= range_max)
    return np.where(ok, t, np.inf)


def _circle_hits(
    fx: np.ndarray,
    fy: np.ndarray,
    c: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    range_min: float,
    range_max: float,
) -> np.ndarray:
    """Ray/circle-boundary distances (inf = miss), elementwise; unit directions assumed.

    ``f = o - centre`` and ``c = |f|^2 - r^2`` depend only on (robot, circle).
    """
    b = fx * dx + fy * dy
    disc = b * b - c
    with np.errstate(invalid="ignore"):
        sq = np.sqrt(disc)
    t1 = -b - sq
    t2 = -b + sq
    t = np.where(t1 >= range_min, t1, t2)
    ok = (disc >= 0.0) & (t >= range_min) & (t <= range_max)
    return np.where(ok, t, np.inf)


def _cast_plain(
    smap: SegmentMap,
    o: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Reference: every beam against every segment and circle, in dense blocks."""
    m_count, k_count = dxs.shape
    out = np.full((m_count, k_count), np.inf)
    seg = smap.segments
    ax, ay = seg[:, 0], seg[:, 1]
    ex, ey = seg[:, 2] - ax, seg[:, 3] - ay
    n_obj = seg.shape[0] + (0 if circ is None else circ[1].size)
    block = max(1, _PLAIN_BLOCK // max(1, k_count * n_obj))
    for s in range(0, m_count, block):
        sl = slice(s, s + block)
        ox = o[sl, 0][:, None, None]
        oy = o[sl, 1][:, None, None]
        dx = dxs[sl][:, :, None]
        dy = dys[sl][:, :, None]
        if seg.shape[0]:
            wx = ax - ox
            wy = ay - oy
            cw = wx * ey - wy * ex
            t = _segment_hits(wx, wy, cw, ex, ey, smap.parallel_tol, dx, dy, rmin, rmax)
            out[sl] = t.min(axis=2)
        if circ is not None and circ[1].size:
            c, r = circ
            fx = ox - c[:, 0]
            fy = oy - c[:, 1]
            cc = fx * fx + fy * fy - r * r
            t = _circle_hits(fx, fy, cc, dx, dy, rmin, rmax)
            mine = self_index[sl][:, None] == np.arange(r.size)[None, :]
            t = np.where(mine[:, None, :], np.inf, t)
            out[sl] = np.minimum(out[sl], t.min(axis=2))
    return out


def _beam_runs(
    start: np.ndarray,
    length: np.ndarray,
    full: np.ndarray,
    rel_sorted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of beams (positions in ``rel_sorted``) inside angular windows.

    A window is ``[start, start + length]`` relative to the robot heading,
    ``start`` in [-pi, pi); past pi it wraps into a second run from -pi, so
    window ``w`` owns runs ``2w`` and ``2w + 1``. ``full`` windows take every
    beam. Returns (run starts, run lengths).
    """
    k_count = rel_sorted.size
    end = start + length
    lo = np.where(full, 0, np.searchsorted(rel_sorted, start, side="left"))
    hi = np.where(full, k_count, np.searchsorted(rel_sorted, end, side="right"))
    hi2 = np.where(full, 0, np.searchsorted(rel_sorted, end - 2.0 * np.pi, side="right"))
    starts = np.zeros(2 * lo.size, dtype=np.int64)
    counts = np.empty(2 * lo.size, dtype=np.int64)
    starts[0::2] = lo
    counts[0::2] = hi - lo
    counts[1::2] = hi2
    return starts, counts


def _near_segments(
    smap: SegmentMap, o: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(robot, segment, approximate distance) for segments within ``reach`` of each origin.

    Few robots x few segments: one dense broadcast is the fewest numpy calls.
    Otherwise the grid narrows the candidates before the distance test. The
    distance only culls (with margins), so a cheaper formula than
    :func:`point_segment_distance_sq` is fine here.
    """
    if o.shape[0] * smap.n_segments <= _DENSE_CANDIDATES_MAX:
        rob = sid = None
        px, py = o[:, 0:1], o[:, 1:2]
        ax, ay, ex, ey, inv = smap._ax, smap._ay, smap._ex, smap._ey, smap._inv_len2
    else:
        rob, sid = smap.candidates_in_boxes(o - reach, o + reach)
        px, py = o[rob, 0], o[rob, 1]
        ax, ay, ex, ey, inv = smap._ax[sid], smap._ay[sid], smap._ex[sid], smap._ey[sid], smap._inv_len2[sid]
    rx = px - ax
    ry = py - ay
    t = np.minimum(np.maximum((rx * ex + ry * ey) * inv, 0.0), 1.0)
    cx = rx - t * ex
    cy = ry - t * ey
    d2 = cx * cx + cy * cy
    if rob is None or sid is None:
        rob, sid = np.nonzero(d2 <= reach * reach)
        return rob, sid, np.sqrt(d2[rob, sid])
    keep = d2 <= reach * reach
    return rob[keep], sid[keep], np.sqrt(d2[keep])


def _cast_culled(
    smap: SegmentMap,
    o: np.ndarray,
    headings: np.ndarray,
    beam_angles: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Numpy with two culling stages, then the exact test on (beam, object) pairs only.

    1. The grid gives the segments in cells near each robot (for small
       problems a dense distance check is cheaper); an exact point-to-segment
       distance keeps those within ``range_max``.
    2. Each kept segment or circle subtends an angular window seen from the
       robot; only beams inside that window (``searchsorted`` on the sorted
       beam angles) are paired with it - only the beams that can cross it.
       Windows are padded, so culling never drops a true hit, and the final
       test is the same formula as "plain", so results match it.
    The number of numpy calls is fixed (independent of M and K): no Python
    loop holds the GIL between numpy kernels.
    """
    m_count, k_count = dxs.shape
    rel = _wrap(beam_angles)
    order = np.argsort(rel, kind="stable")
    rel_sorted = rel[order]
    reach = rmax + _DIST_MARGIN
    seg = smap.segments

    # Segment windows: the arc between the two endpoint directions (< pi).
    rob_s, sid, dist = _near_segments(smap, o, reach)
    if rmin > 0.0:
        s = seg[sid]
        far = np.maximum(
            np.hypot(s[:, 0] - o[rob_s, 0], s[:, 1] - o[rob_s, 1]),
            np.hypot(s[:, 2] - o[rob_s, 0], s[:, 3] - o[rob_s, 1]),
        )
        keep = far >= rmin - _DIST_MARGIN
        rob_s, sid, dist = rob_s[keep], sid[keep], dist[keep]
    wx = smap._ax[sid] - o[rob_s, 0]
    wy = smap._ay[sid] - o[rob_s, 1]
    ex = smap._ex[sid]
    ey = smap._ey[sid]
    # Per (robot, segment) constants of the hit formula, gathered per pair below.
    seg_w = np.stack([wx, wy, wx * ey - wy * ex, ex, ey, smap.parallel_tol[sid]], axis=1)
    th_a = np.arctan2(wy, wx)
    th_b = np.arctan2(wy + ey, wx + ex)
    diff = _wrap(th_b - th_a)
    starts = [np.where(diff >= 0.0, th_a, th_b) - headings[rob_s] - _ANG_MARGIN]
    lengths = [np.abs(diff) + 2.0 * _ANG_MARGIN]
    fulls = [dist < _FULL_EPS]
    robs = [rob_s]

    # Circle windows: centre direction +- asin(r / d).
    n_c = 0 if circ is None else circ[1].size
    circ_w = np.zeros((0, 3))
    if circ is not None and n_c:
        c, r = circ
        fx = o[:, 0:1] - c[None, :, 0]
        fy = o[:, 1:2] - c[None, :, 1]
        dcen = np.hypot(fx, fy)
        keep = (
            (np.arange(n_c)[None, :] != self_index[:, None])
            & (dcen - r <= reach)
            & (dcen + r >= rmin - _DIST_MARGIN)
        )
        rob_c, cid = np.nonzero(keep)
        fx, fy, dcen, rr = fx[rob_c, cid], fy[rob_c, cid], dcen[rob_c, cid], r[cid]
        circ_w = np.stack([fx, fy, fx * fx + fy * fy - rr * rr], axis=1)
        full = dcen < rr + _FULL_EPS
        with np.errstate(invalid="ignore", divide="ignore"):
            half = np.where(full, np.pi, np.arcsin(np.minimum(rr / dcen, 1.0))) + _ANG_MARGIN
        starts.append(np.arctan2(-fy, -fx) - half - headings[rob_c])
        lengths.append(2.0 * half)
        fulls.append(full)
        robs.append(rob_c)

    run_start, run_count = _beam_runs(
        _wrap(np.concatenate(starts)), np.concatenate(lengths), np.concatenate(fulls), rel_sorted
    )
    win_rob = np.concatenate(robs)
    n_sw = sid.size
    out = np.full(m_count * k_count, np.inf)
    dirs = np.stack([dxs.ravel(), dys.ravel()], axis=1)
    # Pairs are processed in chunks of whole runs so temporaries stay small
    # (cache-resident, recycled by malloc instead of mmap'd and faulted in).
    first = np.cumsum(run_count) - run_count
    cuts = np.flatnonzero(np.diff(first // _PAIR_CHUNK)) + 1
    bounds = [0, *cuts.tolist(), run_count.size]
    for r0, r1 in itertools.pairwise(bounds):
        run, pos = _ranges(run_start[r0:r1], run_count[r0:r1])
        win = (run + r0) >> 1
        beam = win_rob[win] * k_count + order[pos]
        d = dirs[beam]
        # Segment windows come first, circle windows after.
        n_sp = int(np.searchsorted(win, n_sw))
        if n_sp:
            w = seg_w[win[:n_sp]]
            t = _segment_hits(
                w[:, 0], w[:, 1], w[:, 2], w[:, 3], w[:, 4], w[:, 5], d[:n_sp, 0], d[:n_sp, 1], rmin, rmax
            )
            np.minimum.at(out, beam[:n_sp], t)
        if n_sp < win.size:
            w = circ_w[win[n_sp:] - n_sw]
            t = _circle_hits(w[:, 0], w[:, 1], w[:, 2], d[n_sp:, 0], d[n_sp:, 1], rmin, rmax)
            np.minimum.at(out, beam[n_sp:], t)
    return out.reshape(m_count, k_count)


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
    # Wrapping first keeps huge accumulated headings from costing precision in
    # the culled path's angular windows; every method then sees the same rays.
    head = _wrap(head)
    rel = _wrap(rel)
    ang = head[:, None] + rel[None, :]
    dxs = np.ascontiguousarray(np.cos(ang))
    dys = np.ascontiguousarray(np.sin(ang))
    if method == "plain":
        return _cast_plain(smap, o, dxs, dys, rmin, rmax, circ, sidx)
    if method == "culled":
        return _cast_culled(smap, o, head, rel, dxs, dys, rmin, rmax, circ, sidx)
    if method == "numba":
        return _cast_numba(smap, o, dxs, dys, rmin, rmax, circ, sidx)
    return _cast_python(smap, o, dxs, dys, rmin, rmax, circ, sidx)


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
