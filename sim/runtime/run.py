"""Builds a run from a scenario and runs it: threads, queues, clock, timeline, supervision."""

from __future__ import annotations

import copy
import gc
import os
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from sim.common.interrupt import end_reason, interruptible
from sim.core.clock import Clock, RealClock
from sim.core.control import ControllerTask
from sim.core.feature import Feature
from sim.core.handle import HostBody, HostInfo, OrderOutcomes, ThreadInfo, TimelineHook
from sim.core.listeners import RunListener, fan_out
from sim.core.outbox import StepOutbox
from sim.core.physicstask import PhysicsTask
from sim.core.producers import ProducerTask, SensorRuntime
from sim.core.supervisor import Failure, Supervisor
from sim.core.watchdog import Slot, Stuck, Watchdog
from sim.errors import (
    CallAborted,
    OutputError,
    PluginOutputError,
    format_value,
)
from sim.features.catalog import scenario_features
from sim.features.cyclelog import CycleLog
from sim.runtime.folder import run_folder
from sim.runtime.limits import END_DRAIN_TIMEOUT, SHUTDOWN_TIMEOUT
from sim.runtime.parts import build_robots
from sim.world import jit
from sim.world.model import Bodies, StaticMap
from sim.world.physics import Command, Physics

if TYPE_CHECKING:
    from sim.runtime.hosts import HostSet
    from sim.scenario.load import Event, Scenario
    from sim.world.workers import WorkerPool

__all__ = ["SHUTDOWN_TIMEOUT", "Run", "ThreadInfo", "make_clock", "run_folder"]  # run_folder: its old home

STUCK_AT = 0.5  # s wall in one plugin call when a run is interrupted: not waited for (see stop)
START_LEAD = 0.1  # s real between starting the threads and simulated time 0
# Who goes first when several threads are due at one instant (virtual time): the world
# moves, then sensors sample it, then controllers use the readings, then scenario events.
_ORDER = {"lockstep": -1, "physics": 0, "producer": 1, "controller": 2, "timeline": 3, "transport": 4}
# Warm-up calls (before time starts) may compile kernels: seconds on an empty numba cache.
WARM_UP_LIMIT = 60.0  # s wall, at least, for one warm-up call


def make_clock(kind: str, time_scale: float, paced: bool, pin_cpu: bool = True) -> Clock:
    """``real``: wall time x time_scale. ``virtual``: as fast as possible, or paced for a viewer."""
    if kind == "virtual":
        from sim.core.virtual import VirtualClock

        return VirtualClock(pace=time_scale if paced else None, pin_cpu=pin_cpu)
    return RealClock(time_scale)


class Run:
    """One run of a scenario. ``start`` it, ``wait`` for it, ``stop`` it, then read ``report``."""

    def __init__(self, scenario: Scenario, out_dir: Path, clock: Clock | None = None,
                 listeners: list[RunListener] | None = None) -> None:
        self.scenario = scenario
        self.out_dir = Path(out_dir)
        cfg = scenario.run
        self.duration = float(cfg.duration)
        self.clock = clock if clock is not None else make_clock(cfg.clock, cfg.time_scale, paced=False,
                                                                pin_cpu=cfg.pin_cpu)
        self.finished = threading.Event()  # set when the run ends for any reason
        self.end_reason = "running"
        self._finish_lock = threading.Lock()
        self.failures: list[Failure] = []
        self.supervisor = Supervisor(self._on_failure, self._describe_call)
        # Every plugin call has a wall-time limit (run.call_limit): the watchdog ends the run on one past it.
        self.call_limit: float | None = cfg.call_limit
        self.watchdog = Watchdog(self.call_limit, self._on_stuck)
        self.stuck_calls: list[Stuck] = []  # past the limit, or still running when the run stopped
        self._slots: dict[str, Slot] = {}  # thread name -> the plugin call it is in
        self.threads: list[ThreadInfo] = []
        self.timeline_log: list[tuple[float, str]] = []
        self._extra_listeners = list(listeners or [])
        self.wall_seconds = 0.0
        self.sim_seconds = 0.0
        # Functions that add processes to the scenario timeline: hook(env, run) (orders, faults...)
        self.timeline_hooks: list[TimelineHook] = []
        self.hung_threads: list[str] = []
        self._sim_threads: list[threading.Thread] = []  # physics, producers, controllers, timeline
        self._cut_short = threading.Event()  # an interrupt while the end drains: stop at once
        self.output_errors: list[OutputError] = []  # files not written (each removed, never half there)
        self._old_switch = sys.getswitchinterval()  # restored by stop(), even if start() failed early
        self.pool: WorkerPool | None = None  # while physics.workers > 0 (made by start)
        self.hostset: HostSet | None = None  # robot host processes (run.hosts other than shared; made by start)
        self.host_counters: list[dict[str, int]] = []  # bumped in hosts too: their increments come back at the stop
        # Called once if numba compiles kernels while the run starts (the CLI prints a line).
        self.on_compile: Callable[[], None] | None = None
        self._build()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        sc = self.scenario
        self.static = StaticMap.from_scenario(sc.world)
        self.bodies = Bodies.from_robots(sc.robots)
        starts = np.array([list(r.start) for r in sc.robots], dtype=float)
        self.physics = Physics(self.static, self.bodies, starts, sc.physics.step)
        self.physics_task = PhysicsTask(self.physics, self.clock, self.duration)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.listeners: list[RunListener] = []  # features add theirs as they attach
        for x in self._extra_listeners:  # a feature attaches itself (by default: as a listener)
            if isinstance(x, Feature):
                x.attach(self)
            else:
                self.add_listener(x)
        self.sensors, self.controllers = build_robots(sc, self.clock, self.static, self.physics.submit,
                                                      self.duration)
        for c in self.controllers:  # notes to the world: readable a physics step later (sim.core.outbox)
            if hasattr(c.controller, "outbox"):
                c.controller.outbox = StepOutbox(self.clock, sc.physics.step)
        self.producers = self._group_producers(sc.run.producer_threads)
        self._timeline_slot = Slot("timeline", lambda call: f"handle_event({call[0]!r}) of robot {call[1].robot_name} "
                                   f"({call[1].component}) at t={call[2]:.3f} s")
        warm_limit = None if self.call_limit is None else max(self.call_limit, WARM_UP_LIMIT)
        self._warm_slot = Slot("warm-up", lambda call: f"warm-up call {call[0]}", limit=warm_limit)
        for slot in [*(c.slot for c in self.controllers), *(p.slot for p in self.producers), self._timeline_slot,
                     self._warm_slot]:
            self._slots[slot.name] = slot
            self.watchdog.add(slot)
        for p in self.producers:
            p.on_sensor_error = self._sensor_failed(p.name)
        self.orders: OrderOutcomes | None = None  # the order dispatcher, set by the orders feature
        for feature in scenario_features(sc):  # faults:, orders: (sim.features.catalog)
            feature.attach(self)
        # Last: a plugin failing in __init__ above leaves no temp file behind
        self.cycle_log = CycleLog(self.out_dir / "cycles.csv")
        self.listeners.insert(0, self.cycle_log)

    def _group_producers(self, mode: str) -> list[ProducerTask]:
        groups: dict[str, list[SensorRuntime]] = {}
        for rt in self.sensors:
            key = rt.sensor.kind if mode == "per_kind" else rt.label
            groups.setdefault(key, []).append(rt)
        return [ProducerTask(f"sensor:{key}", members, self.clock, lambda: self.physics.snapshot,
                             self.duration) for key, members in groups.items()]

    def add_listener(self, listener: RunListener) -> None:
        """Observe the run (call before ``start``)."""
        self.listeners.append(listener)

    def _connect_listeners(self) -> None:
        on_sample, on_publish = fan_out(self.listeners, "on_sample"), fan_out(self.listeners, "on_publish")
        for p in self.producers:
            p.on_sample, p.on_publish = on_sample, on_publish
        on_cycle = fan_out(self.listeners, "on_cycle")
        on_command = fan_out(self.listeners, "on_command")
        for c in self.controllers:
            c.on_cycle = on_cycle
            if on_command is not None:
                c.submit = _tee(self.physics.submit, on_command)
        self.physics_task.on_step = fan_out(self.listeners, "on_step")
        for x in self.listeners:
            x.on_start(self)

    # ------------------------------------------------------------------ run
    def warm_up(self) -> None:
        """Load or compile every kernel, run every sensor class, each controller class's
        ``warm_up`` and a physics check once, before the clock starts.

        The first call of a compiled ray-cast kernel or numpy routine can take far
        longer than a period (seconds, when numba compiles); paying it here keeps it out
        of the measured run. ``on_compile`` is told when a compile really happens.
        """
        with jit.announce_compiles(self._compiling):
            jit.warm_up_all()
            self._warm_up_parts()

    def _compiling(self) -> None:
        """numba began compiling (an empty or stale cache): tell ``on_compile``, once per run."""
        say, self.on_compile = self.on_compile, None
        if say is not None:
            say()

    def _warm_up_parts(self) -> None:
        self.static.prepare()  # a grid map's clearance (seconds for a big map) now, not in the first lidar sample
        snap = self.physics.snapshot
        slot = self._warm_slot
        for p in self.producers:
            by_class: dict[type[Any], list] = {}
            for rt in p.sensors:
                by_class.setdefault(type(rt.sensor), []).append(rt.sensor)
            for cls, members in by_class.items():
                # a copy of each sensor, so warm-up draws no numbers from its random stream
                slot.call = (f"{cls.__module__}:{cls.__qualname__}.sample_many() of sensor "
                             f"{members[0].robot.name}/{members[0].name}",)
                try:
                    cls.sample_many([copy.deepcopy(m) for m in members[:1]], snap)
                except Exception:
                    if all(rt.on_failure != "continue" for rt in p.sensors if type(rt.sensor) is cls):
                        raise  # else the run's first sample fails it, as the scenario allows
                finally:
                    slot.call = None
        for cls in {type(c.controller) for c in self.controllers}:
            slot.call = (f"{cls.__module__}:{cls.__qualname__}.warm_up()",)
            cls.warm_up()
            slot.call = None
        self.physics.check_collisions(self.physics.pose)

    def _start_pool(self) -> None:
        """``physics.workers`` > 0: spawn the worker processes, hand them to physics and to the map's ray casts."""
        workers = self.scenario.physics.workers
        if workers <= 0 or self.pool is not None:
            return
        from sim.world.workers import WorkerPool

        beams = max((getattr(rt.sensor.params, "beams", 0) for rt in self.sensors), default=0)
        smap = self.static.segment_map
        self.pool = WorkerPool(smap.segments, smap.cell_size, workers, len(self.bodies), beams, grid=self.static.grid)
        with jit.announce_compiles(self._compiling):  # the pool warms the kernels up first
            self.pool.start()
        self.physics.pool = self.pool
        self.static.use_workers(self.pool)  # the sensors cast through the map they were handed

    def host_processes(self) -> list[HostInfo]:
        """Where the robots' software runs: this (the world) process, and each robot host process."""
        hs = self.hostset
        local = tuple(c.robot_name for c in self.controllers if hs is None or not hs.is_remote(c.robot_index))
        return [HostInfo("main", os.getpid(), local), *(hs.infos() if hs is not None else [])]

    def _start_hosts(self) -> None:
        """``run.hosts`` other than shared: make the rings and fork the robot hosts (they wait for the clock)."""
        if self.scenario.run.hosts == "shared":  # nothing to import on a shared run's start (a signal may land there)
            return
        from sim.runtime.hosts import HostSet, deal

        groups = deal(self.scenario.run.hosts, len(self.controllers))
        if groups is None:
            return
        self.hostset = HostSet(self, groups)
        self.hostset.note_counters()
        self.hostset.fork()

    def kill_worker(self, index: int) -> None:
        """Fault injection: SIGKILL physics worker ``index``; the next request ends the run, naming it."""
        if self.pool is None:
            raise RuntimeError("no worker processes to kill: physics.workers is 0 (physics runs inline)")
        self.pool.kill(index)

    def _hosted(self, robot: str) -> tuple[HostSet, int]:
        """The host set and the index of ``robot``, which runs in a robot host (else a RuntimeError saying why)."""
        index = next((c.robot_index for c in self.controllers if c.robot_name == robot), None)
        if index is None:
            raise RuntimeError(f"no robot {robot!r} in this run")
        hs = self.hostset
        if hs is None or not hs.is_remote(index):
            raise RuntimeError(f"robot {robot} runs in the world process (run.hosts: shared): it has no host process")
        return hs, index

    def robot_host(self, robot: str) -> str | None:
        """The host process running ``robot``'s software; None when it runs here (run.hosts: shared)."""
        hs = self.hostset
        index = next((c.robot_index for c in self.controllers if c.robot_name == robot), None)
        if hs is None or index is None or not hs.is_remote(index):
            return None
        return hs.host_name(index)

    def start_in_host(self, robot: str, label: str, end: float, counters: dict[str, int],
                      bodies: list[HostBody]) -> None:
        """Fault injection: run load threads in ``robot``'s host process (``RunHandle.start_in_host``)."""
        hs, index = self._hosted(robot)
        hs.load(index, label, end, self.host_counters.index(counters), bodies)

    def stop_in_host(self, robot: str, label: str) -> None:
        hs, index = self._hosted(robot)
        hs.unload(index, label)

    def kill_host(self, robot: str) -> str:
        """Fault injection: SIGKILL the host running ``robot``; the hosts' supervision then ends the run, naming it."""
        hs, index = self._hosted(robot)
        return hs.kill(index)

    def start(self) -> None:
        """Start every thread. Ended already (a signal while building it), it starts none.

        Spawning the workers leaves nothing half-done, so a signal (``sim.common.interrupt``) may cut
        it short; the warm-up runs in its own watched thread, which a signal does not wait for.
        Either way the run then ends before simulated time 0.
        """
        self._connect_listeners()
        try:
            with interruptible():
                try:
                    self._start_pool()
                except Exception as exc:  # could not spawn the worker processes: a reported failure
                    self.supervisor.report("workers", exc)
                    return
        except KeyboardInterrupt:  # a signal (sim.common.interrupt), or a library caller's own Ctrl-C
            self.finish(end_reason())
            return
        if self.finished.is_set():
            return
        self.supervisor.spawn("watchdog", lambda: self.watchdog.run(self.finished))
        if not self._warm_up_watched():
            return
        # Everything built so far lives for the whole run: move it out of the collector's
        # reach, so a full collection mid-run (seen: ~120 ms, every thread late at once) is cheap.
        gc.collect()
        gc.freeze()
        try:
            self._start_hosts()
        except Exception as exc:  # could not fork or start the robot hosts: a reported failure
            self.supervisor.report("hosts", exc)
            return
        self._old_switch = sys.getswitchinterval()
        sys.setswitchinterval(self.scenario.run.switch_interval)
        self.clock.start(lead=START_LEAD)
        hs = self.hostset
        if hs is not None:
            real = self.clock
            hs.begin(real.origin if isinstance(real, RealClock) else None)
        self._spawn("physics", "physics", self.physics_task.run, ["all robots"])
        for p in self.producers:
            self._spawn(p.name, "producer", p.run, [rt.label for rt in p.sensors])
        for c in self.controllers:
            if hs is None or not hs.is_remote(c.robot_index):
                self._spawn(f"controller:{c.robot_name}", "controller", c.run, [c.robot_name])
        self._spawn("timeline", "timeline", self._timeline, ["scenario events"])
        if hs is not None and isinstance(self.clock, RealClock):
            self._spawn("hosts", "transport", hs.serve, [p.name for p in hs.plans])
        elif hs is not None:  # virtual time: the hosts run a physics step at a time, in lockstep with the world
            from sim.runtime.lockstep import lockstep

            self._spawn("lockstep", "lockstep", lambda: lockstep(hs), [p.name for p in hs.plans])
        self.clock.begin()

    def _warm_up_watched(self) -> bool:
        """``warm_up`` in its own thread, under the watchdog; False if the run ended meanwhile.

        A plugin that raises there (anything, SystemExit included) is a reported failure, not
        a crash; one that never returns is a stuck call; Ctrl-C is not held up by either.
        """
        thread = self.supervisor.spawn("warm-up", self.warm_up)
        self._warm_slot.ident = thread.ident
        while thread.is_alive() and not self.finished.is_set():
            thread.join(0.05)
        return not self.finished.is_set()

    def _spawn(self, name: str, role: str, target: Callable[[], None], serves: list[str]) -> None:
        self.threads.append(ThreadInfo(name, role, serves))
        thread = self.supervisor.spawn(name, self.clock.participant(name, _ORDER[role], target))
        self._sim_threads.append(thread)
        if name in self._slots:
            self._slots[name].ident = thread.ident

    def _timeline(self) -> None:
        """simpy drives the scenario's own events in simulated time, paced by the clock."""
        env = simpy.Environment()
        for hook in self.timeline_hooks:
            hook(env, self)
        for ev in self.scenario.events:
            env.process(self._fire(env, ev))
        env.process(self._end(env))
        while not self.finished.is_set():
            t = env.peek()
            if t == float("inf") or not self.clock.sleep_until(t):
                return
            env.step()

    def _end(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        yield env.timeout(self.duration)
        self.finish("completed")

    def _fire(self, env: simpy.Environment, ev: Event) -> Generator[simpy.Event, object, None]:
        yield env.timeout(ev.at)
        names = [c.robot_name for c in self.controllers]
        task = self.controllers[names.index(ev.robot)]
        data = {k: v for k, v in ev.model_dump().items() if k not in ("at", "action", "robot")}
        self._timeline_slot.call = (ev.action, task, env.now)
        task.controller.handle_event(ev.action, data)
        self._timeline_slot.call = None
        self.timeline_log.append((env.now, f"{ev.action} {ev.robot}"))

    def report_failure(self, failure: Failure) -> None:
        """A failure seen elsewhere (a robot host's thread): one of the run's, ending it if fatal."""
        self.supervisor.failures.append(failure)
        self._on_failure(failure)

    def controller_status(self, task: ControllerTask) -> dict[str, Any]:
        """The controller's ``status()``, taken safely (a robot host asks it of its own controllers)."""
        return self._controller_status(task)

    def _on_failure(self, failure: Failure) -> None:
        self.failures.append(failure)
        if failure.fatal:
            self.finish(f"failure in {failure.thread}")
            if not isinstance(self.clock, RealClock):  # virtual time would race on until stop() is called
                self.clock.request_stop()

    def _describe_call(self, thread: str) -> str | None:
        """The plugin call thread ``thread`` is in (so a failure inside it names it), if any."""
        slot = self._slots.get(thread)
        return None if slot is None else slot.what()

    def _on_stuck(self, stuck: Stuck) -> None:
        """The watchdog found a call past its limit: kept for the report, and the stuck thread's failure."""
        self.stuck_calls.append(stuck)
        self.supervisor.report_stuck(stuck)

    def _sensor_failed(self, thread: str) -> Callable[[SensorRuntime, BaseException], None]:
        """A sensor with ``on_failure: continue`` raised: record it; the run goes on."""
        def report(rt: SensorRuntime, exc: BaseException) -> None:
            self.supervisor.report(thread, exc, fatal=False, sensor=rt.label)

        return report

    def finish(self, reason: str) -> None:
        """End the run (idempotent): the first reason given is kept.

        An interrupt after the run has completed keeps ``completed`` but cuts the end's
        drain short (``stop``): the cycles still running are then not waited for.
        """
        with self._finish_lock:  # threads and a signal may race to end the run: one reason, the first
            if not self.finished.is_set():
                self.end_reason = reason
                self.finished.set()
            elif reason in ("interrupted", "terminated"):
                self._cut_short.set()

    def wait(self, poll: float = 0.1) -> None:
        """Block until the run ends; Ctrl-C (KeyboardInterrupt) ends it as 'interrupted'."""
        try:
            while not self.finished.wait(poll):
                pass
        except KeyboardInterrupt:
            self.finish("interrupted")

    def stop(self) -> list[str]:
        """Stop every thread within ``SHUTDOWN_TIMEOUT``; return the names that did not stop.

        A completed run first lets every simulation thread end by itself (``END_DRAIN_TIMEOUT``):
        nothing is released at or after the end, and each cycle released before it runs to
        completion and is logged, even if it finishes after the end. That rule depends on
        simulated time only, so which cycles a virtual run logs never depends on how fast this
        thread gets here (docs/virtual-time.md, "The end of a run").
        """
        self.finish("stopped")
        hs = self.hostset
        if self.end_reason == "completed":
            self.supervisor.wait_for([t for t in self._sim_threads if t.name != "hosts"], END_DRAIN_TIMEOUT,
                                     self._cut_short)
        if hs is not None:  # the hosts' last cycles and statistics come in before anything is closed
            hs.stop(drain=self.end_reason == "completed" and not self._cut_short.is_set(),
                    serving=isinstance(self.clock, RealClock))
        # stopped within START_LEAD, simulated time 0 is still ahead: nothing ran yet
        self.sim_seconds = min(max(self.clock.now(), 0.0), self.duration)
        self.wall_seconds = max(self.clock.real_elapsed(), 0.0)
        self.clock.request_stop()
        # Interrupted: a plugin call already running for STUCK_AT s will not end for the stop (a plugin
        # call cannot see it); waiting the whole SHUTDOWN_TIMEOUT for it would only delay the exit.
        stuck = (self.watchdog.running_for(STUCK_AT) if self.end_reason in ("interrupted", "terminated")
                 else frozenset())
        alive = self.supervisor.join(SHUTDOWN_TIMEOUT, give_up=stuck)
        sys.setswitchinterval(self._old_switch)
        gc.unfreeze()  # a process running many runs (sweeps, tests) must get this memory back
        if self.pool is not None:
            self.pool.close()  # workers gone within ~0.5 s, every shared-memory segment unlinked
        if hs is not None:
            hs.merge()
            hs.merge_counters()
            hs.close()
        for x in self.listeners:
            try:
                x.close(self)
            except Exception as exc:
                if isinstance(exc, OutputError):
                    self.output_errors.append(exc)
                self.supervisor.report(f"listener:{type(x).__name__}", exc)
        self.hung_threads = alive
        known = {s.thread for s in self.stuck_calls}
        self.stuck_calls.extend(s for s in self.watchdog.in_progress(alive) if s.thread not in known)
        # Still stuck in a plugin call (stacks taken above): end those threads if they loop in Python,
        # so they stop burning CPU and competing for the GIL while the report is written.
        self.watchdog.abort(alive, CallAborted)
        for c in self.controllers:
            if hs is None or not hs.is_remote(c.robot_index):
                c.outcome = self._controller_status(c)
            elif c.outcome is None:  # its host died before it could say
                c.outcome = {}
        return alive

    def _controller_status(self, task: ControllerTask) -> dict[str, Any]:
        """``status()`` once, after the threads stopped: plugin code, so raising (anything) or
        returning something else than a dict is a failure of that controller, never a lost report."""
        try:
            status = task.controller.status()
            if status is None:
                return {}
            if not isinstance(status, dict):
                raise PluginOutputError(f"status() of robot {task.robot_name} ({task.component}) returned "
                                        f"{format_value(status)}; expected a dict")
            return status
        except BaseException as exc:  # SystemExit and the like too: the report must be written
            self.supervisor.report(f"controller:{task.robot_name}", exc,
                                   call=f"status() of robot {task.robot_name} ({task.component})")
            return {}


def _tee(submit: Callable[[int, Command], None], observe: Callable[[int, Command], None]
         ) -> Callable[[int, Command], None]:
    def both(index: int, command: Command) -> None:
        submit(index, command)
        observe(index, command)

    return both
