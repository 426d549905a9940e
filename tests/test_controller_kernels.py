"""The warehouse controller's fast paths give the same bits as the numpy code they replaced.

Each reference below is the code as it was before the fast path (numpy on every
point, ``np.einsum`` projection, ``min`` over the odometry history); the
compiled kernels (when numba is installed) and the numpy fallbacks must match it
bit for bit, so a run is byte-identical with or without numba.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from controllers import kernels
from controllers.avoidance import arc_gap, clearance, off_map, scan_points
from controllers.posefuse import PoseFuser, _compose
from controllers.pursuit import PurePursuit
from sensors.base import Reading
from sensors.lidar import LaserScan

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
