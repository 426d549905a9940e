"""A sweep's files: results.csv (one row per run), summary.json (the table) and sweep.png."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sim.sweep.grid import Sweep
from sim.sweep.summary import METRICS


def write_outputs(sweep: Sweep, rows: list[dict[str, Any]], table: list[dict[str, Any]]) -> list[Path]:
    """results.csv (one row per run), summary.json, and sweep.png (main metric per setting)."""
    import csv
    import io

    from sim.common.files import write_atomic, write_json

    cols = ["key", "seed", *[p for p, _ in sweep.sets], *METRICS, "sim_seconds", "wall_seconds", "error"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_atomic(sweep.folder / "results.csv", buf.getvalue())
    write_json(sweep.folder / "summary.json", {"scenario": str(sweep.scenario), "clock": sweep.clock,
                                                "seeds": sweep.seeds, "settings": sweep.sets, "table": table})
    paths = [sweep.folder / "results.csv", sweep.folder / "summary.json"]
    if any(len(v) > 1 for _, v in sweep.sets) and any(math.isfinite(t["miss_rate"]) for t in table):
        paths.append(_plot(sweep, table))
    return paths


def _plot(sweep: Sweep, table: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    varied = [(p, v) for p, v in sweep.sets if len(v) > 1]
    fig, axes = plt.subplots(1, max(len(varied), 1), figsize=(5.5 * max(len(varied), 1), 4), squeeze=False)
    for ax, (name, values) in zip(axes[0], varied, strict=False):
        others = [p for p, _ in varied if p != name]
        series: dict[tuple, list[tuple[Any, float, float]]] = {}
        for t in table:
            series.setdefault(tuple(t[o] for o in others), []).append((t[name], t["miss_rate"], t["miss_rate_ci"]))
        for label, pts in series.items():
            pts.sort(key=lambda p: values.index(p[0]) if p[0] in values else 0)
            xs = [str(p[0]) for p in pts]
            ys = [100 * p[1] for p in pts]
            es = [100 * p[2] if math.isfinite(p[2]) else 0.0 for p in pts]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3,
                        label=", ".join(f"{o}={v}" for o, v in zip(others, label, strict=True)) or None)
        ax.set_xlabel(name)
        ax.set_ylabel("deadline miss rate (%), mean ± 95% CI")
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
    fig.suptitle(f"{sweep.scenario.name}: {len(sweep.seeds)} seeds per setting ({sweep.clock} time)")
    fig.tight_layout()
    import io

    from sim.common.files import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = sweep.folder / "sweep.png"
    write_atomic(path, buf.getvalue())
    return path
