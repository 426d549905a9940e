"""After a SIGKILL of the process that started them, no child process and no shared-memory segment survives.

``sim.common.lifeline.die_with_parent`` (prctl PR_SET_PDEATHSIG) in every child the simulator starts;
the ``multiprocessing`` resource tracker unlinks the dead process's segments once every holder of its
pipe (the children included) has gone. Each wait for a process to go is a bounded poll (``GONE_WITHIN``,
generous); nothing here asserts how long it took.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.common import lifeline
from sim.common.lifeline import death_signal, die_with_parent

ROOT = Path(__file__).resolve().parents[1]
SHM = Path("/dev/shm")
GONE_WITHIN = 10.0  # s: a bound for the poll, not a claim about speed
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")


# ---------------------------------------------------------------------- helpers
def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (index 0 = state, 1 = ppid, 19 = start time)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): tells a process from a later one that reuses its pid."""
    fields = _stat(pid)
    return (pid, fields[19]) if fields is not None else None


def _alive(ident: tuple[int, str]) -> bool:
    """Still running (a zombie waiting for its new parent to reap it has ended: it counts as gone)."""
    fields = _stat(ident[0])
    return fields is not None and fields[19] == ident[1] and fields[0] not in ("Z", "X")


def _children(pid: int) -> dict[tuple[int, str], str]:
    """Every child process of ``pid`` (scanning /proc: ppid), with its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != pid:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found[(int(entry.name), fields[19])] = cmd
    return found


def _within(condition: Callable[[], bool], bound: float = GONE_WITHIN) -> bool:
    """Poll ``condition`` every 0.1 s until it holds or ``bound`` seconds passed; its last value."""
    end = time.monotonic() + bound
    while not condition():
        if time.monotonic() > end:
            return condition()
        time.sleep(0.1)
    return True


def _read_line(fd: int, bound: float = 60.0) -> str:
    """One line from a pipe, waiting at most ``bound`` seconds (a child that never writes fails the test)."""
    data = b""
    end = time.monotonic() + bound
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(end - time.monotonic(), 0.0))
        if not ready:
            pytest.fail(f"no line from the child within {bound:g} s (got {data!r})")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _kill(*idents: tuple[int, str] | None) -> None:
    """Clean-up: SIGKILL whatever of these still runs (each checked by identity first)."""
    for ident in idents:
        if ident is not None and _alive(ident):
            os.kill(ident[0], signal.SIGKILL)


def _shm_of(pid: int) -> list[str]:
    """/dev/shm entries named after ``pid``: physics worker segments and rings (with their wake-up FIFOs)."""
    if not SHM.is_dir():
        return []
    return sorted(n for n in os.listdir(SHM) if n.startswith((f"fleetsim_{pid}_", f"simring-{pid}-")))


# ---------------------------------------------------------------------- die_with_parent itself
@LINUX
def test_die_with_parent_arms_the_death_signal_and_is_a_no_op_without_prctl(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OSError):  # an invalid signal: refused, nothing changed
        die_with_parent(os.getppid(), sig=100000)
    monkeypatch.setattr(lifeline, "_prctl", lambda: None)
    assert death_signal() is None
    # Without prctl it does nothing at all: not even the orphan check (a wrong pid would end this process).
    assert die_with_parent(os.getpid()) is False


@LINUX
@pytest.mark.slow
def test_a_child_dies_when_its_parent_is_sigkilled() -> None:
    """Test -> intermediate (forked) -> child (forked, die_with_parent); SIGKILL the intermediate: the child goes."""
    r, w = os.pipe()
    mid = os.fork()
    if mid == 0:  # the intermediate
        try:
            os.close(r)
            me = os.getpid()
            if os.fork() == 0:  # the child
                try:
                    armed = die_with_parent(me)
                    os.write(w, f"{os.getpid()} {int(armed)} {death_signal()}\n".encode())
                    time.sleep(120)  # the kernel ends it long before
                finally:
                    os._exit(0)
            time.sleep(120)
        finally:
            os._exit(0)
    os.close(w)
    child = None
    try:
        pid, armed, sig = (int(x) for x in _read_line(r).split())
        child = _identity(pid)
        assert child is not None and _alive(child)
        assert (armed, sig) == (1, signal.SIGKILL)
        os.kill(mid, signal.SIGKILL)
        os.waitpid(mid, 0)
        assert _within(lambda: not _alive(child)), "the child outlived its SIGKILLed parent"
    finally:
        os.close(r)
        _kill(child)
        with_pid = _identity(mid)
        if with_pid is not None:
            _kill(with_pid)
            os.waitpid(mid, os.WNOHANG)


@LINUX
@pytest.mark.slow
def test_a_child_whose_parent_died_before_it_asked_ends_at_once() -> None:
    """The race: the parent is SIGKILLed before the child's prctl; no death signal can come, the pid check ends it."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    mid = os.fork()
    if mid == 0:
        try:
            os.close(r)
            os.close(go_w)
            me = os.getpid()
            if os.fork() == 0:
                try:
                    os.write(w, f"{os.getpid()}\n".encode())
                    os.read(go_r, 1)  # wait until the test has killed our parent
                    die_with_parent(me)
                    os.write(w, b"survived\n")  # never reached: die_with_parent ended this process
                    time.sleep(120)
                finally:
                    os._exit(0)
            time.sleep(120)
        finally:
            os._exit(0)
    os.close(w)
    os.close(go_r)
    child = None
    try:
        child = _identity(int(_read_line(r)))
        assert child is not None
        os.kill(mid, signal.SIGKILL)
        os.waitpid(mid, 0)
        fields = _stat(child[0])
        assert fields is not None and int(fields[1]) != mid  # handed to another process already
        os.write(go_w, b"x")
        assert _within(lambda: not _alive(child)), "a child that lost its parent before asking kept running"
        assert os.read(r, 100) == b"", "die_with_parent returned"  # every writer has gone: EOF
    finally:
        os.close(r)
        os.close(go_w)
        _kill(child)


# ---------------------------------------------------------------------- the simulator's children
@LINUX
@pytest.mark.slow
def test_a_sweep_worker_arms_its_lifeline_first() -> None:
    """``init_worker`` (a local sweep's process pool initializer) asks to die with the sweep."""
    from sim.sweep.worker import init_worker

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            init_worker(None, [], None, os.getppid())  # fewer than 2 CPUs given: no pinning, no counter used
            os.write(w, f"{death_signal()}\n".encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert int(_read_line(r)) == signal.SIGKILL
    finally:
        os.close(r)
        os.waitpid(pid, 0)


HOLDER_SCRIPT = """\
import json, os, subprocess, sys, time
import numpy as np
from sim.features.tracefmt import formatter_command
from sim.world.workers import WorkerPool

if __name__ == "__main__":
    pool = WorkerPool(np.array([[0.0, 0.0, 10.0, 0.0], [10.0, 0.0, 10.0, 8.0]]), 1.0, workers=2, max_robots=4,
                      max_beams=8)
    pool.start()
    fmt = subprocess.Popen(formatter_command(sys.argv[1], 100), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    holder = os.fork()
    if holder == 0:  # holds every pipe end and the resource tracker's pipe, and has no lifeline
        time.sleep(120)
        os._exit(0)
    print(json.dumps({"workers": pool.pids, "formatter": fmt.pid, "holder": holder}), flush=True)
    time.sleep(120)
"""


@LINUX
@pytest.mark.slow
def test_workers_and_the_trace_formatter_die_with_their_parent_even_while_their_pipes_stay_open(
        tmp_path: Path) -> None:
    """A forked process keeps every pipe of the killed parent open, so no child reads EOF: only the lifeline ends them.

    It also keeps the resource tracker's pipe: the segments stay until it too has gone (why children must die).
    """
    script = tmp_path / "holder.py"
    script.write_text(HOLDER_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "trace.tmp")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    idents: list[tuple[int, str] | None] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            pytest.fail(proc.communicate(timeout=30)[1])
        pids = json.loads(line)
        children = [_identity(p) for p in [*pids["workers"], pids["formatter"]]]
        holder = _identity(pids["holder"])
        idents = [*children, holder]
        assert all(c is not None and _alive(c) for c in idents)
        segments = _shm_of(proc.pid)
        assert segments, "the pool made no segment named after its process"
        proc.kill()
        proc.wait(timeout=30)
        assert _within(lambda: not any(_alive(c) for c in children if c is not None)), \
            [c for c in children if c is not None and _alive(c)]
        assert holder is not None and _alive(holder)
        assert _shm_of(proc.pid) == segments  # the holder keeps the tracker's pipe open: nothing unlinked yet
        _kill(holder)
        assert _within(lambda: _shm_of(proc.pid) == []), _shm_of(proc.pid)
    finally:
        proc.kill()
        _kill(*idents)  # first: a survivor would hold the pipes communicate() reads to their end
        proc.communicate(timeout=30)  # reaps it, closes its pipes


RING_SCRIPT = """\
import os, time
from sim.common.lifeline import die_with_parent
from sim.common.ring import Ring

ring = Ring.create(8, 64)
parent = os.getpid()
child = os.fork()
if child == 0:  # a robot host's start: the lifeline first, then attach to its ring
    die_with_parent(parent)
    mine = Ring.attach(ring.name)
    mine.put(b"hello")
    time.sleep(120)
    os._exit(0)
assert ring.get(timeout=30) == b"hello"
print(child, ring.name, flush=True)
time.sleep(120)
"""


@LINUX
@pytest.mark.slow
def test_a_forked_ring_user_dies_with_the_ring_creator_and_the_ring_is_unlinked() -> None:
    """What a robot host will do: fork, die_with_parent, attach to a ring. SIGKILL the creator: both go."""
    proc = subprocess.Popen([sys.executable, "-c", RING_SCRIPT], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    child = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            pytest.fail(proc.communicate(timeout=30)[1])
        pid, name = line.split()
        child = _identity(int(pid))
        assert child is not None
        assert name.startswith(f"simring-{proc.pid}-")
        assert set(_shm_of(proc.pid)) == {name, f"{name}.wake"}
        proc.kill()
        proc.wait(timeout=30)
        assert _within(lambda: not _alive(child)), "the forked ring user outlived its parent"
        assert _within(lambda: _shm_of(proc.pid) == []), _shm_of(proc.pid)
    finally:
        proc.kill()
        _kill(child)  # first: a survivor would hold the pipes communicate() reads to their end
        proc.communicate(timeout=30)  # reaps it, closes its pipes


@LINUX
@pytest.mark.slow
def test_sigkill_of_a_run_leaves_no_child_process_and_no_shared_memory(tmp_path: Path) -> None:
    """The warehouse with two physics workers and the trace formatter, SIGKILLed mid-run."""
    text = (ROOT / "scenarios" / "warehouse.yaml").read_text()
    assert "\n  workers: 0\n" in text
    scenario = tmp_path / "warehouse.yaml"
    scenario.write_text(text.replace("\n  workers: 0\n", "\n  workers: 2\n"))
    proc = subprocess.Popen(
        [sys.executable, "run.py", str(scenario), "--headless", "--clock", "virtual", "--duration", "600",
         "--out", str(tmp_path / "runs"), "--no-plot"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    children: dict[tuple[int, str], str] = {}
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the workers, the formatter and every thread have started
        if not first.startswith("running "):
            proc.kill()
            pytest.fail(first + proc.communicate(timeout=30)[1])
        children = _children(proc.pid)
        cmds = list(children.values())
        assert sum("multiprocessing.spawn" in c for c in cmds) == 2, cmds  # the physics workers
        assert sum("sim.features.tracefmt" in c for c in cmds) == 1, cmds
        segments = _shm_of(proc.pid)
        assert segments and all(n.startswith(f"fleetsim_{proc.pid}_") for n in segments)
        proc.kill()
        proc.wait(timeout=30)
        assert _within(lambda: not any(_alive(c) for c in children)), \
            [children[c] for c in children if _alive(c)]
        assert _within(lambda: _shm_of(proc.pid) == []), _shm_of(proc.pid)
    finally:
        proc.kill()
        _kill(*children)  # first: a survivor would hold the pipes communicate() reads to their end
        proc.communicate(timeout=30)  # reaps it, closes its pipes


FROZEN_HOST = """\
name: frozen
world: {size: [12.0, 8.0]}
run: {duration: 600, hosts: 2, host_silence_limit: 3600, call_limit: 3600}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors: [{type: imu, rate_hz: 100}, {type: odometry, rate_hz: 50}]
    controller: {type: 'host_plugins:GilHolder', period: 0.05, after: 5, seconds: 600}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors: [{type: lidar, rate_hz: 10}, {type: imu, rate_hz: 100}]
    controller: {type: waypoint, period: 0.05, waypoints: [[10.0, 4.0]]}
"""


@pytest.mark.slow
@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_sigkill_of_a_run_with_robot_hosts_leaves_no_host_and_no_ring(tmp_path: Path, clock: str) -> None:
    """Two robot host processes (forked: same command line as the world) and their rings, SIGKILLed mid-run;
    host-1 is frozen in a C call holding its GIL (it can read no pipe): only its lifeline ends it."""
    scenario = tmp_path / "frozen.yaml"
    scenario.write_text(FROZEN_HOST)
    proc = subprocess.Popen(
        [sys.executable, "run.py", str(scenario), "--headless", "--clock", clock, "--out", str(tmp_path / "runs"),
         "--no-plot"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / "tests")))
    children: dict[tuple[int, str], str] = {}
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first.startswith("running "):
            proc.kill()
            pytest.fail(first + proc.communicate(timeout=30)[1])
        children = _children(proc.pid)
        cmds = list(children.values())
        assert sum("run.py" in c for c in cmds) == 2, cmds  # the hosts, forked from the world
        rings = [p.name for p in SHM.iterdir() if p.name.startswith(f"simring-{proc.pid}-")]
        assert len(rings) >= 2 * 2 * 3, rings  # per host: a ring per sensor kind, events, uplink (+ wake FIFOs)
        time.sleep(1.0)  # host-1 freezes after its 5th cycle (0.25 s)
        proc.kill()
        proc.wait(timeout=30)
        assert _within(lambda: not any(_alive(c) for c in children)), \
            [children[c] for c in children if _alive(c)]
        assert _within(lambda: not [p for p in SHM.iterdir() if p.name.startswith(f"simring-{proc.pid}-")])
    finally:
        proc.kill()
        _kill(*children)
        proc.communicate(timeout=30)
