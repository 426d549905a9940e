"""CI gates: an optional ``expect:`` block in a scenario, checked against the finished report.

A breach is a plain sentence naming what, how much and the limit
("amr-3: miss rate 4.20 % > 1.00 %"); ``run.py`` prints them and exits 1, so a
scenario file doubles as a timing regression test.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from sim.errors import format_value, shorten


def _no_bool(value: Any) -> Any:
    """``max_collisions: yes`` must not silently become 1."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "must be a number, not true/false")
    return value


_NoBool = BeforeValidator(_no_bool)
Fraction = Annotated[float, Field(ge=0, le=1), _NoBool]
Seconds = Annotated[float, Field(gt=0, le=3600), _NoBool]
Count = Annotated[int, Field(ge=0), _NoBool]


def _g(desc: str) -> Any:
    return Field(None, description=desc)


class ControllerExpect(BaseModel):
    """Gates for one robot's controller; they replace the fleet-wide per-controller gates for it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_miss_rate: Fraction | None = _g("Highest allowed misses / cycles for this controller, in [0, 1] "
                                        "(0.01 = 1 %). Unit: fraction.")
    max_response_p99: Seconds | None = _g("Highest allowed 99th percentile of response time "
                                          "(finish - release), in (0, 3600]. Unit: s.")
    max_safety_stops: Count | None = _g("Highest allowed cycles stopped by the stale-input watchdog. Unit: cycles.")


class Expect(BaseModel):
    """What a run must achieve; null/absent gates are not checked."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_miss_rate: Fraction | None = _g("Highest allowed misses / cycles, checked for EACH controller, "
                                        "in [0, 1] (0.01 = 1 %). Unit: fraction.")
    max_response_p99: Seconds | None = _g("Highest allowed 99th percentile of response time, checked for "
                                          "each controller, in (0, 3600]. Unit: s.")
    max_collisions: Count | None = _g("Highest allowed collision onsets, all robots together. Unit: collisions.")
    max_stale_uses: Count | None = _g("Highest allowed uses of a reading older than its max_age, all sensors "
                                      "together. Unit: uses.")
    max_safety_stops: Count | None = _g("Highest allowed watchdog safety stops, all controllers together. "
                                        "Unit: cycles.")
    max_dropped: Count | None = _g("Highest allowed readings dropped by full queues, all sensors together. "
                                   "Unit: readings.")
    min_orders: Count | None = _g("Lowest allowed orders completed (report outcomes.orders.completed); "
                                  "a run whose report has no order count breaches it. Unit: orders.")
    controllers: dict[str, ControllerExpect] = Field(
        default_factory=dict, description="Per-robot gates by robot name, overriding max_miss_rate, "
        "max_response_p99 for that robot and adding max_safety_stops. Default: {}.")


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _ms(x: float) -> str:
    return f"{1000 * x:.2f} ms"


def check_expectations(expect: Expect | None, report: dict[str, Any]) -> list[str]:
    """Every gate of ``expect`` that ``report`` breaches, as a sentence; [] if all are met."""
    if expect is None:
        return []
    out: list[str] = []
    controllers = {c["robot"]: c for c in report.get("controllers", [])}
    for name in expect.controllers:
        if name not in controllers:
            known = shorten(", ".join(controllers), 200) or "none"
            out.append(f"expect.controllers: no robot named {format_value(name)} in this run (robots: {known})")
    for name, c in controllers.items():
        own = expect.controllers.get(name, ControllerExpect())
        rate_limit = own.max_miss_rate if own.max_miss_rate is not None else expect.max_miss_rate
        p99_limit = own.max_response_p99 if own.max_response_p99 is not None else expect.max_response_p99
        if rate_limit is not None and c["miss_rate"] > rate_limit:
            out.append(f"{name}: miss rate {_pct(c['miss_rate'])} > {_pct(rate_limit)} "
                       f"({c['misses']} of {c['cycles']} cycles)")
        if p99_limit is not None:
            p99 = c["response_time"].get("p99")
            if p99 is None:
                out.append(f"{name}: no controller cycle ran, so response time p99 <= {_ms(p99_limit)} is not met")
            elif p99 > p99_limit:
                out.append(f"{name}: response time p99 {_ms(p99)} > {_ms(p99_limit)}")
        if own.max_safety_stops is not None and c["safety_stops"] > own.max_safety_stops:
            out.append(f"{name}: safety stops {c['safety_stops']} > {own.max_safety_stops}")
    s = report.get("summary", {})
    for gate, key, what in (("max_collisions", "collisions", "collisions"),
                            ("max_stale_uses", "stale_uses", "stale uses"),
                            ("max_safety_stops", "safety_stops", "safety stops"),
                            ("max_dropped", "dropped", "readings dropped by full queues")):
        limit = getattr(expect, gate)
        if limit is not None and s.get(key, 0) > limit:
            out.append(f"fleet: {what} {s[key]} > {limit}")
    if expect.min_orders is not None:
        orders = orders_completed(report)
        if orders is None:
            out.append(f"fleet: orders completed is not in the report (the scenario has no orders:), "
                       f"so min_orders {expect.min_orders} cannot be met")
        elif orders < expect.min_orders:
            out.append(f"fleet: orders completed {orders} < {expect.min_orders}")
    return out


def orders_completed(report: dict[str, Any]) -> int | None:
    """``outcomes.orders.completed`` (or a flat ``outcomes.orders_completed``); None if absent."""
    outcomes = report.get("outcomes") or {}
    n = outcomes.get("orders_completed")
    if n is None and isinstance(outcomes.get("orders"), dict):
        n = outcomes["orders"].get("completed")
    return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None


def expect_section(expect: Expect | None, report: dict[str, Any]) -> dict[str, Any]:
    """The report's ``expect`` section: the gates checked and their breaches."""
    breaches = check_expectations(expect, report)
    return {
        "checked": expect is not None,
        "gates": expect.model_dump(exclude_none=True) if expect is not None else {},
        "breaches": breaches,
        "passed": not breaches,
    }
