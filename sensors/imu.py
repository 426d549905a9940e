"""IMU: body-frame linear acceleration and yaw rate, with white noise and a constant bias."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sensors.base import Sensor
from sim.world import WorldSnapshot


class ImuParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gyro_noise_std: float = Field(0.005, ge=0, le=10, description="rad/s, white noise on yaw rate")
    gyro_bias_std: float = Field(0.002, ge=0, le=10, description="rad/s, std of the constant bias drawn at start")
    accel_noise_std: float = Field(0.05, ge=0, le=100, description="m/s^2, white noise per axis")
    accel_bias_std: float = Field(0.02, ge=0, le=100, description="m/s^2, std of the constant bias per axis")


class Imu(Sensor):
    """Payload ``[ax, ay, wz]``: forward and lateral acceleration (m/s^2), yaw rate (rad/s)."""

    kind = "imu"
    Params = ImuParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        p = self.params
        self.bias = np.array([
            self.rng.normal(0.0, p.accel_bias_std),
            self.rng.normal(0.0, p.accel_bias_std),
            self.rng.normal(0.0, p.gyro_bias_std),
        ])
        self._std = np.array([p.accel_noise_std, p.accel_noise_std, p.gyro_noise_std])

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        return self.sample_many([self], snap)[0]

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[np.ndarray]:
        """All due IMUs in a few array operations (100 Hz x every robot is a hot path).

        Each sensor still draws its noise from its own generator, in the same order.
        """
        imus: list[Imu] = sensors  # type: ignore[assignment]
        idx = [s.robot.index for s in imus]
        true = np.empty((len(idx), 3))
        true[:, :2] = snap.accel[idx]
        true[:, 2] = snap.velocity[idx, 1]
        bias = np.array([s.bias for s in imus])
        std = np.array([s._std for s in imus])
        noise = np.array([s.rng.standard_normal(3) for s in imus])
        return list(true + bias + noise * std)
