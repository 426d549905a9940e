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
from bisect import bisect_left
from collections import deque

import numpy as np

from sim.interfaces.messages import Reading

__all__ = ["PoseFuser"]


def _compose(anchor: np.ndarray, odom_then: np.ndarray, odom_now: np.ndarray) -> np.ndarray:
    """``anchor`` moved by the odometry motion from ``odom_then`` to ``odom_now`` (body frame)."""
    (ax, ay, at), (x0, y0, t0), (x1, y1, t1) = anchor.tolist(), odom_then.tolist(), odom_now.tolist()
    dx, dy = x1 - x0, y1 - y0
    c, s = math.cos(t0), math.sin(t0)
    bx, by = c * dx + s * dy, -s * dx + c * dy  # motion in the body frame at 'then'
    ca, sa = math.cos(at), math.sin(at)
    th = at + (t1 - t0)
    th = (th + math.pi) % (2.0 * math.pi) - math.pi
    return np.array([ax + ca * bx - sa * by, ay + sa * bx + ca * by, th])


class PoseFuser:
    """Keeps a short odometry history and fuses it with the newest localisation reading."""

    def __init__(self, history: int = 64) -> None:
        self._odom: deque[np.ndarray] = deque(maxlen=history)
        self._times: deque[float] = deque(maxlen=history)  # sample time of each _odom entry
        self._unsorted = 0  # appends until an out-of-order sample time has left the history
        self._last_odom_seq = -1
        self.distance = 0.0  # m, odometry travel seen so far (a wheel-based estimate)

    def update(self, localization: Reading | None, odometry: Reading | None) -> np.ndarray | None:
        """Pose ``[x, y, theta]`` in the map frame, or None before any pose reading."""
        odom_now = None
        if odometry is not None:
            odom_now = np.asarray(odometry.data[:3], dtype=float)
            if odometry.seq != self._last_odom_seq:
                if self._odom:
                    prev = self._odom[-1]
                    self.distance += math.hypot(odom_now[0] - prev[0], odom_now[1] - prev[1])
                if self._times and odometry.sample_time < self._times[-1]:
                    self._unsorted = self._times.maxlen or 0  # always set: deque(maxlen=history)
                elif self._unsorted:
                    self._unsorted -= 1
                self._odom.append(odom_now)
                self._times.append(odometry.sample_time)
                self._last_odom_seq = odometry.seq
        if localization is None:
            return odom_now
        anchor = np.asarray(localization.data[:3], dtype=float)
        if odom_now is None or not self._odom:
            return anchor
        return _compose(anchor, self._odom[self._nearest(localization.sample_time)], odom_now)

    def _nearest(self, t: float) -> int:
        """Index of the odometry sample nearest ``t`` in time; the first of equally near ones."""
        times = self._times
        if self._unsorted:
            return min(range(len(times)), key=lambda i: abs(times[i] - t))
        i = bisect_left(times, t)  # sorted: |time - t| falls up to i - 1, then rises
        if i == len(times) or (i > 0 and abs(times[i - 1] - t) <= abs(times[i] - t)):
            i -= 1
            while i > 0 and abs(times[i - 1] - t) == abs(times[i] - t):  # equal after rounding
                i -= 1
        return i
