"""The exit status of a run, decided in one place: from the finished run, or read back from its report.

The order: a file not written 1, a fatal failure 1, a thread that did not stop 1 (unless
interrupted: the report names them, the status stays 130), interrupted 130, a breached
``expect:`` gate 1, else 0. Read back from a report (``run.py report``), a thread that did not
stop counts 1 even in an interrupted run, and a file not written is not known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.errors import one_line as _one_line

if TYPE_CHECKING:
    from sim.errors import OutputError
    from sim.runtime.run import Run

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_MESSAGE = 390  # characters of the one error line (echoed values are shortened well before this)
INTERRUPTED = ("interrupted", "terminated")  # the end reasons of a signal (or a library caller's Ctrl-C)


def one_line(text: str) -> str:
    """A message as one line of at most MAX_MESSAGE characters (``sim.errors.one_line``)."""
    return _one_line(text, MAX_MESSAGE)


def judge(run: Run, report: dict[str, Any], errors: list[OutputError]) -> tuple[int, list[str]]:
    """The exit status of a finished run and the lines (for stderr) that say why it is not 0."""
    lines = [f"error: {one_line(str(exc))}" for exc in errors]
    fatal = [f for f in run.failures if f.fatal]
    interrupted = run.end_reason in INTERRUPTED
    if errors:
        return EXIT_FAILED, lines
    if fatal:  # one line naming what failed; the report has the details
        f = fatal[0]
        inside = f" in {f.call}" if f.call and f.call not in f.error else ""
        return EXIT_FAILED, [f"error: {one_line(f'run failed: {f.thread}: {f.error}{inside}')}"]
    if run.hung_threads and not interrupted:
        stuck = "; ".join(f"{s.thread} still in {s.call}" for s in run.stuck_calls) or ", ".join(run.hung_threads)
        return EXIT_FAILED, [f"error: {one_line(f'run failed: threads did not stop within 1 s: {stuck}')}"]
    if interrupted:
        return EXIT_INTERRUPTED, []
    if breaches := report["expect"]["breaches"]:
        return EXIT_FAILED, [f"expect: {len(breaches)} gate(s) breached (listed above)"]
    return EXIT_OK, []


def report_exit_status(report: dict[str, Any]) -> int:
    """The exit status of a run read back from its report (``run.py report``), in ``judge``'s order:
    a fatal failure or a thread that did not stop 1, interrupted 130, a breached expect: gate 1."""
    run = report.get("run") or {}
    if any(f.get("fatal", True) for f in run.get("failures") or []) or run.get("threads_not_stopped"):
        return EXIT_FAILED
    if run.get("end_reason") in INTERRUPTED:
        return EXIT_INTERRUPTED
    if (report.get("expect") or {}).get("breaches"):
        return EXIT_FAILED
    return EXIT_OK


def verdict_lines(report: dict[str, Any]) -> list[str]:
    """What ``--quiet`` prints of a finished run (stdout): its verdict in one line, and the ``expect:``
    gates breached, one line each (the exit status's stderr line says they are listed above).

    ``warehouse (seed 7, 60 s simulated, completed): All 9600 controller cycles met their deadlines.``
    """
    from sim.report.build import headline

    sc, run = report["scenario"], report["run"]
    first = headline(report).splitlines()[0]
    lines = [f"{sc['name']} (seed {sc['seed']}, {run['sim_seconds']:.3g} s simulated, {run['end_reason']}): {first}"]
    e = report.get("expect") or {}
    if e.get("checked"):
        breaches = e.get("breaches") or []
        lines += ([f"Expectations FAILED: {b}" for b in breaches] if breaches
                  else [f"Expectations met: {', '.join(sorted(e['gates']))}"])
    return lines
