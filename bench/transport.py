"""Process -> process transport for robot hosts: the shared-memory ring against the floor and against a pickle queue.

One 128-byte message at a time, its first 8 bytes the producer's ``time.perf_counter_ns()`` taken just
before the put; the consumer, blocked in ``get``, subtracts it from its own ``perf_counter_ns()`` on
return. On Linux ``perf_counter`` is ``CLOCK_MONOTONIC``, one clock for the whole machine, so a stamp
taken in one process is comparable in another (not so on every OS: Windows' QPC is system-wide too,
but nothing here promises it elsewhere). Messages are ``gap`` s apart so the consumer is asleep when
each comes: the figure includes the wake-up, as a driver thread's hand-off does.

- ``queue``: thread -> thread through a bare ``queue.Queue`` in this process, the floor (same run);
- ``ring``: a spawned child puts into a ``sim.common.ring.Ring``, this process blocks in ``Ring.get``;
- ``mp_queue``: the same through ``multiprocessing.Queue`` (a pickle and a pipe per message, and its
  feeder thread).

Throughput: the producer sends ``throughput_messages`` back to back (waiting for room when the ring is
full, so none is dropped; ``multiprocessing.Queue(maxsize=capacity)`` blocks); messages/s from the
first message's stamp to the last one's arrival.

Wake-up alone (why the ring wakes its consumer through a FIFO): a spawned child signals a sleeping
consumer ``gap`` s apart, the stamp carried by the signal, through a FIFO (``poll``), an ``eventfd``
(handed over at spawn) and a ``multiprocessing.Semaphore`` (futex; stamp in shared memory).

Every figure is the median over ``repeats`` runs of its p50 / p99 / rate.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import select
import struct
import threading
import time
from multiprocessing import reduction
from typing import Any

from sim.common.ring import Ring

SIZE = 128
CAPACITY = 256
_STAMP = struct.Struct("<q")
_SPAWN = mp.get_context("spawn")


def _message(buf: bytearray) -> bytes:
    _STAMP.pack_into(buf, 0, time.perf_counter_ns())
    return bytes(buf)


def _pace(gap: float, k: int, start: float) -> None:
    """Sleep to ``start + k * gap`` (absolute: a late message does not push the next ones)."""
    left = start + k * gap - time.perf_counter()
    if left > 0:
        time.sleep(left)


# ------------------------------------------------------------------ producers (run in spawned children)
def _ring_producer(name: str, count: int, gap: float, ready: Any, go: Any) -> None:
    with Ring.attach(name) as ring:
        buf = bytearray(SIZE)
        ready.set()
        go.wait()
        start = time.perf_counter()
        for k in range(count):
            if gap:
                _pace(gap, k, start)
            else:
                while len(ring) >= ring.capacity:  # throughput: wait for room, drop nothing
                    time.sleep(0)
            ring.put(_message(buf))


def _mpq_producer(q: Any, count: int, gap: float, ready: Any, go: Any) -> None:
    buf = bytearray(SIZE)
    ready.set()
    go.wait()
    start = time.perf_counter()
    for k in range(count):
        if gap:
            _pace(gap, k, start)
        q.put(_message(buf))
    q.close()
    q.join_thread()


def _wake_producer(kind: str, target: Any, shared: Any, count: int, gap: float, ready: Any, go: Any) -> None:
    fd = target.detach() if kind == "eventfd" else (os.open(target, os.O_WRONLY) if kind == "fifo" else -1)
    ready.set()
    go.wait()
    start = time.perf_counter()
    for k in range(count):
        _pace(gap, k, start)
        shared[1] = time.perf_counter_ns()
        shared[0] = k + 1  # the consumer reads the stamp of signal k + 1 (signals that coalesce count once)
        if kind == "semaphore":
            target.release()
        elif kind == "eventfd":
            os.eventfd_write(fd, 1)
        else:
            os.write(fd, b"\1")
    if fd >= 0:
        os.close(fd)


class _FdForChild:
    """An fd duplicated into a spawned child (pickled while the child is being spawned, so passed at exec)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_same, (reduction.DupFd(self.fd),))


def _same(x: Any) -> Any:
    return x


def _spawn(target: Any, *args: Any) -> tuple[Any, Any]:
    """Start a producer child; return it and the ``go`` event once it is attached and ready."""
    ready, go = _SPAWN.Event(), _SPAWN.Event()
    child = _SPAWN.Process(target=target, args=(*args, ready, go), daemon=True)
    child.start()
    if not ready.wait(60):
        child.kill()
        raise RuntimeError(f"transport bench: producer {target.__name__} did not start")
    return child, go


def _finish(child: Any) -> None:
    child.join(30)
    if child.exitcode != 0:
        child.kill()
        raise RuntimeError(f"transport bench: producer exited with {child.exitcode}")


# ------------------------------------------------------------------ one measurement each
class _Run:
    """What the consumer saw: each message's latency (ns), the first message's stamp, the last one's arrival."""

    def __init__(self, get: Any, count: int) -> None:
        self.latency = [0] * count
        self.first = 0
        now = time.perf_counter_ns
        for i in range(count):
            sent = _STAMP.unpack_from(get(30))[0]
            self.latency[i] = now() - sent
            if i == 0:
                self.first = sent
        self.last = now()
        self.dropped = 0

    def rate(self) -> float:
        """Messages/s from the first message's stamp to the last one's arrival."""
        return len(self.latency) / ((self.last - self.first) * 1e-9)


def _queue(count: int, gap: float) -> _Run:
    """Thread -> thread through a bare queue.Queue (bounded like the ring, blocking put)."""
    q: queue.Queue[bytes] = queue.Queue(maxsize=CAPACITY)

    def produce() -> None:
        buf = bytearray(SIZE)
        start = time.perf_counter()
        for k in range(count):
            if gap:
                _pace(gap, k, start)
            q.put(_message(buf))

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    run = _Run(lambda timeout: q.get(timeout=timeout), count)
    t.join(30)
    return run


def _ring(count: int, gap: float) -> _Run:
    """Spawned child -> this process through the ring (blocking get)."""
    with Ring.create(CAPACITY, SIZE) as ring:
        child, go = _spawn(_ring_producer, ring.name, count, gap)
        go.set()
        run = _Run(ring.get, count)
        _finish(child)
        run.dropped = ring.dropped
        return run


def _mp_queue(count: int, gap: float) -> _Run:
    """Spawned child -> this process through multiprocessing.Queue (pickle, pipe, feeder thread)."""
    q = _SPAWN.Queue(maxsize=CAPACITY)
    child, go = _spawn(_mpq_producer, q, count, gap)
    go.set()
    run = _Run(lambda timeout: q.get(timeout=timeout), count)
    _finish(child)
    q.close()
    return run


def _wake(kind: str, count: int, gap: float) -> list[int]:
    """Bare wake-up latencies (ns) of a sleeping consumer, signalled by a spawned child (no payload)."""
    shared = _SPAWN.RawArray("q", 2)  # [signals sent, stamp of the last]
    fifo = None
    if kind == "fifo":
        fifo = f"/tmp/bench-wake-{os.getpid()}-{time.monotonic_ns()}"
        os.mkfifo(fifo, 0o600)
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # RDWR: the child's O_WRONLY open finds a reader
        target: Any = fifo
    elif kind == "eventfd":
        fd = os.eventfd(0, os.EFD_NONBLOCK)
        target = _FdForChild(fd)
    else:
        fd, target = -1, _SPAWN.Semaphore(0)
    try:
        child, go = _spawn(_wake_producer, kind, target, shared, count, gap)
        poller = select.poll()
        if fd >= 0:
            poller.register(fd, select.POLLIN)
        out: list[int] = []
        seen = 0
        go.set()
        while seen < count:
            if kind == "semaphore":
                woke = target.acquire(timeout=30)
            elif (woke := bool(poller.poll(30_000))):
                with contextlib.suppress(BlockingIOError):
                    os.read(fd, 4096)
            if not woke:
                raise RuntimeError(f"transport bench: no wake-up through {kind}")
            now = time.perf_counter_ns()
            if shared[0] > seen:
                seen = shared[0]
                out.append(now - shared[1])
        _finish(child)
        return out
    finally:
        if fd >= 0:
            os.close(fd)
        if fifo:
            os.unlink(fifo)


def _stats(ns: list[int]) -> dict[str, Any]:
    from bench.common import percentiles

    return percentiles([x * 1e-9 for x in ns])


def measure_transport(messages: int = 2000, gap: float = 0.001, throughput_messages: int = 50_000,
                      repeats: int = 3, wake_messages: int = 1000) -> dict[str, Any]:
    """Hand-off p50/p99 (s) of the floor, the ring and a multiprocessing.Queue; throughputs; wake-ups; ratios."""
    from bench.common import median

    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("queue", "ring", "mp_queue")}
    wakes: dict[str, list[dict[str, Any]]] = {k: [] for k in ("fifo", "eventfd", "semaphore")}
    rates: dict[str, list[float]] = {k: [] for k in ("queue", "ring", "mp_queue")}
    ways = {"queue": _queue, "ring": _ring, "mp_queue": _mp_queue}
    dropped = 0
    for _ in range(repeats):  # interleaved, so a burst of load on the host hits all of them alike
        for kind, way in ways.items():
            run = way(messages, gap)
            runs[kind].append(_stats(run.latency))
            flat = way(throughput_messages, 0.0)  # back to back: the producer never paces
            rates[kind].append(flat.rate())
            dropped += run.dropped + flat.dropped
        for kind in wakes:
            wakes[kind].append(_stats(_wake(kind, wake_messages, gap)))

    def med(samples: list[dict[str, Any]]) -> dict[str, Any]:
        return {q: median([s[q] for s in samples]) for q in ("p50", "p99", "max")} | {"samples": samples}

    out: dict[str, Any] = {"message_bytes": SIZE, "messages": messages, "gap": gap, "repeats": repeats,
                           "throughput_messages": throughput_messages, "ring_dropped": dropped}
    out["latency"] = {k: med(v) for k, v in runs.items()}
    out["wakeup"] = {k: med(v) for k, v in wakes.items()}
    out["throughput"] = {k: median(v) for k, v in rates.items()} | {"samples": rates}
    floor = out["latency"]["queue"]
    out["ratios"] = {k: {q: out["latency"][k][q] / floor[q] for q in ("p50", "p99")} for k in ("ring", "mp_queue")}
    return out
