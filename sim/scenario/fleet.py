"""Resizing a scenario's fleet (``robots.count``): for sweeps over the number of robots.

Extra robots are copies of the scenario's robots (cycling through them) named
``<name>-c<i>`` and started at the map's free parking/charging places, so a user
sweeps fleet size without writing one scenario per size.
"""

from __future__ import annotations

import copy
from typing import Any

from sim.errors import ScenarioError, format_value


def resize_fleet(data: dict[str, Any], count: Any, source: str | None = None) -> None:
    """Make ``data["robots"]`` exactly ``count`` long (truncate, or clone onto free places)."""
    robots = data.get("robots")
    if not isinstance(robots, list) or not robots:
        raise ScenarioError("robots.count: the scenario has no robot list to resize", path=source)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ScenarioError(f"robots.count: got {format_value(count)}; must be an integer in [1, 1000]", path=source)
    if count <= len(robots):
        del robots[count:]
        return
    places = (data.get("world") or {}).get("places") or []
    spots = [p for p in places if isinstance(p, dict) and p.get("kind") in ("parking", "charging")]
    used = {tuple(r.get("start", ())[:2]) for r in robots if isinstance(r, dict)}
    spots = [p for p in spots if tuple(p.get("position", ())) not in used]
    need = count - len(robots)
    if len(spots) < need:
        raise ScenarioError(
            f"robots.count={count}: {need} more robots need free start spots, but the map has only "
            f"{len(spots)} free parking/charging places (add places of kind parking)", path=source)
    for i in range(need):
        clone = copy.deepcopy(robots[i % len(robots)])
        place = spots[i]
        clone["name"] = f"{clone.get('name', 'robot')}-c{i + 1}"
        x, y = place["position"]
        clone["start"] = [x, y, float(place.get("heading", 0.0))]
        robots.append(clone)
