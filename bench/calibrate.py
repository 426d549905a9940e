"""A machine factor from a small fixed workload: how to get ``scale`` for costs measured on another machine.

A cycle's cost recorded on one machine (the ``cpu_time`` of a real-time run) is worth another
amount of time on another. Run ``python -m bench --only calibrate`` on both machines: each prints
a factor, this machine's time for a fixed workload divided by ``REFERENCE_MS`` (the same workload
on the machine the figures in BENCHMARKS.md come from). The ratio is the scale:

    scale = factor(machine the costs will stand for) / factor(machine that measured them)

e.g. recorded on a laptop (factor 0.8), standing for a Raspberry Pi (factor 4.0): scale 5.0.

The workload is single-threaded and CPU-bound, like a controller's ``compute``: a pure-Python
part (a grid search with a heap and dicts: interpreter speed) and a numpy part (many small-array
calls and a small matrix inverse: call overhead and a little arithmetic). Both are timed in this
thread's CPU time (what a run's ``cpu_time`` records), each the best of ``repeats`` (the least
disturbed by other load on a shared host). Its parts are printed too: a controller that is mostly
Python scales like the first, one that is mostly numpy like the second.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# ms of thread CPU time of each part on the reference machine (the 2-core Xeon host of BENCHMARKS.md, Python
# 3.11.7, numpy 2.4.6, best of 15, 2026-12-07): fixed, since changing them would change every factor printed.
REFERENCE_MS = {"python": 18.4, "numpy": 18.2}


def python_part(size: int = 120) -> int:
    """Shortest path lengths on a ``size`` x ``size`` grid with walls (Dijkstra, heap, dict): pure Python."""
    walls = {(x, y) for x in range(3, size - 3, 6) for y in range(size) if (x * 7 + y) % 11 != 0}
    dist: dict[tuple[int, int], int] = {(0, 0): 0}
    heap = [(0, 0, 0)]
    while heap:
        d, x, y = heapq.heappop(heap)
        if d > dist[(x, y)]:
            continue
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if 0 <= nx < size and 0 <= ny < size and (nx, ny) not in walls:
                nd = d + 1 + (nx * ny) % 3
                if nd < dist.get((nx, ny), 1 << 30):
                    dist[(nx, ny)] = nd
                    heapq.heappush(heap, (nd, nx, ny))
    return sum(dist.values())


def numpy_part(calls: int = 1000, n: int = 48) -> float:
    """Small-array calls (a 360-beam scan: trig, masks, reductions) and one ``n`` x ``n`` inverse per 20 calls."""
    angles = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    ranges = 2.0 + np.sin(3.0 * angles) ** 2
    a = np.eye(n) * 4.0 + np.sin(np.arange(n * n, dtype=float).reshape(n, n))
    total = 0.0
    for i in range(calls):
        r = ranges + 0.001 * i
        near = r < 2.5
        xs, ys = r * np.cos(angles), r * np.sin(angles)
        total += float(np.min(r)) + float(xs[near].sum()) + float(np.hypot(xs, ys).mean())
        if i % 20 == 0:
            total += float(np.linalg.inv(a + 0.01 * i * np.eye(n))[0, 0])
    return total


PARTS: dict[str, Callable[[], Any]] = {"python": python_part, "numpy": numpy_part}


def _best_ms(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best * 1e3


def measure_calibration(repeats: int = 9) -> dict[str, Any]:
    """Each part's best thread CPU ms over ``repeats`` and the factors.

    ``factor``: this machine's total over the reference total (both parts weigh by their reference time);
    ``factors``: per part. 1.0 = as fast as the reference machine, 2.0 = twice as slow.
    """
    for fn in PARTS.values():
        fn()  # warm: imports, caches, the first numpy calls
    ms = {name: _best_ms(fn, repeats) for name, fn in PARTS.items()}
    return {"ms": ms, "repeats": repeats, "reference_ms": dict(REFERENCE_MS),
            "factors": {name: ms[name] / REFERENCE_MS[name] for name in PARTS},
            "factor": sum(ms.values()) / sum(REFERENCE_MS.values())}
