"""Recorded runs for the ``replay`` and ``empirical`` execution models: read once at load, bound per robot.

A recording is a run's ``cycles.csv`` (or any CSV with the columns ``robot``, ``k``, ``cpu_time``).
It is read once per scenario load (robots naming the same file share one read) into one pair of
arrays per robot, cycle numbers and CPU seconds, sorted by cycle: memory is bounded by the file's
rows. Every problem (a missing folder or file, a CSV without the columns, a bad row, a robot the
recording does not have) becomes a ScenarioError at the model's ``from`` (or the robot's ``name``),
raised before any thread starts: exit 2, one line.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.exectime import Recorded
from sim.errors import format_value, shorten, suggest
from sim.scenario.models import Scenario

__all__ = ["COLUMNS", "Recording", "bind_recordings", "read_recording", "resolve_source"]

COLUMNS = ("robot", "k", "cpu_time")  # the columns of cycles.csv a recording needs
_MAX_K = 2**53  # cycle numbers past this are not a run's (and would not survive float arithmetic)

Err = Callable[..., None]  # err(loc, message, suggestion=None), as check_scenario's


@dataclass(frozen=True)
class Recording:
    """One recorded run: per robot, its cycle numbers (ascending, distinct) and their CPU seconds."""

    path: Path  # the CSV read
    robots: dict[str, tuple[np.ndarray, np.ndarray]]


def resolve_source(source: str, scenario: Path | None) -> Path:
    """``from`` as a path: a relative one is relative to the scenario file's folder (else the working folder)."""
    path = Path(source).expanduser()
    if not path.is_absolute() and scenario is not None:
        path = scenario.parent / path
    return path


def read_recording(path: Path) -> Recording | str:
    """The recording at ``path`` (a run folder or a CSV), or a one-line problem saying what is wrong with it."""
    if path.is_dir():
        csv_path = path / "cycles.csv"
        if not csv_path.is_file():
            return f"run folder {shorten(str(path), 120)} has no cycles.csv"
    elif path.exists():
        csv_path = path
    else:
        return f"no run folder or CSV at {shorten(str(path), 120)}"
    shown = shorten(str(csv_path), 120)
    per_robot: dict[str, tuple[array[int], array[float]]] = {}
    unsorted: set[str] = set()
    try:
        with csv_path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if not header:
                return f"{shown} is empty; a recording is a run's cycles.csv (columns {', '.join(COLUMNS)})"
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                return (f"{shown} has no column {', '.join(missing)} (its columns: "
                        f"{shorten(', '.join(header), 80)}); a recording is a run's cycles.csv")
            ir, ik, ic = (header.index(c) for c in COLUMNS)
            width = max(ir, ik, ic)
            for row in reader:
                if not row:
                    continue
                at = f"{shown}:{reader.line_num}"
                if len(row) <= width:
                    return f"{at}: a row of {len(row)} field(s), the header has {len(header)}"
                try:
                    k = int(row[ik])
                except ValueError:
                    k = -1
                if not 0 <= k <= _MAX_K:
                    return f"{at}: k {format_value(row[ik])} is not a cycle number (an integer >= 0)"
                try:
                    cost = float(row[ic])
                except ValueError:
                    cost = math.nan
                if not (math.isfinite(cost) and cost >= 0):
                    return f"{at}: cpu_time {format_value(row[ic])} is not a number of seconds >= 0"
                ks, costs = per_robot.setdefault(row[ir], (array("q"), array("d")))
                if ks and k <= ks[-1]:
                    unsorted.add(row[ir])
                ks.append(k)
                costs.append(cost)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return f"cannot read {shown}: {shorten(str(exc), 80)}"
    robots: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (ks, costs) in per_robot.items():
        k_arr, c_arr = np.frombuffer(ks, dtype=np.int64), np.frombuffer(costs, dtype=np.float64)
        if name in unsorted:  # a hand-made CSV: rows in any order, but each cycle once
            order = np.argsort(k_arr, kind="stable")
            k_arr, c_arr = k_arr[order], c_arr[order]
            twice = np.flatnonzero(np.diff(k_arr) == 0)
            if twice.size:
                return f"{shown}: robot {format_value(name)} has cycle {int(k_arr[twice[0]])} twice"
        robots[name] = (k_arr.copy(), c_arr.copy())
    return Recording(csv_path, robots)


def bind_recordings(scn: Scenario, source: Path | None, err: Err) -> None:
    """Read each ``replay``/``empirical`` model's recording (once per file) and bind its robot's costs to it."""
    read: dict[Path, Recording | str] = {}
    for i, robot in enumerate(scn.robots):
        model = robot.controller.execution
        if not isinstance(model, Recorded):
            continue
        loc = ("robots", i, "controller", "execution", "from")
        path = resolve_source(model.source, source)
        key = path.resolve() if path.exists() else path
        if key not in read:
            read[key] = read_recording(path)
        recording = read[key]
        if isinstance(recording, str):
            err(loc, recording)
            continue
        costs = recording.robots.get(robot.name)
        if costs is None:
            present = sorted(recording.robots)
            listed = shorten(", ".join(present), 80) if present else "none: it has no rows"
            err(loc, f"robot {format_value(robot.name)} is not in the recording {shorten(str(recording.path), 120)} "
                f"(robots there: {listed})", suggest(robot.name, present))
            continue
        if model.bound_robot not in (None, robot.name):  # one model object shared by two robots
            model = robot.controller.execution = model.model_copy()
        model.bind(robot.name, *costs)
