"""Global path planning for the AMRs: an inflated occupancy grid and an 8-connected A*.

The grid is built once per map with numpy (exact cell-centre distances, no
per-cell Python loop) and then treated as immutable, so the derived data the
planner needs is cached on it: connected-component labels (unreachable goals
are rejected without a search) and JPS+ jump tables. The search itself is A*
with an octile heuristic over jump points (JPS+, no corner cutting), which
returns the same optimal 8-connected paths as a cell-by-cell heapq A* at a
fraction of the cost; the cell-by-cell A* is kept as a fallback and as the
reference in the tests. Robots are discs, so obstacles are inflated by
``robot_radius + margin`` and the robot is planned as a point.

Conventions: metres, map origin (0, 0) at the lower-left corner, x forward /
y left (REP 103). ``occupied[row, col]`` with ``row`` along y and ``col`` along
x, so cell ``(ix, iy)`` covers ``[ix*res, (ix+1)*res) x [iy*res, (iy+1)*res)``.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sim.common.geometry import point_segment_distance, polygon_segments
from sim.errors import NoPathError  # raised when no collision-free path exists; importable from here as before

__all__ = ["NoPathError", "OccupancyGrid", "plan"]

_SQRT2 = math.sqrt(2.0)
_EPS = 1e-6  # cells; nudge used to look at both sides of grid lines
_CHUNK = 200_000  # max point x segment pairs per distance evaluation (bounds memory)


def _points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Vectorised even-odd test for (P, 2) points, so rasterising a shelf is one numpy call."""
    p = np.asarray(polygon, dtype=float)
    q = np.roll(p, -1, axis=0)
    x = points[:, 0:1]
    y = points[:, 1:2]
    crosses = (p[None, :, 1] > y) != (q[None, :, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = p[None, :, 0] + (y - p[None, :, 1]) * (q[None, :, 0] - p[None, :, 0]) / (q[None, :, 1] - p[None, :, 1])
    return (np.count_nonzero(crosses & (x < x_at), axis=1) % 2).astype(bool)


def _min_distance(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest segment, chunked so big shapes stay cheap."""
    out = np.empty(len(points))
    step = max(1, _CHUNK // max(1, len(segments)))
    for i in range(0, len(points), step):
        out[i : i + step] = point_segment_distance(points[i : i + step], segments).min(axis=1)
    return out


class OccupancyGrid:
    """Boolean occupancy on a regular grid; ``occupied[iy, ix]`` (rows = y, cols = x).

    A cell is occupied when its centre lies inside an obstacle or within
    ``inflate`` of an obstacle edge, a wall or the map boundary. Any point of a
    free cell is therefore at least ``inflate - resolution / sqrt(2)`` from
    every obstacle. The array is made read-only because planning caches are
    derived from it; build a new grid if the map changes. A grid can be shared
    by several controller threads: queries only read it, and the lazily built
    caches are whole objects swapped in by one assignment (call ``prepare()``
    at start-up so no query pays for them).
    """

    def __init__(self, occupied: np.ndarray, resolution: float, inflate: float = 0.0) -> None:
        occ = np.array(occupied, dtype=bool)  # own copy: the caches depend on it
        if occ.ndim != 2 or occ.size == 0:
            raise ValueError(f"occupied must be a non-empty 2-D array, got shape {occ.shape}")
        if resolution <= 0:
            raise ValueError(f"resolution must be > 0 m, got {resolution}")
        occ.flags.writeable = False
        self.occupied: np.ndarray = occ
        self.resolution = float(resolution)
        self.inflate = float(inflate)
        self._blocked: bytes | None = None
        self._labels: np.ndarray | None = None
        self._jumps: list[array] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) = (cells along y, cells along x)."""
        rows, cols = self.occupied.shape
        return rows, cols

    @property
    def size(self) -> tuple[float, float]:
        """Covered extent (width, height) in metres."""
        rows, cols = self.occupied.shape
        return cols * self.resolution, rows * self.resolution

    @classmethod
    def from_world(
        cls,
        size: tuple[float, float],
        obstacles: Iterable[np.ndarray] = (),
        walls: np.ndarray | None = None,
        *,
        resolution: float = 0.1,
        inflate: float,
        cells: Any = None,
    ) -> OccupancyGrid:
        """Rasterise polygons and wall segments, inflated by ``inflate`` (robot radius + margin).

        Each shape only touches the cells of its own bounding box grown by
        ``inflate``, so the cost scales with the obstacle area, not the map.
        The map boundary always counts as a wall. The effective inflation is at
        least half a cell diagonal so that thin walls can never be slipped
        through between two cell centres. ``cells`` is a ``map_server`` map's
        grid (``StaticMap.grid``: ``occupied``, ``values``, ``resolution``,
        ``origin``): its occupied *and unknown* cells block, inflated the same
        way (see ``_grid_blocked``).
        """
        width, height = float(size[0]), float(size[1])
        if width <= 0 or height <= 0:
            raise ValueError(f"map size must be positive, got {size}")
        if inflate < 0:
            raise ValueError(f"inflate must be >= 0 m, got {inflate}")
        res = float(resolution)
        nx = max(1, math.ceil(width / res - 1e-9))
        ny = max(1, math.ceil(height / res - 1e-9))
        reach = max(float(inflate), res / _SQRT2 + 1e-9)
        xs = (np.arange(nx) + 0.5) * res
        ys = (np.arange(ny) + 0.5) * res
        occ = np.zeros((ny, nx), dtype=bool)

        # Boundary: distance from a cell centre to the nearest map edge.
        occ[:, (xs <= reach) | (xs >= width - reach)] = True
        occ[(ys <= reach) | (ys >= height - reach), :] = True

        def window(x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
            c0 = max(0, math.floor((x0 - reach) / res))
            c1 = min(nx, math.ceil((x1 + reach) / res) + 1)
            r0 = max(0, math.floor((y0 - reach) / res))
            r1 = min(ny, math.ceil((y1 + reach) / res) + 1)
            return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

        def centres(rows: slice, cols: slice) -> np.ndarray:
            gx, gy = np.meshgrid(xs[cols], ys[rows])
            return np.column_stack([gx.ravel(), gy.ravel()])

        for poly in obstacles:
            p = np.asarray(poly, dtype=float).reshape(-1, 2)
            rows, cols = window(*p.min(axis=0), *p.max(axis=0))
            pts = centres(rows, cols)
            if len(pts) == 0:
                continue
            hit = _points_in_polygon(pts, p) | (_min_distance(pts, polygon_segments(p)) <= reach)
            occ[rows, cols] |= hit.reshape(occ[rows, cols].shape)

        segs = np.zeros((0, 4)) if walls is None else np.asarray(walls, dtype=float).reshape(-1, 4)
        for seg in segs:
            rows, cols = window(min(seg[0], seg[2]), min(seg[1], seg[3]), max(seg[0], seg[2]), max(seg[1], seg[3]))
            pts = centres(rows, cols)
            if len(pts) == 0:
                continue
            hit = _min_distance(pts, seg[None, :]) <= reach
            occ[rows, cols] |= hit.reshape(occ[rows, cols].shape)
        if cells is not None:
            occ |= _grid_blocked(cells, reach, xs, ys)
        return cls(occ, res, float(inflate))

    def world_to_cell(self, x: float, y: float) -> tuple[int, int]:
        """Cell ``(ix, iy)`` containing the point; may be out of bounds (check ``in_bounds``)."""
        return math.floor(x / self.resolution), math.floor(y / self.resolution)

    def cell_to_world(self, ix: int, iy: int) -> tuple[float, float]:
        """Centre of cell ``(ix, iy)`` in metres."""
        return (ix + 0.5) * self.resolution, (iy + 0.5) * self.resolution

    def in_bounds(self, ix: int, iy: int) -> bool:
        """True if ``(ix, iy)`` indexes a cell of the grid."""
        rows, cols = self.occupied.shape
        return 0 <= ix < cols and 0 <= iy < rows

    def is_free(self, x: float, y: float) -> bool:
        """True if the point is on the map and its cell is not occupied."""
        ix, iy = self.world_to_cell(x, y)
        return self.in_bounds(ix, iy) and not self.occupied[iy, ix]

    # -- caches used by the planner -------------------------------------------------

    def prepare(self) -> OccupancyGrid:
        """Build the planner caches now (tens of ms at 0.1 m), outside any deadline."""
        _ = self.labels, self._jump_tables
        return self

    @property
    def _padded_blocked(self) -> bytes:
        """Row-major occupancy with a one-cell occupied border, so searches need no bounds checks."""
        if self._blocked is None:
            padded = np.pad(self.occupied, 1, constant_values=True)
            self._blocked = padded.astype(np.uint8).tobytes()
        return self._blocked

    @property
    def _jump_tables(self) -> list[array]:
        """Per-direction jump distances on the padded grid (see ``_jump_distances``)."""
        if self._jumps is None:
            padded = np.pad(self.occupied, 1, constant_values=True)
            self._jumps = [array("i", t.astype(np.int32).tobytes()) for t in _jump_distances(~padded)]
        return self._jumps

    @property
    def labels(self) -> np.ndarray:
        """Connected-component id per cell (-1 = occupied), computed once.

        With no corner cutting, 8-connected reachability equals 4-connectivity,
        so runs of free cells are unioned with overlapping runs of the next row.
        This lets ``plan`` reject an unreachable goal in microseconds instead of
        letting the search flood the whole map.
        """
        if self._labels is None:
            self._labels = _label_components(self.occupied)
        return self._labels


def _grid_blocked(cells: Any, reach: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Planning cells (centres ``xs`` x ``ys``) within ``reach`` of a blocked cell of a map grid.

    Blocked = occupied or unknown (value < 0): a planner must not route through space the map
    does not know. The blocked squares are grown on the map's own grid by ``reach`` (a map cell
    is marked when any of its points is within ``reach`` of a blocked square: conservative by at
    most one map-cell diagonal), then each planning cell takes the mark of the map cell holding
    its centre. One row shift and one running-sum window per row offset: O(cells x reach / res).
    """
    blocked = np.asarray(cells.occupied, dtype=bool) | (np.asarray(cells.values) < 0)
    res = float(cells.resolution)
    ox, oy = float(cells.origin[0]), float(cells.origin[1])
    rows, cols = blocked.shape
    k = math.ceil(reach / res) + 1
    padded = np.pad(blocked, k)
    grown = np.zeros_like(blocked)
    for di in range(-k, k + 1):
        gap_i = max(abs(di) - 1, 0) * res
        if gap_i > reach:
            continue
        half = math.floor(math.sqrt(max(reach * reach - gap_i * gap_i, 0.0)) / res + 1e-9) + 1
        half = min(half, k)
        band = padded[k + di:k + di + rows, :].astype(np.int32)  # this row offset, columns still padded
        run = np.concatenate([np.zeros((rows, 1), np.int32), np.cumsum(band, axis=1, dtype=np.int32)], axis=1)
        j = np.arange(cols) + k  # padded column of each map column
        grown |= (run[:, j + half + 1] - run[:, j - half]) > 0
    out = np.zeros((len(ys), len(xs)), dtype=bool)
    j = np.floor((xs - ox) / res).astype(np.intp)
    i = np.floor((ys - oy) / res).astype(np.intp)
    ok_j, ok_i = (j >= 0) & (j < cols), (i >= 0) & (i < rows)
    out[np.ix_(ok_i, ok_j)] = grown[np.ix_(i[ok_i], j[ok_j])]
    return out


def _label_components(occupied: np.ndarray) -> np.ndarray:
    """Label 4-connected free regions using row runs and a small union-find."""
    rows, cols = occupied.shape
    free = np.pad(~occupied, ((0, 0), (1, 1)), constant_values=False).astype(np.int8)
    edges = np.diff(free, axis=1)
    run_row, run_start = np.nonzero(edges == 1)
    _, run_end = np.nonzero(edges == -1)  # exclusive; same row-major order as the starts
    n_runs = len(run_row)
    parent = list(range(n_runs))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_ptr = np.searchsorted(run_row, np.arange(rows + 1))
    for r in range(rows - 1):
        a0, a1, b0, b1 = row_ptr[r], row_ptr[r + 1], row_ptr[r + 1], row_ptr[r + 2]
        if a0 == a1 or b0 == b1:
            continue
        starts_a, ends_a = run_start[a0:a1], run_end[a0:a1]
        # For each run j of the next row, the runs i of this row with
        # start_i < end_j and end_i > start_j form a contiguous index range.
        lo = np.searchsorted(ends_a, run_start[b0:b1], side="right")
        hi = np.searchsorted(starts_a, run_end[b0:b1], side="left")
        for j, (i0, i1) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            rj = find(b0 + j)
            for i in range(a0 + i0, a0 + i1):
                ri = find(i)
                if ri != rj:
                    parent[ri] = rj
                    rj = find(rj)
    root = np.array([find(i) for i in range(n_runs)], dtype=np.int64)
    # Paint each run with root+1 via a cumulative sum of +/- marks; gaps sum back to 0.
    marks = np.zeros(rows * cols + 1, dtype=np.int64)
    np.add.at(marks, run_row * cols + run_start, root + 1)
    np.add.at(marks, run_row * cols + run_end, -(root + 1))
    return (np.cumsum(marks)[:-1] - 1).reshape(rows, cols)


def _next_event(event: np.ndarray) -> np.ndarray:
    """Index of the first True at or after each position along axis 0 (len if none)."""
    n = event.shape[0]
    idx = np.where(event, np.arange(n).reshape((n,) + (1,) * (event.ndim - 1)), n)
    return np.minimum.accumulate(idx[::-1], axis=0)[::-1]


def _straight_jumps(free: np.ndarray) -> np.ndarray:
    """Jump distances moving along +col (rows are the perpendicular axis).

    Value > 0: steps to the next jump point, i.e. a cell where a side cell is
    free but the one diagonally behind it is blocked (the forced-neighbour rule
    of JPS without corner cutting). Value <= 0: minus the free cells before a
    wall. Blocked cells get 0. ``free`` must have an all-blocked border.
    """
    rows, cols = free.shape
    blocked = ~free
    jump = np.zeros_like(free)
    jump[1:-1, 1:] = free[1:-1, 1:] & ((free[2:, 1:] & blocked[2:, :-1]) | (free[:-2, 1:] & blocked[:-2, :-1]))
    nxt = _next_event((jump | blocked).T).T  # first event at column >= c
    ahead = np.full((rows, cols), cols)
    ahead[:, :-1] = nxt[:, 1:]  # first event strictly ahead
    c = np.arange(cols)
    hit = np.take_along_axis(jump, np.minimum(ahead, cols - 1), axis=1) & (ahead < cols)
    dist = np.where(hit, ahead - c, -(ahead - c - 1))
    dist[blocked] = 0
    return dist


def _diagonal_jumps(free: np.ndarray, along_col: np.ndarray, along_row: np.ndarray) -> np.ndarray:
    """Jump distances moving along (+row, +col), given the straight tables for +col and +row.

    A diagonal step needs both orthogonal cells free (no corner cutting). It
    stops at the first cell from which either straight jump finds a jump
    point; encoded like ``_straight_jumps``. One cumulative-min pass over a
    reshaped view handles all diagonals at once.
    """
    rows, cols = free.shape
    step_ok = np.zeros_like(free)
    step_ok[:-1, :-1] = free[:-1, 1:] & free[1:, :-1] & free[1:, 1:]
    interesting = free & ((along_col > 0) | (along_row > 0))
    # Seen as rows of length cols + 1, a flat row-major array turns each (+1, +1)
    # diagonal into a column. Diagonals wrap round the right edge, but the
    # blocked border stops every scan before it wraps, so that is harmless.
    n = rows * cols
    m = -(-n // (cols + 1)) * (cols + 1)
    sk_hit = np.zeros(m, dtype=bool)
    sk_hit[:n] = interesting.ravel()
    sk_stop = np.ones(m, dtype=bool)
    sk_stop[:n] = ~step_ok.ravel()
    sk_hit = sk_hit.reshape(-1, cols + 1)
    sk_stop = sk_stop.reshape(-1, cols + 1)
    nxt_hit = np.full(sk_hit.shape, len(sk_hit))
    nxt_hit[:-1] = _next_event(sk_hit)[1:]  # first interesting cell strictly ahead
    nxt_stop = _next_event(sk_stop)  # first cell at or ahead we cannot step on from
    here = np.arange(len(sk_hit))[:, None]
    sk_dist = np.where(nxt_hit <= nxt_stop, nxt_hit - here, -(nxt_stop - here))
    dist = sk_dist.ravel()[:n].reshape(rows, cols)
    dist[~free] = 0
    return dist


# Direction order used by the jump tables and the search: offsets are built from
# (d_row, d_col); straight ones first.
_DIRS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
_E, _W, _N, _S, _NE, _NW, _SE, _SW = range(8)
# Successor directions after arriving along a direction (index 8 = the start node).
# Straight arrivals keep both sides as well (a superset of the forced neighbours:
# slightly more work at jump points, never a missed path).
_NEXT_DIRS = (
    (_E, _N, _S, _NE, _SE),
    (_W, _N, _S, _NW, _SW),
    (_N, _E, _W, _NE, _NW),
    (_S, _E, _W, _SE, _SW),
    (_E, _N, _NE),
    (_W, _N, _NW),
    (_E, _S, _SE),
    (_W, _S, _SW),
    tuple(range(8)),
)


def _jump_distances(free: np.ndarray) -> list[np.ndarray]:
    """JPS+ tables for the 8 directions in ``_DIRS`` order (padded grid, all-blocked border)."""
    east = _straight_jumps(free)
    west = _straight_jumps(free[:, ::-1])[:, ::-1]
    north = _straight_jumps(free.T).T
    south = _straight_jumps(free[::-1].T).T[::-1]
    ne = _diagonal_jumps(free, east, north)
    nw = _diagonal_jumps(free[:, ::-1], west[:, ::-1], north[:, ::-1])[:, ::-1]
    se = _diagonal_jumps(free[::-1], east[::-1], south[::-1])[::-1]
    sw = _diagonal_jumps(free[::-1, ::-1], west[::-1, ::-1], south[::-1, ::-1])[::-1, ::-1]
    return [east, west, north, south, ne, nw, se, sw]


def _jps(tables: list[array], width: int, start: int, goal: int) -> list[int] | None:
    """Jump point search (JPS+, no corner cutting) between padded flat indices.

    Same optimal paths as 8-connected A* but only jump points enter the heap,
    and each jump is one table lookup, which is what makes 0.1 m grids cheap in
    pure Python. Returns the jump points from start to goal; consecutive ones
    are joined by straight or diagonal runs of free cells.
    """
    w = width
    gr, gc = divmod(goal, w)
    k_lin = 1.0 + 1e-3  # heuristic tie-break towards the goal, as in _astar
    k_diag = (_SQRT2 - 2.0) * k_lin
    dirs = [(dr * w + dc, dr, dc, _SQRT2 if dr and dc else 1.0) for dr, dc in _DIRS]
    g: dict[int, float] = {start: 0.0}
    parent: dict[int, int] = {start: start}
    arrival: dict[int, int] = {start: 8}
    closed: set[int] = set()
    heap: list[tuple[float, int]] = [(0.0, start)]
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        _, cur = pop(heap)
        if cur in closed:
            continue
        if cur == goal:
            path = [cur]
            while cur != start:
                cur = parent[cur]
                path.append(cur)
            path.reverse()
            return path
        closed.add(cur)
        r, c = divmod(cur, w)
        gcur = g[cur]
        for d in _NEXT_DIRS[arrival[cur]]:
            dist = tables[d][cur]
            off, dr, dc, cost = dirs[d]
            reach = dist if dist > 0 else -dist
            if reach == 0:
                continue
            # Target jump point: the run passes the goal, or its row/column.
            if dr == 0:
                k = (gc - c) * dc if gr == r else 0
            elif dc == 0:
                k = (gr - r) * dr if gc == c else 0
            else:
                kr, kc = (gr - r) * dr, (gc - c) * dc
                k = (kr if kr < kc else kc) if kr > 0 and kc > 0 else 0
            if 0 < k <= reach:
                steps = k
            elif dist > 0:
                steps = dist
            else:
                continue
            nb = cur + steps * off
            if nb in closed:
                continue
            ng = gcur + steps * cost
            if ng < g.get(nb, math.inf):
                g[nb] = ng
                parent[nb] = cur
                arrival[nb] = d
                y, x = divmod(nb, w)
                dx = x - gc if x > gc else gc - x
                dy = y - gr if y > gr else gr - y
                push(heap, (ng + k_lin * (dx + dy) + k_diag * min(dx, dy), nb))
    return None


def _astar(blocked: bytes, width: int, start: int, goal: int) -> list[int] | None:
    """8-connected A* with an octile heuristic on padded flat indices; no corner cutting.

    Written as one tight loop over local variables because it is the only
    per-query cost of any size. The heuristic is scaled by (1 + 1e-3), which
    breaks the many equal-f ties of open floor towards the goal (far fewer
    expansions) at a cost bound of 0.1 %.
    """
    w = width
    n = len(blocked)
    gy, gx = divmod(goal, w)
    k_diag = (_SQRT2 - 2.0) * (1.0 + 1e-3)
    k_lin = 1.0 + 1e-3
    # (offset, cost, orthogonal offsets that must be free too: no squeezing past corners)
    moves = (
        (1, 1.0, 1, 1),
        (-1, 1.0, -1, -1),
        (w, 1.0, w, w),
        (-w, 1.0, -w, -w),
        (w + 1, _SQRT2, w, 1),
        (w - 1, _SQRT2, w, -1),
        (-w + 1, _SQRT2, -w, 1),
        (-w - 1, _SQRT2, -w, -1),
    )
    inf = math.inf
    g = [inf] * n
    parent = [-1] * n
    closed = bytearray(n)
    g[start] = 0.0
    heap: list[tuple[float, int]] = [(0.0, start)]
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        _, cur = pop(heap)
        if closed[cur]:
            continue
        if cur == goal:
            path = [cur]
            while cur != start:
                cur = parent[cur]
                path.append(cur)
            path.reverse()
            return path
        closed[cur] = 1
        gc = g[cur]
        for off, cost, c1, c2 in moves:
            nb = cur + off
            if blocked[nb] or closed[nb] or blocked[cur + c1] or blocked[cur + c2]:
                continue
            ng = gc + cost
            if ng < g[nb]:
                g[nb] = ng
                parent[nb] = cur
                y, x = divmod(nb, w)
                dx = x - gx if x > gx else gx - x
                dy = y - gy if y > gy else gy - y
                push(heap, (ng + k_lin * (dx + dy) + k_diag * min(dx, dy), nb))
    return None


def _segment_clear(occupied: np.ndarray, res: float, a: Sequence[float], b: Sequence[float]) -> bool:
    """True if every cell the segment a-b touches is free (exact, conservative at corners).

    The segment is cut at every grid-line crossing; the cells around each cut
    point and each piece's midpoint are checked, with an epsilon nudge to both
    sides, so a segment that grazes a cell corner counts that cell too. Hence
    any point sampled on an accepted segment lies in a free cell.
    """
    u0, v0, u1, v1 = a[0] / res, a[1] / res, b[0] / res, b[1] / res
    du, dv = u1 - u0, v1 - v0
    parts = [np.array([0.0, 1.0])]
    if du != 0.0:
        ks = np.arange(math.ceil(min(u0, u1)), math.floor(max(u0, u1)) + 1)
        parts.append((ks - u0) / du)
    if dv != 0.0:
        ks = np.arange(math.ceil(min(v0, v1)), math.floor(max(v0, v1)) + 1)
        parts.append((ks - v0) / dv)
    t = np.sort(np.concatenate(parts))  # duplicates are harmless
    t = np.concatenate([t, 0.5 * (t[1:] + t[:-1])])
    pu = u0 + t * du
    pv = v0 + t * dv
    lo_u, hi_u = np.floor(pu - _EPS), np.floor(pu + _EPS)
    lo_v, hi_v = np.floor(pv - _EPS), np.floor(pv + _EPS)
    cu = np.concatenate([lo_u, hi_u, lo_u, hi_u]).astype(np.intp)
    cv = np.concatenate([lo_v, lo_v, hi_v, hi_v]).astype(np.intp)
    rows, cols = occupied.shape
    if cu.min() < 0 or cv.min() < 0 or cu.max() >= cols or cv.max() >= rows:
        return False
    return not occupied[cv, cu].any()


def _shortcut(occupied: np.ndarray, res: float, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Greedy line-of-sight shortcutting: from each kept point jump to the farthest visible one.

    The farthest visible index is found by galloping then bisecting, so a path
    of k points costs O(k log k) segment checks. Visibility is not strictly
    monotone along the path, so this may keep a point more than necessary, but
    every accepted segment is checked; the fallback (the next point) needs no
    check because consecutive points are joined by legal grid moves.
    """
    out = [pts[0]]
    i, last = 0, len(pts) - 1
    while i < last:
        good, step = i + 1, 1
        bad = last + 1
        while good < last:
            probe = min(i + 2 * step, last)
            if _segment_clear(occupied, res, pts[i], pts[probe]):
                good, step = probe, 2 * step
            else:
                bad = probe
                break
        while bad - good > 1:
            mid = (good + bad) // 2
            if _segment_clear(occupied, res, pts[i], pts[mid]):
                good = mid
            else:
                bad = mid
        out.append(pts[good])
        i = good
    return out


def _fmt(p: tuple[float, float]) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"


def plan(
    grid: OccupancyGrid,
    start_xy: Sequence[float] | np.ndarray,
    goal_xy: Sequence[float],
    *,
    snap_radius: float | None = None,
) -> list[tuple[float, float]]:
    """Shortest 8-connected grid path from start to goal, simplified, in world metres.

    The result starts exactly at ``start_xy`` and ends exactly at ``goal_xy``;
    every segment after the first only crosses free cells. If the start cell is
    occupied (robot parked close to a shelf), the path first goes to the
    nearest free cell within ``snap_radius`` (default ``inflate + 2 cells``)
    that is connected to the goal; that first leg is the only one allowed to
    cross inflated cells. Raises ``NoPathError`` when the goal is off the map,
    inside an inflated obstacle, or not connected to the start.
    """
    start = (float(start_xy[0]), float(start_xy[1]))
    goal = (float(goal_xy[0]), float(goal_xy[1]))
    res = grid.resolution
    occ = grid.occupied
    width, height = grid.size

    gcx, gcy = grid.world_to_cell(*goal)
    if not grid.in_bounds(gcx, gcy):
        raise NoPathError(f"goal {_fmt(goal)} is outside the {width:g} x {height:g} m map")
    if occ[gcy, gcx]:
        raise NoPathError(
            f"goal {_fmt(goal)} is inside an obstacle: within the {grid.inflate:.2f} m inflation "
            "(robot radius + margin) of a shelf, wall or the map boundary"
        )
    scx, scy = grid.world_to_cell(*start)
    if not grid.in_bounds(scx, scy):
        raise NoPathError(
            f"no path to goal {_fmt(goal)}: start {_fmt(start)} is outside the {width:g} x {height:g} m map"
        )
    labels = grid.labels
    goal_label = labels[gcy, gcx]
    unreachable = (
        f"no path to goal {_fmt(goal)}: it is not reachable from start {_fmt(start)} "
        "(walls/obstacles separate them: one of the two is in an enclosed area)"
    )

    if occ[scy, scx]:
        radius = grid.inflate + 2 * res if snap_radius is None else float(snap_radius)
        r = math.ceil(radius / res)
        r0, r1 = max(0, scy - r), min(occ.shape[0], scy + r + 1)
        c0, c1 = max(0, scx - r), min(occ.shape[1], scx + r + 1)
        cy, cx = np.mgrid[r0:r1, c0:c1]
        d2 = ((cx + 0.5) * res - start[0]) ** 2 + ((cy + 0.5) * res - start[1]) ** 2
        free = ~occ[r0:r1, c0:c1] & (d2 <= radius * radius)
        if not free.any():
            raise NoPathError(
                f"no path to goal {_fmt(goal)}: start {_fmt(start)} is inside an obstacle "
                f"and no free cell lies within {radius:.2f} m of it"
            )
        ok = free & (labels[r0:r1, c0:c1] == goal_label)
        if not ok.any():
            raise NoPathError(unreachable)
        k = int(np.argmin(np.where(ok, d2, np.inf)))
        scy, scx = int(cy.flat[k]), int(cx.flat[k])
    elif labels[scy, scx] != goal_label:
        raise NoPathError(unreachable)

    pw = occ.shape[1] + 2
    s_idx, g_idx = (scy + 1) * pw + scx + 1, (gcy + 1) * pw + gcx + 1
    cells = _jps(grid._jump_tables, pw, s_idx, g_idx)
    if cells is None:  # not expected once the labels agree; plain A* as a safety net
        cells = _astar(grid._padded_blocked, pw, s_idx, g_idx)
    if cells is None:
        raise NoPathError(unreachable)

    # start -> its cell centre -> grid moves -> goal's cell centre -> goal: every leg is
    # inside free cells (but the first one when the start was snapped), so the
    # shortcutting below always has a valid fallback.
    centres = [grid.cell_to_world(cell % pw - 1, cell // pw - 1) for cell in cells]
    pts = [start, *centres, goal]
    path = _shortcut(occ, res, pts)
    out = [path[0]]
    for p in path[1:]:
        if p != out[-1]:
            out.append(p)
    if len(out) == 1:
        out.append(goal)
    return out
