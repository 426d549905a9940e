"""Fixed-step physics: unicycle kinematics with limits, collisions, command hand-over.

``Physics.step`` is pure state update (tests call it directly); ``sim.core.physicstask``
runs it on the clock at a fixed step and publishes snapshots. Commands carry the
sample times of the readings that produced them, so physics can measure the
end-to-end latency (sample -> command taking effect) when it applies them.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from sim.common.stats import Histogram
from sim.interfaces.messages import Command
from sim.world.contact import STATIC, Contacts
from sim.world.footprint import polygon_hits_disc, polygon_hits_segment, polygons_overlap, to_world
from sim.world.kernels import HAVE_NUMBA, advance, collide, grid_hits, settle
from sim.world.model import Bodies, StaticMap, WorldSnapshot

if TYPE_CHECKING:
    from sim.world.workers import WorkerPool


class Physics:
    """Robot state and the rules that move it. Not thread-safe by itself: one stepping thread."""

    def __init__(self, static: StaticMap, bodies: Bodies, start_poses: np.ndarray, step: float):
        n = len(bodies)
        self.static = static
        self.bodies = bodies
        self.step_size = float(step)
        self.pose = np.asarray(start_poses, dtype=float).reshape(n, 3).copy()
        self.velocity = np.zeros((n, 2))
        self.accel = np.zeros((n, 2))
        self.wheel_travel = np.zeros((n, 2))
        self.contact = np.zeros(n, dtype=bool)
        self.collisions = np.zeros(n, dtype=np.int64)
        self.odometer = np.zeros(n)
        self.target = np.zeros((n, 2))
        self.steps = 0
        self.time = 0.0
        self.collision_log: list[tuple[float, str, str]] = []  # bounded below
        self.collision_log_limit = 1000
        self._pending: list[Command | None] = [None] * n
        self._lock = threading.Lock()
        # end-to-end latency per (robot index, sensor name)
        self.chains: dict[tuple[int, str], Histogram] = {}
        self._half_base = bodies.wheel_base / 2.0
        self.compiled = HAVE_NUMBA  # False: the numpy kernels (identical results, slower)
        self.pool: WorkerPool | None = None  # set by the Run when physics.workers > 0
        self.contacts = Contacts(static.segment_map, bodies.radius, self.check_collisions,
                                 bodies.footprints if bodies.shaped else None, static.grid)
        self._bound = bodies.bound  # discs holding each body: the broad phase of the footprint checks
        self.steer = np.zeros(n)  # rad, Ackermann robots' steering angles (0 for the others)
        self._steered = [] if len(bodies.steering) == 0 else np.flatnonzero(~np.isnan(bodies.steering[:, 0])).tolist()
        self.snapshot = self._make_snapshot()

    # ------------------------------------------------------------------ commands
    def submit(self, index: int, command: Command) -> None:
        """Hand a command over; it takes effect at the next step (called by controllers)."""
        with self._lock:
            self._pending[index] = command

    def _take_commands(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, [None] * len(self._pending)
        # The step that consumes a command runs at self.time + step (on the clock): that is
        # when the command takes effect, the end of the end-to-end chain.
        now = self.time + self.step_size
        for i, cmd in enumerate(pending):
            if cmd is None:
                continue
            self.target[i] = (cmd.v, cmd.w)
            for name, sample_time in cmd.input_sample_times:
                hist = self.chains.get((i, name))
                if hist is None:
                    hist = self.chains[(i, name)] = Histogram()
                hist.add(max(now - sample_time, 0.0))

    # ------------------------------------------------------------------ stepping
    def step(self) -> WorldSnapshot:
        """Advance one fixed step and return the new snapshot (also kept in ``snapshot``).

        The arithmetic runs in compiled kernels (``sim.world.kernels``; numpy with identical
        results without numba): tens of µs a step, so stepping does not starve controller threads.
        """
        dt = self.step_size
        b = self.bodies
        self._take_commands()
        v0 = self.velocity[:, 0].copy()
        new_pose, v, w = advance(self.pose, self.velocity, self.target, b.max_speed, b.max_yaw_rate,
                                 b.max_accel, b.max_yaw_accel, dt, compiled=self.compiled)
        for i in self._steered:
            self._steer(i, new_pose, v, w, dt)

        static_hit, pairs = self.check_collisions(new_pose)
        # Contacts (sim.world.contact): turn always, slide along what it touches, count each contact once.
        keep, made, hits = self.contacts.resolve(self.pose, new_pose, static_hit, pairs)
        settle(v, w, v0, keep, made, self._half_base, dt, self.wheel_travel, self.odometer, self.accel,
               compiled=self.compiled)
        if hits or self.contacts.touching:
            for i, other in self.contacts.update(new_pose, hits):
                self.collisions[i] += 1
                self._log_collision(i, other)
            self.contact = self.contacts.touching_mask(len(new_pose))
        self.pose = new_pose
        self.velocity = np.column_stack([v, w])
        self.steps += 1
        self.time = self.steps * dt
        self.snapshot = self._make_snapshot()
        return self.snapshot

    def check_collisions(self, pose: np.ndarray, radius: np.ndarray | None = None
                         ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Robots overlapping the static map (bool per robot), and overlapping robot pairs.

        ``radius`` (default: the bodies' radii) lets the contact tracker look a gap further.

        With a worker pool (``physics.workers`` > 0) the numpy check runs in a worker
        process. The compiled check stays here: it takes ~10 µs where a round trip to
        a worker takes 100-500 µs on a busy 2-core host;
        a look at the workers' sentinels still notices a dead one at every step.
        """
        radius = self.bodies.radius if radius is None else radius
        if self.bodies.shaped:
            static, pairs = self._check_shapes(pose, radius)
            # Footprint robots meet a map_server grid as their bounding discs: conservative (docs/maps.md).
            reach = self._bound + (radius - self.bodies.radius)
        else:
            static, pairs = self._check_discs(pose, radius)
            reach = radius
        if self.static.grid is not None:  # a map_server map's occupied cells, checked here (not in the workers)
            static = static | grid_hits(self.static.grid, pose, reach, compiled=self.compiled)
        return static, pairs

    def _check_discs(self, pose: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        if self.pool is not None:
            if not self.compiled or self.pool.collide_in_pool:
                return self.pool.collide(pose, radius)
            self.pool.check_alive()
        return collide(self.static.segment_map, pose[:, :2], radius, compiled=self.compiled)

    def _check_shapes(self, pose: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """``check_collisions`` with footprint robots: the disc check with each footprint robot's
        bounding disc is the broad phase; the exact polygon tests (``sim.world.footprint``) decide
        for the footprint robots it flags. ``radius`` beyond the bodies' radii is a gap to look
        further by (``grow``), as the contact tracker asks."""
        b = self.bodies
        grow = radius - b.radius
        static_hit, pairs = self._check_discs(pose, self._bound + grow)
        shapes = b.footprints
        world: dict[int, list[tuple[float, float]]] = {}

        def outline(k: int) -> list[tuple[float, float]]:
            if k not in world:
                f = shapes[k]
                assert f is not None
                world[k] = to_world(f, *pose[k].tolist())
            return world[k]

        smap = self.static.segment_map
        for i in np.flatnonzero(static_hit).tolist():
            if shapes[i] is None:
                continue
            reach = float(self._bound[i] + grow[i])
            _, sid = smap.candidates_in_boxes(pose[i:i + 1, :2] - reach, pose[i:i + 1, :2] + reach)
            poly, g = outline(i), float(grow[i])
            static_hit[i] = any(polygon_hits_segment(poly, (ax, ay), (bx, by), g)
                                for ax, ay, bx, by in smap.segments[np.unique(sid)].tolist())
        exact = []
        for i, j in pairs:
            fi, fj = shapes[i], shapes[j]
            if fi is None and fj is None:
                exact.append((i, j))  # two discs: the disc test was exact
            elif fi is not None and fj is not None:
                if polygons_overlap(outline(i), outline(j), float(grow[i] + grow[j])):
                    exact.append((i, j))
            else:
                p, d = (i, j) if fi is not None else (j, i)
                cx, cy = pose[d, :2].tolist()
                if polygon_hits_disc(outline(p), cx, cy, float(radius[d] + grow[p])):
                    exact.append((i, j))
        return static_hit, exact

    def _steer(self, i: int, new_pose: np.ndarray, v: np.ndarray, w: np.ndarray, dt: float) -> None:
        """Robot ``i`` steers like a car (bicycle model): its step redone from the commanded (v, w).

        The command's yaw rate becomes a steering angle ``delta = atan(w * L / v)`` (clamped to
        the max steer, moved at most max steer rate * dt a step), and the yaw rate is then
        ``v * tan(delta) / L``: no turning at v = 0. The speed is the one ``advance`` limited.
        Plain floats with ``math``: the same bits with and without numba.
        """
        base, max_steer, max_rate = self.bodies.steering[i].tolist()
        speed = float(v[i])
        v_cmd, w_cmd = self.target[i].tolist()
        ref = speed if abs(speed) > 1e-9 else v_cmd
        delta0 = float(self.steer[i])
        want = math.atan(w_cmd * base / ref) if abs(ref) > 1e-9 else delta0
        want = min(max(want, -max_steer), max_steer)
        delta = delta0 + min(max(want - delta0, -max_rate * dt), max_rate * dt)
        self.steer[i] = delta
        yaw = speed * math.tan(delta) / base
        x, y, th = self.pose[i].tolist()
        th1 = th + yaw * dt
        if abs(yaw) < 1e-9:
            dx, dy = speed * dt * math.cos(th), speed * dt * math.sin(th)
        else:
            dx = speed / yaw * (math.sin(th1) - math.sin(th))
            dy = -speed / yaw * (math.cos(th1) - math.cos(th))
        new_pose[i] = (x + dx, y + dy, (th1 + math.pi) % (2 * math.pi) - math.pi)
        w[i] = yaw

    def _log_collision(self, i: int, j: int) -> None:
        if len(self.collision_log) < self.collision_log_limit:
            other = "static map" if j == STATIC else self.bodies.names[j]
            self.collision_log.append((self.time, self.bodies.names[i], other))

    def _make_snapshot(self) -> WorldSnapshot:
        return WorldSnapshot(
            time=self.time,
            step=self.steps,
            pose=self.pose.copy(),
            velocity=self.velocity.copy(),
            accel=self.accel.copy(),
            wheel_travel=self.wheel_travel.copy(),
            contact=self.contact.copy(),
            collisions=self.collisions.copy(),
            odometer=self.odometer.copy(),
            radius=self.bodies.radius,
            footprints=self.bodies.footprints,
        )
