"""Ray casting on occupancy grids (sim.world.gridcast): analytic distances, methods equal, grid vs segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.common.geometry import bounds_segments, polygon_segments, rect_polygon
from sim.world import gridcast
from sim.world.gridcast import available_methods, cast_grid, cast_with_grid, clearance
from sim.world.model import Obstacle, StaticMap, WorldSnapshot
from sim.world.occgrid import OccupancyGrid, rasterize
from sim.world.raycast import beam_directions, cast_scans
from sim.world.segmap import SegmentMap

METHODS = available_methods()


def grid_of(occ: np.ndarray, res: float = 0.5, origin: tuple[float, float] = (0.0, 0.0),
            unknown: np.ndarray | None = None) -> OccupancyGrid:
    values = np.where(occ, 100, 0).astype(np.int8)
    if unknown is not None:
        values[unknown] = -1
    return OccupancyGrid.from_values(values, res, origin)


def cast1(grid: OccupancyGrid, x: float, y: float, dx: float, dy: float, rmin: float = 0.0, rmax: float = 100.0,
          method: str = "auto") -> float:
    return float(cast_grid(grid, np.array([[x, y]]), np.array([[dx]]), np.array([[dy]]), rmin, rmax, method)[0, 0])


def reference(grid: OccupancyGrid, x: float, y: float, dx: float, dy: float, rmin: float, rmax: float) -> float:
    """Plain Amanatides-Woo walk, one cell at a time, no jumps: what both methods must return."""
    cs, (gx0, gy0), (ny, nx) = grid.resolution, grid.origin, grid.occupied.shape
    qx = 1.0 / dx if dx != 0.0 else 0.0  # crossing times multiply by the inverse direction, as the methods do
    qy = 1.0 / dy if dy != 0.0 else 0.0
    tlo, thi = 0.0, math.inf
    for p, d, q, lo, hi in ((x, dx, qx, gx0, gx0 + nx * cs), (y, dy, qy, gy0, gy0 + ny * cs)):
        if d != 0.0:
            ta, tb = (lo - p) * q, (hi - p) * q
            tlo, thi = max(tlo, min(ta, tb)), min(thi, max(ta, tb))
        elif p < lo or p > hi:
            return math.inf
    if not (tlo <= thi and tlo <= rmax):
        return math.inf
    t = tlo
    ix = min(max(math.floor((x + t * dx - gx0) / cs), 0), nx - 1)
    iy = min(max(math.floor((y + t * dy - gy0) / cs), 0), ny - 1)
    while True:
        if grid.occupied[iy, ix] and t >= rmin:
            return t
        tmx = ((gx0 + (ix + (dx > 0)) * cs - x) * qx) if dx != 0.0 else math.inf
        tmy = ((gy0 + (iy + (dy > 0)) * cs - y) * qy) if dy != 0.0 else math.inf
        if tmx < tmy:
            t, ix = tmx, ix + (1 if dx > 0 else -1)
        else:
            t, iy = tmy, iy + (1 if dy > 0 else -1)
        if not (t <= rmax and 0 <= ix < nx and 0 <= iy < ny):
            return math.inf


def walls_grid() -> OccupancyGrid:
    """20 x 20 cells of 0.5 m: a wall in column 10 (x 5.0-5.5), one in row 15 (y 7.5-8.0), one in column 16."""
    occ = np.zeros((20, 20), dtype=bool)
    occ[:, 10] = True
    occ[15, :] = True
    occ[:, 16] = True
    return grid_of(occ)


@pytest.mark.parametrize("method", METHODS)
def test_beams_at_known_angles_read_the_distance_to_the_occupied_cells_face(method: str) -> None:
    g = walls_grid()
    assert cast1(g, 1.25, 3.1, 1.0, 0.0, method=method) == pytest.approx(5.0 - 1.25, abs=1e-12)
    assert cast1(g, 1.25, 3.1, math.cos(math.pi / 2), math.sin(math.pi / 2), method=method) == pytest.approx(
        7.5 - 3.1, abs=1e-9)
    assert cast1(g, 1.25, 3.1, -1.0, 0.0, method=method) == math.inf  # leaves the grid: no more hits
    assert cast1(g, 1.25, 3.1, 0.0, -1.0, method=method) == math.inf
    # 45 degrees from a grid vertex: through vertices all the way, the face x = 5.0 at 4 * sqrt(2).
    c45 = math.cos(math.pi / 4)
    assert cast1(g, 1.0, 1.0, c45, c45, method=method) == pytest.approx(4.0 * math.sqrt(2.0), abs=1e-9)
    # From the right of column 10 going left: its right face x = 5.5.
    assert cast1(g, 7.0, 2.2, -1.0, 0.0, method=method) == pytest.approx(1.5, abs=1e-12)
    # 30 degrees up-right from (1, 1): meets x = 5.0 at 4 / cos(30) (y = 3.31, below the row-15 wall).
    a = math.radians(30.0)
    assert cast1(g, 1.0, 1.0, math.cos(a), math.sin(a), method=method) == pytest.approx(4.0 / math.cos(a), abs=1e-9)
    # 80 degrees: the row-15 face y = 7.5 first (x = 1 + 6.5 / tan 80 = 2.15).
    a = math.radians(80.0)
    assert cast1(g, 1.0, 1.0, math.cos(a), math.sin(a), method=method) == pytest.approx(6.5 / math.sin(a), abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_a_beam_along_a_grid_line_travels_in_the_cells_above_it(method: str) -> None:
    occ = np.zeros((10, 20), dtype=bool)
    occ[3, 8] = True  # just below the line y = 2.0 (rows 3 | 4): grazed, not hit
    occ[4, 12] = True  # just above it: hit at its left face x = 6.0
    g = grid_of(occ)
    assert cast1(g, 0.3, 2.0, 1.0, 0.0, method=method) == pytest.approx(5.7, abs=1e-12)
    occ2 = np.zeros((10, 20), dtype=bool)
    occ2[3, 8] = True
    assert cast1(grid_of(occ2), 0.3, 2.0, 1.0, 0.0, method=method) == math.inf
    # Vertically along x = 4.0 (columns 7 | 8): the cell at column 8 is in the way, the one at 7 is not.
    occ3 = np.zeros((20, 20), dtype=bool)
    occ3[12, 7] = True
    occ3[16, 8] = True
    assert cast1(grid_of(occ3), 4.0, 0.2, 0.0, 1.0, method=method) == pytest.approx(8.0 - 0.2, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_range_min_range_max_and_beams_starting_inside_or_outside(method: str) -> None:
    g = walls_grid()
    # Inside column 10: 0 with range_min 0; with range_min > 0 that cell is ignored, column 16 is next.
    assert cast1(g, 5.2, 2.0, 1.0, 0.0, method=method) == 0.0
    assert cast1(g, 5.2, 2.0, 1.0, 0.0, rmin=0.1, method=method) == pytest.approx(8.0 - 5.2, abs=1e-12)
    # range_min beyond the first wall: it is not seen (not clamped), the next one is.
    assert cast1(g, 1.25, 3.1, 1.0, 0.0, rmin=4.0, method=method) == pytest.approx(8.0 - 1.25, abs=1e-12)
    assert cast1(g, 1.25, 3.1, 1.0, 0.0, rmax=3.7, method=method) == math.inf
    assert cast1(g, 1.25, 3.1, 1.0, 0.0, rmax=3.75, method=method) == 3.75
    # A thick wall entered from inside with range_min > 0 reads its next cell's face (cells are solids).
    occ = np.zeros((4, 10), dtype=bool)
    occ[:, 4:6] = True
    assert cast1(grid_of(occ), 2.1, 1.0, 1.0, 0.0, rmin=0.2, method=method) == pytest.approx(0.4, abs=1e-12)
    # From outside the grid: enters at its edge; an occupied edge cell reads that distance.
    edge = np.zeros((4, 10), dtype=bool)
    edge[:, 0] = True
    assert cast1(grid_of(edge, origin=(2.0, 0.0)), -1.0, 1.0, 1.0, 0.0, method=method) == pytest.approx(3.0)
    assert cast1(grid_of(edge, origin=(2.0, 0.0)), -1.0, 1.0, -1.0, 0.0, method=method) == math.inf
    assert cast1(grid_of(edge, origin=(2.0, 0.0)), -1.0, 5.0, 1.0, 0.0, method=method) == math.inf  # misses it


@pytest.mark.parametrize("method", METHODS)
def test_unknown_cells_do_not_stop_beams(method: str) -> None:
    occ = np.zeros((4, 20), dtype=bool)
    occ[:, 15] = True
    unknown = np.zeros_like(occ)
    unknown[:, 5:10] = True
    g = grid_of(occ, unknown=unknown)
    assert (g.values[:, 5:10] == -1).all()
    assert cast1(g, 0.25, 1.0, 1.0, 0.0, method=method) == pytest.approx(7.5 - 0.25)


def test_clearance_is_the_chebyshev_distance_to_the_nearest_occupied_cell() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        occ = rng.random((int(rng.integers(1, 25)), int(rng.integers(1, 25)))) < rng.uniform(0.0, 0.2)
        ii, jj = np.nonzero(occ)
        r, c = occ.shape
        want = np.full(occ.shape, r + c)
        for i in range(r):
            for j in range(c):
                if ii.size:
                    want[i, j] = min(r + c, int(np.maximum(abs(ii - i), abs(jj - j)).min()))
        assert np.array_equal(clearance(occ), want)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, loaded host
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.0, 0.3), rows=st.integers(1, 40),
       cols=st.integers(1, 40), res=st.floats(0.02, 1.5), rmin_frac=st.sampled_from([0.0, 0.0, 0.05, 0.3]),
       snap=st.booleans())
def test_numba_numpy_and_the_plain_walk_agree(seed: int, density: float, rows: int, cols: int, res: float,
                                              rmin_frac: float, snap: bool) -> None:
    """Jumps through open space change nothing: every method returns the plain walk's distance (to 1e-9).

    ``snap``: origins on a quarter-cell lattice and beams along axes and diagonals (exact ties)."""
    rng = np.random.default_rng(seed)
    occ = rng.random((rows, cols)) < density
    g = grid_of(occ, res, (float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))))
    size = max(g.width, g.height)
    m, k = 4, 24
    o = np.column_stack([rng.uniform(g.origin[0] - 1, g.origin[0] + g.width + 1, m),
                         rng.uniform(g.origin[1] - 1, g.origin[1] + g.height + 1, m)])
    dxs, dys = beam_directions(rng.uniform(-math.pi, math.pi, m), np.linspace(-math.pi, math.pi, k, endpoint=False))
    if snap:
        o = np.array(g.origin) + np.round((o - np.array(g.origin)) / (res / 4)) * (res / 4)
        h = math.sqrt(0.5)
        eight = np.array([(1.0, 0.0), (h, h), (0.0, 1.0), (-h, h), (-1.0, 0.0), (-h, -h), (0.0, -1.0), (h, -h)])
        pick = eight[np.arange(m * k).reshape(m, k) % 8]
        dxs, dys = np.ascontiguousarray(pick[..., 0]), np.ascontiguousarray(pick[..., 1])
    rmin, rmax = rmin_frac * size, float(rng.uniform(0.5, 2.0)) * size
    results = {meth: cast_grid(g, o, dxs, dys, rmin, rmax, meth) for meth in METHODS}
    want = np.array([[reference(g, o[i, 0], o[i, 1], dxs[i, j], dys[i, j], rmin, rmax) for j in range(k)]
                     for i in range(m)])
    for meth, got in results.items():
        assert np.array_equal(np.isinf(got), np.isinf(want)), meth
        fin = np.isfinite(want)
        assert np.allclose(got[fin], want[fin], rtol=0, atol=1e-9), meth


@pytest.mark.parametrize(("seed", "density"), [(21, 0.15), (22, 0.05), (23, 0.3), (24, 0.02)])
def test_exact_ties_on_grid_lines_and_vertices_match_the_plain_walk(seed: int, density: float) -> None:
    """Beams along grid lines and exact diagonals from vertices, edges and centres: crossings tie.

    (A jump leaving its free square through a y face at a grid vertex once skipped the cell the
    walk's y-first tie visits: seed 21 found it.)"""
    rng = np.random.default_rng(seed)
    g = grid_of(rng.random((30, 30)) < density, 0.25, (-1.0, 2.0))
    h = math.sqrt(0.5)
    dirs = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (h, h), (-h, h), (h, -h), (-h, -h)]
    origins = [(-1.0 + 0.25 * j + ox, 2.0 + 0.25 * i + oy) for i in range(0, 30, 2) for j in range(0, 30, 3)
               for ox, oy in ((0.0, 0.0), (0.125, 0.125), (0.0, 0.125))]
    o = np.array(origins)
    dxs = np.tile([d[0] for d in dirs], (len(o), 1))
    dys = np.tile([d[1] for d in dirs], (len(o), 1))
    for rmin in (0.0, 0.3):
        want = np.array([[reference(g, x, y, dx, dy, rmin, 9.0) for dx, dy in dirs] for x, y in origins])
        for meth in METHODS:
            assert np.array_equal(cast_grid(g, o, dxs, dys, rmin, 9.0, meth), want), meth


def test_bad_input_is_refused() -> None:
    g = walls_grid()
    one = np.ones((1, 1))
    with pytest.raises(ValueError, match="range_min"):
        cast_grid(g, np.zeros((1, 2)), one, 0 * one, 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        cast_grid(g, np.array([[np.nan, 0.0]]), one, 0 * one, 0.0, 1.0)
    with pytest.raises(ValueError, match="one row per origin"):
        cast_grid(g, np.zeros((2, 2)), one, 0 * one, 0.0, 1.0)
    with pytest.raises(ValueError, match="method"):
        cast_grid(g, np.zeros((1, 2)), one, 0 * one, 0.0, 1.0, method="nope")
    assert cast_grid(g, np.zeros((3, 2)), np.zeros((3, 0)), np.zeros((3, 0)), 0.0, 1.0).shape == (3, 0)


def segment_world() -> StaticMap:
    """A 12 x 9 m room with inner walls and boxes; walls lie mid-cell at 5 cm so each rasterises one cell thick."""
    walls = np.vstack([bounds_segments(12.0, 9.0),
                       [[4.025, 0.0, 4.025, 6.0], [4.025, 7.5, 4.025, 9.0], [7.0, 4.525, 12.0, 4.525]]])
    boxes = [rect_polygon(1.525, 1.525, 1.0, 0.5), rect_polygon(8.025, 1.025, 2.0, 2.0),
             rect_polygon(6.025, 6.525, 0.5, 1.5)]
    segs = np.vstack([walls] + [polygon_segments(b) for b in boxes])
    obstacles = tuple(Obstacle(f"box{i}", "shelf", b) for i, b in enumerate(boxes))
    return StaticMap(12.0, 9.0, obstacles, walls, {}, segs, SegmentMap(segs))


def snapshot(pose: np.ndarray, radius: np.ndarray) -> WorldSnapshot:
    n = len(pose)
    z2 = np.zeros((n, 2))
    return WorldSnapshot(0.0, 0, pose, z2, z2, z2, np.zeros(n, bool), np.zeros(n, int), np.zeros(n), radius)


def _near_segment(points: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Distance from each point (P, 2) to the nearest segment."""
    a, b = segs[:, :2], segs[:, 2:]
    ab = b - a
    w = points[:, None, :] - a[None]
    u = np.clip((w * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-300), 0.0, 1.0)
    return np.linalg.norm(w - u[..., None] * ab[None], axis=-1).min(axis=1)


def test_a_rasterised_world_reads_the_segment_worlds_ranges_within_a_cell() -> None:
    seg_world = segment_world()
    grid = rasterize(seg_world, 0.05)
    empty = np.zeros((0, 4))
    grid_world = StaticMap(12.0, 9.0, (), empty, {}, empty, SegmentMap(empty), grid=grid)
    pose = np.array([[1.0, 4.0, 0.3], [6.0, 2.0, 2.0], [10.0, 7.0, -2.5], [2.5, 7.5, -0.7], [6.9, 3.3, 1.0]])
    radius = np.full(len(pose), 0.2)
    snap = snapshot(pose, radius)
    beams = np.linspace(-math.pi, math.pi, 720, endpoint=False)
    index = np.arange(len(pose))
    seg = seg_world.cast_scans(snap, index, beams, 20.0, 0.0)
    got = grid_world.cast_scans(snap, index, beams, 20.0, 0.0)
    dxs, dys = beam_directions(pose[:, 2], beams)
    assert np.isfinite(seg).all() and np.isfinite(got).all()  # a closed room: every beam hits something
    res = grid.resolution
    # The cell holding the wall crossing is occupied, so the grid never reads further than the segments.
    assert (got <= seg + 1e-9).all()
    # Within one cell along x or along y (axis-aligned walls), or a corner the beam skims within a cell.
    within = np.minimum(np.abs((seg - got) * dxs), np.abs((seg - got) * dys)) <= res + 1e-9
    pts = np.stack([pose[:, None, 0] + got * dxs, pose[:, None, 1] + got * dys], axis=-1).reshape(-1, 2)
    skims = (_near_segment(pts, seg_world.segments) <= math.sqrt(2.0) * res + 1e-9).reshape(got.shape)
    assert (within | skims).all()
    assert within.mean() > 0.97
    # Other robots are still seen (as discs) on a grid-only map, and the grid robot-free matches too.
    assert np.array_equal(got, np.minimum(cast_scans(SegmentMap(empty), pose[:, :2], pose[:, 2], beams, 20.0,
                                                     circles=(pose[:, :2], radius), self_index=index),
                                          cast_grid(grid, pose[:, :2], dxs, dys, 0.0, 20.0)))


def test_a_map_with_segments_and_a_grid_reads_the_nearer_of_both() -> None:
    seg_world = segment_world()
    occ = np.zeros((90, 120), dtype=bool)
    occ[:, 30] = True  # a grid wall at x 3.0-3.1, nearer than the segment wall at x = 4.025 from the left
    both = seg_world.with_grid(grid_of(occ, 0.1))
    assert both.grid is not None and both.segment_map is seg_world.segment_map
    pose = np.array([[1.0, 4.0, 0.0], [5.0, 4.0, math.pi]])
    snap = snapshot(pose, np.full(2, 0.2))
    r = both.cast_scans(snap, np.arange(2), np.array([0.0, math.pi / 2]), 20.0, 0.0)
    assert r[0, 0] == pytest.approx(2.0)  # the grid wall first
    assert r[1, 0] == pytest.approx(5.0 - 4.025)  # the segment wall first
    plain = seg_world.cast_scans(snap, np.arange(2), np.array([0.0, math.pi / 2]), 20.0, 0.0)
    assert r[:, 1] == pytest.approx(plain[:, 1])  # up: no grid wall in the way
    assert seg_world.with_grid(None).grid is None


def test_copies_of_a_map_share_its_grid_and_prepare_readies_it() -> None:
    """A run's warm-up samples deep copies of its sensors: their map's grid must be the prepared one."""
    import copy

    seg_world = segment_world()
    g = grid_of(np.zeros((90, 120), dtype=bool), 0.1)
    both = seg_world.with_grid(g)
    twin = copy.deepcopy(both)
    assert twin.grid is g and twin is not both and twin.segments is not both.segments
    assert np.array_equal(twin.segments, both.segments) and twin.places == both.places
    plain = copy.deepcopy(seg_world)
    assert plain.grid is None and plain.segments is not seg_world.segments
    gridcast._prepared.pop(id(g), None)
    both.prepare()
    assert gridcast._prepared[id(g)][1] is gridcast.prepare(twin.grid)
    seg_world.prepare()  # no grid: nothing to do


def test_cast_with_grid_is_the_elementwise_minimum() -> None:
    rng = np.random.default_rng(5)
    g = grid_of(rng.random((60, 60)) < 0.02, 0.2)
    smap = SegmentMap(rng.uniform(0, 12, (20, 4)))
    o = rng.uniform(0, 12, (6, 2))
    head, beams = rng.uniform(-3, 3, 6), np.linspace(-math.pi, math.pi, 90, endpoint=False)
    circles = (o, np.full(6, 0.3))
    got = cast_with_grid(smap, g, o, head, beams, 8.0, 0.1, circles=circles, self_index=np.arange(6))
    dxs, dys = beam_directions(head, beams)
    want = np.minimum(cast_scans(smap, o, head, beams, 8.0, 0.1, circles=circles, self_index=np.arange(6)),
                      cast_grid(g, o, dxs, dys, 0.1, 8.0))
    assert np.array_equal(got, want)


def test_the_kernel_is_warmed_up_with_the_others() -> None:
    """jit.warm_up_all loads it before a run's clock starts (KERNEL_MODULES), with the types a cast passes."""
    from sim.world import jit

    assert "sim.world.gridcast" in jit.KERNEL_MODULES
    kernels = {k for k in jit.dispatchers() if k.startswith("sim.world.gridcast.")}
    assert kernels == ({"sim.world.gridcast._grid_kernel"} if "numba" in METHODS else set())
    if kernels:
        gridcast.warm_up()
        before = list(jit.dispatchers()["sim.world.gridcast._grid_kernel"].signatures)
        g = grid_of(np.zeros((4, 4), dtype=bool))
        ro = np.zeros((2, 2))
        ro.flags.writeable = False  # a snapshot's read-only pose: copied, not a new specialisation
        cast_grid(g, ro, np.ones((2, 3)), np.zeros((2, 3)), 0.0, 1.0)
        assert list(jit.dispatchers()["sim.world.gridcast._grid_kernel"].signatures) == before


def test_prepared_grids_are_cached_per_grid_object() -> None:
    g = walls_grid()
    p = gridcast.prepare(g)
    assert gridcast.prepare(g) is p and gridcast.prepare(p) is p
    assert p.clear.dtype == np.uint8 and p.clear.flags.c_contiguous and p.clear.size == 24 * 24  # 8 x 8 tiles
    clear = p.clear_map()
    assert np.array_equal(clear == 0, g.occupied) and clear[0, 0] == 10  # column 10 is nearest
    assert np.array_equal(clear, np.minimum(clearance(g.occupied), 255))
    odd = np.arange(11 * 19, dtype=np.uint8).reshape(11, 19)
    assert np.array_equal(gridcast.untile(gridcast.tile(odd), 11, 19), odd)
    assert gridcast.prepare(walls_grid()) is not p


@pytest.mark.slow  # spawns worker processes
def test_worker_processes_cast_against_the_grid_shared_once() -> None:
    """The pool puts the grid in one shared segment at start; its casts equal the inline ones bitwise."""
    from pathlib import Path

    from sim.world.workers import WorkerPool

    rng = np.random.default_rng(9)
    seg_world = segment_world()
    occ = rng.random((90, 120)) < 0.01
    both = seg_world.with_grid(grid_of(occ, 0.1))
    pose = np.column_stack([rng.uniform(0.5, 11.5, 12), rng.uniform(0.5, 8.5, 12), rng.uniform(-3, 3, 12)])
    snap = snapshot(pose, np.full(12, 0.25))
    beams = np.linspace(-math.pi, math.pi, 180, endpoint=False)
    index = np.arange(12)
    inline = both.cast_scans(snap, index, beams, 10.0, 0.05)
    pool = WorkerPool(seg_world.segments, seg_world.segment_map.cell_size, 2, 12, 180, grid=both.grid)
    try:
        pool.start()
        assert [n for n in pool.segment_names if n.endswith("_grid")]
        both.use_workers(pool)
        pooled = both.cast_scans(snap, index, beams, 10.0, 0.05)
        assert pool.requests["cast"] == 1
    finally:
        both.use_workers(None)
        pool.close()
    assert np.array_equal(pooled, inline)
    assert not (pooled == seg_world.cast_scans(snap, index, beams, 10.0, 0.05)).all()  # the grid mattered
    assert not [n for n in pool.segment_names if (Path("/dev/shm") / n).exists()]


@pytest.mark.slow  # spawns a worker process and runs the clock
def test_a_run_whose_map_has_a_grid_lidars_see_it_inline_and_in_workers(tmp_path: object,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the run's lidars read the grid (a wall at x = 3 m the YAML does not have), the same
    through the worker pool (the grid handed over at its start), and the run completes."""
    from pathlib import Path

    from sim.core.virtual import VirtualClock
    from sim.runtime.run import Run
    from sim.scenario.load import load_scenario

    occ = np.zeros((60, 100), dtype=bool)
    occ[:, 30] = True  # x 3.0-3.1, every row
    grid = grid_of(occ, 0.1)
    plain = StaticMap.from_scenario
    monkeypatch.setattr(StaticMap, "from_scenario", classmethod(lambda cls, world: plain(world).with_grid(grid)))
    root = Path(__file__).resolve().parents[1]
    sc = load_scenario(root / "tests" / "data" / "tiny.yaml", {"run.duration": 0.5, "run.clock": "virtual",
                                                                "physics.workers": 1})
    run = Run(sc, Path(str(tmp_path)), clock=VirtualClock())
    try:
        assert run.static.grid is grid
        lidar = next(rt.sensor for rt in run.sensors if type(rt.sensor).__name__ == "Lidar")
        ahead = int(np.argmin(np.abs(lidar.beam_angles)))  # r1 starts at (1, 1) heading 0: the wall 2 m ahead
        scan = type(lidar).sample_many([lidar], run.physics.snapshot)[0].ranges  # as the lidar reads (noisy)
        assert scan[ahead] == pytest.approx(2.0, abs=0.1)
        p, snap, idx = lidar.params, run.physics.snapshot, np.array([0])
        inline = run.static.cast_scans(snap, idx, lidar.beam_angles, p.range_max, p.range_min)
        assert inline[0, ahead] == pytest.approx(2.0, abs=1e-9)
        run._start_pool()
        assert run.pool is not None and any(n.endswith("_grid") for n in run.pool.segment_names)
        pooled = run.static.cast_scans(snap, idx, lidar.beam_angles, p.range_max, p.range_min)
        assert run.pool.requests["cast"] == 1 and np.array_equal(pooled, inline)
        run.warm_up()
        run.start()
        assert run.finished.wait(120)
    finally:
        run.stop()
    assert run.end_reason == "completed"
