"""Controllers for the watchdog tests: one that declares nothing, ones that declare badly."""

from __future__ import annotations

from controllers.base import Controller, Inputs


class Silent(Controller):
    """Declares no ``needs``: every sensor of its robot is watched."""

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.0, 0.0


class ImuOnly(Silent):
    """Reads only the IMU: ``needs`` by kind."""

    needs = ("imu",)


class NamesAGhost(Silent):
    """A buggy ``inputs_needed``: names a sensor its robot does not have."""

    def inputs_needed(self) -> list[str]:
        return ["ghost"]


class NeedsRaises(Silent):
    """A buggy ``inputs_needed``: raises."""

    def inputs_needed(self) -> list[str]:
        raise KeyError("lidar")
