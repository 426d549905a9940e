"""2D lidar: a fan of range beams, ray cast against the map and the other robots."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.interfaces.payloads import LaserScan
from sim.interfaces.sensor import Sensor

if TYPE_CHECKING:
    from sim.world.model import WorldSnapshot

__all__ = ["LaserScan", "Lidar", "LidarParams"]  # LaserScan: its documented old path (sim.interfaces.payloads)


class LidarParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load

    beams: int = Field(360, ge=1, le=10000, description="number of beams, evenly spaced over fov")
    fov: float = Field(2 * math.pi, gt=0, le=2 * math.pi, description="field of view, rad, centred ahead")
    range_min: float = Field(0.05, ge=0, le=100, description="m; closer returns are not seen")
    range_max: float = Field(10.0, gt=0, le=200, description="m; farther returns are no return (inf)")
    noise_std: float = Field(0.01, ge=0, le=10, description="m, Gaussian range noise")


class Lidar(Sensor):
    """A 2D scanning lidar; all due lidars with the same beam layout are cast in one call."""

    kind = "lidar"
    Params = LidarParams
    params: LidarParams  # the validated Params instance (set by the base __init__)
    allows_inf = True  # a range of inf is "no return" (NaN is never a range)

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
    def check_reading(cls, payload: Any) -> str | None:
        """Only the ranges can go wrong (inf is "no return", NaN never is): one ufunc, not a walk."""
        if type(payload) is LaserScan and not np.isnan(payload.ranges).any():
            return None
        return super().check_reading(payload)

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[LaserScan]:
        lidars: list[Lidar] = sensors  # type: ignore[assignment]  # sample_many gets only sensors of this class (the runtime groups them by type)
        members = tuple(lidars)
        batch = lidars[0]._batch
        if batch is None or batch[0] != members:  # the same lidars are due together at every tick
            batch = lidars[0]._batch = (members, _layout_groups(lidars))
        out: list[LaserScan] = [None] * len(lidars)  # type: ignore[list-item]  # every slot is filled below
        for rows, idx, std, all_noisy, mounts in batch[1]:
            first = lidars[rows[0]]
            p = first.params
            if mounts is None:  # every lidar of the group at base_link: the call as before mounts existed
                ranges = first.static.cast_scans(snap, idx, first.beam_angles, p.range_max, p.range_min)
            else:
                ranges = first.static.cast_scans(snap, idx, first.beam_angles, p.range_max, p.range_min, mounts)
            # Noise for the whole group at once; each sensor draws from its own generator the
            # numbers normal(0.0, std, n) would, 0.0 + std * z, with z drawn as standard normals.
            n = ranges.shape[1]
            if all_noisy:
                r = np.array([lidars[k].rng.standard_normal(n) for k in rows])
            else:
                r = np.zeros_like(ranges)
                for row, k in enumerate(rows):
                    if std[row, 0] > 0:
                        r[row] = lidars[k].rng.standard_normal(n)
            r *= std
            r += 0.0  # as normal() does: turns a -0.0 into 0.0, so the result is bit for bit the same
            r += ranges  # ranges + noise (adding 0.0 leaves a noiseless row as it was)
            np.clip(r, p.range_min, p.range_max, out=r, where=np.isfinite(r))  # inf stays "no return"
            r = r.astype(np.float32)
            for row, k in enumerate(rows):
                out[k] = LaserScan(first.beam_angles, r[row], p.range_min, p.range_max)
        return out


def _layout_groups(lidars: list[Lidar]) -> list[tuple[list[int], np.ndarray, np.ndarray, bool, np.ndarray | None]]:
    """Lidars with the same beam layout, cast together.

    Per group: positions in ``lidars``, robot indices, noise std as a column, all noisy?, and
    the mounts (M, 3) (None when every one is at base_link).
    """
    groups: dict[tuple, list[int]] = {}
    for k, s in enumerate(lidars):
        p = s.params
        groups.setdefault((p.beams, p.fov, p.range_min, p.range_max), []).append(k)
    out = []
    for rows in groups.values():
        std = np.array([[lidars[k].params.noise_std] for k in rows])
        mounts = np.array([lidars[k].mount for k in rows], dtype=float).reshape(-1, 3)
        out.append((rows, np.array([lidars[k].robot.index for k in rows]), std, bool((std > 0).all()),
                    mounts if mounts.any() else None))
    return out
