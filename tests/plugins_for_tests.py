"""Sensor/controller classes that exist only so scenario tests do not depend on built-in params.

The scenario tests register these under the built-in names (``lidar``,
``waypoint``, ...) so the malformed-scenario corpus keeps testing the loader
even when the real classes' parameters change. Several are deliberately
broken to exercise the registry's checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from controllers.base import Controller
from sensors.base import Sensor


class FilterParams(BaseModel):
    """Nested params, to check did-you-mean below the top level of a plugin's params."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(3, ge=1, le=100, description="samples in the filter window")
    kind: Literal["median", "mean"] = Field("median", description="filter type")


class FakeLidarParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beams: int = Field(360, ge=1, le=10000, description="number of beams")
    range_max: float = Field(10.0, gt=0, le=200, description="m", json_schema_extra={"unit": "m"})
    mode: Literal["fast", "accurate"] = Field("fast", description="ray cast mode")
    filter: FilterParams = Field(default_factory=FilterParams, description="range filter")


class FakeLidar(Sensor):
    """Stands in for the real lidar in loader tests."""

    kind = "lidar"
    Params = FakeLidarParams


class FakeSimpleSensor(Sensor):
    """A sensor without params of its own (inherits the base's empty Params)."""

    kind = "simple"


class FakeWaypointParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waypoints: list[tuple[float, float]] = Field(default_factory=list, description="m")
    cruise_speed: float = Field(0.8, gt=0, le=20, description="m/s", json_schema_extra={"unit": "m/s"})
    loop: bool = Field(True, description="start over after the last waypoint")


class FakeWaypoint(Controller):
    """Stands in for the real waypoint controller in loader tests."""

    Params = FakeWaypointParams


class GoodPluginSensor(Sensor):
    """A user plugin referenced as ``plugins_for_tests:GoodPluginSensor``."""

    kind = "good"
    Params = FakeLidarParams


class NoParamsSensor(Sensor):
    """Broken plugin: Params is not a pydantic model."""

    Params = None  # type: ignore[assignment]


class DictParamsController(Controller):
    """Broken plugin: Params is a class, but not a pydantic model."""

    Params = dict  # type: ignore[assignment]


class ExplodingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: int = 0

    @field_validator("level")
    @classmethod
    def _explode(cls, value: int) -> int:
        # A buggy plugin validator raising something pydantic does not wrap.
        raise RuntimeError(f"kaboom {value}")


class ExplodingSensor(Sensor):
    """Broken plugin: its params validator raises RuntimeError."""

    Params = ExplodingParams


class NotASensor:
    """Broken plugin: not derived from sensors.base.Sensor."""

    Params = FakeLidarParams


NOT_A_CLASS = 42


class Circle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shape: Literal["circle"] = "circle"
    radius: float = Field(1.0, gt=0, le=5, description="m", json_schema_extra={"unit": "m"})


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shape: Literal["box"] = "box"
    width: float = Field(1.0, gt=0, le=5, description="m")


class UnionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    footprint: Circle | Box = Field(default_factory=Circle, discriminator="shape", description="tagged union")
    label: int | str = Field(0, description="plain union")


class UnionSensor(Sensor):
    """Params with unions: pydantic adds member tags to error locations, which must not leak."""

    kind = "union"
    Params = UnionParams
