"""The run sequence, written once: build the Run, run it, build its report, write the run folder, judge it.

The command line, sweeps, benchmarks and tests all call ``execute``; what differs between them
(who watches the run while it goes, which files are written, whether it talks) is an argument.
Heavy modules are imported when a run is executed, not when this is imported: ``run.py`` loads
the command line with signals already handled, and every import there is time a signal may
arrive in.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.session.verdict import judge

if TYPE_CHECKING:
    from sim.core.clock import Clock
    from sim.core.listeners import RunListener
    from sim.core.supervisor import Failure
    from sim.errors import OutputError
    from sim.features.live import LiveServer
    from sim.runtime.run import Run
    from sim.scenario.models import Scenario

# Watches a started run on the calling thread and returns when it is done watching (the run ended,
# a window was closed, a time limit passed); the run is then stopped. Default: ``Run.wait``.
Presenter = Callable[["Run"], None]


@dataclass
class Result:
    """What a run left: its folder, its report, what went wrong, and the process exit status."""

    out: Path  # the run folder
    report: dict[str, Any]  # build_report + finish_report: what report.json holds
    failures: list[Failure]  # every failure the run reported, fatal or not (report["run"]["failures"])
    breaches: list[str]  # the expect: gates breached (report["expect"]["breaches"])
    end_reason: str  # completed | stopped | failed | interrupted | terminated | window closed | ...
    exit_status: int  # 0 ok, 1 failed or a gate breached, 130 interrupted (sim.session.verdict)
    run: Run  # the stopped run, for callers that read more of it (benchmarks, tests)
    problems: list[str] = field(default_factory=list)  # the stderr lines saying why exit_status is not 0
    errors: list[OutputError] = field(default_factory=list)  # files that could not be written


def execute(scenario: Scenario, out: Path, *, new_folder: bool = False, clock: Clock | None = None,
            paced: bool = False, listeners: list[RunListener] | None = None, trace: bool = True,
            record: bool | str | tuple[str, ...] = False, live: LiveServer | None = None, write_report: bool = True,
            plot: bool = True, present: Presenter | None = None, started_at: str | None = None, echo: bool = False,
            quiet: bool = False, progress: bool | None = None,
            signals: bool = False) -> Result:
    """Run ``scenario`` (loaded: ``sim.scenario.load``) from start to its report; return its Result.

    ``out``: the run folder, or with ``new_folder`` the folder a fresh run folder is made in
    (``out/<name>-<date>-<time>-seed<seed>``, as ``--out``). ``clock``: default the scenario's
    (``run.clock``), ``paced`` for a viewer. ``listeners``: default the run folder's outputs
    (sim.report.outputs.run_listeners: the miss timeline, ``trace`` and ``record``: True or
    ``("foxglove",)`` = recording.mcap, ``("ros2",)`` = recording-ros2.mcap, both = both; ``live``, a
    started ``sim.features.live.LiveServer``, streams the Foxglove recording's channels, and is stopped with the
    run); ``[]`` for
    none. ``write_report``/``plot``: write report.json / draw report.png. ``present``: watches
    the run on this thread (the window); default waits for its end. ``started_at``: the report's
    start stamp, default now. ``echo``: print as ``run.py`` does: the first line, the progress of a
    headless run (stderr, ``sim.session.progress``), the report and the verdict; with ``quiet`` only
    the verdict (``sim.session.verdict.verdict_lines``, then ``report folder: DIR``) and the
    errors. ``progress``: show a headless run's progress on stderr (default: when ``echo`` without
    ``quiet``; ``run.py twin`` asks for it alone). ``signals``: SIGINT/SIGTERM end the run and its
    files are still finished (sim.common.interrupt; the caller has installed it).

    Bad input found while the run is built (a plugin that fails to load, a run folder that cannot
    be made) raises its ``SimError`` before anything runs, leaving no empty folder behind.
    Failures during the run are in the Result, never raised.
    """
    from sim.common import interrupt

    run: Run | None = None

    def stop_run(reason: str) -> None:  # called by the signal handler, from now on
        if run is not None:
            run.finish(reason)

    with interrupt.deferred(stop_run) if signals else contextlib.nullcontext():
        folder, made = _folder(scenario, out, new_folder)
        try:
            run = _build(scenario, folder, clock, paced, listeners, trace, record, live, echo and not quiet)
        except BaseException:
            if made:
                _remove_if_empty(folder)  # nothing of this run was written: no empty folder stays behind
            raise
        if signals and interrupt.received() is not None:  # came while the run was being built: it ends now
            run.finish(interrupt.end_reason())
        show = echo and not quiet if progress is None else progress
        return _run_and_report(run, folder, present, started_at, write_report, plot, echo, quiet, show, signals)


def _folder(scenario: Scenario, out: Path, new_folder: bool) -> tuple[Path, bool]:
    if not new_folder:
        return Path(out), False
    from sim.runtime.run import run_folder

    assert scenario.name is not None  # the loader fills it in
    return run_folder(out, scenario.name, scenario.run.seed), True


def _build(scenario: Scenario, folder: Path, clock: Clock | None, paced: bool, listeners: list[RunListener] | None,
           trace: bool, record: bool | str | tuple[str, ...], live: LiveServer | None, echo: bool) -> Run:
    from sim.report.outputs import run_listeners
    from sim.runtime.run import Run, make_clock

    if clock is None:
        clock = make_clock(scenario.run.clock, scenario.run.time_scale, paced=paced, pin_cpu=scenario.run.pin_cpu)
    run = Run(scenario, folder, clock=clock,
              listeners=run_listeners(trace=trace, record=record, live=live) if listeners is None else listeners)
    if echo:
        from sim.world.jit import COMPILE_NOTICE

        run.on_compile = lambda: print(COMPILE_NOTICE, flush=True)  # before the clock starts (sim/world/jit.py)
    return run


def _run_and_report(run: Run, out: Path, present: Presenter | None, started_at: str | None, write_report: bool,
                    plot: bool, echo: bool, quiet: bool, progress: bool, signals: bool) -> Result:
    """Run, build the report, write report.json, print it, draw report.png: every file either complete or absent."""
    from sim.common.files import write_json
    from sim.errors import OutputError
    from sim.report.build import build_report, print_report
    from sim.report.outputs import finish_report, write_plot
    from sim.session.progress import watch
    from sim.session.verdict import verdict_lines

    scenario = run.scenario
    talk = echo and not quiet  # the first line, the progress, the report: all but the verdict
    if started_at is None:
        started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        run.start()
        if talk:
            hosts = len(run.host_processes()) - 1
            where = f" in {hosts} robot host process{'es' if hosts > 1 else ''}" if hosts else ""
            here = " in this (the world) process" if hosts else ""
            print(f"running {scenario.name}: {len(scenario.robots)} robots{where}, {len(run.threads)} threads{here}, "
                  f"{run.duration:g} s simulated at time scale {scenario.run.time_scale:g} "
                  "(Ctrl-C stops the run and still writes the report)", flush=True)
        (present or (watch if progress else _wait))(run)
    finally:
        run.stop()
    errors = list(run.output_errors)
    report = finish_report(build_report(run, started_at), run)
    if write_report:
        try:
            write_json(out / "report.json", report)
        except OutputError as exc:
            errors.append(exc)
    if talk:
        print_report(report, sys.stdout)  # the stdout of now (print_report's default is bound at import)
    if plot:
        try:
            if (png := write_plot(report, out)) is not None and talk:
                print(f"plot: {png}")
        except OutputError as exc:
            errors.append(exc)
    if talk:
        print(f"\nreport folder: {out}")
    elif echo:  # quiet: the verdict, then where the run folder is (the last line, as without --quiet)
        for line in verdict_lines(report):
            print(line)
        print(f"report folder: {out}")
    status, problems = judge(run, report, errors)
    if echo:
        for line in [*_late_signal(run, signals), *problems]:
            print(line, file=sys.stderr)
    return Result(out, report, list(run.failures), list(report["expect"]["breaches"]), run.end_reason, status,
                  run, problems, errors)


def _wait(run: Run) -> None:
    run.wait()


def _late_signal(run: Run, signals: bool) -> Iterator[str]:
    """A signal that came after the run had ended changed nothing: say so."""
    import signal

    from sim.common import interrupt
    from sim.session.verdict import INTERRUPTED

    late = interrupt.received() if signals else None
    if late is not None and run.end_reason not in INTERRUPTED:
        yield (f"note: {signal.Signals(late).name} came after the run had ended ({run.end_reason}); "
               "its files were finished and its own exit status stands")


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
