"""Occupancy-grid maps (world.map): map_server loading, bad input, grid collisions, planning, view, export.

Every map here is written into ``tmp_path`` by the test itself (PGM P5/P2 or PNG), so each
expectation is about known cells: a wall in a known column, a door of known width.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pygame
import pytest
from PIL import Image

from controllers.navgrid import shared_grid
from controllers.planning import OccupancyGrid as PlanGrid
from controllers.planning import plan
from sim import cli
from sim.errors import NoPathError, ScenarioError
from sim.scenario.load import load_scenario
from sim.scenario.mapexport import export_map
from sim.scenario.mapfile import load_map
from sim.world import kernels, mapio
from sim.world.collide import bodies_hit_grid, discs_hit_segments, grid_edges
from sim.world.mapio import occupancy_from_pixels, read_pixels, write_map
from sim.world.model import Bodies, StaticMap
from sim.world.occgrid import OCCUPIED, UNKNOWN, OccupancyGrid, rasterize
from sim.world.physics import Command, Physics

ROOT = Path(__file__).resolve().parents[1]
META = "image: {image}\nresolution: {res}\norigin: [{ox}, {oy}, {yaw}]\nnegate: 0\noccupied_thresh: 0.65\n" \
       "free_thresh: 0.196\nmode: {mode}\n"


def _pgm(path: Path, px: np.ndarray, plain: bool = False) -> Path:
    """Write ``px`` (rows, cols) uint8, top row first, as a P5 (or P2) PGM."""
    rows, cols = px.shape
    if plain:
        body = "\n".join(" ".join(str(int(v)) for v in row) for row in px)
        path.write_text(f"P2\n{cols} {rows}\n255\n{body}\n")
    else:
        path.write_bytes(f"P5\n{cols} {rows}\n255\n".encode() + px.astype(np.uint8).tobytes())
    return path


def _map(tmp_path: Path, px: np.ndarray, *, res: float = 0.1, origin: tuple[float, float, float] = (0, 0, 0),
         mode: str = "trinary", name: str = "floor", image: str | None = None, extra: str = "") -> Path:
    """A map YAML + P5 image in ``tmp_path``; the YAML's path."""
    if image is None:
        _pgm(tmp_path / f"{name}.pgm", px)
        image = f"{name}.pgm"
    yml = tmp_path / f"{name}.yaml"
    yml.write_text(META.format(image=image, res=res, ox=origin[0], oy=origin[1], yaw=origin[2], mode=mode) + extra)
    return yml


def _scenario(tmp_path: Path, world: str, robots: str = "  - {name: r1, start: [1.0, 1.0, 0.0], "
              "controller: {type: waypoint, waypoints: [[1.5, 1.0]]}}\n", name: str = "s") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"world:\n{world}robots:\n{robots}")
    return path


def _room(rows: int = 40, cols: int = 60) -> np.ndarray:
    """A free room (254) with an occupied (0) border, unknown (205) outside a 2-cell margin."""
    px = np.full((rows, cols), 205, dtype=np.uint8)
    px[2:-2, 2:-2] = 0
    px[3:-3, 3:-3] = 254
    return px


# ---------------------------------------------------------------------- pixel rules (nav2 map_io)
def test_trinary_thresholds_negate_and_row_order_follow_map_server() -> None:
    # shades 0, 89 (p=0.651 > 0.65), 90 (p=0.647: between), 191 (p=0.251: between), 192 (p=0.247 < 0.25), 255
    px = np.array([[0, 89, 90], [191, 192, 255]], dtype=np.uint8)
    values, occ = occupancy_from_pixels(px[:, :, None], None, mode="trinary", negate=False,
                                        occupied_thresh=0.65, free_thresh=0.25)
    # The image's top row is the map's top: it lands in the grid's last row.
    assert values.tolist() == [[-1, 0, 0], [100, 100, -1]]
    assert occ.tolist() == [[False, False, False], [True, True, False]]
    neg, _ = occupancy_from_pixels(px[:, :, None], None, mode="trinary", negate=True,
                                   occupied_thresh=0.65, free_thresh=0.25)
    assert neg.tolist() == [[100, 100, 100], [0, -1, -1]]  # white is occupied now, black free


def test_scale_mode_interpolates_and_transparency_is_unknown() -> None:
    px = np.array([[0, 128, 255]], dtype=np.uint8)
    alpha = np.array([[255, 255, 0]], dtype=np.uint8)
    values, occ = occupancy_from_pixels(np.repeat(px[:, :, None], 3, axis=2), alpha, mode="scale", negate=False,
                                        occupied_thresh=0.65, free_thresh=0.25)
    p = 1 - 128 / 255
    assert values.tolist() == [[100, round((p - 0.25) / 0.4 * 100), -1]]
    assert occ.tolist() == [[True, False, False]]


def test_raw_mode_takes_the_value_and_trinary_averages_alpha_in() -> None:
    px = np.array([[0, 55, 100, 101]], dtype=np.uint8)[:, :, None]
    values, occ = occupancy_from_pixels(px, None, mode="raw", negate=False, occupied_thresh=0.65, free_thresh=0.25)
    assert values.tolist() == [[0, 55, 100, -1]] and occ.tolist() == [[False, False, True, False]]
    # trinary with alpha: shade = (3 * 255 + 0) / 4 / 255 = 0.75 -> p = 0.25 (not < 0.25): unknown
    v, _ = occupancy_from_pixels(np.full((1, 1, 1), 255, np.uint8), np.zeros((1, 1), np.uint8), mode="trinary",
                                 negate=False, occupied_thresh=0.65, free_thresh=0.25)
    assert v.tolist() == [[-1]]


def test_a_16_bit_pgm_reads_as_its_8_bit_shades(tmp_path: Path) -> None:
    path = tmp_path / "wide.pgm"
    path.write_bytes(b"P5\n3 1\n1000\n" + np.array([0, 500, 1000], dtype=">u2").tobytes())
    channels, alpha = read_pixels(path)
    assert alpha is None and channels[:, :, 0].tolist() == [[0, 128, 255]]


@pytest.mark.parametrize("kind", ["p5", "p2", "png", "png-rgba"])
def test_image_formats_read_alike(tmp_path: Path, kind: str) -> None:
    px = _room(8, 10)
    if kind in ("p5", "p2"):
        path = _pgm(tmp_path / "m.pgm", px, plain=kind == "p2")
    else:
        path = tmp_path / "m.png"
        img = Image.fromarray(px, "L")
        (img.convert("RGBA") if kind == "png-rgba" else img).save(path)
    channels, alpha = read_pixels(path)
    values, _ = occupancy_from_pixels(channels, alpha, mode="trinary", negate=False, occupied_thresh=0.65,
                                      free_thresh=0.25)
    want, _ = occupancy_from_pixels(px[:, :, None], None, mode="trinary", negate=False, occupied_thresh=0.65,
                                    free_thresh=0.25)
    assert (values == want).all()


# ---------------------------------------------------------------------- loading into a scenario
def test_a_scenario_loads_its_map_and_takes_the_size_from_it(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    _map(tmp_path / "maps", _room(40, 60), res=0.1, origin=(0.5, 0.0, 0.0))
    path = _scenario(tmp_path, "  map: maps/floor.yaml\n", "  - {name: r1, start: [2.0, 2.0, 0.0], controller: "
                     "{type: waypoint, waypoints: [[2.5, 2.0]]}}\n")
    scn = load_scenario(path)
    assert scn.world.size == pytest.approx((6.5, 4.0))  # origin x + 60 cells x 0.1 m
    static = StaticMap.from_scenario(scn.world)
    grid = static.grid
    assert grid is not None and (grid.rows, grid.cols) == (40, 60) and grid.origin == (0.5, 0.0)
    assert grid.values[0, 0] == UNKNOWN  # bottom-left corner: outside the border
    assert grid.occupied[2, 10] and grid.values[20, 30] == 0
    # image row 2 (from the top) is the occupied border: grid row 40 - 1 - 2 = 37
    assert grid.occupied[37, 10] and not grid.occupied[36, 10]


def test_with_both_the_size_must_hold_the_grid(tmp_path: Path) -> None:
    _map(tmp_path, _room(40, 60), res=0.1)
    ok = load_scenario(_scenario(tmp_path, "  map: floor.yaml\n  size: [10.0, 8.0]\n"))
    assert ok.world.size == (10.0, 8.0) and ok.world.grid is not None
    with pytest.raises(ScenarioError, match=r"world.size 5 x 8 m does not hold the map's grid") as err:
        load_scenario(_scenario(tmp_path, "  map: floor.yaml\n  size: [5.0, 8.0]\n"))
    assert err.value.field == "world.size"


def test_obstacles_walls_and_places_work_with_the_map(tmp_path: Path) -> None:
    _map(tmp_path, _room(40, 60), res=0.1)
    scn = load_scenario(_scenario(tmp_path, "  map: floor.yaml\n  walls: [[[3.0, 0.5], [3.0, 2.0]]]\n"
                                  "  obstacles: [{rect: [4.0, 2.0, 0.5, 0.5]}]\n"
                                  "  places: [{name: p, position: [2.0, 2.0]}]\n"))
    static = StaticMap.from_scenario(scn.world)
    burnt = rasterize(static)
    i, j = burnt.cell_of(4.25, 2.25)
    assert burnt.occupied[i, j] and not static.grid.occupied[i, j]  # type: ignore[union-attr]  # grid is set: map given
    assert static.places["p"][1:3] == (2.0, 2.0)


def _error(tmp_path: Path, world: str, robots: str | None = None) -> ScenarioError:
    path = _scenario(tmp_path, world) if robots is None else _scenario(tmp_path, world, robots)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return err.value


@pytest.mark.parametrize(("edit", "field", "words"), [
    (lambda t: (t / "floor.pgm").unlink(), "image", "cannot read image"),
    (lambda t: (t / "floor.pgm").write_bytes(b"not an image at all"), "image", "cannot read image"),
    (lambda t: (t / "floor.pgm").write_bytes(b"P5\n10 10\n255\n\0\0"), "image", "truncated"),
    (lambda t: _map(t, _room(), res=-0.1), "resolution", "must be > 0"),
    (lambda t: _map(t, _room(), res=0), "resolution", "must be > 0"),
    (lambda t: (t / "floor.yaml").write_text("image: floor.pgm\nresolution: 0.1\norigin: [0, 0, 0]\nnegate: 0\n"
                                             "occupied_thresh: 0.65\n"), None, "missing required key 'free_thresh'"),
    (lambda t: (t / "floor.yaml").write_text((t / "floor.yaml").read_text().replace("occupied_thresh: 0.65",
                                                                                     "occupied_thresh: 1.5")),
     "occupied_thresh", "must be <= 1"),
    (lambda t: (t / "floor.yaml").write_text((t / "floor.yaml").read_text().replace("free_thresh: 0.196",
                                                                                     "free_thresh: 0.7")),
     "free_thresh", "must be less than occupied_thresh"),
    (lambda t: (t / "floor.yaml").write_text((t / "floor.yaml").read_text().replace("negate: 0", "negate: 2")),
     "negate", "must be 0 or 1"),
    (lambda t: (t / "floor.yaml").write_text((t / "floor.yaml").read_text().replace("mode: trinary", "mode: fancy")),
     "mode", "must be one of"),
    (lambda t: _map(t, _room(), origin=(0, 0, 0.3)), "origin", "rotated map"),
    (lambda t: (t / "floor.yaml").unlink(), None, "map file not found"),
])
def test_bad_map_files_are_one_line_naming_file_and_field(tmp_path: Path, edit, field: str | None,
                                                          words: str) -> None:
    _map(tmp_path, _room())
    edit(tmp_path)
    err = _error(tmp_path, "  map: floor.yaml\n")
    assert words in err.message
    assert err.path is not None and Path(err.path).name in ("floor.yaml",)
    assert err.field == field
    assert "\n" not in str(err)


def test_an_image_over_the_stated_limit_is_refused_before_decoding(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapio, "MAX_SIDE", 50)  # the real limit, 10,000, would need a 100 MB test image
    _map(tmp_path, _room(40, 60))
    err = _error(tmp_path, "  map: floor.yaml\n")
    assert err.field == "image" and "60 x 40 pixels: at most 50 x 50" in err.message
    assert mapio.MAX_SIDE == 50 and read_pixels.__module__ == "sim.world.mapio"


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _map(tmp_path, _room(), res=-1)
    path = _scenario(tmp_path, "  map: floor.yaml\n")
    assert cli.main([str(path), "--headless", "--clock", "virtual"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "floor.yaml:2:" in err and "resolution" in err


def test_robots_and_places_in_occupied_or_unknown_cells_are_refused(tmp_path: Path) -> None:
    _map(tmp_path, _room(40, 60), res=0.1)  # the border is occupied at x, y in [0.2, 0.3]
    err = _error(tmp_path, "  map: floor.yaml\n", "  - {name: r1, start: [0.5, 2.0, 0.0], controller: "
                 "{type: waypoint, waypoints: [[1.5, 1.0]]}}\n")
    assert err.field == "robots[0].start" and "overlaps an occupied cell of the map" in err.message
    err = _error(tmp_path, "  map: floor.yaml\n  places: [{name: p, position: [0.25, 2.0]}]\n")
    assert err.field == "world.places[0].position" and "occupied cell" in err.message
    err = _error(tmp_path, "  map: floor.yaml\n  places: [{name: p, position: [0.05, 2.0]}]\n")
    assert "unknown cell" in err.message


def test_a_map_below_the_worlds_origin_is_refused(tmp_path: Path) -> None:
    _map(tmp_path, _room(), origin=(-1.0, 0.0, 0.0))
    err = _error(tmp_path, "  map: floor.yaml\n")
    assert err.field == "world.map" and "give the map an origin with x, y >= 0" in err.message


def test_no_size_and_no_map_is_still_a_missing_size(tmp_path: Path) -> None:
    err = _error(tmp_path, "  boundary_walls: true\n")
    assert err.field == "world" and "missing required key 'size'" in err.message


# ---------------------------------------------------------------------- collisions
def _brute_hits(grid: OccupancyGrid, c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Every disc against every occupied cell's square: the reference."""
    i, j = np.nonzero(grid.occupied)
    x0 = grid.origin[0] + j * grid.resolution
    y0 = grid.origin[1] + i * grid.resolution
    dx = np.maximum(np.maximum(x0[None] - c[:, :1], c[:, :1] - (x0[None] + grid.resolution)), 0)
    dy = np.maximum(np.maximum(y0[None] - c[:, 1:], c[:, 1:] - (y0[None] + grid.resolution)), 0)
    return (dx * dx + dy * dy < (r * r)[:, None]).any(axis=1)


def test_disc_cell_collisions_match_brute_force_and_touching_is_not_a_hit() -> None:
    rng = np.random.default_rng(1)
    occ = rng.random((30, 40)) < 0.05
    grid = OccupancyGrid.from_values(np.where(occ, 100, 0), 0.1, (0.5, 0.2))
    c = rng.uniform(0.0, 5.0, (400, 2))
    r = rng.uniform(0.05, 0.4, 400)
    assert (bodies_hit_grid(grid, np.column_stack([c, np.zeros(400)]), r) == _brute_hits(grid, c, r)).all()
    one = OccupancyGrid.from_values(np.array([[0, 100]]), 1.0, (0.0, 0.0))  # cell [1, 2] x [0, 1]
    pose = np.array([[0.7, 0.5, 0.0], [0.7000001, 0.5, 0.0], [2.5, 1.5, 0.0]])
    assert bodies_hit_grid(one, pose, np.array([0.3, 0.3, 0.70711])).tolist() == [False, True, True]


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba not installed: only the numpy check runs")
def test_the_compiled_grid_check_gives_the_numpy_checks_answers() -> None:
    rng = np.random.default_rng(2)
    occ = rng.random((60, 80)) < 0.03
    grid = OccupancyGrid.from_values(np.where(occ, 100, 0), 0.05, (1.0, 0.5))
    pose = np.column_stack([rng.uniform(0.0, 6.0, 2000), rng.uniform(0.0, 4.5, 2000), rng.uniform(-3, 3, 2000)])
    r = rng.uniform(0.0, 0.5, 2000)
    fast = kernels.grid_hits(grid, pose, r, compiled=True)
    assert (fast == kernels.grid_hits(grid, pose, r, compiled=False)).all() and 100 < fast.sum() < 1900
    # exactly touching a cell's face: neither counts it
    one = OccupancyGrid.from_values(np.array([[0, 100]]), 0.25, (0.0, 0.0))
    edge = np.array([[0.25 - 0.125, 0.125, 0.0]])
    assert not kernels.grid_hits(one, edge, np.array([0.125]), compiled=True)[0]
    assert not kernels.grid_hits(one, edge, np.array([0.125]), compiled=False)[0]


def test_grid_edges_are_the_faces_towards_free_cells() -> None:
    occ = np.zeros((4, 4), dtype=bool)
    occ[1:3, 1:3] = True  # a 2 x 2 block: 8 unit faces outside, none inside
    grid = OccupancyGrid.from_values(np.where(occ, 100, 0), 1.0, (0.0, 0.0))
    edges = grid_edges(grid, np.array([0.0, 0.0]), np.array([4.0, 4.0]))
    assert len(edges) == 8
    assert {tuple(e) for e in edges.tolist()} >= {(1.0, 1.0, 2.0, 1.0), (3.0, 1.0, 3.0, 2.0)}


def _physics(tmp_path: Path, px: np.ndarray, start: tuple[float, float, float]) -> Physics:
    _map(tmp_path, px, res=0.1)
    scn = load_scenario(_scenario(tmp_path, "  map: floor.yaml\n", f"  - {{name: r1, start: {list(start)}, "
                                  "controller: {type: waypoint, waypoints: [[1.5, 1.0]]}}\n"))
    robots = [SimpleNamespace(name="r1", radius=0.3, max_speed=1.0, max_accel=10.0, max_yaw_rate=2.0,
                              max_yaw_accel=20.0, wheel_base=0.4)]
    return Physics(StaticMap.from_scenario(scn.world), Bodies.from_robots(robots), np.array([start]), 0.01)


def test_a_robot_stops_at_a_grid_wall_slides_along_it_and_counts_one_collision(tmp_path: Path) -> None:
    px = _room(40, 60)
    px[3:-3, 40] = 0  # a wall across the room at x in [4.0, 4.1]
    p = _physics(tmp_path, px, (2.0, 2.0, math.pi / 6))
    for _ in range(350):
        p.submit(0, Command(1.0, 0.0))
        p.step()
        assert not bodies_hit_grid(p.static.grid, p.pose, p.bodies.radius).any()  # type: ignore[arg-type]  # set
    x, y, _ = p.pose[0]
    assert x == pytest.approx(4.0 - 0.3, abs=1e-6)  # touching the wall's face
    assert y > 2.0 + 1.7 * math.tan(math.pi / 6) + 0.2  # it slid north along the wall after reaching it
    assert p.collisions.tolist() == [1]


# ---------------------------------------------------------------------- planning
def test_the_planner_goes_through_the_door_and_treats_unknown_as_blocked(tmp_path: Path) -> None:
    px = _room(40, 60)
    px[3:-3, 30] = 0  # a wall at x in [3.0, 3.1] with a 1.2 m door at y in [1.4, 2.6]
    px[14:26, 30] = 254
    _map(tmp_path, px, res=0.1)
    scn = load_scenario(_scenario(tmp_path, "  map: floor.yaml\n"))
    static = StaticMap.from_scenario(scn.world)
    grid = shared_grid(static, 0.35, 0.1)
    path = plan(grid, (1.5, 1.0), (4.5, 1.0))
    crossing = [(a, b) for a, b in itertools.pairwise(path) if (a[0] - 3.05) * (b[0] - 3.05) < 0]
    assert len(crossing) == 1
    (ax, ay), (bx, by) = crossing[0]
    y_at = ay + (by - ay) * (3.05 - ax) / (bx - ax)
    assert 1.4 + 0.35 <= y_at <= 2.6 - 0.35  # through the door, clear of its jambs
    px[14:26, 30] = 205  # the door unknown: the planner must not use it
    _map(tmp_path, px, res=0.1)
    closed = StaticMap.from_scenario(load_scenario(_scenario(tmp_path, "  map: floor.yaml\n")).world)
    with pytest.raises(NoPathError, match="not reachable"):
        plan(shared_grid(closed, 0.35, 0.1), (1.5, 1.0), (4.5, 1.0))


def test_planning_cells_within_the_inflation_of_a_blocked_cell_are_blocked() -> None:
    occ = np.zeros((50, 50), dtype=bool)
    occ[25, 25] = True  # one occupied cell: [2.5, 2.6]^2 at 0.1 m
    cells = OccupancyGrid.from_values(np.where(occ, 100, 0), 0.1, (0.0, 0.0))
    grid = PlanGrid.from_world((5.0, 5.0), resolution=0.1, inflate=0.4, cells=cells)
    xs = (np.arange(50) + 0.5) * 0.1
    gx, gy = np.meshgrid(xs, xs)
    dx = np.maximum(np.maximum(2.5 - gx, gx - 2.6), 0)
    dy = np.maximum(np.maximum(2.5 - gy, gy - 2.6), 0)
    d = np.hypot(dx, dy)
    inner = (d <= 0.4) & (gx > 0.5) & (gx < 4.5) & (gy > 0.5) & (gy < 4.5)
    assert grid.occupied[inner].all()  # everything within the inflation is blocked
    assert not grid.occupied[(d > 0.4 + 0.1 * math.sqrt(2) + 1e-9) & (gx > 0.5) & (gx < 4.5) & (gy > 0.5)
                             & (gy < 4.5)].any()  # at most one map-cell diagonal more


# ---------------------------------------------------------------------- view
def test_the_view_draws_occupied_cells_as_walls_and_unknown_grey(tmp_path: Path) -> None:
    from sim.view import theme
    from sim.view.camera import Camera
    from sim.view.scene import Scene

    _map(tmp_path, _room(40, 60), res=0.1)
    static = StaticMap.from_scenario(load_scenario(_scenario(tmp_path, "  map: floor.yaml\n")).world)
    pygame.init()
    surf = pygame.Surface((600, 400))
    scene = Scene(SimpleNamespace(static=static), SimpleNamespace(count=0, lidars=[]), SimpleNamespace())  # type: ignore[arg-type]  # only .static, .count and .lidars are read
    cam = Camera((600, 400), scale=100.0)
    cam.ox, cam.oy = 0.0, 400.0  # world (0, 0) at the bottom-left pixel, 100 px per m
    surf.fill(theme.FLOOR)
    scene._render_cells(surf, cam)
    assert surf.get_at((25, 200))[:3] == theme.WALL  # x = 0.25 m: the occupied border
    assert surf.get_at((5, 200))[:3] == theme.MAP_UNKNOWN  # x = 0.05 m: outside it
    assert surf.get_at((300, 200))[:3] == theme.FLOOR  # free: the floor shows through
    assert scene._cells() is scene._cells()  # built once


# ---------------------------------------------------------------------- export
WORLD = """\
  size: [6.0, 4.0]
  walls: [[[3.0, 0.0], [3.0, 2.5]]]
  obstacles:
    - {rect: [1.0, 2.5, 1.0, 0.6]}
    - {polygon: [[4.0, 1.0], [5.2, 1.3], [4.6, 2.2]]}
"""


def test_round_trip_scenario_to_map_to_scenario_keeps_the_cells_and_the_collisions(tmp_path: Path) -> None:
    src = _scenario(tmp_path, WORLD, name="src")
    image, summary = export_map(src, tmp_path / "out" / "floor.yaml", 0.05)
    assert image.read_bytes().startswith(b"P5\n") and "120 x 80 cells at 0.05 m" in summary
    loaded = load_map(tmp_path / "out" / "floor.yaml")
    assert loaded.meta.occupied_thresh == 0.65 and loaded.meta.free_thresh == 0.196 and loaded.meta.mode == "trinary"
    original = rasterize(StaticMap.from_scenario(load_scenario(src).world), 0.05)
    back = StaticMap.from_scenario(load_scenario(_scenario(
        tmp_path, "  map: out/floor.yaml\n  boundary_walls: false\n", name="back")).world)
    assert back.grid is not None and (back.grid.occupied == original.occupied).all()
    assert (back.grid.values == original.values).all()
    # Collisions agree wherever a disc is more than a cell diagonal from any wall or obstacle edge.
    seg_static = StaticMap.from_scenario(load_scenario(src).world)
    rng = np.random.default_rng(5)
    c = rng.uniform(0.0, [6.0, 4.0], (3000, 2))
    r = np.full(3000, 0.3)
    by_segments = discs_hit_segments(seg_static.segment_map, c, r)
    by_cells = bodies_hit_grid(back.grid, c, r)
    near = np.zeros(3000, dtype=bool)
    for d in (-0.075, 0.075):  # a disc whose edge is within a cell diagonal of a boundary may differ
        near |= discs_hit_segments(seg_static.segment_map, c, r + d) != discs_hit_segments(
            seg_static.segment_map, c, r)
    inside = np.array([any(_inside(p, o.polygon) for o in seg_static.obstacles) for p in c])
    ok = ~near & ~inside  # a centre inside an obstacle hits the cells but no segment
    assert ok.sum() > 2000 and (by_segments[ok] == by_cells[ok]).all()


def _inside(p: np.ndarray, poly: np.ndarray) -> bool:
    from sim.common.geometry import point_in_polygon

    return bool(point_in_polygon(p, poly))


def test_run_py_map_writes_a_map_server_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _scenario(tmp_path, WORLD, name="src")
    assert cli.main(["map", str(src), "--out", str(tmp_path / "floor.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("map: ") and "floor.pgm" in out
    text = (tmp_path / "floor.yaml").read_text()
    for key in ("image: floor.pgm", "mode: trinary", "resolution: 0.05", "origin: [0.0, 0.0, 0.0]", "negate: 0",
                "occupied_thresh: 0.65", "free_thresh: 0.196"):
        assert key in text
    assert cli.main(["map", str(src), "--out", str(tmp_path / "f.txt")]) == 2
    assert cli.main(["map", str(src), "--out", str(tmp_path / "f.yaml"), "--resolution", "0"]) == 2


def test_write_map_keeps_unknown_and_refuses_bad_thresholds(tmp_path: Path) -> None:
    values = np.array([[0, 100, -1, 40]], dtype=np.int8)
    grid = OccupancyGrid.from_values(values, 0.5, (1.0, 2.0))
    write_map(grid, tmp_path / "m.yaml")
    back = load_map(tmp_path / "m.yaml").grid
    assert back.values.tolist() == [[0, OCCUPIED, -1, -1]] and back.origin == (1.0, 2.0)
    with pytest.raises(ValueError, match="thresholds"):
        write_map(grid, tmp_path / "n.yaml", occupied_thresh=0.2, free_thresh=0.3)


# ---------------------------------------------------------------------- the shipped office map
def test_the_office_map_is_the_generators_output_and_its_places_are_reachable() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_office", ROOT / "scenarios" / "maps" / "make_office.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = np.asarray(Image.open(ROOT / "scenarios" / "maps" / "office.png"))
    assert committed.shape == (600, 800) and (committed == gen.make_office(7)).all()
    assert (ROOT / "scenarios" / "maps" / "office.png").stat().st_size < 500_000
    scn = load_scenario(ROOT / "scenarios" / "office_map.yaml")
    assert scn.world.size == (40.0, 30.0)
    static = StaticMap.from_scenario(scn.world)
    assert {(n, k, x, y) for n, (k, x, y, _) in static.places.items()} == set(gen.PLACES)
    grid = shared_grid(static, 0.3 + 0.2, 0.1)  # the scenario's radius + margin
    parks = [p for p in gen.PLACES if p[1] == "parking"]
    for name, _, x, y in gen.PLACES:
        path = plan(grid, parks[0][2:], (x, y))
        assert path[-1] == (x, y), name


def test_a_sweeps_cache_key_covers_the_map_files(tmp_path: Path) -> None:
    from sim.sweep import cache

    _map(tmp_path, _room())
    path = _scenario(tmp_path, "  map: floor.yaml\n")
    sources = cache.map_sources(path.read_bytes(), [])
    assert sources == ["floor.yaml"]
    assert cache.map_sources(b"world: {size: [1, 1]}", [("world.map", ["a.yaml"])]) == ["a.yaml"]
    before = cache.maps_digest(path, sources)
    assert cache.maps_digest(path, sources) == before
    px = _room()
    px[10, 10] = 0  # one more occupied pixel: a different map, a different key
    _pgm(tmp_path / "floor.pgm", px)
    assert cache.maps_digest(path, sources) != before


@pytest.mark.slow  # runs a scenario: ~5 s of wall time on a busy 2-core host
def test_the_office_scenario_runs_clean_and_its_robots_reach_places(tmp_path: Path) -> None:
    import json

    argv = [str(ROOT / "scenarios" / "office_map.yaml"), "--headless", "--clock", "virtual", "--duration", "30",
            "--out", str(tmp_path), "--no-plot", "--no-trace"]
    assert cli.main(argv) == 0
    (folder,) = tmp_path.iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["outcomes"]["collisions"] == 0 and report["summary"]["misses"] == 0
    picked = [o for o in report["outcomes"]["orders"]["orders"] if o["picked"] is not None]
    assert len(picked) >= 2 and all(o["picked"] > o["assigned"] + 5.0 for o in picked)  # driven there, not skipped
