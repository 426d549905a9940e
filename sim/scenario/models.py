"""The scenario file's format as pydantic models: every key, its type, range, unit and default.

The field descriptions are the reference (``docs/scenario.md`` is generated from them by
``python -m sim.scenario.doc``). Loading and the checks across fields are in
``sim/scenario/load.py`` and ``sim/scenario/checks.py``.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from sim.common.geometry import rect_polygon
from sim.core.exectime import ExecutionModel, NoModel
from sim.errors import PluginError, suggest
from sim.features.expect import Expect
from sim.features.faults import Fault, fault_type
from sim.features.orders import OrdersSpec
from sim.scenario.registry import controller_names, resolve_controller, resolve_sensor, sensor_names

__all__ = [
    "NAME_PATTERN", "NAME_RULE", "ControllerSpec", "Event", "FootprintRect", "Kinematics", "Latency",
    "Obstacle", "Physics", "Place", "PluginSpec",
    "QueueSpec", "Robot", "Run", "Scenario", "SensorSpec", "World", "scenario_json_schema",
]


def _no_bool(value: Any) -> Any:
    """YAML ``yes``/``true`` silently becoming 1.0 hides typos, so numbers reject booleans."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "must be a number, not true/false")
    return value


# Constraints go before the validator, or pydantic cannot express them in JSON Schema.
NoBool = BeforeValidator(_no_bool)
Float = Annotated[float, NoBool]
Int = Annotated[int, NoBool]
Point = tuple[Float, Float]
Segment = tuple[Point, Point]
Extent = Annotated[float, Field(gt=0, le=2000, json_schema_extra={"unit": "m"}), NoBool]
Positive = Annotated[float, Field(gt=0, json_schema_extra={"unit": "m"}), NoBool]
def _hosts_setting(value: Any) -> Any:
    """One message for ``run.hosts`` instead of pydantic's one per branch of the union."""
    if value in ("shared", "per_robot") or (type(value) is int and 1 <= value <= 1024):
        return value
    hint = ""
    if isinstance(value, str):
        close = suggest(value, ["shared", "per_robot"])
        hint = f" (did you mean {close}?)" if close else ""
    raise ValueError(f"expected shared, per_robot or a number of host processes in [1, 1024]{hint}")


HostCount = Annotated[int, Field(ge=1, le=1024), NoBool]
LatencyS = Annotated[float, Field(ge=0, le=10, json_schema_extra={"unit": "s"}), NoBool]
# Names that reach a path (the run folder), a CSV field (cycles.csv input_ages: "name=age;...") or a
# recording topic (/<robot>/<sensor>): the scenario's, the robots' and the sensors'. A letter or digit
# first (no "..", no hidden folder, no "-option"), then letters, digits, "_", "." and "-", 64 at most:
# no separator, quote, space or control character can reach those places. ('-' is not valid in a
# ROS 2 topic name; mapping topics for ROS is the recorder's job, so names keep the common '-'.)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_RULE = "1-64 letters, digits, _ . - starting with a letter or digit"


def _f(default: Any, desc: str, unit: str | None = None, **constraints: Any) -> Any:
    """Field with a description that always states unit, range and default (for editors)."""
    bits = [desc]
    if unit:
        bits.append(f"Unit: {unit}.")
    if default is not ...:
        shown = default.model_dump() if isinstance(default, BaseModel) else default
        bits.append(f"Default: {json.dumps(shown)}.")
    extra: JsonDict | None = {"unit": unit} if unit else None
    return Field(default, description=" ".join(bits), json_schema_extra=extra, **constraints)


class _Model(BaseModel):
    """Strict-keys base: an unknown key is a typo until proven otherwise."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Obstacle(_Model):
    """A solid obstacle: exactly one of ``rect`` or ``polygon``.

    The YAML key ``polygon`` is stored as ``vertices`` so that ``polygon()`` can
    be the method every consumer uses, whichever shape was written.
    """

    name: str | None = _f(None, "Label for drawing and reports; default obstacle-<index>.")
    kind: Literal["shelf", "wall", "pillar", "station", "other"] = _f("other", "What it is; affects drawing only.")
    rect: tuple[Float, Float, Positive, Positive] | None = _f(
        None, "Axis-aligned box [x, y, width, height]: lower-left corner and size.", "m")
    vertices: Annotated[list[Point], Field(min_length=3)] | None = _f(
        None, "Vertices [[x, y], ...] in order, at least 3.", "m", alias="polygon")

    @model_validator(mode="after")
    def _one_shape(self) -> Obstacle:
        if (self.rect is None) == (self.vertices is None):
            raise ValueError("give exactly one of 'rect' or 'polygon'")
        return self

    def polygon(self) -> np.ndarray:
        """Outline as an (N, 2) array of metres, rect converted, so consumers ignore the shape."""
        if self.rect is not None:
            return rect_polygon(*self.rect)
        return np.asarray(self.vertices, dtype=float)


class Place(_Model):
    """A named, non-colliding spot that warehouse logic refers to."""

    name: str = _f(..., "Unique place name, e.g. pick-A1.", min_length=1)
    kind: Literal["pick", "packing", "parking", "charging", "waypoint"] = _f("waypoint", "Role of the place.")
    position: Point = _f(..., "[x, y] in the map frame.", "m")
    heading: Float = _f(0.0, "Preferred heading at the place.", "rad")


class World(_Model):
    """The static map: a rectangle from (0, 0) to (width, height), optionally with an occupancy-grid map."""

    _grid: Any = PrivateAttr(None)  # the loaded map's sim.world.occgrid.OccupancyGrid (set by the loader)

    size: tuple[Extent, Extent] | None = _f(
        None, "[width, height], each in (0, 2000]. Required unless 'map' is given: then it defaults to the map's "
        "far corner (origin + image size x resolution), and when given must hold the map's grid.", "m")
    map: str | None = _f(
        None, "A ROS map_server map: the path of its YAML (image, resolution, origin, negate, occupied_thresh, "
        "free_thresh, mode), relative to this file; occupied cells block robots and planned paths, unknown "
        "cells block planned paths (docs/maps.md). null = no grid map.", min_length=1)
    boundary_walls: bool = _f(True, "Add the 4 outer walls of the map rectangle.")
    walls: list[Segment] = _f([], "Thin walls, each [[x1, y1], [x2, y2]].", "m")
    obstacles: list[Obstacle] = _f([], "Solid obstacles (shelves, pillars, stations).")
    places: list[Place] = _f([], "Named spots (pick, packing, parking, charging, waypoint).")

    @model_validator(mode="after")
    def _sized(self) -> World:
        if self.size is None and self.map is None:
            raise PydanticCustomError("size_or_map", "missing required key 'size' (or a 'map' that gives it)")
        return self

    @property
    def grid(self) -> Any:
        """The loaded ``world.map`` as an ``OccupancyGrid``, or None (no map, or not loaded yet)."""
        return self._grid

    def set_grid(self, grid: Any) -> None:
        """Attach the loaded map's grid (``sim.scenario.mapfile.bind_map``)."""
        self._grid = grid


class Physics(_Model):
    """Fixed-step integration settings."""

    step: Float = _f(0.01, "Fixed physics step, in (0, 0.1].", "s", gt=0, le=0.1)
    workers: Int = _f(0, "Worker processes for lidar ray casts (and, without numba, collision checks); "
                      "0 = inline.", ge=0, le=16)


class Run(_Model):
    """How long and how fast to run, and the threading model."""

    duration: Float = _f(60.0, "Simulated time to run, in (0, 86400].", "s", gt=0, le=86400)
    time_scale: Float = _f(1.0, "Simulated seconds per real second, in (0, 100].", gt=0, le=100)
    seed: Int = _f(0, "Master random seed, in [0, 2^63 - 1].", ge=0, le=2**63 - 1)
    switch_interval: Float = _f(0.0005, "sys.setswitchinterval value, in [1e-6, 0.1].", "s", ge=1e-6, le=0.1)
    producer_threads: Literal["per_kind", "per_sensor"] = _f(
        "per_kind", "One producer thread per sensor class, or one per sensor.")
    clock: Literal["real", "virtual"] = _f(
        "real", "real = paced by wall time; virtual = as fast as possible, deterministic.")
    pin_cpu: bool = _f(True, "Virtual clock: keep the simulation threads on one CPU (they run one at a time; "
                       "a hand-off is then ~5x cheaper). false lets the OS move them.")
    hosts: Annotated[Literal["shared", "per_robot"] | HostCount, BeforeValidator(_hosts_setting)] = _f(
        "shared", "Where the robots' software runs: shared = every controller and sensor queue in this one "
        "process (one GIL); per_robot = each robot in its own host process; an integer N = robots dealt into "
        "N host processes. The world (physics, sensor sampling) always runs in the main process (docs/hosts.md).")
    host_silence_limit: Float = _f(
        5.0, "Hosts: wall seconds a host process may go without its heartbeat (a controller stuck in a C call "
        "holding its GIL) before it is killed and the run ends naming it, in (0, 3600].", "s", gt=0, le=3600)
    call_limit: Float | None = _f(
        2.0, "Wall-time limit of one plugin call (a compute(), a sample_many(), a handle_event()), in "
        "(0, 3600], in both clocks: a call still running after it ends the run (exit 1) naming the call, with "
        "the stack where it was. Warm-up calls before time starts get at least 60 s (first calls may compile kernels). "
        "null = no limit (e.g. to step through a plugin in a debugger).", "s", gt=0, le=3600)


class Latency(_Model):
    """Delay between sampling and publishing: fixed + uniform [0, jitter]."""

    fixed: LatencyS = _f(0.0, "Constant delay, in [0, 10].", "s")
    jitter: LatencyS = _f(0.0, "Extra uniform random delay in [0, jitter], jitter in [0, 10].", "s")


class QueueSpec(_Model):
    """Bounded queue between a producer and its consumer."""

    capacity: Int = _f(8, "Maximum queued readings, in [1, 100000].", ge=1, le=100000)
    policy: Literal["drop_oldest", "drop_newest", "block"] = _f(
        "drop_oldest", "What a full queue does with a new reading.")


class PluginSpec(BaseModel):
    """Common part of a sensor/controller entry; class-specific params sit flat beside it.

    ``extra='allow'`` keeps those params for pass 2, which validates them with
    the resolved class's ``Params`` (itself ``extra='forbid'``).
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    _cls: type | None = PrivateAttr(None)
    _params: BaseModel | None = PrivateAttr(None)

    type: str = _f(..., "Registry name or plugin 'pkg.module:ClassName'.", min_length=1)

    @property
    def cls(self) -> builtins.type[Any]:
        """The resolved sensor/controller class (set by the loader)."""
        if self._cls is None:
            raise AttributeError(f"{self.type!r} has not been resolved; use load_scenario()")
        return self._cls

    @property
    def params(self) -> BaseModel:
        """The validated ``cls.Params`` instance (set by the loader)."""
        if self._params is None:
            raise AttributeError(f"{self.type!r} has not been resolved; use load_scenario()")
        return self._params

    def bind(self, cls: builtins.type[Any], params: BaseModel) -> None:
        """Attach the resolved class and its validated params."""
        self._cls, self._params = cls, params


class SensorSpec(PluginSpec):
    """One sensor on a robot: timing, latency, loss, queueing, plus its own params."""

    name: str | None = _f(None, f"Unique per robot, {NAME_RULE}; default = the type (plugins: class name "
                          "lowercased).", pattern=NAME_PATTERN)
    rate_hz: Float = _f(10.0, "Sample rate, in (0, 1000].", "Hz", gt=0, le=1000)
    latency: Latency = _f(Latency(), "Publish delay model.")
    dropout: Float = _f(0.0, "Probability in [0, 1) that a sample is lost.", ge=0, lt=1)
    max_age: Annotated[float, Field(gt=0, le=60), NoBool] | None = _f(
        None, "Readings older than this at use are stale, in (0, 60]; null = 3 / rate_hz.", "s")
    queue: QueueSpec = _f(QueueSpec(), "Queue to the consumer.")
    on_failure: Literal["stop", "continue"] = _f(
        "stop", "If sampling raises: stop the run, or mark this sensor failed (no more readings; its "
        "controller then sees stale data and safety-stops) and go on. Either way the report names it.")
    mount: tuple[Float, Float, Float] = _f(
        (0.0, 0.0, 0.0), "Sensor pose [x, y, yaw] in the robot's base_link (m, m, rad; x forward, y left): "
        "the lidar casts from there along yaw (its scan is in that frame); recordings name it as the "
        "base_link -> sensor transform. Other built-in sensors report in base_link whatever the mount.")


class ControllerSpec(PluginSpec):
    """The robot's controller: period, deadline policy, plus its own params."""

    period: Float = _f(0.05, "Control period, in (0, 10].", "s", gt=0, le=10)
    deadline: Annotated[float, Field(gt=0, le=10), NoBool] | None = _f(
        None, "Time allowed per cycle, in (0, 10]; null = period.", "s")
    overrun: Literal["skip", "catch_up"] = _f(
        "skip", "After an overrun: skip missed cycles, or run them back to back.")
    execution: ExecutionModel = _f(
        NoModel(), "Execution-time model of compute: none | fixed | normal | lognormal | measured | replay | "
        "empirical (see docs/virtual-time.md). In virtual time this is the only compute time there is.")
    phase: Annotated[float, Field(ge=0, le=10), NoBool] = _f(
        0.0, "Offset of the first release: r_k = phase + k * period, in [0, 10]. Staggering "
        "robots' phases spreads their wake-ups (they share one GIL).", "s")
    wait_for: list[str] = _f([], "Sensor names on this robot whose fresh data the controller "
                             "waits for, up to the deadline.")
    watch: list[str] | None = _f(
        None, "Sensor names on this robot the stale-input watchdog watches: a stale or missing reading of "
        "one of them sends (0, 0) instead of calling compute. null = the sensors the controller says it "
        "reads (waypoint, warehouse: pose source and lidar; a plugin that does not say: all); [] = none. "
        "Stale uses are counted for every sensor either way.")


class FootprintRect(_Model):
    """A rectangular footprint: length along x, width along y, its centre offset from base_link."""

    length: Positive = _f(..., "Extent along x (forward), in (0, 50].", "m", le=50)
    width: Positive = _f(..., "Extent along y (left), in (0, 50].", "m", le=50)
    offset: Point = _f((0.0, 0.0), "The rectangle's centre [x, y] in base_link (e.g. a tugger's axle at the "
                       "rear: [length / 2 - overhang, 0]).", "m")

    def polygon(self) -> np.ndarray:
        """Its corners counter-clockwise from rear right, (4, 2)."""
        cx, cy = self.offset
        hl, hw = self.length / 2, self.width / 2
        return np.array([[cx - hl, cy - hw], [cx + hl, cy - hw], [cx + hl, cy + hw], [cx - hl, cy + hw]])


def _kinematics_name(value: Any) -> Any:
    """``kinematics: diff_drive`` is short for ``{type: diff_drive}``."""
    return {"type": value} if isinstance(value, str) else value


class Kinematics(_Model):
    """How the robot turns: diff_drive (spins in place) or ackermann (car-like, bicycle model)."""

    type: Literal["diff_drive", "ackermann"] = _f("diff_drive", "diff_drive or ackermann.")
    wheelbase: Annotated[float, Field(gt=0, le=20), NoBool] | None = _f(
        None, "Ackermann: distance from the rear (driven, at base_link) to the front (steered) axle, in (0, 20]; "
        "required for ackermann.", "m")
    max_steer: Annotated[float, Field(gt=0, lt=1.5), NoBool] = _f(
        0.6, "Ackermann: largest steering angle, in (0, 1.5). Minimum turning radius = wheelbase / tan(max_steer).",
        "rad")
    max_steer_rate: Annotated[float, Field(gt=0, le=20), NoBool] = _f(
        1.0, "Ackermann: fastest steering change, in (0, 20].", "rad/s")

    @model_validator(mode="after")
    def _wheelbase_for_ackermann(self) -> Kinematics:
        if self.type == "ackermann" and self.wheelbase is None:
            raise ValueError("ackermann needs 'wheelbase'")
        if self.type == "diff_drive" and self.wheelbase is not None:
            raise ValueError("'wheelbase' only applies to ackermann (diff_drive uses the robot's wheel_base)")
        return self

    @property
    def min_turn_radius(self) -> float:
        """m; 0 for diff_drive (turns in place)."""
        if self.type != "ackermann" or self.wheelbase is None:
            return 0.0
        return self.wheelbase / float(np.tan(self.max_steer))


class Robot(_Model):
    """One robot: body (a disc, or a footprint), kinematics, limits, sensors and controller."""

    name: str = _f(..., f"Unique robot name, {NAME_RULE}.", pattern=NAME_PATTERN)
    start: tuple[Float, Float, Float] = _f(..., "Start pose [x, y, theta] (m, m, rad).")
    radius: Float = _f(0.3, "Body radius, in (0, 5]: the disc the robot is without a footprint; with one, the "
                       "radius planners and avoidance inflate by (default then: the footprint's circumscribed "
                       "radius about base_link).", "m", gt=0, le=5)
    footprint: list[Point] | FootprintRect | None = _f(
        None, "Body outline in base_link (x forward, y left): a polygon [[x, y], ...] (at least 3 points, in "
        "order, not self-intersecting), or a rectangle {length, width, offset}. Collisions, the lidars of other "
        "robots and the view use it; null = a disc of radius.", "m")
    kinematics: Annotated[Kinematics, BeforeValidator(_kinematics_name)] = _f(
        Kinematics(), "diff_drive, or {type: ackermann, wheelbase, max_steer, max_steer_rate}: a commanded (v, w) "
        "becomes a steering angle atan(w * wheelbase / v), clamped and rate limited; no turning at v = 0 "
        "(max_yaw_rate/max_yaw_accel do not apply). The controller must support it (waypoint, spiky do; "
        "warehouse does not).")
    max_speed: Float = _f(1.0, "Top linear speed, in (0, 20].", "m/s", gt=0, le=20)
    max_accel: Float = _f(1.0, "Linear acceleration limit, in (0, 50].", "m/s^2", gt=0, le=50)
    max_yaw_rate: Float = _f(2.0, "Top turn rate, in (0, 20].", "rad/s", gt=0, le=20)
    max_yaw_accel: Float = _f(4.0, "Turn acceleration limit, in (0, 100].", "rad/s^2", gt=0, le=100)
    wheel_base: Float = _f(0.4, "Distance between the wheels (odometry), in (0, 5].", "m", gt=0, le=5)
    sensors: list[SensorSpec] = _f([], "Sensors; names unique per robot.")
    controller: ControllerSpec = _f(..., "The controller driving this robot.")

    def footprint_polygon(self) -> np.ndarray | None:
        """The footprint as vertices (V, 2) in base_link, whichever form was written; None: a disc."""
        if self.footprint is None:
            return None
        if isinstance(self.footprint, FootprintRect):
            return self.footprint.polygon()
        return np.asarray(self.footprint, dtype=float).reshape(-1, 2)


class Event(_Model):
    """A timeline entry applied at a simulated time."""

    at: Float = _f(..., "When, in simulated seconds, >= 0.", "s", ge=0)
    action: Literal["set_waypoints", "stop_robot"] = _f(..., "What to do.")
    robot: str = _f(..., "Name of the robot it applies to.")
    waypoints: list[Point] | None = _f(None, "For set_waypoints: [[x, y], ...].", "m")

    @model_validator(mode="after")
    def _waypoints_match_action(self) -> Event:
        if self.action == "set_waypoints" and not self.waypoints:
            raise ValueError("set_waypoints needs a non-empty 'waypoints' list")
        if self.action != "set_waypoints" and self.waypoints is not None:
            raise ValueError(f"'waypoints' only applies to set_waypoints, not {self.action}")
        return self


class Scenario(_Model):
    """A whole scenario file. Build it with ``load_scenario`` to get resolved plugins."""

    _source: Path | None = PrivateAttr(None)

    name: str | None = _f(None, f"Scenario name (names the run folder), {NAME_RULE}; default = the file "
                          "name without extension, other characters replaced by '-'.", pattern=NAME_PATTERN)
    description: str = _f("", "Free text shown in reports.")
    world: World = _f(..., "The static map.")
    physics: Physics = _f(Physics(), "Physics settings.")
    run: Run = _f(Run(), "Run length, pacing and threading.")
    robots: Annotated[list[Robot], Field(min_length=1, max_length=1000)] = _f(
        ..., "1 to 1000 robots with unique names.")
    events: list[Event] = _f([], "Timeline of scenario events.")
    expect: Expect | None = _f(None, "CI gates checked after the run (miss rate, response p99, collisions, "
                               "...); any breach makes run.py exit 1. See docs/report.md.")
    orders: OrdersSpec | None = _f(None, "Warehouse orders (sim/features/orders.py): arrivals, pick/pack times; "
                                   "null = no orders.")
    faults: list[Fault] = _f([], "Injected faults, each a window of simulated time on a target: "
                             "sensor_dropout, latency_spike, frozen_sensor, noise_burst, controller_stall, "
                             "cpu_hog, numpy_load, kill_worker, kill_host (sim/features/faults.py).")

    @property
    def source(self) -> Path | None:
        """File this scenario was loaded from, if any."""
        return self._source


_fault_entry: Any = Fault  # the type Scenario.faults holds entries of now


def sync_fault_kinds() -> type[Scenario]:
    """Scenario, its ``faults`` entries typed with the fault kinds registered now (a kind registered
    after this module was imported, say a test's own, is then validated, documented and in the schema)."""
    global _fault_entry
    entry = fault_type()
    if entry is not _fault_entry:
        Scenario.model_fields["faults"].annotation = list[entry]  # type: ignore[valid-type]  # the union of the kinds registered now, built at run time
        Scenario.model_rebuild(force=True)
        _fault_entry = entry
    return Scenario


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema for editors, with each importable built-in's params shown per ``type``.

    A sensor or controller entry is open in itself (its own params sit flat beside the common
    keys, and a plugin ``pkg.module:Class`` has params the schema cannot know), so each built-in
    ``type`` gets an ``if type is NAME then`` branch listing the common keys and that class's
    ``Params`` and forbidding any other key: an editor flags ``rate_hzz`` inside a lidar as the
    loader does. scenarios/scenario.schema.json is this, written out (tests/test_schema.py).
    """
    schema = sync_fault_kinds().model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    for spec, names, resolve in ((SensorSpec, sensor_names(), resolve_sensor),
                                 (ControllerSpec, controller_names(), resolve_controller)):
        entry = defs[spec.__name__]
        common: dict[str, Any] = {key: True for key in entry["properties"]}  # checked by the entry itself
        branches = []
        for name in names:
            try:
                params = resolve(name).Params.model_json_schema(ref_template="#/$defs/{model}")
            except (PluginError, ImportError):
                continue  # an optional built-in that cannot load here is simply not described
            defs.update(params.pop("$defs", {}))
            then = {"properties": {**common, **params.get("properties", {})}, "additionalProperties": False}
            branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then})
        entry["properties"]["type"]["examples"] = names
        if branches:
            entry["allOf"] = branches
    return schema
