"""The occupancy-grid type and the rasteriser every map export and recording uses."""

from __future__ import annotations

import numpy as np
import pytest

from sim.world.model import Obstacle, StaticMap
from sim.world.occgrid import OCCUPIED, OccupancyGrid, rasterize
from sim.world.segmap import SegmentMap


def _map(width: float, height: float, walls: list[list[float]], polys: list[np.ndarray]) -> StaticMap:
    w = np.array(walls, dtype=float).reshape(-1, 4)
    obstacles = tuple(Obstacle(f"o{i}", "shelf", p) for i, p in enumerate(polys))
    return StaticMap(width, height, obstacles, w, {}, w, SegmentMap(w))


def test_rasterize_marks_walls_and_fills_obstacles_at_known_cells() -> None:
    square = np.array([[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]])
    grid = rasterize(_map(4.0, 3.0, [[0.0, 2.55, 4.0, 2.55]], [square]), 0.1)
    assert (grid.rows, grid.cols) == (30, 40)
    assert grid.origin == (0.0, 0.0)
    # The wall at y = 2.55 runs through row 25 only, every column.
    assert grid.occupied[25].all() and not grid.occupied[24].any() and not grid.occupied[26].any()
    # The square covers rows/cols 10..19 (its far outline lands in cell 20), nothing at 0.95 m.
    assert grid.occupied[10:20, 10:20].all()
    assert not grid.occupied[9, 10:20].any() and not grid.occupied[10:20, 9].any()
    assert (grid.values[grid.occupied] == OCCUPIED).all() and (grid.values[~grid.occupied] == 0).all()
    assert int(grid.occupied.sum()) == 40 + 11 * 11


def test_rasterize_keeps_a_grid_maps_frame_and_burns_obstacles_into_it() -> None:
    values = np.full((20, 30), -1, dtype=np.int8)
    values[:, :15] = 0
    base = OccupancyGrid.from_values(values, 0.5, (-2.0, -1.0))
    m = _map(10.0, 10.0, [], [np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])])
    object.__setattr__(m, "grid", base)
    grid = rasterize(m)
    assert grid.origin == (-2.0, -1.0) and grid.resolution == 0.5 and grid.values.shape == (20, 30)
    i, j = grid.cell_of(0.25, 0.25)
    assert grid.occupied[i, j] and grid.values[i, j] == OCCUPIED
    assert grid.values[0, 29] == -1  # unknown stays unknown
    with pytest.raises(ValueError, match="resolution"):
        rasterize(m, 0.1)


def test_cell_of_and_centers_agree() -> None:
    grid = OccupancyGrid.from_values(np.zeros((4, 5)), 0.2, (1.0, 2.0))
    xs, ys = grid.centers()
    i, j = grid.cell_of(xs[3], ys[2])
    assert (int(i), int(j)) == (2, 3)
    assert grid.width == pytest.approx(1.0) and grid.height == pytest.approx(0.8)
