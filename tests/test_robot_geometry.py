"""Robot geometry and kinematics: footprints (collisions, lidar), sensor mounts, Ackermann steering, and
the load-time errors for each (issue 18, items 4 and 5)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.interfaces.plugin import RobotInfo
from sim.scenario.load import parse_scenario
from sim.world.footprint import footprint_problem, polygon_hits_disc, polygons_overlap, to_world
from sim.world.kernels import HAVE_NUMBA
from sim.world.model import Bodies, StaticMap
from sim.world.physics import Command, Physics

RECT = [[-0.5, -0.3], [0.5, -0.3], [0.5, 0.3], [-0.5, 0.3]]  # 1.0 m x 0.6 m about base_link
COMPILED = [False, True] if HAVE_NUMBA else [False]


def world(size: tuple[float, float] = (10.0, 4.0), walls: list[Any] | None = None) -> StaticMap:
    return StaticMap.from_scenario(SimpleNamespace(size=size, walls=walls or [], boundary_walls=True,
                                                   obstacles=[], places=[]))


def body(name: str, radius: float = 0.3, footprint: list[list[float]] | None = None,
         kinematics: Any = None) -> SimpleNamespace:
    fp = None if footprint is None else np.asarray(footprint, dtype=float)
    return SimpleNamespace(name=name, radius=radius, max_speed=1.0, max_accel=2.0, max_yaw_rate=2.0,
                           max_yaw_accel=4.0, wheel_base=0.4, footprint_polygon=lambda: fp, kinematics=kinematics)


def physics(robots: list[SimpleNamespace], poses: list[tuple[float, float, float]], compiled: bool,
            static: StaticMap | None = None) -> Physics:
    ph = Physics(static or world(), Bodies.from_robots(robots), np.array(poses, dtype=float), 0.01)
    ph.compiled = compiled
    return ph


# ---------------------------------------------------------------------------------------------- footprints
def test_footprint_problems_are_named() -> None:
    assert footprint_problem(RECT) is None
    assert footprint_problem([[0, 0], [1, 0]]) == "needs at least 3 points, got 2"
    assert footprint_problem([[0, 0], [1, 0], [2, 0]]) == "has zero area"
    assert "self-intersects" in str(footprint_problem([[0, 0], [1, 1], [1, 0], [0, 1]]))  # a bow tie


@pytest.mark.parametrize("compiled", COMPILED)
def test_a_rectangle_touches_a_wall_with_its_corner_where_its_disc_would_not(compiled: bool) -> None:
    """The body 1.0 x 0.6 m turned 45 degrees reaches 0.566 m in x: at 0.5 m from the east wall its corner
    is in the wall, while a disc of the same radius (0.3 m) is clear of it."""
    pose = [(9.5, 2.0, math.pi / 4)]
    shaped = physics([body("r", footprint=RECT)], pose, compiled)
    disc = physics([body("r")], pose, compiled)
    assert shaped.check_collisions(shaped.pose)[0].tolist() == [True]
    assert disc.check_collisions(disc.pose)[0].tolist() == [False]
    straight = physics([body("r", footprint=RECT)], [(9.45, 2.0, 0.0)], compiled)  # front face 0.05 m off
    assert straight.check_collisions(straight.pose)[0].tolist() == [False]


@pytest.mark.parametrize("compiled", COMPILED)
def test_a_rectangle_driven_into_a_wall_stops_at_its_front_face(compiled: bool) -> None:
    ph = physics([body("r", footprint=RECT)], [(7.0, 2.0, 0.0)], compiled)
    for _ in range(400):
        ph.submit(0, Command(0.8, 0.0))
        ph.step()
    x = float(ph.pose[0, 0])
    assert 9.45 < x <= 9.5  # front face (x + 0.5) at the wall x = 10, never through it
    assert ph.collisions.tolist() == [1]  # one contact, however long it pushes
    assert ph.velocity[0, 0] == 0.0  # straight into it: the wheels stall


def test_footprint_physics_is_the_same_with_and_without_numba() -> None:
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    robots = [body("a", footprint=RECT), body("b"), body("c", footprint=[[-0.3, -0.3], [0.6, 0.0], [-0.3, 0.3]])]
    starts = [(2.0, 2.0, 0.0), (3.6, 2.1, math.pi), (6.0, 1.0, 2.0)]
    runs = [physics(robots, starts, compiled) for compiled in (False, True)]
    for ph in runs:
        for k in range(250):
            for i in range(3):
                ph.submit(i, Command(0.7, 0.8 * math.sin(0.01 * k + i)))
            ph.step()
    assert runs[0].pose.tobytes() == runs[1].pose.tobytes()
    assert runs[0].collisions.tolist() == runs[1].collisions.tolist()
    assert sum(runs[0].collisions.tolist()) > 0  # they did meet something


@pytest.mark.parametrize("compiled", COMPILED)
def test_robot_pairs_use_the_footprints(compiled: bool) -> None:
    # A rectangle's front face at x = 2.5; a disc of 0.3 at 2.75 is clear, at 2.7 it overlaps.
    for x, hit in ((2.85, False), (2.75, True)):
        ph = physics([body("a", footprint=RECT), body("b")], [(2.0, 2.0, 0.0), (x, 2.0, 0.0)], compiled)
        assert (ph.check_collisions(ph.pose)[1] == [(0, 1)]) == hit, x
    # Two rectangles side by side (0.6 m wide): 0.61 m apart clear, 0.59 m apart overlapping.
    for dy, hit in ((0.61, False), (0.59, True)):
        ph = physics([body("a", footprint=RECT), body("b", footprint=RECT)], [(3.0, 2.0, 0.0), (3.0, 2.0 + dy, 0.0)],
                     compiled)
        assert (ph.check_collisions(ph.pose)[1] == [(0, 1)]) == hit, dy


def test_polygon_tests_on_simple_shapes() -> None:
    square = to_world(np.array(RECT), 0.0, 0.0, 0.0)
    assert polygon_hits_disc(square, 0.0, 0.0, 0.01)  # centre inside
    assert polygon_hits_disc(square, 0.75, 0.0, 0.3) and not polygon_hits_disc(square, 0.8, 0.0, 0.3)
    assert polygons_overlap(square, to_world(np.array(RECT), 0.2, 0.1, 1.0))
    assert not polygons_overlap(square, to_world(np.array(RECT), 1.0, 0.0, 0.0))  # edge to edge: touching only
    assert polygons_overlap(square, to_world(np.array(RECT), 1.0, 0.0, 0.0), grow=1e-3)


def test_the_lidar_sees_another_robots_footprint() -> None:
    """Robot b (a 1.0 m long rectangle) centred 3 m ahead of a's lidar: the beam ahead reads 2.5 m (its rear
    face), not b's bounding disc (2.42 m) nor its radius (2.7 m); b does not see its own outline."""
    ph = physics([body("a"), body("b", radius=0.3, footprint=RECT)], [(2.0, 2.0, 0.0), (5.0, 2.0, 0.0)], False)
    snap = ph.snapshot
    ranges = ph.static.cast_scans(snap, np.array([0, 1]), np.array([0.0, math.pi]), 20.0, 0.0)
    assert ranges[0, 0] == pytest.approx(2.5, abs=1e-12)
    assert ranges[1, 0] == pytest.approx(10.0 - 5.0, abs=1e-12)  # b's beam ahead: the wall, not itself
    assert ranges[1, 1] == pytest.approx(3.0 - 0.3, abs=1e-12)  # b's beam back: a's disc


# ---------------------------------------------------------------------------------------------- mounts
def lidar_at(mount: tuple[float, float, float], static: StaticMap) -> Any:
    from sensors.lidar import Lidar, LidarParams

    info = RobotInfo(0, "r", 0.3, 1.0, 1.0, 2.0, 0.4, (2.0, 2.0, 0.0))
    sensor = Lidar("lidar", info, LidarParams(beams=4, noise_std=0.0, range_max=20.0, range_min=0.0),
                   np.random.default_rng(0), static)
    sensor.mount = mount
    return sensor


def test_a_lidar_mounted_half_a_metre_forward_reads_half_a_metre_less_to_a_wall_ahead() -> None:
    static = world()
    ph = Physics(static, Bodies.from_robots([body("r")]), np.array([[2.0, 2.0, 0.0]]), 0.01)
    centred = lidar_at((0.0, 0.0, 0.0), static).sample(ph.snapshot)
    forward = lidar_at((0.5, 0.0, 0.0), static).sample(ph.snapshot)
    # Beams -pi, -pi/2, 0, pi/2 in the sensor frame: ahead is index 2 (east wall at x = 10).
    assert float(centred.ranges[2]) == pytest.approx(8.0)
    assert float(forward.ranges[2]) == pytest.approx(7.5)
    assert float(forward.ranges[0]) == pytest.approx(2.5)  # behind it: the west wall, 0.5 m further
    turned = lidar_at((0.0, 0.5, math.pi / 2), static).sample(ph.snapshot)  # on the left side, facing left
    assert float(turned.ranges[2]) == pytest.approx(4.0 - 2.5)  # its "ahead" is north: the wall at y = 4


# ---------------------------------------------------------------------------------------------- kinematics
def ackermann(base: float = 1.0, steer: float = 0.5, rate: float = 1.0) -> SimpleNamespace:
    return SimpleNamespace(type="ackermann", wheelbase=base, max_steer=steer, max_steer_rate=rate)


@pytest.mark.parametrize("compiled", COMPILED)
def test_an_ackermann_robot_turns_on_a_circle_of_radius_wheelbase_over_tan_steer(compiled: bool) -> None:
    """Full lock (the command asks more than max_steer): the path is a circle of R = L / tan(delta)."""
    big = world((200.0, 200.0))
    ph = physics([body("car", kinematics=ackermann(1.0, 0.5))], [(100.0, 100.0, 0.0)], compiled, big)
    for _ in range(300):  # 3 s: up to speed, steering at its stop
        ph.submit(0, Command(0.5, 2.0))
        ph.step()
    assert ph.steer[0] == pytest.approx(0.5)
    pts = []
    for _ in range(3):
        for _ in range(200):
            ph.submit(0, Command(0.5, 2.0))
            ph.step()
        pts.append(ph.pose[0, :2].copy())
    a, b, c = (np.linalg.norm(pts[i] - pts[j]) for i, j in ((0, 1), (1, 2), (0, 2)))
    (ux, uy), (vx, vy) = (pts[1] - pts[0]).tolist(), (pts[2] - pts[0]).tolist()
    area = abs(ux * vy - uy * vx) / 2
    radius = a * b * c / (4 * area)  # the circle through three points of the path
    assert radius == pytest.approx(1.0 / math.tan(0.5), rel=1e-9)
    assert ph.velocity[0, 1] == pytest.approx(0.5 * math.tan(0.5) / 1.0)


@pytest.mark.parametrize("compiled", COMPILED)
def test_an_ackermann_robot_does_not_turn_in_place_and_steers_at_its_rate(compiled: bool) -> None:
    ph = physics([body("car", kinematics=ackermann(1.0, 0.5, rate=1.0))], [(5.0, 2.0, 0.3)], compiled)
    for _ in range(100):
        ph.submit(0, Command(0.0, 1.5))  # spin in place: a car cannot
        ph.step()
    assert ph.pose[0].tolist() == pytest.approx([5.0, 2.0, 0.3], abs=1e-15)
    ph.submit(0, Command(0.5, 1.0))
    ph.step()
    assert ph.steer[0] == pytest.approx(0.01)  # 1 rad/s x one 10 ms step, towards atan(1.0 * 1.0 / v)


# ---------------------------------------------------------------------------------------------- scenarios
SCENARIO = """
world: {{size: [10, 4], walls: [[[6, 0], [6, 1]]]}}
robots:
  - name: r1
    start: [2, 2, 0]
{extra}
    sensors: [{{type: odometry}}, {{type: lidar{mount}}}]
    controller: {{type: {controller}, waypoints: [[8, 2]]}}
"""


def scenario(extra: str = "", controller: str = "waypoint", mount: str = "") -> Any:
    return parse_scenario(SCENARIO.format(extra=extra, controller=controller, mount=mount))


@pytest.mark.parametrize("extra, needle", [
    ("    footprint: [[0, 0], [1, 1], [1, 0], [0, 1]]", "footprint of robot 'r1' self-intersects"),
    ("    footprint: [[0, 0], [1, 0]]", "footprint of robot 'r1' needs at least 3 points, got 2"),
    ("    footprint: [[0, 0], [1, 0], [2, 0]]", "footprint of robot 'r1' has zero area"),
    ("    footprint: {length: 5, width: 0.5}", "with its footprint is not inside the map"),
    ("    footprint: {length: 1, width: 0.5, offset: [4.0, -1.0]}", "with its footprint overlaps a wall"),
    ("    kinematics: {type: ackermann}", "ackermann needs 'wheelbase'"),
    ("    kinematics: {type: diff_drive, wheelbase: 1}", "'wheelbase' only applies to ackermann"),
])
def test_bad_geometry_is_one_located_error(extra: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(extra)
    text = str(exc.value)
    assert needle in text and "\n" not in text, text
    assert "robots[0]" in text and ":" in text.split(" ")[0], text  # <file>:line:col: robots[0]...


def test_a_controller_that_cannot_steer_a_car_is_refused_at_load() -> None:
    kin = "    kinematics: {type: ackermann, wheelbase: 1.2, max_steer: 0.6}"
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(SCENARIO.format(extra=kin, controller="warehouse", mount="").replace(
            ", waypoints: [[8, 2]]", ""))
    assert exc.value.field == "robots[0].kinematics"
    assert "controller 'warehouse' of robot 'r1' cannot drive ackermann kinematics" in str(exc.value)
    sc = scenario(kin)  # waypoint can
    assert sc.robots[0].kinematics.min_turn_radius == pytest.approx(1.2 / math.tan(0.6))


def test_footprint_forms_mounts_and_the_default_radius() -> None:
    sc = scenario("    footprint: {length: 1.0, width: 0.6, offset: [0.2, 0]}", mount=", mount: [0.5, 0, 0.1]")
    robot = sc.robots[0]
    assert robot.footprint_polygon().tolist() == [[-0.3, -0.3], [0.7, -0.3], [0.7, 0.3], [-0.3, 0.3]]
    assert robot.radius == pytest.approx(math.hypot(0.7, 0.3))  # circumscribed about base_link
    assert robot.sensors[1].mount == (0.5, 0.0, 0.1)
    given = scenario("    radius: 0.4\n    footprint: [[-0.5, -0.3], [0.5, -0.3], [0.5, 0.3], [-0.5, 0.3]]")
    assert given.robots[0].radius == 0.4
    assert scenario().robots[0].footprint_polygon() is None  # no footprint: a disc, as before


def test_the_cli_says_a_bad_footprint_in_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.format(extra="    footprint: [[0, 0], [1, 1], [1, 0], [0, 1]]", controller="waypoint",
                                    mount=""))
    assert main([str(path), "--headless", "--clock", "virtual", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:6" in err and "robots[0].footprint" in err, err


# ---------------------------------------------------------------------------------------------- the view
VIEW_SCENARIO = """\
name: shapes-view
world: {size: [20.0, 12.0]}
run: {duration: 30.0, seed: 3}
robots:
  - name: tug
    start: [10.0, 6.0, 0.0]
    radius: 0.3
    footprint: {length: 2.0, width: 0.8, offset: [0.5, 0.0]}
    sensors:
      - {type: lidar, rate_hz: 10, beams: 90, range_max: 15.0, noise_std: 0.0, mount: [1.4, 0.0, 0.0]}
    controller: {type: waypoint, waypoints: [[15.0, 6.0]]}
"""


def test_the_view_draws_the_footprint_and_the_scan_from_the_mount(tmp_path: Path) -> None:
    import pygame

    from sim.core.clock import RealClock
    from sim.runtime.run import Run
    from sim.scenario.load import load_scenario
    from sim.view import theme
    from sim.view.app import ViewApp

    path = tmp_path / "shapes.yaml"
    path.write_text(VIEW_SCENARIO)
    scenario = load_scenario(path)
    clock = RealClock(1.0)
    clock.pause()  # the world holds still at t = 0: one sample of each sensor, then nothing
    run = Run(scenario, tmp_path / "out", clock=clock)
    run.start()
    try:
        rt = run.sensors[0]
        assert rt.sensor.mount == (1.4, 0.0, 0.0)
        for _ in range(2000):
            if rt.last is not None:
                break
            pygame.time.wait(5)
        app = ViewApp(run, window=(1000, 640))
        try:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_h, unicode="h", mod=0, scancode=0))
            for event in pygame.event.get():
                app.handle(event)  # no HUD over the map
            app.frame()
            surf = pygame.display.get_surface()
            cam = app.camera
            body = theme.HEALTH[app.telemetry.health[0]]
            near_nose = cam.to_screen(11.3, 6.3)  # inside the footprint, far outside the 0.3 m disc
            assert tuple(surf.get_at(tuple(round(v) for v in near_nose)))[:3] == body
            outside = cam.to_screen(11.3, 6.6)  # beside it (the body is 0.8 m wide)
            assert tuple(surf.get_at(tuple(round(v) for v in outside)))[:3] != body
            scan = rt.last.data
            ahead = int(np.argmin(np.abs(np.asarray(scan.angles))))
            assert float(scan.ranges[ahead]) == pytest.approx(20.0 - 11.4, abs=1e-4)  # from the mount
            ox = 11.4  # the mount, 1.4 m ahead of base_link at x = 10
            hits = [(ox + r * math.cos(a), 6.0 + r * math.sin(a))
                    for a, r in zip(scan.angles, scan.ranges, strict=True) if math.isfinite(r)]
            on_dot = sum(tuple(surf.get_at(tuple(round(v) for v in cam.to_screen(hx, hy))))[:3] == theme.RAY_HIT
                         for hx, hy in hits)
            assert on_dot >= 0.8 * len(hits)
        finally:
            app.close()
    finally:
        run.stop()


def test_the_waypoint_controller_drives_an_ackermann_robot_round_to_a_goal_behind_it() -> None:
    """Closed loop, true pose as localization: the goal starts behind the car, which cannot turn in
    place; it drives on, steering round at its tightest circle, and reaches the goal."""
    from controllers.waypoint import WaypointController, WaypointParams
    from sim.interfaces.controller import Inputs
    from sim.interfaces.messages import Reading

    base, steer = 1.0, 0.6
    ph = physics([body("car", kinematics=ackermann(base, steer, rate=2.0))], [(10.0, 10.0, 0.0)], False,
                 world((20.0, 20.0)))
    info = RobotInfo(0, "car", 0.3, 1.0, 2.0, 2.0, 0.4, (10.0, 10.0, 0.0), "ackermann", base / math.tan(steer))
    ctl = WaypointController(WaypointParams(waypoints=[(7.0, 10.0)], loop=False), info, ph.static,
                             {"loc": "localization"}, np.random.default_rng(0))
    spun_in_place = 0
    for k in range(3000):  # 30 s at 100 Hz, a command every 5 steps (20 Hz)
        if k % 5 == 0:
            now = k * 0.01
            reading = Reading("car", "loc", k, now, now, ph.pose[0].copy())
            v, w = ctl.compute(Inputs(now, {"loc": reading}, {"loc": True}))
            spun_in_place += v == 0.0 and w != 0.0
            ph.submit(0, Command(v, w))
        ph.step()
        if ctl.reached:
            break
    assert ctl.reached == 1
    assert spun_in_place == 0
    assert abs(ph.steer[0]) <= steer
