"""Sensor models against what their noise parameters promise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensors.base import RobotInfo
from sensors.bumper import Bumper
from sensors.imu import Imu, ImuParams
from sensors.localization import Localization, LocalizationParams
from sensors.odometry import Odometry, OdometryParams
from sim.world import WorldSnapshot

ROBOT = RobotInfo(0, "r1", 0.3, 1.0, 1.0, 2.0, 0.4, (0.0, 0.0, 0.0))


def snap(t: float, pose=(0.0, 0.0, 0.0), vel=(0.0, 0.0), accel=(0.0, 0.0), travel=(0.0, 0.0),
         contact: bool = False) -> WorldSnapshot:
    return WorldSnapshot(t, 0, np.array([pose], float), np.array([vel], float), np.array([accel], float),
                         np.array([travel], float), np.array([contact]), np.zeros(1, int), np.zeros(1),
                         np.array([0.3]))


def drive_straight(odo: Odometry, steps: int, d: float) -> np.ndarray:
    out = odo.sample(snap(0.0))
    for k in range(1, steps + 1):
        out = odo.sample(snap(k * 0.02, travel=(k * d, k * d)))
    return out


def test_odometry_without_noise_is_exact_on_an_arc() -> None:
    odo = Odometry("odom", ROBOT, OdometryParams(wheel_noise=0.0), np.random.default_rng(0), None)  # type: ignore[arg-type]
    odo.sample(snap(0.0))
    # quarter circle of radius 1 m: right wheel on r=1.2, left on r=0.8
    n = 500
    for k in range(1, n + 1):
        frac = k / n
        odo.sample(snap(k * 0.01, travel=(0.8 * math.pi / 2 * frac, 1.2 * math.pi / 2 * frac)))
    x, y, th = odo.pose
    assert x == pytest.approx(1.0, abs=1e-4)
    assert y == pytest.approx(1.0, abs=1e-4)
    assert th == pytest.approx(math.pi / 2, abs=1e-9)


def test_odometry_drift_statistics_match_the_noise_model() -> None:
    sigma, d, n, runs = 0.02, 0.025, 400, 300
    finals = np.array([
        drive_straight(Odometry("odom", ROBOT, OdometryParams(wheel_noise=sigma),
                                np.random.default_rng(seed), None), n, d)  # type: ignore[arg-type]
        for seed in range(runs)
    ])
    ex, ey = finals[:, 0] - n * d, finals[:, 1]
    # distance error: a sum of n independent (e_l + e_r) / 2 terms
    assert ex.std() == pytest.approx(d * sigma / math.sqrt(2) * math.sqrt(n), rel=0.15)
    # lateral error: the heading random walk integrated along the path (~ n^1.5)
    sigma_th = d * sigma * math.sqrt(2) / ROBOT.wheel_base
    assert ey.std() == pytest.approx(d * sigma_th * math.sqrt(n**3 / 3), rel=0.15)
    assert abs(ey.mean()) < 3 * ey.std() / math.sqrt(runs)  # unbiased
    # along-track: a heading wander shortens the path (x = sum d cos(theta)): E = -d sigma_th^2 n^2 / 4
    assert ex.mean() == pytest.approx(-d * sigma_th**2 * n**2 / 4, abs=3 * ex.std() / math.sqrt(runs))


def test_odometry_drift_grows_with_distance() -> None:
    def spread(steps: int) -> float:
        return float(np.std([
            drive_straight(Odometry("o", ROBOT, OdometryParams(wheel_noise=0.02), np.random.default_rng(s), None),
                           steps, 0.025)[1]  # type: ignore[arg-type]
            for s in range(200)
        ]))
    assert spread(400) > 4 * spread(100)  # ~ n^1.5 -> 8x


def test_imu_noise_and_bias() -> None:
    p = ImuParams(gyro_noise_std=0.01, gyro_bias_std=0.0, accel_noise_std=0.1, accel_bias_std=0.0)
    imu = Imu("imu", ROBOT, p, np.random.default_rng(3), None)  # type: ignore[arg-type]
    s = snap(0.0, vel=(1.0, 0.5), accel=(0.2, 0.5))
    data = np.array([imu.sample(s) for _ in range(5000)])
    assert data.mean(axis=0) == pytest.approx([0.2, 0.5, 0.5], abs=0.01)
    assert data.std(axis=0) == pytest.approx([0.1, 0.1, 0.01], rel=0.05)
    biased = Imu("imu", ROBOT, ImuParams(gyro_noise_std=0.0, gyro_bias_std=0.05, accel_noise_std=0.0,
                                         accel_bias_std=0.0), np.random.default_rng(4), None)  # type: ignore[arg-type]
    a, b = biased.sample(s), biased.sample(s)
    assert a[2] == b[2] != 0.5  # a constant bias, not noise


def test_bumper_reports_contact() -> None:
    b = Bumper("bumper", ROBOT, Bumper.Params(), np.random.default_rng(0), None)  # type: ignore[arg-type]
    assert b.sample(snap(0.0)) is False
    assert b.sample(snap(0.0, contact=True)) is True


def test_localization_noise() -> None:
    loc = Localization("loc", ROBOT, LocalizationParams(position_std=0.05, heading_std=0.0),
                       np.random.default_rng(0), None)  # type: ignore[arg-type]
    data = np.array([loc.sample(snap(0.0, pose=(3.0, 4.0, 1.0))) for _ in range(4000)])
    assert data[:, 0].mean() == pytest.approx(3.0, abs=0.005)
    assert data[:, 1].std() == pytest.approx(0.05, rel=0.06)
    assert np.all(data[:, 2] == pytest.approx(1.0))


def test_seeded_sensors_repeat_exactly() -> None:
    def run(seed: int) -> np.ndarray:
        imu = Imu("imu", ROBOT, ImuParams(), np.random.default_rng(seed), None)  # type: ignore[arg-type]
        return np.array([imu.sample(snap(0.0)) for _ in range(10)])
    assert np.array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))
