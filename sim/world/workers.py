"""Worker processes for the physics' CPU-heavy steps: lidar ray casts and collision checks.

Threads share one GIL, so CPU work in the simulator's process delays controller
wake-ups; ``physics.workers: N`` moves that work into N processes. The world goes
over once, at start, as shared-memory segments (the wall segments, from which each
worker rebuilds the same segment grid; and a grid map's clearance bytes, which
the workers cast against in place). Per request the caller writes robot poses,
radii, which robots to scan and the beam layout into a shared *request block*,
sends each worker a small Pipe message naming its slice of robots, and waits;
workers write ranges (float64, bitwise what the inline cast gives) or collision
flags into the block and answer with a small message. No array is pickled per step.

Two *lanes* (``cast`` and ``collide``), each with its own block, Pipe per worker
and lock, let the physics thread check collisions while a lidar cast is in
flight; a worker casting a big batch answers a collision request between chunks.

A worker that dies is noticed by the waiting caller at once (``connection.wait``
on the Pipes *and* every worker's ``Process.sentinel``) and raised as
``WorkerDied`` naming it and its exit code; the Supervisor then ends the run.
The other way round, a worker dies with the process that started it, even a SIGKILLed
one that runs no clean-up (``sim.common.lifeline``); the resource tracker then unlinks
the segments.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import signal
import threading
import time
import weakref
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.shared_memory import SharedMemory
from typing import Any, NoReturn

import numpy as np

from sim.common.interrupt import blocked
from sim.errors import WorkerDied, WorkerError, WorkerTimeout  # defined there; importable from here as before
from sim.world.occgrid import OccupancyGrid
from sim.world.workerproc import _cast_specs, _collide_specs, _grid_specs, _layout, _views, _worker_main

__all__ = ["SHM_PREFIX", "WorkerDied", "WorkerError", "WorkerPool", "WorkerTimeout"]

SHM_PREFIX = "fleetsim"  # every segment is named fleetsim_<pid>_<token>_<what> (easy to audit in /dev/shm)
MIN_ROWS = 2  # fewer robots than this per worker are not worth another message
CALL_TIMEOUT = 30.0  # s real: a worker silent this long is hung
STOP_GRACE = 0.3  # s real: workers asked to stop get this long before terminate()


@dataclass
class _Lane:
    """One kind of request: its shared block, a Pipe end per worker, a lock for callers."""

    name: str
    shm: SharedMemory
    arrays: dict[str, np.ndarray]
    conns: list[Connection]
    lock: threading.Lock


# ---------------------------------------------------------------------- caller side
class WorkerPool:
    """N worker processes sharing the world through shared memory. ``start``, use, ``close``.

    Thread-safe: each lane serialises its callers. Deep copies return the pool itself
    (sensors are deep-copied for warm-up; the pool is a service, not sensor state).
    """

    def __init__(self, segments: np.ndarray, cell_size: float, workers: int, max_robots: int,
                 max_beams: int, grid: OccupancyGrid | None = None) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.n_workers = workers
        self.max_robots = max(1, int(max_robots))
        self.max_beams = max(1, int(max_beams))
        self._segments = np.ascontiguousarray(segments, dtype=np.float64).reshape(-1, 4)
        self._cell_size = float(cell_size)
        self._grid = grid  # a grid map: its cells and clearance go over once, in a segment of their own
        self._tag = f"{SHM_PREFIX}_{os.getpid()}_{secrets.token_hex(4)}"
        self._shms: list[SharedMemory] = []
        self._procs: list[Any] = []
        self._lanes: dict[str, _Lane] = {}
        self._rotate = itertools.count()
        self.broken: BaseException | None = None
        self.closed = False
        self.requests = {"cast": 0, "collide": 0}
        # Physics sends collision checks here only without numba (or when this is set): the
        # compiled check takes ~10 µs, far cheaper than a round trip.
        self.collide_in_pool = False
        self._finalizer: weakref.finalize | None = None

    def __deepcopy__(self, memo: dict) -> WorkerPool:
        return self

    @property
    def segment_names(self) -> list[str]:
        """Names of the shared-memory segments this pool created (all unlinked by ``close``)."""
        return [s.name for s in self._shms]

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self._procs]

    # ------------------------------------------------------------------ life cycle
    def _segment(self, what: str, size: int) -> SharedMemory:
        shm = SharedMemory(name=f"{self._tag}_{what}", create=True, size=max(size, 1))
        self._shms.append(shm)
        return shm

    def start(self, timeout: float = 120.0) -> None:
        """Create the segments, spawn the workers and wait until each has built its map.

        Call it from a thread that outlives the pool (the main thread; ``Run.start`` and ``Run.stop``
        share one): each worker dies with the thread that started it (``sim.common.lifeline``).
        """
        from sim.world import gridcast, kernels, raycast

        raycast.warm_up()  # compile (or load) in the parent first: workers then load the disk cache
        kernels.warm_up()
        if self._grid is not None:
            gridcast.warm_up()
        ctx = get_context("spawn")  # never fork a process whose threads may hold locks
        try:
            static = self._segment("static", self._segments.nbytes)
            np.ndarray(self._segments.shape, dtype="f8", buffer=static.buf)[:] = self._segments
            grid_info = None
            if self._grid is not None:
                prepared = gridcast.prepare(self._grid)
                specs_g = _grid_specs(len(prepared.clear))
                gshm = self._segment("grid", _layout(specs_g)[0])
                views = _views(gshm, specs_g)
                views["clear"][:] = prepared.clear
                views.clear()  # the parent keeps no views: close() can then close the segment
                grid_info = (gshm.name, prepared.shape, prepared.resolution, prepared.origin)
            n, k = self.max_robots, self.max_beams
            specs = {"cast": _cast_specs(n, k), "collide": _collide_specs(n)}
            for lane, lane_specs in specs.items():
                shm = self._segment(lane, _layout(lane_specs)[0])
                self._lanes[lane] = _Lane(lane, shm, _views(shm, lane_specs), [], threading.Lock())
            child_ends = []
            for i in range(self.n_workers):
                pairs = [ctx.Pipe() for _ in self._lanes]
                for (mine, _), each in zip(pairs, self._lanes.values(), strict=True):
                    each.conns.append(mine)
                theirs = [c for _, c in pairs]
                child_ends += theirs
                proc = ctx.Process(
                    target=_worker_main, name=f"physics-worker-{i}", daemon=True,
                    args=(i, static.name, len(self._segments), self._cell_size,
                          [(lane.shm.name, specs[name]) for name, lane in self._lanes.items()], *theirs,
                          os.getpid(), grid_info))
                self._procs.append(proc)
            with blocked():  # workers outlive a signal to the group; close() ends them
                for proc in self._procs:
                    proc.start()
            for c in child_ends:
                c.close()
            self._finalizer = weakref.finalize(self, _cleanup, list(self._procs), list(self._shms))
            end = time.monotonic() + timeout
            for i, conn in enumerate(self._lanes["cast"].conns):
                self._receive(i, conn, end)
        except WorkerDied as exc:
            self.close()
            raise RuntimeError(f"{exc} while starting; the usual cause: the script that started the run "
                               "has no `if __name__ == '__main__':` guard (workers are spawned and import "
                               "the main module)") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every worker (terminate after ``STOP_GRACE``, kill if need be) and unlink every segment."""
        if self.closed:
            return
        self.closed = True
        for conn in self._lanes["cast"].conns if "cast" in self._lanes else []:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
        for lane in self._lanes.values():
            lane.arrays.clear()  # drop the views first: a segment with live views cannot close
        _cleanup(self._procs, self._shms)
        for lane in self._lanes.values():
            for conn in lane.conns:
                conn.close()
        if self._finalizer is not None:
            self._finalizer.detach()

    def kill(self, index: int) -> None:
        """Fault injection: SIGKILL worker ``index`` (the next or current request notices)."""
        if not 0 <= index < len(self._procs):
            raise IndexError(f"no worker {index}: the pool has {len(self._procs)} (indices 0..{len(self._procs) - 1})")
        pid = self._procs[index].pid
        if pid is not None and self._procs[index].is_alive():
            os.kill(pid, signal.SIGKILL)

    # ------------------------------------------------------------------ requests
    def cast_scans(self, pose: np.ndarray, radius: np.ndarray, index: np.ndarray, beam_angles: np.ndarray,
                   range_max: float, range_min: float) -> np.ndarray | None:
        """Ranges (M, K) for robots ``index`` (``sim.world.raycast.cast_scans`` with every robot a circle).

        None when the request does not fit the block (more robots or beams than sized
        for): the caller then casts inline.
        """
        n, m, k = len(pose), len(index), len(beam_angles)
        if n > self.max_robots or k > self.max_beams:
            return None
        if m == 0:
            return np.full((0, k), np.inf)
        lane = self._lanes["cast"]
        with lane.lock:
            self._check()
            a = lane.arrays
            a["pose"][:n] = pose
            a["radius"][:n] = radius
            a["index"][:m] = index
            a["beams"][:k] = beam_angles
            chunks = _split(m, self.n_workers)
            first = next(self._rotate)
            used = []
            for c, (lo, hi) in enumerate(chunks):
                w = (first + c) % self.n_workers
                self._send(lane, w, ("cast", n, k, lo, hi, float(range_min), float(range_max)))
                used.append(w)
            self._gather(lane, used)
            self.requests["cast"] += 1
            return a["ranges"][:m, :k].copy()

    def collide(self, pose: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """``sim.world.kernels.collide`` for the whole fleet, in one worker (the check is short)."""
        n = len(pose)
        if n > self.max_robots:
            from sim.world import kernels

            return kernels.collide(self._smap(), pose[:, :2], radius)
        lane = self._lanes["collide"]
        with lane.lock:
            self._check()
            a = lane.arrays
            a["pose"][:n] = pose
            a["radius"][:n] = radius
            w = next(self._rotate) % self.n_workers
            self._send(lane, w, ("collide", n, 0, n))
            replies = self._gather(lane, [w])
            self.requests["collide"] += 1
            return a["static"][:n].astype(bool), [(int(i), int(j)) for i, j in replies[w][1]]

    def _send(self, lane: Any, w: int, message: tuple[Any, ...]) -> None:
        """A worker killed between the liveness check and this send shows up as a broken pipe."""
        try:
            lane.conns[w].send(message)
        except (EOFError, OSError):
            self._died(w)

    def check_alive(self) -> None:
        """Raise ``WorkerDied`` now if any worker has exited (a non-blocking look at the sentinels)."""
        self._check()
        sentinels = {p.sentinel: i for i, p in enumerate(self._procs)}
        for obj in wait(list(sentinels), timeout=0):
            self._died(sentinels[obj])

    def _smap(self) -> Any:
        from sim.world.segmap import SegmentMap

        return SegmentMap(self._segments, cell_size=self._cell_size)

    def _check(self) -> None:
        if self.broken is not None:
            raise self.broken
        if self.closed:
            raise RuntimeError("the physics worker pool is closed")

    def _gather(self, lane: _Lane, used: list[int]) -> dict[int, tuple]:
        """Wait for one reply from each worker in ``used``; any worker dying raises at once."""
        pending = {lane.conns[w]: w for w in used}
        sentinels = {p.sentinel: i for i, p in enumerate(self._procs)}
        replies: dict[int, tuple] = {}
        end = time.monotonic() + CALL_TIMEOUT
        while pending:
            ready = wait([*pending, *sentinels], timeout=max(end - time.monotonic(), 0.0))
            if not ready:
                self.broken = WorkerTimeout(f"physics workers {sorted(pending.values())} did not answer "
                                            f"a {lane.name} request within {CALL_TIMEOUT:g} s")
                raise self.broken
            for obj in ready:
                if obj in sentinels:
                    self._died(sentinels[obj])
            for obj in ready:
                if obj in pending:
                    w = pending.pop(obj)
                    replies[w] = self._receive(w, obj)
        return replies

    def _receive(self, w: int, conn: Connection, end: float | None = None) -> tuple:
        if end is not None and not wait([conn, self._procs[w].sentinel], timeout=max(end - time.monotonic(), 0)):
            raise WorkerTimeout(f"physics worker {w} did not start in time")
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            self._died(w)
        if msg[0] == "error":
            self.broken = WorkerError(f"physics worker {w} raised:\n{msg[1]}")
            raise self.broken
        return msg

    def _died(self, w: int) -> NoReturn:
        proc = self._procs[w]
        proc.join(1.0)  # the sentinel fired: exitcode is there (or very nearly)
        self.broken = WorkerDied(w, proc.pid, proc.exitcode)
        raise self.broken


def _split(m: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per worker used (each at least ``MIN_ROWS`` rows when m allows)."""
    parts = max(1, min(workers, m // MIN_ROWS))
    bounds = [round(m * i / parts) for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


def _cleanup(procs: list[Any], shms: list[SharedMemory]) -> None:
    """Bounded shutdown (< 1 s in all): ``STOP_GRACE`` to exit, then terminate, then kill; unlink every segment."""
    started = [p for p in procs if p.pid is not None]
    t0 = time.monotonic()
    for until, act in ((STOP_GRACE, None), (0.6, "terminate"), (0.9, "kill")):
        if act is not None:
            for p in started:
                if p.is_alive():
                    getattr(p, act)()
        for p in started:
            p.join(max(t0 + until - time.monotonic(), 0.0))
    for shm in shms:
        with contextlib.suppress(BufferError):  # a view still points at it: the mapping goes with us
            shm.close()
        with contextlib.suppress(FileNotFoundError):
            shm.unlink()
