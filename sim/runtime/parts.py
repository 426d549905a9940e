"""A scenario's robots as runtime parts: each sensor in a ``SensorRuntime``, each controller in a ``ControllerTask``.

Plugin code runs here (``__init__``, ``inputs_needed()``): whatever it raises is a PluginError
naming the robot, the type and the scenario field (bad input, exit 2: no thread has started).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sim.common.streams import stream
from sim.core.channel import Channel, Overflow
from sim.core.clock import Clock
from sim.core.control import ControllerTask, OverrunPolicy
from sim.core.producers import SensorRuntime
from sim.errors import PluginError, PluginRaised, format_value
from sim.interfaces.plugin import RobotInfo
from sim.scenario.registry import describe_exception, plugin_call
from sim.world.model import StaticMap
from sim.world.physics import Command

if TYPE_CHECKING:
    from sim.scenario.load import Scenario

T = TypeVar("T")


def build_robots(sc: Scenario, clock: Clock, static: StaticMap, submit: Callable[[int, Command], None],
                 duration: float) -> tuple[list[SensorRuntime], list[ControllerTask]]:
    """Every robot's sensors and controller, constructed and wired, in scenario order."""
    seed = sc.run.seed
    sensors: list[SensorRuntime] = []
    controllers: list[ControllerTask] = []
    for index, robot in enumerate(sc.robots):
        info = RobotInfo(index, robot.name, robot.radius, robot.max_speed, robot.max_accel,
                         robot.max_yaw_rate, robot.wheel_base, (robot.start[0], robot.start[1], robot.start[2]),
                         robot.kinematics.type, robot.kinematics.min_turn_radius)
        runtimes = []
        for j, spec in enumerate(robot.sensors):
            assert spec.name is not None  # the loader names every sensor
            sensor = _construct(f"robots[{index}].sensors[{j}]", spec.type, robot.name, sc.source, spec.cls,
                                spec.name, info, spec.params,
                                stream(seed, "robot", robot.name, "sensor", spec.name, "noise"),
                                static)
            if spec.mount != (0.0, 0.0, 0.0):
                sensor.mount = (float(spec.mount[0]), float(spec.mount[1]), float(spec.mount[2]))
            max_age = spec.max_age if spec.max_age is not None else 3.0 / spec.rate_hz
            rt = SensorRuntime(
                sensor=sensor, robot_name=robot.name, rate_hz=spec.rate_hz,
                latency_fixed=spec.latency.fixed, latency_jitter=spec.latency.jitter,
                dropout=spec.dropout, max_age=max_age,
                channel=Channel(clock, spec.queue.capacity, Overflow(spec.queue.policy)),
                timing_rng=stream(seed, "robot", robot.name, "sensor", spec.name, "timing"),
                on_failure=spec.on_failure,
            )
            runtimes.append(rt)
        sensors.extend(runtimes)
        c = robot.controller
        kinds = {rt.sensor.name: rt.sensor.kind for rt in runtimes}
        controller = _construct(f"robots[{index}].controller", c.type, robot.name, sc.source, c.cls,
                                c.params, info, static, kinds, stream(seed, "robot", robot.name, "controller"))
        controllers.append(ControllerTask(
            controller, index, clock, runtimes, submit,
            period=c.period, deadline=c.deadline if c.deadline is not None else c.period,
            end_time=duration, overrun=OverrunPolicy(c.overrun),
            wait_for=tuple(c.wait_for), phase=c.phase, execution=c.execution,
            rng=stream(seed, "robot", robot.name, "execution"),
            watch=c.watch if c.watch is not None else _inputs_needed(controller, c.type, index, sc.source),
        ))
    return sensors, controllers


def _construct(field: str, type_name: str, robot: str, source: Path | None, cls: Callable[..., T],
               *args: object) -> T:
    """Instantiate a sensor/controller; one raising in ``__init__`` becomes a PluginError naming it.

    Any BaseException counts (``sys.exit()`` in ``__init__`` included): the run has not started, so
    it is bad input, exit 2; a real Ctrl-C meanwhile still interrupts (``plugin_call``).
    """
    what = "controller" if field.endswith("controller") else "sensor"
    return _at_load(f"{what} type {format_value(type_name)} on robot {format_value(robot)}", "__init__",
                    type_name, source, field, cls, *args)


def _at_load(who: str, call: str, type_name: str, source: Path | None, field: str, fn: Callable[..., T],
             *args: object) -> T:
    """``fn(*args)``, plugin code run at load: whatever it raises is a PluginError naming ``who`` and ``call``."""
    try:
        return plugin_call(fn, *args)
    except PluginRaised as raised:  # a plugin may raise anything, sys.exit() included
        raise PluginError(f"{who} failed in {call}: {describe_exception(raised.error)}", type_name=type_name,
                          path=source, field=field) from raised.error


def _inputs_needed(controller: Any, type_name: str, index: int, source: Path | None) -> list[str]:
    """The sensors a controller says it reads (its watchdog's set); a plugin's bad answer is a PluginError."""
    field = f"robots[{index}].controller"
    who = f"controller type {format_value(type_name)} on robot {format_value(controller.robot.name)}"
    names = list(_at_load(who, "inputs_needed()", type_name, source, field, controller.inputs_needed))
    unknown = [n for n in names if n not in controller.sensor_kinds]
    if unknown:
        have = format_value(", ".join(controller.sensor_kinds) or "none")
        raise PluginError(f"{who}: inputs_needed() names {format_value(unknown[0])}, not a sensor of this robot "
                          f"(its sensors: {have})", type_name=type_name, path=source, field=field)
    return names
