"""Lidar ray-casting throughput (beams/s) of each ``sim.world.raycast`` method on a warehouse map.

The map is what the simulator's lidars typically see: a 40 x 25 m hall, six
rows of five shelves (plus a few pillars), ~150 wall segments, eight disc
robots; every robot casts a 360-beam, 10 m scan from a random free pose.
Run ``python -m bench.raycast_bench`` to print the figures.
"""

from __future__ import annotations

import math
import time

import numpy as np

from sim.common.geometry import bounds_segments, polygon_segments, rect_polygon
from sim.world.raycast import available_methods, cast_scans
from sim.world.segmap import SegmentMap

MAP_SIZE = (40.0, 25.0)
ROBOT_RADIUS = 0.3


def warehouse_rects() -> list[tuple[float, float, float, float]]:
    """Obstacle rectangles (x, y, width, height): 6 shelf rows x 5 shelves, 6 pillars."""
    rects = [(3.0 + 7.0 * i, 3.0 + 3.5 * row, 6.0, 1.0) for row in range(6) for i in range(5)]
    rects += [(2.0 + 7.2 * i, 23.0, 0.4, 0.4) for i in range(6)]
    return rects


def warehouse_segments() -> np.ndarray:
    """Outer walls plus every obstacle outline, as (S, 4) segments."""
    parts = [bounds_segments(*MAP_SIZE)]
    parts += [polygon_segments(rect_polygon(*r)) for r in warehouse_rects()]
    return np.vstack(parts)


def free_positions(rng: np.random.Generator, n: int, clearance: float = ROBOT_RADIUS + 0.05) -> np.ndarray:
    """``n`` positions clear of walls, obstacles and each other (rejection sampling)."""
    rects = np.array(warehouse_rects())
    w, h = MAP_SIZE
    chosen: list[np.ndarray] = []
    while len(chosen) < n:
        p = rng.uniform([clearance, clearance], [w - clearance, h - clearance])
        inside = (
            (p[0] > rects[:, 0] - clearance)
            & (p[0] < rects[:, 0] + rects[:, 2] + clearance)
            & (p[1] > rects[:, 1] - clearance)
            & (p[1] < rects[:, 1] + rects[:, 3] + clearance)
        )
        if inside.any() or any(np.hypot(*(p - q)) < 2.0 * clearance for q in chosen):
            continue
        chosen.append(p)
    return np.array(chosen)


def _time_method(
    smap: SegmentMap,
    frames: list[tuple[np.ndarray, np.ndarray]],
    beams: np.ndarray,
    range_max: float,
    method: str,
    robots_per_call: int,
    seconds: float,
) -> float:
    """Beams per second casting scans for ``robots_per_call`` robots per call."""
    radii = np.full(frames[0][0].shape[0], ROBOT_RADIUS)

    def call(i: int) -> int:
        pos, head = frames[i % len(frames)]
        idx = np.arange(robots_per_call) + (i * robots_per_call) % (pos.shape[0] - robots_per_call + 1)
        cast_scans(smap, pos[idx], head[idx], beams, range_max, circles=(pos, radii), self_index=idx, method=method)
        return idx.size * beams.size

    call(0)  # warm-up: numba compiles or loads its cache here, not in the timing
    done, i = 0, 0
    t0 = time.perf_counter()
    while True:
        done += call(i)
        i += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed


def measure_raycast(
    seconds_per_method: float = 1.0,
    *,
    robots_per_call: int = 8,
    n_beams: int = 360,
    range_max: float = 10.0,
    seed: int = 0,
) -> dict[str, float]:
    """Beams/s for each method in ``available_methods()`` (``"auto"`` is just one of them).

    Each call casts scans for ``robots_per_call`` of the 8 robots at once (how
    the lidar group samples), with all 8 robots as circles and self-exclusion.
    ``"python"`` runs one scan per call, so it is measured on far fewer scans.
    """
    rng = np.random.default_rng(seed)
    smap = SegmentMap(warehouse_segments())
    n_robots = 8
    frames = [(free_positions(rng, n_robots), rng.uniform(-math.pi, math.pi, n_robots)) for _ in range(32)]
    beams = np.linspace(-math.pi, math.pi, n_beams, endpoint=False)
    results: dict[str, float] = {}
    for method in available_methods():
        per_call = 1 if method == "python" else min(robots_per_call, n_robots)
        results[method] = _time_method(smap, frames, beams, range_max, method, per_call, seconds_per_method)
    return results


if __name__ == "__main__":
    n_seg = warehouse_segments().shape[0]
    print(f"warehouse {MAP_SIZE[0]:g} x {MAP_SIZE[1]:g} m, {n_seg} segments, 8 robots, 360 beams, 10 m")
    for per_call in (8, 1):
        print(f"-- {per_call} scan(s) per call (python: always 1)")
        for name, rate in measure_raycast(robots_per_call=per_call).items():
            print(f"{name:>8}: {rate:>12,.0f} beams/s")
