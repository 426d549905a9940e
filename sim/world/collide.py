"""Collision checks for disc robots, run by the physics every step.

Both checks use a broad phase (the map's grid for walls, a spatial hash for
robot pairs) so the per-step cost grows with the number of nearby things, not
with the map size or N^2, and both are vectorised numpy (no per-robot Python
loop holding the GIL). Small inputs skip the broad phase: one dense pass is
fewer numpy calls. The exact test is the same formula as the brute-force
``*_plain`` versions, so the results are identical, not merely close.

Contact convention (same as ``sim.common.geometry.circle_hits_polygon``): a disc
collides when the distance is *strictly* less than its radius (or the sum of
radii); exactly touching is not a collision.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from sim.world.segmap import SegmentMap, _ranges, point_segment_distance_sq

if TYPE_CHECKING:
    from sim.world.occgrid import OccupancyGrid

__all__ = [
    "bodies_hit_grid",
    "disc_pairs_overlapping",
    "disc_pairs_overlapping_plain",
    "discs_hit_segments",
    "discs_hit_segments_plain",
    "grid_edges",
    "nearest_obstacle_distance",
]

# Up to this many disc x segment pairs, the dense check beats the grid lookup.
_DENSE_MAX = 2048
# Up to this many discs the all-pairs test is cheaper than the spatial hash.
_BRUTE_FORCE_MAX = 48


def _as_discs(centers: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to float arrays ((N, 2), (N,))."""
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(radii, dtype=np.float64)
    if r.ndim == 0:
        return c, np.full(c.shape[0], float(r))
    r = r.reshape(-1)
    if r.shape[0] != c.shape[0]:
        raise ValueError("need one radius per centre (or a scalar)")
    return c, r


def discs_hit_segments_plain(
    smap: SegmentMap, centers: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Brute force: every disc against every segment; the reference for tests."""
    c, r = _as_discs(centers, radii)
    if c.shape[0] == 0 or smap.n_segments == 0:
        return np.zeros(c.shape[0], dtype=bool)
    d2 = point_segment_distance_sq(c[:, 0:1], c[:, 1:2], smap.segments[None, :, :])
    return (d2 < (r * r)[:, None]).any(axis=1)


def discs_hit_segments(smap: SegmentMap, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """True for each disc that overlaps any wall segment, shape (N,).

    Only segments registered in grid cells touched by the disc's bounding box
    are tested; the grid registration is conservative, so nothing is missed.
    """
    c, r = _as_discs(centers, radii)
    hit = np.zeros(c.shape[0], dtype=bool)
    if c.shape[0] == 0 or smap.n_segments == 0:
        return hit
    if c.shape[0] * smap.n_segments <= _DENSE_MAX:
        return discs_hit_segments_plain(smap, c, r)  # small: one dense pass is fewer numpy calls
    reach = np.abs(r)[:, None]
    owner, sid = smap.candidates_in_boxes(c - reach, c + reach)
    d2 = point_segment_distance_sq(c[owner, 0], c[owner, 1], smap.segments[sid])
    hit[owner[d2 < r[owner] * r[owner]]] = True
    return hit


def _pairs_exact(
    c: np.ndarray, r: np.ndarray, i: np.ndarray, j: np.ndarray, presorted: bool = False
) -> list[tuple[int, int]]:
    """Keep candidate pairs whose discs overlap; sorted list of (min, max).

    ``presorted``: the candidates already are (i < j) in lexicographic order.
    """
    dx = c[i, 0] - c[j, 0]
    dy = c[i, 1] - c[j, 1]
    s = r[i] + r[j]
    keep = dx * dx + dy * dy < s * s
    if presorted:
        return list(zip(i[keep].tolist(), j[keep].tolist(), strict=True))
    a = np.minimum(i[keep], j[keep])
    b = np.maximum(i[keep], j[keep])
    order = np.lexsort((b, a))
    return list(zip(a[order].tolist(), b[order].tolist(), strict=True))


@lru_cache(maxsize=64)
def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, 1)`` cached: the fleet size rarely changes between steps."""
    i, j = np.triu_indices(n, k=1)
    i, j = i.astype(np.int64), j.astype(np.int64)
    i.flags.writeable = j.flags.writeable = False
    return i, j


def disc_pairs_overlapping_plain(centers: np.ndarray, radii: np.ndarray) -> list[tuple[int, int]]:
    """Brute force O(N^2) pairs test; the reference for tests."""
    c, r = _as_discs(centers, radii)
    i, j = _all_pairs(c.shape[0])
    return _pairs_exact(c, r, i, j, presorted=True)


# Neighbour offsets (dx, dy) visiting each unordered pair of adjacent cells once.
_HALF_NEIGHBOURS = ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1))


def disc_pairs_overlapping(centers: np.ndarray, radii: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of overlapping discs, sorted.

    Broad phase: spatial hash with cells of the largest diameter, so
    overlapping discs always share a cell or are neighbours; each disc looks
    at its own cell and four "half" neighbours via ``searchsorted`` on the
    sorted cell keys. Cost ~ N log N + candidate pairs, all in numpy.
    """
    c, r = _as_discs(centers, radii)
    n = c.shape[0]
    if n < 2:
        return []
    if n <= _BRUTE_FORCE_MAX:
        # A handful of robots: N^2 pairs in one shot is fewer numpy calls than hashing.
        return disc_pairs_overlapping_plain(c, r)
    cell = 2.0 * float(np.max(r))
    if not cell > 0.0:
        return []  # zero radii can never be strictly closer than 0
    ij = np.floor(c / cell).astype(np.int64)
    ij -= ij.min(axis=0)
    stride = int(ij[:, 1].max()) + 3  # keeps dy in -1..1 from aliasing rows
    key = ij[:, 0] * stride + ij[:, 1] + 1
    order = np.argsort(key, kind="stable")
    skey = key[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    firsts, seconds = [], []
    for ox, oy in _HALF_NEIGHBOURS:
        target = key + ox * stride + oy
        lo = np.searchsorted(skey, target, side="left")
        hi = np.searchsorted(skey, target, side="right")
        if ox == 0 and oy == 0:
            lo = rank + 1  # same cell: only later entries, each pair once
        owner, pos = _ranges(lo, np.maximum(hi - lo, 0))
        firsts.append(owner)
        seconds.append(order[pos])
    return _pairs_exact(c, r, np.concatenate(firsts), np.concatenate(seconds))


def nearest_obstacle_distance(smap: SegmentMap, point: np.ndarray, max_range: float) -> float:
    """Distance from ``point`` to the closest wall segment, ``inf`` if none within ``max_range``.

    Uses the grid, so it is cheap for the small ranges safety checks need.
    """
    p = np.asarray(point, dtype=np.float64).reshape(1, 2)
    _, sid = smap.candidates_in_boxes(p - max_range, p + max_range)
    if sid.size == 0:
        return float("inf")
    d = float(np.sqrt(point_segment_distance_sq(p[0, 0], p[0, 1], smap.segments[sid]).min()))
    return d if d <= max_range else float("inf")


# ---------------------------------------------------------------------- occupancy grids (world.map)
def _grid_window(grid: OccupancyGrid, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int, int]:
    """Row and column bounds [i0, i1) x [j0, j1) of the cells touching the box lo..hi, clipped to the grid."""
    res, (ox, oy) = grid.resolution, grid.origin
    j0 = max(0, math.floor((float(lo[0]) - ox) / res))
    j1 = min(grid.cols, math.floor((float(hi[0]) - ox) / res) + 1)
    i0 = max(0, math.floor((float(lo[1]) - oy) / res))
    i1 = min(grid.rows, math.floor((float(hi[1]) - oy) / res) + 1)
    return i0, max(i0, i1), j0, max(j0, j1)


def bodies_hit_grid(grid: OccupancyGrid, pose: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """True for each body overlapping an occupied cell of ``grid``, shape (N,).

    The body is a disc of ``radius`` at ``pose[:, :2]`` (``pose`` carries the heading so another
    footprint can add its own exact test here). Exact disc/square test, same contact rule as the
    segments: the distance from the centre to a cell's square strictly less than the radius.
    Every disc looks at the cells of its bounding box at once (one (N, K, K) numpy pass, K the
    largest box's side in cells); cells outside the grid are not occupied.
    """
    p = np.asarray(pose, dtype=np.float64)
    c, r = _as_discs(p[:, :2] if p.ndim == 2 else p.reshape(-1, 2), radius)
    n = c.shape[0]
    if n == 0:
        return np.zeros(n, dtype=bool)
    res, (ox, oy) = grid.resolution, grid.origin
    r = np.abs(r)
    j0 = np.floor((c[:, 0] - r - ox) / res).astype(np.int64)
    i0 = np.floor((c[:, 1] - r - oy) / res).astype(np.int64)
    j1 = np.floor((c[:, 0] + r - ox) / res).astype(np.int64)
    i1 = np.floor((c[:, 1] + r - oy) / res).astype(np.int64)
    side = int(max(np.max(j1 - j0), np.max(i1 - i0))) + 1
    k = np.arange(side)
    jj = j0[:, None] + k[None, :]  # (N, K) columns
    ii = i0[:, None] + k[None, :]  # (N, K) rows
    # Distance along x from the centre to each column's interval [x0, x0 + res], likewise along y.
    x0 = ox + jj * res
    y0 = oy + ii * res
    dx = np.maximum(np.maximum(x0 - c[:, 0:1], c[:, 0:1] - (x0 + res)), 0.0)
    dy = np.maximum(np.maximum(y0 - c[:, 1:2], c[:, 1:2] - (y0 + res)), 0.0)
    near = dy[:, :, None] ** 2 + dx[:, None, :] ** 2 < (r * r)[:, None, None]  # (N, K rows, K cols)
    # Each disc's own box only (as the compiled kernel, sim.world.kernels.grid_hits, walks it), inside the grid.
    inside = ((ii >= 0) & (ii < grid.rows) & (ii <= i1[:, None]))[:, :, None] & (
        (jj >= 0) & (jj < grid.cols) & (jj <= j1[:, None]))[:, None, :]
    rows = np.broadcast_to(np.clip(ii, 0, grid.rows - 1)[:, :, None], near.shape)
    cols = np.broadcast_to(np.clip(jj, 0, grid.cols - 1)[:, None, :], near.shape)
    occ = grid.occupied[rows, cols] & inside
    return (near & occ).reshape(n, -1).any(axis=1)


def grid_edges(grid: OccupancyGrid, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The edges (K, 4) of occupied cells in the box lo..hi that face a cell that is not occupied.

    A disc outside the occupied cells is nearest to them on these edges, so the contacts
    (``sim.world.contact``) slide along them as along walls. Row by row, then column by column.
    """
    i0, i1, j0, j1 = _grid_window(grid, lo, hi)
    if i0 >= i1 or j0 >= j1:
        return np.zeros((0, 4))
    occ = np.pad(grid.occupied, 1, constant_values=False)[i0:i1 + 2, j0:j1 + 2]
    core = occ[1:-1, 1:-1]
    res, (ox, oy) = grid.resolution, grid.origin
    out = []
    for di, dj, ax, ay, bx, by in ((-1, 0, 0, 0, 1, 0), (1, 0, 0, 1, 1, 1), (0, -1, 0, 0, 0, 1), (0, 1, 1, 0, 1, 1)):
        face = core & ~occ[1 + di:occ.shape[0] - 1 + di, 1 + dj:occ.shape[1] - 1 + dj]
        i, j = np.nonzero(face)
        x = ox + (j + j0) * res
        y = oy + (i + i0) * res
        out.append(np.column_stack([x + ax * res, y + ay * res, x + bx * res, y + by * res]))
    return np.vstack(out)
