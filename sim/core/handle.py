"""What a feature or listener may use of a running scenario: the ``RunHandle`` protocol.

``sim.runtime.run.Run`` is the implementation; features sit below the runtime in the
layer contract (pyproject.toml), so they name this protocol instead of importing it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import simpy

    from sim.core.clock import Clock
    from sim.core.control import ControllerTask
    from sim.core.listeners import RunListener
    from sim.core.physicstask import PhysicsTask
    from sim.core.producers import ProducerTask, SensorRuntime
    from sim.core.supervisor import Supervisor
    from sim.world.model import Bodies, StaticMap
    from sim.world.physics import Physics


@dataclass
class ThreadInfo:
    """One thread of a run, as the report lists it."""

    name: str
    role: str  # physics | producer | controller | timeline | fault | monitor
    serves: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostInfo:
    """One process that runs robots' software: ``main`` (hosts: shared) or a robot host process."""

    name: str  # "main", or "host-1", "host-2", ...
    pid: int
    robots: tuple[str, ...]
    # Known once the run stopped (robot hosts only): CPU seconds (user + system), memory the process
    # did not share with the world process (private RSS, bytes), and how it ended.
    cpu_seconds: float | None = None
    private_rss: int | None = None
    ended: str | None = None  # "exit 0", "exit 3", "killed by SIGKILL", ...


class HasPath(Protocol):
    """A file a run writes (the cycle log)."""

    @property
    def path(self) -> Path: ...


class OrderOutcomes(Protocol):
    """The order dispatcher as the report reads it (sim.features.orders)."""

    def outcomes(self, sim_seconds: float) -> dict[str, Any]:
        """The ``outcomes.orders`` figures at ``sim_seconds``."""


TimelineHook = Callable[["simpy.Environment", "RunHandle"], None]
# A load thread's body in a robot host: body(done, counters, key), counting its work in counters[key].
HostBody = tuple[str, str, Callable[[Callable[[], bool], dict[str, int], str], None]]


class RunHandle(Protocol):
    """The parts of a run that features, listeners and report sections read or extend."""

    scenario: Any  # sim.scenario.load.Scenario: a layer above, so not named here
    out_dir: Path
    duration: float
    clock: Clock
    finished: threading.Event
    supervisor: Supervisor
    sensors: list[SensorRuntime]
    controllers: list[ControllerTask]
    producers: list[ProducerTask]
    physics: Physics
    physics_task: PhysicsTask
    bodies: Bodies
    static: StaticMap
    threads: list[ThreadInfo]
    timeline_log: list[tuple[float, str]]
    timeline_hooks: list[TimelineHook]
    listeners: list[RunListener]
    @property
    def cycle_log(self) -> HasPath: ...
    orders: OrderOutcomes | None  # set by the orders feature when the scenario has ``orders:``
    sim_seconds: float
    wall_seconds: float

    def host_processes(self) -> list[HostInfo]:
        """Where the robots' software runs: one entry per process (after ``start``; before it, ``main`` only)."""

    def add_listener(self, listener: RunListener) -> None:
        """Observe the run (before it starts)."""

    def kill_worker(self, index: int) -> None:
        """SIGKILL physics worker process ``index``."""

    # Robot hosts (run.hosts other than shared): code that must run on a robot's own computer.
    host_counters: list[dict[str, int]]
    """Counters (a fault window's ``work``) that code forked into a robot host may bump: register one
    before ``start``; at the stop each host's increments are added back here (else they stay in the host)."""

    def robot_host(self, robot: str) -> str | None:
        """The robot host process running ``robot``'s software ("host-1", ...); None if it runs in this process."""

    def start_in_host(self, robot: str, label: str, end: float, counters: dict[str, int],
                      bodies: list[HostBody]) -> None:
        """Run each ``(thread, key, body)`` of ``bodies`` as a supervised thread of ``robot``'s host:
        ``body(done, counters, key)``, ``done()`` true once simulated time reaches ``end``, the run stops or
        ``stop_in_host(robot, label)`` is called; ``counters`` must be registered in ``host_counters``."""

    def stop_in_host(self, robot: str, label: str) -> None:
        """End the threads ``start_in_host(robot, label, ...)`` started (they see ``done()``)."""

    def kill_host(self, robot: str) -> str:
        """SIGKILL the robot host process running ``robot``; what was killed, in words."""
