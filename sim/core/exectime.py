"""Execution-time models: how much simulated time a controller's compute takes.

In virtual time a controller's real computation takes no simulated time, so its
compute time has to be modelled, as real-time schedulers do with WCET/ACET
figures. In real time the modelled time is added on top of the real compute
(useful to emulate a slower target computer). ``measured`` scales the thread's
real CPU time and is therefore not deterministic.

``sample(rng, cpu, k)`` gets the seeded generator, the cycle's real CPU seconds (only read when
``reads_cpu``) and the cycle number ``k`` (0 = the first release; releases skipped after an overrun
keep their numbers), so a model may depend on which cycle it is (``pattern``).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Seconds = Annotated[float, Field(ge=0, le=10)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reads_cpu: ClassVar[bool] = False  # True: ``sample`` needs the cycle's real CPU time (a syscall to read)


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


ExecutionModel = Annotated[NoModel | Fixed | Normal | LogNormal | Pattern | Measured, Field(discriminator="model")]
