"""The public plugin API: everything a sensor or controller author imports, from one place.

    from sim.api import Controller, Inputs, LaserScan

The names live in their layers (``sim.interfaces``, ``sim.world``, ``sim.testing``,
``sim.errors``); this module only gathers them, and ``__all__`` is the whole public set
(tests/test_plugin_api.py pins it). The older paths of docs/plugins.md (``sensors.base``,
``controllers.base``, ``sim.world``, ``sim.conformance``, ...) still work: the same objects.
"""

from sim.core.control import Cycle
from sim.errors import ConformanceError
from sim.interfaces import Command, Controller, Inputs, LaserScan, NoParams, Reading, RobotInfo, Sensor
from sim.testing.conformance import check_controller, check_sensor
from sim.testing.harness import ControllerHarness
from sim.world import StaticMap, WorldSnapshot

# What a plugin implements and exchanges; what a sensor measures and every plugin knows; testing a
# plugin (the conformance checks and the single-thread controller harness).
__all__ = [
    "Command", "ConformanceError", "Controller", "ControllerHarness", "Cycle", "Inputs", "LaserScan", "NoParams",
    "Reading", "RobotInfo", "Sensor", "StaticMap", "WorldSnapshot", "check_controller", "check_sensor",
]
