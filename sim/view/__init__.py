"""The pygame window on a running simulation (``python run.py SCENARIO`` without --headless).

pygame is imported only when ``run_view`` is called, so headless runs and the
camera/telemetry unit tests never load it. The window runs in the main thread,
reads what the simulation publishes and never owns or blocks simulated time.
Keys, panels and colours: docs/view.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.runtime.run import Run

__all__ = ["FRAME_RATE", "run_view"]

FRAME_RATE = 60  # frames per real second, at most

_NO_PYGAME = "the window needs pygame-ce: pip install pygame-ce==2.5.8 (or run with --headless)"


def _require_pygame() -> Any:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError:
        raise InputError(_NO_PYGAME) from None
    return pygame


def run_view(run: Run, window: tuple[int, int] = (1280, 800), screenshot: Path | None = None) -> None:
    """Show ``run`` until it finishes or the window is closed; then save ``screenshot`` if given.

    Closing the window (or Esc) ends the run with reason "window closed". Never
    calls exit(): the caller stops the run and prints the report.
    """
    pygame = _require_pygame()
    from sim.view.app import ViewApp

    try:
        app = ViewApp(run, window)
    except pygame.error as exc:
        raise InputError(f"cannot open the window ({exc}); run with --headless where there is no display") from None
    ticker = pygame.time.Clock()
    try:
        while app.running and not run.finished.is_set():
            for event in pygame.event.get():
                app.handle(event)
            if not app.running:
                break
            app.frame()
            ticker.tick(FRAME_RATE)
        if screenshot is not None:
            app.frame()  # the final state, with the FINISHED badge
            app.screenshot(Path(screenshot))
    finally:
        app.close()
