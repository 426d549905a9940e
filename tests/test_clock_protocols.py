"""What a clock must do (``Clock``) and what a pausable one adds (``PausableClock``), checked against the code."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from sim.core.clock import _SLICE, Clock, ClockBase, ManualClock, PausableClock, RealClock, Signal
from sim.core.virtual import VirtualClock

ROOT = Path(__file__).resolve().parents[1]
# The clocks themselves (and their own signals, which reach into their private parts) are not scanned,
# except ``Signal``, the one class there that works with any clock.
CLOCK_MODULES = {"sim/core/clock.py", "sim/core/virtual.py"}


def _members(protocol: type) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")}


def _files() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "sim").rglob("*.py"))]


def _clock_attributes_used() -> dict[str, set[str]]:
    """``{attribute: {file, ...}}`` for every ``<x>.clock.<attribute>``, ``clock.<attribute>`` and
    ``_clock.<attribute>`` read in sim/ (of the clock modules, ``Signal`` only): what code asks of any clock."""
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sim").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree: ast.AST = ast.parse(path.read_text())
        if rel in CLOCK_MODULES:
            signal = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "Signal"]
            if not signal:
                continue
            tree = signal[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name in ("clock", "_clock"):
                used.setdefault(node.attr, set()).add(rel)
    return used


def test_every_call_the_code_makes_on_a_clock_is_declared_by_a_protocol() -> None:
    """No ``type: ignore`` and no ``hasattr``: what sim/ calls on a clock is in ``Clock``, or, in the view only,
    in ``PausableClock`` (the view asks ``isinstance(clock, PausableClock)`` first)."""
    used = _clock_attributes_used()
    assert {"now", "sleep_until", "signal", "participant", "real_seconds_until"} <= set(used)  # it sees the calls
    kernel = _members(Clock)
    pausable_only = _members(PausableClock) - kernel
    # Code that builds its own ManualClock (the test harness) may drive it by hand: ``set``, ``advance``.
    manual_only = _members(ManualClock) - kernel
    builds_manual = {rel for rel in _files() if "ManualClock(" in (ROOT / rel).read_text()}
    undeclared = {a: sorted(f for f in files if not (a in manual_only and f in builds_manual))
                  for a, files in used.items() if a not in kernel | pausable_only}
    assert all(not files for files in undeclared.values()), undeclared
    outside_view = {a: sorted(f for f in files if not f.startswith("sim/view/"))
                    for a, files in used.items() if a in pausable_only}
    assert all(not files for files in outside_view.values()), outside_view


def test_signal_uses_only_the_protocol() -> None:
    """``Signal`` waits ``real_seconds_until``, which ``Clock`` declares (it used to be an undeclared extra)."""
    source = (ROOT / "sim/core/clock.py").read_text()
    assert "type: ignore[attr-defined]" not in source
    assert "real_seconds_until" in _members(Clock)


def test_the_view_has_no_duck_typing() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "sim/view").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "hasattr(" in line or "getattr(self.clock" in line or "getattr(clock" in line]
    assert offenders == []


@pytest.mark.parametrize(("make", "pausable"), [
    (lambda: RealClock(2.0), True),
    (lambda: VirtualClock(pin_cpu=False), True),
    (lambda: ManualClock(), False),
])
def test_each_clock_implements_its_protocols(make, pausable: bool) -> None:
    clock = make()
    assert isinstance(clock, Clock) and isinstance(clock, ClockBase)
    assert isinstance(clock, PausableClock) is pausable


def test_a_clock_missing_a_kernel_call_is_not_a_clock() -> None:
    """The runtime check is not blind: drop ``real_seconds_until`` and it is no ``Clock``."""

    class NoWaits(ManualClock):
        real_seconds_until = None  # type: ignore[assignment]

    assert not isinstance(NoWaits(), Clock)
    assert not isinstance(object(), Clock)


def test_the_shared_base_holds_only_what_every_clock_shares() -> None:
    """Stop flag and real time elapsed; each clock says the rest itself (11 methods in the old ABC)."""
    shared = {n for n in vars(ClockBase) if not n.startswith("_")}
    assert shared == {"now", "sleep_until", "real_seconds_until", "signal", "real_elapsed", "request_stop", "stopped"}
    assert ClockBase.__abstractmethods__ == {"now", "sleep_until", "real_seconds_until", "signal"}


def test_virtual_clock_real_seconds_until_polls() -> None:
    """Virtual time does not pass in real time: a due deadline is 0, any later one a poll slice."""
    clock = VirtualClock(pin_cpu=False)
    assert clock.real_seconds_until(0.0) == 0.0
    assert clock.real_seconds_until(5.0) == _SLICE


def test_a_plain_signal_times_out_on_real_seconds_until() -> None:
    """A non-autojumping manual clock says "a second past the deadline": a notify ends the wait first."""
    clock = ManualClock(autojump=False)
    signal = Signal(clock)
    seen = signal.version()
    threading.Timer(0.05, signal.notify).start()
    assert signal.wait_until(seen, 10.0) is True
    clock.request_stop()
    assert signal.wait_until(signal.version(), 10.0) is False


def test_view_tells_a_clock_that_cannot_pause(tmp_path: Path) -> None:
    """With a clock that is no ``PausableClock`` the keys say so instead of failing, and the status shows no scale."""
    pytest.importorskip("pygame")
    from sim.runtime.run import Run
    from sim.scenario.load import load_scenario
    from sim.view.app import ViewApp

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(
        "name: tiny\nworld: {size: [10.0, 10.0], boundary_walls: true}\nphysics: {step: 0.01}\n"
        "run: {duration: 1.0, seed: 1}\nrobots:\n  - name: r1\n    start: [5.0, 5.0, 0.0]\n"
        "    sensors: [{type: odometry, rate_hz: 10}]\n"
        "    controller: {type: waypoint, period: 0.1, waypoints: [[8.0, 5.0]]}\n")
    run = Run(load_scenario(scenario), tmp_path / "out", clock=ManualClock(autojump=False))
    app = ViewApp(run, window=(400, 300))
    try:
        app.toggle_pause()
        assert app._toast[0] == "this clock cannot be paused" and not app.paused
        app.single_step()
        assert app._toast[0].startswith("pause first")
        app.change_time_scale(2.0)
        assert app._toast[0] == "this clock has no time scale"
        app.frame()
        assert app.status is not None and app.status.time_scale is None
    finally:
        app.close()
        run.stop()
