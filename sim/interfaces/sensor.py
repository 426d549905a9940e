"""The sensor plugin interface: the ``Sensor`` base class and the check every reading passes.

A sensor is a small object with its own seeded random generator that turns the
true world state into a noisy measurement. It never sleeps, never touches a
queue and never reads a clock: timing is the producer thread's job, so the same
class runs under real and virtual time.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from sim.interfaces.plugin import NoParams, RobotInfo

if TYPE_CHECKING:  # the world sits above the interfaces: its types are only named here
    from sim.world.model import StaticMap, WorldSnapshot


class Sensor:
    """Base class of every sensor. Subclasses set ``kind``, ``Params`` and ``sample``.

    Override ``sample_many`` to measure all due sensors of the class in one
    vectorised call (the lidar does: one ray cast for every robot due).
    """

    kind: ClassVar[str] = "sensor"
    Params: ClassVar[type[BaseModel]] = NoParams
    # A reading never holds NaN; inf only where the kind means "no return" by it (the lidar).
    # A pose, a twist, an acceleration is finite, so by default inf is a failure too.
    allows_inf: ClassVar[bool] = False
    # Where the sensor sits on its robot: [x, y, yaw] in base_link (m, m, rad), the scenario's
    # ``sensors[].mount``, set by the runtime after construction (a recorder reads it for the
    # base_link -> sensor transform). The lidar casts from it; the other built-ins ignore it.
    mount: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # A batch's stacked constants, kept by its first sensor for the next sample_many of the
    # same sensors (see Imu); dropped from copies, which must not drag the whole batch along.
    _batch: Any = None

    def __init__(self, name: str, robot: RobotInfo, params: BaseModel,
                 rng: np.random.Generator, static: StaticMap) -> None:
        self.name = name
        self.robot = robot
        self.params = params
        self.rng = rng
        self.static = static

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_batch", None)
        return state

    def sample(self, snap: WorldSnapshot) -> Any:
        """Measure the world in ``snap`` for this sensor's robot; return a JSON-able payload."""
        raise NotImplementedError

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[Any]:
        """Measure several sensors of this class at one instant (default: one by one)."""
        return [s.sample(snap) for s in sensors]

    def describe(self) -> dict[str, Any]:
        """Parameters for the report."""
        return {"kind": self.kind, **self.params.model_dump()}

    @classmethod
    def check_reading(cls, payload: Any) -> str | None:
        """What makes ``payload`` unusable (NaN anywhere; inf unless ``allows_inf``), or None.

        Runs on every reading (the producer calls it): numbers, numpy arrays, tuples,
        lists, dicts and dataclasses are looked into; other values are taken as they are.
        """
        return bad_number(payload, cls.allows_inf)


_FLOAT_KINDS = frozenset("fc")  # numpy dtype kinds that can hold NaN or inf
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _dataclass_fields(t: type) -> tuple[str, ...] | None:
    """The field names of dataclass type ``t`` (None if it is not one), looked up once per type."""
    names = _FIELDS.get(t, ())
    if names == ():
        names = _FIELDS[t] = (tuple(f.name for f in dataclasses.fields(t)) if dataclasses.is_dataclass(t)
                              else None)
    return names


def bad_number(value: Any, allow_inf: bool, where: str = "value", depth: int = 0) -> str | None:
    """The first NaN (or inf, unless ``allow_inf``) in ``value``, described; None if there is none."""
    t = type(value)
    if t is float:
        if value - value == 0.0 or (allow_inf and value == value):  # finite, or inf where allowed
            return None
        return f"{where} is {value!r}"
    if t is np.ndarray:
        if value.dtype.kind not in _FLOAT_KINDS:
            return None
        if value.size <= 16 and value.dtype.kind == "f":  # a pose, a twist: a Python loop beats two ufuncs
            for x in value.flat if value.ndim > 1 else value.tolist():
                if x - x != 0.0 and not (allow_inf and x == x):
                    break
            else:
                return None
        elif not (np.isnan(value).any() if allow_inf else not np.isfinite(value).all()):
            return None
        bad = np.isnan(value) if allow_inf else ~np.isfinite(value)
        i = int(np.flatnonzero(bad)[0])
        return f"{where}[{i}] is {value.flat[i].item()!r} (of {value.size} values)"
    if t is bool or t is int or t is str or value is None:
        return None
    if isinstance(value, np.floating):
        if math.isfinite(value) or (allow_inf and not math.isnan(value)):
            return None
        return f"{where} is {value.item()!r}"
    if depth >= 4:
        return None
    if t is tuple or t is list:
        items: Any = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    elif t is dict:
        items = ((f"{where}[{key!r}]", item) for key, item in value.items())
    elif (names := _dataclass_fields(t)) is not None:
        items = ((f"{where}.{name}", getattr(value, name)) for name in names)
    else:
        return None
    for name, item in items:
        if (why := bad_number(item, allow_inf, name, depth + 1)) is not None:
            return why
    return None
