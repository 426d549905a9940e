"""IMU: body-frame linear acceleration and yaw rate, with white noise and a constant bias."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.interfaces.sensor import Sensor

if TYPE_CHECKING:
    from sim.world.model import WorldSnapshot


class ImuParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load

    gyro_noise_std: float = Field(0.005, ge=0, le=10, description="rad/s, white noise on yaw rate")
    gyro_bias_std: float = Field(0.002, ge=0, le=10, description="rad/s, std of the constant bias drawn at start")
    accel_noise_std: float = Field(0.05, ge=0, le=100, description="m/s^2, white noise per axis")
    accel_bias_std: float = Field(0.02, ge=0, le=100, description="m/s^2, std of the constant bias per axis")


class Imu(Sensor):
    """Payload ``[ax, ay, wz]``: forward and lateral acceleration (m/s^2), yaw rate (rad/s)."""

    kind = "imu"
    Params = ImuParams
    params: ImuParams  # the validated Params instance (set by the base __init__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        p = self.params
        self.bias = np.array([
            self.rng.normal(0.0, p.accel_bias_std),
            self.rng.normal(0.0, p.accel_bias_std),
            self.rng.normal(0.0, p.gyro_bias_std),
        ])
        self._std = np.array([p.accel_noise_std, p.accel_noise_std, p.gyro_noise_std])

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        """One IMU in scalar arithmetic: the operations of ``sample_many``, without its array overhead."""
        i = self.robot.index
        ax, ay = snap.accel[i].tolist()
        wz = float(snap.velocity[i, 1])
        b0, b1, b2 = self.bias.tolist()
        s0, s1, s2 = self._std.tolist()
        n0, n1, n2 = self.rng.standard_normal(3).tolist()
        return np.array([ax + b0 + n0 * s0, ay + b1 + n1 * s1, wz + b2 + n2 * s2])

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[np.ndarray]:
        """All due IMUs in a few array operations (100 Hz x every robot is a hot path).

        Each sensor still draws its noise from its own generator, in the same order. The
        constants of a batch are stacked once and kept by its first sensor: the same IMUs
        are due together at every tick.
        """
        imus: list[Imu] = sensors  # type: ignore[assignment]  # sample_many gets only sensors of this class (the runtime groups them by type)
        if len(imus) == 1:
            return [imus[0].sample(snap)]
        members = tuple(imus)
        batch = imus[0]._batch
        if batch is None or batch[0] != members:
            batch = imus[0]._batch = (members, np.array([s.robot.index for s in imus]),
                                      np.array([s.bias for s in imus]), np.array([s._std for s in imus]))
        _, idx, bias, std = batch
        noise = np.array([s.rng.standard_normal(3) for s in imus])
        out = np.empty((len(imus), 3))
        out[:, :2] = snap.accel[idx]
        out[:, 2] = snap.velocity[idx, 1]
        out += bias  # (true + bias) + noise * std, as before: the same roundings
        noise *= std
        out += noise
        return list(out)
