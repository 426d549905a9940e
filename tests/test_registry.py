"""The type registry: built-ins resolve lazily, plugins import, every failure is a PluginError."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from controllers.base import Controller
from sensors.base import Sensor
from sim.errors import PluginError, ScenarioError
from sim.scenario import registry
from sim.scenario.registry import (
    BUILTIN_CONTROLLERS,
    BUILTIN_SENSORS,
    controller_names,
    register_controller,
    register_sensor,
    resolve_controller,
    resolve_sensor,
    sensor_names,
)

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it; plugins_for_tests is importable."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setattr(registry, "_TABLES", {k: dict(v) for k, v in registry._TABLES.items()})


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway plugin modules, unloaded afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("tmp_plugin"):
            del sys.modules[name]


def resolve_error(resolver: object, type_name: str) -> PluginError:
    with pytest.raises(PluginError) as info:
        resolver(type_name)  # type: ignore[operator]
    err = info.value
    assert isinstance(err, ScenarioError)
    assert err.type_name == type_name
    return err


# ---------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", sorted(BUILTIN_SENSORS))
def test_builtin_sensors_resolve(name: str) -> None:
    cls = resolve_sensor(name)
    assert issubclass(cls, Sensor)
    assert issubclass(cls.Params, BaseModel)
    assert cls.__name__ == BUILTIN_SENSORS[name].rsplit(":", 1)[1]


@pytest.mark.parametrize("name", sorted(BUILTIN_CONTROLLERS))
def test_builtin_controllers_resolve(name: str) -> None:
    cls = resolve_controller(name)
    assert issubclass(cls, Controller)
    assert issubclass(cls.Params, BaseModel)
    assert cls.__name__ == BUILTIN_CONTROLLERS[name].rsplit(":", 1)[1]


def test_names_list_the_builtins() -> None:
    assert {"lidar", "odometry", "imu", "bumper"} <= set(sensor_names())
    assert {"waypoint", "warehouse"} <= set(controller_names())
    assert sensor_names() == sorted(sensor_names())


# ---------------------------------------------------------------- unknown names


def test_unknown_name_suggests_the_closest() -> None:
    err = resolve_error(resolve_sensor, "lidr")
    assert err.suggestion == "lidar"
    assert "unknown sensor type 'lidr'" in str(err)
    assert "pkg.module:ClassName" in str(err)


def test_unknown_name_without_close_match() -> None:
    err = resolve_error(resolve_controller, "zzzzzz")
    assert err.suggestion is None
    from sim.scenario.registry import BUILTIN_CONTROLLERS

    assert "known: " + ", ".join(sorted(BUILTIN_CONTROLLERS)) in str(err)


def test_kind_mix_up_is_pointed_out() -> None:
    assert "('lidar' is a sensor type)" in str(resolve_error(resolve_controller, "lidar"))
    assert "('waypoint' is a controller type)" in str(resolve_error(resolve_sensor, "waypoint"))


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_type(bad: str) -> None:
    with pytest.raises(PluginError, match="non-empty string"):
        resolve_sensor(bad)


# ---------------------------------------------------------------- plugins by path


def test_plugin_path_resolves() -> None:
    cls = resolve_sensor("plugins_for_tests:GoodPluginSensor")
    assert cls.__name__ == "GoodPluginSensor"


def test_plugin_in_a_fresh_module(plugin_dir: Path) -> None:
    (plugin_dir / "tmp_plugin_ok.py").write_text(
        "from controllers.base import Controller\nclass Mine(Controller):\n    pass\n")
    assert resolve_controller("tmp_plugin_ok:Mine").__name__ == "Mine"


def test_plugin_nested_attribute(plugin_dir: Path) -> None:
    (plugin_dir / "tmp_plugin_nested.py").write_text(
        "from sensors.base import Sensor\nclass Outer:\n    class Inner(Sensor):\n        pass\n")
    assert resolve_sensor("tmp_plugin_nested:Outer.Inner").__name__ == "Inner"


def test_plugin_module_missing() -> None:
    err = resolve_error(resolve_sensor, "nosuchmod:X")
    assert "cannot import module 'nosuchmod'" in str(err)
    assert "ModuleNotFoundError: No module named 'nosuchmod'" in str(err)


def test_plugin_module_that_raises_on_import(plugin_dir: Path) -> None:
    (plugin_dir / "tmp_plugin_boom.py").write_text("x = 1 / 0\n")
    err = resolve_error(resolve_sensor, "tmp_plugin_boom:X")
    assert "ZeroDivisionError: division by zero" in str(err)
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_plugin_module_with_syntax_error(plugin_dir: Path) -> None:
    (plugin_dir / "tmp_plugin_syntax.py").write_text("def broken(:\n")
    assert "SyntaxError" in str(resolve_error(resolve_controller, "tmp_plugin_syntax:X"))


def test_plugin_class_missing() -> None:
    err = resolve_error(resolve_sensor, "plugins_for_tests:Nope")
    assert "module 'plugins_for_tests' has no attribute 'Nope'" in str(err)


def test_plugin_not_a_class() -> None:
    assert "is not a class (got int)" in str(resolve_error(resolve_sensor, "plugins_for_tests:NOT_A_CLASS"))


def test_plugin_not_a_subclass() -> None:
    err = resolve_error(resolve_sensor, "plugins_for_tests:NotASensor")
    assert "plugins_for_tests.NotASensor is not a subclass of sim.api.Sensor" in str(err)
    err = resolve_error(resolve_controller, "plugins_for_tests:FakeLidar")
    assert "is not a subclass of sim.api.Controller" in str(err)


@pytest.mark.parametrize(("resolver", "type_name"), [
    (resolve_sensor, "plugins_for_tests:NoParamsSensor"),
    (resolve_controller, "plugins_for_tests:DictParamsController"),
])
def test_plugin_without_pydantic_params(resolver: object, type_name: str) -> None:
    assert "has no Params" in str(resolve_error(resolver, type_name))


@pytest.mark.parametrize("bad", ["plugins_for_tests:", ":FakeLidar", "a:b:c"])
def test_plugin_path_malformed(bad: str) -> None:
    assert "must look like 'pkg.module:ClassName'" in str(resolve_error(resolve_sensor, bad))


# ---------------------------------------------------------------- registration


def test_register_class_and_lazy_path() -> None:
    from plugins_for_tests import FakeLidar, FakeWaypoint

    register_sensor("fake", FakeLidar)
    register_controller("fake_ctrl", "plugins_for_tests:FakeWaypoint")
    assert resolve_sensor("fake") is FakeLidar
    assert resolve_controller("fake_ctrl") is FakeWaypoint
    assert "fake" in sensor_names() and "fake_ctrl" in controller_names()


def test_registration_can_replace_a_builtin() -> None:
    register_sensor("lidar", "plugins_for_tests:FakeLidar")
    assert resolve_sensor("lidar").__name__ == "FakeLidar"


def test_registered_class_is_still_checked() -> None:
    register_sensor("wrong", dict)
    assert "is not a subclass" in str(resolve_error(resolve_sensor, "wrong"))


@pytest.mark.parametrize("name", ["", "a:b", 3])
def test_register_rejects_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="name must be"):
        register_sensor(name, "plugins_for_tests:FakeLidar")  # type: ignore[arg-type]


def test_register_rejects_lazy_path_without_colon() -> None:
    with pytest.raises(ValueError, match=r"pkg\.module:Class"):
        register_controller("x", "plugins_for_tests.FakeWaypoint")


def test_plugin_error_has_no_location_until_the_loader_adds_it() -> None:
    err = resolve_error(resolve_sensor, "lidr")
    assert str(err).startswith("<scenario>: unknown sensor type 'lidr'")
    located = err.at(path="s.yaml", line=4, column=13, field="robots[0].sensors[0].type")
    assert isinstance(located, PluginError)
    assert str(located).startswith("s.yaml:4:13: robots[0].sensors[0].type: unknown sensor type")
    assert str(located).endswith("did you mean 'lidar'?")


# ------------------------------------------- plugin code ending the interpreter at import (issue 13)

@pytest.mark.parametrize(("body", "shown"), [
    ("import sys\nsys.exit(0)\n", "SystemExit: sys.exit(0) was called"),
    ("import sys\nsys.exit('bye')\n", "SystemExit: sys.exit('bye') was called"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("raise GeneratorExit\n", "GeneratorExit"),
    ("class Stop(BaseException):\n    pass\nraise Stop('no')\n", "Stop: no"),
])
def test_plugin_ending_the_interpreter_at_import_is_a_plugin_error(plugin_dir: Path, body: str,
                                                                   shown: str) -> None:
    (plugin_dir / "tmp_plugin_ender.py").write_text(body)
    err = resolve_error(resolve_controller, "tmp_plugin_ender:X")
    assert "cannot import module 'tmp_plugin_ender'" in str(err) and shown in str(err)
    assert "tmp_plugin_ender" not in sys.modules  # a failed import leaves nothing half-loaded


def test_a_real_ctrl_c_during_a_plugin_import_still_interrupts(plugin_dir: Path) -> None:
    # The signal really arrives (os.kill to this process), so it is the user's Ctrl-C, not plugin code.
    (plugin_dir / "tmp_plugin_slow.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n")
    with pytest.raises(KeyboardInterrupt):
        resolve_controller("tmp_plugin_slow:X")
    import signal

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_plugin_params_validator_ending_the_interpreter_is_a_plugin_error(plugin_dir: Path) -> None:
    from sim.scenario.load import parse_scenario

    (plugin_dir / "tmp_plugin_params.py").write_text(
        "import sys\nfrom pydantic import BaseModel, field_validator\n"
        "from controllers.base import Controller\n"
        "class P(BaseModel):\n    x: int = 0\n"
        "    @field_validator('x')\n    @classmethod\n    def _x(cls, v):\n        sys.exit(3)\n"
        "class C(Controller):\n    Params = P\n")
    text = ("world: {size: [10.0, 4.0]}\nrobots:\n  - name: r1\n    start: [1.0, 2.0, 0.0]\n"
            "    controller: {type: 'tmp_plugin_params:C', x: 1}\n")
    with pytest.raises(PluginError) as info:
        parse_scenario(text)
    assert "params rejected: SystemExit: sys.exit(3) was called" in str(info.value)
    assert info.value.line == 5


def test_a_plugin_sensor_default_name_outside_the_pattern_is_an_error(plugin_dir: Path) -> None:
    from sim.scenario.load import parse_scenario

    (plugin_dir / "tmp_plugin_named.py").write_text(
        "from sensors.base import Sensor\nclass _Hidden(Sensor):\n    kind = 'x'\n")
    text = ("world: {size: [10.0, 4.0]}\nrobots:\n  - name: r1\n    start: [1.0, 2.0, 0.0]\n"
            "    sensors:\n      - {type: 'tmp_plugin_named:_Hidden'}\n    controller: {type: waypoint}\n")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text)
    assert info.value.field == "robots[0].sensors[0].type" and "give the sensor a 'name'" in str(info.value)
    assert parse_scenario(text.replace("{type: 'tmp_plugin_named:_Hidden'}",
                                       "{type: 'tmp_plugin_named:_Hidden', name: hidden}"))
