"""Shared planning grids: one inflated grid per (map, inflation, resolution), built once.

Eight robots on one map would otherwise each rasterise the same shelves and
build the same planner caches (tens of ms each) at start-up. Grids are
immutable after ``prepare()``, so every controller thread may plan on the same
one. Replans around obstacles seen by the lidar need a grid of their own; the
``replan_steps`` generator builds it in slices small enough to fit in a
controller cycle (one slice per ``compute``), using only the public planner API.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from controllers.avoidance import disc_offsets, mark_points
from controllers.planning import OccupancyGrid, plan

if TYPE_CHECKING:
    from sim.world.model import StaticMap

__all__ = ["map_key", "replan_steps", "shared_grid"]

_CACHE_SIZE = 16
_cache: OrderedDict[tuple, OccupancyGrid] = OrderedDict()
_lock = threading.Lock()


def map_key(static: StaticMap) -> str:
    """Content digest of a map (size + every collidable edge + its grid map's cells): equal maps share grids."""
    h = hashlib.sha1(np.asarray([static.width, static.height], dtype=float).tobytes())
    h.update(np.ascontiguousarray(static.segments, dtype=float).tobytes())
    grid = getattr(static, "grid", None)  # a map_server map (world.map): its cells are the map too
    if grid is not None:
        h.update(np.asarray([grid.resolution, *grid.origin, *grid.values.shape], dtype=float).tobytes())
        h.update(np.ascontiguousarray(grid.values).tobytes())
        h.update(np.packbits(grid.occupied).tobytes())
    return h.hexdigest()


def shared_grid(static: StaticMap, inflate: float, resolution: float) -> OccupancyGrid:
    """The prepared grid of ``static`` inflated by ``inflate`` m, built on first request only."""
    key = (map_key(static), round(float(inflate), 6), round(float(resolution), 6))
    with _lock:  # controllers are built on one thread today; the lock keeps it safe anyway
        grid = _cache.get(key)
        if grid is not None:
            _cache.move_to_end(key)
            return grid
        grid = OccupancyGrid.from_world(
            (static.width, static.height), [o.polygon for o in static.obstacles], static.walls,
            resolution=resolution, inflate=inflate, cells=getattr(static, "grid", None),
        ).prepare()
        _cache[key] = grid
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return grid


def replan_steps(base: OccupancyGrid, start: Sequence[float], goal: Sequence[float],
                 obstacles_world: np.ndarray) -> Iterator[list[tuple[float, float]] | None]:
    """Plan from ``start`` to ``goal`` with extra obstacles, one slice per ``next()``.

    Yields None after each slice (stamp + label, then jump tables) and finally
    the path. Raises ``NoPathError`` when the marked obstacles cut the goal off.
    Points already inside the base grid's inflated obstacles add nothing and
    are skipped, so the static map's own returns cost nothing.
    """
    pts = np.asarray(obstacles_world, dtype=float).reshape(-1, 2)
    if len(pts):
        cells = np.floor(pts / base.resolution).astype(np.intp)
        rows, cols = base.shape
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < cols) & (cells[:, 1] >= 0) & (cells[:, 1] < rows)
        pts, cells = pts[inside], cells[inside]
        pts = pts[~base.occupied[cells[:, 1], cells[:, 0]]]
    occ = mark_points(base.occupied, base.resolution, pts, disc_offsets(base.inflate / base.resolution))
    grid = OccupancyGrid(occ, base.resolution, base.inflate)
    _ = grid.labels
    yield None
    grid.prepare()
    yield None
    yield plan(grid, start, goal)

