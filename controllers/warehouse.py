"""The warehouse AMR controller: orders in, planned paths out, lidar avoidance, right of way.

Each robot plans on a shared inflated occupancy grid (``controllers.navgrid``),
follows the path with pure pursuit, and slows or stops for whatever its own
lidar sees along the arc it is about to drive. A robot blocked for a while
replans with the blocking returns marked on a grid of its own; robots that
meet head-on give way by priority: the lower-priority robot (later in the
scenario's robot list) gives up waiting sooner, so it is the one that turns
away while the other holds. A robot blocked past ``stuck_limit`` counts a stuck
event, backs off if the way behind is clear, and replans.

Sensors only: pose from ``localization`` (the granted absolute pose) composed
with ``odometry``; obstacles from ``lidar``. Orders come from the dispatcher
(``sim.features.orders``) through ``handle_event`` on the timeline thread; they are put
on a thread-safe inbox that ``compute`` drains, and progress goes back on the
thread-safe ``outbox`` the dispatcher polls.
"""

from __future__ import annotations

import math
import queue
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controllers import kernels
from controllers.avoidance import arc_gap, brake_speed, clearance, off_map, rear_gap, scan_points
from controllers.navgrid import replan_steps, shared_grid
from controllers.planning import NoPathError, plan
from controllers.posefuse import PoseFuser
from controllers.pursuit import PurePursuit
from sim.interfaces.controller import Controller, Inputs

Point = tuple[float, float]


class WarehouseParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load

    cruise_speed: float = Field(1.0, gt=0, le=20, description="m/s, capped by the robot's max_speed")
    lookahead: float = Field(0.5, gt=0, le=5, description="m, pure-pursuit carrot distance")
    goal_tolerance: float = Field(0.15, gt=0, le=2, description="m, a goal is reached within this")
    margin: float = Field(0.3, ge=0, le=5, description="m added to the robot radius to inflate the map")
    resolution: float = Field(0.1, gt=0, le=1, description="m, planning grid cell size")
    replan_resolution: float = Field(0.2, gt=0, le=1, description="m, cell size of replans around "
                                     "lidar obstacles (coarser, so a replan fits in a few cycles)")
    stop_distance: float = Field(0.4, ge=0, le=5, description="m of free space ahead (beyond the body) "
                                 "at which it stops")
    brake_decel: float = Field(0.5, gt=0, le=20, description="m/s^2, braking assumed when limiting "
                               "speed to the free space ahead")
    side_margin: float = Field(0.05, ge=0, le=2, description="m added to the radius on each side of "
                               "the swept corridor checked for obstacles")
    horizon: float = Field(4.0, gt=0, le=20, description="m of the commanded arc checked for obstacles")
    side_per_speed: float = Field(0.25, ge=0, le=5, description="s: the corridor checked for obstacles "
                                  "not on the map widens by this x speed on each side (moving robots)")
    near_gain: float = Field(0.7, gt=0, le=20, description="1/s: speed cap per m of free space to the "
                             "nearest obstacle not on the map, ahead or beside (robots may cut in)")
    near_clear: float = Field(0.3, ge=0, le=5, description="m of free space to an obstacle not on the "
                              "map at which the speed cap reaches near_speed")
    near_speed: float = Field(0.25, ge=0, le=5, description="m/s, lowest speed cap near obstacles not "
                              "on the map (the corridor check still stops it)")
    replan_after: float = Field(2.0, gt=0, le=120, description="s blocked before the lowest-priority "
                                "robot replans around what it sees")
    yield_step: float = Field(1.5, ge=0, le=60, description="s more a robot one priority level higher "
                              "holds before replanning (right of way)")
    priority_levels: int = Field(4, ge=1, le=100, description="priority = levels-1 - index mod levels")
    stuck_limit: float = Field(20.0, gt=0, le=600, description="s without progress counted as a stuck "
                               "event (then back off and replan)")
    backoff_distance: float = Field(0.4, ge=0, le=5, description="m reversed when stuck, if clear behind")
    backoff_speed: float = Field(0.2, gt=0, le=5, description="m/s while backing off")
    mark_range: float = Field(3.0, gt=0, le=50, description="m, lidar returns nearer than this are "
                              "marked as obstacles in a replan")
    waypoints: list[Point] = Field(default_factory=list, description="[[x, y], ...] m patrolled when "
                                   "there is no order (empty: park at home)")
    loop: bool = Field(True, description="patrol the waypoints again after the last one")
    home: Point | None = Field(None, description="[x, y] m parking spot; null = the start position "
                               "(the dispatcher may assign one)")


@dataclass(frozen=True)
class Leg:
    """One drive to a goal, with an optional dwell there (pick, pack)."""

    kind: str  # pick | pack | park | waypoint
    goal: Point
    dwell: float = 0.0  # s standing at the goal
    order: str | None = None
    place: str | None = None


class WarehouseController(Controller):
    """Plan, follow, avoid, give way; take orders from the dispatcher."""

    Params = WarehouseParams
    params: WarehouseParams  # the validated Params instance (set by the base __init__)
    goal_params = ("waypoints", "home")
    accepts_orders: ClassVar[bool] = True  # the dispatcher (sim.features.orders) talks to it
    needs = ("localization", "odometry", "lidar")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        p: WarehouseParams = self.params
        r = self.robot
        self.inflate = r.radius + p.margin
        self.grid = shared_grid(self.static, self.inflate, p.resolution)
        self.replan_grid = shared_grid(self.static, self.inflate, p.replan_resolution)
        self.map_grid = shared_grid(self.static, 0.15, 0.1)  # lidar returns in its cells are the map
        speed = min(p.cruise_speed, r.max_speed)
        self.follower = PurePursuit(p.lookahead, speed, r.max_yaw_rate, p.goal_tolerance,
                                    slow_radius=max(speed, 0.5), rotate_angle=0.8, rotate_exit_angle=0.3)
        self.fuser = PoseFuser()
        self._loc = self.sensor_named("localization")
        self._odom = self.sensor_named("odometry")
        self._lidar = self.sensor_named("lidar")
        levels = p.priority_levels
        self.priority = levels - 1 - r.index % levels  # higher = holds its ground longer
        self.hold = p.replan_after + p.yield_step * self.priority
        self.inbox: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.home: Point = p.home if p.home is not None else (r.start_pose[0], r.start_pose[1])
        self.patrol: list[Point] = list(p.waypoints)
        self._patrol_next = 0
        self.legs: deque[Leg] = deque()
        self.leg: Leg | None = None
        self.mode = "idle"
        self.path: list[Point] = []
        self.pose: np.ndarray | None = None
        self._dwell_until = 0.0
        self._replan: Iterator[list[Point] | None] | None = None
        self._blocked_since: float | None = None
        self._next_replan = 0.0
        self._backoff_from: np.ndarray | None = None
        self._progress_ref: tuple[float, float, float] | None = None  # x, y, time
        self.counts = {"orders_done": 0, "picks_done": 0, "orders_failed": 0, "legs_done": 0, "plans": 0,
                       "replans": 0, "plan_failures": 0, "avoidance_stops": 0, "waits": 0, "stuck_events": 0,
                       "backoffs": 0}
        self.max_blocked = 0.0
        self._scan: Any = None  # the newest scan and its points: the lidar is slower than the controller
        self._points = np.zeros((0, 2))
        self._show("idle")

    def inputs_needed(self) -> list[str]:
        """The first localization, odometry and lidar it reads (not the IMU or bumper)."""
        return [name for name in (self._loc, self._odom, self._lidar) if name is not None]

    # ------------------------------------------------------------------ events
    def handle_event(self, action: str, data: dict[str, Any]) -> None:
        """Any thread: queue the event; ``compute`` applies it on the controller thread."""
        if action in ("assign_order", "set_home", "set_waypoints", "stop_robot"):
            self.inbox.put((action, dict(data)))

    def _apply(self, action: str, data: dict[str, Any], now: float) -> None:
        if action == "assign_order":
            order = str(data["order"])
            self.legs = deque([
                Leg("pick", _pt(data["pick"]), float(data.get("pick_time", 0.0)), order, data.get("pick_place")),
                Leg("pack", _pt(data["pack"]), float(data.get("pack_time", 0.0)), order, data.get("pack_place")),
            ])
            if self.leg is None or self.leg.kind in ("park", "waypoint"):
                self._begin_next(now)
        elif action == "set_home":
            self.home = _pt(data["position"])
            if self.leg is None or self.leg.kind == "park":
                self.leg, self.mode = None, "idle"  # the next cycle heads for the new home
        elif action == "set_waypoints":
            self.patrol = [_pt(w) for w in data.get("waypoints") or []]
            self._patrol_next = 0
            if self.leg is None or self.leg.kind in ("park", "waypoint"):
                self.leg = None
        elif action == "stop_robot":
            self.legs.clear()
            self.patrol = []
            self.leg = None
            self.mode = "stopped"

    @classmethod
    def warm_up(cls) -> None:
        kernels.warm_up()  # the scan loops, compiled (or loaded) before the first timed cycle

    # ------------------------------------------------------------------ cycle
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        now = inputs.now
        while not self.inbox.empty():  # only this thread takes from the inbox
            self._apply(*self.inbox.get_nowait(), now)
        pose = self.fuser.update(inputs.readings.get(self._loc) if self._loc else None,
                                 inputs.readings.get(self._odom) if self._odom else None)
        if pose is None:
            self._show("no pose")
            return 0.0, 0.0
        self.pose = pose
        if self.mode == "unplanned" and self.leg is not None:
            self._begin(self.leg, now)  # (before: the leg ran with no path and "picked" where the robot stood)
        scan = inputs.data(self._lidar) if self._lidar else None
        if self._lidar and scan is None:
            self._show("no scan")
            return 0.0, 0.0
        if scan is not self._scan:
            self._scan, self._points = scan, scan_points(scan)
        points = self._points
        if self.mode == "stopped":
            self._show("stopped")
            return 0.0, 0.0
        if self.leg is None:
            self._begin_next(now)
            if self.leg is None:
                self._show("parked" if self.mode == "parked" else "idle")
                return 0.0, 0.0
        if self.mode == "dwell":
            if now >= self._dwell_until:
                self._finish_leg(now)
            self._show("dwell")
            return 0.0, 0.0
        if self.mode == "replan":
            self._step_replan(now)
            self._show("replan")
            return 0.0, 0.0
        if self.mode == "backoff":
            return self._backoff(points, now)
        if self.mode == "unreachable":
            if now >= self._next_replan:
                self._begin(self.leg, now)
            self._show("unreachable")
            return 0.0, 0.0
        return self._drive(points, now)

    def _drive(self, points: np.ndarray, now: float) -> tuple[float, float]:
        p: WarehouseParams = self.params
        assert self.pose is not None and self.leg is not None
        v, w, done = self.follower.step(self.pose)
        if done:
            if self.leg.dwell > 0:
                self.mode, self._dwell_until = "dwell", now + self.leg.dwell
                self._show("dwell")
            else:
                self._finish_leg(now)
            return 0.0, 0.0
        r = self.robot.radius
        gap = arc_gap(points, v, w, r, p.side_margin, p.horizon)
        other = off_map(points, self.pose, self.map_grid.occupied, self.map_grid.resolution)
        if len(other):
            wide = p.side_margin + p.side_per_speed * max(v, 0.0)
            gap = min(gap, arc_gap(other, v, w, r, wide, p.horizon))
        limit = brake_speed(gap, p.stop_distance, p.brake_decel)
        free = clearance(other, r)
        if free < math.inf:
            limit = min(limit, max(p.near_speed, p.near_gain * (free - p.near_clear)))
        if v > 0.0 and limit <= 0.0:
            return self._blocked(points, now)
        self._blocked_since = None
        if v > limit:
            w *= limit / v
            v = limit
        if self._no_progress(now):
            self.counts["stuck_events"] += 1
            self._begin(self.leg, now)
            return 0.0, 0.0
        self._show("drive" if v >= 0.99 * self.follower.cruise_speed or v == 0.0 else "slow")
        return v, w

    def _blocked(self, points: np.ndarray, now: float) -> tuple[float, float]:
        """Stopped by something ahead: wait, then replan around it, then back off if stuck."""
        p: WarehouseParams = self.params
        if self._blocked_since is None:
            self._blocked_since = now
            self.counts["avoidance_stops"] += 1
            self._next_replan = now + self.hold
        waited = now - self._blocked_since
        self.max_blocked = max(self.max_blocked, waited)
        self._progress_ref = None  # a robot waiting behind an obstacle is not making progress, nor stuck
        if waited >= p.stuck_limit:
            self.counts["stuck_events"] += 1
            self._blocked_since = None
            if p.backoff_distance > 0 and rear_gap(points, self.robot.radius, p.side_margin) > p.stop_distance:
                self.counts["backoffs"] += 1
                self.mode, self._backoff_from = "backoff", self.pose
                self._show("backoff")
                return 0.0, 0.0
            self._start_replan(points, now)
        elif now >= self._next_replan:
            self.counts["waits"] += 1
            self._start_replan(points, now)
        self._show("wait")
        return 0.0, 0.0

    def _backoff(self, points: np.ndarray, now: float) -> tuple[float, float]:
        p: WarehouseParams = self.params
        assert self.pose is not None and self._backoff_from is not None
        moved = math.dist(self.pose[:2], self._backoff_from[:2])
        if moved >= p.backoff_distance or rear_gap(points, self.robot.radius, p.side_margin) <= p.stop_distance:
            self._start_replan(points, now)
            self._show("replan")
            return 0.0, 0.0
        self._show("backoff")
        return -p.backoff_speed, 0.0

    def _no_progress(self, now: float) -> bool:
        """True once per ``stuck_limit`` of driving without getting 0.25 m anywhere."""
        assert self.pose is not None
        x, y = float(self.pose[0]), float(self.pose[1])
        ref = self._progress_ref
        if ref is None or math.hypot(x - ref[0], y - ref[1]) > 0.25:
            self._progress_ref = (x, y, now)
            return False
        if now - ref[2] > self.params.stuck_limit:
            self._progress_ref = (x, y, now)
            return True
        return False

    # ------------------------------------------------------------------ planning
    def _begin_next(self, now: float) -> None:
        """Start the next leg: queued order legs, else patrol, else go home and park."""
        if self.legs:
            self._begin(self.legs.popleft(), now)
        elif self.patrol:
            if self._patrol_next >= len(self.patrol):
                if not self.params.loop:
                    self.patrol = []
                    return
                self._patrol_next = 0
            goal = self.patrol[self._patrol_next]
            self._patrol_next += 1
            self._begin(Leg("waypoint", goal), now)
        elif self.pose is not None and self.mode != "parked":
            if math.dist(self.pose[:2], self.home) <= self.params.goal_tolerance * 2:
                self.leg, self.mode = None, "parked"
            else:
                self._begin(Leg("park", self.home), now)

    def _begin(self, leg: Leg, now: float) -> None:
        """Plan ``leg`` on the static grid; an unreachable goal fails its order (or retries)."""
        self.leg = leg
        self._blocked_since = None
        self._progress_ref = None
        self._replan = None
        if self.pose is None:  # an order before the first pose: planned on the first cycle with one
            self.mode = "unplanned"
            return
        self.counts["plans"] += 1
        try:
            self._set_path(plan(self.grid, self.pose[:2], leg.goal))
        except NoPathError as exc:
            self.counts["plan_failures"] += 1
            if leg.order is not None:
                self._report("failed", leg, now, reason=str(exc))
                self.counts["orders_failed"] += 1
                self.legs.clear()
                self.leg, self.mode = None, "idle"
            else:
                self.mode = "unreachable"
                self._next_replan = now + self.params.replan_after

    def _set_path(self, path: list[Point]) -> None:
        self.path = path
        self.follower.set_path(path)
        self.mode = "drive"

    def _start_replan(self, points: np.ndarray, now: float) -> None:
        p: WarehouseParams = self.params
        assert self.pose is not None and self.leg is not None
        near = points[np.hypot(points[:, 0], points[:, 1]) < p.mark_range] if len(points) else points
        x, y, th = self.pose
        c, s = math.cos(th), math.sin(th)
        world = np.column_stack([x + c * near[:, 0] - s * near[:, 1], y + s * near[:, 0] + c * near[:, 1]])
        self._replan = replan_steps(self.replan_grid, (x, y), self.leg.goal, world)
        self.mode = "replan"
        self._next_replan = now + p.replan_after

    def _step_replan(self, now: float) -> None:
        assert self._replan is not None
        try:
            path = next(self._replan)
        except NoPathError:
            self.counts["plan_failures"] += 1
            self._replan, self.mode = None, "drive"  # keep the old path; it waits and retries
            return
        if path is not None:
            self.counts["replans"] += 1
            self._replan = None
            self._set_path(path)

    def _finish_leg(self, now: float) -> None:
        leg = self.leg
        assert leg is not None
        self.counts["legs_done"] += 1
        if leg.kind == "pick":
            self.counts["picks_done"] += 1
            self._report("picked", leg, now)
        elif leg.kind == "pack":
            self.counts["orders_done"] += 1
            self._report("packed", leg, now)
        self.leg, self.mode, self.path = None, "idle", []
        if leg.kind == "park":
            self.mode = "parked"
        self._begin_next(now)

    def _report(self, event: str, leg: Leg, now: float, **extra: Any) -> None:
        pos = None if self.pose is None else (float(self.pose[0]), float(self.pose[1]))
        self.outbox.put({"robot": self.robot.name, "event": event, "order": leg.order, "time": now,
                         "position": pos, **extra})

    # ------------------------------------------------------------------ outputs
    def _show(self, state: str) -> None:
        goal = None if self.leg is None else self.leg.goal
        order = None if self.leg is None else self.leg.order
        self.visual = {"path": self.path, "goal": goal, "state": state, "order": order}

    def status(self) -> dict[str, Any]:
        return {**self.counts, "distance_estimate": round(self.fuser.distance, 3),
                "max_blocked_s": round(self.max_blocked, 3), "priority": self.priority}


def _pt(value: Any) -> Point:
    return float(value[0]), float(value[1])
