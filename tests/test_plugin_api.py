"""The one public plugin API (sim.api): its exact names, the older documented paths, the docs' examples."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim.api
from sim.scenario.models import World
from sim.world.model import StaticMap, WorldSnapshot
from sim.world.raycast import cast_scans

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "plugins.md").read_text()

PUBLIC = {
    "Command", "ConformanceError", "Controller", "ControllerHarness", "Cycle", "Inputs", "LaserScan", "NoParams",
    "Reading", "RobotInfo", "Sensor", "StaticMap", "WorldSnapshot", "check_controller", "check_sensor",
}
# Every import path docs/plugins.md has documented (its table and examples before sim.api), and the
# package re-exports beside them: each must stay valid, as the very object sim.api gives.
OLD_PATHS = [
    ("sensors.base", "Sensor"), ("sensors.base", "Reading"), ("sensors.base", "RobotInfo"),
    ("sensors.base", "NoParams"), ("controllers.base", "Controller"), ("controllers.base", "Inputs"),
    ("controllers.base", "Reading"), ("controllers.base", "RobotInfo"), ("controllers.base", "NoParams"),
    ("sensors", "Sensor"), ("sensors", "Reading"), ("sensors", "RobotInfo"),
    ("controllers", "Controller"), ("controllers", "Inputs"), ("sensors.lidar", "LaserScan"),
    ("sim.world", "WorldSnapshot"), ("sim.world", "StaticMap"), ("sim.world.model", "WorldSnapshot"),
    ("sim.world.model", "StaticMap"), ("sim.world.physics", "Command"),
    ("sim.conformance", "check_sensor"), ("sim.conformance", "check_controller"),
    ("sim.testing.conformance", "check_sensor"), ("sim.testing.conformance", "check_controller"),
    ("sim.errors", "ConformanceError"), ("sim.testing.harness", "ControllerHarness"), ("sim.core.control", "Cycle"),
]


def test_the_public_names_are_exactly_these() -> None:
    assert set(sim.api.__all__) == PUBLIC and len(sim.api.__all__) == len(PUBLIC)
    assert {name for name in vars(sim.api) if not name.startswith("_")} == PUBLIC  # nothing else leaks in
    assert all(getattr(sim.api, name) is not None for name in PUBLIC)


@pytest.mark.parametrize(("module", "name"), OLD_PATHS, ids=[f"{m}.{n}" for m, n in OLD_PATHS])
def test_an_older_path_gives_the_same_object(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(sim.api, name)


def test_the_plugin_types_live_in_the_interfaces_layer() -> None:
    for name in ("Command", "Controller", "Inputs", "LaserScan", "NoParams", "Reading", "RobotInfo", "Sensor"):
        assert getattr(sim.api, name).__module__.startswith("sim.interfaces."), name


def test_the_docs_old_path_table_is_what_is_tested() -> None:
    section = DOC[DOC.index("**Older import paths still work.**"):DOC.index("### Params")]
    documented = set()
    for names, module in re.findall(r"^\| (`[^|]+`) \| `([\w.]+)`", section, re.M):
        documented |= {(module, n) for n in re.findall(r"`(\w+)`", names)}
    assert documented and documented <= set(OLD_PATHS)


def test_every_import_in_the_plugin_docs_resolves() -> None:
    imports = re.findall(r"^from ((?:sim|sensors|controllers|examples)[\w.]*) import ([\w, ]+)$", DOC, re.M)
    assert ("sim.api", "Controller, Inputs") in imports
    for module, names in imports:
        mod = importlib.import_module(module)
        for name in names.split(", "):
            assert hasattr(mod, name), f"from {module} import {name}"


def test_the_harness_example_in_the_docs_runs() -> None:
    section = DOC[DOC.index("## Testing a controller: the harness"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()


# ------------------------------------------------------------------ ray casting as a service of the map
def _room() -> tuple[StaticMap, WorldSnapshot]:
    static = StaticMap.from_scenario(World.model_validate(
        {"size": [10.0, 6.0], "obstacles": [{"kind": "other", "rect": [6.0, 2.5, 1.0, 1.0]}]}))
    pose = np.array([[2.0, 3.0, 0.0], [4.0, 3.0, np.pi], [8.0, 1.0, 1.0]])
    n = len(pose)
    snap = WorldSnapshot(0.0, 0, pose, np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n, bool),
                         np.zeros(n, int), np.zeros(n), np.full(n, 0.3))
    return static, snap


class _Pool:
    """Stands in for the worker pool: records the request, answers with ``answer``."""

    def __init__(self, answer: np.ndarray | None) -> None:
        self.answer, self.calls = answer, []

    def cast_scans(self, *args: Any) -> np.ndarray | None:
        self.calls.append(args)
        return self.answer


def test_the_map_casts_inline_and_hits_walls_boxes_and_other_robots() -> None:
    static, snap = _room()
    idx, beams = np.array([0, 2]), np.linspace(-np.pi, np.pi, 8, endpoint=False)
    got = static.cast_scans(snap, idx, beams, 10.0, 0.05)
    want = cast_scans(static.segment_map, snap.pose[idx, :2], snap.pose[idx, 2], beams, 10.0, 0.05,
                      circles=(snap.pose[:, :2], snap.radius), self_index=idx)
    assert got.tobytes() == want.tobytes() and got.shape == (2, 8)
    assert got[0, 4] == pytest.approx(2.0 - 0.3)  # beam 4 of robot 0 points ahead (+x): robot 1's disc
    assert got[0, 0] == pytest.approx(2.0)  # straight back (-x): the wall at x = 0


def test_the_map_casts_in_the_run_s_pool_when_it_has_one_and_inline_when_it_does_not_fit() -> None:
    static, snap = _room()
    idx, beams = np.array([1]), np.zeros(3)
    inline = static.cast_scans(snap, idx, beams, 10.0, 0.0)
    pool = _Pool(np.full((1, 3), 7.0))
    static.use_workers(pool)  # type: ignore[arg-type]
    assert static.cast_scans(snap, idx, beams, 10.0, 0.0).tolist() == [[7.0, 7.0, 7.0]]
    assert len(pool.calls) == 1 and pool.calls[0][2] is idx
    pool.answer = None  # the request does not fit the pool's shared block: cast here
    assert static.cast_scans(snap, idx, beams, 10.0, 0.0).tobytes() == inline.tobytes()
    static.use_workers(None)
    assert static.cast_scans(snap, idx, beams, 10.0, 0.0).tobytes() == inline.tobytes() and len(pool.calls) == 2
