"""Inside a robot host process: the robots' controllers and queues, fed by the world through rings.

The world process forks a host after building and warming up the run, so the host starts with the
controllers, sensor queues and compute hooks already built (and every module imported: the pages are
shared with the world until written). What it runs, all on its own GIL:

- per ring of readings (one per sensor kind the world samples for these robots) a **driver thread**:
  it receives each reading as the world sampled it and puts it into the robot's bounded queue at its
  publish instant (sample time + latency), as the producer thread does in a shared run;
- per robot the **controller thread** (``ControllerTask.run``, unchanged): its commands, cycles and
  the notes it sends the world (its ``outbox``) go back on one ring;
- an **events thread** for the world's ``handle_event`` calls (scenario events, orders, faults);
- a **heartbeat thread** writing the time into shared memory every 100 ms: a host stuck in a C call
  that holds its GIL stops writing, and the world kills it (``run.host_silence_limit``);
- a watchdog over its plugin calls (``run.call_limit``), as in the world.

The main thread serves the control pipe: ``start`` (the clock origin), ``stop`` (drain or not). At
the stop it sends its statistics back once (``HostFinal``, pickled) and leaves with ``os._exit``: a
forked copy of the world must not run the world's exit handlers (they would remove its files).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import pickle
import queue
import sys
import threading
import time
import traceback
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, NoReturn

from sim.common.interrupt import child_ignores
from sim.common.lifeline import die_with_parent
from sim.core.clock import RealClock
from sim.core.control import ControllerTask, Cycle
from sim.core.handle import ThreadInfo
from sim.core.supervisor import Failure, Supervisor
from sim.core.virtual import VirtualClock
from sim.core.watchdog import Slot, Stuck, Watchdog
from sim.core.wire import decode_batch, encode_command, encode_cycle, encode_note, encode_visual
from sim.interfaces.messages import Command
from sim.runtime.hostgate import LockstepHost
from sim.runtime.hostplan import Feed, HostFinal, HostPlan, World
from sim.runtime.limits import END_DRAIN_TIMEOUT, SHUTDOWN_TIMEOUT

if TYPE_CHECKING:
    pass


HEARTBEAT = 0.1  # s real between heartbeats (the world's limit is seconds: run.host_silence_limit)
VISUAL_PERIOD = 0.2  # s simulated between two copies of a controller's ``visual`` sent to the world (the window)
SLICE = 0.05  # s real: the longest a driver waits before it looks at the stop flag
IDLE = 0.2  # s real: the same for the events thread (events are rare; a stop is seen well within 1 s)


def host_main(run: World, plan: HostPlan, world_pid: int) -> NoReturn:
    """The forked child's whole life; never returns."""
    code = 0
    try:
        code = _Host(run, plan, world_pid).serve()
    except BaseException:  # the host's own machinery failed: say so on stderr, exit non-zero
        traceback.print_exc()
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Outbox:
    """A controller's ``outbox`` in a host: each message goes to the world as a note."""

    def __init__(self, host: _Host, index: int) -> None:
        self.host, self.index = host, index

    def put(self, msg: object, block: bool = True, timeout: float | None = None) -> None:
        self.host.send_up(encode_note(self.index, (self.host.clock.now(), msg)))  # the world's StepOutbox gates it

    put_nowait = put


class _Host(LockstepHost):
    def __init__(self, run: World, plan: HostPlan, world_pid: int) -> None:
        die_with_parent(world_pid)  # a SIGKILLed world runs no clean-up: its hosts must not outlive it
        child_ignores()  # the world ends hosts (pipe, or SIGKILL); Ctrl-C at the terminal reaches the world only
        self.run, self.plan = run, plan
        assert plan.conn is not None
        self.conn = plan.conn
        world_clock = run.clock  # a copy of the world's, made by the fork
        self.virtual = isinstance(world_clock, VirtualClock)
        if isinstance(world_clock, VirtualClock):  # lockstep with the world: see _gate
            world_clock.fork_copy(host_cpu(plan.number))
        else:
            assert isinstance(world_clock, RealClock)
            world_clock.stop_event = threading.Event()  # a fresh one: nothing of the world's threads is carried over
        self.clock: RealClock | VirtualClock = world_clock
        self._stop_drain: bool | None = None  # the stop's drain flag, when the gate received it
        self._send_lock = threading.Lock()  # the control pipe: several threads may report
        self._up_lock = threading.Lock()  # the uplink ring has one producer at a time
        self.failures: list[Failure] = []
        self.supervisor = Supervisor(self._on_failure, self._describe)
        run.supervisor = self.supervisor  # status() failures (Run._controller_status) land here
        self.watchdog = Watchdog(run.call_limit, self._on_stuck)
        self.stuck: list[Stuck] = []
        self.tasks: dict[int, ControllerTask] = {i: run.controllers[i] for i in plan.robots}
        self.slots: dict[str, Slot] = {}
        for index, task in self.tasks.items():
            task.submit = self._submit
            task.on_cycle = self._cycle_sender(index)
            if hasattr(task.controller, "outbox"):
                task.controller.outbox = _Outbox(self, index)
            self.slots[task.slot.name] = task.slot
            self.watchdog.add(task.slot)
        self.events_slot = Slot("events", lambda call: f"handle_event({call[0]!r}) of robot {call[1].robot_name} "
                                f"({call[1].component}) at t={call[2]:.3f} s")
        self.slots["events"] = self.events_slot
        self.watchdog.add(self.events_slot)
        self.threads: list[ThreadInfo] = []
        self.controller_threads: list[threading.Thread] = []
        self.finished = threading.Event()
        self._loads: dict[str, threading.Event] = {}  # fault label -> its load threads' stop (_fault_load)

    # ------------------------------------------------------------------ wiring
    def send_up(self, data: bytes) -> None:
        with self._up_lock:
            self.plan.uplink.put(data)  # full: counted in the ring (the world reports it)

    def _submit(self, index: int, command: Command) -> None:
        self.send_up(encode_command(index, command))

    def _cycle_sender(self, index: int) -> Any:
        controller = self.tasks[index].controller
        last_visual = [-math.inf]

        def send(cycle: Cycle) -> None:
            self.send_up(encode_cycle(index, cycle))
            if cycle.finish_time - last_visual[0] >= VISUAL_PERIOD:  # the window draws the world's copy
                visual = getattr(controller, "visual", None)
                if visual is not None:
                    last_visual[0] = cycle.finish_time
                    self.send_up(encode_visual(index, visual))

        return send

    def _send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def _on_failure(self, failure: Failure) -> None:
        self.failures.append(failure)
        with contextlib.suppress(OSError):
            self._send(("failure", failure))
        if failure.fatal:
            self.finished.set()
            self.clock.request_stop()

    def _describe(self, thread: str) -> str | None:
        slot = self.slots.get(thread)
        return None if slot is None else slot.what()

    def _on_stuck(self, stuck: Stuck) -> None:
        """The watchdog found a call past its limit: kept for the report, and the stuck thread's failure."""
        self.stuck.append(stuck)
        self.supervisor.report_stuck(stuck)

    # ------------------------------------------------------------------ life
    def serve(self) -> int:
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        self.threads.append(ThreadInfo("heartbeat", "monitor", [self.plan.name]))
        self._send(("ready", os.getpid()))
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):  # the world is gone or closed the pipe: stop now
                self.clock.request_stop()
                return 0
            kind = msg[0]
            if kind == "start" and self.virtual:
                gate = self._start_virtual()
                gate.join()  # the gate reads the pipe from now on, until the stop
                self._stop(drain=bool(self._stop_drain))
                return 0
            if kind == "start":
                self._start(msg[1])
            elif kind == "stop":
                self._stop(drain=msg[1])
                return 0
            elif kind == "clock" and isinstance(real := self.clock, RealClock):  # the world paused, stepped, rescaled
                real.set_state(msg[1])
            elif kind in ("load", "unload"):
                self._fault_load(msg)

    def _heartbeat(self) -> None:
        beats, n = self.plan.heartbeat, self.plan.number
        while not self.finished.is_set():
            beats[n] = time.monotonic()
            time.sleep(HEARTBEAT)

    def _spawn(self, name: str, role: str, target: Any, serves: list[str]) -> threading.Thread:
        self.threads.append(ThreadInfo(name, role, serves))
        thread = self.supervisor.spawn(name, target)
        if name in self.slots:
            self.slots[name].ident = thread.ident
        return thread

    def _start(self, origin: float) -> None:
        sys.setswitchinterval(self.run.scenario.run.switch_interval)  # as the world's threads (Run.start)
        real = self.clock
        assert isinstance(real, RealClock)
        real.start_at(origin)
        self.supervisor.spawn("watchdog", lambda: self.watchdog.run(self.finished))
        sensors = self.run.sensors
        for feed in self.plan.feeds:
            self._spawn(f"driver:{feed.name}", "driver", lambda f=feed: self._drive(f),
                        [sensors[i].label for i in feed.sensors])
        self._spawn("events", "events", self._events, ["handle_event calls"])
        for task in self.tasks.values():
            self.controller_threads.append(
                self._spawn(f"controller:{task.robot_name}", "controller", task.run, [task.robot_name]))

    # ------------------------------------------------------------------ real time
    def _drive(self, feed: Feed) -> None:
        """Readings off the ring into their queues, each at its publish instant (a heap holds the early ones)."""
        clock, ring, end = self.clock, feed.ring, self.run.duration
        rts = [self.run.sensors[i] for i in feed.sensors]
        heap: list[tuple[float, int, int, int, float, object]] = []
        order = itertools.count()
        get, get_nowait, empty = ring.get, ring.get_nowait, queue.Empty
        while not clock.stopped:
            while heap:
                due = heap[0][0]
                if clock.real_seconds_until(due) > 0:
                    break
                _, _, slot, seq, sample_time, payload = heappop(heap)
                rts[slot].enqueue(seq, sample_time, clock.now(), payload)
            if not heap and clock.now() >= end:
                return
            wait = SLICE if not heap else min(max(clock.real_seconds_until(heap[0][0]), 0.0), SLICE)
            if 0 < wait < 0.001 and not len(ring):
                # poll() counts whole milliseconds (it would wake up to 1 ms late): the last bit asleep
                # instead; a reading arriving meanwhile is taken right after (at most this late).
                time.sleep(wait)
                continue
            try:
                # whole milliseconds, rounded down: the rest of the wait is the sleep above
                buf = get(math.floor(wait * 1000) / 1000) if wait >= 0.001 else get_nowait()
            except empty:
                continue
            while True:
                for slot, seq, sample_time, publish_time, payload in decode_batch(buf):
                    if publish_time < end:  # as in a shared run: nothing is published at or after the end
                        heappush(heap, (publish_time, next(order), slot, seq, sample_time, payload))
                try:
                    buf = get_nowait()
                except empty:
                    break

    def _events(self) -> None:
        clock, ring, slot = self.clock, self.plan.events, self.events_slot
        while not clock.stopped:
            try:
                buf = ring.get(IDLE)
            except queue.Empty:
                continue
            index, action, data, t = pickle.loads(buf)
            task = self.tasks[index]
            slot.call = (action, task, t)
            task.controller.handle_event(action, data)
            slot.call = None

    def _stop(self, drain: bool) -> None:
        """End every thread (after the cycles released before the end, if ``drain``), then report once."""
        if drain:
            self.supervisor.wait_for(self.controller_threads, END_DRAIN_TIMEOUT, self.finished)
        self.finished.set()
        self.clock.request_stop()
        alive = self.supervisor.join(SHUTDOWN_TIMEOUT / 2)
        final = HostFinal(hung=alive, stuck=self.stuck, threads=self.threads)
        for index, task in self.tasks.items():
            final.stats[index] = task.stats
            final.outcomes[index] = self.run.controller_status(task)
            final.last_commands[index] = task.last_command
            for rt in task.inputs.values():
                final.sensors[self.run.sensors.index(rt)] = (rt.stats.age_at_use, rt.stats.stale_uses,
                                                             rt.channel.stats)
        t = os.times()
        final.cpu_seconds = t.user + t.system
        final.private_rss = private_rss()
        final.counters = [dict(c) for c in self.run.host_counters]
        self._send(("final", final))

    # ------------------------------------------------------------------ faults on this robot's computer
    def _fault_load(self, msg: tuple[Any, ...]) -> None:
        """("load", label, end, counter, bodies): start a fault's load threads here, each ``body(done, counts,
        key)`` counting into ``run.host_counters[counter]``, until simulated ``end``, the stop or ("unload", label)."""
        if msg[0] == "unload":
            stop = self._loads.pop(msg[1], None)
            if stop is not None:
                stop.set()
            return
        _, label, end, counter, bodies = msg
        stop = self._loads[label] = threading.Event()
        clock, finished, counts = self.clock, self.finished, self.run.host_counters[counter]

        def done() -> bool:
            return stop.is_set() or finished.is_set() or clock.stopped or clock.now() >= end

        for name, key, body in bodies:
            self.threads.append(ThreadInfo(name, "fault", [label]))
            self.supervisor.spawn(name, functools.partial(body, done, counts, key))


def host_cpu(number: int) -> int | None:
    """The CPU host ``number`` pins its virtual-time threads to: the hosts spread over the CPUs allowed."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[number % len(cpus)] if cpus else None


def private_rss(pid: int | str = "self") -> int | None:
    """Bytes of memory only this process maps (Private_Clean + Private_Dirty of smaps_rollup); None off Linux."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total = 0
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
            return total
    except (OSError, ValueError):
        return None
