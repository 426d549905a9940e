"""Frames per second the view (``sim.view``) draws on the running warehouse, uncapped, dummy video driver."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sim.runtime.run import Run
from sim.scenario.load import load_scenario
from sim.session import execute

ROOT = Path(__file__).resolve().parent.parent


def measure_view_fps(seconds: float = 5.0, window: tuple[int, int] = (1280, 800)) -> dict[str, Any]:
    """Frames drawn per real second while the 8-robot warehouse runs in real time.

    Skips (``skipped`` says why) when there is no ``sim.view`` or no pygame.
    """
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame  # noqa: F401  (the view needs it)

        from sim.view import FRAME_RATE
        from sim.view.app import ViewApp
    except ImportError as exc:
        return {"skipped": f"no view to measure ({exc})"}
    scenario = load_scenario(ROOT / "scenarios" / "warehouse.yaml", {"run.duration": seconds + 30.0})
    drawn: dict[str, float] = {}

    def draw(run: Run) -> None:
        """Draw frames as fast as the view can for ``seconds`` (or until the run ends)."""
        app = ViewApp(run, window)
        try:
            app.frame()  # first frame builds fonts and caches
            frames, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds and not run.finished.is_set():
                app.frame()
                frames += 1
            drawn.update(frames=frames, elapsed=time.perf_counter() - t0)
        finally:
            app.close()

    with tempfile.TemporaryDirectory(prefix="bench-view-") as tmp:
        run = execute(scenario, Path(tmp), listeners=[], write_report=False, plot=False, present=draw,
                      started_at="bench").run
    frames, elapsed = drawn["frames"], drawn["elapsed"]
    misses = sum(c.stats.misses for c in run.controllers)
    cycles = sum(c.stats.cycles for c in run.controllers)
    return {"fps": frames / elapsed, "frame_rate_cap": FRAME_RATE, "ratio_to_cap": frames / elapsed / FRAME_RATE,
            "window": list(window), "robots": len(run.bodies), "controller_miss_rate": misses / max(cycles, 1)}
