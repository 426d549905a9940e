"""Helpers shared by the benchmarks: running a scenario, percentiles, the machine's description."""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.listeners import RunListener
from sim.runtime.run import Run
from sim.session import execute


def run_scenario(scenario: Any, listeners: list[RunListener] | None = None, timeout: float | None = None,
                 out: Path | None = None) -> tuple[Run, float]:
    """Run to the end (or ``timeout`` real s); return the stopped run and the real seconds it ran.

    The seconds count from when every thread is running (after worker spawn and warm-up)
    to the end: what a throughput figure should divide by. No file but the run's own
    (cycles.csv) is written.
    """
    wall = 0.0

    def watch(run: Run) -> None:
        nonlocal wall
        t0 = time.perf_counter()
        limit = timeout if timeout is not None else max(60.0, 10 * float(scenario.run.duration))
        run.finished.wait(limit)
        wall = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result = execute(scenario, out or Path(tmp), listeners=list(listeners or []), write_report=False,
                         plot=False, present=watch, started_at="bench")
    return result.run, wall


def percentiles(values: list[float] | np.ndarray) -> dict[str, float | int | None]:
    """count, p50, p99, max of a sample (seconds in, seconds out)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    return {"count": int(a.size), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max())}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python, numpy and numba versions: what the figures were measured on."""
    import os

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = None
    return {"cores": os.cpu_count(), "cpu": model, "python": sys.version.split()[0],
            "numpy": np.__version__, "numba": numba_version, "platform": platform.platform(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
