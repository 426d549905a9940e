import sys
import threading
from types import SimpleNamespace

import pytest

from sim.core.clock import ManualClock, RealClock


def test_manual_clock_autojumps_and_advances(clock: ManualClock) -> None:
    assert clock.now() == 0.0
    assert clock.sleep_until(2.5) is True
    assert clock.now() == 2.5
    clock.advance(0.5, cpu=0.1)
    assert clock.now() == 3.0
    assert clock.thread_time() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        clock.advance(-1.0)


def test_manual_clock_sleep_returns_false_once_stopped(clock: ManualClock) -> None:
    clock.request_stop()
    assert clock.sleep_until(1.0) is False


def test_manual_clock_without_autojump_waits_for_advance() -> None:
    clock = ManualClock(autojump=False)
    woke = []
    t = threading.Thread(target=lambda: woke.append(clock.sleep_until(1.0)))
    t.start()
    clock.advance(1.0)
    t.join(2.0)
    assert woke == [True]


def test_signal_wait_jumps_to_deadline_under_manual_clock(clock: ManualClock) -> None:
    sig = clock.signal()
    assert sig.wait_until(sig.version(), 0.3) is False
    assert clock.now() == 0.3
    seen = sig.version()
    sig.notify()
    assert sig.wait_until(seen, 5.0) is True
    assert clock.now() == 0.3


@pytest.fixture
def real_seconds(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """RealClock's real-time source (``time.perf_counter`` in its module), set by hand: ``[seconds]``."""
    now = [1000.0]
    monkeypatch.setattr(sys.modules[RealClock.__module__], "time", SimpleNamespace(perf_counter=lambda: now[0]))
    return now


def test_real_clock_pause_freezes_simulated_time(real_seconds: list[float]) -> None:
    clock = RealClock(time_scale=2.0)
    real_seconds[0] += 1.0
    clock.pause()
    assert clock.paused and clock.now() == 2.0
    real_seconds[0] += 5.0  # real time passes: a paused clock stays at the pause instant
    assert clock.now() == 2.0
    clock.resume()
    assert not clock.paused and clock.now() == 2.0  # resumes where it paused, not 10 s later
    real_seconds[0] += 0.5
    assert clock.now() == 3.0


def test_real_clock_time_scale_change_is_continuous(real_seconds: list[float]) -> None:
    clock = RealClock(time_scale=1.0)
    real_seconds[0] += 2.0
    assert clock.now() == 2.0
    clock.set_time_scale(50.0)
    assert clock.time_scale == 50.0
    assert clock.now() == 2.0  # no jump at the change
    real_seconds[0] += 0.25
    assert clock.now() == pytest.approx(2.0 + 0.25 * 50.0)  # the new rate from the change on
    with pytest.raises(ValueError):
        clock.set_time_scale(0)
    assert clock.time_scale == 50.0


def test_real_clock_stop_wakes_sleepers_promptly() -> None:
    clock = RealClock()
    result = []
    t = threading.Thread(target=lambda: result.append(clock.sleep_until(3600.0)))
    t.start()
    clock.request_stop()
    t.join(1.0)
    assert not t.is_alive()
    assert result == [False]


def test_real_clock_single_step_while_paused_releases_due_sleepers() -> None:
    clock = RealClock()
    clock.pause()
    t0 = clock.now()
    clock.step_paused(0.01)
    assert clock.now() == pytest.approx(t0 + 0.01)
    assert clock.sleep_until(t0 + 0.005) is True  # already reached in paused time
