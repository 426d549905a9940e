"""The world: the static map, the robots' bodies, and immutable snapshots of their state.

Physics owns the mutable state and publishes a new ``WorldSnapshot`` after every
step by swapping one reference (atomic under the GIL), so a sensor always reads
one consistent instant, never a half-updated one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.common.geometry import bounds_segments, polygon_segments
from sim.world.gridcast import cast_with_grid
from sim.world.gridcast import prepare as prepare_grid
from sim.world.occgrid import OccupancyGrid
from sim.world.raycast import cast_scans
from sim.world.segmap import SegmentMap

if TYPE_CHECKING:
    from sim.world.workers import WorkerPool


@dataclass(frozen=True)
class Obstacle:
    """A solid obstacle (shelf, pillar, station...) as a polygon."""

    name: str
    kind: str
    polygon: np.ndarray


@dataclass(frozen=True)
class StaticMap:
    """Everything that does not move: size, walls, obstacles, named places."""

    width: float
    height: float
    obstacles: tuple[Obstacle, ...]
    walls: np.ndarray  # (W, 4) thin walls, including the boundary if enabled
    places: dict[str, tuple[str, float, float, float]]  # name -> (kind, x, y, heading)
    segments: np.ndarray = field(repr=False)  # every collidable edge, (S, 4)
    segment_map: SegmentMap = field(repr=False)
    grid: OccupancyGrid | None = field(default=None, repr=False)  # a map_server map (world.map), if any
    # The run's worker processes while it has them (``use_workers``): who casts, not what the map is.
    _workers: WorkerPool | None = field(default=None, init=False, repr=False, compare=False)

    def use_workers(self, pool: WorkerPool | None) -> None:
        """Cast rays in ``pool``'s worker processes from now on (None: in the calling thread).

        Called by the Run that made both the map and the pool (``physics.workers`` > 0), so a
        sensor never needs to know the pool exists.
        """
        object.__setattr__(self, "_workers", pool)  # frozen for everything else: only who casts changes

    def cast_scans(self, snap: WorldSnapshot, index: np.ndarray, beam_angles: np.ndarray,
                   range_max: float, range_min: float) -> np.ndarray:
        """Ranges (M, K) from robots ``index`` of ``snap`` along ``beam_angles`` (rad, from each heading).

        A beam ends at the first wall, obstacle edge, other robot's disc or occupied grid cell
        (``grid``, see ``sim/world/gridcast.py``); ``inf`` where none is within ``range_max``, and
        hits closer than ``range_min`` are not seen. The sensors' one way to ray cast (the
        lidar's): in the run's worker processes when it has them, else here; the ranges are the
        same either way.
        """
        pool = self._workers
        if pool is not None:  # None back from the pool: the request does not fit its shared block
            ranges = pool.cast_scans(snap.pose, snap.radius, index, beam_angles, range_max, range_min)
            if ranges is not None:
                return ranges
        if self.grid is not None:  # a grid map as well: the nearer of segments/robots and grid per beam
            return cast_with_grid(self.segment_map, self.grid, snap.pose[index, :2], snap.pose[index, 2],
                                  beam_angles, range_max, range_min, circles=(snap.pose[:, :2], snap.radius),
                                  self_index=index)
        return cast_scans(self.segment_map, snap.pose[index, :2], snap.pose[index, 2], beam_angles, range_max,
                          range_min, circles=(snap.pose[:, :2], snap.radius), self_index=index)

    def prepare(self) -> None:
        """Ready the grid map for ray casting now (its clearance map: ~1 s for 2,000 x 2,000 cells); no grid: nothing.

        ``Run.warm_up`` calls it before the clock starts, so the first lidar sample does not pay it.
        """
        if self.grid is not None:
            prepare_grid(self.grid)

    def __deepcopy__(self, memo: dict[int, Any]) -> StaticMap:
        """A copy whose grid map is this one's: its cells are never written, and sharing them shares
        their prepared clearance (a run's warm-up samples deep copies of its sensors). Otherwise deep."""
        if self.grid is not None:
            memo[id(self.grid)] = self.grid
        new = object.__new__(type(self))
        memo[id(self)] = new
        for name, value in self.__dict__.items():
            object.__setattr__(new, name, copy.deepcopy(value, memo))
        return new

    def with_grid(self, grid: OccupancyGrid | None) -> StaticMap:
        """This map with ``grid`` as its occupancy-grid map (None: without); walls, obstacles and places kept."""
        return replace(self, grid=grid)

    @classmethod
    def from_scenario(cls, world: Any) -> StaticMap:  # scenario's world: a layer above, read by attribute
        width, height = world.size
        walls = [np.asarray(w, dtype=float).reshape(1, 4) for w in world.walls]
        if world.boundary_walls:
            walls.append(bounds_segments(width, height))
        wall_arr = np.vstack(walls) if walls else np.zeros((0, 4))
        obstacles = tuple(
            Obstacle(o.name or f"obstacle-{i}", o.kind, o.polygon())
            for i, o in enumerate(world.obstacles)
        )
        segs = [wall_arr] + [polygon_segments(o.polygon) for o in obstacles]
        segments = np.vstack(segs) if segs else np.zeros((0, 4))
        places = {
            p.name: (p.kind, float(p.position[0]), float(p.position[1]), float(p.heading))
            for p in world.places
        }
        return cls(
            width=float(width),
            height=float(height),
            obstacles=obstacles,
            walls=wall_arr,
            places=places,
            segments=segments,
            segment_map=SegmentMap(segments),
        )


@dataclass(frozen=True)
class Bodies:
    """Per-robot constants as arrays (index = robot index in the scenario)."""

    names: tuple[str, ...]
    radius: np.ndarray
    max_speed: np.ndarray
    max_accel: np.ndarray
    max_yaw_rate: np.ndarray
    max_yaw_accel: np.ndarray
    wheel_base: np.ndarray

    @classmethod
    def from_robots(cls, robots: Sequence[Any]) -> Bodies:  # scenario's robots, read by attribute
        def col(attr: str) -> np.ndarray:
            return np.array([float(getattr(r, attr)) for r in robots])

        return cls(
            names=tuple(r.name for r in robots),
            radius=col("radius"),
            max_speed=col("max_speed"),
            max_accel=col("max_accel"),
            max_yaw_rate=col("max_yaw_rate"),
            max_yaw_accel=col("max_yaw_accel"),
            wheel_base=col("wheel_base"),
        )

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class WorldSnapshot:
    """The true state of every robot at one physics step. Never mutated after publishing."""

    time: float  # s, simulated
    step: int
    pose: np.ndarray  # (N, 3) x, y, theta
    velocity: np.ndarray  # (N, 2) v (m/s), w (rad/s)
    accel: np.ndarray  # (N, 2) body-frame ax (m/s^2, forward), ay (lateral, = v*w)
    wheel_travel: np.ndarray  # (N, 2) cumulative left/right wheel travel (m)
    contact: np.ndarray  # (N,) bool, robot touching something this step
    collisions: np.ndarray  # (N,) int, collision onsets so far
    odometer: np.ndarray  # (N,) m driven so far
    radius: np.ndarray  # (N,) m, the bodies' radii (shared, constant)

    @property
    def count(self) -> int:
        return len(self.pose)
