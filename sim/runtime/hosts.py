"""Robot hosts, the world's side: deal the robots into processes, fork them, feed them, supervise them.

``run.hosts`` (docs/hosts.md): ``shared`` runs everything in the world process as before; ``per_robot``
or an integer N forks host processes (``sim.runtime.hostproc``) that run the robots' controllers and
queues, each on its own GIL, while the world process keeps physics, sensor sampling, the timeline and
every output. Between them, shared-memory rings (``sim.common.ring``), per host:

- one ring of readings per sensor kind (per world producer thread, so each ring has one writer):
  written at sample time, with the publish time; the host's driver thread publishes at that instant;
- one ring of ``handle_event`` calls (the timeline thread writes it);
- one uplink ring: commands (to physics), cycles (to the cycle log, trace, view ...), notes (the
  controller's outbox, read by the order dispatcher);
- a control pipe (start, stop, the final statistics) and a heartbeat slot in shared memory.

One thread of the world (``hosts``, role ``transport``) reads every uplink and watches every host: a
host that exits (its pidfd becomes readable) or stops heartbeating for ``run.host_silence_limit`` s
ends the run with a failure naming the host, its robots and how it ended (the silent one is killed).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import RawArray
from typing import Any, cast

from sim.common.interrupt import blocked
from sim.common.ring import Ring, RingWaiter
from sim.core.clock import RealClock
from sim.core.control import ControllerTask, Cycle
from sim.core.handle import HostBody, HostInfo
from sim.core.producers import Forwarded, SensorRuntime
from sim.core.supervisor import Failure
from sim.core.wire import COMMAND, CYCLE, NOTE, VISUAL, decode_command, decode_cycle, decode_note, encode_batch
from sim.errors import HostError
from sim.runtime.hostplan import Feed, HostFinal, HostPlan, World
from sim.runtime.hostproc import host_main
from sim.runtime.limits import END_DRAIN_TIMEOUT

READY_LIMIT = 30.0  # s real for every host to come up after the fork (a loaded machine forks slowly)
STOP_LIMIT = 0.7  # s real a host has to send its final statistics after the stop (then it is killed)
UPLINK_SLOT = 2048  # bytes: a command, a cycle (with its input ages) or a note (a pickled dict)
EVENT_SLOT = 16384  # bytes: one pickled handle_event call
BUFFER_SECONDS = 0.5  # s of readings (at the sensors' rates) a reading ring holds before it refuses more
# Lockstep: a host with nothing to do is not run at every step, but at least this often (s simulated), so its
# reading rings (BUFFER_SECONDS deep) never fill up while it waits.
SYNC_AT_LEAST = BUFFER_SECONDS / 2
MIRROR_EVERY = 8  # the world's running view of a hosted controller samples every 8th cycle's jitter and ages


def deal(hosts: str | int, robots: int) -> list[list[int]] | None:
    """The robot indices of each host process; None for ``shared`` (no hosts)."""
    if hosts == "shared" or robots == 0:
        return None
    n = robots if hosts == "per_robot" else min(int(hosts), robots)
    # contiguous blocks, sizes differing by at most one: robots listed together (a team) stay together
    base, extra = divmod(robots, n)
    out, i = [], 0
    for k in range(n):
        size = base + (1 if k < extra else 0)
        out.append(list(range(i, i + size)))
        i += size
    return out


class _Outlet:
    """One reading ring's sending end (``sim.core.producers.Outlet``): a sample instant's readings, one message."""

    def __init__(self, ring: Ring, slots: dict[int, int]) -> None:
        self.ring, self.slots = ring, slots

    def send(self, items: list[Forwarded]) -> list[Forwarded]:
        slots = self.slots
        msg = encode_batch([(slots[id(rt)], seq, t, p, payload) for rt, seq, t, p, payload in items])
        if len(msg) > self.ring.slot_size and len(items) > 1:  # larger than planned (a user's payload): halve
            half = len(items) // 2
            return self.send(items[:half]) + self.send(items[half:])
        return [] if self.ring.put(msg) else items


def _reading_size(rts: list[SensorRuntime]) -> int:
    """Bytes for the largest reading of these sensors: a scan's arrays, a small array, or a user's pickle."""
    size = 256
    for rt in rts:
        beams = getattr(rt.sensor.params, "beams", None)
        if isinstance(beams, int):
            size = max(size, 16 * beams + 512)  # angles (float64) and ranges (float32 or 64) + headers
        elif not type(rt.sensor).__module__.startswith("sensors."):
            size = max(size, 65536)  # a user's payload may be pickled: room for it
    return size


class HostSet:
    """Every robot host of one run, as the world process sees them."""

    def __init__(self, run: World, groups: list[list[int]]) -> None:
        self.run = run
        self.plans: list[HostPlan] = []
        self.pids: list[int] = []
        self.pidfds: list[int] = []
        self.conns: list[Connection] = []
        self._conn_locks: list[threading.Lock] = []  # one per pipe: the lockstep thread and stop() both use them
        self._readable: list[select.poll] = []  # one per pipe: is a message waiting?
        self.finals: dict[int, HostFinal] = {}
        self.ended: dict[int, str] = {}  # host number -> how it ended ("exit 0", "killed by SIGKILL")
        self.silenced: set[int] = set()
        self.closing = threading.Event()
        self._event_lock = threading.Lock()
        self.events_sent: set[int] = set()  # hosts sent an event since they last ran (lockstep: run them next step)
        self.poke = run.clock.signal()  # lockstep: an event was sent (the lockstep sleeps until a host is due)
        self.round_trips = 0  # lockstep: host steps run (for benchmarks)
        self.heartbeat = RawArray("d", len(groups))
        self.host_of: dict[int, int] = {}  # robot index -> host number
        producer_of = {id(rt): p for p in run.producers for rt in p.sensors}
        for p in run.producers:  # at sample time: the hosts, not the world, wake at each publish instant
            p.forward_at_sample = True
        sensor_index = {id(rt): i for i, rt in enumerate(run.sensors)}
        try:
            for number, robots in enumerate(groups):
                feeds: dict[str, list[SensorRuntime]] = {}
                for r in robots:
                    self.host_of[r] = number
                    for rt in run.controllers[r].inputs.values():
                        feeds.setdefault(producer_of[id(rt)].name, []).append(rt)
                plan_feeds = []
                for name, rts in feeds.items():
                    # a message per sample instant (the host's sensors of this kind due then, together)
                    rate = max(rt.rate_hz for rt in rts)
                    capacity = max(32, 2 * math.ceil(rate * BUFFER_SECONDS))
                    ring = Ring.create(capacity, 64 + len(rts) * _reading_size(rts))
                    plan_feeds.append(Feed(name, ring, [sensor_index[id(rt)] for rt in rts]))
                    outlet = _Outlet(ring, {id(rt): slot for slot, rt in enumerate(rts)})
                    for rt in rts:
                        rt.outlet = outlet
                uplink = Ring.create(max(64, 64 * len(robots)), UPLINK_SLOT)
                events = Ring.create(128, EVENT_SLOT)
                self.plans.append(HostPlan(f"host-{number + 1}", number, robots, plan_feeds, events, uplink,
                                           heartbeat=self.heartbeat))
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ start
    def fork(self) -> None:
        """Fork every host (from this thread: it must outlive them, ``sim.common.lifeline``); wait until all are up.

        Forked with SIGINT/SIGTERM blocked, so a Ctrl-C meanwhile reaches the world only (``child_ignores``).
        """
        world = os.getpid()
        for plan in self.plans:
            mine, theirs = multiprocessing.Pipe(duplex=True)
            plan.conn = theirs
            self.heartbeat[plan.number] = time.monotonic()
            with blocked():
                pid = os.fork()
                if pid == 0:  # the host: never returns (it unblocks the signals once it ignores them)
                    mine.close()
                    host_main(self.run, plan, world)
            theirs.close()
            plan.conn = None
            self.conns.append(mine)
            self._conn_locks.append(threading.Lock())
            readable = select.poll()
            readable.register(mine.fileno(), select.POLLIN)
            self._readable.append(readable)
            self.pids.append(pid)
            self.pidfds.append(os.pidfd_open(pid))
        end = time.monotonic() + READY_LIMIT
        for number, conn in enumerate(self.conns):
            if not conn.poll(max(end - time.monotonic(), 0.0)):
                raise HostError(f"{self.describe(number)} did not come up within {READY_LIMIT:g} s")
            try:
                msg = conn.recv()
            except EOFError:
                raise HostError(f"{self.describe(number)} exited while starting "
                                f"({self._reap(number) or 'unknown status'})") from None
            if msg[0] != "ready":
                raise HostError(f"{self.describe(number)} failed while starting: {msg[1].error}")
        self._world_side()
        self.pidfd_host = {fd: n for n, fd in enumerate(self.pidfds)}
        self.pipe_host = {c.fileno(): n for n, c in enumerate(self.conns)}
        self.waiter = RingWaiter([], [*self.pidfds, *(c.fileno() for c in self.conns)])
        self.deaths = RingWaiter([], list(self.pidfds))  # lockstep: a host that died, looked at every step

    def _world_side(self) -> None:
        """The world's copies of the hosts' controllers: calls go to the host (notes come from it: ``serve``)."""
        for r, number in self.host_of.items():
            controller = self.run.controllers[r].controller
            controller.handle_event = self._event_sender(number, r)  # type: ignore[method-assign,assignment]  # on purpose: this copy forwards

    def _event_sender(self, number: int, index: int) -> Callable[[str, dict[str, Any]], None]:
        ring, clock = self.plans[number].events, self.run.clock

        def handle_event(action: str, data: dict[str, Any]) -> None:
            with self._event_lock:
                self.events_sent.add(number)
                self.poke.notify()
                if not ring.put(pickle.dumps((index, action, data, clock.now()), protocol=5)):
                    raise HostError(f"{self.describe(number)}: its event ring is full ({ring.capacity} events "
                                    "not taken): the host is not reading them")

        return handle_event

    def begin(self, origin: float | None) -> None:
        """Start the hosts: real clock, simulated time 0 is at ``perf_counter()`` = ``origin`` in every process;
        virtual clock (None), they wait for the lockstep's first step."""
        for number in range(len(self.conns)):
            self.send(number, ("start", origin))
        real = self.run.clock
        if isinstance(real, RealClock):  # the window pauses, steps or rescales the world's clock: hosts follow
            real.on_change = self._clock_changed

    def _clock_changed(self) -> None:
        real = self.run.clock
        assert isinstance(real, RealClock)
        state = real.state()
        for number in range(len(self.conns)):
            self.send(number, ("clock", state))

    def send(self, number: int, msg: tuple[Any, ...]) -> None:
        with self._conn_locks[number], contextlib.suppress(OSError):
            self.conns[number].send(msg)

    # ------------------------------------------------------------------ the transport thread
    def serve(self) -> None:
        """The world's ``hosts`` thread: read every uplink and control pipe, watch every host, until all ended."""
        waiter = RingWaiter([p.uplink for p in self.plans], [*self.pidfds, *(c.fileno() for c in self.conns)])
        limit = self.run.scenario.run.host_silence_limit
        while True:
            ready = waiter.wait(0.05)
            self.drain_uplinks()
            for number in range(len(self.conns)):
                self.read_control(number)
            for fd in ready:
                died = self.pidfd_host.get(fd)
                if died is not None and died not in self.ended:
                    self.drain_uplinks()
                    self.read_control(died)
                    self.exited(died)
            now = time.monotonic()
            for number in range(len(self.plans)):
                if (number not in self.ended and number not in self.finals and number not in self.silenced
                        and now - self.heartbeat[number] > limit):
                    self.silent(number, now - self.heartbeat[number], limit)
            if self.closing.is_set() and all(n in self.finals or n in self.ended for n in range(len(self.plans))):
                self.drain_uplinks()
                return

    def drain_uplinks(self, cycles: list[tuple[float, int, int, Cycle]] | None = None,
                      only: list[int] | None = None) -> None:
        """Everything the hosts (``only`` those) sent: commands to physics, notes to the outboxes; cycles to the
        listeners, or (lockstep) into ``cycles`` as (finish, robot index, k, cycle), to be handed over in that order."""
        run = self.run
        tasks = run.controllers
        for plan in self.plans if only is None else [self.plans[n] for n in only]:
            ring = plan.uplink
            while len(ring):
                buf = ring.get_nowait()
                kind = buf[0]
                if kind == CYCLE:
                    index = int.from_bytes(buf[1:5], "little")
                    task = tasks[index]
                    _, cycle = decode_cycle(buf, task.robot_name)
                    if cycles is not None:
                        cycles.append((cycle.finish_time, index, cycle.k, cycle))
                        continue
                    mirror(task, cycle)
                    if task.on_cycle is not None:
                        task.on_cycle(cycle)
                elif kind == COMMAND:
                    index, command = decode_command(buf)
                    task = tasks[index]
                    task.last_command = (command.v, command.w)
                    task.submit(index, command)
                elif kind == VISUAL:
                    index, visual = decode_note(buf)
                    tasks[index].controller.visual = visual  # type: ignore[assignment]  # a dict, pickled in the host
                elif kind == NOTE:
                    index, stamped = decode_note(buf)
                    sent, note = cast(tuple[float, object], stamped)  # (the host's clock time, the note): _Outbox.put
                    outbox = getattr(tasks[index].controller, "outbox", None)
                    if outbox is not None:
                        outbox.put_at(sent, note)

    def read_control(self, number: int) -> list[tuple[Any, ...]]:
        """Handle what host ``number`` sent on its pipe (failures, its final statistics); return the other messages."""
        other = []
        conn, readable = self.conns[number], self._readable[number].poll
        with self._conn_locks[number]:
            try:
                # a poll object made once per pipe: Connection.poll() builds a selector each call (~40 µs)
                while readable(0):
                    msg = conn.recv()
                    if msg[0] == "failure":
                        f: Failure = replace(msg[1], thread=f"{self.plans[number].name}/{msg[1].thread}")
                        self.run.report_failure(f)
                    elif msg[0] == "final":
                        self.finals[number] = msg[1]
                    else:
                        other.append(msg)
            except (EOFError, OSError):
                pass
        return other

    def exited(self, number: int) -> None:
        how = self._reap(number) or "ended"
        if number not in self.finals and not self.closing.is_set() and number not in self.silenced:
            self._fail(number, HostError(f"{self.describe(number)} died ({how}) during the run"))

    def _reap(self, number: int) -> str | None:
        """Collect the exit status of host ``number`` if it has ended; how it ended, in words."""
        if number in self.ended:
            return self.ended[number]
        try:
            pid, status = os.waitpid(self.pids[number], os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                how = f"killed by {signal.Signals(sig).name}"
            except ValueError:
                how = f"killed by signal {sig}"
        else:
            how = f"exit {os.WEXITSTATUS(status)}"
        self.ended[number] = how
        return how

    def silent(self, number: int, silent: float, limit: float) -> None:
        self.silenced.add(number)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pids[number], signal.SIGKILL)
        self._fail(number, HostError(
            f"{self.describe(number)} sent no heartbeat for {silent:.1f} s (limit {limit:g} s, "
            "run.host_silence_limit): a call holding its GIL (a C extension, a tight native loop); killed"))

    def _fail(self, number: int, exc: HostError) -> None:
        self.run.supervisor.report(self.plans[number].name, exc, stack="")

    def describe(self, number: int) -> str:
        names = [self.run.controllers[r].robot_name for r in self.plans[number].robots]
        who = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        pid = f" pid {self.pids[number]}" if number < len(self.pids) else ""
        return f"robot host {self.plans[number].name} ({who};{pid})"

    # ------------------------------------------------------------------ stop
    def stop(self, drain: bool, serving: bool) -> None:
        """Tell every host to stop (after its last cycles, if ``drain``); kill those that do not report in time.

        ``serving``: the ``hosts`` thread (real clock) collects the final statistics; else (lockstep) this does.
        """
        for number in range(len(self.conns)):
            self.send(number, ("stop", drain))
        self.closing.set()
        end = time.monotonic() + STOP_LIMIT + (END_DRAIN_TIMEOUT if drain else 0.0)
        while time.monotonic() < end and not all(n in self.finals or n in self.ended for n in range(len(self.plans))):
            if serving:
                time.sleep(0.01)
                continue
            for number in range(len(self.plans)):
                self.read_control(number)
                self._reap(number)
            time.sleep(0.005)
        if not serving:
            self.drain_uplinks()
        for number, pid in enumerate(self.pids):
            if number not in self.finals and number not in self.ended:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for number in range(len(self.pids)):  # reap every child (a host killed above goes at once)
            for _ in range(100):
                if self._reap(number) is not None:
                    break
                time.sleep(0.005)

    def merge(self) -> None:
        """The hosts' own statistics replace the world's mirror of them (and say what ran where)."""
        run = self.run
        for number, final in self.finals.items():
            for index, stats in final.stats.items():
                task = run.controllers[index]
                task.stats = stats
                task.outcome = final.outcomes.get(index, {})
                task.last_command = final.last_commands.get(index, task.last_command)
            for i, (age, stale, chan) in final.sensors.items():
                rt = run.sensors[i]
                rt.stats.age_at_use, rt.stats.stale_uses, rt.channel.stats = age, stale, chan
            name = self.plans[number].name
            for t in final.threads:
                run.threads.append(replace(t, name=f"{name}/{t.name}"))
            run.hung_threads.extend(f"{name}/{t}" for t in final.hung)
            run.stuck_calls.extend(replace(s, thread=f"{name}/{s.thread}") for s in final.stuck)

    # ------------------------------------------------------------------ faults in a host (sim.features.faultkinds)
    def note_counters(self) -> None:
        """Before the fork: the values of ``run.host_counters`` the hosts start from (``merge_counters``)."""
        self._counter_base = [dict(c) for c in self.run.host_counters]

    def merge_counters(self) -> None:
        """Add what each host counted (its final copy of ``run.host_counters`` less the values at the fork)."""
        base = getattr(self, "_counter_base", [])
        for final in self.finals.values():
            for mine, theirs, start in zip(self.run.host_counters, final.counters, base, strict=False):
                for key, value in theirs.items():
                    if value != start.get(key, 0):
                        mine[key] = mine.get(key, 0) + value - start.get(key, 0)

    def host_name(self, robot_index: int) -> str:
        return self.plans[self.host_of[robot_index]].name

    def load(self, robot_index: int, label: str, end: float, counter: int, bodies: list[HostBody]) -> None:
        """Start load threads in the robot's host (``_Host._fault_load``): ("load", label, end, counter, bodies)."""
        self.send(self.host_of[robot_index], ("load", label, end, counter, bodies))

    def unload(self, robot_index: int, label: str) -> None:
        self.send(self.host_of[robot_index], ("unload", label))

    def kill(self, robot_index: int) -> str:
        """SIGKILL the robot's host (the ``kill_host`` fault); the supervision reports it died."""
        number = self.host_of[robot_index]
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pids[number], signal.SIGKILL)
        if not isinstance(self.run.clock, RealClock):
            # virtual time races ahead while the kernel takes the process down: wait for it (a SIGKILL is
            # quick), so the lockstep sees it dead at the next step, not half a simulated second later
            select.select([self.pidfds[number]], [], [], 1.0)
        return self.describe(number)

    def is_remote(self, robot_index: int) -> bool:
        return robot_index in self.host_of

    def infos(self) -> list[HostInfo]:
        out = []
        for number, plan in enumerate(self.plans):
            final = self.finals.get(number)
            out.append(HostInfo(plan.name, self.pids[number] if number < len(self.pids) else 0,
                                tuple(self.run.controllers[r].robot_name for r in plan.robots),
                                final.cpu_seconds if final else None, final.private_rss if final else None,
                                self.ended.get(number)))
        return out

    def close(self) -> None:
        """Release every ring and pipe (the segments are unlinked: this process made them)."""
        for plan in self.plans:
            for feed in plan.feeds:
                feed.ring.close()
            plan.events.close()
            plan.uplink.close()
        for conn in self.conns:
            conn.close()
        for fd in self.pidfds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.pidfds = []


def mirror(task: ControllerTask, c: Cycle) -> None:
    """The world's running view of a host's controller and its inputs (the window reads it); the host's own
    statistics replace it at the end.

    This runs in the world, the busiest process, for every cycle of every hosted robot: counters and the
    response time always, release jitter and input ages of every ``MIRROR_EVERY``-th cycle and of every
    missed one (only a host that died leaves these sampled figures in the report).
    """
    st = task.stats
    response = c.finish_time - c.release_time
    st.response.add(response if response > 0.0 else 0.0)
    if c.miss or not c.k % MIRROR_EVERY:
        jitter = c.start_time - c.release_time
        st.jitter.add(jitter if jitter > 0.0 else 0.0)
        for name, age in c.ages:
            rt = task.inputs.get(name)
            if rt is not None:
                rt.stats.age_at_use.add(age if age > 0.0 else 0.0)
    for name, age in c.ages:
        rt = task.inputs.get(name)
        if rt is not None and age > rt.max_age:
            rt.stats.stale_uses += 1
    st.cycles += 1
    st.overruns += c.overrun
    st.safety_stops += c.safety_stop
    st.recent.append(c.miss)
    if c.miss:
        st.misses += 1
        if c.cause is not None:
            st.causes[c.cause.value] = st.causes.get(c.cause.value, 0) + 1
        if st.first_miss_time is None:
            st.first_miss_time = c.release_time
        st.last_miss_time = c.release_time
