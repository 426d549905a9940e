"""The warehouse and waypoint controllers' fast paths give the same bits as the numpy code they replaced.

Each reference below is the code as it was before the fast path (numpy on every
point, ``np.einsum`` projection, ``min`` over the odometry history, the waypoint
controller's numpy pose, ``wrap_angle`` and ``avoid``); the compiled kernels
(when numba is installed) and the numpy fallbacks must match it bit for bit, so
a run is byte-identical with or without numba.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

from controllers import kernels, waypoint
from controllers.avoidance import arc_gap, beam_trig, clearance, off_map, scan_points
from controllers.base import Inputs
from controllers.posefuse import PoseFuser, _compose
from controllers.pursuit import PurePursuit, avoid, corridor_ahead
from controllers.waypoint import WaypointController, WaypointParams
from sensors.base import Reading, RobotInfo
from sensors.lidar import LaserScan
from sim.common.geometry import wrap_angle
from sim.scenario.models import World
from sim.world.model import StaticMap

PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba missing"))]


def same(a: object, b: object) -> bool:
    """Bitwise equal (also the sign of zero), shapes included."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def random_points(rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """Points all round the robot, a third of them close (in the bands that matter)."""
    far = rng.uniform(-6.0, 6.0, (n - n // 3, 2))
    near = rng.uniform(-1.5, 1.5, (n // 3, 2))
    return np.vstack([far, near])


# ---------------------------------------------------------------------- references (the old code)
def scan_points_ref(scan: LaserScan) -> np.ndarray:
    r = np.asarray(scan.ranges, dtype=float)
    a = np.asarray(scan.angles, dtype=float)
    ok = np.isfinite(r) & (r > 0.0)
    r, a = r[ok], a[ok]
    return np.column_stack([r * np.cos(a), r * np.sin(a)])


def arc_gap_ref(points: np.ndarray, v: float, w: float, radius: float, side: float, horizon: float) -> float:
    if v <= 0.0 or len(points) == 0:
        return math.inf
    half = radius + side
    x, y = points[:, 0], points[:, 1]
    k = w / v
    if abs(k) * horizon < 1e-3:
        hit = (x > 0.0) & (np.abs(y) < half) & (x < horizon + radius)
        along = x[hit]
    else:
        rc = 1.0 / abs(k)
        cy = 1.0 / k
        dist = np.hypot(x, y - cy)
        ang = np.mod(np.arctan2(abs(cy) * x, -cy * (y - cy)), 2.0 * math.pi)
        s = rc * ang
        hit = (np.abs(dist - rc) < half) & (ang < math.pi) & (s < horizon + radius) & (x > -radius)
        along = s[hit]
    if along.size == 0:
        return math.inf
    return max(float(along.min()) - radius, 0.0)


def clearance_ref(points: np.ndarray, radius: float) -> float:
    near = points[points[:, 0] > -radius] if len(points) else points
    return float(np.hypot(near[:, 0], near[:, 1]).min()) - radius if len(near) else math.inf


class PursuitRef(PurePursuit):
    """The old numpy projection and carrot, on arrays kept next to the new lists."""

    def set_path(self, points) -> None:  # type: ignore[no-untyped-def]
        super().set_path(points)
        segs = np.array(self._segs).reshape(-1, 5)
        self._a, self._d, self._ln = segs[:, :2], segs[:, 2:4], segs[:, 4]
        self._cum_a = np.array(self._cum)

    def _point_at(self, s: float) -> tuple[float, float]:
        if len(self._ln) == 0:
            return self._goal
        i = int(np.clip(np.searchsorted(self._cum_a, s, side="right") - 1, 0, len(self._ln) - 1))
        t = min(max((s - self._cum_a[i]) / self._ln[i], 0.0), 1.0)
        p = self._a[i] + t * self._d[i]
        return float(p[0]), float(p[1])

    def _project(self, x: float, y: float) -> float:
        n = len(self._ln)
        if n == 0:
            return 0.0
        p = np.array([x, y])
        first = int(np.clip(np.searchsorted(self._cum_a, self._s, side="right") - 1, 0, n - 1))
        window = self._s + max(2.0 * self.lookahead, 1.0)
        last = int(np.clip(np.searchsorted(self._cum_a, window, side="right"), first + 1, n))
        a, d, ln = self._a[first:last], self._d[first:last], self._ln[first:last]
        t = np.clip(np.einsum("ij,ij->i", p - a, d) / (ln * ln), 0.0, 1.0)
        closest = a + t[:, None] * d
        dist2 = np.einsum("ij,ij->i", p - closest, p - closest)
        k = int(np.argmin(dist2))
        return float(self._cum_a[first + k] + t[k] * ln[k])


def avoid_ref(v: float, w: float, scan_ranges: np.ndarray, beam_angles: np.ndarray, robot_radius: float,
              stop_distance: float, slow_distance: float, *, margin: float = 0.1) -> tuple[float, float, str]:
    r = np.asarray(scan_ranges, dtype=float)
    cos_a, sin_a = beam_trig(beam_angles)
    valid = np.isfinite(r) & (r > 0.0)
    r = np.where(valid, r, 0.0)
    px = r * cos_a
    py = r * sin_a
    ahead = valid & (px > 0.0) & (np.abs(py) < robot_radius + margin)
    if not ahead.any():
        return v, w, "clear"
    nearest = float(px[ahead].min()) - robot_radius
    if nearest <= stop_distance:
        state = "stop"
        scale = 0.0
    elif nearest < slow_distance:
        state = "slow"
        scale = (nearest - stop_distance) / (slow_distance - stop_distance)
    else:
        return v, w, "clear"
    if v <= 0.0:
        return v, w, state
    return v * scale, w * scale, state


def corridor_ref(scan_ranges: np.ndarray, beam_angles: np.ndarray, half: float) -> float:
    """``avoid_ref``'s corridor search alone, with the corridor's half width given."""
    r = np.asarray(scan_ranges, dtype=float)
    cos_a, sin_a = beam_trig(beam_angles)
    valid = np.isfinite(r) & (r > 0.0)
    r = np.where(valid, r, 0.0)
    px = r * cos_a
    py = r * sin_a
    ahead = valid & (px > 0.0) & (np.abs(py) < half)
    return float(px[ahead].min()) if ahead.any() else math.inf


class WaypointRef(WaypointController):
    """The old compute: numpy pose, numpy ``wrap_angle``, numpy ``avoid``."""

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        p = self.params
        pose = self.pose(inputs)
        if pose is None or not self.waypoints or self.target >= len(self.waypoints):
            self._show("idle")
            return 0.0, 0.0
        gx, gy = self.waypoints[self.target]
        dx, dy = gx - pose[0], gy - pose[1]
        dist = math.hypot(dx, dy)
        if dist < p.goal_tolerance:
            self.reached += 1
            self.target += 1
            if self.target >= len(self.waypoints) and p.loop:
                self.target = 0
            self._show("reached")
            return 0.0, 0.0
        err = float(wrap_angle(math.atan2(dy, dx) - pose[2]))
        w = max(-self.robot.max_yaw_rate, min(self.robot.max_yaw_rate, p.heading_gain * err))
        speed = min(p.cruise_speed, self.robot.max_speed)
        v = 0.0 if abs(err) > p.turn_in_place else speed * math.cos(err) * min(1.0, dist)
        state = "drive"
        scan = inputs.data(self._lidar) if self._lidar else None
        if scan is not None and v > 0:
            v, w, state = avoid_ref(v, w, scan.ranges, scan.angles, self.robot.radius,
                                    p.stop_distance, p.slow_distance)
            if state == "stop" and not self._blocked:
                self.avoid_stops += 1
            self._blocked = state == "stop"
        self._show(state)
        return v, w


def compose_ref(anchor: np.ndarray, odom_then: np.ndarray, odom_now: np.ndarray) -> np.ndarray:
    dx, dy = odom_now[0] - odom_then[0], odom_now[1] - odom_then[1]
    c, s = math.cos(odom_then[2]), math.sin(odom_then[2])
    bx, by = c * dx + s * dy, -s * dx + c * dy
    ca, sa = math.cos(anchor[2]), math.sin(anchor[2])
    th = anchor[2] + (odom_now[2] - odom_then[2])
    th = (th + math.pi) % (2.0 * math.pi) - math.pi
    return np.array([anchor[0] + ca * bx - sa * by, anchor[1] + sa * bx + ca * by, th])


# ---------------------------------------------------------------------- avoidance
@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scan_points_match_reference(compiled: bool, dtype: type) -> None:
    rng = np.random.default_rng(1)
    angles = -math.pi + (2 * math.pi / 360) * np.arange(360)
    angles.flags.writeable = False  # as the lidar hands them out: trig cached
    for _ in range(20):
        r = rng.uniform(0.05, 12.0, 360)
        r[r > 10.0] = np.inf
        r[rng.random(360) < 0.05] = np.nan
        r[rng.random(360) < 0.05] = 0.0
        r[rng.random(360) < 0.02] = -1.0
        scan = LaserScan(angles, r.astype(dtype), 0.05, 10.0)
        assert same(scan_points(scan, compiled=compiled), scan_points_ref(scan))
    assert scan_points(None, compiled=compiled).shape == (0, 2)


@pytest.mark.parametrize("compiled", PATHS)
def test_off_map_matches_numpy(compiled: bool) -> None:
    rng = np.random.default_rng(2)
    occupied = rng.random((60, 80)) < 0.4
    for _ in range(50):
        pts = random_points(rng)
        pose = np.array([rng.uniform(-1.0, 9.0), rng.uniform(-1.0, 7.0), rng.uniform(-4.0, 4.0)])
        got = off_map(pts, pose, occupied, 0.1, compiled=compiled)
        want = off_map(pts, pose, occupied, 0.1, compiled=False)
        assert same(got, want) and 0 < len(got) < len(pts)
    assert off_map(np.zeros((0, 2)), pose, occupied, 0.1, compiled=compiled).shape == (0, 2)


@pytest.mark.parametrize("compiled", PATHS)
def test_arc_gap_and_clearance_match_reference(compiled: bool) -> None:
    rng = np.random.default_rng(3)
    finite = 0
    for _ in range(300):
        pts = random_points(rng)
        v = float(rng.choice([-0.2, 0.0, 0.05, 0.5, 1.2]))
        w = float(rng.choice([0.0, 1e-5, -1e-5, rng.uniform(-2.0, 2.0), rng.uniform(-0.2, 0.2)]))
        side, horizon = float(rng.uniform(0.0, 0.5)), float(rng.uniform(0.5, 5.0))
        gap = arc_gap(pts, v, w, 0.3, side, horizon, compiled=compiled)
        assert same(gap, arc_gap_ref(pts, v, w, 0.3, side, horizon))
        finite += math.isfinite(gap)
        radius = float(rng.uniform(0.0, 1.0))
        assert same(clearance(pts, radius, compiled=compiled), clearance_ref(pts, radius))
    assert finite > 100  # the bands were hit, not just empty
    behind = np.array([[-2.0, 0.0], [-1.0, 0.5]])
    assert clearance(behind, 0.3, compiled=compiled) == math.inf
    assert clearance(np.zeros((0, 2)), 0.3, compiled=compiled) == math.inf


def random_scan(rng: np.random.Generator, beams: int, dtype: type = np.float32) -> np.ndarray:
    """Ranges with no-returns (inf, nan, 0, negative) and a cluster of close returns ahead."""
    r = rng.uniform(0.05, 12.0, beams)
    r[r < 2.5] += 2.5  # mostly far ...
    r[r > 10.0] = np.inf
    r[rng.random(beams) < 0.1] = rng.uniform(0.2, 3.0)  # ... but a box somewhere (often in the corridor)
    r[rng.random(beams) < 0.03] = np.nan
    r[rng.random(beams) < 0.03] = 0.0
    r[rng.random(beams) < 0.02] = -1.0
    return r.astype(dtype)


@pytest.mark.parametrize("compiled", PATHS)
def test_avoid_matches_reference(compiled: bool) -> None:
    rng = np.random.default_rng(7)
    states: dict[str, int] = {}
    for trial in range(600):
        beams = int(rng.choice([1, 90, 360, 720]))
        angles = np.sort(rng.uniform(-math.pi, math.pi, beams)) if trial % 3 else \
            -math.pi + (2 * math.pi / beams) * np.arange(beams)
        if trial % 2:
            angles.flags.writeable = False  # cached trig
        dtype = [np.float32, np.float64][trial % 2]
        ranges = random_scan(rng, beams, dtype)
        if trial % 7 == 0:  # the odd inputs: strided, integer, a list
            ranges = [np.repeat(ranges, 2)[::2], rng.integers(-1, 4, beams),
                      ranges.tolist()][trial % 3]
        v = float(rng.choice([-0.2, 0.0, 0.3, 1.0, rng.uniform(0.0, 1.2)]))
        w = float(rng.uniform(-2.0, 2.0))
        radius, stop = float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.0, 1.0))
        slow = stop + float(rng.uniform(0.01, 2.0))
        margin = float(rng.choice([0.1, rng.uniform(0.0, 0.5)]))
        got = avoid(v, w, ranges, angles, radius, stop, slow, margin=margin, compiled=compiled)
        want = avoid_ref(v, w, ranges, angles, radius, stop, slow, margin=margin)
        assert got[2] == want[2] and same(got[:2], want[:2]), (trial, got, want)
        assert all(type(x) is float for x in got[:2])
        states[got[2]] = states.get(got[2], 0) + 1
    assert min(states.get(k, 0) for k in ("clear", "slow", "stop")) > 40, states
    with pytest.raises(ValueError):
        avoid(1.0, 0.0, np.ones(5), np.zeros(6), 0.3, 0.4, 1.2, compiled=compiled)


def test_corridor_edges_match() -> None:
    """Returns exactly on the corridor's side (``|y| == half``: out) agree between kernel and numpy."""
    rng = np.random.default_rng(10)
    angles = -math.pi + (2 * math.pi / 360) * np.arange(360)
    angles.flags.writeable = False
    cos_a, sin_a = beam_trig(angles)
    for _ in range(300):
        ranges = random_scan(rng, 360)
        r = ranges.astype(float)
        ok = np.flatnonzero(np.isfinite(r) & (r > 0.0) & (r * cos_a > 0.0))
        i = int(rng.choice(ok))
        edge = abs(r[i] * sin_a[i])
        for half in (edge, math.nextafter(edge, 0.0), math.nextafter(edge, 9.0)):
            want = corridor_ref(ranges, angles, half)
            assert same(corridor_ahead(ranges, angles, half, compiled=False), want)
            if kernels.HAVE_NUMBA:
                assert same(corridor_ahead(ranges, angles, half, compiled=True), want)


def test_wrap_angle_of_floats_matches_numpy() -> None:
    rng = np.random.default_rng(8)
    edges = [0.0, -0.0, math.pi, -math.pi, 2 * math.pi, -2 * math.pi, 3 * math.pi, math.nextafter(math.pi, 0.0),
             math.nextafter(-math.pi, 0.0), math.nextafter(-math.pi, -4.0), 1e300, -1e-320, 7.0, -7.0]
    for a in [*edges, *rng.uniform(-4 * math.pi, 4 * math.pi, 5000), *rng.normal(0.0, 1e6, 500)]:
        got = (float(a) + math.pi) % (2.0 * math.pi) - math.pi  # as WaypointController.compute
        assert same(got, float(wrap_angle(np.float64(a)))), a


def _waypoint_pair(rng: np.random.Generator, sensors: dict[str, str]) -> tuple[WaypointController, ...]:
    params = WaypointParams(
        waypoints=[tuple(rng.uniform(0.0, 10.0, 2)) for _ in range(int(rng.integers(1, 5)))],
        loop=bool(rng.random() < 0.7), cruise_speed=float(rng.uniform(0.2, 2.0)),
        goal_tolerance=float(rng.uniform(0.1, 1.5)), heading_gain=float(rng.uniform(0.5, 4.0)),
        turn_in_place=float(rng.uniform(0.3, 2.5)), stop_distance=float(rng.uniform(0.0, 0.8)),
        slow_distance=float(rng.uniform(0.9, 2.0)))
    info = RobotInfo(0, "r0", float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.5, 1.5)), 1.0,
                     float(rng.uniform(0.5, 3.0)), 0.45, (0.0, 0.0, 0.0))
    static = StaticMap.from_scenario(World.model_validate({"size": [10.0, 10.0]}))
    return tuple(cls(params, info, static, sensors, np.random.default_rng(0))
                 for cls in (WaypointController, WaypointRef))


@pytest.mark.parametrize("compiled", PATHS)
def test_waypoint_controller_matches_reference(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waypoint, "corridor_ahead", functools.partial(corridor_ahead, compiled=compiled))
    rng = np.random.default_rng(9)
    angles = -math.pi + (2 * math.pi / 360) * np.arange(360)
    angles.flags.writeable = False  # as the lidar hands them out
    calls: dict[Any, int] = {}
    for trial in range(60):
        sensors = [{"lidar": "lidar", "odometry": "odometry"}, {"localization": "localization", "lidar": "lidar"},
                   {"odometry": "odometry"}, {"lidar": "lidar"}][trial % 4]
        pose_name = next((n for n in sensors if n != "lidar"), "odometry")
        new, ref = _waypoint_pair(rng, sensors)
        pose = np.array([*rng.uniform(0.0, 10.0, 2), rng.uniform(-math.pi, math.pi)])
        scan = None
        for step in range(120):
            # drift towards the target with noise, so waypoints are reached now and then
            gx, gy = ref.waypoints[ref.target] if ref.target < len(ref.waypoints) else (5.0, 5.0)
            pose[:2] += 0.25 * (np.array([gx, gy]) - pose[:2]) + rng.normal(0.0, 0.1, 2)
            pose[2] = float(rng.choice([pose[2] + rng.normal(0.0, 0.5), rng.uniform(-10.0, 10.0),
                                        math.atan2(gy - pose[1], gx - pose[0])]))
            data = pose.copy() if pose_name == "localization" else np.array([*pose, 0.3, 0.1])
            if step % 11 == 0:
                data = data.astype(np.float32)
            if step % 2 == 0 or scan is None:  # the lidar at half the controller's rate: scans are seen twice
                scan = Reading("r0", "lidar", step, 0.0, 0.0, LaserScan(angles, random_scan(rng, 360), 0.05, 10.0))
            readings: dict[str, Reading | None] = {
                pose_name: None if step % 17 == 3 else Reading("r0", pose_name, step, 0.0, 0.0, data),
                "lidar": None if step % 13 == 5 else scan,
            }
            if step == 60 and trial % 5 == 0:
                for ctl in (new, ref):
                    ctl.handle_event("set_waypoints", {"waypoints": [[1, 2], [8, 8]]})  # integers, as YAML gives
            inputs = Inputs(0.05 * step, readings, {})
            got, want = new.compute(inputs), ref.compute(inputs)
            assert same(got, want) and all(type(x) is float for x in got), (trial, step, got, want)
            assert new.visual == ref.visual and new.status() == ref.status()
            assert (new.target, new._blocked) == (ref.target, ref._blocked)
            calls[new.visual["state"]] = calls.get(new.visual["state"], 0) + 1
    assert min(calls.get(k, 0) for k in ("idle", "reached", "drive", "clear", "slow", "stop")) > 20, calls


# ---------------------------------------------------------------------- pursuit, pose fusion
def test_pursuit_matches_numpy_reference() -> None:
    rng = np.random.default_rng(4)
    for trial in range(30):
        n = int(rng.integers(1, 40))
        path = np.cumsum(rng.uniform(-1.0, 1.0, (n, 2)) * rng.uniform(0.05, 2.0), axis=0)
        if trial % 5 == 0 and n > 2:
            path[1] = path[0]  # a zero-length leg, dropped by set_path
        new, ref = PurePursuit(0.5, 1.0, 1.5, 0.15), PursuitRef(0.5, 1.0, 1.5, 0.15)
        new.set_path(path)
        ref.set_path(path)
        for _ in range(40):
            pose = (*(path[int(rng.integers(0, n))] + rng.normal(0.0, 0.5, 2)), float(rng.uniform(-4, 4)))
            assert same(new._project(pose[0], pose[1]), ref._project(pose[0], pose[1]))
            s = float(rng.uniform(-1.0, new.path_length + 1.0))
            assert same(new._point_at(s), ref._point_at(s))
            assert same(new.step(pose), ref.step(pose)) and same(new.progress, ref.progress)


def test_pose_fuser_picks_the_nearest_sample_as_min_did() -> None:
    rng = np.random.default_rng(5)
    for trial in range(200):
        fuser = PoseFuser(history=16)
        t = 0.0
        for seq in range(int(rng.integers(1, 40))):
            step = float(rng.choice([0.02, 0.02, 0.0, 1e-17, -0.03 if trial % 4 == 0 else 0.02]))
            t += step
            odom = Reading("r", "odometry", seq, t, t, rng.normal(0.0, 3.0, 5))
            fuser.update(None, odom)
            times = list(fuser._times)
            for q in (t - float(rng.uniform(0.0, 0.4)), t + 1.0, times[0] - 1.0, times[len(times) // 2],
                      (times[0] + times[-1]) / 2):
                assert fuser._nearest(q) == min(range(len(times)), key=lambda i: abs(times[i] - q))
        anchor = Reading("r", "localization", 0, t - 0.1, t, rng.normal(0.0, 3.0, 3))
        pose = fuser.update(anchor, odom)
        then = min(zip(fuser._times, fuser._odom, strict=True), key=lambda e: abs(e[0] - (t - 0.1)))[1]
        assert same(pose, compose_ref(anchor.data, then, odom.data[:3]))


def test_compose_matches_numpy_scalars() -> None:
    rng = np.random.default_rng(6)
    for _ in range(1000):
        a, b, c = rng.normal(0.0, 5.0, (3, 3))
        assert same(_compose(a, b, c), compose_ref(a, b, c))
