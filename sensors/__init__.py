"""Simulated sensors. Each samples a ``WorldSnapshot`` and returns a payload; the
runtime (``sim.core.producers``) adds timing, latency, dropout and the queue."""

from sensors.base import Reading, RobotInfo, Sensor

__all__ = ["Reading", "RobotInfo", "Sensor"]
