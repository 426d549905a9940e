"""Host load for a window: ``cpu_hog`` (pure Python, holds the GIL) and ``numpy_load`` (releases it).

Load threads run through the Supervisor for the window; they check for the window's end or the
run's stop every millisecond or so, so they never hold up a shutdown.

Where: without ``robot:`` (or with ``run.hosts: shared``) in the world process, as threads of the run
(``ctx.spawn``). With ``robot:`` and robot hosts, in that robot's host process, its own computer
(``RunHandle.start_in_host``): the threads are named ``<host>/fault:<label>`` in the report and
their work counts come back with the host's final statistics (``RunHandle.host_counters``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from sim.errors import format_value, suggest
from sim.features.faultkind import ErrorSink, FaultContext, FaultKind, NoBool, ScenarioView, Threads

HOG_CHUNK = 10_000  # pure-Python iterations between stop checks (~0.5 ms)


class _LoadFault(FaultKind):
    """``threads`` load threads for the window (a field of each kind), each running ``body(done, tally, name)``;
    in the world process, or in the host process of ``robot`` (module docstring)."""

    robot: str | None = Field(None, min_length=1, description="Robot whose computer the load runs on: with robot "
                              "hosts (run.hosts per_robot or N) the threads run in that robot's host process; "
                              "with run.hosts shared, or without robot, they load the world process. The report "
                              "counts the window for this robot only. Default: none (every robot, world process).")

    def target(self) -> str:
        return "all robots" if self.robot is None else self.robot

    def robot_target(self) -> str:
        return "*" if self.robot is None else self.robot

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        robots = {r.name for r in scn.robots}
        if self.robot is not None and self.robot not in robots:
            err(("faults", k, "robot"), f"fault names unknown robot {format_value(self.robot)}",
                suggest(self.robot, robots))

    def body(self, done: Callable[[], bool], tally: dict[str, int], name: str) -> None:
        raise NotImplementedError

    def prepare(self, ctx: FaultContext) -> None:
        if self.robot is not None:  # it may run in a robot host: its counts come back from there
            ctx.run.host_counters.append(ctx.window.work)

    def _names(self, label: str) -> list[str]:
        threads: int = self.threads  # type: ignore[attr-defined]  # each load kind declares its own threads field
        return [f"fault:{label}" + (f"-{n}" if threads > 1 else "") for n in range(threads)]

    def apply(self, ctx: FaultContext) -> None:
        w = ctx.window
        host = None if self.robot is None else ctx.run.robot_host(self.robot)
        if host is not None and self.robot is not None:
            ctx.state["host"] = self.robot
            keys = [f"{host}/{name}" for name in self._names(w.label)]  # as the report lists the host's threads
            w.threads.extend(keys)
            w.work.update(dict.fromkeys(keys, 0))
            names = self._names(w.label)
            ctx.run.start_in_host(self.robot, w.label, w.end, w.work,
                                  [(name, key, self.body) for name, key in zip(names, keys, strict=True)])
            w.notes.append(f"ran in {host}")
            return
        stop = ctx.state["stop"] = threading.Event()
        done = ctx.done(stop)
        for name in self._names(w.label):
            ctx.spawn(name, functools.partial(self.body, done, w.work, name))

    def remove(self, ctx: FaultContext) -> None:
        robot = ctx.state.pop("host", None)
        if robot is not None:
            ctx.run.stop_in_host(robot, ctx.window.label)
        stop = ctx.state.pop("stop", None)
        if stop is not None:
            stop.set()


class CpuHog(_LoadFault):
    """Threads running pure Python for the window: they hold the GIL the simulation needs."""

    kind: Literal["cpu_hog"] = Field(
        ..., description="cpu_hog: pure-Python threads hold the GIL for the window (real clock).")
    threads: Threads = Field(1, description="Hog threads, in [1, 16]. Default: 1.")

    def body(self, done: Callable[[], bool], tally: dict[str, int], name: str) -> None:
        cpu_hog(done, tally, name)


class NumpyLoad(_LoadFault):
    """Threads doing numpy array work that releases the GIL: they load the cores, not the GIL."""

    kind: Literal["numpy_load"] = Field(
        ..., description="numpy_load: numpy threads load the cores without the GIL for the window (real clock).")
    threads: Threads = Field(1, description="Load threads, in [1, 16]. Default: 1.")
    size: Annotated[int, Field(ge=1000, le=10_000_000), NoBool] = Field(
        1_000_000, description="float64 elements per array operation, in [1e3, 1e7] "
        "(16 bytes each per thread). Default: 1000000.")

    def body(self, done: Callable[[], bool], tally: dict[str, int], name: str) -> None:
        numpy_load(done, tally, name, self.size)


def cpu_hog(done: Callable[[], bool], tally: dict[str, int], name: str) -> None:
    """Pure-Python arithmetic: it holds the GIL except when the switch interval hands it over."""
    loops = 0
    tally[name] = 0
    while not done():
        x = 0
        for i in range(HOG_CHUNK):
            x += i * i
        loops += 1
        tally[name] = loops


def numpy_load(done: Callable[[], bool], tally: dict[str, int], name: str, size: int) -> None:
    """Elementwise ufuncs on large float arrays: they release the GIL and use no BLAS threads."""
    a = np.random.default_rng(0).random(size) + 1.0
    b = np.empty_like(a)
    ops = 0
    tally[name] = 0
    while not done():
        np.sqrt(a, out=b)
        np.multiply(b, b, out=a)  # back to (about) a: values stay bounded however long it runs
        ops += 1
        tally[name] = ops
