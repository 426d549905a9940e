"""Runs the hostile corpus (``tests/hostile/cases_*.py``): every case a real ``run.py`` process."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import hostile
import pytest
from hostile import ROOT, Case

# Case modules are found by name, so a new class of failure needs no edit here.
CASES: list[Case] = [
    case
    for info in sorted(pkgutil.iter_modules(hostile.__path__), key=lambda m: m.name)
    if info.name.startswith("cases_")
    for case in importlib.import_module(f"hostile.{info.name}").CASES
]


# A headless run's progress (sim.session.progress) on stderr: a line per tenth of the run into a pipe. It is not what
# a case's stderr is about (the error lines): the Result a case's checks see has it taken out.
PROGRESS = re.compile(r"^t = [\d.]+ of \S+ s \(\d+ %\).*\n?", re.M)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{root}", str(ROOT))


def run_case(case: Case, tmp: Path) -> Result:
    """Write the case's files, run ``run.py`` with its argv in ``tmp``, deliver its signals."""
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_fill(content, tmp))
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT),
           **{k: _fill(v, tmp) for k, v in case.env.items()}}
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *(_fill(a, tmp) for a in case.argv)],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    out: list[str] = []
    err: list[str] = []
    seen = threading.Condition()

    def pump(stream, sink: list[str]) -> None:
        for line in stream:
            with seen:
                sink.append(line)
                seen.notify_all()

    pumps = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
             threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
    for t in pumps:
        t.start()
    try:
        _deliver(case, proc, out, err, seen, _script_started(proc, case.timeout))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        for t in pumps:
            t.join(5)
        proc.stdout.close()
        proc.stderr.close()
    return Result(proc.returncode, "".join(out), PROGRESS.sub("", "".join(err)))  # progress lines out


def _script_started(proc: subprocess.Popen, timeout: float) -> float:
    """The monotonic time run.py's first line had run (SIGINT blocked, or numpy already mapped: past it).

    Timed signals count from there, not from the fork: before it the process is still in CPython's
    own start-up (the ``site`` import), where a SIGINT is CPython's fatal error, which no script can
    guard and whose length is the machine's load, not the simulator's.
    """
    status, maps = Path(f"/proc/{proc.pid}/status"), Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            blocked = next(line for line in status.read_text().splitlines() if line.startswith("SigBlk:"))
            if int(blocked.split()[1], 16) & (1 << (signal.SIGINT - 1)) or "numpy" in maps.read_text():
                break
        except (OSError, StopIteration):
            break  # the process is gone, or no /proc: count from now
        time.sleep(0.0002)
    return time.monotonic()


def _deliver(case: Case, proc: subprocess.Popen, out: list[str], err: list[str], seen: threading.Condition,
             t0: float) -> None:
    """Send the case's signals, each when its time or its output has come; then wait for the end."""
    for send in case.sends:
        if isinstance(send.after, str):
            pattern = re.compile(send.after)
            sink = err if send.stream == "stderr" else out
            with seen:
                assert seen.wait_for(lambda p=pattern, s=sink: p.search("".join(s)) or proc.poll() is not None,
                                     timeout=case.timeout), f"{case.name}: never printed {send.after!r}"
        else:
            time.sleep(max(0.0, t0 + send.after - time.monotonic()))
        if proc.poll() is None:
            if send.group:
                os.killpg(proc.pid, send.sig)
            else:
                proc.send_signal(send.sig)
    proc.wait(timeout=case.timeout)


def _params():
    for case in CASES:
        marks = [pytest.mark.slow] if case.slow else []
        yield pytest.param(case, id=case.name, marks=marks)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60, f"the hostile corpus has {len(CASES)} cases"
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "two cases share a name"


# Cases run two at a time, ahead of their tests (each is a run.py process, ~1.2 s of CPU, and the corpus
# was half the suite's wall time on 2 cores); every case has its own folder and process group, and the
# checks that look for leftover processes look for that folder's. A case that starts processes of its
# own (a sweep, worker processes) runs alone: two of those at once on a loaded host missed their timeouts.
AT_ONCE = 2


def _alone(case: Case) -> bool:
    return bool(case.argv and case.argv[0] == "sweep") or any("workers" in str(v) for v in case.files.values())


class _Slots:
    """AT_ONCE slots handed out in the order asked for (a case waiting to run alone holds back later ones)."""

    def __init__(self) -> None:
        self._free, self._next, self._serving = AT_ONCE, 0, 0
        self._cond = threading.Condition()

    def run(self, case: Case, tmp: Path) -> Result:
        need = AT_ONCE if _alone(case) else 1
        with self._cond:
            ticket, self._next = self._next, self._next + 1
            self._cond.wait_for(lambda: self._serving == ticket and self._free >= need)
            self._free -= need
            self._serving += 1
            self._cond.notify_all()
        try:
            return run_case(case, tmp)
        finally:
            with self._cond:
                self._free += need
                self._cond.notify_all()


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Future[Result]]]]:
    """Every selected case started in a pool of AT_ONCE, in test order: name -> (its folder, its result)."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_hostile" and hasattr(item, "callspec")]
    pool, slots = ThreadPoolExecutor(AT_ONCE, thread_name_prefix="hostile"), _Slots()
    started = {}
    for i, case in enumerate(selected):
        tmp = tmp_path_factory.mktemp(f"case{i:03d}-")  # fixed width: no folder's name starts another's
        started[case.name] = (tmp, pool.submit(slots.run, case, tmp))
    yield started
    pool.shutdown(cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("case", _params())
def test_hostile(case: Case, corpus: dict[str, tuple[Path, Future[Result]]]) -> None:
    tmp_path, started = corpus[case.name]
    r = started.result(timeout=case.timeout + 60)
    where = f"{case.name}: exit {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    assert r.returncode == case.exit, where
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, where
    one_line = case.one_line if case.one_line is not None else case.exit == 2
    if one_line:
        assert len(r.stderr.strip().splitlines()) == 1, where
        assert len(r.stderr) <= 400, where  # echoed values are shortened
    if case.stderr is not None:
        assert re.search(case.stderr, r.stderr), where
    if case.stdout is not None:
        assert re.search(case.stdout, r.stdout), where
    if case.check is not None:
        case.check(tmp_path, r)
