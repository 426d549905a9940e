"""Execution-time models: how much simulated time a controller's compute takes.

In virtual time a controller's real computation takes no simulated time, so its
compute time has to be modelled, as real-time schedulers do with WCET/ACET
figures. In real time the modelled time is added on top of the real compute
(useful to emulate a slower target computer). ``measured`` scales the thread's
real CPU time and is therefore not deterministic.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Seconds = Annotated[float, Field(ge=0, le=10)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reads_cpu: ClassVar[bool] = False  # True: ``sample`` needs the cycle's real CPU time (a syscall to read)


class NoModel(_Model):
    """Compute takes no modelled time (the default)."""

    model: Literal["none"] = "none"

    def sample(self, rng: np.random.Generator, cpu: float) -> float:
        return 0.0


class Fixed(_Model):
    """Every cycle computes for exactly ``seconds``."""

    model: Literal["fixed"]
    seconds: Seconds = Field(..., description="s of compute per cycle, in [0, 10]")

    def sample(self, rng: np.random.Generator, cpu: float) -> float:
        return self.seconds


class Normal(_Model):
    """Normal with ``mean``/``std``, truncated to [0, ``cap``] (``cap`` plays the WCET)."""

    model: Literal["normal"]
    mean: Seconds = Field(..., description="s, average compute time (ACET)")
    std: Seconds = Field(0.0, description="s, standard deviation")
    cap: Seconds | None = Field(None, description="s, upper bound (WCET); null = no cap")

    def sample(self, rng: np.random.Generator, cpu: float) -> float:
        x = max(rng.normal(self.mean, self.std), 0.0)
        return min(x, self.cap) if self.cap is not None else x


class LogNormal(_Model):
    """Log-normal with the given ``median`` and shape ``sigma``, capped: long right tail."""

    model: Literal["lognormal"]
    median: Annotated[float, Field(gt=0, le=10)] = Field(..., description="s, median compute time")
    sigma: Annotated[float, Field(ge=0, le=5)] = Field(0.5, description="shape (std of log)")
    cap: Seconds | None = Field(None, description="s, upper bound (WCET); null = no cap")

    def sample(self, rng: np.random.Generator, cpu: float) -> float:
        x = self.median * math.exp(rng.normal(0.0, self.sigma))
        return min(x, self.cap) if self.cap is not None else x


class Measured(_Model):
    """The cycle's real CPU time times ``factor`` (host-dependent, not deterministic)."""

    model: Literal["measured"]
    reads_cpu: ClassVar[bool] = True
    factor: Annotated[float, Field(gt=0, le=1000)] = Field(1.0, description="scale on measured CPU s")

    def sample(self, rng: np.random.Generator, cpu: float) -> float:
        return cpu * self.factor


ExecutionModel = Annotated[NoModel | Fixed | Normal | LogNormal | Measured, Field(discriminator="model")]
