"""The run folder's extra outputs, wired in one place for the CLI (and anything else that runs a scenario).

``run_listeners`` picks the observers a run needs (the miss timeline always, the
trace unless disabled, the MCAP recording on request); ``finish_report`` adds the
sections of the files they wrote and the ``expect:`` verdict to the report;
``write_plot`` draws report.png without ever losing the run if plotting fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.core.feature import report_sections
from sim.core.listeners import RunListener
from sim.errors import OutputError
from sim.features.catalog import Record, output_features
from sim.features.expect import expect_section

if TYPE_CHECKING:
    from sim.core.handle import RunHandle
    from sim.features.live import LiveServer


def run_listeners(trace: bool = True, record: Record = False, live: LiveServer | None = None) -> list[RunListener]:
    """Listeners for a run: MissTimeline always, TraceWriter if ``trace``, a recorder per format of ``record``
    (True = foxglove; ``("foxglove", "ros2")``, ``"ros2"``: sim.features.catalog.record_formats); ``live`` (a
    started LiveServer, ``--foxglove``) streams the Foxglove recorder's channels."""
    return list(output_features(trace, record, live))


def finish_report(report: dict[str, Any], run: RunHandle) -> dict[str, Any]:
    """Add the ``output`` sections of the run's features (files written: trace, recording) and ``expect``."""
    written: set[str] = set()
    for key, data in report_sections(run.listeners, "output", run):
        if key not in written:  # the first feature of a section wins
            written.add(key)
            report[key] = data
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
