"""Sensor payloads with a structure of their own (a reading's ``data``), shared by sensors and controllers.

The other built-in payloads are plain values: the IMU's ``[ax, ay, wz]``, odometry's
``[x, y, theta, v, w]``, localisation's ``[x, y, theta]`` (numpy arrays), the bumper's bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class LaserScan:
    """One scan, like ROS ``sensor_msgs/LaserScan``: ``ranges[i]`` along ``angles[i]``.

    Angles are relative to the robot's heading (rad, counter-clockwise); ranges in
    m (float32); no return is ``inf``.
    """

    angles: np.ndarray
    ranges: np.ndarray
    range_min: float
    range_max: float
