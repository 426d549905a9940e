"""Features: parts of a run that plug in (faults, miss timeline, trace, recording, ...).

A ``Feature`` is attached to a run before it starts (``attach``), observes it through the
``RunListener`` hooks it overrides, and may contribute one section of ``report.json``
(``section``, ``report_section``) and print it in the text report (``print_section``).
The report (sim.report) iterates the attached features' sections; it knows no feature by name.
docs/features.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO

from sim.core.listeners import RunListener

if TYPE_CHECKING:
    from sim.core.handle import RunHandle

# "run": a measurement, added by ``build_report`` and printed with the tables (before failures);
# "output": a file the feature wrote, added by ``finish_report`` and printed at the end.
Stage = Literal["run", "output"]
Printer = Callable[[Any, TextIO], None]

# section key -> (stage, printer). Filled as feature classes are defined, so a report loaded
# back from report.json prints every section whose feature module is imported.
_PRINTERS: dict[str, tuple[Stage, Printer]] = {}


class Feature(RunListener):
    """A part of a run that plugs in: attach, observe (RunListener hooks), report a section, print it."""

    section: ClassVar[str | None] = None  # its key in report.json; None: it adds none
    stage: ClassVar[Stage] = "run"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.section is not None and "print_section" in cls.__dict__:
            _PRINTERS[cls.section] = (cls.stage, cls.print_section)

    def attach(self, run: RunHandle) -> None:
        """Wire into ``run`` while it is built (default: observe it as a listener)."""
        run.add_listener(self)

    def report_section(self, run: RunHandle) -> Any:
        """The section's JSON-ready data, after the run stopped; None leaves the section out."""
        return None

    @staticmethod
    def print_section(data: Any, out: TextIO) -> None:
        """Print the section (from its report.json data) in the text report."""


def report_sections(listeners: Iterable[RunListener], stage: Stage, run: RunHandle) -> list[tuple[str, Any]]:
    """(key, data) of each attached feature's section of ``stage``, in attachment order."""
    out = []
    for x in listeners:
        if isinstance(x, Feature) and x.section is not None and x.stage == stage:
            data = x.report_section(run)
            if data is not None:
                out.append((x.section, data))
    return out


def print_sections(report: dict[str, Any], stage: Stage, out: TextIO) -> None:
    """Print the sections of ``stage`` present in ``report``, in the report's own key order."""
    for key, data in report.items():
        entry = _PRINTERS.get(key)
        if entry is not None and entry[0] == stage and data:
            entry[1](data, out)
