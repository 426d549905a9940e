"""A sweep's grid: the command line's seeds and ``--set`` values, expanded into one RunSpec per run."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError, UsageError, format_value
from sim.sweep.cache import code_digest, map_sources, maps_digest, plugin_modules, recording_sources, recordings_digest


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything a worker process needs, picklable."""

    scenario: str  # path
    settings: tuple[tuple[str, Any], ...]
    seed: int
    clock: str
    duration: float | None
    key: str


@dataclass
class Sweep:
    """Every combination of ``sets`` for every seed, each a RunSpec keyed by what it runs (sim.sweep.cache)."""

    scenario: Path
    seeds: list[int]
    sets: list[tuple[str, list[Any]]]
    clock: str = "virtual"
    duration: float | None = None
    out: Path = Path("sweeps")
    specs: list[RunSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        text = self.scenario.read_bytes()
        digest = hashlib.sha256(text).hexdigest()
        self.folder = self.out / f"{self.scenario.stem}-{digest[:10]}"
        self.code = code_digest(plugin_modules(text, self.sets))
        sources = recording_sources(text, self.sets)  # replay/empirical: the recorded data a run reads
        data = [recordings_digest(self.scenario, sources)] if sources else []
        if maps := map_sources(text, self.sets):  # world.map: the map files a run reads
            data.append(maps_digest(self.scenario, maps))
        names = [p for p, _ in self.sets]
        for values in itertools.product(*[v for _, v in self.sets]):
            settings = tuple(zip(names, values, strict=True))
            for seed in self.seeds:
                ident = json.dumps([digest, settings, seed, self.clock, self.duration, self.code, *data],
                                   default=str)
                key = hashlib.sha256(ident.encode()).hexdigest()[:16]
                self.specs.append(RunSpec(str(self.scenario), settings, seed, self.clock, self.duration, key))


def parse_seeds(text: str) -> list[int]:
    """``0-99``, ``1,2,5`` or ``0-9,20-29`` -> sorted unique seeds."""
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
            if a < 0 or b < a:
                raise ValueError
            seeds.update(range(a, b + 1))
    except ValueError:
        raise UsageError(f"--seeds: got {format_value(text)}; expected e.g. 0-99 or 1,2,5") from None
    return sorted(seeds)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``path=v1,v2`` -> (path, [v1, v2]); values are read as YAML scalars (0.05 is a float)."""
    path, eq, values = text.partition("=")
    if not eq or not path.strip() or not values.strip():
        raise UsageError(f"--set: got {format_value(text)}; expected PATH=V1,V2,... e.g. robots.count=4,8,16")
    return path.strip(), [_scalar(v.strip(), text) for v in values.split(",")]


def _scalar(value: str, text: str) -> Any:
    """One ``--set`` value read as a YAML scalar, with the scenario loader's limits (64-bit integers)."""
    from sim.scenario.marks import parse_marked

    if not value:
        return None
    try:
        return parse_marked(value, "--set").data
    except ScenarioError as exc:
        raise UsageError(f"--set {format_value(text)}: {exc.describe()}") from None


def validate(sweep: Sweep) -> None:
    """Load the scenario once per distinct setting so an unknown path fails before any run."""
    from sim.scenario.load import load_scenario

    for values in itertools.product(*[v for _, v in sweep.sets]):
        load_scenario(sweep.scenario, dict(zip([p for p, _ in sweep.sets], values, strict=True)))
