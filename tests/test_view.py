"""The pygame view under SDL's dummy video driver: camera maths, keys, mouse, screenshots.

Most tests use a real run whose clock is paused before its threads start, so
the world holds still (one controller cycle and one sensor sample at t = 0,
then nothing) and every assertion is about state, never about real timing.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pygame  # a required dependency (pyproject): missing, this module fails to import, loudly
import pytest

from sim.view.camera import Camera, nice_step
from sim.view.telemetry import BAD_MISS_FRACTION, RateWindow, Telemetry, _make_hook, classify_health

SCENARIO = """\
name: tiny
world:
  size: [20.0, 12.0]
  boundary_walls: true
  obstacles:
    # Only in the upper half of the map: the y-up test looks for it there.
    - {name: shelf-up, kind: shelf, rect: [2.0, 8.0, 4.0, 1.0]}
  places:
    - {name: park-1, kind: parking, position: [1.0, 1.0], heading: 0.0}
physics:
  step: 0.01
run:
  duration: {duration}
  time_scale: 1.0
  seed: 3
robots:
  - name: r1
    start: [10.0, 3.0, 0.0]
    sensors: &sensors
      - {{type: lidar, rate_hz: 10, beams: 90, range_max: 8.0, noise_std: 0.0}}
      - {{type: localization, rate_hz: 10}}
      - {{type: odometry, rate_hz: 50}}
    controller:
      type: waypoint
      period: 0.05
      waypoints: [[17.0, 3.0], [10.0, 3.0]]
  - name: r2
    start: [10.0, 6.0, 1.5708]
    sensors: *sensors
    controller:
      type: waypoint
      period: 0.05
      waypoints: [[10.0, 10.0], [10.0, 6.0]]
"""


def _scenario_file(tmp_path: Path, duration: float) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO.replace("{duration}", str(duration)).replace("{{", "{").replace("}}", "}"))
    return path


def _make_run(tmp_path: Path, duration: float = 30.0, paused: bool = True):
    from sim.core.clock import RealClock
    from sim.runtime.run import Run
    from sim.scenario.load import load_scenario

    scenario = load_scenario(_scenario_file(tmp_path, duration))
    clock = RealClock(scenario.run.time_scale)
    if paused:
        clock.pause()
    return Run(scenario, tmp_path / "out", clock=clock)


@pytest.fixture
def run(tmp_path: Path):
    """A started run, frozen at t ~ 0 by a paused clock."""
    r = _make_run(tmp_path)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def app(run):
    from sim.view.app import ViewApp

    a = ViewApp(run, window=(1000, 640))
    a.frame()
    yield a
    a.close()


def _key(app, key: int, unicode: str = "", mod: int = 0) -> None:
    """Post a key press through pygame's queue and hand it to the app, as the loop does."""
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, unicode=unicode, mod=mod, scancode=0))
    for event in pygame.event.get():
        app.handle(event)


def _mouse(app, kind: int, pos: tuple[float, float], **extra) -> None:
    pygame.event.post(pygame.event.Event(kind, pos=(round(pos[0]), round(pos[1])), **extra))
    for event in pygame.event.get():
        app.handle(event)


def _click(app, pos: tuple[float, float]) -> None:
    _mouse(app, pygame.MOUSEBUTTONDOWN, pos, button=1)
    _mouse(app, pygame.MOUSEBUTTONUP, pos, button=1)


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    """Bounded polling for a thread to catch up (the assertion is on state, not on time)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# ---------------------------------------------------------------------- camera (pure)


def test_camera_round_trip_and_y_is_up() -> None:
    cam = Camera((800, 600), scale=25.0, origin=(40.0, 560.0))
    pts = np.array([[0.0, 0.0], [3.5, -1.25], [12.0, 7.5]])
    back = cam.screen_to_world(cam.world_to_screen(pts))
    assert np.allclose(back, pts)
    assert cam.to_world(*cam.to_screen(3.5, -1.25)) == pytest.approx((3.5, -1.25))
    x0, y0 = cam.to_screen(1.0, 1.0)
    x1, y1 = cam.to_screen(2.0, 2.0)
    assert x1 > x0  # +x to the right
    assert y1 < y0  # +y up: smaller screen y
    assert x1 - x0 == pytest.approx(25.0) and y0 - y1 == pytest.approx(25.0)


def test_camera_zoom_keeps_the_point_under_the_cursor() -> None:
    cam = Camera((800, 600), scale=20.0, origin=(100.0, 500.0))
    cursor = (333.0, 121.0)
    before = cam.to_world(*cursor)
    for factor in (1.15, 1.15, 3.0, 0.2, 0.5):
        cam.zoom_at(factor, *cursor)
        assert cam.to_world(*cursor) == pytest.approx(before)
    assert cam.scale == pytest.approx(20.0 * 1.15 * 1.15 * 3.0 * 0.2 * 0.5)
    cam.zoom_at(1e9, *cursor)
    assert cam.scale == Camera.MAX_SCALE
    assert cam.to_world(*cursor) == pytest.approx(before)


def test_camera_fit_contains_the_whole_map() -> None:
    cam = Camera((1280, 800))
    rect = (0.0, 80.0, 900.0, 690.0)
    for width, height in ((40.0, 25.0), (5.0, 60.0), (300.0, 2.0)):
        cam.fit((0.0, 0.0, width, height), rect, margin=10)
        corners = cam.world_to_screen(np.array([[0, 0], [width, 0], [0, height], [width, height]], float))
        assert corners[:, 0].min() >= rect[0] - 1e-6 and corners[:, 0].max() <= rect[0] + rect[2] + 1e-6
        assert corners[:, 1].min() >= rect[1] - 1e-6 and corners[:, 1].max() <= rect[1] + rect[3] + 1e-6
        # tight in at least one direction (fits, not merely inside)
        span_x = np.ptp(corners[:, 0])
        span_y = np.ptp(corners[:, 1])
        assert span_x == pytest.approx(rect[2] - 20) or span_y == pytest.approx(rect[3] - 20)
        cx, cy = cam.to_screen(width / 2, height / 2)
        assert (cx, cy) == pytest.approx((rect[0] + rect[2] / 2, rect[1] + rect[3] / 2))


def test_camera_pan_moves_the_picture_by_the_drag() -> None:
    cam = Camera((640, 480), scale=10.0)
    a = cam.to_screen(4.0, 2.0)
    cam.pan(15, -7)
    b = cam.to_screen(4.0, 2.0)
    assert (b[0] - a[0], b[1] - a[1]) == pytest.approx((15, -7))


def test_nice_step_follows_1_2_5() -> None:
    assert [nice_step(v) for v in (0.07, 0.3, 1.0, 1.2, 3.0, 7.0, 40.0)] == [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0]


# ---------------------------------------------------------------------- telemetry (pure)


def test_health_rules() -> None:
    assert classify_health(0, 0, False) == "idle"
    assert classify_health(0, 40, False) == "ok"
    assert classify_health(1, 40, False) == "warn"
    assert classify_health(math.ceil(BAD_MISS_FRACTION * 40), 40, False) == "bad"
    assert classify_health(0, 40, True) == "bad"


def test_cycle_hook_keeps_the_old_hook_and_feeds_the_deque() -> None:
    seen = []
    feed: deque = deque(maxlen=3)
    hook = _make_hook(feed, seen.append)
    cycles = [SimpleNamespace(release_time=0.05 * k, response_time=0.001 * k, miss=k == 2, safety_stop=False)
              for k in range(5)]
    for c in cycles:
        hook(c)
    assert seen == cycles  # the cycle log still gets every cycle
    expected = [(c.release_time, c.response_time, c.miss, False) for c in cycles[2:]]
    assert list(feed) == expected


def test_rate_window_measures_slope() -> None:
    rw = RateWindow(1.0)
    assert math.isnan(rw.rate())
    for k in range(30):
        rw.add(k * 0.1, 5.0 + k * 0.05)  # half real time
    assert rw.rate() == pytest.approx(0.5)


def test_telemetry_flashes_misses_and_goes_red(run) -> None:
    tel = Telemetry(run)
    snap = run.physics.snapshot
    tel.update(snap, run.clock.now(), 100.0)
    stats = run.controllers[1].stats  # threads are parked on the paused clock: safe to poke
    stats.misses += 1
    stats.recent.extend([True] * 8 + [False] * 32)
    tel.update(snap, run.clock.now(), 101.0)
    assert tel.miss_flash_at[1] == 101.0
    assert tel.miss_flash_at[0] < 101.0
    assert tel.health[1] == "bad"


# ---------------------------------------------------------------------- the app


def test_space_pauses_and_simulated_time_stands_still(app, run) -> None:
    assert app.paused  # the fixture's clock starts paused
    _key(app, pygame.K_SPACE, " ")
    assert not app.paused and not run.clock.paused
    _key(app, pygame.K_SPACE, " ")
    assert app.paused and run.clock.paused
    t0 = run.clock.now()
    for _ in range(3):
        app.frame()
    assert run.clock.now() == t0


def test_period_steps_exactly_one_physics_step(app, run) -> None:
    step = run.physics.step_size
    t0 = run.clock.now()
    steps0 = run.physics.snapshot.step
    _key(app, pygame.K_PERIOD, ".")
    assert run.clock.now() == pytest.approx(t0 + step, abs=1e-12)
    assert app.paused
    assert _wait_for(lambda: run.physics.snapshot.step == steps0 + 1)
    assert run.physics.snapshot.time == pytest.approx(step * (steps0 + 1))
    _key(app, pygame.K_PERIOD, ".")
    assert run.clock.now() == pytest.approx(t0 + 2 * step, abs=1e-12)


def test_period_does_nothing_while_running(app, run) -> None:
    _key(app, pygame.K_SPACE, " ")
    scale = run.clock.time_scale
    _key(app, pygame.K_PERIOD, ".")
    assert not app.paused and run.clock.time_scale == scale


def test_tab_cycles_the_selection(app) -> None:
    assert app.selected == 0
    _key(app, pygame.K_TAB)
    assert app.selected == 1
    _key(app, pygame.K_TAB)
    assert app.selected == 0
    _key(app, pygame.K_TAB, mod=pygame.KMOD_LSHIFT)
    assert app.selected == 1


def test_clicking_a_robot_selects_it_and_the_floor_clears(app, run) -> None:
    pose = run.physics.snapshot.pose
    _click(app, app.camera.to_screen(pose[1, 0], pose[1, 1]))
    assert app.selected == 1
    _click(app, app.camera.to_screen(pose[0, 0], pose[0, 1]))
    assert app.selected == 0
    _click(app, app.camera.to_screen(15.0, 9.0))  # empty floor
    assert app.selected is None
    app.frame()


def test_clicking_a_fleet_table_row_selects_that_robot(app) -> None:
    app.frame()
    rect, index = app.hud.row_rects[1]
    assert index == 1
    _click(app, rect.center)
    assert app.selected == 1


def test_plus_and_minus_scale_time_within_limits(app, run) -> None:
    _key(app, pygame.K_EQUALS, "+", mod=pygame.KMOD_LSHIFT)
    assert run.clock.time_scale == pytest.approx(2.0)
    _key(app, pygame.K_KP_PLUS, "+")
    assert run.clock.time_scale == pytest.approx(4.0)
    for _ in range(10):
        _key(app, pygame.K_PLUS, "+")
    assert run.clock.time_scale == pytest.approx(20.0)
    for _ in range(20):
        _key(app, pygame.K_MINUS, "-")
    assert run.clock.time_scale == pytest.approx(0.05)


def test_letter_keys_toggle_flags(app) -> None:
    assert app.show_rays and app.show_trails and app.show_hud and not app.show_names and not app.show_help
    for key, attr in ((pygame.K_r, "show_rays"), (pygame.K_t, "show_trails"), (pygame.K_h, "show_hud"),
                      (pygame.K_n, "show_names")):
        before = getattr(app, attr)
        _key(app, key, pygame.key.name(key))
        assert getattr(app, attr) is not before
        app.frame()  # draws fine either way
        _key(app, key, pygame.key.name(key))
        assert getattr(app, attr) is before
    _key(app, pygame.K_F1)
    assert app.show_help
    app.frame()
    _key(app, pygame.K_SLASH, "?", mod=pygame.KMOD_LSHIFT)
    assert not app.show_help


def _distinct_colours(path: Path) -> int:
    img = pygame.image.load(str(path))
    rgb = pygame.surfarray.array3d(img).reshape(-1, 3)
    return len(np.unique(rgb, axis=0))


def test_s_saves_a_non_blank_png_into_the_run_folder(app, run) -> None:
    for _ in range(2):
        app.frame()
    _key(app, pygame.K_s, "s")
    shots = sorted(Path(run.out_dir).glob("screenshot-*.png"))
    assert len(shots) == 1 and shots == app.screenshots
    assert pygame.image.load(str(shots[0])).get_size() == (1000, 640)
    assert _distinct_colours(shots[0]) > 50
    _key(app, pygame.K_s, "s")
    assert len(list(Path(run.out_dir).glob("screenshot-*.png"))) == 2  # never overwrites


def test_a_screenshot_after_the_end_shows_the_end(app, run) -> None:
    """The HUD is cached between renders; a screenshot must not show a stale one."""
    app.frame()
    assert app.status is not None and app.status.finished is None
    run.finish("completed")
    app.screenshot()
    assert app.status.finished == "completed"
    assert app.status.sim_now <= run.physics.snapshot.time  # frozen at the last step once over


def test_map_is_drawn_with_y_up(app, run) -> None:
    """The shelf sits at y 8..9 of a 12 m map: on screen it must be in the upper half."""
    from sim.view import theme

    for key in (pygame.K_r, pygame.K_t, pygame.K_h):  # bare map: no rays, trails or HUD over it
        _key(app, key)
    app.frame()
    surf = pygame.display.get_surface()
    shelf = theme.OBSTACLE_FILL["shelf"]
    up = app.camera.to_screen(2.3, 8.2)  # off the centred label
    mirrored = app.camera.to_screen(2.3, 12.0 - 8.2)
    assert up[1] < mirrored[1]
    assert tuple(surf.get_at((round(up[0]), round(up[1]))))[:3] == shelf
    assert tuple(surf.get_at((round(mirrored[0]), round(mirrored[1]))))[:3] != shelf


def test_lidar_returns_are_drawn_where_they_hit(app, run) -> None:
    """A return off the shelf's lower edge lands on a cyan dot exactly there on screen."""
    from sim.view import theme

    rt = next(rt for rt in run.sensors if rt.robot_name == "r2" and rt.sensor.kind == "lidar")
    assert _wait_for(lambda: rt.last is not None)
    _key(app, pygame.K_h)  # no HUD over the map
    app.frame()
    scan = rt.last.data
    pose = app.scene.pose_at(1, rt.last.sample_time, run.physics.snapshot)
    hits = [(pose[0] + r * math.cos(pose[2] + a), pose[1] + r * math.sin(pose[2] + a))
            for a, r in zip(scan.angles, scan.ranges, strict=True) if math.isfinite(r)]
    assert hits
    surf = pygame.display.get_surface()
    on_dot = 0
    for hx, hy in hits:
        sx, sy = app.camera.to_screen(hx, hy)
        colour = tuple(surf.get_at((round(sx), round(sy))))[:3]
        on_dot += colour == theme.RAY_HIT
    assert on_dot >= 0.8 * len(hits)  # a few may sit under a robot or a label


def test_drag_pans_and_wheel_zooms_about_the_cursor(app) -> None:
    cam = app.camera
    before = cam.to_screen(5.0, 5.0)
    _mouse(app, pygame.MOUSEBUTTONDOWN, (300, 300), button=1)
    _mouse(app, pygame.MOUSEMOTION, (340, 280), rel=(40, -20), buttons=(1, 0, 0))
    _mouse(app, pygame.MOUSEMOTION, (360, 250), rel=(20, -30), buttons=(1, 0, 0))
    _mouse(app, pygame.MOUSEBUTTONUP, (360, 250), button=1)
    after = cam.to_screen(5.0, 5.0)
    assert (after[0] - before[0], after[1] - before[1]) == pytest.approx((60, -50))
    assert app.selected == 0  # a drag is not a click
    under = cam.to_world(360, 250)
    scale = cam.scale
    pygame.event.post(pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=2, precise_x=0.0, precise_y=2.0, flipped=False))
    for event in pygame.event.get():
        app.handle(event)
    assert cam.scale == pytest.approx(scale * 1.15**2)
    assert cam.to_world(360, 250) == pytest.approx(under)
    _key(app, pygame.K_f)  # F fits again
    m = app.run.static
    corners = cam.world_to_screen(np.array([[0, 0], [m.width, m.height]], float))
    assert corners.min() >= 0 and corners[:, 0].max() <= 1000 and corners[:, 1].max() <= 640


def test_resizing_the_window_refits_the_map(app, run) -> None:
    pygame.display.set_mode((600, 900), pygame.RESIZABLE)
    pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, size=(600, 900), w=600, h=900))
    for event in pygame.event.get():
        app.handle(event)
    app.frame()
    assert (app.camera.width, app.camera.height) == (600, 900)
    m = run.static
    corners = app.camera.world_to_screen(np.array([[0, 0], [m.width, m.height]], float))
    assert corners[:, 0].min() >= 0 and corners[:, 0].max() <= 600
    assert corners[:, 1].min() >= 0 and corners[:, 1].max() <= 900


def test_escape_finishes_the_run_as_window_closed(app, run) -> None:
    _key(app, pygame.K_ESCAPE)
    assert run.finished.is_set() and run.end_reason == "window closed"
    assert not app.running


def test_closing_the_window_does_the_same(app, run) -> None:
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    for event in pygame.event.get():
        app.handle(event)
    assert run.end_reason == "window closed" and not app.running


def test_close_gives_the_controllers_their_hooks_back(run) -> None:
    from sim.view.app import ViewApp

    before = [task.on_cycle for task in run.controllers]
    a = ViewApp(run, window=(400, 300))
    assert all(task.on_cycle is not old for task, old in zip(run.controllers, before, strict=True))
    a.close()
    assert [task.on_cycle for task in run.controllers] == before


def test_a_plugins_odd_visual_does_not_stop_the_window(app, run) -> None:
    ctrl = run.controllers[0].controller
    frames = app.frames
    ctrl.visual = {"path": "not a path", "waypoints": [[1.0, 2.0, 3.0]], "target": 0}
    app.frame()  # a malformed visual is skipped, not raised
    ctrl.visual = {"path": [(1.0, 1.0), (5.0, 2.0), (9.0, 1.0)], "state": "plan"}
    app.frame()  # a planner's path draws
    assert app.frames == frames + 2


def test_strip_chart_feed_gets_each_cycle(app, run) -> None:
    """The wrapped on_cycle hook feeds the chart; the cycle log still gets every cycle too."""
    assert not app.telemetry.feed(0)
    for _ in range(6):  # 60 ms of single steps: cycle 1 (released at 50 ms) runs
        _key(app, pygame.K_PERIOD, ".")
    assert _wait_for(lambda: len(app.telemetry.feed(0)) >= 1 and len(app.telemetry.feed(1)) >= 1)
    release, response, miss, _stop = app.telemetry.feed(0)[0]
    # simulated time only moved by single steps, 60 ms in all: cycle 1 (released at 50 ms, deadline
    # 50 ms later) finished about 10 ms after its release, so the feed carries no miss
    assert release == pytest.approx(0.05) and 0.0 <= response < 0.02 and miss is False
    app.frame()


def test_feed_also_works_when_the_window_opens_before_start(tmp_path: Path) -> None:
    from sim.view.app import ViewApp

    r = _make_run(tmp_path)  # paused, not started
    a = ViewApp(r, window=(400, 300))
    r.start()
    try:
        assert _wait_for(lambda: len(a.telemetry.feed(0)) >= 1)  # cycle 0 at t = 0
        assert a.telemetry.feed(0)[0][0] == 0.0
    finally:
        a.close()
        r.stop()


# ---------------------------------------------------------------------- run_view


def test_run_view_returns_when_the_run_ends_and_saves_the_screenshot(tmp_path: Path) -> None:
    from sim.view import run_view

    r = _make_run(tmp_path, duration=0.3, paused=False)
    shot = tmp_path / "shots" / "final.png"
    r.start()
    try:
        run_view(r, window=(640, 400), screenshot=shot)
    finally:
        r.stop()
    assert r.end_reason == "completed"
    assert pygame.image.load(str(shot)).get_size() == (640, 400)
    assert _distinct_colours(shot) > 50


def test_run_view_returns_on_window_close(tmp_path: Path) -> None:
    from sim.view import run_view

    r = _make_run(tmp_path, duration=600.0, paused=False)
    r.start()
    try:
        pygame.display.init()
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        run_view(r, window=(320, 240))
    finally:
        r.stop()
    assert r.end_reason == "window closed"


def test_missing_pygame_is_a_clear_sim_error(monkeypatch) -> None:
    import sys

    from sim.errors import SimError
    from sim.view import run_view

    monkeypatch.setitem(sys.modules, "pygame", None)
    with pytest.raises(SimError, match="pip install pygame-ce"):
        run_view(SimpleNamespace(), window=(320, 240))
