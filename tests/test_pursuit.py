"""Pure pursuit on a simulated accel-limited unicycle, and lidar avoidance on analytic scans.

The plant here is deliberately independent of sim/world/physics.py so these tests pin
the controller's behaviour, not the simulator's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from controllers.pursuit import PurePursuit, avoid
from sim.common.geometry import point_segment_distance

DT = 0.05  # s, the controller period
MAX_ACCEL = 1.0  # m/s^2
MAX_YAW_ACCEL = 4.0  # rad/s^2


def run(
    pp: PurePursuit, path: np.ndarray, pose: tuple[float, float, float], t_max: float = 60.0
) -> tuple[np.ndarray, list[tuple[float, float, bool]], list[float], bool]:
    """Drive a unicycle with acceleration limits; returns trajectory, commands, progress, done."""
    pp.set_path(path)
    x, y, th = pose
    v = w = 0.0
    traj = [(x, y, th)]
    cmds: list[tuple[float, float, bool]] = []
    progress: list[float] = []
    done = False
    for _ in range(int(t_max / DT)):
        vc, wc, done = pp.step((x, y, th))
        cmds.append((vc, wc, done))
        progress.append(pp.progress)
        if done:
            break
        v += float(np.clip(vc - v, -MAX_ACCEL * DT, MAX_ACCEL * DT))
        w += float(np.clip(wc - w, -MAX_YAW_ACCEL * DT, MAX_YAW_ACCEL * DT))
        x += v * math.cos(th) * DT
        y += v * math.sin(th) * DT
        th += w * DT
        traj.append((x, y, th))
    return np.array(traj), cmds, progress, done


def polyline_segments(path: np.ndarray) -> np.ndarray:
    return np.hstack([path[:-1], path[1:]])


def cross_track(traj: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance from every trajectory position to the path polyline."""
    return point_segment_distance(traj[:, :2], polyline_segments(path)).min(axis=1)


L_PATH = np.array([[0.0, 0.0], [6.0, 0.0], [6.0, 5.0]])
_xs = np.linspace(0.0, 10.0, 101)
S_PATH = np.column_stack([_xs, 1.2 * np.sin(2.0 * np.pi * _xs / 10.0)])  # left bend, then right


@pytest.mark.parametrize("name,path", [("L", L_PATH), ("S", S_PATH)])
def test_follows_path_to_goal(name: str, path: np.ndarray) -> None:
    pp = PurePursuit(lookahead=0.6, cruise_speed=0.8, max_yaw_rate=1.5, goal_tolerance=0.1, slow_radius=1.0)
    heading = math.atan2(path[1, 1] - path[0, 1], path[1, 0] - path[0, 0])
    traj, cmds, progress, done = run(pp, path, (path[0, 0], path[0, 1], heading))
    assert done, f"{name}: not done after {len(cmds) * DT:.1f} s"
    end = traj[-1, :2]
    assert np.hypot(*(end - path[-1])) <= pp.goal_tolerance
    assert cross_track(traj, path).max() < 0.3
    assert all(0.0 <= v <= pp.cruise_speed and abs(w) <= pp.max_yaw_rate for v, w, _ in cmds)
    assert np.all(np.diff(progress) >= 0.0)
    assert progress[-1] == pytest.approx(pp.path_length, abs=pp.lookahead)
    # Done is sticky until a new path is set.
    assert pp.step(tuple(traj[-1])) == (0.0, 0.0, True)


def test_starts_from_an_offset_pose_and_converges() -> None:
    pp = PurePursuit()
    traj, _, _, done = run(pp, L_PATH, (0.0, 0.5, 0.0))
    assert done
    assert cross_track(traj[len(traj) // 2 :], L_PATH).max() < 0.3


def test_turns_in_place_when_path_is_behind() -> None:
    pp = PurePursuit()
    traj, cmds, _, done = run(pp, L_PATH, (0.0, 0.0, math.pi))  # facing away from the path
    assert cmds[0][0] == 0.0 and abs(cmds[0][1]) > 0.0
    first_drive = next(i for i, (v, _, _) in enumerate(cmds) if v > 0.0)
    heading = traj[first_drive, 2]
    assert abs(math.remainder(heading, 2 * math.pi)) < pp.rotate_angle  # turned first
    assert np.hypot(*(traj[first_drive, :2] - L_PATH[0])) < 0.05  # ... on the spot
    assert done
    assert cross_track(traj, L_PATH).max() < 0.3


def test_progress_does_not_jump_across_a_hairpin() -> None:
    # Out and back 0.8 m apart: the return leg passes close to the start of the path.
    path = np.array([[0.0, 0.0], [5.0, 0.0], [5.0, 0.8], [0.0, 0.8]])
    pp = PurePursuit(lookahead=0.5)
    traj, _, progress, done = run(pp, path, (0.0, 0.0, 0.0))
    assert done
    assert np.all(np.diff(progress) >= 0.0)
    assert np.hypot(*(traj[-1, :2] - path[-1])) <= pp.goal_tolerance


def test_single_point_path_and_no_path() -> None:
    pp = PurePursuit()
    assert pp.step((0.0, 0.0, 0.0)) == (0.0, 0.0, True)  # nothing to follow
    traj, _, _, done = run(pp, np.array([[1.0, 0.0]]), (0.0, 0.0, 0.0))
    assert done
    assert np.hypot(*(traj[-1, :2] - [1.0, 0.0])) <= pp.goal_tolerance
    with pytest.raises(ValueError):
        pp.set_path([])


# -- avoid() -----------------------------------------------------------------------------

RADIUS = 0.3
STOP = 0.4  # m of free space beyond the body
SLOW = 1.2
ANGLES = np.linspace(-math.pi, math.pi, 720, endpoint=False)


def scan_of(segments: np.ndarray, angles: np.ndarray = ANGLES, max_range: float = 10.0) -> np.ndarray:
    """Exact ray/segment intersection from the origin: the range each beam would return (inf if none)."""
    seg = np.atleast_2d(np.asarray(segments, dtype=float))
    d = np.column_stack([np.cos(angles), np.sin(angles)])  # (K, 2) ray directions
    a, e = seg[:, 0:2], seg[:, 2:4] - seg[:, 0:2]  # (S, 2)
    # Solve t*d = a + u*e for t >= 0, u in [0, 1] with 2-D cross products.
    denom = d[:, None, 0] * e[None, :, 1] - d[:, None, 1] * e[None, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a[None, :, 0] * e[None, :, 1] - a[None, :, 1] * e[None, :, 0]) / denom
        u = (a[None, :, 0] * d[:, None, 1] - a[None, :, 1] * d[:, None, 0]) / denom
    hit = (denom != 0) & (t > 0) & (u >= 0) & (u <= 1)
    r = np.where(hit, t, np.inf).min(axis=1)
    return np.where(r <= max_range, r, np.inf)


def wall_ahead(gap: float, half_width: float = 1.0) -> np.ndarray:
    """A wall across the path whose surface is ``gap`` metres beyond the robot's front."""
    x = RADIUS + gap
    return np.array([[x, -half_width, x, half_width]])


def test_avoid_stops_at_stop_distance() -> None:
    for gap in (STOP, 0.5 * STOP, 0.01):
        v, w, state = avoid(0.8, 0.3, scan_of(wall_ahead(gap)), ANGLES, RADIUS, STOP, SLOW)
        assert (v, w, state) == (0.0, 0.0, "stop"), gap


def test_avoid_scales_linearly_in_between() -> None:
    for frac in (0.25, 0.5, 0.75):
        gap = STOP + frac * (SLOW - STOP)
        v, w, state = avoid(0.8, 0.3, scan_of(wall_ahead(gap)), ANGLES, RADIUS, STOP, SLOW)
        assert state == "slow"
        assert v == pytest.approx(0.8 * frac, abs=1e-9)
        assert w == pytest.approx(0.3 * frac, abs=1e-9)  # same arc, only slower


def test_avoid_unchanged_when_clear() -> None:
    assert avoid(0.8, 0.3, scan_of(wall_ahead(SLOW + 0.1)), ANGLES, RADIUS, STOP, SLOW) == (0.8, 0.3, "clear")
    assert avoid(0.8, 0.3, np.full(len(ANGLES), np.inf), ANGLES, RADIUS, STOP, SLOW) == (0.8, 0.3, "clear")


def test_avoid_ignores_obstacle_off_to_the_side() -> None:
    # A wall parallel to the heading, 0.6 m to the left (outside the 0.4 m corridor half-width),
    # plus a box behind the robot.
    side = np.array([[0.1, 0.6, 3.0, 0.6], [-1.0, -0.2, -1.0, 0.2]])
    ranges = scan_of(side)
    assert np.isfinite(ranges).sum() > 10  # the scan does see them
    assert avoid(0.8, 0.3, ranges, ANGLES, RADIUS, STOP, SLOW) == (0.8, 0.3, "clear")
    # The same wall inside the corridor slows the robot.
    inside = scan_of(np.array([[0.9, 0.35, 3.0, 0.35]]))
    assert avoid(0.8, 0.3, inside, ANGLES, RADIUS, STOP, SLOW)[2] == "slow"


def test_avoid_lets_turning_in_place_through() -> None:
    ranges = scan_of(wall_ahead(0.05))
    assert avoid(0.0, 1.0, ranges, ANGLES, RADIUS, STOP, SLOW) == (0.0, 1.0, "stop")


def test_avoid_float32_scan_with_nan() -> None:
    ranges = scan_of(wall_ahead(0.8), ANGLES).astype(np.float32)
    ranges[::7] = np.nan
    ranges[1::7] = 0.0
    v, _, state = avoid(0.8, 0.0, ranges, ANGLES, RADIUS, STOP, SLOW)
    assert state == "slow" and 0.0 < v < 0.8


def test_avoid_caches_trig_only_for_read_only_angles() -> None:
    from controllers.avoidance import _TRIG

    _TRIG.clear()
    angles = np.linspace(-np.pi, np.pi, 90, endpoint=False)
    frozen = angles.copy()
    frozen.flags.writeable = False
    ranges = np.full(90, 0.5)
    assert avoid(1.0, 0.0, ranges, frozen, 0.3, 0.4, 1.2) == avoid(1.0, 0.0, ranges, angles, 0.3, 0.4, 1.2)
    assert id(frozen) in _TRIG and id(angles) not in _TRIG
    cached = _TRIG[id(frozen)]
    assert cached[0] is frozen and np.array_equal(cached[1], np.cos(angles))
