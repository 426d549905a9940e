"""Occupancy grid and A*/JPS planner on a warehouse-like map.

Paths are checked densely (every 0.05 m) against the inflated grid and against
the true shelf geometry, because the planner's simplification step is where a
corner would be cut.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from controllers.planning import NoPathError, OccupancyGrid, _astar, _jps, plan
from sim.common.geometry import point_in_polygon, point_segment_distance, polygon_segments, rect_polygon

SIZE = (40.0, 25.0)
INFLATE = 0.4  # robot radius 0.3 + margin 0.1
# Six shelf rows, 28 m x 1 m, with 2.4 m aisles between them.
SHELVES = [rect_polygon(6.0, 3.0 + 3.4 * i, 28.0, 1.0) for i in range(6)]


@pytest.fixture(scope="module")
def grid() -> OccupancyGrid:
    return OccupancyGrid.from_world(SIZE, SHELVES, resolution=0.1, inflate=INFLATE).prepare()


def sample(path: list[tuple[float, float]], step: float = 0.05) -> np.ndarray:
    """Points every <= ``step`` metres along the polyline, both ends of every leg included."""
    out = [np.asarray(path[0], dtype=float)]
    for a, b in itertools.pairwise(path):
        a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        n = max(1, math.ceil(np.hypot(*(b_ - a_)) / step))
        out.extend(a_ + (b_ - a_) * (k / n) for k in range(1, n + 1))
    return np.array(out)


def assert_collision_free(grid: OccupancyGrid, path: list[tuple[float, float]]) -> None:
    pts = sample(path)
    blocked = [tuple(np.round(p, 3)) for p in pts if not grid.is_free(*p)]
    assert not blocked, f"path crosses inflated cells at {blocked[:5]}"
    # And in true geometry: never inside a shelf, clearance >= inflate - half a cell diagonal.
    segs = np.vstack([polygon_segments(s) for s in SHELVES])
    clearance = point_segment_distance(pts, segs).min(axis=1)
    assert clearance.min() >= INFLATE - grid.resolution / math.sqrt(2) - 1e-9
    assert not any(point_in_polygon(p, s) for p in pts for s in SHELVES)


def path_length(path: list[tuple[float, float]]) -> float:
    return float(sum(math.dist(a, b) for a, b in itertools.pairwise(path)))


def test_grid_layout_and_conversions(grid: OccupancyGrid) -> None:
    assert grid.shape == (250, 400)  # rows = y, cols = x
    assert grid.size == pytest.approx(SIZE)
    assert grid.world_to_cell(12.34, 5.67) == (123, 56)
    assert grid.cell_to_world(123, 56) == pytest.approx((12.35, 5.65))
    assert grid.occupied[35, 200]  # inside the first shelf (y = 3.5, x = 20)
    assert not grid.is_free(20.0, 3.5)
    assert not grid.is_free(20.0, 4.3)  # 0.3 m from the shelf, within the inflation
    assert grid.is_free(20.0, 4.5)
    # The map boundary is a wall: inflated too, and off-map is never free.
    assert not grid.is_free(0.2, 12.0) and not grid.is_free(12.0, 24.8)
    assert not grid.is_free(-1.0, 12.0) and not grid.is_free(12.0, 30.0)
    assert grid.is_free(0.5, 12.0)
    with pytest.raises(ValueError):
        grid.occupied[0, 0] = False  # read-only: the planner caches depend on it


def test_walls_are_inflated_and_never_leak() -> None:
    # One axis-aligned wall, and a diagonal one that closes off the top-left corner of the map.
    walls = np.array([[5.0, 0.0, 5.0, 8.0], [0.0, 5.0, 4.0, 10.0]])
    g = OccupancyGrid.from_world((10.0, 10.0), [], walls, resolution=0.2, inflate=0.0)
    assert not g.is_free(5.0, 4.0) and g.is_free(5.5, 4.0)
    # Even with no inflation, a thin diagonal wall leaves no gap to squeeze through.
    with pytest.raises(NoPathError):
        plan(g, (0.8, 8.0), (0.8, 4.0))
    assert plan(g, (3.0, 2.0), (7.0, 2.0))[-1] == (7.0, 2.0)


@pytest.mark.parametrize(
    "start,goal",
    [
        ((20.0, 1.5), (20.0, 23.5)),  # below all shelves to above all of them
        ((10.0, 5.2), (30.0, 8.6)),  # one aisle to the next
        ((1.0, 1.0), (39.0, 24.0)),  # corner to corner
        ((7.0, 5.2), (33.0, 5.2)),  # straight down an aisle
        ((20.0, 12.1), (20.03, 12.14)),  # start and goal in the same cell
    ],
)
def test_path_around_shelves_is_collision_free(grid: OccupancyGrid, start: tuple, goal: tuple) -> None:
    path = plan(grid, start, goal)
    assert path[0] == start and path[-1] == goal  # exact, not cell centres
    assert all(isinstance(c, float) for p in path for c in p)
    assert_collision_free(grid, path)
    # Simplified: a few vertices, no zero-length legs, no straight-through vertex.
    assert len(path) <= 8
    for a, b, c in zip(path, path[1:], path[2:], strict=False):
        assert a != b
        cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
        assert abs(cross) > 1e-9
    # Never much longer than the straight line when that is free.
    if start[1] == goal[1]:
        assert path == [start, goal]


def test_path_goes_round_the_shelf_end(grid: OccupancyGrid) -> None:
    path = plan(grid, (10.0, 5.2), (10.0, 8.6))  # either side of shelf 2, near its west end
    assert min(x for x, _ in path) <= 6.0 - INFLATE + 1e-9  # around the west end at x = 6
    assert path_length(path) < 2 * (10.0 - 5.6) + 3.4 + 1.0


def test_start_next_to_shelf_snaps_out(grid: OccupancyGrid) -> None:
    start = (20.0, 4.2)  # 0.2 m from shelf 1: inside the 0.4 m inflation
    assert not grid.is_free(*start)
    path = plan(grid, start, (30.0, 5.5))
    assert path[0] == start and path[-1] == (30.0, 5.5)
    assert math.dist(path[0], path[1]) <= INFLATE + 2 * grid.resolution  # short escape leg
    assert_collision_free(grid, path[1:])  # only the escape leg may cross inflated cells


def test_start_buried_in_obstacle_raises(grid: OccupancyGrid) -> None:
    with pytest.raises(NoPathError, match=r"start \(20\.00, 3\.50\) is inside an obstacle"):
        plan(grid, (20.0, 3.5), (30.0, 5.5))


def test_goal_inside_obstacle_raises(grid: OccupancyGrid) -> None:
    with pytest.raises(NoPathError, match=r"goal \(20\.00, 3\.50\) is inside an obstacle") as err:
        plan(grid, (2.0, 2.0), (20.0, 3.5))
    assert isinstance(err.value, ValueError)
    with pytest.raises(NoPathError, match="inside an obstacle"):
        plan(grid, (2.0, 2.0), (20.0, 4.2))  # free space, but within the inflation
    with pytest.raises(NoPathError, match=r"goal \(45\.00, 3\.00\) is outside"):
        plan(grid, (2.0, 2.0), (45.0, 3.0))


def test_unreachable_goal_raises_with_clear_message() -> None:
    room = polygon_segments(rect_polygon(35.0, 10.0, 4.5, 5.0))  # closed walls, no door, east of the shelves
    g = OccupancyGrid.from_world(SIZE, SHELVES, room, resolution=0.1, inflate=INFLATE)
    with pytest.raises(NoPathError) as err:
        plan(g, (2.0, 2.0), (37.2, 12.5))
    msg = str(err.value)
    assert "goal (37.20, 12.50)" in msg and "not reachable" in msg and "start (2.00, 2.00)" in msg
    # The same room with a door is fine.
    door = np.vstack([room[:-1], [[35.0, 15.0, 35.0, 13.5]]])  # west wall only from y = 13.5 up
    g2 = OccupancyGrid.from_world(SIZE, SHELVES, door, resolution=0.1, inflate=INFLATE)
    path = plan(g2, (2.0, 2.0), (37.2, 12.5))
    assert_collision_free(g2, path)


def test_jump_point_search_matches_astar_costs() -> None:
    """JPS+ must return paths as short as plain 8-connected A*, and find one exactly when A* does."""
    rng = np.random.default_rng(7)

    def cost(cells: list[int], w: int) -> float:
        total = 0.0
        for a, b in itertools.pairwise(cells):
            (ar, ac), (br, bc) = divmod(a, w), divmod(b, w)
            dr, dc = abs(br - ar), abs(bc - ac)
            assert dr == 0 or dc == 0 or dr == dc  # straight or diagonal runs only
            total += math.sqrt(2) * dr if dr and dc else dr + dc
        return total

    for _ in range(120):
        rows, cols = int(rng.integers(4, 30)), int(rng.integers(4, 40))
        occ = rng.random((rows, cols)) < rng.uniform(0.0, 0.4)
        g = OccupancyGrid(occ, 0.1)
        free = np.argwhere(~occ)
        if len(free) < 2:
            continue
        w = cols + 2
        for _ in range(4):
            (sr, sc), (tr, tc) = free[rng.integers(len(free), size=2)]
            s, t = int((sr + 1) * w + sc + 1), int((tr + 1) * w + tc + 1)
            ref = _astar(g._padded_blocked, w, s, t)
            got = _jps(g._jump_tables, w, s, t)
            assert (ref is None) == (got is None) == (g.labels[sr, sc] != g.labels[tr, tc])
            if ref is not None and got is not None:
                assert cost(got, w) == pytest.approx(cost(ref, w), rel=1e-3)
