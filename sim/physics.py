"""Fixed-step physics: unicycle kinematics with limits, collisions, command hand-over.

``Physics.step`` is pure state update (tests call it directly); ``PhysicsTask``
runs it on the clock at a fixed step and publishes snapshots. Commands carry the
sample times of the readings that produced them, so physics can measure the
end-to-end latency (sample -> command taking effect) when it applies them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.clock import Clock
from sim.collide import disc_pairs_overlapping, discs_hit_segments
from sim.stats import Histogram
from sim.world import Bodies, StaticMap, WorldSnapshot


@dataclass(frozen=True)
class Command:
    """A velocity command for one robot and where its data came from."""

    v: float  # m/s, forward
    w: float  # rad/s, counter-clockwise
    issued_at: float = 0.0  # s, simulated time the controller finished
    input_sample_times: tuple[tuple[str, float], ...] = ()  # (sensor name, sample time)


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
        self.snapshot = self._make_snapshot()

    # ------------------------------------------------------------------ commands
    def submit(self, index: int, command: Command) -> None:
        """Hand a command over; it takes effect at the next step (called by controllers)."""
        with self._lock:
            self._pending[index] = command

    def _take_commands(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, [None] * len(self._pending)
        now = self.time
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
        """Advance one fixed step and return the new snapshot (also kept in ``snapshot``)."""
        dt = self.step_size
        b = self.bodies
        self._take_commands()
        v0, w0 = self.velocity[:, 0].copy(), self.velocity[:, 1].copy()
        v_t = np.clip(self.target[:, 0], -b.max_speed, b.max_speed)
        w_t = np.clip(self.target[:, 1], -b.max_yaw_rate, b.max_yaw_rate)
        v = v0 + np.clip(v_t - v0, -b.max_accel * dt, b.max_accel * dt)
        w = w0 + np.clip(w_t - w0, -b.max_yaw_accel * dt, b.max_yaw_accel * dt)
        new_pose = self._integrate(self.pose, v, w, dt)

        static_hit, pairs = self.check_collisions(new_pose)
        blocked = static_hit.copy()
        for i, j in pairs:
            blocked[i] = blocked[j] = True
            self._log_collision(i, j)
            self._log_collision(j, i)
        # A blocked robot keeps its old pose and stops: it touches, it does not pass through.
        new_pose[blocked] = self.pose[blocked]
        v[blocked] = 0.0
        w[blocked] = 0.0
        onset = blocked & ~self.contact
        self.collisions += onset
        for i in np.flatnonzero(onset & static_hit):
            self._log_collision(int(i), -1)

        moved = np.where(blocked, 0.0, 1.0)
        half_base = b.wheel_base / 2.0
        self.wheel_travel[:, 0] += moved * (v - w * half_base) * dt
        self.wheel_travel[:, 1] += moved * (v + w * half_base) * dt
        self.odometer += moved * np.abs(v) * dt
        self.accel[:, 0] = (v - v0) / dt
        self.accel[:, 1] = v * w
        self.pose = new_pose
        self.velocity = np.column_stack([v, w])
        self.contact = blocked
        self.steps += 1
        self.time = self.steps * dt
        self.snapshot = self._make_snapshot()
        return self.snapshot

    def check_collisions(self, pose: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Robots touching the static map (bool per robot), and touching robot pairs."""
        radius = self.bodies.radius
        return (discs_hit_segments(self.static.segment_map, pose[:, :2], radius),
                disc_pairs_overlapping(pose[:, :2], radius))

    @staticmethod
    def _integrate(pose: np.ndarray, v: np.ndarray, w: np.ndarray, dt: float) -> np.ndarray:
        """Exact unicycle arc over ``dt`` (straight line where w is ~0)."""
        x, y, th = pose[:, 0], pose[:, 1], pose[:, 2]
        th1 = th + w * dt
        straight = np.abs(w) < 1e-9
        w_safe = np.where(straight, 1.0, w)
        dx = np.where(straight, v * dt * np.cos(th), v / w_safe * (np.sin(th1) - np.sin(th)))
        dy = np.where(straight, v * dt * np.sin(th), -v / w_safe * (np.cos(th1) - np.cos(th)))
        th1 = (th1 + np.pi) % (2 * np.pi) - np.pi
        return np.column_stack([x + dx, y + dy, th1])

    def _log_collision(self, i: int, j: int) -> None:
        if len(self.collision_log) < self.collision_log_limit and not self.contact[i]:
            other = "static map" if j < 0 else self.bodies.names[j]
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


class PhysicsTask:
    """Runs ``Physics.step`` on the clock, one step per ``step_size`` of simulated time."""

    def __init__(self, physics: Physics, clock: Clock, end_time: float,
                 on_step: Callable[[WorldSnapshot], None] | None = None):
        self.physics = physics
        self.clock = clock
        self.end_time = end_time
        self.on_step = on_step
        self.late_steps = 0  # steps run later than one full step behind schedule
        self.lateness = Histogram()

    def run(self) -> None:
        p = self.physics
        while p.time < self.end_time:
            due = (p.steps + 1) * p.step_size
            if not self.clock.sleep_until(due):
                return
            lateness = self.clock.now() - due
            self.lateness.add(max(lateness, 0.0))
            if lateness > p.step_size:
                self.late_steps += 1
            snap = p.step()
            if self.on_step is not None:
                self.on_step(snap)
