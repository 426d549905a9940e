"""The plugin interfaces: what sensors and controllers implement and exchange (readings, inputs, commands, payloads).

The low layer the built-in plugins and the simulator's core both import, so neither imports
the other. Users import these names from ``sim.api`` (the one public place).
"""

from sim.interfaces.controller import Controller, Inputs
from sim.interfaces.messages import Command, Reading
from sim.interfaces.payloads import LaserScan
from sim.interfaces.plugin import NoParams, RobotInfo
from sim.interfaces.sensor import Sensor

__all__ = ["Command", "Controller", "Inputs", "LaserScan", "NoParams", "Reading", "RobotInfo", "Sensor"]
