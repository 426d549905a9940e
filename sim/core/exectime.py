"""Execution-time models: how much simulated time a controller's compute takes.

In virtual time a controller's real computation takes no simulated time, so its
compute time has to be modelled, as real-time schedulers do with WCET/ACET
figures. In real time the modelled time is added on top of the real compute
(useful to emulate a slower target computer). ``measured`` scales the thread's
real CPU time and is therefore not deterministic; ``replay`` and ``empirical`` charge the CPU
times a recorded run measured (its ``cycles.csv``), deterministically, so a cost measured once
on the target can be replayed anywhere. Their recording is read once, at scenario load
(``sim.scenario.recording``), and bound to the robot here.

``sample(rng, cpu, k)`` gets the seeded generator, the cycle's real CPU seconds (only read when
``reads_cpu``) and the cycle number ``k`` (0 = the first release; releases skipped after an overrun
keep their numbers), so a model may depend on which cycle it is (``pattern``, ``replay``).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

Seconds = Annotated[float, Field(ge=0, le=10)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reads_cpu: ClassVar[bool] = False  # True: ``sample`` needs the cycle's real CPU time (a syscall to read)
    # True: charges a recorded run's cpu_time, which already holds what compute() declared (Inputs.charge)
    replays_recording: ClassVar[bool] = False


class NoModel(_Model):
    """Compute takes no modelled time (the default)."""

    model: Literal["none"] = "none"

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        return 0.0


class Fixed(_Model):
    """Every cycle computes for exactly ``seconds``."""

    model: Literal["fixed"]
    seconds: Seconds = Field(..., description="s of compute per cycle, in [0, 10]")

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        return self.seconds


class Normal(_Model):
    """Normal with ``mean``/``std``, truncated to [0, ``cap``] (``cap`` plays the WCET)."""

    model: Literal["normal"]
    mean: Seconds = Field(..., description="s, average compute time (ACET)")
    std: Seconds = Field(0.0, description="s, standard deviation")
    cap: Seconds | None = Field(None, description="s, upper bound (WCET); null = no cap")

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        x = max(rng.normal(self.mean, self.std), 0.0)
        return min(x, self.cap) if self.cap is not None else x


class LogNormal(_Model):
    """Log-normal with the given ``median`` and shape ``sigma``, capped: long right tail."""

    model: Literal["lognormal"]
    median: Annotated[float, Field(gt=0, le=10)] = Field(..., description="s, median compute time")
    sigma: Annotated[float, Field(ge=0, le=5)] = Field(0.5, description="shape (std of log)")
    cap: Seconds | None = Field(None, description="s, upper bound (WCET); null = no cap")

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        x = self.median * math.exp(rng.normal(0.0, self.sigma))
        return min(x, self.cap) if self.cap is not None else x


class Pattern(_Model):
    """A periodic cost: cycle ``k`` computes for ``base`` + ``spike`` when ``k % every == offset``, else ``base``.

    For code that does extra work every N-th cycle (a replan, a map update): deterministic, no draw.
    """

    model: Literal["pattern"]
    every: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        ..., description="cycles between spikes (1 = every cycle), in [1, 1000000]")
    spike: Seconds = Field(..., description="s added on the spike cycles, in [0, 10]")
    base: Seconds = Field(0.0, description="s of compute on every cycle, in [0, 10]")
    offset: Annotated[int, Field(ge=0)] = Field(
        0, description="number of the first spike cycle (cycles count from 0), in [0, every)")

    @field_validator("offset")
    @classmethod
    def _offset_below_every(cls, v: int, info: ValidationInfo) -> int:
        every = info.data.get("every")
        if every is not None and v >= every:
            raise ValueError(f"must be below every ({every}): the spike cycles are k % every == offset")
        return v

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        return self.base + self.spike if k % self.every == self.offset else self.base


class Measured(_Model):
    """The cycle's real CPU time times ``factor`` (host-dependent, not deterministic)."""

    model: Literal["measured"]
    reads_cpu: ClassVar[bool] = True
    factor: Annotated[float, Field(gt=0, le=1000)] = Field(1.0, description="scale on measured CPU s")

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        return cpu * self.factor


class Recorded(_Model):
    """A model charging what a recorded run measured: each robot's ``cpu_time`` column of its ``cycles.csv``.

    The loader binds the robot's recording (``bind``) once the robot's name is known; ``sample``
    before that is a programming error (a scenario not built by ``load_scenario``).
    """

    replays_recording: ClassVar[bool] = True
    model: str
    source: str = Field(..., alias="from", min_length=1, description=(
        "recorded run: a run folder (its cycles.csv) or a CSV with columns robot, k, cpu_time; "
        "a relative path is relative to the scenario file"))
    scale: Annotated[float, Field(gt=0, le=1000)] = Field(
        1.0, description="factor on the recorded CPU s, in (0, 1000] (target slower than the recording host: > 1)")
    _robot: str | None = PrivateAttr(None)
    _ks: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros(0, np.int64))
    _costs: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros(0, np.float64))
    _span: int = PrivateAttr(0)

    def bind(self, robot: str, ks: np.ndarray, costs: np.ndarray) -> None:
        """Charge ``robot``'s recording: its cycle numbers ``ks`` (ascending, distinct) and their CPU seconds."""
        if len(ks) == 0 or len(ks) != len(costs):
            raise ValueError(f"robot {robot!r}: a recording needs one cost per recorded cycle, and at least one")
        self._robot = robot
        self._ks = np.ascontiguousarray(ks, dtype=np.int64)
        self._costs = np.ascontiguousarray(costs, dtype=np.float64)
        self._span = int(self._ks[-1]) + 1

    @property
    def bound_robot(self) -> str | None:
        """The robot whose recording this model charges (None before the loader bound one)."""
        return self._robot

    def _recorded(self) -> np.ndarray:
        if self._robot is None:
            raise RuntimeError(f"execution model {self.model!r} has no recording bound; build scenarios with "
                               "load_scenario()")
        return self._costs


class Replay(Recorded):
    """Cycle k costs the `cpu_time` the recorded run measured at its cycle k (same robot name), times
    `scale`; deterministic. Past the recorded end the recording wraps around: cycle k costs recorded
    cycle k mod n (n = last recorded k + 1). A cycle the recording lacks (a release it skipped after
    an overrun) costs its next recorded cycle's time.

    Wrap-around, as a logged trace is looped: the recorded spikes and their spacing keep coming,
    where holding the last value would quietly make the rest of the run flat and spike-free, and
    failing would forbid a run one cycle longer than the recording (a real run's last cycle may be
    cut by its stop, so an equally long replay would already fail). For runs much longer than the
    recording, ``empirical`` draws from the same costs without repeating one sequence.
    """

    model: Literal["replay"]

    def sample(self, rng: np.random.Generator, cpu: float, k: int = 0) -> float:
        costs = self._recorded()
        i = int(np.searchsorted(self._ks, k % self._span))  # the first recorded cycle at or after k
        return float(costs[i]) * self.scale


class Empirical(Recorded):
    """Each cycle costs one of the robot's recorded `cpu_time` values, drawn uniformly with the
    robot's seeded `execution` stream, times `scale`: the recorded cost distribution, for runs
    longer than the recording. Same seed and same file, same costs.

    The draw is over the robot's recorded cycles sorted by k, so the row order of the file (a
    real-time run writes rows as they come) does not change the costs.
    """

    model: Literal["empirical"]

    def sample(self, rng: np.random.Generator, cpu: float, k: int = 0) -> float:
        costs = self._recorded()
        return float(costs[int(rng.integers(len(costs)))]) * self.scale


ExecutionModel = Annotated[NoModel | Fixed | Normal | LogNormal | Pattern | Measured | Replay | Empirical,
                           Field(discriminator="model")]
