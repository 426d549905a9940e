"""Contacts (sim.world.contact): a robot touching something turns and slides, and a contact is one collision.

Every test drives ``Physics.step`` directly (no threads, no clock) on both physics paths,
compiled (numba) and numpy, which must give bitwise-identical states.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from sim.scenario.models import World
from sim.world.contact import CONTACT_GAP, SKIN, slide
from sim.world.kernels import HAVE_NUMBA, collide
from sim.world.model import Bodies, StaticMap
from sim.world.physics import Command, Physics

PATHS = [False, True] if HAVE_NUMBA else [False]
R = 0.3


def make(starts: list[tuple[float, float, float]], *, walls: list = (), rects: list = (), compiled: bool = False,
         size: float = 10.0) -> Physics:
    world = World.model_validate({"size": [size, size], "walls": list(walls),
                                  "obstacles": [{"kind": "pillar", "rect": list(r)} for r in rects]})
    robots = [SimpleNamespace(name=f"r{i}", radius=R, max_speed=1.0, max_accel=10.0, max_yaw_rate=2.0,
                              max_yaw_accel=20.0, wheel_base=0.4) for i in range(len(starts))]
    p = Physics(StaticMap.from_scenario(world), Bodies.from_robots(robots), np.array(starts, float), 0.01)
    p.compiled = compiled
    return p


def drive(p: Physics, seconds: float, *commands: tuple[float, float]) -> None:
    """Hold each robot's command for ``seconds``, checking that nothing ever overlaps."""
    for _ in range(round(seconds / p.step_size)):
        for i, (v, w) in enumerate(commands):
            p.submit(i, Command(v, w))
        p.step()
        static, pairs = collide(p.static.segment_map, p.pose[:, :2], p.bodies.radius, compiled=False)
        assert not static.any() and not pairs, f"overlap at step {p.steps}"


@pytest.mark.parametrize("compiled", PATHS)
def test_a_robot_at_a_pillar_corner_turns_and_slides_off_it(compiled: bool) -> None:
    # Pillar [5, 5.4]^2; the robot drives north-east straight at its lower-left corner.
    p = make([(4.0, 4.0, math.pi / 4)], rects=[(5.0, 5.0, 0.4, 0.4)], compiled=compiled)
    drive(p, 3.0, (0.5, 0.0))
    x, y, th = p.pose[0]
    assert math.hypot(5.0 - x, 5.0 - y) == pytest.approx(R, abs=1e-6)  # touching the corner
    assert th == pytest.approx(math.pi / 4) and p.velocity[0, 0] == 0.0
    assert p.collisions.tolist() == [1] and p.contact.tolist() == [True]
    drive(p, 1.0, (0.0, 1.0))  # turn in place while touching: the heading changes
    assert p.pose[0, 2] == pytest.approx(math.pi / 4 + 0.98, abs=0.005)  # 1 rad/s for 1 s, less the ramp
    drive(p, 2.0, (0.3, 0.5))  # forward and turning, as a path follower does: it gets away
    assert math.hypot(p.pose[0, 0] - x, p.pose[0, 1] - y) > 0.3
    assert p.odometer[0] > 0.0
    assert p.collisions.tolist() == [1]  # one contact, however long it lasted
    assert [(who, what) for _, who, what in p.collision_log] == [("r0", "static map")]


@pytest.mark.parametrize("compiled", PATHS)
def test_driving_diagonally_into_a_wall_slides_along_it(compiled: bool) -> None:
    p = make([(4.0, 2.0, math.pi / 4)], walls=[[[5.0, 0.0], [5.0, 10.0]]], compiled=compiled)
    drive(p, 5.0, (0.5, 0.0))
    x, y, _ = p.pose[0]
    assert x == pytest.approx(5.0 - R - SKIN, abs=1e-9)  # against the wall
    # it reached the wall after ~1 m of travel (y ~ 2.7) and kept sliding north since
    assert y > 3.5
    assert p.velocity[0, 0] == 0.5  # grazing a wall does not slow the wheels
    assert p.collisions.tolist() == [1]


@pytest.mark.parametrize("compiled", PATHS)
def test_driving_straight_into_a_wall_stops_touching_it(compiled: bool) -> None:
    p = make([(4.0, 2.0, 0.0)], walls=[[[5.0, 0.0], [5.0, 10.0]]], compiled=compiled)
    drive(p, 4.0, (0.5, 0.0))
    assert p.pose[0].tolist() == pytest.approx([5.0 - R, 2.0, 0.0], abs=1e-8)
    assert p.velocity[0].tolist() == [0.0, 0.0]
    odo = p.odometer[0]
    drive(p, 1.0, (0.5, 0.0))  # pushing on: no motion, no distance, the same contact
    assert p.odometer[0] == odo and p.collisions.tolist() == [1]


@pytest.mark.parametrize("compiled", PATHS)
def test_a_collision_counts_once_per_contact_and_again_after_separating(compiled: bool) -> None:
    p = make([(4.0, 2.0, 0.0)], walls=[[[5.0, 0.0], [5.0, 10.0]]], compiled=compiled)
    drive(p, 3.0, (0.5, 0.0))
    assert p.collisions.tolist() == [1]
    drive(p, 0.2, (0.0, 0.0))  # standing still while touching: still in contact
    assert p.contact.tolist() == [True]
    drive(p, 0.5, (-0.3, 0.0))  # backing away more than CONTACT_GAP ends it
    assert p.contact.tolist() == [False] and 5.0 - R - p.pose[0, 0] > CONTACT_GAP
    drive(p, 2.0, (0.5, 0.0))  # and touching again is a new one
    assert p.collisions.tolist() == [2]
    assert [t for t, _, _ in p.collision_log] == sorted(t for t, _, _ in p.collision_log)


@pytest.mark.parametrize("compiled", PATHS)
def test_robots_meeting_head_on_touch_once_each_and_can_turn_away(compiled: bool) -> None:
    p = make([(3.0, 5.0, 0.0), (6.0, 5.0, math.pi)], compiled=compiled)
    drive(p, 4.0, (0.5, 0.0), (0.5, 0.0))
    gap = math.hypot(*(p.pose[0, :2] - p.pose[1, :2])) - 2 * R
    assert 0.0 <= gap < CONTACT_GAP
    assert p.collisions.tolist() == [1, 1]
    assert sorted(w for _, _, w in p.collision_log) == ["r0", "r1"]
    drive(p, 3.0, (0.3, 1.0), (0.0, 0.0))  # r0 turns while pushing: slides round r1 and leaves
    assert math.hypot(*(p.pose[0, :2] - p.pose[1, :2])) - 2 * R > CONTACT_GAP
    assert p.collisions.tolist() == [1, 1]


@pytest.mark.parametrize("compiled", PATHS)
def test_a_robot_pushing_sideways_past_a_standing_one_slides(compiled: bool) -> None:
    # r0 drives east along y = 5.0; r1 stands a bit north of its line: a glancing contact.
    p = make([(2.0, 5.0, 0.0), (4.0, 5.4, 0.0)], compiled=compiled)
    drive(p, 8.0, (0.5, 0.0), (0.0, 0.0))
    assert p.pose[0, 0] > 5.5  # got past, sliding round r1 (south of it)
    assert p.pose[0, 1] == pytest.approx(5.4 - 2 * R, abs=1e-6)
    assert p.pose[1].tolist() == [4.0, 5.4, 0.0]  # the standing robot is not pushed
    assert p.collisions.tolist() == [1, 1]


def test_a_crowd_never_overlaps_and_both_paths_agree_bitwise() -> None:
    rng = np.random.default_rng(3)
    starts = [(1.0 + 1.0 * (k % 8), 1.0 + 1.0 * (k // 8), rng.uniform(-3, 3)) for k in range(40)]
    runs = [make(starts, rects=[(3.3, 3.3, 0.4, 0.4), (6.2, 2.2, 1.0, 0.3)], compiled=c) for c in PATHS]
    commands = [(rng.uniform(-0.2, 1.0), rng.uniform(-2, 2)) for _ in starts]
    for _ in range(4):
        for p in runs:
            drive(p, 1.0, *commands)
        commands = [(rng.uniform(-0.2, 1.0), rng.uniform(-2, 2)) for _ in starts]
    others = {what for _, _, what in runs[0].collision_log}
    assert "static map" in others and len(others) > 5  # walls, pillars and many robot pairs
    for a in runs[1:]:
        b = runs[0]
        assert np.array_equal(a.pose, b.pose) and np.array_equal(a.velocity, b.velocity)
        assert np.array_equal(a.odometer, b.odometer) and np.array_equal(a.collisions, b.collisions)
        assert a.collision_log == b.collision_log


def test_slide_keeps_the_old_place_when_a_push_would_cross_a_wall() -> None:
    # A thin wall along y = 0; the step would put the centre past it: no tunnelling by push-out.
    wall = [(-1, -5.0, 0.0, 5.0, 0.0, R)]
    assert slide(0.0, 0.5, 0.0, -0.1, wall)[:2] == (0.0, 0.5)
    x, y, touched = slide(0.0, 0.5, 0.2, 0.1, wall)  # into it at a slant: slides
    assert (x, y) == pytest.approx((0.2, R)) and touched == [-1]
    assert slide(0.0, 0.5, 0.2, 0.6, wall) == (0.2, 0.6, [])


def test_the_candidate_bound_misses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking only within ``_reach`` of a robot gives what looking at everything gives."""
    from sim.world import contact

    rng = np.random.default_rng(8)
    starts = [(1.0 + 1.0 * (k % 8), 1.0 + 1.0 * (k // 8), rng.uniform(-3, 3)) for k in range(40)]
    commands = [(rng.uniform(0.5, 1.0), rng.uniform(-2, 2)) for _ in starts]
    bounded = make(starts, rects=[(3.3, 3.3, 0.4, 0.4)])
    drive(bounded, 3.0, *commands)
    monkeypatch.setattr(contact, "_reach", lambda *a: 1e6)
    everything = make(starts, rects=[(3.3, 3.3, 0.4, 0.4)])
    drive(everything, 3.0, *commands)
    assert bounded.collisions.sum() > 10
    assert np.array_equal(bounded.pose, everything.pose) and bounded.collision_log == everything.collision_log
