"""The built-in features: the ones a scenario asks for, the ones a run folder gets.

Importing this module also registers the built-in report sections' printers
(``sim.core.feature``), so a report read back from report.json prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.core.feature import Feature
from sim.errors import UsageError
from sim.features.faultrun import FaultInjector
from sim.features.hostload import HostLoad
from sim.features.misses import MissTimeline
from sim.features.orders import OrdersFeature
from sim.features.record import FoxgloveRecorder
from sim.features.record_ros2 import Ros2Recorder
from sim.features.trace import TraceWriter

if TYPE_CHECKING:
    from sim.features.live import LiveServer

__all__ = ["RECORD_FORMATS", "output_features", "record_formats", "scenario_features"]

# --record FORMAT[,FORMAT]: each format's file (bare --record = foxglove, the first)
RECORD_FORMATS: dict[str, str] = {"foxglove": "recording.mcap", "ros2": "recording-ros2.mcap"}
Record = bool | str | Sequence[str] | None


def scenario_features(scenario: Any) -> list[Feature]:
    """The features a scenario's own sections ask for (``faults:``, ``orders:``), to attach while its run is built."""
    features: list[Feature] = []
    if scenario.faults:
        features.append(FaultInjector(list(scenario.faults)))
    if getattr(scenario, "orders", None) is not None:
        features.append(OrdersFeature())
    return features


def record_formats(record: Record) -> tuple[str, ...]:
    """The recording formats ``record`` asks for: True = ``("foxglove",)``, False/None/"" = none, a string
    ``"foxglove,ros2"`` or a sequence of names = those (each once, in order); an unknown name raises
    ``UsageError`` (one line naming the known ones)."""
    if record is None or record is False:
        return ()
    if record is True:
        return ("foxglove",)
    names = [n.strip() for n in record.split(",")] if isinstance(record, str) else [str(n) for n in record]
    for n in names:
        if n not in RECORD_FORMATS:
            raise UsageError(f"--record: unknown format {n!r}; expected one or more of "
                             f"{', '.join(RECORD_FORMATS)}, comma-separated (e.g. --record foxglove,ros2)")
    return tuple(dict.fromkeys(names))


def output_features(trace: bool = True, record: Record = False, live: LiveServer | None = None) -> list[Feature]:
    """A run folder's observers: MissTimeline always, TraceWriter if ``trace``, one recorder per format of
    ``record`` (``record_formats``: True or "foxglove" = FoxgloveRecorder writing recording.mcap, "ros2" =
    Ros2Recorder); ``live`` (a started ``sim.features.live.LiveServer``: ``--foxglove``) streams the Foxglove
    recorder's channels, one recorder for both file and stream.

    HostLoad too: it attaches itself to real-clock runs only (the ``host`` section; none in virtual time).
    """
    features: list[Feature] = [MissTimeline(), HostLoad()]
    if trace:
        features.append(TraceWriter())
    formats = record_formats(record)
    if "foxglove" in formats or live is not None:
        features.append(FoxgloveRecorder(RECORD_FORMATS["foxglove"] if "foxglove" in formats else None, live=live))
    if "ros2" in formats:
        features.append(Ros2Recorder())
    return features
