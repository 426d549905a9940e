"""The built-in fault kinds, one class each, registered here in the order docs and messages list them.

A kind of your own registers itself from any module with ``@register_fault_kind``
(sim.features.faultkind; docs/features.md, "Adding a fault kind").
"""

from sim.features.faultkind import register_fault_kind
from sim.features.faultkinds.kill import KillHost, KillWorker
from sim.features.faultkinds.load import CpuHog, NumpyLoad
from sim.features.faultkinds.sensor import FrozenSensor, LatencySpike, NoiseBurst, SensorDropout
from sim.features.faultkinds.stall import ControllerStall

BUILTIN = (SensorDropout, LatencySpike, FrozenSensor, NoiseBurst, ControllerStall, CpuHog, NumpyLoad, KillWorker,
           KillHost)
for _cls in BUILTIN:
    register_fault_kind(_cls)

__all__ = ["BUILTIN"]
