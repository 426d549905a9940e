"""2D lidar: a fan of range beams, ray cast against the map and the other robots."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sensors.base import Sensor
from sim.raycast import cast_scans
from sim.world import WorldSnapshot


class LidarParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beams: int = Field(360, ge=1, le=10000, description="number of beams, evenly spaced over fov")
    fov: float = Field(2 * math.pi, gt=0, le=2 * math.pi, description="field of view, rad, centred ahead")
    range_min: float = Field(0.05, ge=0, le=100, description="m; closer returns are not seen")
    range_max: float = Field(10.0, gt=0, le=200, description="m; farther returns are no return (inf)")
    noise_std: float = Field(0.01, ge=0, le=10, description="m, Gaussian range noise")


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


class Lidar(Sensor):
    """A 2D scanning lidar; all due lidars with the same beam layout are cast in one call."""

    kind = "lidar"
    Params = LidarParams

    @functools.cached_property
    def beam_angles(self) -> np.ndarray:
        """Beam directions relative to the heading, rad; read-only (controllers cache its trig)."""
        angles = self._beam_angles()
        angles.flags.writeable = False  # shared by every scan of this lidar: nobody may change it
        return angles

    def _beam_angles(self) -> np.ndarray:
        """Evenly spaced over the field of view (a full circle has no repeated beam)."""
        p = self.params
        n = p.beams
        if math.isclose(p.fov, 2 * math.pi):
            return -math.pi + (p.fov / n) * np.arange(n)
        if n == 1:
            return np.zeros(1)
        return -p.fov / 2 + (p.fov / (n - 1)) * np.arange(n)

    def sample(self, snap: WorldSnapshot) -> LaserScan:
        return self.sample_many([self], snap)[0]

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[LaserScan]:
        out: list[LaserScan] = [None] * len(sensors)  # type: ignore[list-item]
        groups: dict[tuple, list[int]] = {}
        for k, s in enumerate(sensors):
            p = s.params
            groups.setdefault((p.beams, p.fov, p.range_min, p.range_max), []).append(k)
        circles = (snap.pose[:, :2], snap.radius)
        for members in groups.values():
            first: Lidar = sensors[members[0]]  # type: ignore[assignment]
            p = first.params
            idx = np.array([sensors[k].robot.index for k in members])
            ranges = None
            if first.pool is not None:  # worker processes (physics.workers > 0); None if it does not fit
                ranges = first.pool.cast_scans(snap.pose, snap.radius, idx, first.beam_angles,
                                               p.range_max, p.range_min)
            if ranges is None:
                ranges = cast_scans(first.static.segment_map, snap.pose[idx, :2], snap.pose[idx, 2],
                                    first.beam_angles, p.range_max, p.range_min, circles=circles, self_index=idx)
            # Noise for the whole group at once; each sensor draws from its own generator.
            noise = np.zeros_like(ranges)
            for row, k in enumerate(members):
                std = sensors[k].params.noise_std
                if std > 0:
                    noise[row] = sensors[k].rng.normal(0.0, std, ranges.shape[1])
            r = ranges + noise  # adding 0.0 leaves a noiseless row as it was
            r = np.where(np.isfinite(r), np.clip(r, p.range_min, p.range_max), r).astype(np.float32)
            for row, k in enumerate(members):
                out[k] = LaserScan(first.beam_angles, r[row], p.range_min, p.range_max)
        return out
