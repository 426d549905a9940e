"""Smoke test with a real X server: ``run.py --screenshot`` opens a window on Xvfb and saves a PNG.

The dummy SDL driver (tests/test_view.py) never creates a real window; this one
does, end to end through the CLI, so it catches problems only a display shows.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pygame  # a required dependency (pyproject): missing, this module fails to import, loudly
import pytest

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]  # an Xvfb server and a run.py process

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: xvfb-smoke
world:
  size: [16.0, 10.0]
  obstacles:
    - {name: shelf-1, kind: shelf, rect: [4.0, 6.0, 8.0, 1.0]}
run:
  duration: 10.0
  time_scale: 1.0
robots:
  - name: r1
    start: [3.0, 3.0, 0.0]
    sensors:
      - {type: lidar, rate_hz: 10, beams: 120, range_max: 8.0}
      - {type: localization, rate_hz: 10}
    controller:
      type: waypoint
      period: 0.05
      waypoints: [[13.0, 3.0], [3.0, 3.0]]
"""


def _start_xvfb(xvfb: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start Xvfb on a display number it picks itself (-displayfd: no race for a free one)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        text = b""
        deadline = time.monotonic() + 15.0
        while not text.endswith(b"\n") and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    break
                text += chunk
    finally:
        os.close(read_fd)
    if not text.strip().isdigit():
        proc.kill()
        proc.wait(5)
        pytest.fail(f"Xvfb did not report a display number (exit code {proc.poll()})")
    display = int(text.strip())
    socket = Path(f"/tmp/.X11-unix/X{display}")
    deadline = time.monotonic() + 10.0
    while not socket.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc, display


def test_window_on_xvfb_writes_a_screenshot(tmp_path: Path) -> None:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb not installed (.ci/run installs it)")
    scenario = tmp_path / "smoke.yaml"
    scenario.write_text(SCENARIO)
    shot = tmp_path / "out.png"
    proc, display = _start_xvfb(xvfb)
    try:
        env = dict(os.environ, DISPLAY=f":{display}", SDL_VIDEODRIVER="x11", SDL_AUDIODRIVER="dummy")
        result = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), str(scenario), "--duration", "2", "--screenshot", str(shot),
             "--out", str(tmp_path / "runs"), "--window", "960x600"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=100,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    img = pygame.image.load(str(shot))
    assert img.get_size() == (960, 600)
    rgb = pygame.surfarray.array3d(img).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 50  # a drawn scene, not a uniform or blank window
