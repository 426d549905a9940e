"""Maps as cells: the occupancy grid a ``map_server`` map loads into, and any world rasterised into one.

The layout is ``nav_msgs/OccupancyGrid``'s, so a grid goes into a recording or a map file
without reshuffling: ``values[i, j]`` is the cell in row ``i`` counted from the origin
upwards (+y) and column ``j`` counted rightwards (+x); 0 = free, 100 = occupied, -1 =
unknown, 1..99 an occupancy probability (``map_server``'s scale mode). Cell ``(i, j)``
covers ``[ox + j*res, ox + (j+1)*res) x [oy + i*res, oy + (i+1)*res)``. ``occupied``
is what stops beams and bodies (the loader applies the map's thresholds once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FREE", "OCCUPIED", "UNKNOWN", "OccupancyGrid", "rasterize"]

FREE, OCCUPIED, UNKNOWN = 0, 100, -1


@dataclass(frozen=True)
class OccupancyGrid:
    """Cells of ``resolution`` metres from ``origin`` (the lower-left corner of cell (0, 0))."""

    values: np.ndarray  # (rows, cols) int8, nav_msgs/OccupancyGrid convention (see the module docstring)
    resolution: float  # m per cell side
    origin: tuple[float, float]  # m, map frame
    occupied: np.ndarray  # (rows, cols) bool: blocks beams, bodies and paths

    @classmethod
    def from_values(cls, values: np.ndarray, resolution: float, origin: tuple[float, float],
                    occupied: np.ndarray | None = None) -> OccupancyGrid:
        """A grid from its cell values; ``occupied`` defaults to ``values == 100``."""
        vals = np.ascontiguousarray(values, dtype=np.int8)
        occ = vals == OCCUPIED if occupied is None else np.ascontiguousarray(occupied, dtype=bool)
        if vals.ndim != 2 or occ.shape != vals.shape:
            raise ValueError("values and occupied must be 2-D arrays of one shape")
        if not (resolution > 0 and math.isfinite(resolution)):
            raise ValueError("resolution must be positive and finite")
        return cls(vals, float(resolution), (float(origin[0]), float(origin[1])), occ)

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def cols(self) -> int:
        return int(self.values.shape[1])

    @property
    def width(self) -> float:
        """Extent along x (m)."""
        return self.cols * self.resolution

    @property
    def height(self) -> float:
        """Extent along y (m)."""
        return self.rows * self.resolution

    def cell_of(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) indices of the cells holding map points (x, y); outside the grid they are out of range."""
        j = np.floor((np.asarray(x, dtype=float) - self.origin[0]) / self.resolution).astype(np.int64)
        i = np.floor((np.asarray(y, dtype=float) - self.origin[1]) / self.resolution).astype(np.int64)
        return i, j

    def centers(self) -> tuple[np.ndarray, np.ndarray]:
        """x of every column's centre (cols,) and y of every row's centre (rows,)."""
        xs = self.origin[0] + (np.arange(self.cols) + 0.5) * self.resolution
        ys = self.origin[1] + (np.arange(self.rows) + 0.5) * self.resolution
        return xs, ys


def _mark_segments(occ: np.ndarray, segments: np.ndarray, origin: tuple[float, float], res: float) -> None:
    """Mark every cell a segment passes through (sampled at a quarter cell, ends included)."""
    rows, cols = occ.shape
    for x1, y1, x2, y2 in np.asarray(segments, dtype=float).reshape(-1, 4):
        n = max(2, math.ceil(math.hypot(x2 - x1, y2 - y1) / (res / 4.0)) + 1)
        t = np.linspace(0.0, 1.0, n)
        j = np.floor((x1 + t * (x2 - x1) - origin[0]) / res).astype(np.int64)
        i = np.floor((y1 + t * (y2 - y1) - origin[1]) / res).astype(np.int64)
        # A wall on the map's far edge (x == width) lies on the border: it belongs to the last cell.
        j = np.where(j == cols, cols - 1, j)
        i = np.where(i == rows, rows - 1, i)
        keep = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
        occ[i[keep], j[keep]] = True


def _fill_polygon(occ: np.ndarray, polygon: np.ndarray, origin: tuple[float, float], res: float) -> None:
    """Mark the cells whose centres lie inside ``polygon`` (even-odd rule), within its bounding box only."""
    rows, cols = occ.shape
    p = np.asarray(polygon, dtype=float).reshape(-1, 2)
    j0 = max(0, math.floor((p[:, 0].min() - origin[0]) / res))
    j1 = min(cols, math.ceil((p[:, 0].max() - origin[0]) / res) + 1)
    i0 = max(0, math.floor((p[:, 1].min() - origin[1]) / res))
    i1 = min(rows, math.ceil((p[:, 1].max() - origin[1]) / res) + 1)
    if j0 >= j1 or i0 >= i1:
        return
    xs = origin[0] + (np.arange(j0, j1) + 0.5) * res
    ys = origin[1] + (np.arange(i0, i1) + 0.5) * res
    inside = np.zeros((i1 - i0, j1 - j0), dtype=bool)
    q = np.roll(p, -1, axis=0)
    for (ax, ay), (bx, by) in zip(p, q, strict=True):
        if ay == by:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (ay > ys) != (by > ys)  # rows whose centre line the edge crosses
        x_at = ax + (ys - ay) * (bx - ax) / (by - ay)
        inside[crosses] ^= xs[None, :] < x_at[crosses, None]
    occ[i0:i1, j0:j1] |= inside


def rasterize(static_map: Any, resolution: float | None = None) -> OccupancyGrid:
    """The world's static map as an occupancy grid: its grid (if it has one) plus walls and obstacles burnt in.

    ``static_map`` is a :class:`sim.world.model.StaticMap` (read by attribute: ``grid``, ``width``,
    ``height``, ``walls``, ``obstacles``). With a grid map the result keeps that grid's frame and
    resolution (``resolution`` must then be None or equal); without, it covers ``(0, 0)`` to
    ``(width, height)`` at ``resolution`` (default 0.05 m), every cell free but for walls (every
    cell a wall passes through) and obstacles (cells whose centre is inside, plus their outlines).
    """
    grid: OccupancyGrid | None = getattr(static_map, "grid", None)
    if grid is not None:
        if resolution is not None and not math.isclose(resolution, grid.resolution):
            raise ValueError(f"the map's grid has resolution {grid.resolution} m, not {resolution} m")
        res, origin = grid.resolution, grid.origin
        values = grid.values.copy()
        occ = grid.occupied.copy()
    else:
        res = 0.05 if resolution is None else float(resolution)
        if not (res > 0 and math.isfinite(res)):
            raise ValueError("resolution must be positive and finite")
        origin = (0.0, 0.0)
        shape = (max(1, math.ceil(static_map.height / res - 1e-9)), max(1, math.ceil(static_map.width / res - 1e-9)))
        values = np.zeros(shape, dtype=np.int8)
        occ = np.zeros(shape, dtype=bool)
    burnt = np.zeros_like(occ)
    _mark_segments(burnt, static_map.walls, origin, res)
    for obstacle in static_map.obstacles:
        _fill_polygon(burnt, obstacle.polygon, origin, res)
        poly = np.asarray(obstacle.polygon, dtype=float)
        _mark_segments(burnt, np.hstack([poly, np.roll(poly, -1, axis=0)]), origin, res)
    values[burnt] = OCCUPIED
    return OccupancyGrid(values, res, origin, occ | burnt)
