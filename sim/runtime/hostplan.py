"""What a robot host is given and gives back: the plan the world makes before the fork, the final statistics.

Shared by the world's side (``sim.runtime.hosts``) and the host's (``sim.runtime.hostproc``,
``sim.runtime.hostgate``), so neither imports the other for its types.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from sim.common.ring import Ring
from sim.core.channel import ChannelStats
from sim.core.control import ControllerStats, ControllerTask
from sim.core.handle import ThreadInfo
from sim.core.supervisor import Failure, Supervisor
from sim.core.watchdog import Stuck

if TYPE_CHECKING:
    from sim.core.clock import Clock
    from sim.core.producers import ProducerTask, SensorRuntime
    from sim.world.physics import Physics


class World(Protocol):
    """What robot hosts use of the world's run (``sim.runtime.run.Run``; named here so hosts do not import it)."""

    clock: Clock
    controllers: list[ControllerTask]
    sensors: list[SensorRuntime]
    producers: list[ProducerTask]
    duration: float
    scenario: Any
    supervisor: Supervisor
    call_limit: float | None
    physics: Physics
    finished: threading.Event
    threads: list[ThreadInfo]
    hung_threads: list[str]
    stuck_calls: list[Stuck]
    host_counters: list[dict[str, int]]  # fault tallies a host bumps too: its increments come back in HostFinal

    def report_failure(self, failure: Failure) -> None: ...

    def controller_status(self, task: ControllerTask) -> dict[str, Any]: ...


@dataclass
class Feed:
    """One ring of readings from the world: the sensors it carries (indices into ``Run.sensors``), in slot order."""

    name: str
    ring: Ring
    sensors: list[int]


@dataclass
class HostPlan:
    """What one host runs and how it talks to the world, made by the world before the fork."""

    name: str
    number: int
    robots: list[int]  # indices into Run.controllers
    feeds: list[Feed]
    events: Ring  # world -> host: handle_event calls
    uplink: Ring  # host -> world: commands, cycles, notes
    conn: Connection | None = None  # the host's end of the control pipe (set just before the fork)
    heartbeat: Any = None  # multiprocessing RawArray of doubles, one per host (time.monotonic())


@dataclass
class HostFinal:
    """What a host sends back once, at the stop."""

    stats: dict[int, ControllerStats] = field(default_factory=dict)  # robot index -> its statistics
    outcomes: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_commands: dict[int, tuple[float, float]] = field(default_factory=dict)
    # sensor index -> (age at use, stale uses, channel statistics)
    sensors: dict[int, tuple[Any, int, ChannelStats]] = field(default_factory=dict)
    threads: list[ThreadInfo] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)
    stuck: list[Stuck] = field(default_factory=list)
    cpu_seconds: float = 0.0
    private_rss: int | None = None
    counters: list[dict[str, int]] = field(default_factory=list)  # this host's copy of Run.host_counters
