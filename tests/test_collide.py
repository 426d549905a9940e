"""Collision checks: analytic contacts, and grid/hash broad phases equal brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.common.geometry import bounds_segments, point_segment_distance
from sim.world import collide
from sim.world.collide import (
    disc_pairs_overlapping,
    disc_pairs_overlapping_plain,
    discs_hit_segments,
    discs_hit_segments_plain,
    nearest_obstacle_distance,
)
from sim.world.segmap import SegmentMap


@pytest.fixture(params=["dense", "grid"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test both through the dense small-problem path and the grid path."""
    if request.param == "grid":
        monkeypatch.setattr(collide, "_DENSE_MAX", 0)
    return request.param


@pytest.mark.usefixtures("path")
def test_disc_vs_wall_analytic() -> None:
    smap = SegmentMap(np.array([[0.0, -1.0, 0.0, 1.0]]))
    centers = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.5], [0.0, 1.5], [-0.3, 0.9]])
    radii = np.array([0.6, 0.4, 0.6, 0.5, 0.31])
    # Inside reach / short of it / past the end within reach / exactly touching the end.
    expect = [True, False, True, False, True]
    assert discs_hit_segments(smap, centers, radii).tolist() == expect
    assert discs_hit_segments_plain(smap, centers, radii).tolist() == expect


@pytest.mark.usefixtures("path")
def test_disc_touching_is_not_a_collision() -> None:
    smap = SegmentMap(bounds_segments(4.0, 3.0))
    centers = np.array([[0.25, 1.5], [2.0, 1.5], [3.75, 2.75]])
    radii = np.array([0.25, 0.25, 0.25])
    assert discs_hit_segments(smap, centers, radii).tolist() == [False, False, False]
    assert discs_hit_segments(smap, centers, radii + 1e-12).tolist() == [True, False, True]


@pytest.mark.usefixtures("path")
def test_disc_outside_the_map_and_empty_inputs() -> None:
    smap = SegmentMap(bounds_segments(4.0, 3.0))
    assert discs_hit_segments(smap, np.array([[50.0, 50.0], [-0.1, 1.0]]), 0.2).tolist() == [False, True]
    assert discs_hit_segments(smap, np.zeros((0, 2)), np.zeros(0)).shape == (0,)
    empty = SegmentMap(np.zeros((0, 4)))
    assert discs_hit_segments(empty, np.ones((2, 2)), 1.0).tolist() == [False, False]


def random_segments(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    segs = rng.uniform(0.0, size, (n, 4))
    short = rng.random(n) < 0.5
    segs[short, 2:4] = segs[short, 0:2] + rng.normal(0.0, 1.0, (int(short.sum()), 2))
    rounded = rng.random(n) < 0.3
    segs[rounded] = np.round(segs[rounded])
    segs[0, 2:4] = segs[0, 0:2]  # degenerate segment behaves like a point
    return segs


@pytest.mark.parametrize("dense_max", [collide._DENSE_MAX, 0])
@pytest.mark.parametrize("seed", range(30))
def test_discs_hit_segments_matches_brute_force(seed: int, dense_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grid path (forced even when small) equals brute force exactly."""
    monkeypatch.setattr(collide, "_DENSE_MAX", dense_max)
    rng = np.random.default_rng(seed)
    size = rng.uniform(5.0, 60.0)
    segs = random_segments(rng, int(rng.integers(1, 300)), size)
    smap = SegmentMap(segs, cell_size=float(rng.choice([0.3, 1.0, 4.0])))
    n = int(rng.integers(1, 400))
    centers = rng.uniform(-2.0, size + 2.0, (n, 2))
    centers[: n // 4] = np.round(centers[: n // 4])  # on grid lines / segment endpoints
    radii = rng.uniform(0.0, 2.0, n)
    got = discs_hit_segments(smap, centers, radii)
    ref = discs_hit_segments_plain(smap, centers, radii)
    assert np.array_equal(got, ref)
    # And the brute force agrees with the shared geometry helper (independent formula).
    d = point_segment_distance(centers, segs).min(axis=1)
    clear = np.abs(d - radii) > 1e-9
    assert np.array_equal(ref[clear], (d < radii)[clear])


def test_disc_pairs_analytic() -> None:
    centers = np.array([[0.0, 0.0], [0.5, 0.0], [0.9, 0.0], [5.0, 5.0], [5.0, 5.0]])
    radii = np.array([0.3, 0.3, 0.1, 0.2, 0.0])
    # (1, 2): distance 0.4 == 0.3 + 0.1 is touching, not overlapping.
    expect = [(0, 1), (3, 4)]
    assert disc_pairs_overlapping(centers, radii) == expect
    assert disc_pairs_overlapping_plain(centers, radii) == expect


@pytest.mark.parametrize("brute_max", [collide._BRUTE_FORCE_MAX, 0])
def test_disc_pairs_edge_cases(brute_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collide, "_BRUTE_FORCE_MAX", brute_max)
    assert disc_pairs_overlapping(np.zeros((0, 2)), np.zeros(0)) == []
    assert disc_pairs_overlapping(np.zeros((1, 2)), np.ones(1)) == []
    assert disc_pairs_overlapping(np.zeros((3, 2)), np.zeros(3)) == []  # zero radii never overlap
    same = np.ones((4, 2))
    assert disc_pairs_overlapping(same, 0.1) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    far = np.array([[-1e6, 3.0], [1e6, -3.0], [1e6, -3.1]])
    assert disc_pairs_overlapping(far, 0.1) == [(1, 2)]


@pytest.mark.parametrize("brute_max", [collide._BRUTE_FORCE_MAX, 0])
@pytest.mark.parametrize("seed", range(30))
def test_disc_pairs_match_brute_force(seed: int, brute_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spatial hash (forced even for small N) finds exactly the brute-force pairs."""
    monkeypatch.setattr(collide, "_BRUTE_FORCE_MAX", brute_max)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 600)) if seed % 4 else int(rng.integers(0, 60))
    size = rng.uniform(2.0, 80.0)
    centers = rng.uniform(-size, size, (n, 2))
    if seed % 3 == 0:  # clusters and exact duplicates
        centers[: n // 2] = np.round(centers[: n // 2] / 3.0) * 3.0
    radii = rng.uniform(0.0, 1.0, n) if seed % 2 else np.full(n, 0.35)
    got = disc_pairs_overlapping(centers, radii)
    ref = disc_pairs_overlapping_plain(centers, radii)
    assert got == ref
    assert all(i < j for i, j in got)


def test_disc_pairs_scale_better_than_quadratic() -> None:
    """5000 robots spread over a large floor: the broad phase keeps this fast."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.0, 500.0, (5000, 2))
    pairs = disc_pairs_overlapping(centers, np.full(5000, 0.3))
    d = np.hypot(*(centers[[i for i, _ in pairs]] - centers[[j for _, j in pairs]]).T)
    assert np.all(d < 0.6)


@pytest.mark.parametrize("seed", range(10))
def test_nearest_obstacle_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    segs = random_segments(rng, 80, 20.0)
    smap = SegmentMap(segs, cell_size=1.5)
    for p in rng.uniform(-3.0, 23.0, (20, 2)):
        true = float(point_segment_distance(p, segs).min())
        for max_range in (0.5, 2.0, 50.0):
            got = nearest_obstacle_distance(smap, p, max_range)
            if true <= max_range - 1e-9:
                assert got == pytest.approx(true, abs=1e-12)
            elif true > max_range + 1e-9:
                assert got == math.inf
