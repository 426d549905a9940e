"""The ``faults:`` list of a scenario: what can go wrong, when, and to whom.

Each fault is a window of simulated time ``[start, start + duration)`` on a
target (a robot or ``"*"``, and for sensor faults a sensor name or kind or
``"*"``). Each kind is one class (sim/features/faultkinds/) holding its model, its
loader cross-checks and its effect; ``sim.features.faultkind`` defines what a kind is
and keeps the registry; ``sim.features.faultrun`` applies the scenario's faults on the
timeline and ``sim.features.faultstats`` measures what they did, inside the window
against the rest of the run. This module is the catalog the loader reads.
"""

from __future__ import annotations

from sim.features.faultkind import (
    FaultKind,
    RobotFault,
    SensorFault,
    check_faults,
    fault_kinds,
    fault_label,
    fault_type,
    matches_sensor,
)
from sim.features.faultkinds import BUILTIN  # registers the built-in kinds, in order
from sim.features.faultkinds.kill import KillHost, KillWorker
from sim.features.faultkinds.load import CpuHog, NumpyLoad
from sim.features.faultkinds.sensor import FrozenSensor, LatencySpike, NoiseBurst, SensorDropout
from sim.features.faultkinds.stall import ControllerStall

__all__ = ["BUILTIN", "FAULT_KINDS", "ControllerStall", "CpuHog", "Fault", "FaultKind", "FrozenSensor", "KillHost",
           "KillWorker", "LatencySpike", "NoiseBurst", "NumpyLoad", "RobotFault", "SensorDropout", "SensorFault",
           "check_faults", "fault_kinds", "fault_label", "fault_type", "matches_sensor"]

FAULT_KINDS = fault_kinds()  # the built-in kinds; fault_kinds() also lists kinds registered later
Fault = fault_type()  # one entry of the built-in ``faults:`` list (the loader follows the registry)
