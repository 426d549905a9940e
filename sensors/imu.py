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
        i = self.robot.index
        true = np.array([snap.accel[i, 0], snap.accel[i, 1], snap.velocity[i, 1]])
        return true + self.bias + self.rng.normal(0.0, 1.0, 3) * self._std
