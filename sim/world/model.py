"""The world: the static map, the robots' bodies, and immutable snapshots of their state.

Physics owns the mutable state and publishes a new ``WorldSnapshot`` after every
step by swapping one reference (atomic under the GIL), so a sensor always reads
one consistent instant, never a half-updated one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.common.geometry import bounds_segments, polygon_segments
from sim.world.footprint import circumradius, edges, to_world
from sim.world.gridcast import cast_with_grid
from sim.world.gridcast import prepare as prepare_grid
from sim.world.occgrid import OccupancyGrid
from sim.world.raycast import cast_scans, cast_segments
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
                   range_max: float, range_min: float, mounts: np.ndarray | None = None) -> np.ndarray:
        """Ranges (M, K) from robots ``index`` of ``snap`` along ``beam_angles`` (rad, from each sensor's heading).

        A beam ends at the first wall, obstacle edge, occupied grid cell (``grid``, see
        ``sim/world/gridcast.py``) or other robot (its disc, or its footprint's outline); ``inf``
        where none is within ``range_max``, and hits closer than ``range_min`` are not seen.
        ``mounts`` (M, 3): each sensor's [x, y, yaw] in its robot's base_link (None: all at
        base_link, heading ahead). The sensors' one way to ray cast (the lidar's): in the run's
        worker processes when it has them (every robot a disc, every lidar at base_link), else
        here; the ranges are the same either way.
        """
        pool = self._workers
        shaped = bool(snap.footprints)  # () when every robot is a disc (Bodies.from_robots)
        if pool is not None and mounts is None and not shaped:  # None back: the request does not fit its block
            ranges = pool.cast_scans(snap.pose, snap.radius, index, beam_angles, range_max, range_min)
            if ranges is not None:
                return ranges
        if mounts is None and not shaped:
            return self._cast(snap.pose[index, :2], snap.pose[index, 2], beam_angles, range_max, range_min,
                              (snap.pose[:, :2], snap.radius), index)
        origins, headings = sensor_poses(snap.pose[index], mounts)
        if not shaped:
            return self._cast(origins, headings, beam_angles, range_max, range_min, (snap.pose[:, :2], snap.radius),
                              index)
        # Footprint robots: their outlines as moving segments, the others as circles.
        discs = np.array([k for k, f in enumerate(snap.footprints) if f is None], dtype=np.int64)
        slot = np.full(snap.count, -1, dtype=np.int64)
        slot[discs] = np.arange(len(discs))
        ranges = self._cast(origins, headings, beam_angles, range_max, range_min,
                            (snap.pose[discs, :2], snap.radius[discs]), slot[index])
        outlines, owners = [], []
        for k, f in enumerate(snap.footprints):
            if f is not None:
                outlines.append(edges(to_world(f, *snap.pose[k].tolist())))
                owners.append(np.full(len(f), k, dtype=np.int64))
        moving = cast_segments(np.vstack(outlines), np.concatenate(owners), origins, headings, beam_angles,
                               range_max, range_min, np.asarray(index, dtype=np.int64).reshape(-1))
        return np.minimum(ranges, moving)

    def _cast(self, origins: np.ndarray, headings: np.ndarray, beam_angles: np.ndarray, range_max: float,
              range_min: float, circles: tuple[np.ndarray, np.ndarray], self_index: np.ndarray) -> np.ndarray:
        """The map (segments, and the grid when there is one: the nearer per beam) and the disc robots."""
        if self.grid is not None:
            return cast_with_grid(self.segment_map, self.grid, origins, headings, beam_angles, range_max, range_min,
                                  circles=circles, self_index=self_index)
        return cast_scans(self.segment_map, origins, headings, beam_angles, range_max, range_min, circles=circles,
                          self_index=self_index)

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
        grid = getattr(world, "grid", None)  # world.map's OccupancyGrid, loaded by the scenario loader
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
            grid=grid,
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
    # Per robot: footprint polygon (V, 2) in base_link, or None for a disc of ``radius`` (sim.world.footprint).
    footprints: tuple[np.ndarray | None, ...] = ()
    # Ackermann steering per robot (NaN wheelbase: differential drive): wheelbase (m), max steer (rad),
    # max steer rate (rad/s). Empty: every robot differential drive.
    steering: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @classmethod
    def from_robots(cls, robots: Sequence[Any]) -> Bodies:  # scenario's robots, read by attribute
        def col(attr: str) -> np.ndarray:
            return np.array([float(getattr(r, attr)) for r in robots])

        footprints = tuple(_footprint(r) for r in robots)
        steering = np.array([_steering(r) for r in robots]).reshape(-1, 3)
        return cls(
            names=tuple(r.name for r in robots),
            radius=col("radius"),
            max_speed=col("max_speed"),
            max_accel=col("max_accel"),
            max_yaw_rate=col("max_yaw_rate"),
            max_yaw_accel=col("max_yaw_accel"),
            wheel_base=col("wheel_base"),
            footprints=footprints if any(f is not None for f in footprints) else (),
            steering=steering if not np.isnan(steering[:, 0]).all() else np.zeros((0, 3)),
        )

    @property
    def shaped(self) -> bool:
        """Some robot has a polygon footprint (else every robot is a disc: the disc-only code paths)."""
        return bool(self.footprints)

    @property
    def bound(self) -> np.ndarray:
        """Per robot: the radius of a disc at base_link that holds its body (its radius, or the
        footprint's circumscribed radius if larger): the broad phase of the footprint checks."""
        if not self.footprints:
            return self.radius
        return np.array([r if f is None else max(r, circumradius(f))
                         for r, f in zip(self.radius.tolist(), self.footprints, strict=True)])

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
    footprints: tuple[np.ndarray | None, ...] = ()  # the bodies' footprints (shared, constant); () = all discs

    @property
    def count(self) -> int:
        return len(self.pose)


def _footprint(robot: Any) -> np.ndarray | None:
    """The robot's footprint polygon (V, 2) in base_link, or None (a disc); read by attribute."""
    shape = getattr(robot, "footprint_polygon", None)
    poly = shape() if callable(shape) else None
    if poly is None:
        return None
    poly = np.asarray(poly, dtype=float).reshape(-1, 2).copy()
    poly.flags.writeable = False
    return poly


def _steering(robot: Any) -> tuple[float, float, float]:
    """(wheelbase, max steer, max steer rate) of an Ackermann robot; NaNs for differential drive."""
    kin = getattr(robot, "kinematics", None)
    if kin is None or getattr(kin, "type", "diff_drive") != "ackermann":
        return (math.nan, math.nan, math.nan)
    return (float(kin.wheelbase), float(kin.max_steer), float(kin.max_steer_rate))


def sensor_poses(pose: np.ndarray, mounts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """World origins (M, 2) and headings (M,) of sensors mounted at ``mounts`` (M, 3) [x, y, yaw] in
    base_link on robots at ``pose`` (M, 3); None: at base_link itself."""
    if mounts is None:
        return pose[:, :2], pose[:, 2]
    m = np.asarray(mounts, dtype=float).reshape(-1, 3)
    c = np.fromiter(map(math.cos, pose[:, 2].tolist()), dtype=float, count=len(pose))
    s = np.fromiter(map(math.sin, pose[:, 2].tolist()), dtype=float, count=len(pose))
    ox = pose[:, 0] + c * m[:, 0] - s * m[:, 1]
    oy = pose[:, 1] + s * m[:, 0] + c * m[:, 1]
    return np.column_stack([ox, oy]), pose[:, 2] + m[:, 2]
