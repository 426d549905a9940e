"""``run.py map SCENARIO --out floor.yaml``: a scenario's world written as a ROS ``map_server`` map.

The world (its grid map if it has one, walls and obstacles burnt in: ``sim.world.occgrid.rasterize``)
becomes a trinary PGM + YAML with the thresholds this simulator loads with (occupied 0.65,
free 0.196), so the same floor loads into a navigation stack, or back into a scenario
(``world.map``) with the same occupied cells.
"""

from __future__ import annotations

import math
from pathlib import Path

from sim.common.argparser import ArgumentParser
from sim.errors import OutputError, UsageError
from sim.scenario.load import load_scenario
from sim.world.mapio import write_map
from sim.world.model import StaticMap
from sim.world.occgrid import UNKNOWN, rasterize

__all__ = ["export_map", "main"]

# ROS map_server's classic thresholds, written into the YAML: with them map_saver's unknown grey (205:
# p = 1 - 205/255 = 0.19608) is just above free_thresh, so unknown loads back as unknown. (nav2's map_saver
# defaults to free_thresh 0.25, under which its own 205 would load as free.)
OCCUPIED_THRESH, FREE_THRESH = 0.65, 0.196


def export_map(scenario: Path, out: Path, resolution: float | None = None) -> tuple[Path, str]:
    """Write ``scenario``'s world as ``out`` (YAML) + its PGM; the image path and a one-line summary."""
    scn = load_scenario(scenario)
    static = StaticMap.from_scenario(scn.world)
    if static.grid is not None and resolution is not None and not math.isclose(resolution, static.grid.resolution):
        raise UsageError(f"run.py map: --resolution {resolution:g}: the scenario's map has resolution "
                         f"{static.grid.resolution:g} m; leave --resolution out (a grid map is exported at its own)")
    grid = rasterize(static, resolution)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"run.py map: --out {out}: give the map YAML's path, ending in .yaml")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        image = write_map(grid, out, occupied_thresh=OCCUPIED_THRESH, free_thresh=FREE_THRESH)
    except OSError as exc:
        raise OutputError(out, exc) from exc
    occupied = int(grid.occupied.sum())
    unknown = int(((grid.values == UNKNOWN) & ~grid.occupied).sum())
    free = grid.values.size - occupied - unknown
    summary = (f"{grid.cols} x {grid.rows} cells at {grid.resolution:g} m ({grid.width:g} x {grid.height:g} m from "
               f"({grid.origin[0]:g}, {grid.origin[1]:g})): {occupied} occupied, {free} free, {unknown} unknown")
    return image, summary


def _resolution(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"run.py map: --resolution {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.001 <= value <= 10.0):
        raise UsageError(f"run.py map: --resolution {text}: must be in [0.001, 10] m")
    return value


def main(argv: list[str]) -> int:
    """The ``map`` subcommand: parse, export, say what was written; exit 0."""
    p = ArgumentParser(prog="run.py map", description="Write a scenario's world (grid map, walls, obstacles) as a "
                       "ROS map_server map: a trinary PGM image and its YAML (docs/maps.md).")
    p.add_argument("scenario", type=Path, help="the scenario file")
    p.add_argument("--out", type=Path, required=True, help="the map YAML to write (the .pgm goes beside it)")
    p.add_argument("--resolution", type=_resolution, default=None,
                   help="m per cell (default 0.05; a scenario with a grid map keeps its own)")
    args = p.parse_args(argv)
    image, summary = export_map(args.scenario, args.out, args.resolution)
    print(f"map: {args.out} + {image.name}: {summary}")
    return 0
