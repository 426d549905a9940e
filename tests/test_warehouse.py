"""The warehouse controller: planning on the warehouse map, following, avoidance, right of way.

Closed-loop tests step physics, the real sensors and the controllers in one
thread (no clock, no threads), so every run is exactly repeatable and the
assertions are on what happened, never on how fast. Obstacles the controller
does not know are put in the true world only (physics and lidar), never in the
map the controller plans on.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from controllers.base import Inputs
from controllers.navgrid import shared_grid
from controllers.planning import NoPathError, plan
from controllers.warehouse import WarehouseController, WarehouseParams
from sensors.base import Reading, RobotInfo
from sensors.lidar import LaserScan, Lidar, LidarParams
from sensors.localization import Localization, LocalizationParams
from sensors.odometry import Odometry, OdometryParams
from sim.common.geometry import point_segment_distance
from sim.scenario.load import load_scenario
from sim.scenario.models import World
from sim.world.model import Bodies, StaticMap
from sim.world.physics import Command, Physics

ROOT = Path(__file__).resolve().parents[1]
RADIUS = 0.3


def static_map(size: tuple[float, float], boxes: list[list[float]] = ()) -> StaticMap:
    obstacles = [{"kind": "other", "rect": list(b)} for b in boxes]
    return StaticMap.from_scenario(World.model_validate({"size": list(size), "obstacles": obstacles}))


class Harness:
    """Physics + lidar/odometry/localization + warehouse controllers, stepped in one thread at 20 Hz."""

    def __init__(self, true_map: StaticMap, known_map: StaticMap, starts: list[tuple[float, float, float]],
                 seed: int = 0, **params: Any) -> None:
        n = len(starts)
        bodies = [SimpleNamespace(name=f"r{i}", radius=RADIUS, max_speed=1.2, max_accel=1.0, max_yaw_rate=2.0,
                                  max_yaw_accel=4.0, wheel_base=0.45) for i in range(n)]
        self.physics = Physics(true_map, Bodies.from_robots(bodies), np.array(starts, dtype=float), 0.01)
        infos = [RobotInfo(i, f"r{i}", RADIUS, 1.2, 1.0, 2.0, 0.45, starts[i]) for i in range(n)]
        rng = np.random.default_rng(seed)
        self.lidars = [Lidar("lidar", r, LidarParams(), rng, true_map) for r in infos]
        self.odoms = [Odometry("odometry", r, OdometryParams(), rng, true_map) for r in infos]
        self.locs = [Localization("localization", r, LocalizationParams(), rng, true_map) for r in infos]
        kinds = {"lidar": "lidar", "odometry": "odometry", "localization": "localization"}
        self.ctl = [WarehouseController(WarehouseParams(**params), r, known_map, kinds, rng) for r in infos]
        self.readings: list[dict[str, Reading | None]] = [dict.fromkeys(kinds) for _ in infos]
        self.k = 0
        self.states: list[list[str]] = [[] for _ in infos]
        self.commands: list[list[tuple[float, float]]] = [[] for _ in infos]
        self.min_gap = math.inf  # smallest body-to-body or body-to-map distance seen (m)

    def step(self) -> None:
        for _ in range(5):
            self.physics.step()
        snap = self.physics.snapshot
        t = snap.time
        slow = self.k % 2 == 0  # lidar and localization at 10 Hz
        scans = Lidar.sample_many(self.lidars, snap) if slow else None  # type: ignore[arg-type]
        for i, ctl in enumerate(self.ctl):
            r = self.readings[i]
            fresh = {"odometry": True, "lidar": slow, "localization": slow}
            r["odometry"] = Reading(ctl.robot.name, "odometry", self.k, t, t, self.odoms[i].sample(snap))
            if slow:
                assert scans is not None
                r["lidar"] = Reading(ctl.robot.name, "lidar", self.k, t, t, scans[i])
                r["localization"] = Reading(ctl.robot.name, "localization", self.k, t, t, self.locs[i].sample(snap))
            v, w = ctl.compute(Inputs(t, dict(r), fresh))
            self.physics.submit(i, Command(v, w, t))
            self.states[i].append(ctl.visual["state"])
            self.commands[i].append((v, w))
        pose = snap.pose[:, :2]
        if len(pose) > 1:
            d = np.linalg.norm(pose[:, None] - pose[None, :], axis=2) + np.eye(len(pose)) * 1e9
            self.min_gap = min(self.min_gap, float(d.min()) - 2 * RADIUS)
        segs = self.physics.static.segments
        self.min_gap = min(self.min_gap, float(point_segment_distance(pose, segs).min()) - RADIUS)
        self.k += 1

    def run(self, seconds: float, until: Any = None) -> None:
        for _ in range(int(seconds / 0.05)):
            self.step()
            if until is not None and until(self):
                return

    def messages(self, i: int) -> list[dict[str, Any]]:
        out = []
        while not self.ctl[i].outbox.empty():
            out.append(self.ctl[i].outbox.get())
        return out


def order(pick: tuple[float, float], pack: tuple[float, float], name: str = "o1") -> dict[str, Any]:
    return {"order": name, "pick": list(pick), "pack": list(pack), "pick_time": 1.0, "pack_time": 1.0}


# ------------------------------------------------------------------ planning on the warehouse map
@pytest.fixture(scope="module")
def warehouse() -> StaticMap:
    return StaticMap.from_scenario(load_scenario(ROOT / "scenarios" / "warehouse.yaml").world)


def _sample(path: list[tuple[float, float]], step: float = 0.05) -> np.ndarray:
    pts = [np.asarray(path[0], dtype=float)]
    for a, b in itertools.pairwise(path):
        a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        n = max(1, math.ceil(float(np.hypot(*(b_ - a_))) / step))
        pts.extend(a_ + (b_ - a_) * (k / n) for k in range(1, n + 1))
    return np.array(pts)


def test_paths_from_every_home_to_every_place_clear_the_shelves(warehouse: StaticMap) -> None:
    inflate = RADIUS + WarehouseParams().margin
    grid = shared_grid(warehouse, inflate, 0.1)
    homes = [p[1:3] for p in warehouse.places.values() if p[0] in ("parking", "charging")]
    goals = [p[1:3] for p in warehouse.places.values() if p[0] in ("pick", "packing")]
    assert len(homes) >= 8 and len(goals) >= 24
    worst = math.inf
    for start, goal in itertools.product(homes, goals):
        path = plan(grid, start, goal)
        assert path[0] == pytest.approx(start) and path[-1] == pytest.approx(goal)
        clearance = point_segment_distance(_sample(path), warehouse.segments).min()
        worst = min(worst, float(clearance))
    assert worst >= inflate - 0.1 / math.sqrt(2) - 1e-9  # the grid's guarantee; > radius + 0.2


def test_unreachable_goals_are_refused_clearly(warehouse: StaticMap) -> None:
    grid = shared_grid(warehouse, RADIUS + 0.3, 0.1)
    with pytest.raises(NoPathError, match="inside an obstacle"):
        plan(grid, (1.5, 3.0), (15.0, 3.0))  # in the middle of rack A1
    with pytest.raises(NoPathError, match="outside"):
        plan(grid, (1.5, 3.0), (60.0, 3.0))
    boxed = static_map((20.0, 10.0), [[10.0, 4.0, 4.0, 0.2], [10.0, 7.8, 4.0, 0.2], [10.0, 4.0, 0.2, 4.0],
                                      [13.8, 4.0, 0.2, 4.0]])  # a closed pen
    with pytest.raises(NoPathError, match="not reachable"):
        plan(shared_grid(boxed, 0.6, 0.1), (2.0, 2.0), (12.0, 6.0))


def test_grid_is_built_once_per_map_and_inflation(warehouse: StaticMap) -> None:
    a = shared_grid(warehouse, 0.6, 0.1)
    assert shared_grid(warehouse, 0.6, 0.1) is a
    assert shared_grid(StaticMap.from_scenario(load_scenario(ROOT / "scenarios" / "warehouse.yaml").world),
                       0.6, 0.1) is a  # an equal map from another load shares it too
    assert shared_grid(warehouse, 0.7, 0.1) is not a
    info = RobotInfo(0, "r0", RADIUS, 1.2, 1.0, 2.0, 0.45, (1.5, 3.0, 0.0))
    ctl = WarehouseController(WarehouseParams(), info, warehouse, {}, np.random.default_rng(0))
    assert ctl.grid is a


# ------------------------------------------------------------------ closed loop
def test_delivers_an_order_in_the_warehouse(warehouse: StaticMap) -> None:
    places = warehouse.places
    h = Harness(warehouse, warehouse, [(1.5, 3.0, 0.0)])
    pick, pack = places["pick-B3-e"][1:3], places["pack-2"][1:3]
    h.ctl[0].handle_event("assign_order", order(pick, pack))
    h.run(120.0, until=lambda h: h.ctl[0].counts["orders_done"] == 1)
    events = [(m["event"], m["order"]) for m in h.messages(0)]
    assert events == [("picked", "o1"), ("packed", "o1")]
    assert h.physics.collisions.sum() == 0 and h.min_gap > 0.1
    assert math.dist(h.physics.pose[0, :2], pack) < 0.3  # it packed where it was sent
    status = h.ctl[0].status()
    assert status["distance_estimate"] == pytest.approx(h.physics.odometer[0], rel=0.05)
    h.run(60.0, until=lambda h: h.ctl[0].visual["state"] == "parked")
    assert h.ctl[0].visual["state"] == "parked"  # then it drives home
    assert math.dist(h.physics.pose[0, :2], (1.5, 3.0)) < 0.3


def test_stops_for_an_obstacle_it_does_not_know_then_goes_round() -> None:
    known = static_map((20.0, 4.0))
    true = static_map((20.0, 4.0), [[8.0, 1.4, 1.0, 1.2]])  # a crate across the middle of the corridor
    h = Harness(true, known, [(2.0, 2.0, 0.0)], replan_after=2.0)
    h.ctl[0].handle_event("set_waypoints", {"waypoints": [[16.0, 2.0]]})
    h.run(15.0, until=lambda h: h.ctl[0].counts["avoidance_stops"] > 0)
    assert h.ctl[0].visual["state"] == "wait" and h.commands[0][-1] == (0.0, 0.0)
    assert h.physics.pose[0, 0] < 8.0 - RADIUS  # stopped short of the crate
    h.run(40.0, until=lambda h: h.ctl[0].counts["legs_done"] >= 1)
    assert h.ctl[0].counts["replans"] >= 1  # went round it on a replanned path
    assert math.dist(h.physics.pose[0, :2], (16.0, 2.0)) < 0.3
    assert h.physics.collisions.sum() == 0 and h.min_gap > 0.1


def _scan_with_return_at(distance: float) -> LaserScan:
    angles = -math.pi + (2 * math.pi / 360) * np.arange(360)
    ranges = np.full(360, np.inf, dtype=np.float32)
    ranges[np.abs(angles) < 0.05] = distance
    return LaserScan(angles, ranges, 0.05, 10.0)


@pytest.mark.parametrize("distance, expect", [(0.5, "stop"), (0.69, "stop"), (1.0, "slow"), (8.0, "cruise")])
def test_synthetic_scan_obstacle_ahead(distance: float, expect: str) -> None:
    """One return dead ahead: stop within stop_distance (0.4 m beyond the body), slow nearer than ~2.5 m."""
    room = static_map((20.0, 6.0))
    info = RobotInfo(0, "r0", RADIUS, 1.2, 1.0, 2.0, 0.45, (2.0, 3.0, 0.0))
    ctl = WarehouseController(WarehouseParams(), info, room, {"lidar": "lidar", "localization": "localization"},
                              np.random.default_rng(0))
    ctl.handle_event("set_waypoints", {"waypoints": [[15.0, 3.0]]})
    v = w = math.nan
    for k in range(3):
        t = 0.05 * k
        readings = {"lidar": Reading("r0", "lidar", k, t, t, _scan_with_return_at(distance)),
                    "localization": Reading("r0", "localization", k, t, t, np.array([2.0, 3.0, 0.0]))}
        v, w = ctl.compute(Inputs(t, readings, {"lidar": True, "localization": True}))
    if expect == "stop":
        assert (v, w) == (0.0, 0.0) and ctl.visual["state"] == "wait"
    elif expect == "slow":
        assert 0.0 < v < 0.5 and ctl.visual["state"] == "slow"
    else:
        assert v == pytest.approx(1.0) and ctl.visual["state"] == "drive"


def test_head_on_in_a_corridor_lower_priority_gives_way() -> None:
    corridor = static_map((24.0, 4.0))
    h = Harness(corridor, corridor, [(2.0, 2.0, 0.0), (22.0, 2.0, math.pi)])
    h.ctl[0].handle_event("set_waypoints", {"waypoints": [[21.0, 2.0]]})
    h.ctl[1].handle_event("set_waypoints", {"waypoints": [[3.0, 2.0]]})
    h.run(90.0, until=lambda h: all(c.counts["legs_done"] >= 1 for c in h.ctl))
    assert all(c.counts["legs_done"] >= 1 for c in h.ctl)  # both got through: no deadlock
    assert h.physics.collisions.sum() == 0 and h.min_gap > 0.05
    first, second = h.ctl
    assert first.priority > second.priority
    assert second.counts["replans"] >= 1  # the lower-priority robot replanned round the other
    assert first.counts["replans"] <= second.counts["replans"]


def test_boxed_in_robot_counts_a_stuck_event_and_never_collides() -> None:
    room = static_map((12.0, 12.0))
    pen = [[4.5, 4.5, 3.0, 0.2], [4.5, 7.3, 3.0, 0.2], [4.5, 4.5, 0.2, 3.0], [7.3, 4.5, 0.2, 3.0]]
    h = Harness(static_map((12.0, 12.0), pen), room, [(6.0, 6.0, 0.0)], stuck_limit=6.0)
    h.ctl[0].handle_event("set_waypoints", {"waypoints": [[10.0, 6.0]]})
    h.run(20.0)
    status = h.ctl[0].status()
    assert status["stuck_events"] >= 1 and status["max_blocked_s"] >= 5.9
    assert h.physics.collisions.sum() == 0
    assert set(h.states[0][-20:]) <= {"wait", "replan", "backoff"}


def test_an_order_given_before_the_first_pose_is_picked_at_the_pick_place(warehouse: StaticMap) -> None:
    """The order reaches the controller's inbox before its first cycle: it plans once it has a pose
    (it used to run the leg with no path and report "picked" where it stood)."""
    places = warehouse.places
    h = Harness(warehouse, warehouse, [(1.5, 3.0, 0.0)])
    pick, pack = places["pick-B3-e"][1:3], places["pack-2"][1:3]
    h.ctl[0].handle_event("assign_order", order(pick, pack))
    h.run(120.0, until=lambda h: not h.ctl[0].outbox.empty())
    (first,) = h.messages(0)
    assert first["event"] == "picked"
    assert math.dist(h.physics.pose[0, :2], pick) < 0.3, "picked away from the pick place"
