"""The run folder's extra outputs, wired in one place for the CLI (and anything else that runs a scenario).

``run_listeners`` picks the observers a run needs (the miss timeline always, the
trace unless disabled, the MCAP recording on request); ``finish_report`` adds
their sections and the ``expect:`` verdict to the report; ``write_plot`` draws
report.png without ever losing the run if plotting fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sim.core.listeners import RunListener
from sim.errors import OutputError
from sim.features.expect import expect_section
from sim.features.misses import MissTimeline


def run_listeners(trace: bool = True, record: bool = False) -> list[RunListener]:
    """Listeners for a run: MissTimeline always, TraceWriter if ``trace``, McapRecorder if ``record``."""
    listeners: list[RunListener] = [MissTimeline()]
    if trace:
        from sim.features.trace import TraceWriter

        listeners.append(TraceWriter())
    if record:
        from sim.features.record import McapRecorder

        listeners.append(McapRecorder())
    return listeners


def finish_report(report: dict[str, Any], run: Any) -> dict[str, Any]:
    """Add the ``trace``/``recording`` sections of the run's listeners and the ``expect`` section."""
    from sim.features.record import McapRecorder
    from sim.features.trace import TraceWriter

    for x in run.listeners:
        if isinstance(x, TraceWriter) and x.path is not None and x.path.exists():
            report["trace"] = x.summary()
        elif isinstance(x, McapRecorder) and x.path is not None and x.path.exists():
            report["recording"] = x.summary()
    report["expect"] = expect_section(getattr(run.scenario, "expect", None), report)
    return report


def write_plot(report: dict[str, Any], run_dir: Path) -> Path | None:
    """``run_dir/report.png``; on any plotting error, say so on stderr and return None.

    Raises ``OutputError`` when the drawn PNG could not be written (nothing is left under its name).
    """
    try:
        from sim.report.plots import write_report_png

        return write_report_png(report, Path(run_dir) / "cycles.csv", Path(run_dir) / "report.png")
    except OutputError:
        raise  # drawn but could not be written (a full disk): a failure of the run, said in one line
    except Exception as exc:  # a plot must never cost the run its report
        print(f"warning: report.png not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
