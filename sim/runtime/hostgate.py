"""A robot host under virtual time: its gate, and the drivers and events that run on its own virtual clock.

The host's half of the lockstep (docs/hosts.md, "Virtual time across processes"; the world's half is
``sim.runtime.lockstep``): a ``gate`` participant goes first at every instant of the host's clock; at a
step boundary it reports the step done with the host's next release (lookahead), waits in real time
for the world's next step holding the token (nothing of the host moves meanwhile), pulls the readings
and events the world sent into heaps, and lets the host's threads run up to the boundary: drivers put
each reading into its queue at its publish instant, controllers run their cycles, the events thread
calls ``handle_event`` at the event's instant, in that order at any one instant.
"""

from __future__ import annotations

import functools
import itertools
import math
import pickle
import sys
import threading
from collections.abc import Callable
from heapq import heappop, heappush
from multiprocessing.connection import Connection
from typing import Any

from sim.core.control import ControllerTask
from sim.core.handle import ThreadInfo
from sim.core.supervisor import Supervisor
from sim.core.watchdog import Slot, Watchdog
from sim.core.wire import decode_batch
from sim.runtime.hostplan import HostPlan, World


class LockstepHost:
    """The virtual-time part of a robot host (``sim.runtime.hostproc._Host`` is one)."""

    # what the host has (set by sim.runtime.hostproc._Host)
    run: World
    plan: HostPlan
    conn: Connection
    clock: Any  # a VirtualClock here
    tasks: dict[int, ControllerTask]
    supervisor: Supervisor
    watchdog: Watchdog
    finished: threading.Event
    controller_threads: list[threading.Thread]
    events_slot: Slot
    threads: list[ThreadInfo]
    _stop_drain: bool | None

    def _spawn(self, name: str, role: str, target: Any, serves: list[str]) -> threading.Thread:
        raise NotImplementedError

    def _send(self, msg: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _fault_load(self, msg: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _start_virtual(self) -> threading.Thread:
        sys.setswitchinterval(self.run.scenario.run.switch_interval)  # as the world's threads (Run.start)
        """The host's threads on its virtual clock: the gate first at any instant, then drivers, controllers, events."""
        clock = self.clock
        self.supervisor.spawn("watchdog", lambda: self.watchdog.run(self.finished))
        sensors = self.run.sensors
        self._heaps: list[list[tuple[float, int, int, int, float, object]]] = [[] for _ in self.plan.feeds]
        self._signals = [clock.signal() for _ in self.plan.feeds]
        self._event_heap: list[tuple[float, int, int, str, dict[str, Any]]] = []
        self._event_signal = clock.signal()
        self._order = itertools.count()
        gate = self._spawn("gate", "lockstep", clock.participant("gate", -1, self._gate), [self.plan.name])
        for k, feed in enumerate(self.plan.feeds):
            name = f"driver:{feed.name}"
            self._spawn(name, "driver", clock.participant(name, 1, functools.partial(self._drive_virtual, k)),
                        [sensors[i].label for i in feed.sensors])
        for task in self.tasks.values():
            name = f"controller:{task.robot_name}"
            self.controller_threads.append(self._spawn(name, "controller", clock.participant(name, 2, task.run),
                                                       [task.robot_name]))
        self._spawn("events", "events", clock.participant("events", 3, self._events_virtual), ["handle_event calls"])
        clock.begin()
        return gate

    def _gate(self) -> None:
        """Holds the token at every step boundary: report the step done, wait for the world's next one, pull its input.

        Between two boundaries the host's threads run on their own (in parallel with the other hosts);
        the world runs while every host waits here. ``conn.recv`` blocks in real time holding the token,
        so nothing of this host moves meanwhile.
        """
        clock, conn = self.clock, self.conn
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._stop_drain = False
                return
            if msg[0] == "stop":
                self._stop_drain = msg[1]
                return
            if msg[0] in ("load", "unload"):
                self._fault_load(msg)
                continue
            until = msg[1]
            self._pull()
            if not clock.sleep_until(until):
                self._stop_drain = False
                return
            # lookahead: nothing of this host happens before its next release (inf: its controllers ended)
            self._send(("reached", until, min((t.pending_release for t in self.tasks.values()), default=math.inf)))

    def _pull(self) -> None:
        """Everything the world sent for this step: readings to their drivers' heaps, events to the events heap."""
        order = self._order
        for k, feed in enumerate(self.plan.feeds):
            heap, got, ring = self._heaps[k], False, feed.ring
            while len(ring):
                buf = ring.get_nowait()
                for slot, seq, sample_time, publish_time, payload in decode_batch(buf):
                    if publish_time < self.run.duration:
                        heappush(heap, (publish_time, next(order), slot, seq, sample_time, payload))
                        got = True
            if got:
                self._signals[k].notify()
        got, events = False, self.plan.events
        while len(events):
            index, action, data, t = pickle.loads(events.get_nowait())
            heappush(self._event_heap, (t, next(order), index, action, data))
            got = True
        if got:
            self._event_signal.notify()

    def _drive_virtual(self, k: int) -> None:
        """Put each reading into its queue at its publish instant (as the world's producer does in a shared run)."""
        rts = [self.run.sensors[i] for i in self.plan.feeds[k].sensors]

        def put(item: tuple[Any, ...], now: float) -> None:
            _, _, slot, seq, sample_time, payload = item
            rts[slot].enqueue(seq, sample_time, now, payload)

        self._at_their_instants(self._heaps[k], self._signals[k], put)

    def _events_virtual(self) -> None:
        """Call each ``handle_event`` at the event's instant, as the world's timeline does in a shared run."""
        slot = self.events_slot

        def call(item: tuple[Any, ...], now: float) -> None:
            t, _, index, action, data = item
            task = self.tasks[index]
            slot.call = (action, task, t)
            task.controller.handle_event(action, data)
            slot.call = None

        self._at_their_instants(self._event_heap, self._event_signal, call)

    def _at_their_instants(self, heap: list[Any], signal_: Any, act: Callable[[tuple[Any, ...], float], None]) -> None:
        """Act on each heap item (its instant first) when the clock reaches it; sleep until the next one, or until
        the gate pulls new items in (``signal_``); end at the run's end."""
        clock, end = self.clock, self.run.duration
        while not clock.stopped:
            now = clock.now()
            while heap and heap[0][0] <= now:
                act(heappop(heap), now)
            if now >= end and not heap:
                return
            signal_.wait_until(signal_.version(), heap[0][0] if heap else end)
