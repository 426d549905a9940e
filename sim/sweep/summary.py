"""A sweep's summary: one line per setting, each metric's mean with a 95 % confidence interval, and its table."""

from __future__ import annotations

import json
import math
from typing import Any

from sim.sweep.grid import Sweep

METRICS = ["miss_rate", "response_p99", "orders_per_hour", "collisions", "safety_stops", "stale_uses"]
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23,
        15: 2.13, 20: 2.09, 30: 2.04, 60: 2.00}


def t95(dof: int) -> float:
    """Two-sided 95 % Student-t quantile (table, nearest lower dof; 1.96 beyond 60)."""
    if dof > 60:
        return 1.96
    return _T95[max(k for k in _T95 if k <= dof)]


def summarise(sweep: Sweep, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per setting: n, failures, mean with a 95 % confidence interval for each metric."""
    out = []
    names = [p for p, _ in sweep.sets]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(json.dumps(r.get(n), default=str) for n in names), []).append(r)
    for key, members in groups.items():
        ok = [r for r in members if not r["error"] or r["error"].startswith("expect:")]
        line: dict[str, Any] = {n: json.loads(k) for n, k in zip(names, key, strict=True)}
        line["runs"] = len(members)
        line["failed"] = sum(1 for r in members if r["error"])
        for m in METRICS:
            vals = [float(r[m]) for r in ok if m in r and r[m] is not None and math.isfinite(float(r[m]))]
            n = len(vals)
            mean = sum(vals) / n if n else math.nan
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else math.nan
            line[m] = mean
            line[m + "_ci"] = t95(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
        out.append(line)
    return out


def format_table(sweep: Sweep, table: list[dict[str, Any]]) -> str:
    """The summary as a text table: the varied settings, runs, failures and each metric (mean ± 95 % CI)."""

    def pm(t: dict[str, Any], m: str, scale: float = 1.0, fmt: str = ".2f") -> str:
        v, ci = t[m], t[m + "_ci"]
        if not math.isfinite(v):
            return "-"
        return f"{v * scale:{fmt}}" + (f" ± {ci * scale:{fmt}}" if math.isfinite(ci) else "")

    names = [p for p, v in sweep.sets if len(v) > 1]
    fixed = [f"{p}={v[0]}" for p, v in sweep.sets if len(v) == 1]
    head = [*names, "runs", "failed", "miss % (95% CI)", "resp p99 ms", "orders/h", "collisions", "safety stops"]
    rows = [head] + [[*(str(t[n]) for n in names), str(t["runs"]), str(t["failed"]),
                      pm(t, "miss_rate", 100, ".3f"), pm(t, "response_p99", 1000), pm(t, "orders_per_hour", 1, ".1f"),
                      pm(t, "collisions"), pm(t, "safety_stops", 1, ".1f")] for t in table]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if fixed:
        lines.insert(0, "fixed: " + ", ".join(fixed))
    return "\n".join(lines)
