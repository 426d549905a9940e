"""``world.map``: a ROS ``map_server`` map (YAML + PGM/PNG image) read once at load into an occupancy grid.

The map YAML's keys and the pixel rules are ``nav2_map_server``'s (``sim/world/mapio.py`` has the
rules; ``docs/maps.md`` the whole format). Every problem is a ``ScenarioError`` naming the map
YAML (or the image), its line and the key: a missing or unreadable file, a missing key, a
resolution <= 0, thresholds out of [0, 1] or not ``free < occupied``, a rotated origin (not
supported), an image larger than ``MAX_SIDE`` pixels a side. ``bind_map`` then fits the grid
into the world (``world.size`` from the map when left out) and checks robots and places
against its cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from sim.errors import ScenarioError, describe_os_error, format_value, shorten
from sim.scenario.marks import MarkedDoc, load_marked
from sim.scenario.messages import translate
from sim.scenario.models import Scenario
from sim.world.collide import bodies_hit_grid
from sim.world.mapio import occupancy_from_pixels, read_pixels
from sim.world.occgrid import OccupancyGrid

__all__ = ["MapFile", "MapYaml", "bind_map", "load_map", "resolve_map"]

Err = Callable[..., None]  # err(loc, message, suggestion=None), as check_scenario's
_FIT = 1e-6  # m: how far a grid may stick out of the world's rectangle (float rounding of origin + n * res)
MAX_WORLD = 2000.0  # m: world.size's own limit, which a map-given size obeys too


def _negate(value: Any) -> Any:
    """map_server reads ``negate`` as an int, else a bool: 0/1 or true/false, nothing else."""
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise ValueError("must be 0 or 1 (or false/true)")


Ratio = Annotated[float, Field(ge=0, le=1)]


class MapYaml(BaseModel):
    """The keys of a ``map_server`` map YAML (others, such as a map_saver's extras, are ignored)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    image: str = Field(..., min_length=1)
    resolution: float = Field(..., gt=0, json_schema_extra={"unit": "m"})
    origin: tuple[float, float, float]
    negate: Annotated[bool, BeforeValidator(_negate)]
    occupied_thresh: Ratio
    free_thresh: Ratio
    mode: Literal["trinary", "scale", "raw"] = "trinary"


@dataclass(frozen=True)
class MapFile:
    """A loaded map: its files, settings and the grid they give."""

    path: Path  # the map YAML
    image: Path
    meta: MapYaml
    grid: OccupancyGrid


def resolve_map(source: str, scenario: Path | None) -> Path:
    """``world.map`` as a path: a relative one is relative to the scenario file's folder."""
    path = Path(source).expanduser()
    if not path.is_absolute() and scenario is not None:
        path = scenario.parent / path
    return path


def _read_doc(path: Path) -> MarkedDoc:
    """The map YAML parsed with positions; a file that cannot be read is one located line."""
    shown = str(path)
    doc = load_marked(path, "map file")
    if not isinstance(doc.data, dict):
        raise ScenarioError("a map YAML must be a mapping (image:, resolution:, origin: ...)", path=shown,
                            line=1, column=1)
    return doc


def load_map(path: Path) -> MapFile:
    """Read the map YAML at ``path`` and its image into a grid; raises ScenarioError naming file, line and key."""
    doc = _read_doc(path)
    try:
        meta = MapYaml.model_validate(doc.data)
    except ValidationError as exc:
        errors = sorted((translate(e, doc, MapYaml) for e in exc.errors()),
                        key=lambda e: (e.line is None, e.line or 0, e.column or 0))
        first = errors[0]
        first.others = errors[1:]
        raise first from None

    def fail(key: str, message: str) -> ScenarioError:
        line, col = doc.locate((key,)) or (None, None)
        return ScenarioError(message, path=doc.source, line=line, column=col, field=key)

    if not meta.free_thresh < meta.occupied_thresh:
        raise fail("free_thresh", f"free_thresh {meta.free_thresh:g} must be less than occupied_thresh "
                   f"{meta.occupied_thresh:g}")
    if meta.origin[2] != 0.0:
        raise fail("origin", f"a rotated map (origin yaw {meta.origin[2]:g} rad) is not supported: rotate the "
                   "image instead and give yaw 0")
    if not math.isfinite(meta.resolution):
        raise fail("resolution", "must be a finite number")
    image = Path(meta.image).expanduser()
    if not image.is_absolute():
        image = path.parent / image
    try:
        channels, alpha = read_pixels(image)
    except ValueError as exc:
        raise fail("image", f"{shorten(str(image), 120)} is {exc}") from None
    except (OSError, SyntaxError) as exc:  # Pillow: OSError (UnidentifiedImageError) for what it cannot decode
        what = describe_os_error(exc) if isinstance(exc, OSError) and exc.strerror else _one_reason(exc)
        raise fail("image", f"cannot read image {shorten(str(image), 120)}: {what}") from None
    values, occupied = occupancy_from_pixels(channels, alpha, mode=meta.mode, negate=meta.negate,
                                             occupied_thresh=meta.occupied_thresh, free_thresh=meta.free_thresh)
    grid = OccupancyGrid.from_values(values, meta.resolution, (meta.origin[0], meta.origin[1]), occupied)
    return MapFile(path, image, meta, grid)


def _one_reason(exc: BaseException) -> str:
    """An exception's text cut to one short line (Pillow's messages name the whole path again)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return shorten(text, 120)


def bind_map(scn: Scenario, source: Path | None, err: Err) -> bool:
    """Load ``world.map`` (if any) onto ``scn.world``, filling ``world.size`` from it when left out.

    Returns False when the world has no size to check the rest against (no map could give
    one): the caller then stops checking. A ScenarioError from the map file itself is raised
    as it is (it names the map file, not the scenario).
    """
    world = scn.world
    if world.map is None:
        return world.size is not None
    loaded = load_map(resolve_map(world.map, source))
    grid = loaded.grid
    (ox, oy), gw, gh = grid.origin, grid.width, grid.height
    span = f"({ox:g}, {oy:g})-({ox + gw:g}, {oy + gh:g})"
    if ox < -_FIT or oy < -_FIT:
        err(("world", "map"), f"the map's grid spans {span}, but the world starts at (0, 0): give the map an "
            "origin with x, y >= 0 (and shift positions in the scenario with it)")
        return False
    if world.size is None:
        far = (ox + gw, oy + gh)
        if max(far) > MAX_WORLD:
            err(("world", "map"), f"the map's grid spans {span}, more than the world's {MAX_WORLD:g} m limit")
            return False
        world.size = (float(far[0]), float(far[1]))
    elif ox + gw > world.size[0] + _FIT or oy + gh > world.size[1] + _FIT:
        err(("world", "size"), f"world.size {world.size[0]:g} x {world.size[1]:g} m does not hold the map's grid "
            f"{span}: leave size out (the map gives it) or make it larger")
        return False
    world.set_grid(grid)
    return True


def check_on_grid(scn: Scenario, grid: OccupancyGrid, err: Err) -> None:
    """Robots must start clear of occupied cells; places must be in free (not occupied, not unknown) cells."""
    if scn.robots:
        pose = np.array([r.start for r in scn.robots], dtype=float)
        radius = np.array([r.radius for r in scn.robots], dtype=float)
        for i in np.flatnonzero(bodies_hit_grid(grid, pose, radius)).tolist():
            robot = scn.robots[i]
            x, y = robot.start[:2]
            err(("robots", i, "start"), f"robot {format_value(robot.name)} at ({x:g}, {y:g}) with radius "
                f"{robot.radius:g} m overlaps an occupied cell of the map")
    for k, place in enumerate(scn.world.places):
        row, col = grid.cell_of(place.position[0], place.position[1])
        i, j = int(row), int(col)
        if not (0 <= i < grid.rows and 0 <= j < grid.cols):
            continue  # off the grid: free floor of the world
        if grid.occupied[i, j]:
            err(("world", "places", k, "position"),
                f"place {format_value(place.name)} is in an occupied cell of the map")
        elif grid.values[i, j] < 0:
            err(("world", "places", k, "position"),
                f"place {format_value(place.name)} is in an unknown cell of the map (planners treat unknown as "
                "blocked)")
