"""The report's ``outcomes`` section: what the fleet got done, beside how its loops were timed.

Orders come from the dispatcher (``run.orders``, when the scenario has
``orders:``); distance, collisions and safety stops from physics and the
controller tasks; stuck events, replans and avoidance stops from each
controller's ``status()`` (any controller reporting those keys is summed).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, TextIO

from sim.common.texttable import print_table

if TYPE_CHECKING:
    from sim.core.handle import RunHandle

__all__ = ["build_outcomes", "print_outcomes"]

_SUMMED = ("stuck_events", "replans", "avoidance_stops", "waits", "backoffs")


def build_outcomes(run: RunHandle) -> dict[str, Any]:
    """JSON-ready outcome figures of a stopped run."""
    p = run.physics
    names = run.bodies.names
    statuses = [(t.outcome if t.outcome is not None else t.controller.status()) or {} for t in run.controllers]
    out: dict[str, Any] = {
        "orders": None,
        "distance_driven": {"total": float(p.odometer.sum()),
                            "by_robot": {n: float(d) for n, d in zip(names, p.odometer, strict=True)}},
        "collisions": int(p.collisions.sum()),
        "safety_stops": sum(t.stats.safety_stops for t in run.controllers),
    }
    for key in _SUMMED:
        out[key] = sum(int(s.get(key, 0) or 0) for s in statuses)
    out["max_blocked_s"] = max((float(s.get("max_blocked_s", 0.0) or 0.0) for s in statuses), default=0.0)
    orders = getattr(run, "orders", None)
    if orders is not None:
        out["orders"] = orders.outcomes(run.sim_seconds)
    return out


def _s(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"


def print_outcomes(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The outcomes as two short tables (orders, fleet), printed after the timing tables."""
    o = report.get("outcomes")
    if not o:
        return
    orders = o.get("orders")
    if orders:
        a, c = orders["assigned_to_packed"], orders["created_to_packed"]
        print("\nOrders (times in s)", file=out)
        rows = [["created", "assigned", "completed", "failed", "rejected", "waiting", "per hour",
                 "assign->packed mean", "p95", "create->packed mean", "p95"],
                [str(orders["created"]), str(orders["assigned"]), str(orders["completed"]),
                 str(orders["failed"]), str(orders["rejected"]), str(orders["pending_at_end"]),
                 f"{orders['orders_per_hour']:.1f}", _s(a["mean"]), _s(a["p95"]), _s(c["mean"]), _s(c["p95"])]]
        print_table(rows, out, left=())
    print("\nFleet outcomes", file=out)
    rows = [["distance m", "collisions", "safety stops", "stuck events", "replans", "avoid stops",
             "longest wait s"],
            [f"{o['distance_driven']['total']:.1f}", str(o["collisions"]), str(o["safety_stops"]),
             str(o["stuck_events"]), str(o["replans"]), str(o["avoidance_stops"]), _s(o["max_blocked_s"])]]
    print_table(rows, out, left=())
