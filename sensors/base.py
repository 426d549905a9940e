"""The sensor plugin interface, at its documented old path: re-exports of ``sim.interfaces``.

New code imports these names from ``sim.api``; this module keeps plugins written against
the earlier docs/plugins.md working unchanged.
"""

from sim.interfaces.messages import Reading
from sim.interfaces.plugin import NoParams, RobotInfo
from sim.interfaces.sensor import Sensor, bad_number

__all__ = ["NoParams", "Reading", "RobotInfo", "Sensor", "bad_number"]
