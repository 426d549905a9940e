"""Progress on stderr (sim.common.progress, sim.session.progress, sim.sweep.progress): in place on a terminal,
a line per tenth into a pipe, never a ``\\r`` there; ``--quiet``. Driven by hand: an injected stream (a fake
terminal is an ``io.StringIO`` whose ``isatty`` says yes), a stand-in run with a clock set by hand, no sleeps."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sim.common.progress import ProgressLine, duration_words, is_terminal
from sim.session.progress import RunProgress, watch
from sim.sweep.progress import Progress
from tests.scripted_run import TINY


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def screen(written: str) -> str:
    """What a terminal shows after ``written``: each ``\\r`` returns to the line's start and overwrites."""
    lines = [""]
    col = 0
    for ch in written:
        if ch == "\n":
            lines.append("")
            col = 0
        elif ch == "\r":
            col = 0
        else:
            line = lines[-1]
            lines[-1] = line[:col] + ch + line[col + 1:]
            col += 1
    return "\n".join(lines)


# ------------------------------------------------------------------ the line itself

def test_a_terminal_line_is_redrawn_in_place_and_wiped_at_the_end() -> None:
    out = Terminal()
    line = ProgressLine(out, columns=80)
    assert line.tty and is_terminal(out) and not is_terminal(io.StringIO()) and not is_terminal(object())
    assert line.update(0.1, "a long first line")
    assert line.update(0.15, "short")  # every update redraws on a terminal, tenth or not
    assert screen(out.getvalue()).rstrip() == "short"  # the longer line's rest is wiped
    line.clear()
    assert "\n" not in out.getvalue() and screen(out.getvalue()).strip() == ""
    assert out.getvalue().endswith("\r")  # the cursor back at the start: the report starts clean
    line.clear()  # twice: nothing more
    assert out.getvalue().count("\r") == 2 + 2  # two redraws, one wipe (there and back)


def test_a_piped_line_is_written_once_per_tenth_and_never_with_a_carriage_return() -> None:
    out = io.StringIO()
    line = ProgressLine(out)
    written = [line.update(f, f"at {f:g}") for f in (0.0, 0.05, 0.1, 0.12, 0.19, 0.35, 0.36, 0.999, 1.0, 1.0)]
    assert written == [False, False, True, False, False, True, False, True, True, False]
    assert out.getvalue() == "at 0.1\nat 0.35\nat 0.999\nat 1\n"  # a jump over tenths: one line, not one each
    line.clear()
    assert "\r" not in out.getvalue()


def test_a_terminal_line_never_wraps_to_a_second_row() -> None:
    """A wrapped line cannot be redrawn (``\r`` goes back to the start of its last row): it is cut to the width."""
    out = Terminal()
    line = ProgressLine(out, columns=20)
    line.update(0.5, "x" * 50)
    assert out.getvalue() == "\r" + "x" * 19
    line.update(0.6, "y" * 5)
    assert screen(out.getvalue()) == "y" * 5 + " " * 14
    assert ProgressLine(Terminal())._columns() >= 1  # asked of a stream that has no terminal: $COLUMNS or 80


def test_a_piped_line_writes_at_most_ten_lines_however_many_updates() -> None:
    out = io.StringIO()
    line = ProgressLine(out)
    for i in range(10_001):
        line.update(i / 10_000, f"{i}")
    assert out.getvalue().splitlines() == [str(1000 * k) for k in range(1, 11)]


def test_time_left_reads_as_people_say_it() -> None:
    assert [duration_words(s) for s in (0.4, 42, 59.6, 65, 3599, 3600, 7620, -3)] == [
        "0 s", "42 s", "1 min 00 s", "1 min 05 s", "59 min 59 s", "1 h 00 min", "2 h 07 min", "0 s"]


# ------------------------------------------------------------------ a headless run

@dataclass
class FakeClock:
    sim: float = 0.0
    wall: float = 0.0

    def now(self) -> float:
        return self.sim

    def real_elapsed(self) -> float:
        return self.wall


@dataclass
class FakeFinished:
    """``run.finished``: each wait moves the fake clocks on by one step instead of sleeping; set after ``steps``."""

    clock: FakeClock
    sim_step: float
    wall_step: float
    steps: int
    timeouts: list[float | None] = field(default_factory=list)

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        if len(self.timeouts) > self.steps:
            return True
        self.clock.sim += self.sim_step
        self.clock.wall += self.wall_step
        return False


def fake_run(duration: float = 300.0, cycles: tuple[int, ...] = (0,), misses: tuple[int, ...] = (0,)) -> Any:
    clock = FakeClock()
    controllers = [SimpleNamespace(stats=SimpleNamespace(cycles=c, misses=m)) for c, m in zip(cycles, misses,
                                                                                            strict=True)]
    run = SimpleNamespace(clock=clock, duration=duration, controllers=controllers, ended=[])
    run.finish = run.ended.append
    return run


def test_the_run_line_says_simulated_time_real_time_factor_misses_and_time_left() -> None:
    run = fake_run(cycles=(3200, 3200), misses=(1, 2))
    run.clock.sim, run.clock.wall = 40.0, 20.0
    progress = RunProgress(run, io.StringIO())
    assert progress.text() == "t = 40.0 of 300 s (13 %), x2.00 real time, 3 misses in 6,400 cycles, 2 min 10 s left"
    run.clock.sim, run.clock.wall = 0.0, 0.0  # just started: no factor, no time left yet
    assert progress.text() == "t = 0.0 of 300 s (0 %), 3 misses in 6,400 cycles"
    run.controllers[0].stats.misses, run.controllers[1].stats.misses = 1, 0
    run.clock.sim, run.clock.wall = 400.0, 300.0  # past the end (the last step): clamped to the duration
    assert progress.text() == "t = 300.0 of 300 s (100 %), x1.00 real time, 1 miss in 6,400 cycles, 0 s left"


def test_a_piped_headless_run_writes_one_line_per_tenth_of_its_duration() -> None:
    run = fake_run(duration=300.0)
    run.finished = FakeFinished(run.clock, sim_step=4.0, wall_step=1.0, steps=74)  # ends at t = 296 s
    out = io.StringIO()
    watch(run, out)
    lines = out.getvalue().splitlines()
    assert [line.split(" of ")[0] for line in lines] == [f"t = {t:.1f}" for t in (32, 60, 92, 120, 152, 180, 212,
                                                                                 240, 272)]
    assert all("x4.00 real time" in line for line in lines) and "\r" not in out.getvalue()
    assert set(run.finished.timeouts) == {0.25} and run.ended == []  # PIPED_EVERY; the run ended by itself


def test_a_headless_run_on_a_terminal_is_one_line_redrawn_then_wiped() -> None:
    run = fake_run(duration=10.0, cycles=(50,), misses=(2,))
    run.finished = FakeFinished(run.clock, sim_step=0.5, wall_step=0.5, steps=7)
    out = Terminal()
    watch(run, out, columns=80)
    assert out.getvalue().count("\r") == 7 + 2 and "\n" not in out.getvalue()  # 7 redraws, 1 wipe (there and back)
    assert "t = 3.5 of 10 s (35 %), x1.00 real time, 2 misses in 50 cycles, 6 s left" in out.getvalue()
    assert screen(out.getvalue()).strip() == "" and set(run.finished.timeouts) == {0.5}


def test_ctrl_c_while_watching_ends_the_run_as_interrupted_and_wipes_the_line() -> None:
    run = fake_run()

    class Interrupted:
        calls = 0

        def wait(self, timeout: float | None = None) -> bool:
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            run.clock.sim += 1.0
            run.clock.wall += 1.0
            return False

    run.finished = Interrupted()
    out = Terminal()
    watch(run, out, every=0.25)
    assert run.ended == ["interrupted"] and screen(out.getvalue()).strip() == ""


def test_a_real_headless_run_keeps_stdout_as_it_was_and_progress_on_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    args = [str(TINY), "--headless", "--clock", "virtual", "--duration", "0.5", "--no-plot", "--out", str(tmp_path)]
    assert main(args) == 0
    out, err = capfd.readouterr()
    (folder,) = tmp_path.iterdir()
    lines = out.strip().splitlines()
    assert lines[0].startswith("running tiny: ") and lines[-1] == f"report folder: {folder}"
    assert "== Deadline-miss report: tiny (seed 1) ==" in out and "t = " not in out
    assert all(line.startswith("t = ") and " real time, " in line for line in err.splitlines()), err  # progress only


def test_quiet_prints_the_verdict_and_the_folder_only(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    args = [str(TINY), "--headless", "--clock", "virtual", "--duration", "0.5", "--no-plot", "--out", str(tmp_path),
            "--quiet"]
    assert main(args) == 0
    out, err = capfd.readouterr()
    (folder,) = tmp_path.iterdir()
    verdict, where = out.splitlines()
    assert verdict.startswith("tiny (seed 1, 0.5 s simulated, completed): ") and verdict.endswith("deadlines.")
    assert where == f"report folder: {folder}" and err == ""


def test_quiet_lists_the_breached_gates_the_error_line_points_to(tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    from sim.scenario.load import parse_scenario
    from sim.session import execute

    text = TINY.read_text().replace("duration: 2.0", "duration: 0.5\n  clock: virtual") + "expect: {min_orders: 1}\n"
    result = execute(parse_scenario(text), tmp_path, plot=False, echo=True, quiet=True)
    out, err = capfd.readouterr()
    assert result.exit_status == 1
    verdict, breach, where = out.splitlines()
    assert verdict.startswith("tiny (seed 1") and breach.startswith("Expectations FAILED: ")
    assert breach.removeprefix("Expectations FAILED: ") == result.breaches[0]
    assert where == f"report folder: {tmp_path}" and err == "expect: 1 gate(s) breached (listed above)\n"


# ------------------------------------------------------------------ the sweep

class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_piped_sweep_writes_a_line_per_tenth_of_its_runs_and_no_carriage_return() -> None:
    now, out = FakeTime(), io.StringIO()
    progress = Progress(out, now=now)
    progress(0, 25, 0, 0)
    for done in range(1, 26):
        now.t += 2.0
        progress(done, 25, done // 10, 0)
    progress.end_line()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 10
    assert [line.split("] ")[1].split(" done")[0] for line in lines] == [
        "3/25", "5/25", "8/25", "10/25", "13/25", "15/25", "18/25", "20/25", "23/25", "25/25"]
    assert lines[0] == f"[{'#' * 1}{'.' * 9}] 3/25 done, 0 failed, 0 skipped (done before), ~44 s left"
    assert lines[-1] == f"[{'#' * 10}] 25/25 done, 2 failed, 0 skipped (done before), ~0 s left"


def test_the_sweep_on_a_terminal_redraws_one_bar_and_wipes_it() -> None:
    now, out = FakeTime(), Terminal()
    progress = Progress(out, now=now, columns=80)
    progress(2, 4, 0, 2)  # two runs kept from an earlier sweep: the time left waits for a run of this one
    assert out.getvalue() == f"\r[{'#' * 5}{'.' * 5}] 2/4 done, 0 failed, 2 skipped (done before), ~? left"
    now.t += 90.0
    progress(3, 4, 1, 2)
    assert screen(out.getvalue()) == (f"[{'#' * 7}{'.' * 3}] 3/4 done, 1 failed, 2 skipped (done before), "
                                      "~1 min 30 s left")
    progress(4, 4, 1, 2)
    progress.end_line()
    assert "\n" not in out.getvalue() and screen(out.getvalue()).strip() == ""
