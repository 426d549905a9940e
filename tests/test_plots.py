"""report.png: drawn from report.json + cycles.csv, not blank, grouped for big fleets, lazy matplotlib."""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.report.plots import write_report_png
from tests.scripted_run import ROOT, SLOW, TINY, virtual_run


def distinct_colours(png: Path) -> int:
    from matplotlib.image import imread

    img = imread(png)
    assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 600
    rgb = (img[:, :, :3] * 255).astype(np.uint32).reshape(-1, 3)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("plot")
    _, report = virtual_run(out, [], SLOW)
    return out, json.loads(json.dumps(report))


def test_png_exists_and_is_not_blank(slow: Any, tmp_path: Path) -> None:
    out, report = slow
    assert report["summary"]["misses"] > 0
    png = write_report_png(report, out / "cycles.csv", tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert distinct_colours(png) > 100
    assert not list(tmp_path.glob(".*.tmp"))


def big_fleet(report: dict[str, Any], cycles_csv: Path, tmp_path: Path, n: int = 12) -> tuple[dict[str, Any], Path]:
    """The report and cycles.csv of one robot copied to ``n`` robots (enough to force grouping)."""
    big = copy.deepcopy(report)
    big["controllers"] = [{**c, "robot": f"amr-{i}"} for i in range(n) for c in report["controllers"]]
    big["sensors"] = [{**s, "robot": f"amr-{i}"} for i in range(n) for s in report["sensors"]]
    with open(cycles_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    path = tmp_path / "cycles.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for i in range(n):
            w.writerows({**r, "robot": f"amr-{i}"} for r in rows)
    return big, path


def test_many_robots_are_grouped(slow: Any, tmp_path: Path) -> None:
    out, report = slow
    big, cycles = big_fleet(report, out / "cycles.csv", tmp_path)
    png = write_report_png(big, cycles, tmp_path / "big.png")
    assert distinct_colours(png) > 100


def test_missing_cycles_csv_and_old_report_still_plot(slow: Any, tmp_path: Path) -> None:
    _, report = slow
    old = copy.deepcopy(report)
    for c in old["controllers"]:
        c["response_time"].pop("hist")
    png = write_report_png(old, tmp_path / "nope.csv", tmp_path / "old.png")
    assert distinct_colours(png) > 20


@pytest.mark.slow
def test_importing_plots_does_not_import_matplotlib() -> None:
    code = "import sys, sim.report.plots, sim.cli; print('matplotlib' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


@pytest.mark.slow
def test_cli_writes_png_and_report_tool_redraws_it(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "run.py", str(TINY), "--headless", "--clock", "virtual", "--duration", "1",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = Path(res.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    assert {p.name for p in out.iterdir()} == {"report.json", "cycles.csv", "trace.json", "report.png"}
    (out / "report.png").unlink()
    res = subprocess.run([sys.executable, "run.py", "report", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "Deadline-miss report: tiny" in res.stdout and f"plot: {out / 'report.png'}" in res.stdout
    assert distinct_colours(out / "report.png") > 100
