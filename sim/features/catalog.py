"""The built-in features: the ones a scenario asks for, the ones a run folder gets.

Importing this module also registers the built-in report sections' printers
(``sim.core.feature``), so a report read back from report.json prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.core.feature import Feature
from sim.features.faultrun import FaultInjector
from sim.features.hostload import HostLoad
from sim.features.misses import MissTimeline
from sim.features.orders import OrdersFeature
from sim.features.record import FoxgloveRecorder
from sim.features.trace import TraceWriter

if TYPE_CHECKING:
    from sim.features.live import LiveServer

__all__ = ["output_features", "scenario_features"]


def scenario_features(scenario: Any) -> list[Feature]:
    """The features a scenario's own sections ask for (``faults:``, ``orders:``), to attach while its run is built."""
    features: list[Feature] = []
    if scenario.faults:
        features.append(FaultInjector(list(scenario.faults)))
    if getattr(scenario, "orders", None) is not None:
        features.append(OrdersFeature())
    return features


def output_features(trace: bool = True, record: bool = False, live: LiveServer | None = None) -> list[Feature]:
    """A run folder's observers: MissTimeline always, TraceWriter if ``trace``, FoxgloveRecorder if ``record``
    (recording.mcap) or ``live`` (a started ``sim.features.live.LiveServer``: ``--foxglove``), one recorder for both.

    HostLoad too: it attaches itself to real-clock runs only (the ``host`` section; none in virtual time).
    """
    features: list[Feature] = [MissTimeline(), HostLoad()]
    if trace:
        features.append(TraceWriter())
    if record or live is not None:
        features.append(FoxgloveRecorder("recording.mcap" if record else None, live=live))
    return features
