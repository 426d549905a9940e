"""What flows between the threads: a sensor's published ``Reading``, a controller's ``Command``.

Both are immutable, so a producer, a controller and physics can hold the same object
on different threads without a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, init=False)
class Reading:
    """One published measurement. Times are simulated seconds."""

    robot: str
    sensor: str  # the sensor's name on its robot
    seq: int  # per sensor, from 0; a gap means a dropout or a drop
    sample_time: float  # when the world looked like this
    publish_time: float  # when it entered the queue (sample_time + latency)
    data: Any

    def __init__(self, robot: str, sensor: str, seq: int, sample_time: float, publish_time: float,
                 data: Any) -> None:
        # One Reading per published sample: set the slots directly, which costs half of the
        # generated frozen __init__ (an object.__setattr__ lookup and call per field).
        _set_robot(self, robot)
        _set_sensor(self, sensor)
        _set_seq(self, seq)
        _set_sample_time(self, sample_time)
        _set_publish_time(self, publish_time)
        _set_data(self, data)

    def age(self, now: float) -> float:
        """Seconds between the sample and ``now``."""
        return now - self.sample_time


_set_robot, _set_sensor, _set_seq, _set_sample_time, _set_publish_time, _set_data = (
    Reading.__dict__[f].__set__ for f in ("robot", "sensor", "seq", "sample_time", "publish_time", "data"))


@dataclass(frozen=True)
class Command:
    """A velocity command for one robot and where its data came from."""

    v: float  # m/s, forward
    w: float  # rad/s, counter-clockwise
    issued_at: float = 0.0  # s, simulated time the controller finished
    input_sample_times: tuple[tuple[str, float], ...] = ()  # (sensor name, sample time)
