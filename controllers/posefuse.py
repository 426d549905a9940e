"""Pose estimate from the robot's own sensors: localisation anchored, odometry in between.

Localisation (10 Hz, delayed, noisy) is the granted absolute pose; wheel
odometry (50 Hz) is smooth but drifts. The estimate is the newest localisation
pose composed with the odometry motion since that localisation was sampled, so
it is as fresh as the odometry and never drifts further than one localisation
period. Without localisation it is the odometry pose (which starts at the
start pose in the map frame); without odometry it is the localisation pose.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from sensors.base import Reading

__all__ = ["PoseFuser"]


def _compose(anchor: np.ndarray, odom_then: np.ndarray, odom_now: np.ndarray) -> np.ndarray:
    """``anchor`` moved by the odometry motion from ``odom_then`` to ``odom_now`` (body frame)."""
    dx, dy = odom_now[0] - odom_then[0], odom_now[1] - odom_then[1]
    c, s = math.cos(odom_then[2]), math.sin(odom_then[2])
    bx, by = c * dx + s * dy, -s * dx + c * dy  # motion in the body frame at 'then'
    ca, sa = math.cos(anchor[2]), math.sin(anchor[2])
    th = anchor[2] + (odom_now[2] - odom_then[2])
    th = (th + math.pi) % (2.0 * math.pi) - math.pi
    return np.array([anchor[0] + ca * bx - sa * by, anchor[1] + sa * bx + ca * by, th])


class PoseFuser:
    """Keeps a short odometry history and fuses it with the newest localisation reading."""

    def __init__(self, history: int = 64) -> None:
        self._odom: deque[tuple[float, np.ndarray]] = deque(maxlen=history)
        self._last_odom_seq = -1
        self.distance = 0.0  # m, odometry travel seen so far (a wheel-based estimate)

    def update(self, localization: Reading | None, odometry: Reading | None) -> np.ndarray | None:
        """Pose ``[x, y, theta]`` in the map frame, or None before any pose reading."""
        odom_now = None
        if odometry is not None:
            odom_now = np.asarray(odometry.data[:3], dtype=float)
            if odometry.seq != self._last_odom_seq:
                if self._odom:
                    prev = self._odom[-1][1]
                    self.distance += math.hypot(odom_now[0] - prev[0], odom_now[1] - prev[1])
                self._odom.append((odometry.sample_time, odom_now))
                self._last_odom_seq = odometry.seq
        if localization is None:
            return odom_now
        anchor = np.asarray(localization.data[:3], dtype=float)
        if odom_now is None or not self._odom:
            return anchor
        t = localization.sample_time
        _, odom_then = min(self._odom, key=lambda e: abs(e[0] - t))
        return _compose(anchor, odom_then, odom_now)
