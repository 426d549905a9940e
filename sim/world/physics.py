"""Fixed-step physics: unicycle kinematics with limits, collisions, command hand-over.

``Physics.step`` is pure state update (tests call it directly); ``sim.core.physicstask``
runs it on the clock at a fixed step and publishes snapshots. Commands carry the
sample times of the readings that produced them, so physics can measure the
end-to-end latency (sample -> command taking effect) when it applies them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from sim.common.stats import Histogram
from sim.interfaces.messages import Command
from sim.world.contact import STATIC, Contacts
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
        self.contacts = Contacts(static.segment_map, bodies.radius, self.check_collisions, static.grid)
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
        if self.pool is not None and (not self.compiled or self.pool.collide_in_pool):
            static, pairs = self.pool.collide(pose, radius)
        else:
            if self.pool is not None:
                self.pool.check_alive()
            static, pairs = collide(self.static.segment_map, pose[:, :2], radius, compiled=self.compiled)
        if self.static.grid is not None:  # a map_server map's occupied cells, checked here (not in the workers)
            static = static | grid_hits(self.static.grid, pose, radius, compiled=self.compiled)
        return static, pairs

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
        )
