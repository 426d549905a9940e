"""Command-line overrides (``--set run.duration=5``, ``robots.*.controller.period``) applied to the raw data.

They are set before validation, so an override is checked like a value in the file.
"""

from __future__ import annotations

from typing import Any

from sim.errors import ScenarioError, format_value, shorten
from sim.scenario.marks import format_path

__all__ = ["apply_overrides", "option_overrides"]


# The run options a command line may give, as the scenario paths they override.
OPTIONS = {"duration": "run.duration", "seed": "run.seed", "time_scale": "run.time_scale", "clock": "run.clock",
           "hosts": "run.hosts"}


def option_overrides(args: Any) -> dict[str, Any]:
    """The overrides of a command line's ``--duration``, ``--seed``, ``--time-scale``, ``--clock`` and ``--hosts``
    (an argparse namespace, read by attribute: a command without one of them just has none)."""
    found: dict[str, Any] = {}
    for name, path in OPTIONS.items():
        value = getattr(args, name, None)
        if value is not None:
            found[path] = int(value) if name == "hosts" and value.isdigit() else value
    return found


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any],
                    source: str | None = None) -> set[tuple[str | int, ...]]:
    """Set dotted paths (``run.duration``, ``robots.0.max_speed``) in raw data before validation.

    Missing or null mappings along the way are created; a scalar in the way is an
    error, not silently replaced. Returns the paths set, so errors about those
    values can say they came from an override rather than from the file.
    """
    touched: set[tuple[str | int, ...]] = set()
    for dotted, value in _expand_wildcards(data, overrides, source).items():
        parts = tuple(int(p) if p.isdigit() else p for p in str(dotted).split("."))
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, dict) and isinstance(part, str) and part:
                if not last and node.get(part) is None:
                    node[part] = {}
            elif not (isinstance(node, list) and isinstance(part, int) and part < len(node)):
                where = shorten(format_path(parts[: depth + 1]))
                raise ScenarioError(f"override {format_value(dotted)}: cannot set {where} "
                                    "(no such mapping key or list item)", path=source)
            if last:
                node[part] = value
            else:
                node = node[part]
        touched.add(parts)
    return touched


def _expand_wildcards(data: dict[str, Any], overrides: dict[str, Any], source: str | None) -> dict[str, Any]:
    """``robots.*.controller.period`` -> one override per robot (``*`` = every list item).

    ``robots.count`` is applied first so wildcards reach the resized fleet.
    """
    ordered = sorted(overrides.items(), key=lambda kv: kv[0] != "robots.count")
    out: dict[str, Any] = {}
    for dotted, value in ordered:
        if dotted == "robots.count":
            from sim.scenario.fleet import resize_fleet

            resize_fleet(data, value, source)
            continue
        parts = str(dotted).split(".")
        if "*" not in parts:
            out[dotted] = value
            continue
        i = parts.index("*")
        node: Any = data
        for p in parts[:i]:
            node = node.get(p) if isinstance(node, dict) else (
                node[int(p)] if isinstance(node, list) and p.isdigit() and int(p) < len(node) else None)
        if not isinstance(node, list):
            raise ScenarioError(f"override {format_value(dotted)}: '*' must stand for the items of a list", path=source)
        for k in range(len(node)):
            one = ".".join([*parts[:i], str(k), *parts[i + 1:]])
            out.update(_expand_wildcards(data, {one: value}, source))
    return out
