"""Sensor faults: lost samples, late readings, a stuck driver, extra noise.

Each puts one ``SampleEffect`` on every targeted sensor while its window is open
(``SensorFault.apply`` / ``remove``); overlapping faults on one sensor combine
(``sim.core.producers.SampleEffects``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field

from sim.core.producers import SampleEffect
from sim.features.faultkind import FaultContext, NoBool, Probability, Seconds, SensorFault

if TYPE_CHECKING:
    from sim.core.producers import SensorRuntime
    from sim.features.faultstats import FaultWindow


class SensorDropout(SensorFault):
    """Samples are lost: all of them (a blackout) or each with ``probability`` (a burst)."""

    kind: Literal["sensor_dropout"] = Field(
        ..., description="sensor_dropout: samples in the window are lost (all, or each with probability).")
    probability: Probability = Field(1.0, description="Chance each sample in the window is lost, in "
                                     "(0, 1]; added to the sensor's own dropout. Default: 1.0 (all).")

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        return SampleEffect(dropout=self.probability)


class LatencySpike(SensorFault):
    """Every reading sampled in the window is published ``latency`` later than usual."""

    kind: Literal["latency_spike"] = Field(
        ..., description="latency_spike: readings sampled in the window are published latency s later.")
    latency: Seconds = Field(..., description="Extra sample-to-publish delay, in (0, 10]. Unit: s.")

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        return SampleEffect(latency=self.latency)


class FrozenSensor(SensorFault):
    """The sensor keeps publishing its last reading's payload (a stuck driver), on schedule."""

    kind: Literal["frozen_sensor"] = Field(
        ..., description="frozen_sensor: the sensor republishes its last payload on schedule (a stuck driver).")

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        return SampleEffect(freeze=True)


class NoiseBurst(SensorFault):
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

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        rng = ctx.stream(rt.robot_name, "sensor", rt.sensor.name, "noise")
        return SampleEffect(payload_filter=noise_filter(self, ctx.window, rt.label, rng))


def noise_filter(f: NoiseBurst, w: FaultWindow, label: str, rng: np.random.Generator) -> Callable[[object], object]:
    """The payload filter of one noise burst on one sensor; it counts its hits in ``w.work[label]``."""
    std, relative, p = f.std, f.relative, f.probability
    w.work[label] = 0

    def noise(payload: object) -> object:
        if p < 1.0 and rng.random() >= p:
            return payload
        w.work[label] += 1  # only this sensor's producer thread writes this key
        return add_noise(payload, std, relative, rng)

    return noise


def add_noise(payload: object, std: float, relative: bool, rng: np.random.Generator) -> object:
    """Payload with Gaussian noise: a scan's ranges (kept >= 0), or a float array; else unchanged."""
    ranges = getattr(payload, "ranges", None)
    if isinstance(ranges, np.ndarray) and dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return dataclasses.replace(payload, ranges=np.maximum(_noisy(ranges, std, relative, rng), 0.0))
    if isinstance(payload, np.ndarray) and payload.dtype.kind == "f":
        return _noisy(payload, std, relative, rng)
    return payload


def _noisy(x: np.ndarray, std: float, relative: bool, rng: np.random.Generator) -> np.ndarray:
    n = rng.normal(0.0, std, x.shape)
    y = x * (1.0 + n) if relative else x + n  # inf (no return) stays inf
    return y.astype(x.dtype, copy=False)
