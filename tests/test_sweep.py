"""Sweeps: combinations, resumption, failures recorded, Dask, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import ScenarioError, UsageError
from sim.sweep.grid import Sweep, parse_seeds, parse_set, validate
from sim.sweep.pool import execute
from sim.sweep.summary import summarise, t95

ROOT = Path(__file__).resolve().parents[1]
SCN = ROOT / "tests" / "data" / "sweep.yaml"


def quiet(*_: object) -> None:
    """Progress callback that prints nothing."""


def test_parse_seeds_and_sets() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_set("robots.count=1,2") == ("robots.count", [1, 2])
    assert parse_set("run.time_scale=0.5") == ("run.time_scale", [0.5])
    with pytest.raises(UsageError):
        parse_seeds("3-1")
    with pytest.raises(UsageError):
        parse_set("robots.count")
    assert t95(1) == 12.71 and t95(100) == 1.96


def test_unknown_path_is_a_clear_error(tmp_path: Path) -> None:
    sweep = Sweep(SCN, [0], [parse_set("run.durration=1,2")], out=tmp_path)
    with pytest.raises(ScenarioError) as err:
        validate(sweep)
    assert "durration" in str(err.value) and "did you mean 'duration'" in str(err.value)


@pytest.mark.slow
def test_local_sweep_records_failures_and_resumes(tmp_path: Path) -> None:
    sets = [parse_set("robots.0.controller.fail_after=-1,3"), parse_set("robots.count=1,2")]
    sweep = Sweep(SCN, [0, 1], sets, out=tmp_path)
    validate(sweep)
    rows = execute(sweep, workers=2, dask=None, progress=quiet)
    assert len(rows) == 8
    failed = [r for r in rows if r["error"]]
    # every run told to fail did, with the error recorded; the others completed
    assert {r["robots.0.controller.fail_after"] for r in failed} == {3}
    assert len(failed) == 4 and all("planned failure in cycle 3" in r["error"] for r in failed)
    ok = [r for r in rows if not r["error"]]
    assert all(r["sim_seconds"] == pytest.approx(1.0) and r["miss_rate"] == 0.0 for r in ok)
    table = summarise(sweep, rows)
    assert len(table) == 4 and {t["failed"] for t in table} == {0, 2}
    # a second identical sweep runs nothing: every key is on disk
    calls: list[tuple[int, int, int, int]] = []
    again = execute(Sweep(SCN, [0, 1], sets, out=tmp_path), workers=2, dask=None,
                    progress=lambda *a: calls.append(a))
    assert calls == [(8, 8, 4, 8)]
    assert [r["key"] for r in again] == [r["key"] for r in rows]
    # one more seed runs only the new four
    calls.clear()
    execute(Sweep(SCN, [0, 1, 2], sets, out=tmp_path), workers=2, dask=None, progress=lambda *a: calls.append(a))
    assert calls[0][3] == 8 and calls[-1][:2] == (12, 12)


@pytest.mark.slow
def test_dask_local_cluster_has_as_many_workers_as_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--dask local`` honours ``--workers`` (it once always started 2): the cluster really has that many."""
    import distributed

    made: list[int] = []
    real = distributed.LocalCluster

    def counted(*args: object, **kwargs: object) -> distributed.LocalCluster:
        cluster = real(*args, **kwargs)
        made.append(len(cluster.workers))
        return cluster

    monkeypatch.setattr(distributed, "LocalCluster", counted)
    sweep = Sweep(SCN, [0, 1], [parse_set("robots.count=1,2")], out=tmp_path)
    rows = execute(sweep, workers=1, dask="local", progress=quiet)
    assert len(rows) == 4 and not any(r["error"] for r in rows)
    assert made == [1]
    made.clear()
    execute(Sweep(SCN, [2], [], out=tmp_path), workers=3, dask="local", progress=quiet)
    assert made == [3]


@pytest.mark.slow
def test_cli_sweep_writes_table_csv_and_plot(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "run.py", "sweep", str(SCN), "--seeds", "0-1", "--set",
                          "robots.count=1,2", "--out", str(tmp_path), "--workers", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "miss % (95% CI)" in res.stdout and "4 runs, 0 failed" in res.stdout
    folder = next(tmp_path.iterdir())
    assert len((folder / "results.csv").read_text().strip().splitlines()) == 5
    assert (folder / "sweep.png").stat().st_size > 1000
    summary = json.loads((folder / "summary.json").read_text())
    assert [t["robots.count"] for t in summary["table"]] == [1, 2]


@pytest.mark.slow
def test_cli_sweep_unknown_path_exits_2(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "run.py", "sweep", str(SCN), "--set", "robots.0.speeed=1",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "speeed" in res.stderr and "Traceback" not in res.stderr


EDITED_SCENARIO = """\
name: edited
world: {size: [8.0, 6.0]}
run: {duration: 1.0}
robots:
  - name: r1
    start: [7.0, 1.0, 0.0]
    max_accel: 5.0
    controller: {type: 'sweep_edit_plugin:Const', period: 0.1}
"""
EDITED_PLUGIN = """\
from controllers.base import Controller


class Const(Controller):
    def compute(self, inputs):
        return {command}
"""


@pytest.mark.slow
def test_an_edited_plugin_reruns_and_an_unchanged_one_is_skipped(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    plugin = code / "sweep_edit_plugin.py"
    plugin.write_text(EDITED_PLUGIN.format(command="1.0, 0.0"))  # drives into the east wall
    monkeypatch.syspath_prepend(str(code))  # the spawned workers inherit sys.path
    scn = tmp_path / "edited.yaml"
    scn.write_text(EDITED_SCENARIO)

    def sweep() -> tuple[list[dict], list[tuple[int, int, int, int]]]:
        calls: list[tuple[int, int, int, int]] = []
        rows = execute(Sweep(scn, [0], [], out=tmp_path / "sweeps"), workers=1, dask=None,
                       progress=lambda *a: calls.append(a))
        return rows, calls

    rows, calls = sweep()
    assert calls[0][3] == 0 and rows[0]["collisions"] == 1 and not rows[0]["error"]
    again, calls = sweep()  # nothing changed: done before
    assert calls == [(1, 1, 0, 1)] and again[0]["key"] == rows[0]["key"] and again[0]["collisions"] == 1
    # the controller is changed (a different size, so no stale .pyc can stand in for it)
    plugin.write_text(EDITED_PLUGIN.format(command="0.0, 0.0  # parked"))
    edited, calls = sweep()
    assert calls[0][3] == 0, "the edited plugin's runs were skipped as done before"
    assert edited[0]["collisions"] == 0 and edited[0]["key"] != rows[0]["key"]


def test_the_code_digest_covers_the_project_version_and_plugin_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.sweep import cache as sweep_mod

    base = sweep_mod.code_digest([])
    assert sweep_mod.code_digest([]) == base  # stable
    assert sweep_mod.code_digest(["examples.my_plugins.controller"]) != base
    assert sweep_mod.plugin_modules(b"robots: [{controller: {type: 'a.b:C'}}, {sensors: [{type: lidar}]}]",
                                    [("robots.0.controller.type", ["x.y:Z", "waypoint"])]) == ["a.b", "x.y"]
    assert sweep_mod.plugin_modules(b"&a [*a]", []) == []  # a self-referencing document
    monkeypatch.setattr(sweep_mod, "project_version", lambda: "9.9.9")
    assert sweep_mod.code_digest([]) != base
