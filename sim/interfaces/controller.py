"""The controller plugin interface: the ``Controller`` base class and the ``Inputs`` it gets each cycle.

A controller turns its robot's newest sensor readings into a velocity command.
It never reads a clock or sleeps: the runtime releases it on its period,
measures the cycle, and applies the safety watchdog, so the same class runs
under real and virtual time and in unit tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from sim.interfaces.messages import Reading
from sim.interfaces.plugin import NoParams, RobotInfo

if TYPE_CHECKING:  # the world sits above the interfaces: its types are only named here
    from sim.world.model import StaticMap


@dataclass(frozen=True)
class Inputs:
    """What a controller sees in one cycle, and where it declares what the cycle costs (``charge``)."""

    now: float  # s, simulated time the cycle's compute started
    readings: dict[str, Reading | None]  # sensor name -> newest reading received so far
    fresh: dict[str, bool]  # sensor name -> a new reading arrived since the previous cycle
    # Declared cost (``charge``): class-level defaults, set on the instance only by a charge, so building
    # Inputs every cycle costs no more than before. ``charged``: s declared so far this cycle (NaN once a bad
    # charge was made); ``bad_charge``: the first bad value, in a 1-tuple (None: none).
    charged: ClassVar[float] = 0.0
    bad_charge: ClassVar[tuple[Any] | None] = None

    def charge(self, seconds: float) -> None:
        """Declare that this step costs ``seconds`` of compute on the robot (finite, >= 0; several add up).

        The runtime adds the total to the cycle's modelled compute time, as it does an ``execution:``
        model's: in virtual time it advances simulated time before the command is sent, in real time
        it is added on top of the real compute. So an input-dependent cost (a plan on a new goal, a
        scan with many points) is modelled deterministically. A negative, NaN or infinite charge is
        the controller's error: the run fails, naming the robot and the cycle.
        """
        try:
            s = float(seconds)
        except (TypeError, ValueError):
            s = math.nan
        if not 0.0 <= s < math.inf:  # NaN fails both comparisons
            if self.bad_charge is None:
                object.__setattr__(self, "bad_charge", (seconds,))
            s = math.nan  # sticky: the total stays NaN, so the runtime sees it with one test
        object.__setattr__(self, "charged", self.charged + s)

    def data(self, name: str) -> Any:
        """Payload of the newest reading of ``name``, or None if none has arrived."""
        r = self.readings.get(name)
        return None if r is None else r.data

    def age(self, name: str) -> float:
        """Seconds since the newest reading of ``name`` was sampled (inf if none)."""
        r = self.readings.get(name)
        return float("inf") if r is None else self.now - r.sample_time


class Controller:
    """Base class of every controller. Subclasses set ``Params`` and ``compute``."""

    Params: ClassVar[type[BaseModel]] = NoParams
    # Params fields holding goals, each one [x, y] point or a list of them: checked at load (sim.scenario.goals)
    # to be spots the robot's body can occupy (inside the map, clear of obstacles and walls).
    goal_params: ClassVar[tuple[str, ...]] = ()
    # Sensor kinds this controller reads ("lidar", "odometry", ...). The stale-input watchdog
    # stops the robot when a sensor it reads is stale or missing, and only then: an unread
    # sensor going quiet is no reason to stop. None (the default) = it does not say, so every
    # sensor of its robot is watched, as before there was a choice (a safe default: a stop too
    # many shows in the report; a stale input driven on does not). See ``inputs_needed``.
    needs: ClassVar[tuple[str, ...] | None] = None
    # The robots[].kinematics types it can drive. A robot of another kind is refused at load (exit 2):
    # an Ackermann robot cannot turn in place, which a controller written for diff drive may rely on.
    kinematics: ClassVar[tuple[str, ...]] = ("diff_drive",)

    def __init__(self, params: BaseModel, robot: RobotInfo, static: StaticMap,
                 sensor_kinds: dict[str, str], rng: np.random.Generator) -> None:
        self.params = params
        self.robot = robot
        self.static = static
        self.sensor_kinds = sensor_kinds  # sensor name -> kind ("lidar", "odometry", ...)
        self.rng = rng
        # Read by the view from another thread: replace the dict, never mutate it.
        self.visual: dict[str, Any] = {}

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        """Return ``(v, w)``: forward speed (m/s) and yaw rate (rad/s) to command."""
        raise NotImplementedError

    @classmethod
    def warm_up(cls) -> None:
        """Called once per controller class before time starts: compile kernels, fill caches
        (default: nothing), so the first timed cycle does not pay for it."""

    def handle_event(self, action: str, data: dict[str, Any]) -> None:
        """React to a scenario timeline event addressed to this robot (default: ignore)."""

    def status(self) -> dict[str, Any]:
        """Outcome figures for the report (e.g. waypoints reached)."""
        return {}

    def inputs_needed(self) -> list[str]:
        """Names of this robot's sensors whose stale or missing data must stop it (the watchdog's set).

        Default: the sensors of the kinds in ``needs``, every sensor if ``needs`` is None.
        Override it to name exactly the sensors ``compute`` reads (e.g. the first of a kind).
        A scenario's ``controller.watch`` list replaces it for one robot.
        """
        if self.needs is None:
            return list(self.sensor_kinds)
        return [name for name, kind in self.sensor_kinds.items() if kind in self.needs]

    def sensor_named(self, kind: str) -> str | None:
        """The name of this robot's first sensor of ``kind``, if it has one."""
        return next((n for n, k in self.sensor_kinds.items() if k == kind), None)
