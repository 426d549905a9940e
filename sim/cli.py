"""Command line: ``python run.py SCENARIO [options]`` and the subcommands (``SUBCOMMANDS``: report, compare, ...)."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.common import interrupt
from sim.common.argparser import ArgumentParser
from sim.errors import OutputError, RunError, SimError, UsageError
from sim.errors import one_line as _one_line
from sim.session.verdict import EXIT_FAILED, EXIT_OK, EXIT_USAGE, one_line, report_exit_status

if TYPE_CHECKING:
    from sim.runtime.run import Run
    from sim.session.execute import Presenter

__all__ = ["SUBCOMMANDS", "Subcommand", "main", "one_line", "report_exit_status"]


@dataclass(frozen=True)
class Subcommand:
    """A tool reached as ``run.py NAME ARGS...``: ``run.py --help`` lists it and ``main`` runs it from here.

    To add one, append a ``Subcommand`` to ``SUBCOMMANDS``: nothing else names it. ``entry`` is
    ``"module:function"``, imported only when the subcommand runs (``run.py`` stays quick to start);
    the function takes the arguments after NAME (``list[str]``) and returns the exit status. Build its
    parser with ``sim.common.argparser.ArgumentParser(prog="run.py NAME", ...)``: bad options are then one
    line and exit 2 like everywhere else, and it has ``--help`` and ``--version``.
    """

    name: str
    args: str  # what follows NAME in its usage line, e.g. "RUN_A RUN_B"
    summary: str  # one line for run.py --help
    entry: str  # "module:function(argv: list[str]) -> int"

    def main(self) -> Callable[[list[str]], int]:
        """The subcommand's function (its module imported now)."""
        module, _, function = self.entry.partition(":")
        found: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
        return found


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("report", "RUN_DIR", "re-print a finished run's report and re-draw its report.png",
               "sim.cli:report_tool"),
    Subcommand("compare", "RUN_A RUN_B", "two finished runs side by side, with the change B - A",
               "sim.cli:compare_tool"),
    Subcommand("sweep", "SCENARIO --seeds 0-9 --set PATH=V1,V2",
               "run many headless over seeds x settings and summarise them (docs/sweeps.md)",
               "sim.sweep.command:main"),
    Subcommand("twin", "SCENARIO", "run in real time, then replay its measured compute in virtual time: which "
               "misses were the host's, which the design's (docs/virtual-time.md)", "sim.twin.command:main"),
    Subcommand("map", "SCENARIO --out FLOOR.yaml", "write the scenario's world as a ROS map_server map (PGM + YAML; "
               "docs/maps.md)", "sim.scenario.mapexport:main"),
)

EXIT_STATUS = ("Exit status: 0 ok, 1 the run failed (a thread died) or an expect: gate was breached, 2 bad input "
               "(scenario, option, path, plugin: one line), 1 with an 'internal error' line for a bug, "
               "130 interrupted.")


def _subcommand(name: str) -> Subcommand | None:
    return next((c for c in SUBCOMMANDS if c.name == name), None)


def _width() -> int:
    """Columns the help's own paragraphs are wrapped to (argparse wraps the options to the terminal too)."""
    return min(shutil.get_terminal_size().columns, 100) - 2


def _epilog() -> str:
    """The subcommands (one entry each, from ``SUBCOMMANDS``), then the exit status, wrapped here."""
    width = _width()
    lines = ["subcommands (run.py NAME --help for each):"]
    for c in SUBCOMMANDS:
        lines += textwrap.wrap(f"run.py {c.name} {c.args}: {c.summary}", width, initial_indent="  ",
                               subsequent_indent="      ")
    return "\n".join([*lines, "", *textwrap.wrap(EXIT_STATUS, width)])


def _parser() -> argparse.ArgumentParser:
    names = ",".join(c.name for c in SUBCOMMANDS)
    p = ArgumentParser(
        prog="run.py",
        usage=f"run.py [options] SCENARIO\n       run.py {{{names}}} ... (subcommands, below)",
        description=textwrap.fill("Run a robot-fleet scenario: sensor producer threads feed bounded queues, "
                                  "controller threads run under deadlines, and the run ends with a deadline-miss "
                                  "report.", _width()),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's lines as _epilog made them
    )
    p.add_argument("scenario", nargs="?", type=Path, help="scenario YAML file (see docs/scenario.md)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="simulated seconds to run (overrides run.duration)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed for every noise source (overrides run.seed)")
    p.add_argument("--time-scale", type=float, metavar="X",
                   help="simulated seconds per real second, e.g. 0.5 = half speed (overrides run.time_scale)")
    p.add_argument("--out", type=Path, metavar="DIR", default=Path("runs"),
                   help="folder under which the run folder is made (default: runs/)")
    p.add_argument("--headless", action="store_true",
                   help="no window: run (its progress on stderr), print the report, exit")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only the verdict (one line, and any breached expect: gate) and 'report folder: "
                   "DIR' on stdout, and errors on stderr: no first line, progress, report tables or notes")
    p.add_argument("--hosts", metavar="H",
                   help="where the robots' software runs: shared (one process), per_robot, or N host processes "
                   "(overrides run.hosts; docs/hosts.md)")
    p.add_argument("--clock", choices=["real", "virtual"],
                   help="real: wall time x time scale (shows what the host does); virtual: deterministic, "
                   "as fast as possible headless, paced by --time-scale with the window (overrides run.clock)")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="with the window: save a PNG of it after --duration, then exit")
    p.add_argument("--window", default="1280x800", metavar="WxH", help="window size in pixels (default 1280x800)")
    p.add_argument("--schema", action="store_true",
                   help="print the scenario JSON Schema and exit (scenarios/scenario.schema.json ships it for editors)")
    p.add_argument("--record", nargs="?", const="foxglove", metavar="FORMAT[,FORMAT]",
                   help="also record the run: foxglove (the default: recording.mcap, open in Foxglove), ros2 "
                   "(recording-ros2.mcap, rosbag2 MCAP: ros2 bag play), or foxglove,ros2 (both)")
    p.add_argument("--foxglove", metavar="[HOST:]PORT",
                   help="serve the run live over the Foxglove WebSocket protocol on HOST (default 127.0.0.1), "
                   "PORT (0: any free port), with the same channels as --record; a virtual-clock run is then paced "
                   "by --time-scale as with the window (docs/report.md)")
    p.add_argument("--foxglove-wait", type=float, metavar="S", default=0.0,
                   help="with --foxglove: hold the run's start until a client subscribes (at most S real seconds)")
    p.add_argument("--no-trace", action="store_true",
                   help="do not write trace.json (.json.gz when large; Chrome trace / Perfetto)")
    p.add_argument("--no-plot", action="store_true", help="do not draw report.png")
    return p


def main(argv: list[str] | None = None) -> int:
    """The one boundary: bad input of any kind (file, option, path, plugin) -> one line, exit 2.

    Every anticipated problem is a ``SimError`` (OS errors about a path the user gave are turned into
    one where they happen: the scenario read, the run folder). Its branch decides (``sim.errors``):
    a ``RunError`` (a worker pool that cannot start) or an ``OutputError`` is the run's failure, exit 1;
    any other is the user's input, exit 2. Anything else is a bug in the simulator, not the user's
    input: one line saying so, the traceback saved to a file, exit 1.
    """
    # Signals are handled from here on (sim.common.interrupt): before the run folder exists a signal
    # ends this at once (exit 130, one line); after, it ends the run and every file is finished.
    restore = interrupt.install()
    process = argv is None  # run.py: this is the whole process, which ends right after
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _main(argv)
    finally:
        if process:
            interrupt.settle()  # a signal while the interpreter exits changes nothing now
        else:
            restore()  # a library caller gets its own handlers back


def _main(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except (OutputError, RunError) as exc:  # a file not written, a worker dead: the run's failure, not the input
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except SimError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return interrupt.stopped_early()
    except Exception as exc:  # not the user's input: a bug; say so, keep the traceback
        if interrupt.count() and _wraps_interrupt(exc):
            return interrupt.stopped_early()  # a Ctrl-C that an extension re-raised as its own error
        return _internal_error(exc)


def _wraps_interrupt(exc: BaseException) -> bool:
    """``exc`` is a KeyboardInterrupt in another form: pydantic-core, building a model's validator when a
    module is imported, re-raises one as a ``SchemaError`` whose text ends ``KeyboardInterrupt:``."""
    seen: BaseException | None = exc
    for _ in range(20):  # a chain, not a cycle
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt) or "KeyboardInterrupt" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _internal_error(exc: Exception) -> int:
    """An unexpected exception: one line naming it and where its traceback went (a file), exit 1."""
    text = "".join(traceback.format_exception(exc))
    try:
        fd, path = tempfile.mkstemp(prefix="run.py-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        where = f"traceback in {path}"
    except OSError:
        sys.stderr.write(text)  # nowhere to save it: the traceback itself, rather than nothing
        where = "traceback above"
    what = _one_line(f"{type(exc).__name__}: {exc}", 200)
    print(f"internal error (a bug in the simulator, not in your input): {what}; {where}", file=sys.stderr)
    return EXIT_FAILED


def _dispatch(argv: list[str]) -> int:
    """The subcommand named by the first argument (``SUBCOMMANDS``), or a run."""
    if argv and (command := _subcommand(argv[0])) is not None:
        return command.main()(argv[1:])
    return _run(_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    from sim.scenario.load import load_scenario
    from sim.scenario.models import scenario_json_schema
    from sim.scenario.overrides import option_overrides

    if args.schema:
        import json

        print(json.dumps(scenario_json_schema(), indent=2))
        return EXIT_OK
    if args.scenario is None and args.record is not None and _looks_like_path(args.record):
        args.scenario, args.record = Path(args.record), "foxglove"  # `--record SCENARIO`: a bare --record
    from sim.features.catalog import record_formats

    record = record_formats(args.record)  # an unknown format: one line, exit 2, before anything runs
    if args.scenario is None:
        raise UsageError("run.py: give a scenario file, e.g. scenarios/warehouse.yaml (see run.py --help)")
    address = _foxglove_address(args)
    scenario = load_scenario(args.scenario, option_overrides(args))
    _choose_display(args, quiet=args.quiet)
    window = _window_size(args.window)

    from sim.session import execute

    present = None if args.headless else _window(window, args.screenshot)
    live = None
    if address is not None:
        from sim.features.live import LiveServer

        live = LiveServer(*address, wait=args.foxglove_wait)
        waiting = f"; waiting up to {args.foxglove_wait:g} s for a client" if args.foxglove_wait > 0 else ""
        live.on_ready = lambda s: print(f"Foxglove live: {s.url} (open it in Foxglove as a WebSocket connection"
                                        f"{waiting})", flush=True)
    try:  # a live view paces a virtual run as the window does: a stream of the run, not a fast-forward
        return execute(scenario, args.out, new_folder=True, paced=not args.headless or live is not None,
                       trace=not args.no_trace, record=record, live=live, plot=not args.no_plot,
                       present=present, echo=True, quiet=args.quiet, signals=True).exit_status
    finally:
        if live is not None:
            live.stop()


def _foxglove_address(args: argparse.Namespace) -> tuple[str, int] | None:
    """``--foxglove``'s (host, port), checked before anything loads; None without it."""
    if args.foxglove_wait < 0 or args.foxglove_wait != args.foxglove_wait:
        raise UsageError(f"--foxglove-wait: {args.foxglove_wait:g} is not a number of seconds >= 0")
    if args.foxglove is None:
        return None
    from sim.features.live import parse_address

    return parse_address(args.foxglove)


def _looks_like_path(text: str) -> bool:
    """A value after a bare ``--record`` that is the scenario, not a format list (a path or a YAML file)."""
    return "/" in text or text.endswith((".yaml", ".yml")) or Path(text).is_file()


def _window(window: tuple[int, int], screenshot: Path | None) -> Presenter:
    """The pygame view as the run's presenter, on this (the main) thread."""
    def present(run: Run) -> None:
        from sim.view import run_view

        run_view(run, window=window, screenshot=screenshot)

    return present


def _choose_display(args: argparse.Namespace, quiet: bool = False) -> None:
    """No screen (a server, CI): a screenshot renders off-screen; a plain run goes headless, and says so
    (unless ``quiet``)."""
    if args.headless or os.environ.get("SDL_VIDEODRIVER") or sys.platform != "linux":
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if args.screenshot is not None:
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # draws into memory: the PNG is the same
        return
    if not quiet:
        print("note: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so running headless; "
              "for the window run under a desktop or xvfb-run, or pass --headless to silence this", file=sys.stderr)
    args.headless = True


def _window_size(text: str) -> tuple[int, int]:
    from sim.errors import format_value

    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if not (200 <= w <= 10000 and 200 <= h <= 10000):
            raise ValueError
    except ValueError:
        raise UsageError(f"--window: got {format_value(text)}; expected WIDTHxHEIGHT in pixels, "
                         "each 200..10000") from None
    return w, h


def report_tool(argv: list[str]) -> int:
    from sim.report.build import print_report
    from sim.report.compare import load_report
    from sim.report.outputs import write_plot

    """``run.py report RUN_DIR``: its exit status is the run's own (read back from report.json)."""
    p = ArgumentParser(prog="run.py report",
                       description="Re-print a finished run's report and re-draw its report.png.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--no-plot", action="store_true", help="do not re-draw report.png")
    args = p.parse_args(argv)
    report = load_report(args.run_dir)
    print_report(report)
    if not args.no_plot and (png := write_plot(report, args.run_dir)) is not None:
        print(f"plot: {png}")
    return report_exit_status(report)


def compare_tool(argv: list[str]) -> int:
    from sim.report.compare import compare_reports, load_report, print_comparison

    """``run.py compare RUN_A RUN_B``: exit 0 once both reports are read."""
    p = ArgumentParser(prog="run.py compare",
                       description="Show two finished runs side by side, with the change B - A.")
    p.add_argument("run_a", type=Path, help="run folder A (the baseline)")
    p.add_argument("run_b", type=Path, help="run folder B")
    args = p.parse_args(argv)
    print_comparison(compare_reports(load_report(args.run_a), load_report(args.run_b)))
    return EXIT_OK
