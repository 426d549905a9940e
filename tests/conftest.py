"""Shared fixtures: the controllable clock, and a headless SDL for view tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from sim.core.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when told to, or jumps to the next sleeper's deadline."""
    return ManualClock()
