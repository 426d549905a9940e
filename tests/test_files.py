"""Nothing half-written, ever (issue 13, class 6), and signals at any moment (class 5), in-process.

Each writer gets a write that fails (a file object that runs out of room after a few
bytes, injected where the writer opens its file): the file never gets its final name,
its temp file is gone, and the error names the file and the OS error. A tmpfs of
256 KiB shows the same on a real full disk (skipped, saying why, where mounting is not
allowed). Modes follow the umask.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sim.common import interrupt
from sim.common.files import AtomicFile, write_atomic, write_json
from sim.core.control import Cycle
from sim.errors import OutputError
from sim.features import tracefmt
from sim.features.cyclelog import CycleLog
from sim.features.record import FoxgloveRecorder
from sim.report.outputs import write_plot
from sim.runtime.run import Run
from sim.scenario.load import load_scenario
from tests.scripted_run import TINY, virtual_run

ROOT = Path(__file__).resolve().parents[1]


class _Full:
    """A file that takes ``room`` bytes, then fails every write and flush with ENOSPC (a full disk)."""

    def __init__(self, file: Any, room: int) -> None:
        self._file, self._room = file, room

    def write(self, data: Any) -> int:
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(data)

    def flush(self) -> None:
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _full_disk(monkeypatch: pytest.MonkeyPatch, module: Any, room: int) -> None:
    """Every AtomicFile ``module`` opens runs out of room after ``room`` bytes."""

    class FullAtomicFile(AtomicFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.file = _Full(self.file, room)

    monkeypatch.setattr(module, "AtomicFile", FullAtomicFile)


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _says_full(exc: OutputError, name: str) -> None:
    assert str(exc).endswith(f"{name}: not written: [Errno 28] No space left on device"), str(exc)


# ---------------------------------------------------------------------- each writer
def test_report_json_on_a_full_disk_keeps_the_old_file_and_no_temp(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.common.files

    path = tmp_path / "report.json"
    write_json(path, {"ok": 1})
    _full_disk(monkeypatch, sim.common.files, room=5)
    with pytest.raises(OutputError) as info:
        write_json(path, {"ok": 2, "more": "x" * 100})
    _says_full(info.value, "report.json")
    assert json.loads(path.read_text()) == {"ok": 1} and _only(tmp_path) == ["report.json"]


def test_a_failing_fsync_or_rename_never_leaves_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(OutputError, match=r"a\.bin: not written: \[Errno 5\] Input/output error"):
        write_atomic(tmp_path / "a.bin", b"data")
    monkeypatch.undo()

    def no_rename(src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OutputError, match=r"\[Errno 18\]"):
        write_atomic(tmp_path / "a.bin", "text")
    assert _only(tmp_path) == []


class _Supervisor:
    def __init__(self) -> None:
        self.reported: list[tuple[str, BaseException]] = []

    def report(self, name: str, exc: BaseException) -> None:
        self.reported.append((name, exc))


class _FakeRun:
    def __init__(self) -> None:
        self.supervisor = _Supervisor()
        self.scenario = SimpleNamespace(run=SimpleNamespace(clock="real"))  # rows as they come (CycleLog)
        self.controllers: list[object] = []


def test_cycles_csv_cut_mid_run_is_never_renamed_and_ends_the_run_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.features.cyclelog

    _full_disk(monkeypatch, sim.features.cyclelog, room=9000)  # the header and a few dozen rows fit
    log = CycleLog(tmp_path / "cycles.csv")
    fake = _FakeRun()
    log.on_start(fake)
    for k in range(500):
        log.on_cycle(Cycle("amr-1", k, k * 0.1, k * 0.1, k * 0.1, k * 0.1 + 0.01, 0.1, 0.001,
                           False, False, False, None, (("odometry", 0.01),)))
    with pytest.raises(OutputError) as info:
        log.close()
    _says_full(info.value, "cycles.csv")
    assert [name for name, _ in fake.supervisor.reported] == ["cycle-log"]  # told while writing, not at close
    assert _only(tmp_path) == []  # no cycles.csv cut at row 57, no temp file


def test_recording_on_a_full_disk_is_removed_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.features.record

    _full_disk(monkeypatch, sim.features.record, room=2000)
    run, report = virtual_run(tmp_path, [FoxgloveRecorder()], {"run.duration": 0.5})
    (err,) = run.output_errors
    _says_full(err, "recording.mcap")
    assert "recording" not in report and "recording.mcap" not in _only(tmp_path)
    assert not [n for n in _only(tmp_path) if n.endswith(".tmp")]
    assert any(f.thread == "listener:FoxgloveRecorder" and f.traceback == "" for f in run.failures)


def test_report_png_on_a_full_disk_raises_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.common.files

    _, report = virtual_run(tmp_path, [], {"run.duration": 0.5})
    _full_disk(monkeypatch, sim.common.files, room=1000)
    with pytest.raises(OutputError) as info:
        write_plot(report, tmp_path)
    _says_full(info.value, "report.png")
    assert not [n for n in _only(tmp_path) if n == "report.png" or n.endswith(".tmp")]


def test_trace_formatter_on_a_full_disk_reads_to_the_end_removes_its_file_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".trace.json.x.tmp"
    path.write_text("")
    real_open = tracefmt._open
    monkeypatch.setattr(tracefmt, "_open", lambda p: _Full(real_open(p), 200))
    batch = [(tracefmt.INSTANT, {"name": "e", "ph": "i", "ts": i, "pid": 1, "tid": 1}) for i in range(50)]
    source = io.BytesIO(tracefmt.frame(batch) * 5 + tracefmt.HEADER.pack(0) + b"never read")
    counts, error = tracefmt.serve(source, str(path), 100)
    assert counts is None and error == "[Errno 28] No space left on device"
    assert source.read() == b"never read"  # it read up to the end message: the parent never met a broken pipe
    assert not path.exists()


def test_trace_formatter_whose_parent_went_away_removes_its_file(tmp_path: Path) -> None:
    path = tmp_path / ".trace.json.x.tmp"
    path.write_text("")
    counts, error = tracefmt.serve(io.BytesIO(tracefmt.frame([(tracefmt.INSTANT, {})])), str(path), 10)
    assert (counts, error) == (None, None) and not path.exists()


# ---------------------------------------------------------------------- the umask
@pytest.mark.parametrize("mask", [0o027, 0o077])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    from sim.features.trace import TraceWriter

    old = os.umask(mask)
    try:
        _, report = virtual_run(tmp_path, [TraceWriter(), FoxgloveRecorder()], {"run.duration": 0.5})
        write_json(tmp_path / "report.json", report)
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["cycles.csv", "trace.json", "recording.mcap", "report.json"],
                                  oct(0o666 & ~mask))


# ---------------------------------------------------------------------- a real full disk
@pytest.mark.slow
def test_a_full_tmpfs_ends_the_run_with_one_line_per_file_and_no_half_file(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        scenario = tmp_path / "s.yaml"
        scenario.write_text(TINY.read_text())
        res = subprocess.run([sys.executable, "run.py", str(scenario), "--headless", "--clock", "virtual",
                              "--duration", "60", "--out", str(disk / "runs")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 1, res.stdout[-2000:] + res.stderr
        assert "Traceback" not in res.stdout + res.stderr
        lines = [line for line in res.stderr.strip().splitlines() if not line.startswith("t = ")]  # not progress
        assert lines, res.stderr
        for line in lines:
            assert re.fullmatch(r"error: .*/(cycles\.csv|trace\.json|report\.json|report\.png): not written: "
                                r"\[Errno 28\] No space left on device", line), line
        (folder,) = (disk / "runs").iterdir()
        names = _only(folder)
        assert not [n for n in names if n.startswith(".")], names  # no temp file left
        failed = {re.search(r"/([^/]+): not written", line).group(1) for line in lines}
        assert not failed & set(names)
        if "report.json" in names:
            json.loads((folder / "report.json").read_text())
        if "trace.json" in names:
            json.loads((folder / "trace.json").read_text())
        if "cycles.csv" in names:
            rows = (folder / "cycles.csv").read_text().splitlines()
            assert len({r.count(",") for r in rows}) == 1
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ---------------------------------------------------------------------- signals, in-process
@pytest.fixture
def handlers():
    restore = interrupt.install()
    try:
        yield
    finally:
        restore()


def test_a_signal_before_anything_is_on_disk_raises_once(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)  # a second one does not unwind the clean-up of the first
    assert interrupt.received() == signal.SIGTERM and interrupt.end_reason() == "terminated"


def test_a_deferred_signal_calls_the_action_and_never_raises(handlers: None) -> None:
    called: list[str] = []
    done = threading.Event()

    def action(reason: str) -> None:
        called.append(reason)
        done.set()

    with interrupt.deferred(action):
        signal.raise_signal(signal.SIGINT)
        assert done.wait(10)
        with pytest.raises(KeyboardInterrupt), interrupt.interruptible():
            signal.raise_signal(signal.SIGINT)  # pure computation (the warm-up) is cut short
    assert called[0] == "interrupted"


def test_a_signal_during_the_warm_up_ends_the_run_before_any_thread(tmp_path: Path, handlers: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run(load_scenario(TINY, {"run.duration": 3600.0}), tmp_path)

    def warm_up() -> None:  # runs in its own watched thread: the signal ends the run, not this call
        signal.raise_signal(signal.SIGTERM)
        assert run.finished.wait(10), "the signal did not end the run"

    monkeypatch.setattr(run, "warm_up", warm_up)
    with interrupt.deferred(run.finish):
        run.start()
        run.stop()
    assert run.end_reason == "terminated" and run.threads == [] and run.failures == []
    assert _only(tmp_path) == ["cycles.csv"]
