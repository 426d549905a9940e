"""Shutdown: Ctrl-C (once or many times), SIGTERM and the end of the run stop everything, leave nothing.

Each subprocess test bounds its wait for the process to exit; "stopped within
1 s" is read from the report (``threads_not_stopped`` lists threads not joined
within ``SHUTDOWN_TIMEOUT``), never from how long the test took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sim.common.files import write_atomic, write_json
from sim.report.build import build_report
from sim.runtime.run import SHUTDOWN_TIMEOUT, Run
from sim.scenario.load import load_scenario

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SHM = Path("/dev/shm")

HOG_SCENARIO = """\
name: hogged
world: {size: [10.0, 6.0]}
run: {duration: 3600.0, seed: 1}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {type: lidar, rate_hz: 10, beams: 90}
      - {type: imu, rate_hz: 100}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 1.0], [1.0, 1.0]]}
faults:
  - {name: hog, kind: cpu_hog, start: 0.0, duration: 3000.0, threads: 2}
  - {name: crunch, kind: numpy_load, start: 0.0, duration: 3000.0, size: 200000}
"""


def start_cli(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "run.py", *args, "--headless", "--no-plot"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once every thread has started
    if not first.startswith("running "):
        proc.kill()
        pytest.fail(first + proc.communicate(timeout=30)[1])
    return proc


def the_run_folder(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def assert_clean(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["threads_not_stopped"] == []
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # atomic writes only
    return report


def shm() -> set[str]:
    return {p.name for p in SHM.iterdir()} if SHM.is_dir() else set()


def leftover_shm(pid: int, before: set[str]) -> list[str]:
    """Segments the process ``pid`` left behind (the pool names them fleetsim_<pid>_...).

    Other test runs on the host make their own segments meanwhile, so a plain before/after
    diff would blame them on this run; anonymous ``psm_`` segments that appeared count too.
    """
    return sorted(n for n in shm() if n.startswith(f"fleetsim_{pid}_") or (n.startswith("psm_")
                                                                             and n not in before))


def run_to_end(*args: str) -> tuple[int, int, str]:
    """Run the CLI to its end: (pid, exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, "run.py", *args, "--headless", "--no-plot"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.pid, proc.returncode, stderr


@pytest.mark.slow
def test_ctrl_c_again_and_again_during_shutdown_still_writes_the_report(tmp_path: Path) -> None:
    proc = start_cli(str(TINY), "--duration", "3600", "--out", str(tmp_path))
    try:
        # Ctrl-C every 20 ms until the report exists: some land in wait(), some in stop() and
        # the joins, some while the report is built and written.
        end = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < end and not list(tmp_path.glob("*/report.json")):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stdout[-3000:] + stderr
    assert "Traceback" not in stderr + stdout
    report = assert_clean(the_run_folder(tmp_path))
    assert report["run"]["end_reason"] == "interrupted"


@pytest.mark.slow
def test_sigterm_with_load_threads_running_stops_them_all(tmp_path: Path) -> None:
    scenario = tmp_path / "hogged.yaml"
    scenario.write_text(HOG_SCENARIO)
    out = tmp_path / "runs"
    proc = start_cli(str(scenario), "--out", str(out), "--no-trace")
    try:
        time.sleep(0.5)  # the load windows are open from t = 0
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    report = assert_clean(the_run_folder(out))
    assert report["run"]["end_reason"] == "terminated"
    names = {t["name"] for t in report["run"]["threads"]}
    assert {"fault:hog-0", "fault:hog-1", "fault:crunch"} <= names
    assert all(v > 0 for f in report["faults"] for v in f["work"].values())


@pytest.mark.slow
def test_reaching_the_end_leaves_no_thread_temp_file_or_shared_memory(tmp_path: Path) -> None:
    before = shm()
    scenario = tmp_path / "pooled.yaml"
    scenario.write_text(WORKER_SCENARIO.replace("duration: 3600.0", "duration: 1.0"))
    pid, code, stderr = run_to_end(str(scenario), "--out", str(tmp_path / "runs"))
    assert code == 0, stderr
    report = assert_clean(the_run_folder(tmp_path / "runs"))
    assert report["run"]["end_reason"] == "completed"
    assert leftover_shm(pid, before) == []


WORKER_SCENARIO = """\
name: pooled
world: {size: [10.0, 6.0]}
physics: {workers: 1}
run: {duration: 3600.0, seed: 1, time_scale: 2.0}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {type: lidar, rate_hz: 10, beams: 90}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 1.0], [1.0, 1.0]]}
"""


@pytest.mark.slow
def test_sigterm_with_worker_processes_leaves_no_shared_memory(tmp_path: Path) -> None:
    before = shm()
    scenario = tmp_path / "pooled.yaml"
    scenario.write_text(WORKER_SCENARIO)
    out = tmp_path / "runs"
    proc = start_cli(str(scenario), "--out", str(out), "--no-trace")
    try:
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert assert_clean(the_run_folder(out))["run"]["end_reason"] == "terminated"
    assert leftover_shm(proc.pid, before) == []


@pytest.mark.slow
def test_a_killed_worker_ends_the_run_named_and_leaves_no_shared_memory(tmp_path: Path) -> None:
    before = shm()
    scenario = tmp_path / "pooled.yaml"
    scenario.write_text(WORKER_SCENARIO + "faults:\n  - {name: kill, kind: kill_worker, start: 0.5}\n")
    pid, code, stderr = run_to_end(str(scenario), "--no-trace", "--out", str(tmp_path / "runs"))
    assert code == 1, stderr
    report = assert_clean(the_run_folder(tmp_path / "runs"))
    failures = report["run"]["failures"]  # every thread that used the dead worker says so
    assert report["run"]["end_reason"] == f"failure in {failures[0]['thread']}"
    # the exit signal is named when the OS has reaped the worker in time (not under heavy load)
    assert all("physics worker 0" in f["error"] for f in failures), failures
    assert "died" in failures[0]["error"], failures
    assert "killed physics worker 0" in report["faults"][0]["notes"]
    assert leftover_shm(pid, before) == []


@pytest.mark.slow
def test_stop_mid_run_joins_every_thread_in_bounded_time(tmp_path: Path) -> None:
    run = Run(load_scenario(TINY, {"run.duration": 3600.0}), tmp_path)
    run.start()
    assert not run.finished.wait(0.3)
    t0 = time.monotonic()
    hung = run.stop()
    assert hung == [] and run.hung_threads == []
    assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT + 5  # bounded: a hang would show as `hung`
    assert not [t.name for t in threading.enumerate() if t.name in {i.name for i in run.threads}]
    assert build_report(run, "t")["run"]["end_reason"] == "stopped"


@pytest.mark.slow
def test_a_thread_that_ignores_stop_is_named_not_waited_for(tmp_path: Path) -> None:
    run = Run(load_scenario(TINY, {"run.duration": 3600.0}), tmp_path)
    release = threading.Event()
    run.start()
    run.supervisor.spawn("stubborn", lambda: release.wait(30))
    try:
        hung = run.stop()
    finally:
        release.set()
    assert hung == ["stubborn"]
    assert build_report(run, "t")["run"]["threads_not_stopped"] == ["stubborn"]


def test_atomic_write_keeps_the_old_file_and_no_temp_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(path, {"ok": 1})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    write_atomic(path, b"bytes too")
    assert path.read_bytes() == b"bytes too"
