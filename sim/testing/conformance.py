"""Conformance checks for sensor and controller plugins, for users' own tests.

    from sim.testing.conformance import check_controller, check_sensor

    def test_my_controller_conforms():
        check_controller(MyController)                    # default Params
        check_controller(MyController, {"gain": 2.0})     # or given params

Each check builds a small synthetic world (a 10 m x 6 m room with one box and a
second robot), runs the class against it the way the runtime would, and raises
``ConformanceError`` (an ``AssertionError``) naming the rule broken. No check
depends on timing or wall-clock speed, so they are safe in any test suite.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
from pydantic import BaseModel, ValidationError

from sim.errors import ConformanceError
from sim.interfaces.controller import Controller, Inputs
from sim.interfaces.messages import Command, Reading
from sim.interfaces.plugin import RobotInfo
from sim.interfaces.sensor import Sensor
from sim.world.model import Bodies, StaticMap, WorldSnapshot
from sim.world.physics import Physics

__all__ = ["DEFAULT_SENSORS", "check_controller", "check_sensor", "synthetic_world"]

# name -> built-in sensor type given to a controller under test
DEFAULT_SENSORS: dict[str, str] = {k: k for k in ("lidar", "odometry", "imu", "bumper", "localization")}
_CLOCK_FUNCS = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep")
_STEP = 0.01  # s, physics step of the synthetic world


def synthetic_world() -> tuple[StaticMap, Physics, list[RobotInfo]]:
    """A 10 x 6 m room, a 1 x 1 m box at (6, 2.5), robot 0 at (2, 3) facing +x, robot 1 at (5, 4.5)."""
    from sim.scenario.models import World  # local: the scenario module imports the registry

    world = World.model_validate({"size": [10.0, 6.0], "obstacles": [{"kind": "other", "rect": [6.0, 2.5, 1.0, 1.0]}]})
    static = StaticMap.from_scenario(world)
    poses = [(2.0, 3.0, 0.0), (5.0, 4.5, math.pi)]
    bodies = [SimpleNamespace(name=f"robot-{i}", radius=0.3, max_speed=1.0, max_accel=1.0, max_yaw_rate=2.0,
                              max_yaw_accel=4.0, wheel_base=0.4) for i in range(2)]
    infos = [RobotInfo(i, b.name, 0.3, 1.0, 1.0, 2.0, 0.4, poses[i]) for i, b in enumerate(bodies)]
    physics = Physics(static, Bodies.from_robots(bodies), np.array(poses, dtype=float), _STEP)
    return static, physics, infos


# ------------------------------------------------------------------ helpers
def _fail(cls: type, check: str, message: str) -> ConformanceError:
    return ConformanceError(cls.__qualname__, check, message)


def _check_params_model(cls: type, params: Any) -> BaseModel:
    """Params must be a pydantic model that forbids unknown keys; return the validated instance."""
    model = getattr(cls, "Params", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise _fail(cls, "params_model", "Params must be a pydantic BaseModel subclass")
    if model.model_config.get("extra") != "forbid":
        raise _fail(cls, "params_forbid_extra", "Params must set model_config = ConfigDict(extra='forbid') "
                    "so a misspelt YAML key is an error, not silently ignored")
    if isinstance(params, BaseModel):
        return params
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        hint = "" if params else " (the class has required params: pass params=...)"
        raise _fail(cls, "params_valid", f"Params rejected the given values{hint}: {exc}") from exc


@contextmanager
def _watch_clock(cls: type, what: str, enabled: bool) -> Iterator[None]:
    """Record (not block) calls of the time module; fail afterwards if there were any."""
    if not enabled:
        yield
        return
    calls: list[str] = []
    patches = []
    for name in _CLOCK_FUNCS:
        real = getattr(time, name)
        patches.append(mock.patch.object(time, name, side_effect=_recorder(calls, name, real)))
    for p in patches:
        p.start()
    try:
        yield
    finally:
        for p in patches:
            p.stop()
    if calls:
        raise _fail(cls, "no_clock", f"{what} called time.{calls[0]}(); plugins must take time from "
                    "Inputs.now / the snapshot and never sleep (the runtime owns time)")


def _recorder(calls: list[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return None if name == "sleep" else real(*args, **kwargs)

    return record


def _same(a: Any, b: Any) -> bool:
    """Deep equality for payloads: arrays, dataclasses, containers (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind in "fc")
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _json_ok(cls: type, check: str, value: Any) -> None:
    from sim.common.files import clean_json

    try:
        json.dumps(clean_json(value), default=lambda o: o.tolist() if hasattr(o, "tolist") else o.item())
    except (TypeError, ValueError, AttributeError) as exc:
        raise _fail(cls, check, f"must be JSON-serialisable for the report: {exc}") from exc


# ------------------------------------------------------------------ sensors
def check_sensor(cls: type, params: dict[str, Any] | BaseModel | None = None, *, seed: int = 0,
                 samples: int = 5, forbid_clock: bool = True) -> None:
    """Check a ``Sensor`` subclass: Params, construction, payloads, batching, determinism, no clock."""
    if not (isinstance(cls, type) and issubclass(cls, Sensor)):
        raise ConformanceError(getattr(cls, "__qualname__", repr(cls)), "base_class",
                               "must be a subclass of sensors.base.Sensor")
    if not isinstance(cls.kind, str) or not cls.kind or cls.kind == Sensor.kind:
        raise _fail(cls, "kind", "set the class attribute kind (e.g. kind = 'sonar'): controllers find "
                    "their sensors by kind")
    p = _check_params_model(cls, params)
    static, physics, infos = synthetic_world()

    def make(robot: RobotInfo) -> Sensor:
        try:
            with _watch_clock(cls, "__init__", forbid_clock):
                return cls("under-test", robot, p, np.random.default_rng(seed), static)
        except ConformanceError:
            raise
        except Exception as exc:
            raise _fail(cls, "init", f"__init__ raised {type(exc).__name__}: {exc}") from exc

    first, second, other = make(infos[0]), make(infos[0]), make(infos[1])
    physics.submit(0, Command(0.5, 0.2))
    runs: tuple[list[Any], list[Any]] = ([], [])
    for k in range(samples):
        for _ in range(5):
            physics.step()
        snap = physics.snapshot
        before = _snapshot_arrays(snap)
        for sensor, out in ((first, runs[0]), (second, runs[1])):
            out.append(_sample(cls, sensor, snap, forbid_clock, f"sample #{k}"))
        if not all(np.array_equal(a, b) for a, b in zip(before, _snapshot_arrays(snap), strict=True)):
            raise _fail(cls, "snapshot_untouched", "sample() modified the WorldSnapshot; it is shared by "
                        "every sensor and must be treated as read-only")
    for k, payload in enumerate(runs[0]):
        if payload is None:
            raise _fail(cls, "payload", f"sample #{k} returned None; return a measurement")
        if (bad := cls.check_reading(payload)) is not None:  # the very check the runtime makes
            raise _fail(cls, "payload_finite", f"sample #{k}: {bad}; NaN is never a reading, inf only "
                        "where the class sets allows_inf (the lidar's 'no return')")
    if not all(_same(a, b) for a, b in zip(*runs, strict=True)):
        raise _fail(cls, "deterministic", "two sensors with the same seed sampling the same world gave "
                    "different payloads: draw randomness only from self.rng")
    try:
        batch = cls.sample_many([first, other], physics.snapshot)
    except Exception as exc:
        raise _fail(cls, "sample_many", f"sample_many raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(batch, list) or len(batch) != 2:
        raise _fail(cls, "sample_many", "sample_many must return a list with one payload per sensor")
    desc = first.describe()
    if not isinstance(desc, dict):
        raise _fail(cls, "describe", "describe() must return a dict")
    _json_ok(cls, "describe", desc)


def _sample(cls: type, sensor: Sensor, snap: WorldSnapshot, forbid_clock: bool, what: str) -> Any:
    try:
        with _watch_clock(cls, what, forbid_clock):
            return sensor.sample(snap)
    except ConformanceError:
        raise
    except Exception as exc:
        raise _fail(cls, "sample", f"{what} raised {type(exc).__name__}: {exc}") from exc


def _snapshot_arrays(snap: WorldSnapshot) -> list[np.ndarray]:
    return [np.array(getattr(snap, f.name), copy=True) for f in dataclasses.fields(snap)
            if isinstance(getattr(snap, f.name), np.ndarray)]


# ------------------------------------------------------------------ controllers
def check_controller(cls: type, params: dict[str, Any] | BaseModel | None = None, *,
                     sensors: dict[str, str | type] | None = None, seed: int = 0, cycles: int = 40,
                     forbid_clock: bool = True) -> None:
    """Check a ``Controller`` subclass against fresh, stale and missing readings.

    ``sensors`` maps sensor names to a built-in type name or a Sensor class
    (default: one of each built-in, named after its kind). The controller is
    run ``cycles`` times at 20 Hz on the synthetic world, its commands driving
    the robot, then on stale and missing inputs; every output must be two
    finite numbers. A second instance with the same seed, fed the same inputs,
    must give the same outputs.
    """
    if not (isinstance(cls, type) and issubclass(cls, Controller)):
        raise ConformanceError(getattr(cls, "__qualname__", repr(cls)), "base_class",
                               "must be a subclass of controllers.base.Controller")
    p = _check_params_model(cls, params)
    static, physics, infos = synthetic_world()
    robot = infos[0]
    from sim.scenario.registry import resolve_sensor

    spec = DEFAULT_SENSORS if sensors is None else sensors
    fleet: dict[str, Sensor] = {}
    for k, (name, kind) in enumerate(spec.items()):
        scls: type[Any] = resolve_sensor(kind) if isinstance(kind, str) else kind
        fleet[name] = scls(name, robot, scls.Params(), np.random.default_rng([seed, k]), static)
    kinds = {name: s.kind for name, s in fleet.items()}

    def make() -> Controller:
        try:
            with _watch_clock(cls, "__init__", forbid_clock):
                return cls(p, robot, static, dict(kinds), np.random.default_rng(seed))
        except ConformanceError:
            raise
        except Exception as exc:
            raise _fail(cls, "init", f"__init__ raised {type(exc).__name__}: {exc}") from exc

    first = make()
    if not isinstance(first.visual, dict):
        raise _fail(cls, "visual", "self.visual must be a dict (read by the view)")
    try:
        needed = first.inputs_needed()
    except Exception as exc:
        raise _fail(cls, "inputs_needed", f"inputs_needed() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(needed, list | tuple) or any(n not in kinds for n in needed):
        raise _fail(cls, "inputs_needed", f"inputs_needed() must list names of the robot's sensors "
                    f"({', '.join(kinds)}), got {needed!r}")
    history: list[Inputs] = []
    outputs: list[tuple[float, float]] = []
    period_steps = 5  # 20 Hz on a 100 Hz world
    for k in range(cycles):
        for _ in range(period_steps):
            physics.step()
        snap = physics.snapshot
        readings: dict[str, Reading | None] = {}
        for name, sensor in fleet.items():
            readings[name] = Reading(robot.name, name, k, snap.time, snap.time, sensor.sample(snap))
        inputs = Inputs(snap.time, readings, {n: True for n in readings})
        v, w = _compute(cls, first, inputs, forbid_clock, f"cycle {k} (fresh inputs)")
        history.append(inputs)
        outputs.append((v, w))
        physics.submit(0, Command(v, w, snap.time))
    last = history[-1]
    none_fresh = dict.fromkeys(last.readings, False)
    cases: list[tuple[str, Inputs]] = [
        ("stale inputs (1 s old, none fresh)", Inputs(last.now + 1.0, dict(last.readings), none_fresh)),
        ("no readings at all", Inputs(last.now + 1.05, dict.fromkeys(last.readings), none_fresh)),
    ]
    for name in last.readings:
        missing = dict(last.readings)
        missing[name] = None
        cases.append((f"reading {name!r} missing", Inputs(last.now + 1.1, missing, {n: n != name for n in missing})))
    for what, inputs in cases:
        outputs.append(_compute(cls, first, inputs, forbid_clock, what))
        history.append(inputs)
    try:
        first.handle_event("conformance-unknown-action", {})
    except Exception as exc:
        raise _fail(cls, "handle_event", f"an unknown event action must be ignored, got "
                    f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(first.visual, dict):
        raise _fail(cls, "visual", "self.visual must stay a dict (replace it, never mutate it in place)")
    status = first.status()
    if not isinstance(status, dict):
        raise _fail(cls, "status", "status() must return a dict")
    _json_ok(cls, "status", status)
    second = make()
    for k, inputs in enumerate(history):
        if _compute(cls, second, inputs, forbid_clock, f"replay {k}") != outputs[k]:
            raise _fail(cls, "deterministic", f"a second instance with the same seed and inputs gave a "
                        f"different command at input {k}: draw randomness only from self.rng and keep "
                        "state per instance (no module globals)")


def _compute(cls: type, ctl: Controller, inputs: Inputs, forbid_clock: bool, what: str) -> tuple[float, float]:
    try:
        with _watch_clock(cls, f"compute ({what})", forbid_clock):
            out = ctl.compute(inputs)
    except ConformanceError:
        raise
    except Exception as exc:
        raise _fail(cls, "compute", f"compute raised on {what}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise _fail(cls, "compute_output", f"compute must return (v, w), got {out!r} on {what}")
    for label, x in zip(("v", "w"), out, strict=True):
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
            raise _fail(cls, "compute_output", f"{label} must be a finite number, got {x!r} on {what}")
    return float(out[0]), float(out[1])
