"""Class 9: contacts (turn and slide, one collision per contact) and the stale-input watchdog.

Every case is a short virtual-time run judged by its report: a robot stuck on a corner would
show as a goal never reached; a collision counted per step as thousands; a watchdog watching
an unread sensor as safety stops.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostile import Case

ARGS = ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot")


def report(tmp: Path) -> dict[str, Any]:
    (path,) = (tmp / "runs").glob("*/report.json")
    return json.loads(path.read_text())


def scenario(world: str, robots: str, *, duration: float = 12.0, events: str = "", faults: str = "") -> str:
    text = f"name: contact\nworld: {world}\nrun: {{duration: {duration}, seed: 2, clock: virtual}}\nrobots:\n{robots}"
    if events:
        text += f"events:\n{events}"
    if faults:
        text += f"faults:\n{faults}"
    return text


def robot(name: str, start: str, waypoints: str, sensors: str = "", controller: str = "") -> str:
    sensors = sensors or "      - {type: localization, rate_hz: 20, position_std: 0.0, heading_std: 0.0}\n"
    return (f"  - name: {name}\n    start: {start}\n    sensors:\n{sensors}"
            f"    controller: {{type: waypoint, period: 0.05, loop: false, waypoints: {waypoints}{controller}}}\n")


PILLAR = "{size: [10.0, 10.0], obstacles: [{kind: pillar, rect: [5.0, 5.0, 0.4, 0.4]}]}"
# Drives head-on into the pillar's lower-left corner (its goal is straight behind it), stalls
# there; at 4 s it is sent to a goal 64 degrees to its right: it turns, then drives on while
# still turning, an arc into the corner, which the old physics refused whole, for ever.
CORNER = scenario(PILLAR, robot("r1", "[3.0, 3.0, 0.7853981633974483]", "[[6.0, 6.0]]"),
                  events="  - {at: 4.0, action: set_waypoints, robot: r1, waypoints: [[7.0, 4.0]]}\n")


def corner_turns_and_leaves(tmp: Path, _: Any) -> None:
    r = report(tmp)
    (ctrl,) = r["controllers"]
    assert ctrl["outcome"]["waypoints_reached"] == 1, ctrl["outcome"]  # got off the corner to its goal
    assert r["collisions"]["by_robot"] == {"r1": 1}, r["collisions"]  # one contact, however long
    assert r["outcomes"]["distance_driven"]["total"] > 4.0  # ~2.4 m to the corner, ~2.3 m on to the goal


WALL = "{size: [10.0, 6.0], walls: [[[6.0, 0.0], [6.0, 4.0]]]}"
# Its goal is beyond the end of a wall across its path: it meets the wall at a slant,
# slides up along it, round its end, and on to the goal.
SLANT = scenario(WALL, robot("r1", "[4.0, 1.0, 0.9272952180016122]", "[[7.0, 5.0]]"))


def slides_along_the_wall(tmp: Path, _: Any) -> None:
    r = report(tmp)
    assert r["controllers"][0]["outcome"]["waypoints_reached"] == 1
    assert r["collisions"]["total"] == 1 and r["collisions"]["events"][0]["with"] == "static map"


CLOSED = "{size: [10.0, 6.0], walls: [[[5.0, 0.0], [5.0, 6.0]]]}"
# A wall right across the map, the goal behind it: the robot drives up to it and stops there.
STRAIGHT = scenario(CLOSED, robot("r1", "[2.0, 3.0, 0.0]", "[[8.0, 3.0]]"), duration=8.0)


def stops_at_the_wall(tmp: Path, _: Any) -> None:
    r = report(tmp)
    assert r["collisions"]["total"] == 1  # not one per step of pushing
    assert 2.6 < r["outcomes"]["distance_driven"]["total"] <= 2.7 + 1e-6  # from x = 2 to x = 5 - radius
    assert r["controllers"][0]["outcome"]["waypoints_reached"] == 0


OPEN = "{size: [10.0, 6.0]}"
# Two robots swapping ends of a corridor, 0.2 m off each other's line: they meet, slide past.
PASSING = scenario(OPEN, robot("r1", "[1.0, 3.0, 0.0]", "[[9.0, 3.0]]")
                   + robot("r2", "[9.0, 3.2, 3.141592653589793]", "[[1.0, 3.2]]"), duration=16.0)


def pass_each_other(tmp: Path, _: Any) -> None:
    r = report(tmp)
    assert [c["outcome"]["waypoints_reached"] for c in r["controllers"]] == [1, 1]
    assert r["collisions"]["by_robot"] == {"r1": 1, "r2": 1}
    assert sorted(e["with"] for e in r["collisions"]["events"]) == ["r1", "r2"]


# ------------------------------------------------------------------ the watchdog
SENSORS = ("      - {type: lidar, rate_hz: 10, beams: 60}\n      - {type: odometry, rate_hz: 50}\n"
           "      - {type: imu, rate_hz: 200, max_age: 0.02}\n")
QUIET_IMU = "  - {name: quiet, kind: sensor_dropout, start: 0.505, duration: 1.0, robot: r1, sensor: imu}\n"


def watchdog(controller: str = "") -> str:
    return scenario(OPEN, robot("r1", "[1.0, 3.0, 0.0]", "[[9.0, 3.0]]", SENSORS, controller), duration=2.0,
                    faults=QUIET_IMU)


def unread_imu_stops_nothing(tmp: Path, _: Any) -> None:
    r = report(tmp)
    (ctrl,) = r["controllers"]
    imu = next(s for s in r["sensors"] if s["name"] == "imu")
    assert ctrl["watched"] == ["lidar", "odometry"] and ctrl["safety_stops"] == 0
    assert imu["stale_uses"] > 0  # still measured


def watched_imu_stops(tmp: Path, _: Any) -> None:
    (ctrl,) = report(tmp)["controllers"]
    assert ctrl["watched"] == ["imu"] and ctrl["safety_stops"] > 0


def watch_nothing(tmp: Path, _: Any) -> None:
    (ctrl,) = report(tmp)["controllers"]
    assert ctrl["watched"] == [] and ctrl["safety_stops"] == 0


CASES: list[Case] = [
    Case("physics-corner-turn-gets-away", ARGS, 0, files={"s.yaml": CORNER}, check=corner_turns_and_leaves),
    Case("physics-slant-wall-slides-round-its-end", ARGS, 0, files={"s.yaml": SLANT}, check=slides_along_the_wall),
    Case("physics-straight-into-wall-one-collision", ARGS, 0, files={"s.yaml": STRAIGHT}, check=stops_at_the_wall),
    Case("physics-robots-glance-and-pass", ARGS, 0, files={"s.yaml": PASSING}, check=pass_each_other),
    Case("physics-watchdog-ignores-unread-imu", ARGS, 0, files={"s.yaml": watchdog()},
         check=unread_imu_stops_nothing),
    Case("physics-watch-imu-stops", ARGS, 0, files={"s.yaml": watchdog(", watch: [imu]")}, check=watched_imu_stops),
    Case("physics-watch-empty", ARGS, 0, files={"s.yaml": watchdog(", watch: []")}, check=watch_nothing),
    Case("physics-watch-unknown-name", ARGS, 2, files={"s.yaml": watchdog(", watch: [lidar, imux]")},
         stderr=r"s\.yaml:\d+.*watch.*'imux'.*imu"),
    Case("physics-watch-not-a-list", ARGS, 2, files={"s.yaml": watchdog(", watch: lidar")},
         stderr=r"s\.yaml:\d+.*watch"),
    Case("physics-watch-huge-name", ARGS, 2, files={"s.yaml": watchdog(", watch: [" + "x" * 100_000 + "]")},
         stderr=r"s\.yaml:\d+.*watch"),
    Case("physics-plugin-needs-a-ghost-sensor", ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot"), 2,
         files={"s.yaml": watchdog().replace("type: waypoint", "type: 'tests.watch_plugins:NamesAGhost'")
                .replace(", loop: false, waypoints: [[9.0, 3.0]]", "")},
         stderr=r"NamesAGhost.*'ghost'"),
]
