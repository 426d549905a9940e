"""Warehouse orders: Poisson arrivals, a FIFO queue, nearest-idle assignment, outcome figures.

The dispatcher is a pair of simpy processes on the scenario timeline (simulated
time, paced by the run's clock; added through ``Run.timeline_hooks``). It runs
on the timeline thread, robots' controllers on their own threads, so they only
meet through thread-safe queues: the dispatcher calls
``controller.handle_event("assign_order", {...})`` (the warehouse controller
puts it on an inbox it drains in ``compute``) and reads progress messages from
``controller.outbox`` every ``poll_period``. The order stream has its own random
generator derived from the run seed, so arrivals and choices repeat exactly
for a seed whatever the robots do.
"""

from __future__ import annotations

import math
import queue
from collections import deque
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import simpy
from pydantic import BaseModel, ConfigDict, Field

from sim.common.streams import stream
from sim.core.feature import Feature
from sim.errors import format_value

if TYPE_CHECKING:
    from sim.core.handle import RunHandle

__all__ = ["Dispatcher", "Order", "OrdersFeature", "OrdersSpec", "RobotLink"]

ORDER_LOG_LIMIT = 1000  # orders listed one by one in the report


class OrdersSpec(BaseModel):
    """The ``orders:`` section of a scenario: how orders arrive and how long handling takes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rate_per_hour: float = Field(120.0, ge=0, le=1e6, description="Mean order arrivals per hour "
                                 "(Poisson process; 0 = only initial_orders). Unit: 1/h. Default: 120.")
    pick_time: float = Field(5.0, ge=0, le=3600, description="Time a robot stands at the pick place. "
                             "Unit: s. Default: 5.")
    pack_time: float = Field(8.0, ge=0, le=3600, description="Time a robot stands at the packing place. "
                             "Unit: s. Default: 8.")
    seed_offset: int = Field(0, ge=0, description="The order stream's random generator is seeded from "
                             "(run.seed, seed_offset): change it for other orders with the same robots' "
                             "noise. Default: 0.")
    initial_orders: int = Field(0, ge=0, le=100000, description="Orders already waiting at t = 0. "
                                "Default: 0.")
    first_at: float = Field(0.0, ge=0, le=86400, description="No Poisson arrival before this time. "
                            "Unit: s. Default: 0.")
    max_orders: int | None = Field(None, ge=0, description="Stop creating orders after this many "
                                   "(initial ones included); null = no limit. Default: null.")
    max_pending: int = Field(50, ge=1, le=100000, description="Orders that may wait for a robot; an "
                             "arrival beyond this is rejected and counted. Default: 50.")
    poll_period: float = Field(0.1, gt=0, le=10, description="How often the dispatcher reads the "
                               "robots' progress and assigns waiting orders. Unit: s. Default: 0.1.")
    pick_places: list[str] = Field([], description="Place names orders pick from; empty = every "
                                   "place of kind pick. Default: [].")
    packing_places: list[str] = Field([], description="Place names orders are packed at; empty = "
                                      "every place of kind packing. Default: [].")
    parking_places: list[str] = Field([], description="Homes robots park at when idle, given out "
                                      "nearest-first in robot order; empty = every parking and "
                                      "charging place. Default: [].")

    def problems(self, places: dict[str, str]) -> list[tuple[tuple[str | int, ...], str]]:
        """(location inside ``orders``, message) for every inconsistency with the map's places."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for key, kinds in (("pick_places", ("pick",)), ("packing_places", ("packing",)),
                           ("parking_places", ("parking", "charging"))):
            names: list[str] = getattr(self, key)
            for k, name in enumerate(names):
                if name not in places:
                    out.append(((key, k), f"orders.{key} names unknown place {format_value(name)}"))
                elif places[name] not in kinds:
                    out.append(((key, k), f"place {format_value(name)} is a {places[name]} place, "
                                f"not {' or '.join(kinds)}"))
            if not names and key != "parking_places" and not any(v in kinds for v in places.values()):
                out.append(((), f"orders need at least one place of kind {kinds[0]} in world.places"))
        return out


class OrderTaker(Protocol):
    """What the dispatcher needs from a controller that takes orders."""

    outbox: queue.SimpleQueue[dict[str, Any]]

    def handle_event(self, action: str, data: dict[str, Any]) -> None: ...


@dataclass
class RobotLink:
    """The dispatcher's view of one robot: its mailbox and last reported position."""

    name: str
    controller: OrderTaker
    position: tuple[float, float]
    order: str | None = None  # None = idle


@dataclass
class Order:
    """One order's life, in simulated seconds."""

    id: str
    pick: str
    pack: str
    created: float
    robot: str | None = None
    assigned: float | None = None
    picked: float | None = None
    packed: float | None = None
    failed: str | None = None


class Dispatcher:
    """Creates orders, queues them FIFO, gives each to the nearest idle robot, tracks them."""

    def __init__(self, spec: OrdersSpec, places: dict[str, tuple[str, float, float, float]],
                 robots: list[RobotLink], seed: int) -> None:
        self.spec = spec
        self.places = places
        self.robots = robots
        self.rng = stream(int(seed), "orders", str(spec.seed_offset))  # sim.common.streams: a named stream
        self.picks = list(spec.pick_places) or sorted(n for n, p in places.items() if p[0] == "pick")
        self.packs = list(spec.packing_places) or sorted(n for n, p in places.items() if p[0] == "packing")
        self.orders: list[Order] = []
        self.by_id: dict[str, Order] = {}
        self.pending: deque[Order] = deque()
        self.rejected = 0
        self.homes = self._homes()

    @classmethod
    def for_run(cls, run: RunHandle) -> Dispatcher:
        """The dispatcher for a ``sim.runtime.run.Run``: every robot whose controller accepts orders."""
        links = [RobotLink(t.robot_name, cast(OrderTaker, t.controller), t.controller.robot.start_pose[:2])
                 for t in run.controllers if getattr(t.controller, "accepts_orders", False)]
        return cls(run.scenario.orders, run.static.places, links, run.scenario.run.seed)

    def _homes(self) -> dict[str, str]:
        """Each robot's parking place: the nearest one not yet taken, in robot order."""
        names = list(self.spec.parking_places) or sorted(
            n for n, p in self.places.items() if p[0] in ("parking", "charging"))
        free, homes = list(names), {}
        for link in self.robots:
            if not free:
                break
            best = min(free, key=lambda n: math.dist(link.position, self.places[n][1:3]))
            free.remove(best)
            homes[link.name] = best
        return homes

    # ------------------------------------------------------------------ simpy
    def attach(self, env: simpy.Environment, run: RunHandle | None = None) -> None:
        """Timeline hook ``hook(env, run)``: send homes, start the arrival and poll processes."""
        for link in self.robots:
            if (home := self.homes.get(link.name)) is not None:
                _, x, y, _ = self.places[home]
                link.controller.handle_event("set_home", {"place": home, "position": [x, y]})
        env.process(self._arrivals(env))
        env.process(self._poll(env))

    def _arrivals(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        spec = self.spec
        for _ in range(spec.initial_orders):
            if not self._may_create():
                return
            self._create(env.now)
        if spec.rate_per_hour <= 0:
            return
        if spec.first_at > 0:
            yield env.timeout(spec.first_at)
        mean_gap = 3600.0 / spec.rate_per_hour
        while self._may_create():
            yield env.timeout(float(self.rng.exponential(mean_gap)))
            self._create(env.now)

    def _poll(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        while True:
            self.collect()
            self.assign(env.now)
            yield env.timeout(self.spec.poll_period)

    # ------------------------------------------------------------------ logic
    def _may_create(self) -> bool:
        return self.spec.max_orders is None or len(self.orders) + self.rejected < self.spec.max_orders

    def _create(self, now: float) -> None:
        n = len(self.orders) + self.rejected
        pick = self.picks[int(self.rng.integers(len(self.picks)))] if self.picks else ""
        pack = self.packs[int(self.rng.integers(len(self.packs)))] if self.packs else ""
        if len(self.pending) >= self.spec.max_pending or not (pick and pack):
            self.rejected += 1
            return
        order = Order(f"o{n + 1}", pick, pack, now)
        self.orders.append(order)
        self.by_id[order.id] = order
        self.pending.append(order)

    def collect(self) -> None:
        """Read every robot's progress messages (thread-safe queues) and update the orders."""
        for link in self.robots:
            box = link.controller.outbox
            while True:
                try:
                    msg = box.get_nowait()
                except queue.Empty:
                    break
                if msg.get("position") is not None:
                    link.position = (float(msg["position"][0]), float(msg["position"][1]))
                order = self.by_id.get(str(msg.get("order")))
                if order is None:
                    continue
                event, t = msg.get("event"), float(msg.get("time", 0.0))
                if event == "picked":
                    order.picked = t
                elif event == "packed":
                    order.packed = t
                elif event == "failed":
                    order.failed = str(msg.get("reason", "failed"))
                if event in ("packed", "failed") and link.order == order.id:
                    link.order = None

    def assign(self, now: float) -> None:
        """Oldest waiting order first, to the idle robot nearest its pick place."""
        while self.pending:
            idle = [link for link in self.robots if link.order is None]
            if not idle:
                return
            order = self.pending.popleft()
            _, px, py, _ = self.places[order.pick]
            link = min(idle, key=lambda r: math.dist(r.position, (px, py)))
            link.order, order.robot, order.assigned = order.id, link.name, now
            _, kx, ky, _ = self.places[order.pack]
            link.controller.handle_event("assign_order", {
                "order": order.id, "pick_place": order.pick, "pick": [px, py], "pick_time": self.spec.pick_time,
                "pack_place": order.pack, "pack": [kx, ky], "pack_time": self.spec.pack_time,
            })

    # ------------------------------------------------------------------ figures
    def outcomes(self, sim_seconds: float) -> dict[str, Any]:
        """Order counts and times for the report (simulated seconds)."""
        done = [o for o in self.orders if o.packed is not None]
        service = [o.packed - o.assigned for o in done if o.packed is not None and o.assigned is not None]
        total = [o.packed - o.created for o in done if o.packed is not None]
        return {
            "created": len(self.orders),
            "rejected": self.rejected,
            "assigned": sum(o.assigned is not None for o in self.orders),
            "completed": len(done),
            "failed": sum(o.failed is not None for o in self.orders),
            "pending_at_end": len(self.pending),
            "in_progress_at_end": sum(o.assigned is not None and o.packed is None and o.failed is None
                                      for o in self.orders),
            "assigned_to_packed": _times(service),
            "created_to_packed": _times(total),
            "orders_per_hour": len(done) / sim_seconds * 3600.0 if sim_seconds > 0 else 0.0,
            "homes": {link.name: self.homes.get(link.name) for link in self.robots},
            "orders": [asdict(o) for o in self.orders[:ORDER_LOG_LIMIT]],
        }


class OrdersFeature(Feature):
    """A scenario's ``orders:`` on a run: its dispatcher, as ``run.orders``, on the run's timeline."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None

    def attach(self, run: RunHandle) -> None:
        self.dispatcher = Dispatcher.for_run(run)
        run.orders = self.dispatcher
        run.timeline_hooks.append(self.dispatcher.attach)


def _times(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p95": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "p95": float(np.percentile(a, 95)), "max": float(a.max())}
