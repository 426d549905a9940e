"""``run.py compare RUN_A RUN_B``: two finished runs side by side, with the change B - A.

Works from the two ``report.json`` files only. Controllers are matched by robot
name, sensors grouped by kind; a figure one run lacks shows as "-".
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from sim.common.texttable import print_table
from sim.errors import UsageError

Row = list[str]


def load_report(run_dir: Path) -> dict[str, Any]:
    """``run_dir/report.json`` as a dict; UsageError saying what is wrong otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run folder")
    path = run_dir / "report.json"
    if not path.is_file():
        raise UsageError(f"{run_dir}: no report.json in this folder (not a finished run?)")
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the report ({exc})") from None
    if not isinstance(report, dict) or "summary" not in report:
        raise UsageError(f"{path}: not a deadline-miss report")
    return report


# ---------------------------------------------------------------------- figures
def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _get(d: dict[str, Any] | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _controller_figures(c: dict[str, Any]) -> dict[str, Any]:
    return {"miss rate": _num(c.get("miss_rate")), "response p99": _num(_get(c, "response_time", "p99")),
            "jitter max": _num(_get(c, "release_jitter", "max")), "causes": dict(c.get("causes") or {})}


def _kind_figures(sensors: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: mean achieved rate, worst age p99, total stale uses, total drops."""
    rates = [r for s in sensors if (r := _num(s.get("achieved_rate_hz"))) is not None]
    p99s = [p for s in sensors if (p := _num(_get(s, "age_at_use", "p99"))) is not None]
    return {"achieved rate": sum(rates) / len(rates) if rates else None,
            "age p99 (worst)": max(p99s) if p99s else None,
            "stale uses": sum(int(s.get("stale_uses") or 0) for s in sensors),
            "dropped": sum(int(_get(s, "queue", "dropped") or 0) for s in sensors)}


def _flat_numbers(d: Any, prefix: str) -> dict[str, float]:
    """Numeric leaves of a nested dict as {"a.b": value} (for outcomes, whatever they hold)."""
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif (x := _num(d)) is not None:
        out[prefix] = x
    return out


def _outcomes(report: dict[str, Any]) -> dict[str, float]:
    flat = _flat_numbers(report.get("outcomes"), "outcomes")
    for c in report.get("controllers", []):
        flat.update(_flat_numbers(c.get("outcome"), f"{c['robot']}"))
    return flat


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both runs' comparable figures: {"controllers": {robot: (A, B)}, "kinds": ..., "fleet": ...}."""
    ca = {c["robot"]: _controller_figures(c) for c in a.get("controllers", [])}
    cb = {c["robot"]: _controller_figures(c) for c in b.get("controllers", [])}
    robots = list(ca) + [r for r in cb if r not in ca]
    kinds = sorted({s["kind"] for s in a.get("sensors", []) + b.get("sensors", [])})

    def of_kind(r: dict[str, Any], k: str) -> dict[str, Any] | None:
        members = [s for s in r.get("sensors", []) if s["kind"] == k]
        return _kind_figures(members) if members else None

    def fleet(r: dict[str, Any]) -> dict[str, float | None]:
        s = r.get("summary", {})
        out: dict[str, float | None] = {k: _num(s.get(k)) for k in (
            "cycles", "misses", "miss_rate", "safety_stops", "stale_uses", "dropped", "collisions")}
        for ch in r.get("chains_by_kind", []):
            out[f"end-to-end p99 {ch['kind']}"] = _num(ch.get("p99"))
        out.update(_outcomes(r))
        return out

    fa, fb = fleet(a), fleet(b)
    return {
        "names": (_name(a), _name(b)),
        "controllers": {r: (ca.get(r), cb.get(r)) for r in robots},
        "kinds": {k: (of_kind(a, k), of_kind(b, k)) for k in kinds},
        "fleet": {k: (fa.get(k), fb.get(k)) for k in list(fa) + [k for k in fb if k not in fa]},
    }


_CLOCKS = {"RealClock": "real time", "VirtualClock": "virtual time"}


def _name(r: dict[str, Any]) -> str:
    """What a run was, for the header: scenario, seed, clock (real or virtual), when it started."""
    sc = r.get("scenario", {})
    clock = _CLOCKS.get(str(sc.get("clock")), str(sc.get("clock") or "?"))
    return f"{sc.get('name', '?')} seed {sc.get('seed', '?')}, {clock} ({_get(r, 'run', 'started_at') or '?'})"


# ---------------------------------------------------------------------- printing
def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "%":
        return f"{100 * x:.2f}"
    if unit == "ms":
        return f"{1000 * x:.2f}"
    if unit == "Hz":
        return f"{x:.2f}"
    return f"{x:g}"


def _delta(a: float | None, b: float | None, unit: str) -> str:
    if a is None or b is None:
        return "-"
    d = b - a
    if d == 0:
        return "0"
    text = _fmt(abs(d), unit)
    return ("+" if d > 0 else "-") + text


def _causes(c: dict[str, int] | None) -> str:
    if not c:
        return "-"
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def _triple(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str, unit: str) -> list[str]:
    x = None if a is None else a.get(key)
    y = None if b is None else b.get(key)
    return [_fmt(x, unit), _fmt(y, unit), _delta(x, y, unit)]


def print_comparison(cmp: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The comparison as tables: A, B and the change B - A for every figure."""
    na, nb = cmp["names"]
    print(f"\n== Compare ==\nA: {na}\nB: {nb}\n(Δ = B - A; times in ms, rates in %)", file=out)
    print("\nControllers", file=out)
    rows: list[Row] = [["robot", "miss% A", "miss% B", "Δ", "resp p99 A", "resp p99 B", "Δ",
                        "jitter max A", "jitter max B", "Δ"]]
    causes: list[Row] = [["robot", "causes A", "causes B"]]
    for robot, (a, b) in cmp["controllers"].items():
        rows.append([robot, *_triple(a, b, "miss rate", "%"), *_triple(a, b, "response p99", "ms"),
                     *_triple(a, b, "jitter max", "ms")])
        causes.append([robot, _causes(a and a["causes"]), _causes(b and b["causes"])])
    print_table(rows, out)
    print("\nMiss causes", file=out)
    print_table(causes, out, left=range(3))
    if cmp["kinds"]:
        print("\nSensors by kind", file=out)
        rows = [["kind", "rate Hz A", "rate Hz B", "Δ", "age p99 A", "age p99 B", "Δ", "stale A", "stale B",
                 "Δ", "dropped A", "dropped B", "Δ"]]
        for kind, (a, b) in cmp["kinds"].items():
            rows.append([kind, *_triple(a, b, "achieved rate", "Hz"), *_triple(a, b, "age p99 (worst)", "ms"),
                         *_triple(a, b, "stale uses", ""), *_triple(a, b, "dropped", "")])
        print_table(rows, out)
    print("\nFleet", file=out)
    rows = [["figure", "A", "B", "Δ"]]
    for key, (a, b) in cmp["fleet"].items():
        unit = "%" if key == "miss_rate" else "ms" if key.startswith("end-to-end") else ""
        label = key.replace("_", " ") + (" (%)" if unit == "%" else " (ms)" if unit == "ms" else "")
        rows.append([label, _fmt(a, unit), _fmt(b, unit), _delta(a, b, unit)])
    print_table(rows, out)
