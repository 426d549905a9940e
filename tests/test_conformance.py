"""sim.testing.conformance: built-ins and the example plugins pass; each broken plugin fails on the named rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import broken_plugins as bp
import pytest

from controllers.warehouse import WarehouseController
from controllers.waypoint import WaypointController
from examples.my_plugins.controller import Wanderer
from examples.my_plugins.sensor import Battery
from sensors.bumper import Bumper
from sensors.imu import Imu
from sensors.lidar import Lidar
from sensors.localization import Localization
from sensors.odometry import Odometry
from sim.errors import ConformanceError
from sim.testing.conformance import check_controller, check_sensor


@pytest.mark.parametrize("cls", [Lidar, Odometry, Imu, Bumper, Localization, Battery])
def test_sensors_conform(cls: type) -> None:
    check_sensor(cls)


def test_sensor_with_given_params() -> None:
    check_sensor(Lidar, {"beams": 90, "noise_std": 0.05})


@pytest.mark.parametrize("cls, params", [
    (WaypointController, {"waypoints": [[8.0, 3.0], [2.0, 1.0]]}),
    (WarehouseController, {"waypoints": [[8.0, 1.0], [2.0, 5.0]]}),
    (WarehouseController, None),
])
def test_builtin_controllers_conform(cls: type, params: dict | None) -> None:
    check_controller(cls, params)


def test_example_controller_conforms_with_its_plugin_sensor() -> None:
    check_controller(Wanderer, sensors={"lidar": "lidar", "battery": Battery})


def _fails(check: str, fn: Callable[..., None], *args: Any, **kwargs: Any) -> ConformanceError:
    with pytest.raises(ConformanceError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.check == check, str(err)
    assert isinstance(err, AssertionError)  # pytest shows it as a failed check
    return err


def test_params_must_forbid_extra_keys() -> None:
    err = _fails("params_forbid_extra", check_controller, bp.LooseController)
    assert "LooseController" in str(err) and "extra='forbid'" in str(err)


def test_required_params_must_be_given() -> None:
    err = _fails("params_valid", check_controller, bp.RequiredParamsController)
    assert "pass params=" in str(err)
    check_controller(bp.RequiredParamsController, {"gain": 2.0})


@pytest.mark.parametrize("cls, check, words", [
    (bp.RaisesInInit, "init", "calibration file missing"),
    (bp.RaisesInCompute, "compute", "ZeroDivisionError"),
    (bp.NanController, "compute_output", "finite"),
    (bp.TripleController, "compute_output", "(v, w)"),
    (bp.NeedsLidarController, "compute", "no readings at all"),
    (bp.ClockController, "no_clock", "time.monotonic"),
    (bp.GlobalRandomController, "deterministic", "self.rng"),
])
def test_broken_controllers_are_named(cls: type, check: str, words: str) -> None:
    err = _fails(check, check_controller, cls)
    assert cls.__qualname__ in str(err) and words in str(err)


def test_clock_check_can_be_turned_off() -> None:
    check_controller(bp.ClockController, forbid_clock=False)


@pytest.mark.parametrize("cls, check", [
    (bp.NanSensor, "payload_finite"),
    (bp.KindlessSensor, "kind"),
    (bp.MutatingSensor, "snapshot_untouched"),
    (bp.RaisesInCompute, "base_class"),
])
def test_broken_sensors_are_named(cls: type, check: str) -> None:
    _fails(check, check_sensor, cls)


def test_not_a_controller() -> None:
    _fails("base_class", check_controller, Lidar)
