"""The ``faults:`` list of a scenario: what can go wrong, when, and to whom.

Each fault is a window of simulated time ``[start, start + duration)`` on a
target (a robot or ``"*"``, and for sensor faults a sensor name or kind or
``"*"``). The models live here with the loader's cross-checks; ``sim.features.faultrun``
applies them on the scenario timeline and ``sim.features.faultstats`` measures what they
did, inside the window against the rest of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from sim.errors import format_value, suggest

__all__ = ["FAULT_KINDS", "Fault", "check_faults", "fault_label", "matches_sensor"]


def _no_bool(value: Any) -> Any:
    """``yes`` silently becoming 1.0 hides typos, so numbers reject booleans (as sim.scenario.load)."""
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


class _Fault(BaseModel):
    """Fields every fault has."""

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


class _RobotFault(_Fault):
    robot: str = Field("*", min_length=1, description="Robot name, or \"*\" for every robot. Default: \"*\".")

    def target(self) -> str:
        return "all robots" if self.robot == "*" else self.robot


class _SensorFault(_RobotFault):
    sensor: str = Field("*", min_length=1, description="Sensor name or kind (lidar, imu, ...), or \"*\" "
                        "for every sensor of the robot(s). Default: \"*\".")

    def target(self) -> str:
        return f"{'*' if self.robot == '*' else self.robot}/{self.sensor}"


class SensorDropout(_SensorFault):
    """Samples are lost: all of them (a blackout) or each with ``probability`` (a burst)."""

    kind: Literal["sensor_dropout"] = Field(
        ..., description="sensor_dropout: samples in the window are lost (all, or each with probability).")
    probability: Probability = Field(1.0, description="Chance each sample in the window is lost, in "
                                     "(0, 1]; added to the sensor's own dropout. Default: 1.0 (all).")


class LatencySpike(_SensorFault):
    """Every reading sampled in the window is published ``latency`` later than usual."""

    kind: Literal["latency_spike"] = Field(
        ..., description="latency_spike: readings sampled in the window are published latency s later.")
    latency: Seconds = Field(..., description="Extra sample-to-publish delay, in (0, 10]. Unit: s.")


class FrozenSensor(_SensorFault):
    """The sensor keeps publishing its last reading's payload (a stuck driver), on schedule."""

    kind: Literal["frozen_sensor"] = Field(
        ..., description="frozen_sensor: the sensor republishes its last payload on schedule (a stuck driver).")


class NoiseBurst(_SensorFault):
    """Gaussian noise on top of the sensor's own: lidar ranges, or every number of an array payload.

    Payloads that are not numeric (the bumper's bool) pass unchanged.
    """

    kind: Literal["noise_burst"] = Field(
        ..., description="noise_burst: extra Gaussian noise on lidar ranges or float-array payloads.")
    std: Annotated[float, Field(gt=0, le=100), NoBool] = Field(
        ..., description="Standard deviation, in (0, 100], in the payload's units (m for lidar "
        "ranges), or as a fraction of each value when relative is true.")
    relative: bool = Field(False, description="Multiply by (1 + N(0, std)) instead of adding N(0, std). "
                           "Default: false.")
    probability: Probability = Field(1.0, description="Chance each sample in the window is hit, in "
                                     "(0, 1]. Default: 1.0.")


class ControllerStall(_RobotFault):
    """Each controller cycle released in the window computes ``stall`` seconds longer."""

    kind: Literal["controller_stall"] = Field(
        ..., description="controller_stall: each cycle in the window computes stall s longer.")
    stall: Seconds = Field(..., description="Extra compute time per cycle, in (0, 10]. Unit: s.")
    probability: Probability = Field(1.0, description="Chance each cycle in the window stalls, in "
                                     "(0, 1]. Default: 1.0.")


class CpuHog(_Fault):
    """Threads running pure Python for the window: they hold the GIL the simulation needs."""

    kind: Literal["cpu_hog"] = Field(
        ..., description="cpu_hog: pure-Python threads hold the GIL for the window (real clock).")
    threads: Threads = Field(1, description="Hog threads, in [1, 16]. Default: 1.")


class NumpyLoad(_Fault):
    """Threads doing numpy array work that releases the GIL: they load the cores, not the GIL."""

    kind: Literal["numpy_load"] = Field(
        ..., description="numpy_load: numpy threads load the cores without the GIL for the window (real clock).")
    threads: Threads = Field(1, description="Load threads, in [1, 16]. Default: 1.")
    size: Annotated[int, Field(ge=1000, le=10_000_000), NoBool] = Field(
        1_000_000, description="float64 elements per array operation, in [1e3, 1e7] "
        "(16 bytes each per thread). Default: 1000000.")


class KillWorker(_Fault):
    """Kill one physics worker process at ``start``; the window is how long the report watches."""

    kind: Literal["kill_worker"] = Field(
        ..., description="kill_worker: kill one physics worker process at start (needs physics.workers >= 1).")
    worker: Annotated[int, Field(ge=0, le=15), NoBool] = Field(
        0, description="Worker index, in [0, physics.workers - 1]. Default: 0.")
    duration: Duration = Field(1.0, description="Seconds after the kill counted as the fault's window, "
                               "in (0, 86400]. Unit: s. Default: 1.0.")


FAULT_KINDS = ("sensor_dropout", "latency_spike", "frozen_sensor", "noise_burst", "controller_stall",
               "cpu_hog", "numpy_load", "kill_worker")


def _kind_of(value: Any) -> str | None:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


Fault = Annotated[
    Annotated[SensorDropout, Tag("sensor_dropout")] | Annotated[LatencySpike, Tag("latency_spike")]
    | Annotated[FrozenSensor, Tag("frozen_sensor")] | Annotated[NoiseBurst, Tag("noise_burst")]
    | Annotated[ControllerStall, Tag("controller_stall")] | Annotated[CpuHog, Tag("cpu_hog")]
    | Annotated[NumpyLoad, Tag("numpy_load")] | Annotated[KillWorker, Tag("kill_worker")],
    Discriminator(_kind_of, custom_error_type="fault_kind",
                  custom_error_message="each fault needs 'kind:', one of " + ", ".join(FAULT_KINDS)),
]


def fault_label(fault: Any, index: int) -> str:
    """The fault's name in reports and thread names."""
    return fault.name or f"{fault.kind}#{index}"


def matches_sensor(wanted: str, name: str, kind: str) -> bool:
    """A sensor target matches by name, by kind, or ``"*"``."""
    return wanted in ("*", name, kind)


Loc = tuple[str | int, ...]


def check_faults(scn: Any, err: Callable[[Loc, str, str | None], None]) -> None:
    """Loader pass 3 for ``faults``: targets exist, worker faults have workers.

    ``err(loc, message, suggestion)`` records a located ScenarioError (sim.scenario.load's).
    """
    robots = {r.name: r for r in scn.robots}
    workers = scn.physics.workers
    for k, fault in enumerate(scn.faults):
        robot = getattr(fault, "robot", None)
        if robot is not None and robot != "*" and robot not in robots:
            err(("faults", k, "robot"), f"fault names unknown robot {format_value(robot)}", suggest(robot, robots))
            continue
        sensor = getattr(fault, "sensor", None)
        if sensor is not None and sensor != "*":
            chosen = list(robots.values()) if robot in (None, "*") else [robots[robot]]
            known = {s.name: s for r in chosen for s in r.sensors} | {s.cls.kind: s for r in chosen
                                                                      for s in r.sensors}
            if sensor not in known:
                where = "any robot" if robot == "*" else f"robot {format_value(robot)}"
                err(("faults", k, "sensor"), f"fault names no sensor or sensor kind {format_value(sensor)} on {where}",
                    suggest(sensor, known))
        if fault.kind == "kill_worker":
            if workers == 0:
                err(("faults", k, "kind"), "kill_worker needs physics worker processes, but "
                    "physics.workers is 0 (physics runs inline); set physics.workers >= 1 or remove "
                    "this fault", None)
            elif fault.worker >= workers:
                err(("faults", k, "worker"), f"worker {fault.worker} does not exist: physics.workers is "
                    f"{workers} (indices 0..{workers - 1})", None)

