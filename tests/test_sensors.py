"""Sensor models against what their noise parameters promise."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle

import numpy as np
import pytest

from sensors.base import Reading, RobotInfo
from sensors.bumper import Bumper
from sensors.imu import Imu, ImuParams
from sensors.lidar import LaserScan, Lidar, LidarParams
from sensors.localization import Localization, LocalizationParams
from sensors.odometry import Odometry, OdometryParams
from sim.world.model import StaticMap, WorldSnapshot

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


# ------------------------------------------------------------------ batches (sample_many)
def _fleet_snaps(n: int, count: int, seed: int = 0) -> list[WorldSnapshot]:
    """Random states of ``n`` robots in a 10 x 6 m room, with wheel travel growing step by step."""
    g = np.random.default_rng(seed)
    travel = np.zeros((n, 2))
    out = []
    for k in range(count):
        travel = travel + g.uniform(-0.005, 0.03, (n, 2))
        pose = np.column_stack([g.uniform(0.5, 9.5, n), g.uniform(0.5, 5.5, n), g.uniform(-10.0, 10.0, n)])
        out.append(WorldSnapshot(0.02 * (k + (k % 3 == 2)), k, pose, g.normal(0, 1, (n, 2)), g.normal(0, 1, (n, 2)),
                                 travel, g.random(n) < 0.4, np.zeros(n, int), np.zeros(n), np.full(n, 0.3)))
    return out


def _robots(n: int) -> list[RobotInfo]:
    return [RobotInfo(i, f"r{i}", 0.3, 1.0, 1.0, 2.0, 0.4 + 0.01 * i, (1.0 + i, 2.0, 0.3 * i)) for i in range(n)]


def _same_payload(a: object, b: object) -> bool:
    if isinstance(a, LaserScan):
        return (isinstance(b, LaserScan) and _same_payload(a.ranges, b.ranges) and _same_payload(a.angles, b.angles)
                and (a.range_min, a.range_max) == (b.range_min, b.range_max))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


_BATCH_CASES = [
    (Imu, [ImuParams(), ImuParams(accel_noise_std=0.0, gyro_bias_std=0.1)]),
    (Odometry, [OdometryParams(), OdometryParams(wheel_noise=0.0, wheel_base_error=0.05)]),
    (Localization, [LocalizationParams(), LocalizationParams(position_std=0.0, heading_std=0.3)]),
    (Bumper, [Bumper.Params()]),
    (Lidar, [LidarParams(beams=90, noise_std=0.05), LidarParams(beams=90, noise_std=0.0),
             LidarParams(beams=45, fov=math.pi, range_max=3.0, noise_std=0.02)]),
]


@pytest.mark.parametrize(("cls", "params"), _BATCH_CASES, ids=[c.__name__ for c, _ in _BATCH_CASES])
def test_a_batch_measures_bit_for_bit_what_one_by_one_does(cls: type, params: list) -> None:
    """sample_many (arrays, cached batch constants) against sample (one sensor), same seeds.

    The batches change on the way (a subset, another order, one sensor), as when a sensor
    fails or sensors of another rate fall due, so a stale cached batch would show.
    """
    n = 7
    from sim.scenario.models import World

    static = StaticMap.from_scenario(World.model_validate(
        {"size": [10.0, 6.0], "obstacles": [{"kind": "other", "rect": [6.0, 2.5, 1.0, 1.0]}]}))

    def make() -> list:
        return [cls("s", robot, params[i % len(params)], np.random.default_rng(100 + i), static)
                for i, robot in enumerate(_robots(n))]

    batched, single = make(), make()
    every = list(range(n))
    picks = [every, every, [0, 4, 1, 2], every, [3], [0, 5], every, [6, 5, 4, 3, 2, 1, 0], [6, 0]]
    for k, snap in enumerate(_fleet_snaps(n, 30)):
        pick = picks[k % len(picks)]
        got = cls.sample_many([batched[i] for i in pick], snap)
        want = [single[i].sample(snap) for i in pick]
        assert len(got) == len(want)
        for i, a, b in zip(pick, got, want, strict=True):
            assert _same_payload(a, b), (k, i, a, b)


def test_a_copied_sensor_leaves_its_batch_behind() -> None:
    imus = [Imu("imu", robot, ImuParams(), np.random.default_rng(i), None) for i, robot in enumerate(_robots(3))]
    Imu.sample_many(imus, _fleet_snaps(3, 1)[0])  # type: ignore[arg-type]
    assert imus[0]._batch is not None
    twin = copy.deepcopy(imus[0])
    assert twin._batch is None and np.array_equal(twin.bias, imus[0].bias)
    assert pickle.loads(pickle.dumps(imus[1]))._batch is None


def test_reading_is_frozen_and_behaves_as_a_dataclass() -> None:
    r = Reading("r1", "imu", 3, 0.5, 0.51, [1.0])
    assert (r.robot, r.sensor, r.seq, r.sample_time, r.publish_time, r.data) == ("r1", "imu", 3, 0.5, 0.51, [1.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seq = 4  # type: ignore[misc]
    assert r == Reading("r1", "imu", 3, 0.5, 0.51, [1.0])
    assert hash(Reading("a", "b", 0, 0.0, 0.0, None)) == hash(Reading("a", "b", 0, 0.0, 0.0, None))
    assert dataclasses.replace(r, seq=5).seq == 5
    assert pickle.loads(pickle.dumps(r)) == r
    assert Reading(robot="a", sensor="b", seq=0, sample_time=0.0, publish_time=0.1, data=None).age(0.5) == 0.5
