"""What a fault kind is: its scenario model, its loader checks and its effect on a run, in one class.

A kind subclasses ``FaultKind`` (or ``RobotFault`` / ``SensorFault`` for a target), declares
``kind: Literal["its_name"]`` and its fields, and overrides the hooks it needs:

- ``check(scn, k, err)``: loader cross-checks (targets exist, ...), after the schema passed;
- ``prepare(ctx)``: while the run is built (say, a controller compute hook gated on its window);
- ``apply(ctx)`` / ``remove(ctx)``: the timeline opens / closes the window.

Effects go through hooks the runtime reads as immutable values (``SensorRuntime.add_effect``,
``ControllerTask.add_compute_hook``, threads spawned through the Supervisor), never through fields
another thread reads mid-change. ``register_fault_kind`` makes a kind known to the scenario loader
(its schema, error messages and docs/scenario.md) and to the injector (sim.features.faultrun).
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar, get_args

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from sim.common.streams import stream
from sim.errors import format_value, suggest
from sim.features.faultstats import FaultWindow

if TYPE_CHECKING:
    from sim.core.control import ControllerTask
    from sim.core.handle import RunHandle
    from sim.core.producers import SampleEffect, SensorRuntime
    from sim.interfaces.sensor import Sensor

__all__ = ["FaultContext", "FaultKind", "RobotFault", "SensorFault", "check_faults", "fault_kinds", "fault_label",
           "fault_type", "matches_sensor", "register_fault_kind", "unregister_fault_kind"]


def _no_bool(value: object) -> object:
    """``yes`` silently becoming 1.0 hides typos, so numbers reject booleans (as sim.scenario.models)."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "must be a number, not true/false")
    return value


NoBool = BeforeValidator(_no_bool)
Start = Annotated[float, Field(ge=0, le=86400, description="s, window start in simulated time, in "
                               "[0, 86400].", json_schema_extra={"unit": "s"}), NoBool]
Duration = Annotated[float, Field(gt=0, le=86400, description="s, window length, in (0, 86400].",
                                  json_schema_extra={"unit": "s"}), NoBool]
Probability = Annotated[float, Field(gt=0, le=1), NoBool]
Seconds = Annotated[float, Field(gt=0, le=10, json_schema_extra={"unit": "s"}), NoBool]
Threads = Annotated[int, Field(ge=1, le=16), NoBool]

Loc = tuple[str | int, ...]


class _SensorSpec(Protocol):
    @property
    def name(self) -> str | None: ...  # None only before the loader fills in defaults
    @property
    def cls(self) -> type[Sensor]: ...


class _RobotSpec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def sensors(self) -> Sequence[_SensorSpec]: ...


class _PhysicsSpec(Protocol):
    @property
    def workers(self) -> int: ...


class _RunSpec(Protocol):
    @property
    def hosts(self) -> str | int: ...


class ScenarioView(Protocol):
    """What a fault kind's ``check`` reads of the scenario (sim.scenario.load.Scenario, a layer above)."""

    @property
    def robots(self) -> Sequence[_RobotSpec]: ...
    @property
    def physics(self) -> _PhysicsSpec: ...
    @property
    def run(self) -> _RunSpec: ...
    @property
    def faults(self) -> Sequence[FaultKind]: ...


ErrorSink = Callable[[Loc, str, str | None], None]  # err(loc, message, suggestion): a located ScenarioError


@dataclass
class FaultContext:
    """One fault in one run: its window, its targets, its random streams and what it applied."""

    run: RunHandle
    index: int
    key: str  # sim.common.streams.fault_key: other faults never change it
    window: FaultWindow
    sensors: list[SensorRuntime]  # the targeted sensors (sensor faults)
    controllers: list[ControllerTask]  # the targeted robots' controllers
    state: dict[str, Any] = field(default_factory=dict)  # the kind's own, between apply and remove

    def stream(self, *path: str) -> np.random.Generator:
        """This fault's own random stream for ``path``: other faults, robots, sensors never shift it."""
        return stream(self.run.scenario.run.seed, "fault", self.key, *path)

    def spawn(self, name: str, body: Callable[[], None]) -> None:
        """Run ``body`` in a thread of the run (role ``fault``), listed in the report."""
        from sim.core.handle import ThreadInfo

        self.window.threads.append(name)
        self.run.threads.append(ThreadInfo(name, "fault", [self.window.label]))
        self.run.supervisor.spawn(name, body)  # not a clock participant: it is load, not simulation

    def done(self, stop: threading.Event) -> Callable[[], bool]:
        """For a load thread: has the window ended, the run stopped, or ``stop`` been set?"""
        run, clock, end = self.run, self.run.clock, self.window.end
        return lambda: stop.is_set() or clock.stopped or run.finished.is_set() or clock.now() >= end


class FaultKind(BaseModel):
    """Fields every fault has, and the hooks of its effect (all do nothing here)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(None, min_length=1, max_length=64,
                             description="Label in the report; default <kind>#<index>.")
    start: Start = Field(..., description="Window start, simulated seconds from the run start, in "
                         "[0, 86400]. Unit: s.")
    duration: Duration = Field(..., description="Window length, in (0, 86400]. Unit: s.")

    @property
    def end(self) -> float:
        """End of the window (exclusive), simulated s."""
        return self.start + self.duration

    def target(self) -> str:
        """The target as the report shows it."""
        return "all robots"

    def robot_target(self) -> str:
        """The robots it hits: a name or ``"*"``."""
        return "*"

    def sensor_target(self) -> str | None:
        """The sensors it hits (a name, a kind or ``"*"``), None for a fault on no sensor."""
        return None

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        """Loader cross-checks against the whole scenario ``scn`` (fault ``k``); report with ``err``."""

    def prepare(self, ctx: FaultContext) -> None:
        """While the run is built, before any thread starts."""

    def apply(self, ctx: FaultContext) -> None:
        """The window opens (timeline thread)."""

    def remove(self, ctx: FaultContext) -> None:
        """The window closes (timeline thread)."""


class RobotFault(FaultKind):
    """A fault on one robot or all of them."""

    robot: str = Field("*", min_length=1, description="Robot name, or \"*\" for every robot. Default: \"*\".")

    def target(self) -> str:
        return "all robots" if self.robot == "*" else self.robot

    def robot_target(self) -> str:
        return self.robot

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        robots = {r.name for r in scn.robots}
        if self.robot != "*" and self.robot not in robots:
            err(("faults", k, "robot"), f"fault names unknown robot {format_value(self.robot)}",
                suggest(self.robot, robots))


class SensorFault(RobotFault):
    """A fault on sensors: each targeted sensor gets ``sample_effect`` while the window is open."""

    sensor: str = Field("*", min_length=1, description="Sensor name or kind (lidar, imu, ...), or \"*\" "
                        "for every sensor of the robot(s). Default: \"*\".")

    def target(self) -> str:
        return f"{'*' if self.robot == '*' else self.robot}/{self.sensor}"

    def sensor_target(self) -> str:
        return self.sensor

    def check(self, scn: ScenarioView, k: int, err: ErrorSink) -> None:
        robots = {r.name: r for r in scn.robots}
        if self.robot != "*" and self.robot not in robots:
            super().check(scn, k, err)
            return
        if self.sensor == "*":
            return
        chosen = list(robots.values()) if self.robot == "*" else [robots[self.robot]]
        known = {s.name: s for r in chosen for s in r.sensors} | {s.cls.kind: s for r in chosen for s in r.sensors}
        if self.sensor not in known:
            where = "any robot" if self.robot == "*" else f"robot {format_value(self.robot)}"
            err(("faults", k, "sensor"), f"fault names no sensor or sensor kind {format_value(self.sensor)} on {where}",
                suggest(self.sensor, [n for n in known if n is not None]))

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        """The ``sim.core.producers.SampleEffect`` this fault puts on sensor ``rt``."""
        raise NotImplementedError

    def apply(self, ctx: FaultContext) -> None:
        applied = ctx.state["applied"] = [(rt, self.sample_effect(ctx, rt)) for rt in ctx.sensors]
        for rt, effect in applied:
            rt.add_effect(effect)

    def remove(self, ctx: FaultContext) -> None:
        for rt, effect in ctx.state.pop("applied", []):
            rt.remove_effect(effect)


# ---------------------------------------------------------------------- registry
_KINDS: dict[str, type[FaultKind]] = {}
K = TypeVar("K", bound=type[FaultKind])


def kind_name(cls: type[FaultKind]) -> str:
    """The ``kind:`` value of a fault class (its ``Literal`` field)."""
    (name,) = get_args(cls.model_fields["kind"].annotation)
    return str(name)


def register_fault_kind(cls: K) -> K:
    """Make a fault kind known to the loader and the injector (a class decorator)."""
    _KINDS[kind_name(cls)] = cls
    _fault_type.cache_clear()
    return cls


def unregister_fault_kind(name: str) -> None:
    """Forget a kind (tests that register their own)."""
    _KINDS.pop(name, None)
    _fault_type.cache_clear()


def fault_kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order (the order error messages and docs list them)."""
    return tuple(_KINDS)


def _kind_of(value: object) -> str | None:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


def fault_type() -> Any:
    """The type of one ``faults:`` entry: a union of the registered kinds, told apart by ``kind``."""
    return _fault_type(tuple(_KINDS.items()))


@functools.cache
def _fault_type(kinds: tuple[tuple[str, type[FaultKind]], ...]) -> Any:
    tagged = [Annotated[cls, Tag(name)] for name, cls in kinds]
    union = functools.reduce(operator.or_, tagged) if len(tagged) > 1 else tagged[0]
    return Annotated[union, Discriminator(
        _kind_of, custom_error_type="fault_kind",
        custom_error_message="each fault needs 'kind:', one of " + ", ".join(name for name, _ in kinds))]


def fault_label(fault: FaultKind, index: int) -> str:
    """The fault's name in reports and thread names."""
    return fault.name or f"{kind_name(type(fault))}#{index}"


def matches_sensor(wanted: str, name: str, kind: str) -> bool:
    """A sensor target matches by name, by kind, or ``"*"``."""
    return wanted in ("*", name, kind)


def check_faults(scn: ScenarioView, err: ErrorSink) -> None:
    """Loader pass 3 for ``faults``: each fault's own ``check`` (targets exist, worker faults have workers)."""
    for k, fault in enumerate(scn.faults):
        fault.check(scn, k, err)
