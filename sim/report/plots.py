"""``report.png``: the deadline-miss report at a glance, drawn from report.json and cycles.csv.

matplotlib is imported inside ``write_report_png`` (Agg, no pyplot state), so a
headless run does not pay its import time until the run is over. Fleets of more
than ``OVERLAY`` robots are grouped: histograms are merged per kind (with the
worst robot drawn on top) and miss curves show the worst robots plus "others".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from sim.common.files import write_atomic
from sim.report import hists

OVERLAY = 8  # at most this many robots drawn one by one in a panel
TIME_BINS = 100
CAUSE_COLOURS = {"late_release": "#1f77b4", "input_wait": "#ff7f0e", "long_compute": "#d62728",
                 "interference": "#9467bd"}


def write_report_png(report: dict[str, Any], cycles_csv: Path, out: Path) -> Path:
    """Draw response times, misses over time and ages at use; write ``out`` (PNG) and return it."""
    from matplotlib.figure import Figure

    kinds = sorted({s["kind"] for s in report.get("sensors", [])})
    # fixed margins rather than a layout engine: a layout engine draws everything twice
    fig = Figure(figsize=(16, 9.5), dpi=100)
    top = fig.add_gridspec(1, 3, left=0.05, right=0.98, top=0.92, bottom=0.57, wspace=0.22)
    bottom = fig.add_gridspec(1, max(len(kinds), 1), left=0.05, right=0.98, top=0.45, bottom=0.07, wspace=0.25)
    ax_resp, ax_robot, ax_cause = (fig.add_subplot(top[0, i]) for i in range(3))
    ax_kinds = [fig.add_subplot(bottom[0, i]) for i in range(max(len(kinds), 1))]
    sc = report.get("scenario", {})
    fig.suptitle(f"Deadline-miss report: {sc.get('name', '?')} (seed {sc.get('seed', '?')}) - "
                 f"{_first_line(report)}", fontsize=11)
    _response_panel(ax_resp, report.get("controllers", []))
    duration = float(sc.get("duration") or report.get("run", {}).get("sim_seconds") or 1.0)
    per_robot, per_cause, edges = _misses_over_time(Path(cycles_csv), duration)
    _robot_panel(ax_robot, per_robot, edges)
    _cause_panel(ax_cause, per_cause, edges)
    for ax, kind in zip(ax_kinds, kinds, strict=False):
        _age_panel(ax, kind, [s for s in report["sensors"] if s["kind"] == kind])
    if not kinds:
        _empty(ax_kinds[0], "no sensors")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(Path(out), buf.getvalue())
    return Path(out)


def _first_line(report: dict[str, Any]) -> str:
    s = report.get("summary", {})
    if not s.get("cycles"):
        return "no controller cycle ran"
    return f"{s['misses']} of {s['cycles']} cycles missed ({100 * s['miss_rate']:.2f} %)"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _step(ax: Any, pairs: list[list[float]], label: str, **kw: Any) -> None:
    """A histogram as stairs: fraction of values per bin, bins in ms on the log grid (empty bins drawn)."""
    edges, counts = hists.dense(pairs)
    if not counts:
        return
    values = np.asarray(counts, dtype=float)
    ax.stairs(values / values.sum(), np.asarray(edges) * 1000, label=label, **kw)


def _groups(items: list[dict[str, Any]], key: str, worst: Any) -> list[tuple[str, list[list[float]], bool]]:
    """(label, histogram, emphasised): each item if few, else all merged plus the worst one."""
    with_hist = [x for x in items if x.get(key, {}).get("hist")]
    if len(with_hist) <= OVERLAY:
        return [(x["label"], x[key]["hist"], False) for x in with_hist]
    merged = hists.merge(x[key]["hist"] for x in with_hist)
    w = max(with_hist, key=worst)
    return [(f"all {len(with_hist)} merged", merged, False), (f"worst: {w['label']}", w[key]["hist"], True)]


def _response_panel(ax: Any, controllers: list[dict[str, Any]]) -> None:
    items = [{**c, "label": c["robot"]} for c in controllers]
    groups = _groups(items, "response_time", lambda c: c["response_time"].get("p99") or 0.0)
    if not groups:
        _empty(ax, "no response-time histogram in this report")
        return
    for label, pairs, strong in groups:
        _step(ax, pairs, label, linewidth=2.0 if strong else 1.2)
    for d, style in zip(sorted({c["deadline"] for c in controllers}), ["--", ":", "-.", (0, (5, 1))] * 100,
                        strict=False):
        ax.axvline(d * 1000, color="red", linestyle=style, linewidth=1.2, label=f"deadline D={d * 1000:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("response time = finish - release (ms)")
    ax.set_ylabel("fraction of cycles")
    ax.set_title("Response time per controller")
    ax.legend(fontsize=7)


def _misses_over_time(path: Path, duration: float
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Misses per time bin, per robot and per cause, streamed from cycles.csv."""
    width = duration / TIME_BINS
    edges = np.arange(TIME_BINS + 1) * width
    per_robot: dict[str, np.ndarray] = {}
    per_cause: dict[str, np.ndarray] = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("miss") != "1":
                    continue
                b = min(max(int(float(row["release_time"]) / width), 0), TIME_BINS - 1)
                per_robot.setdefault(row["robot"], np.zeros(TIME_BINS))[b] += 1
                per_cause.setdefault(row["cause"] or "unknown", np.zeros(TIME_BINS))[b] += 1
    except (OSError, KeyError, ValueError):
        pass
    return per_robot, per_cause, edges


def _robot_panel(ax: Any, per_robot: dict[str, np.ndarray], edges: np.ndarray) -> None:
    if not per_robot:
        _empty(ax, "no deadline misses")
        ax.set_title("Misses over time per robot")
        return
    ranked = sorted(per_robot.items(), key=lambda kv: -kv[1].sum())
    shown = ranked if len(ranked) <= OVERLAY else ranked[:OVERLAY - 1]
    for name, counts in shown:
        ax.step(edges[:-1], counts, where="post", label=f"{name} ({int(counts.sum())})")
    if len(ranked) > len(shown):
        rest = np.sum([c for _, c in ranked[len(shown):]], axis=0)
        ax.step(edges[:-1], rest, where="post", color="0.5", label=f"{len(ranked) - len(shown)} others")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("release time (s, simulated)")
    ax.set_ylabel(f"misses per {edges[1] - edges[0]:.3g} s")
    ax.set_title("Misses over time per robot")
    ax.legend(fontsize=7)


def _cause_panel(ax: Any, per_cause: dict[str, np.ndarray], edges: np.ndarray) -> None:
    ax.set_title("Misses over time by cause")
    if not per_cause:
        _empty(ax, "no deadline misses")
        return
    bottom = np.zeros(len(edges) - 1)
    for cause, counts in sorted(per_cause.items(), key=lambda kv: -kv[1].sum()):
        ax.bar(edges[:-1], counts, width=edges[1] - edges[0], bottom=bottom, align="edge",
               color=CAUSE_COLOURS.get(cause, "0.5"), label=f"{cause} ({int(counts.sum())})")
        bottom += counts
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("release time (s, simulated)")
    ax.set_ylabel("misses")
    ax.legend(fontsize=7)


def _age_panel(ax: Any, kind: str, sensors: list[dict[str, Any]]) -> None:
    items = [{**s, "label": f"{s['robot']}/{s['name']}"} for s in sensors]
    groups = _groups(items, "age_at_use", lambda s: s["age_at_use"].get("p99") or 0.0)
    ax.set_title(f"Age at use: {kind}")
    if not groups:
        _empty(ax, "never used")
        return
    for label, pairs, strong in groups:
        _step(ax, pairs, label, linewidth=2.0 if strong else 1.2)
    ages = sorted({s["max_age"] for s in sensors if s.get("max_age")})
    for a in ages[:1] + ages[-1:] if len(ages) > 1 else ages:
        ax.axvline(a * 1000, color="red", linestyle="--", linewidth=1.2, label=f"max_age {a * 1000:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("age = use - sample (ms)")
    ax.set_ylabel("fraction of uses")
    ax.legend(fontsize=7)
