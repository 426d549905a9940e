"""Command line: ``python run.py SCENARIO [options]`` and the ``report``/``compare`` tools."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.errors import SimError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run.py",
        description="Run a robot-fleet scenario: sensor producer threads feed bounded queues, "
        "controller threads run under deadlines, and the run ends with a deadline-miss report.",
        epilog="Tools: 'run.py report RUN_DIR' re-prints and re-plots a finished run's report; "
        "'run.py compare RUN_A RUN_B' shows two runs side by side. "
        "Exit status: 0 ok, 1 the run failed (a thread died) or an expect: gate was breached, 2 bad input, "
        "130 interrupted.",
    )
    p.add_argument("scenario", nargs="?", type=Path, help="scenario YAML file (see docs/scenario.md)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="simulated seconds to run (overrides run.duration)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed for every noise source (overrides run.seed)")
    p.add_argument("--time-scale", type=float, metavar="X",
                   help="simulated seconds per real second, e.g. 0.5 = half speed (overrides run.time_scale)")
    p.add_argument("--out", type=Path, metavar="DIR", default=Path("runs"),
                   help="folder under which the run folder is made (default: runs/)")
    p.add_argument("--headless", action="store_true", help="no window: run, print the report, exit")
    p.add_argument("--clock", choices=["real", "virtual"],
                   help="real: wall time x time scale (shows what the host does); virtual: deterministic, "
                   "as fast as possible headless, paced by --time-scale with the window (overrides run.clock)")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="with the window: save a PNG of it after --duration, then exit")
    p.add_argument("--window", default="1280x800", metavar="WxH", help="window size in pixels (default 1280x800)")
    p.add_argument("--schema", action="store_true", help="print the scenario JSON Schema and exit")
    p.add_argument("--record", action="store_true",
                   help="also write recording.mcap (every reading, command, true pose and cycle; open in Foxglove)")
    p.add_argument("--no-trace", action="store_true", help="do not write trace.json (Chrome trace / Perfetto)")
    p.add_argument("--no-plot", action="store_true", help="do not draw report.png")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "report":
            return _report_tool(argv[1:])
        if argv and argv[0] == "compare":
            return _compare_tool(argv[1:])
        if argv and argv[0] == "sweep":
            from sim.sweep import main as sweep_main

            return sweep_main(argv[1:])
        args = _parser().parse_args(argv)
        return _run(args)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario, scenario_json_schema

    if args.schema:
        import json

        print(json.dumps(scenario_json_schema(), indent=2))
        return EXIT_OK
    if args.scenario is None:
        _parser().print_usage(sys.stderr)
        print("error: give a scenario file, e.g. scenarios/warehouse.yaml", file=sys.stderr)
        return EXIT_USAGE
    overrides: dict[str, Any] = {}
    if args.duration is not None:
        overrides["run.duration"] = args.duration
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.time_scale is not None:
        overrides["run.time_scale"] = args.time_scale
    if args.clock is not None:
        overrides["run.clock"] = args.clock
    scenario = load_scenario(args.scenario, overrides)
    _choose_display(args)
    window = _window_size(args.window)

    from sim.files import write_json
    from sim.report import build_report, print_report
    from sim.runner import Run, make_clock, run_folder

    out = run_folder(args.out, scenario.name, scenario.run.seed)
    clock = make_clock(scenario.run.clock, scenario.run.time_scale, paced=not args.headless,
                       pin_cpu=scenario.run.pin_cpu)
    from sim.outputs import finish_report, run_listeners, write_plot

    run = Run(scenario, out, clock=clock, listeners=run_listeners(trace=not args.no_trace, record=args.record))
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: run.finish(
            "interrupted" if signum == signal.SIGINT else "terminated"))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:  # the handlers stay until report.json is written: a second Ctrl-C cannot lose it
        try:
            run.start()
            print(f"running {scenario.name}: {len(scenario.robots)} robots, {len(run.threads)} threads, "
                  f"{run.duration:g} s simulated at time scale {scenario.run.time_scale:g} "
                  "(Ctrl-C stops the run and still writes the report)", flush=True)
            if args.headless:
                run.wait()
            else:
                from sim.view import run_view

                run_view(run, window=window, screenshot=args.screenshot)
        finally:
            run.stop()
        report = finish_report(build_report(run, started_at), run)
        write_json(out / "report.json", report)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print_report(report)
    if not args.no_plot and (png := write_plot(report, out)) is not None:
        print(f"plot: {png}")
    print(f"\nreport folder: {out}")
    fatal = [f for f in run.failures if f.fatal]
    interrupted = run.end_reason in ("interrupted", "terminated")
    if fatal:  # one line naming what failed; the report above has the details
        f = fatal[0]
        inside = f" in {f.call}" if f.call and f.call not in f.error else ""
        text = " ".join(f"run failed: {f.thread}: {f.error}{inside}".split())
        print(f"error: {text if len(text) <= 300 else text[:297] + '...'}", file=sys.stderr)
        return EXIT_FAILED
    if run.hung_threads and not interrupted:  # interrupted: the report names them, the status stays 130
        stuck = "; ".join(f"{s.thread} still in {s.call}" for s in run.stuck_calls) or ", ".join(run.hung_threads)
        text = " ".join(f"run failed: threads did not stop within 1 s: {stuck}".split())
        print(f"error: {text if len(text) <= 300 else text[:297] + '...'}", file=sys.stderr)
        return EXIT_FAILED
    if interrupted:
        return EXIT_INTERRUPTED
    if report["expect"]["breaches"]:
        print(f"expect: {len(report['expect']['breaches'])} gate(s) breached (listed above)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _choose_display(args: argparse.Namespace) -> None:
    """No screen (a server, CI): a screenshot renders off-screen; a plain run goes headless, and says so."""
    if args.headless or os.environ.get("SDL_VIDEODRIVER") or sys.platform != "linux":
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if args.screenshot is not None:
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # draws into memory: the PNG is the same
        return
    print("note: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so running headless; "
          "for the window run under a desktop or xvfb-run, or pass --headless to silence this", file=sys.stderr)
    args.headless = True


def _window_size(text: str) -> tuple[int, int]:
    from sim.errors import UsageError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if not (200 <= w <= 10000 and 200 <= h <= 10000):
            raise ValueError
    except ValueError:
        raise UsageError(f"--window: got {text!r}; expected WIDTHxHEIGHT in pixels, each 200..10000") from None
    return w, h


def _report_tool(argv: list[str]) -> int:
    from sim.compare import load_report
    from sim.outputs import write_plot
    from sim.report import print_report

    p = argparse.ArgumentParser(prog="run.py report",
                                description="Re-print a finished run's report and re-draw its report.png.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--no-plot", action="store_true", help="do not re-draw report.png")
    args = p.parse_args(argv)
    report = load_report(args.run_dir)
    print_report(report)
    if not args.no_plot and (png := write_plot(report, args.run_dir)) is not None:
        print(f"plot: {png}")
    return EXIT_OK


def _compare_tool(argv: list[str]) -> int:
    from sim.compare import compare_reports, load_report, print_comparison

    p = argparse.ArgumentParser(prog="run.py compare",
                                description="Show two finished runs side by side, with the change B - A.")
    p.add_argument("run_a", type=Path, help="run folder A (the baseline)")
    p.add_argument("run_b", type=Path, help="run folder B")
    args = p.parse_args(argv)
    print_comparison(compare_reports(load_report(args.run_a), load_report(args.run_b)))
    return EXIT_OK
