"""The static wall segments ray casts and collision checks run against, with their spatial grid.

:class:`SegmentMap` is built once per map and shared read-only by every sensor, the
physics and the worker processes; its uniform grid (CSR arrays, cell -> segment
indices) lets a query touch only the segments near a robot or along a beam. The ray
casts themselves are in ``sim/world/raycast.py``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SegmentMap", "point_segment_distance_sq"]

# Registration slack: a segment is put in every cell it comes within this
# distance (relative to the map size) of, so floating-point cell lookups at
# cell borders and corners can never lose a segment.
_REG_EPS_REL = 1e-9
# Beams within this angle (rad) of a segment's direction count as parallel:
# near-collinear rays would otherwise turn rounding noise into spurious hits.
_PARALLEL_EPS = 1e-12


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
        # Culling only (distance to the segment's start for a segment too short to invert: ~1e-154 m,
        # whose 1/len2 would overflow to inf and turn its distance into NaN, losing it).
        self._inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 1.0 / np.finfo(float).max)
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
