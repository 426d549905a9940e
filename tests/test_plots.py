"""report.png: drawn from report.json + cycles.csv, not blank, lazy matplotlib; its data (CCDFs from bins,
cause bins, the robot colour map, values under 1 µs) checked as functions, its figure's axes checked on Agg."""

from __future__ import annotations

import copy
import csv
import itertools
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


# ---------------------------------------------------------------------- plot data (no matplotlib)
def hist_of(values: list[float]) -> list[list[float]]:
    from sim.common.stats import Histogram
    from sim.report.hists import compact

    h = Histogram()
    for v in values:
        h.add(v)
    return compact(h)


def test_ccdf_from_bins_is_the_share_above_each_edge() -> None:
    from sim.report.hists import ccdf

    rng = np.random.default_rng(3)
    values = rng.lognormal(np.log(0.01), 0.7, 2000).tolist()
    c = ccdf(hist_of(values))
    arr = np.asarray(values)
    assert c.n == 2000 and c.below == 0 and len(c.x) == len(c.y) >= 10
    assert c.y[0] == 1.0 and c.y[-1] == 0.0 and all(a >= b for a, b in zip(c.y, c.y[1:], strict=False))
    for x, y in zip(c.x, c.y, strict=True):  # exact at every bin edge (edges are 6 significant digits)
        assert abs(y - float((arr > x).mean())) <= 1 / 2000 + 1e-12


def test_ccdf_leaves_values_under_a_microsecond_out_of_the_curve_but_in_the_shares() -> None:
    from sim.report.hists import ccdf

    c = ccdf(hist_of([0.0] * 30 + [0.005] * 60 + [0.02] * 10))
    assert (c.n, c.below, c.below_share) == (100, 30, 0.3)
    assert c.x[0] > 1e-3  # not drawn at 1 µs (10^-3 ms): the curve begins at the first real bin ...
    assert c.y[0] == pytest.approx(0.7)  # ... at the share above it, which excludes the zeros
    assert c.y[-2] == pytest.approx(0.1) and c.y[-1] == 0.0
    only_zeros = ccdf(hist_of([0.0] * 5))
    assert (only_zeros.x, only_zeros.y, only_zeros.below_share) == ([], [], 1.0)
    assert ccdf([]).n == 0


def test_summary_points_read_the_ccdf_off_a_distribution_without_hist() -> None:
    from sim.report.plotdata import summary_points

    d = {"count": 1000, "p50": 0.002, "p90": 0.004, "p99": 0.009, "max": 0.02}
    assert summary_points(d) == ([0.002, 0.004, 0.009, 0.02], [0.5, 0.1, 0.01, 0.001])
    assert summary_points({**d, "p50": 0.0, "count": 50}) == ([0.004, 0.02], [0.1, 0.02])  # 0: no log place; p99 < 1/n
    assert summary_points({"count": 0}) == ([], [])


def controllers_of(misses: list[int], p99: list[float | None] | None = None) -> list[dict[str, Any]]:
    p99 = p99 or [0.01] * len(misses)
    return [{"robot": f"r{i:02d}", "misses": m, "response_time": {"p99": p}}
            for i, (m, p) in enumerate(zip(misses, p99, strict=True))]


def test_colour_map_is_scenario_order_for_small_fleets_and_worst_first_for_large_ones() -> None:
    from sim.report.plotdata import GREY, PALETTE, robot_colours

    small = robot_colours(controllers_of([0, 5, 1]))
    assert small.colours == {"r00": PALETTE[0], "r01": PALETTE[1], "r02": PALETTE[2]} and not small.greyed
    assert robot_colours(controllers_of([9, 9, 9])).colours == small.colours  # not the figures: the order
    misses = [0] * 48
    misses[40], misses[7], misses[20] = 12, 3, 3
    p99: list[float | None] = [0.01] * 48
    p99[20], p99[33], p99[5] = 0.05, 0.2, None
    big = robot_colours(controllers_of(misses, p99), highlight=6)
    assert big.shown[:4] == ["r40", "r20", "r07", "r33"]  # most misses, then the highest p99
    assert len(big.shown) == 6 and len(big.greyed) == 42 and "r05" in big.greyed
    assert [big.of(r) for r in big.shown] == PALETTE[:6]
    assert {big.of(r) for r in big.greyed} == {GREY} and big.of("not-a-robot") == GREY


def test_shared_lines_interleave_one_dash_per_colour() -> None:
    from sim.report.plotdata import DASH, GAP, shared_lines

    lines = shared_lines([(0.05, "a"), (0.05, "b"), (0.05, "a"), (0.05, "c"), (0.03, "b")])
    assert [(ln.value, ln.colour) for ln in lines] == [(0.03, "b"), (0.05, "a"), (0.05, "b"), (0.05, "c")]
    assert lines[0].dashes == (0.0, (DASH, GAP))  # alone at its value: a plain dashed line
    period = 3 * DASH + GAP
    starts = []
    for ln in lines[1:]:
        offset, (on, off) = ln.dashes
        assert on + off == period
        starts.append((-offset) % period)  # where along the line its dash begins
    assert starts == [0.0, DASH, 2 * DASH]  # side by side, none over another


def test_cause_bins_merge_the_reports_fixed_bins_and_say_their_width(tmp_path: Path) -> None:
    from sim.report.plotdata import cause_bins

    report = {"misses": {"bins": 200, "bin_width": 0.1, "timeline": [
        [0.0, {"long_compute": 2}], [0.3, {"long_compute": 1, "input_wait": 4}], [19.9, {"input_wait": 1}]]}}
    b = cause_bins(report, tmp_path / "absent.csv", target=50)
    assert b.width == pytest.approx(0.4) and len(b.edges) == 51 and b.edges[-1] == pytest.approx(20.0)
    assert b.counts["long_compute"][0] == 3 and b.counts["input_wait"][0] == 4 and b.counts["input_wait"][49] == 1
    assert b.total == 8 and "late_release" not in b.counts
    assert cause_bins(report, tmp_path / "absent.csv", target=500).width == pytest.approx(0.1)


def write_cycles(path: Path, rows: list[tuple[str, float, int, str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["robot", "k", "release_time", "miss", "cause"])
        for i, (robot, t, miss, cause) in enumerate(rows):
            w.writerow([robot, i, f"{t:.6f}", miss, cause])
    return path


def test_a_report_without_the_misses_section_counts_causes_from_cycles_csv(tmp_path: Path) -> None:
    from sim.report.plotdata import cause_bins, robot_bands, robot_bins, robot_colours

    cycles = write_cycles(tmp_path / "cycles.csv", [("a", 0.05, 1, "input_wait"), ("a", 0.15, 0, ""),
                                                    ("b", 1.95, 1, "long_compute"), ("b", 1.0, 1, "long_compute")])
    old = {"scenario": {"duration": 2.0}, "controllers": [{"robot": "a"}, {"robot": "b"}], "misses": None}
    b = cause_bins(old, cycles, target=20)
    assert b.width == pytest.approx(0.1) and b.total == 3
    assert b.counts["input_wait"][0] == 1 and b.counts["long_compute"][19] == 1 and b.counts["long_compute"][10] == 1
    r = robot_bins(cycles, ["a", "b", "c"], 2.0, target=4)
    assert r.width == 0.5 and set(r.counts) == {"a", "b"}
    assert r.counts["a"].tolist() == [1, 0, 0, 0] and r.counts["b"].tolist() == [0, 0, 1, 1]
    colours = robot_colours([{"robot": x} for x in "abc"])
    assert [name for name, _ in robot_bands(r, colours)] == ["a", "b"]


def test_robot_bands_sum_the_grey_robots_into_one() -> None:
    from sim.report.plotdata import TimeBins, robot_bands, robot_colours

    controllers = controllers_of([5, 4] + [1] * 10)
    colours = robot_colours(controllers, highlight=2)
    bins = TimeBins(np.arange(3.0), 1.0, {c["robot"]: np.array([c["misses"], 0]) for c in controllers})
    bands = robot_bands(bins, colours)
    assert [n for n, _ in bands] == ["r00", "r01", "others"] and bands[-1][1].tolist() == [10, 0]


def test_below_note_says_how_many_values_the_log_axis_cannot_show() -> None:
    from sim.report.plots import below_note

    assert below_note("cycles", [0.0, 0.0], "robots") == ""
    assert below_note("uses", [0.5], "sensors") == "\n50 % of uses < 1 µs,\nnot drawn"
    assert below_note("cycles", [1.0, 0.25, 0.0], "robots") == "\n25-100 % of cycles < 1 µs,\nnot drawn (2 of 3 robots)"


# ---------------------------------------------------------------------- the figure (Agg, no pixels)
def synthetic_report(n: int, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A report of ``n`` robots with response/jitter/age histograms, some zeros and misses, and its cycles.csv."""
    rng = np.random.default_rng(n)
    controllers, sensors, rows = [], [], []
    for i in range(n):
        robot = f"amr-{i + 1}"
        resp = rng.lognormal(np.log(0.004 + 0.001 * i), 0.8, 400)
        jitter = np.where(np.arange(400) < 120, 0.0, 1e-4 + rng.exponential(0.0005, 400))  # 30 % exactly on time
        misses = int((resp > 0.03).sum())
        controllers.append({"robot": robot, "deadline": 0.03 if i % 3 else 0.05, "misses": misses,
                            "miss_rate": misses / 400, "cycles": 400,
                            "response_time": {"count": 400, "p99": float(np.quantile(resp, 0.99)),
                                              "hist": hist_of(resp.tolist())},
                            "release_jitter": {"count": 400, "p99": float(np.quantile(jitter, 0.99)),
                                               "hist": hist_of(jitter.tolist())}})
        for name, kind, scale in (("lidar", "lidar", 0.05), ("odom", "odometry", 0.01)):
            sensors.append({"robot": robot, "name": name, "kind": kind, "max_age": 4 * scale,
                            "age_at_use": {"count": 400, "hist": hist_of(rng.exponential(scale, 400).tolist())}})
        rows += [(robot, float(k) * 0.05, int(r > 0.03), "long_compute" if r > 0.03 else "")
                 for k, r in enumerate(resp)]
    report = {"scenario": {"name": "synthetic", "seed": 1, "duration": 20.0, "clock": "RealClock"},
              "summary": {"cycles": 400 * n, "misses": sum(c["misses"] for c in controllers),
                          "miss_rate": sum(c["misses"] for c in controllers) / (400 * n)},
              "controllers": controllers, "sensors": sensors, "misses": None}
    return report, write_cycles(tmp_path / "cycles.csv", rows)


def panels(fig: Any) -> dict[str, Any]:
    return {ax.get_gid(): ax for ax in fig.axes}


def test_the_figure_reads_log_tails_with_legends_outside_every_panel(tmp_path: Path) -> None:
    from sim.report.plots import draw_report

    report, cycles = synthetic_report(4, tmp_path)
    fig = draw_report(report, cycles)
    renderer = fig.canvas.get_renderer()
    ax = panels(fig)
    assert set(ax) == {"response", "jitter", "causes", "robots", "age:lidar", "age:odometry"}
    for name in ("response", "jitter", "age:lidar", "age:odometry"):
        assert ax[name].get_yscale() == "log" and ax[name].get_xscale() == "log"
        assert "ms, log" in ax[name].get_xlabel() and ax[name].get_ylabel().startswith("P[")
        labels = [t for t in ax[name].get_xticklabels() if t.get_text() and t.get_visible()]
        assert len(labels) >= 2
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes)), f"{name}: tick labels collide"
        xs = [ln.get_xdata()[0] for ln in ax[name].get_lines() if ln.get_gid() and " " not in ln.get_gid()]
        assert min(xs) > 1e-3 * 1.01  # no curve starts at 1 µs
    # the zeros are said, not drawn
    assert "\n30 % of cycles < 1 µs,\nnot drawn (each of the 4 robots)" in ax["jitter"].get_xlabel()
    assert ax["causes"].get_ylabel() == "misses per 0.4 s bin"
    deadline_gids = {ln.get_gid() for ln in ax["response"].get_lines() if ln.get_gid().startswith("D ")}
    assert deadline_gids == {"D 0.03", "D 0.05"}
    outside = [fig.legends[0], ax["causes"].get_legend()]
    assert all(leg is not None for leg in outside) and all(a.get_legend() is None for a in fig.axes
                                                              if a.get_gid() != "causes")
    for leg in outside:
        box = leg.get_window_extent(renderer)
        for a in fig.axes:
            assert not box.overlaps(a.get_window_extent(renderer)), f"legend over {a.get_gid()}"


def test_a_robot_has_one_colour_in_every_panel(tmp_path: Path) -> None:
    from matplotlib.colors import to_hex

    from sim.report.plotdata import GREY, robot_colours
    from sim.report.plots import draw_report

    report, cycles = synthetic_report(12, tmp_path)  # more robots than colours: the worst 6 coloured
    colours = robot_colours(report["controllers"])
    fig = draw_report(report, cycles)
    seen: dict[str, set[str]] = {}
    for ax in fig.axes:
        for artist in [*ax.get_lines(), *ax.collections]:
            gid = artist.get_gid()
            if gid and gid.startswith("amr-"):
                c = artist.get_color() if hasattr(artist, "get_xdata") else artist.get_facecolor()[0]
                seen.setdefault(gid, set()).add(to_hex(c))
    assert len(seen) == 12
    for robot, cs in seen.items():
        assert cs == {colours.of(robot)}, robot
    assert sum(cs == {GREY} for cs in seen.values()) == 6
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:6] == [t for t in legend if t.split(":")[0] in colours.shown]
    assert any(t.startswith("6 other robots") for t in legend)


def test_close_limits_share_one_label() -> None:
    from sim.report.plotdata import label_groups

    groups = label_groups([30.0, 50.0, 50.0, 1000.0], 0.1, 2000.0)  # 4.3 decades: 30 and 50 are 5 % apart
    assert groups == [(pytest.approx(38.73, rel=1e-3), [30.0, 50.0]), (1000.0, [1000.0])]
    assert [g for _, g in label_groups([30.0, 50.0], 20.0, 60.0)] == [[30.0], [50.0]]  # far apart on a short axis


def test_log_ticks_thin_out_as_a_panel_narrows() -> None:
    from sim.report.plotdata import log_ticks

    assert log_ticks(1.0, 100.0, 6.0) == (10.0, (1.0, 2.0, 3.0, 5.0))  # 3 in a decade
    assert log_ticks(1.0, 100.0, 3.0) == (10.0, (1.0, 2.0, 5.0))
    assert log_ticks(0.1, 1000.0, 3.0) == (10.0, (1.0, 3.0))
    assert log_ticks(0.01, 1000.0, 2.0) == (10.0, (1.0,))
    assert log_ticks(0.001, 10000.0, 1.5) == (100.0, (1.0,))  # every other decade
