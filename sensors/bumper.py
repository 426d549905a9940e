"""Bumper: a contact switch, true while the robot touches a wall, shelf or robot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.interfaces.sensor import Sensor

if TYPE_CHECKING:
    from sim.world.model import WorldSnapshot


class Bumper(Sensor):
    """Payload ``bool``: in contact at the sample time."""

    kind = "bumper"

    def sample(self, snap: WorldSnapshot) -> bool:
        return bool(snap.contact[self.robot.index])

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[bool]:
        """One conversion of the contact flags for all due bumpers."""
        contact = snap.contact.tolist()
        return [bool(contact[s.robot.index]) for s in sensors]
