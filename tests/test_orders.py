"""The order dispatcher, driven by simpy alone: no threads, no clock, exact simulated times."""

from __future__ import annotations

import math
import queue
from pathlib import Path
from typing import Any

import pytest
import simpy
from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.features.orders import Dispatcher, OrdersSpec, RobotLink
from sim.scenario.load import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
PLACES = {
    "pick-a": ("pick", 10.0, 2.0, 0.0),
    "pick-b": ("pick", 10.0, 8.0, 0.0),
    "pick-c": ("pick", 2.0, 8.0, 0.0),
    "pack-1": ("packing", 18.0, 5.0, 0.0),
    "pack-2": ("packing", 18.0, 9.0, 0.0),
    "park-1": ("parking", 1.0, 1.0, 0.0),
    "park-2": ("parking", 1.0, 9.0, 0.0),
}


class FakeRobot:
    """Stands in for a controller: takes orders, reports picked/packed after fixed times (simpy)."""

    def __init__(self, env: simpy.Environment, name: str, travel: float = 20.0) -> None:
        self.env = env
        self.name = name
        self.travel = travel
        self.outbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.events: list[tuple[float, str, dict[str, Any]]] = []

    def handle_event(self, action: str, data: dict[str, Any]) -> None:
        self.events.append((self.env.now, action, data))
        if action == "assign_order":
            self.env.process(self._work(data))

    def _work(self, order: dict[str, Any]):
        yield self.env.timeout(self.travel + order["pick_time"])
        self.outbox.put({"robot": self.name, "event": "picked", "order": order["order"], "time": self.env.now,
                         "position": order["pick"]})
        yield self.env.timeout(self.travel + order["pack_time"])
        self.outbox.put({"robot": self.name, "event": "packed", "order": order["order"], "time": self.env.now,
                         "position": order["pack"]})


def simulate(spec: OrdersSpec, seed: int, until: float = 600.0,
             starts: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.0, 9.0))) -> tuple[Dispatcher, list[FakeRobot]]:
    env = simpy.Environment()
    robots = [FakeRobot(env, f"r{i}") for i in range(len(starts))]
    links = [RobotLink(r.name, r, start) for r, start in zip(robots, starts, strict=True)]
    d = Dispatcher(spec, PLACES, links, seed)
    d.attach(env)
    env.run(until=until)
    return d, robots


def trace(d: Dispatcher) -> list[tuple[str, float, str, str, str | None, float | None]]:
    return [(o.id, o.created, o.pick, o.pack, o.robot, o.assigned) for o in d.orders]


def test_same_seed_same_orders_and_assignments() -> None:
    spec = OrdersSpec(rate_per_hour=240, initial_orders=2)
    a, _ = simulate(spec, seed=7)
    b, _ = simulate(spec, seed=7)
    assert len(a.orders) > 20
    assert trace(a) == trace(b)
    assert a.outcomes(600.0) == b.outcomes(600.0)


def test_other_seed_or_offset_gives_other_orders() -> None:
    base, _ = simulate(OrdersSpec(rate_per_hour=240), seed=7)
    other_seed, _ = simulate(OrdersSpec(rate_per_hour=240), seed=8)
    other_offset, _ = simulate(OrdersSpec(rate_per_hour=240, seed_offset=1), seed=7)
    times = [o.created for o in base.orders]
    assert times != [o.created for o in other_seed.orders]
    assert times != [o.created for o in other_offset.orders]


def test_poisson_rate_is_about_right() -> None:
    d, _ = simulate(OrdersSpec(rate_per_hour=3600, max_pending=100000), seed=3, until=3600.0,
                    starts=((1.0, 1.0),))
    assert 3300 < len(d.orders) + d.rejected < 3900  # mean 3600, std 60


def test_fifo_to_nearest_idle_robot() -> None:
    # Three orders at t=0, two robots: the first two go out at once, the third waits.
    d, _ = simulate(OrdersSpec(rate_per_hour=0, initial_orders=3), seed=1, until=0.05)
    first, second, third = d.orders
    starts = {"r0": (1.0, 1.0), "r1": (1.0, 9.0)}
    nearest = min(starts, key=lambda r: math.dist(starts[r], PLACES[first.pick][1:3]))
    assert first.robot == nearest and first.assigned == 0.0  # oldest order first, to the nearest robot
    assert second.robot == ({"r0", "r1"} - {nearest}).pop()  # the only idle one left
    assert third.robot is None and list(d.pending) == [third]


def test_orders_complete_and_robots_take_the_next() -> None:
    d, robots = simulate(OrdersSpec(rate_per_hour=0, initial_orders=3, pick_time=5.0, pack_time=8.0),
                         seed=1, until=200.0)
    out = d.outcomes(200.0)
    assert out["created"] == out["assigned"] == out["completed"] == 3
    assert out["pending_at_end"] == 0 and out["in_progress_at_end"] == 0
    # Fake robots take 20 + 5 + 20 + 8 = 53 s per order; polling adds at most one poll period.
    assert out["assigned_to_packed"]["mean"] == pytest.approx(53.0)
    third = d.orders[2]
    assert third.assigned == pytest.approx(53.1, abs=0.11)  # the first robot free again takes it
    assert third.packed - third.created == pytest.approx(53.0 + third.assigned)
    assert out["orders_per_hour"] == pytest.approx(3 / 200 * 3600)
    sent = [e for r in robots for e in r.events if e[1] == "set_home"]
    assert {e[2]["place"] for e in sent} == {"park-1", "park-2"}  # each robot its nearest free spot


def test_full_queue_rejects_and_max_orders_stops() -> None:
    d, _ = simulate(OrdersSpec(rate_per_hour=3600, max_pending=2, max_orders=30), seed=2, until=3600.0,
                    starts=((1.0, 1.0),))
    out = d.outcomes(3600.0)
    assert out["created"] + out["rejected"] == 30
    assert out["rejected"] > 0


def test_failed_order_frees_the_robot() -> None:
    env = simpy.Environment()
    robot = FakeRobot(env, "r0")
    d = Dispatcher(OrdersSpec(rate_per_hour=0, initial_orders=2), PLACES, [RobotLink("r0", robot, (1.0, 1.0))], 0)
    d.attach(env)
    env.run(until=0.05)
    robot.outbox.put({"robot": "r0", "event": "failed", "order": "o1", "time": 0.05, "reason": "no path"})
    env.run(until=0.3)
    assert d.orders[0].failed == "no path" and d.orders[1].robot == "r0"


def test_spec_forbids_unknown_keys_and_checks_places() -> None:
    with pytest.raises(ValidationError):
        OrdersSpec.model_validate({"rate_per_hr": 10})
    spec = OrdersSpec(pick_places=["pick-a", "nowhere"], packing_places=["park-1"])
    problems = spec.problems({k: v[0] for k, v in PLACES.items()})
    assert (("pick_places", 1), "orders.pick_places names unknown place 'nowhere'") in problems
    assert any(loc == ("packing_places", 0) and "parking place, not packing" in msg for loc, msg in problems)


def test_warehouse_scenario_has_orders() -> None:
    sc = load_scenario(ROOT / "scenarios" / "warehouse.yaml")
    assert sc.orders is not None and sc.orders.rate_per_hour > 0


BAD = """
world:
  size: [10, 10]
  places:
    - {name: p1, kind: pick, position: [5, 5]}
orders:
  rate_per_hour: 60
  packing_places: [pack-9]
robots:
  - {name: r1, start: [1, 1, 0], controller: {type: waypoint}}
"""


def test_scenario_error_points_at_the_orders_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BAD)
    err = info.value
    assert err.line == 8 and "pack-9" in str(err)
