"""Ray casting: analytic cases every method must get right, and cross-method equality.

"plain" is the reference; "culled", "numba" and "python" must agree with it
to 1e-9 (and on which beams see nothing) on many random maps, including
adversarial ones (integer coordinates on cell borders, axis-parallel beams,
origins on walls and outside the map).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.common.geometry import bounds_segments, polygon_segments, rect_polygon
from sim.world import raycast, raycast_numba, raycast_numpy, segmap
from sim.world.raycast import available_methods, cast_scans
from sim.world.segmap import SegmentMap

FAST = [m for m in available_methods() if m not in ("python", "plain")]
ALL = available_methods()


def one_beam(smap: SegmentMap, origin, heading: float, method: str, **kw) -> float:
    """Distance read by a single beam pointing along ``heading``."""
    out = cast_scans(smap, np.array([origin], float), np.array([heading]), np.array([0.0]),
                     kw.pop("range_max", 100.0), method=method, **kw)
    return float(out[0, 0])


@pytest.fixture(params=ALL)
def method(request: pytest.FixtureRequest) -> str:
    return request.param


# --- analytic cases ---------------------------------------------------------------

def test_straight_at_wall(method: str) -> None:
    smap = SegmentMap(np.array([[5.0, -1.0, 5.0, 1.0]]))
    assert one_beam(smap, (0.0, 0.0), 0.0, method) == pytest.approx(5.0, abs=1e-12)
    # Same beam expressed as heading + relative beam angle.
    out = cast_scans(smap, np.zeros((1, 2)), np.array([math.pi / 2]), np.array([-math.pi / 2]),
                     10.0, method=method)
    assert out[0, 0] == pytest.approx(5.0, abs=1e-12)


def test_45_degree_beam(method: str) -> None:
    smap = SegmentMap(np.array([[5.0, -10.0, 5.0, 10.0]]))
    d = one_beam(smap, (0.0, 0.0), math.pi / 4, method)
    assert d == pytest.approx(5.0 * math.sqrt(2.0), abs=1e-12)


def test_beams_hitting_nothing_are_inf(method: str) -> None:
    smap = SegmentMap(np.array([[5.0, -1.0, 5.0, 1.0]]))
    assert one_beam(smap, (0.0, 0.0), math.pi, method) == math.inf  # pointing away
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_max=4.9) == math.inf  # out of range
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_max=5.0) == pytest.approx(5.0)
    assert one_beam(smap, (0.0, 3.0), 0.0, method) == math.inf  # passes above the wall


def test_scan_in_square_room(method: str) -> None:
    """Full 360 scan from the centre of a 4x4 room: d = 2 / max(|cos|, |sin|)."""
    smap = SegmentMap(bounds_segments(4.0, 4.0), cell_size=0.7)
    rel = np.linspace(-math.pi, math.pi, 72, endpoint=False)
    out = cast_scans(smap, np.array([[2.0, 2.0]]), np.array([0.3]), rel, 10.0, method=method)
    a = 0.3 + rel
    expect = 2.0 / np.maximum(np.abs(np.cos(a)), np.abs(np.sin(a)))
    np.testing.assert_allclose(out[0], expect, atol=1e-9)


def test_parallel_beams_no_nan_no_hit(method: str) -> None:
    smap = SegmentMap(np.array([[0.0, 1.0, 10.0, 1.0]]))
    rel = np.array([0.0, math.pi, -math.pi])
    for origin in ([-5.0, 0.0], [5.0, 0.0], [12.0, 0.0], [5.0, 2.0]):
        out = cast_scans(smap, np.array([origin]), np.array([0.0]), rel, 50.0, method=method)
        assert not np.isnan(out).any()
        assert np.all(out == math.inf), (origin, out)


def test_collinear_beam_ignores_edge_but_corner_catches_it(method: str) -> None:
    """A beam running along an edge's line skips that edge (exactly parallel); the
    adjacent edge of the closed outline is hit at the shared corner (closed segments)."""
    lone = SegmentMap(np.array([[0.0, 0.0, 2.0, 0.0]]))
    assert one_beam(lone, (-5.0, 0.0), 0.0, method) == math.inf
    box = SegmentMap(polygon_segments(rect_polygon(0.0, 0.0, 2.0, 2.0)))
    assert one_beam(box, (-5.0, 0.0), 0.0, method) == pytest.approx(5.0, abs=1e-12)


def test_nearly_collinear_beam_is_not_a_spurious_hit(method: str) -> None:
    """Origin on the extension of a diagonal segment, beam along it: cos/sin rounding
    makes the cross product ~1e-16 instead of 0; that must not read as a hit at 0."""
    smap = SegmentMap(np.array([[3.0, 7.0, 7.0, 3.0]]))
    assert one_beam(smap, (8.0, 2.0), -math.pi / 4, method) == math.inf  # away from it
    assert one_beam(smap, (8.0, 2.0), 3 * math.pi / 4, method) == math.inf  # along it


def test_infinite_range(method: str) -> None:
    smap = SegmentMap(np.array([[500.0, -1.0, 500.0, 1.0]]), cell_size=2.0)
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_max=math.inf) == pytest.approx(500.0)
    assert one_beam(smap, (0.0, 0.0), 1.0, method, range_max=math.inf) == math.inf


def test_grazing_segment_end(method: str) -> None:
    smap = SegmentMap(np.array([[5.0, 0.0, 5.0, 2.0]]))
    assert one_beam(smap, (0.0, 0.0), 0.0, method) == 5.0  # through the lower end (u = 0)
    assert one_beam(smap, (0.0, 2.0), 0.0, method) == 5.0  # through the upper end (u = 1)
    assert one_beam(smap, (0.0, -1e-9), 0.0, method) == math.inf  # just below
    assert one_beam(smap, (0.0, 2.0 + 1e-9), 0.0, method) == math.inf  # just above
    assert one_beam(smap, (0.0, 1e-9), 0.0, method) == 5.0  # just inside


def test_origin_on_segment_endpoint_reads_zero(method: str) -> None:
    """Documented: touching a wall reads 0 for every not-exactly-parallel beam;
    with range_min > 0 the contact is ignored and the beam sees past it."""
    smap = SegmentMap(np.array([[5.0, 0.0, 5.0, 2.0], [9.0, -5.0, 9.0, 5.0]]))
    rel = np.linspace(-3.0, 3.0, 13)  # includes 0; none exactly along the wall
    out = cast_scans(smap, np.array([[5.0, 0.0]]), np.array([0.0]), rel, 20.0, method=method)
    assert np.all(out == 0.0)
    out = cast_scans(smap, np.array([[5.0, 0.0]]), np.array([0.0]), np.array([0.0]), 20.0,
                     range_min=0.5, method=method)
    assert out[0, 0] == pytest.approx(4.0)


def test_range_min_ignores_near_hits(method: str) -> None:
    smap = SegmentMap(np.array([[1.0, -1.0, 1.0, 1.0], [3.0, -1.0, 3.0, 1.0]]))
    assert one_beam(smap, (0.0, 0.0), 0.0, method) == pytest.approx(1.0)
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_min=2.0) == pytest.approx(3.0)
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_min=3.5) == math.inf
    assert one_beam(smap, (0.0, 0.0), 0.0, method, range_min=1.0) == pytest.approx(1.0)


def test_circle_centred_beam_reads_d_minus_r(method: str) -> None:
    smap = SegmentMap(np.zeros((0, 4)))
    circles = (np.array([[5.0, 0.0], [0.0, -7.0]]), np.array([1.0, 0.5]))
    out = cast_scans(smap, np.zeros((1, 2)), np.array([0.0]),
                     np.array([0.0, -math.pi / 2, math.pi / 2]), 20.0, circles=circles,
                     method=method)
    np.testing.assert_allclose(out[0], [4.0, 6.5, math.inf], atol=1e-12)
    # Tangent beam (passes at exactly r from the centre) still hits.
    smap2 = SegmentMap(np.zeros((0, 4)))
    out = cast_scans(smap2, np.array([[0.0, 1.0]]), np.array([0.0]), np.array([0.0]), 20.0,
                     circles=(np.array([[5.0, 0.0]]), np.array([1.0])), method=method)
    assert out[0, 0] == pytest.approx(5.0)


def test_circle_in_front_of_wall_and_behind(method: str) -> None:
    smap = SegmentMap(np.array([[6.0, -3.0, 6.0, 3.0]]))
    circles = (np.array([[3.0, 0.0], [8.0, 0.0]]), np.array([0.5, 0.5]))
    out = cast_scans(smap, np.zeros((1, 2)), np.array([0.0]), np.array([0.0]), 20.0,
                     circles=circles, method=method)
    assert out[0, 0] == pytest.approx(2.5)


def test_self_circle_excluded(method: str) -> None:
    smap = SegmentMap(np.array([[10.0, -5.0, 10.0, 5.0]]))
    centers = np.array([[0.0, 0.0], [4.0, 0.0]])
    circles = (centers, np.array([0.3, 0.3]))
    out = cast_scans(smap, centers, np.array([0.0, math.pi]), np.array([0.0]), 20.0,
                     circles=circles, self_index=np.array([0, 1]), method=method)
    np.testing.assert_allclose(out[:, 0], [3.7, 3.7], atol=1e-12)
    # Both looking +x: robot 0 sees robot 1, robot 1 sees the wall (not itself).
    out = cast_scans(smap, centers, np.array([0.0, 0.0]), np.array([0.0]), 20.0,
                     circles=circles, self_index=np.array([0, 1]), method=method)
    np.testing.assert_allclose(out[:, 0], [3.7, 6.0], atol=1e-12)
    # Without self exclusion a beam from the centre hits its own boundary on the way out.
    out = cast_scans(smap, centers[:1], np.array([math.pi]), np.array([0.0]), 20.0,
                     circles=circles, method=method)
    assert out[0, 0] == pytest.approx(0.3)
    # range_min beyond the own radius also hides it (the exit root is < range_min).
    out = cast_scans(smap, centers[:1], np.array([0.0]), np.array([0.0]), 20.0,
                     range_min=0.35, circles=circles, method=method)
    assert out[0, 0] == pytest.approx(3.7)


def test_origin_outside_map_bounds(method: str) -> None:
    smap = SegmentMap(bounds_segments(4.0, 3.0), cell_size=1.0)
    out = cast_scans(smap, np.array([[-6.0, 1.5], [10.0, 10.0]]), np.array([0.0, 0.0]),
                     np.array([0.0, math.pi]), 20.0, method=method)
    np.testing.assert_allclose(out[0], [6.0, math.inf])
    assert np.all(out[1] == math.inf)


def test_shapes_and_empty_inputs(method: str) -> None:
    smap = SegmentMap(bounds_segments(4.0, 3.0))
    assert cast_scans(smap, np.zeros((0, 2)), np.zeros(0), np.zeros(5), 5.0,
                      method=method).shape == (0, 5)
    assert cast_scans(smap, np.ones((3, 2)), np.zeros(3), np.zeros(0), 5.0,
                      method=method).shape == (3, 0)
    empty = SegmentMap(np.zeros((0, 4)))
    out = cast_scans(empty, np.ones((2, 2)), np.zeros(2), np.zeros(4), 5.0, method=method)
    assert out.shape == (2, 4) and np.all(out == math.inf)


def test_bad_arguments() -> None:
    smap = SegmentMap(bounds_segments(4.0, 3.0))
    with pytest.raises(ValueError):
        cast_scans(smap, np.ones((1, 2)), np.zeros(1), np.zeros(3), 5.0, method="nope")
    with pytest.raises(ValueError):
        cast_scans(smap, np.ones((1, 2)), np.zeros(1), np.zeros(3), 5.0, range_min=6.0)
    with pytest.raises(ValueError):
        cast_scans(smap, np.ones((2, 2)), np.zeros(1), np.zeros(3), 5.0)
    with pytest.raises(ValueError):
        SegmentMap(np.zeros((1, 4)), cell_size=0.0)
    for m in ALL:  # a NaN pose must fail loudly, never hang the compiled grid walk
        with pytest.raises(ValueError):
            cast_scans(smap, np.array([[np.nan, 1.0]]), np.zeros(1), np.zeros(3), 5.0, method=m)
        with pytest.raises(ValueError):
            cast_scans(smap, np.ones((1, 2)), np.array([np.inf]), np.zeros(3), 5.0, method=m)


def test_available_methods() -> None:
    methods = available_methods()
    assert {"plain", "culled", "python"} <= set(methods) and "auto" not in methods
    assert ("numba" in methods) == (raycast_numba._numba is not None)
    smap = SegmentMap(np.array([[5.0, -1.0, 5.0, 1.0]]))
    assert one_beam(smap, (0.0, 0.0), 0.0, "auto") == 5.0


def test_raycast_keeps_the_names_other_code_imports_from_it() -> None:
    """sim.world.raycast is the entry point: the map and its helper stay importable from it after the split,
    and jit.dispatchers() (which looks in sim.world.raycast) still finds the ray-cast kernel there."""
    assert raycast.SegmentMap is segmap.SegmentMap
    assert raycast.point_segment_distance_sq is segmap.point_segment_distance_sq
    assert set(raycast.__all__) == {"SegmentMap", "available_methods", "beam_directions", "cast_scans",
                                    "cast_segments", "point_segment_distance_sq", "warm_up"}
    from sim.world import jit

    assert ("sim.world.raycast._numba_kernel" in jit.dispatchers()) == (raycast_numba._numba is not None)


def test_numba_kernel_releases_the_gil() -> None:
    if "numba" not in available_methods():
        pytest.skip("numba not installed")
    raycast.warm_up()
    assert raycast_numba._numba_kernel.targetoptions.get("nogil") is True


def test_numba_single_specialisation_for_readonly_and_strided_inputs() -> None:
    """Snapshot arrays are often read-only views; each new numba type signature
    would be a ~2 s compile stall inside a sensor thread."""
    if "numba" not in available_methods():
        pytest.skip("numba not installed")
    raycast.warm_up()
    before = len(raycast_numba._numba_kernel.signatures)
    pose = np.array([[1.0, 0.5, 0.0, 9.0], [2.0, 1.5, 0.3, 9.0]])
    pose.flags.writeable = False
    radius = np.full(2, 0.2)
    radius.flags.writeable = False
    smap = SegmentMap(bounds_segments(4.0, 3.0))
    cast_scans(smap, pose[:, :2], pose[:, 2], np.linspace(-1, 1, 5), 5.0,
               circles=(pose[:, :2], radius), self_index=np.array([0, 1], dtype=np.int32), method="numba")
    cast_scans(smap, pose[:1, :2], pose[:1, 2], np.zeros(1), 5.0, method="numba")
    assert len(raycast_numba._numba_kernel.signatures) == before


def test_grid_registration_is_conservative() -> None:
    """Every point of every segment lies in a cell that lists the segment."""
    rng = np.random.default_rng(7)
    segs = np.vstack([rng.uniform(-3, 7, (60, 4)), np.round(rng.uniform(-3, 7, (40, 4)))])
    for cell in (0.37, 1.0, 2.5):
        smap = SegmentMap(segs, cell_size=cell)
        nx = smap.shape[0]
        for u in np.linspace(0.0, 1.0, 41):
            p = segs[:, 0:2] + u * (segs[:, 2:4] - segs[:, 0:2])
            ix = smap._cell_index(p[:, 0], 0)
            iy = smap._cell_index(p[:, 1], 1)
            for s, c in enumerate(iy * nx + ix):
                assert s in smap.cell_items[smap.cell_start[c]:smap.cell_start[c + 1]]


# --- cross-method equality on random maps ------------------------------------------

def random_scene(rng: np.random.Generator, n_seg: int, n_circ: int, m: int, k: int):
    """A random map mixing generic, integer (cell-border) and degenerate segments."""
    size = rng.uniform(3.0, 30.0)
    kinds = rng.integers(0, 4, n_seg)
    segs = rng.uniform(0.0, size, (n_seg, 4))
    grid_like = np.round(segs)
    axis = grid_like.copy()
    axis[:, 3] = axis[:, 1]  # horizontal walls on integer lines
    segs = np.where((kinds == 1)[:, None], grid_like, segs)
    segs = np.where((kinds == 2)[:, None], axis, segs)
    if n_seg:
        segs[rng.integers(0, n_seg), 2:4] = segs[rng.integers(0, n_seg), 0:2]
        segs[0, 2:4] = segs[0, 0:2]  # one degenerate (zero-length) segment
    origins = rng.uniform(-0.2 * size, 1.2 * size, (m, 2))
    snap = rng.random(m) < 0.3
    origins[snap] = np.round(origins[snap])  # on cell borders / grid corners
    if n_seg and m > 1:
        origins[1] = segs[rng.integers(0, n_seg), 0:2]  # exactly on a segment endpoint
    centers = rng.uniform(0.0, size, (n_circ, 2))
    radii = rng.uniform(0.05, 1.5, n_circ)
    if n_circ and m:
        centers[0] = origins[0]  # robot 0 sits inside circle 0
    headings = np.where(rng.random(m) < 0.3, 0.0, rng.uniform(-10.0, 10.0, m))
    if m > 2:
        headings[2] += 2.0 * math.pi * 1e9  # a long-running robot's unwrapped yaw
    rel = rng.uniform(-math.pi, math.pi, k)
    rel[: k // 3] = rng.integers(-8, 8, k // 3) * (math.pi / 4)  # axis / diagonal beams
    self_index = rng.integers(-1, max(n_circ, 1), m) if n_circ else np.full(m, -1)
    if n_circ and m:
        self_index[0] = 0
    rmax = rng.uniform(0.5, 1.5) * size
    rmin = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.3 * rmax)])
    cell = rng.choice([0.3, 1.0, 2.0, 50.0])
    return (SegmentMap(segs, cell_size=cell), origins, headings, rel, rmax, rmin,
            (centers, radii), self_index)


def assert_same(a: np.ndarray, b: np.ndarray, context: object) -> None:
    assert a.shape == b.shape
    assert not np.isnan(a).any() and not np.isnan(b).any()
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    assert np.array_equal(inf_a, inf_b), (context, np.argwhere(inf_a != inf_b)[:5])
    diff = np.abs(np.where(inf_a, 0.0, a) - np.where(inf_b, 0.0, b))
    assert diff.max(initial=0.0) <= 1e-9, (context, diff.max())


@pytest.mark.parametrize("dense_max", [raycast_numpy._DENSE_CANDIDATES_MAX, 0])
@pytest.mark.parametrize("seed", range(40))
def test_methods_agree_on_random_maps(seed: int, dense_max: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """culled (both candidate paths, small pair chunks) and numba equal plain."""
    monkeypatch.setattr(raycast_numpy, "_DENSE_CANDIDATES_MAX", dense_max)
    monkeypatch.setattr(raycast_numpy, "_PAIR_CHUNK", 257)
    rng = np.random.default_rng(seed)
    smap, o, h, rel, rmax, rmin, circles, sidx = random_scene(
        rng, int(rng.integers(1, 120)), int(rng.integers(0, 12)), int(rng.integers(1, 9)),
        int(rng.integers(1, 200)))
    ref = cast_scans(smap, o, h, rel, rmax, rmin, circles, sidx, method="plain")
    for m in FAST:
        got = cast_scans(smap, o, h, rel, rmax, rmin, circles, sidx, method=m)
        assert_same(got, ref, (seed, m))
    assert np.isfinite(ref).any()  # the scene is not trivially empty


@pytest.mark.parametrize("seed", range(8))
def test_python_agrees_on_small_random_maps(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    smap, o, h, rel, rmax, rmin, circles, sidx = random_scene(rng, 25, 5, 3, 40)
    ref = cast_scans(smap, o, h, rel, rmax, rmin, circles, sidx, method="plain")
    got = cast_scans(smap, o, h, rel, rmax, rmin, circles, sidx, method="python")
    assert_same(got, ref, seed)


def test_methods_agree_on_warehouse() -> None:
    """Axis-aligned shelves on integer coordinates, 1 m cells, robots in the aisles."""
    segs = [bounds_segments(40.0, 25.0)]
    for row in range(6):
        for i in range(5):
            segs.append(polygon_segments(rect_polygon(3.0 + 7.0 * i, 3.0 + 3.5 * row, 6.0, 1.0)))
    smap = SegmentMap(np.vstack(segs))
    rng = np.random.default_rng(3)
    m = 16
    o = np.column_stack([rng.uniform(0.5, 39.5, m), rng.choice([2.0, 5.25, 8.75, 12.0], m)])
    o[:4] = np.round(o[:4])
    h = np.concatenate([np.zeros(4), rng.uniform(-math.pi, math.pi, m - 4)])
    rel = np.linspace(-math.pi, math.pi, 360, endpoint=False)
    circles = (o.copy(), np.full(m, 0.3))
    sidx = np.arange(m)
    ref = cast_scans(smap, o, h, rel, 10.0, 0.05, circles, sidx, method="plain")
    for meth in FAST:
        assert_same(cast_scans(smap, o, h, rel, 10.0, 0.05, circles, sidx, method=meth), ref, meth)


coord = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    segs=st.lists(st.tuples(coord, coord, coord, coord), min_size=1, max_size=25),
    origin=st.tuples(coord, coord),
    heading=st.floats(-7.0, 7.0),
    k=st.integers(1, 64),
    cell=st.sampled_from([0.25, 1.0, 3.0]),
    rmin=st.sampled_from([0.0, 0.5]),
)
def test_methods_agree_hypothesis(segs, origin, heading, k, cell, rmin) -> None:
    smap = SegmentMap(np.array(segs, dtype=float), cell_size=cell)
    rel = np.linspace(-math.pi, math.pi, k, endpoint=False)
    args = (smap, np.array([origin]), np.array([heading]), rel, 30.0, rmin)
    ref = cast_scans(*args, method="plain")
    for m in FAST:
        assert_same(cast_scans(*args, method=m), ref, m)


def test_a_segment_too_short_to_invert_is_still_culled_by_its_distance() -> None:
    """Hypothesis found a 4.3e-162 m segment: 1/len2 overflowed (a warning, an error here) and made its
    culling distance NaN. It is now measured from its start, and every method agrees."""
    seg = np.array([[1.0, -1.0, 1.0, 1.0], [2.0, 0.0, 2.0, 4.3e-162]])
    smap = SegmentMap(seg)
    ranges = {m: cast_scans(smap, np.zeros((1, 2)), np.zeros(1), np.array([0.0, 0.3]), 5.0, method=m)
              for m in available_methods()}
    for r in ranges.values():
        np.testing.assert_allclose(r, ranges["plain"], rtol=0, atol=1e-9)
