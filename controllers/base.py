"""The controller plugin interface, at its documented old path: re-exports of ``sim.interfaces``.

New code imports these names from ``sim.api``; this module keeps plugins written against
the earlier docs/plugins.md working unchanged.
"""

from sim.interfaces.controller import Controller, Inputs
from sim.interfaces.messages import Reading
from sim.interfaces.plugin import NoParams, RobotInfo

__all__ = ["Controller", "Inputs", "NoParams", "Reading", "RobotInfo"]
