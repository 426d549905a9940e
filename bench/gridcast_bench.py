"""Lidar ray casting on a big occupancy grid against the same scene as segments (issue 18).

The scene is a building floor of ``size`` x ``size`` metres (default 100 m): a grid of 3 m
corridors every 20 m, each block between them split into four rooms by walls with 1.2 m
doors, and clutter (boxes 0.3-1.5 m) in every room. It is made of wall segments and box
obstacles (the segment world, ``StaticMap`` as a scenario builds it), then rasterised at
``resolution`` (default 5 cm: 2,000 x 2,000 cells) with ``sim.world.occgrid.rasterize`` -
the grid world. ``robots`` (default 50) lidars with the warehouse's beams (360, 10 m,
range_min 5 cm) stand at random free poses. A *tick* casts every robot's scan once (what
the lidars do at 10 Hz); its time is the median over ``repeats`` ticks, each from other poses,
the methods taking turns on each. Wall time is what real time needs; CPU time (this thread's)
is the work alone, the fairer comparison on a host shared with other processes.

Figures: the segment kernel (``raycast.cast_scans``, numba, every robot a disc as in a run)
and its numpy ``culled`` method; ``gridcast.cast_grid`` (numba and numpy); and the grid path
a run with a map takes (``cast_with_grid``: grid plus the robots' discs). Margin = ticks
per second achievable / 10. Ratios are against the segment kernel in this same run.
Run ``python -m bench --only gridcast``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from sim.common.geometry import bounds_segments, polygon_segments, rect_polygon
from sim.world import gridcast, raycast
from sim.world.model import Obstacle, StaticMap
from sim.world.occgrid import rasterize
from sim.world.segmap import SegmentMap

BEAMS, RANGE_MAX, RANGE_MIN, RATE_HZ = 360, 10.0, 0.05, 10.0  # the warehouse scenario's lidar
ROBOT_RADIUS = 0.3


def building(size: float = 100.0, seed: int = 0) -> StaticMap:
    """The segment world: outer walls, corridors, rooms with doors, clutter (module docstring)."""
    rng = np.random.default_rng(seed)
    pitch, corridor, door = 20.0, 3.0, 1.2
    walls: list[list[float]] = []
    boxes: list[np.ndarray] = []
    n_blocks = max(1, int(size // pitch))
    block = size / n_blocks
    for bi in range(n_blocks):
        for bj in range(n_blocks):
            x0, y0 = bi * block + corridor / 2, bj * block + corridor / 2
            side = block - corridor
            x1, y1, xm, ym = x0 + side, y0 + side, x0 + side / 2, y0 + side / 2
            # The block's outline with one door per room onto the corridor, and the two inner walls.
            for a, b in ((x0, xm), (xm, x1)):
                d = rng.uniform(a + 0.5, b - 0.5 - door)
                walls += [[a, y0, d, y0], [d + door, y0, b, y0], [a, y1, b, y1]]
            for a, b in ((y0, ym), (ym, y1)):
                d = rng.uniform(a + 0.5, b - 0.5 - door)
                walls += [[x1, a, x1, d], [x1, d + door, x1, b], [x0, a, x0, b]]
            d = rng.uniform(y0 + 0.5, ym - 0.5 - door)
            walls += [[xm, y0, xm, d], [xm, d + door, xm, y1]]
            d = rng.uniform(x0 + 0.5, xm - 0.5 - door)
            walls += [[x0, ym, d, ym], [d + door, ym, x1, ym]]
            for rx, ry in ((x0, y0), (xm, y0), (x0, ym), (xm, ym)):  # clutter in each room
                for _ in range(6):
                    w, h = rng.uniform(0.3, 1.5, 2)
                    bx = rng.uniform(rx + 0.8, rx + side / 2 - 0.8 - w)
                    by = rng.uniform(ry + 0.8, ry + side / 2 - 0.8 - h)
                    boxes.append(rect_polygon(bx, by, w, h))
    wall_arr = np.vstack([np.array(walls), bounds_segments(size, size)])
    segs = np.vstack([wall_arr] + [polygon_segments(b) for b in boxes])
    obstacles = tuple(Obstacle(f"box{i}", "clutter", b) for i, b in enumerate(boxes))
    return StaticMap(size, size, obstacles, wall_arr, {}, segs, SegmentMap(segs))


def free_poses(clear: np.ndarray, resolution: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` poses (x, y, heading) whose cell has clearance for a robot (rejection sampling on the grid)."""
    need = math.ceil((ROBOT_RADIUS + 0.1) / resolution) + 1
    rows, cols = clear.shape
    out: list[tuple[float, float, float]] = []
    while len(out) < n:
        i, j = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        if clear[i, j] >= need:
            out.append(((j + rng.uniform()) * resolution, (i + rng.uniform()) * resolution,
                        float(rng.uniform(-math.pi, math.pi))))
    return np.array(out)


def _tick_times(cases: dict[str, Any], frames: list[np.ndarray]) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU (this thread's) seconds of each tick of each case, the cases taking turns on every
    frame (so a burst of load from other processes on this shared host hits them alike). The wall time
    also holds the time other processes had the core; the CPU time is the work itself."""
    for cast in cases.values():
        cast(frames[0])  # warm-up: numba loads (or compiles) here, not in the timing
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    for pose in frames:
        for name, cast in cases.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            cast(pose)
            out[name][1].append(time.thread_time() - c0)
            out[name][0].append(time.perf_counter() - t0)
    return out


def measure_gridcast(size: float = 100.0, resolution: float = 0.05, robots: int = 50, beams: int = BEAMS,
                     repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Median seconds per tick (all ``robots`` scans) of each method; margins and ratios (module docstring)."""
    t0 = time.perf_counter()
    seg_world = building(size, seed)
    grid = rasterize(seg_world, resolution)
    prepared = gridcast.prepare(grid)
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 1)
    clear = prepared.clear_map()
    frames = [free_poses(clear, resolution, robots, rng) for _ in range(repeats)]
    angles = np.linspace(-math.pi, math.pi, beams, endpoint=False)
    radius = np.full(robots, ROBOT_RADIUS)
    index = np.arange(robots)
    empty = SegmentMap(np.zeros((0, 4)))

    def segments(method: str) -> Any:
        return lambda p: raycast.cast_scans(seg_world.segment_map, p[:, :2], p[:, 2], angles, RANGE_MAX, RANGE_MIN,
                                            circles=(p[:, :2], radius), self_index=index, method=method)

    def grid_only(method: str) -> Any:
        def cast(p: np.ndarray) -> np.ndarray:
            dxs, dys = raycast.beam_directions(p[:, 2], angles)
            return gridcast.cast_grid(prepared, p[:, :2], dxs, dys, RANGE_MIN, RANGE_MAX, method)
        return cast

    def grid_run_path(p: np.ndarray) -> np.ndarray:
        return gridcast.cast_with_grid(empty, prepared, p[:, :2], p[:, 2], angles, RANGE_MAX, RANGE_MIN,
                                       circles=(p[:, :2], radius), self_index=index)

    cases: dict[str, Any] = {}
    if "numba" in raycast.available_methods():
        cases["segments_numba"] = segments("numba")
    cases["segments_numpy"] = segments("culled")
    for method in gridcast.available_methods():
        cases[f"grid_{method}"] = grid_only(method)
    cases["grid_with_robots"] = grid_run_path
    ticks = _tick_times(cases, frames)
    median = {name: float(np.median(wall)) for name, (wall, _) in ticks.items()}
    median_cpu = {name: float(np.median(cpu)) for name, (_, cpu) in ticks.items()}
    baseline = "segments_numba" if "segments_numba" in median else "segments_numpy"
    # How far apart the two worlds read (the same layout, one as cells): median |grid - segments| over hits.
    p = frames[0]
    seg_r = cases["segments_numpy"](p)
    dxs, dys = raycast.beam_directions(p[:, 2], angles)
    grid_r = gridcast.cast_grid(prepared, p[:, :2], dxs, dys, RANGE_MIN, RANGE_MAX, "numpy")
    both = np.isfinite(seg_r) & np.isfinite(grid_r)  # (a beam that hits in one world only is left out)
    return {
        "size_m": size, "resolution": resolution, "cells": list(prepared.shape), "robots": robots, "beams": beams,
        "range_max": RANGE_MAX, "segments": int(seg_world.segments.shape[0]),
        "occupied_fraction": float((clear == 0).mean()), "setup_seconds": setup, "repeats": repeats,
        "tick_seconds": median, "tick_cpu_seconds": median_cpu,
        "ticks": {name: {"wall": wall, "cpu": cpu} for name, (wall, cpu) in ticks.items()},
        "margin": {name: 1.0 / (m * RATE_HZ) for name, m in median.items()},
        "ratio_to_segments": {name: m / median[baseline] for name, m in median.items()},
        "cpu_ratio_to_segments": {name: m / max(median_cpu[baseline], 1e-9) for name, m in median_cpu.items()},
        "baseline": baseline,
        "median_abs_difference_m": float(np.median(np.abs(grid_r[both] - seg_r[both]))) if both.any() else None,
    }


if __name__ == "__main__":
    r = measure_gridcast()
    for name, sec in r["tick_seconds"].items():
        print(f"{name:>18}: {sec * 1e3:8.1f} ms/tick (cpu {r['tick_cpu_seconds'][name] * 1e3:.1f})  "
              f"margin x{r['margin'][name]:.1f}  x{r['ratio_to_segments'][name]:.2f} of {r['baseline']}")
