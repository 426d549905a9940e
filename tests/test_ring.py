"""sim.common.ring: the shared-memory SPSC ring of fixed-size slots (order, drops, oversize, wake-up, lifetime)."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.common.ring import Ring
from sim.errors import MessageTooLarge, RunError


def _msg(i: int, size: int) -> bytes:
    """Message ``i``: its number then a pattern that depends on it, ``size`` bytes (>= 8)."""
    return i.to_bytes(8, "little") + bytes((i + k) % 251 for k in range(size - 8))


def test_order_and_content_through_many_wrap_arounds() -> None:
    with Ring.create(capacity=5, slot_size=40) as ring:
        got = []
        for i in range(1000):  # 200 laps of the ring, batches of 1..4 messages of varying length
            batch = [_msg(i * 4 + k, 8 + (i + k) % 33) for k in range(1 + i % 4)]
            assert all(ring.put(m) for m in batch)
            assert len(ring) == len(batch)
            got += [(m, ring.get_nowait()) for m in batch]
            with pytest.raises(queue.Empty):
                ring.get_nowait()
        assert all(sent == received for sent, received in got)
        assert ring.written == len(got) and ring.dropped == 0


def test_numpy_structured_record_round_trip() -> None:
    dt = np.dtype([("stamp", "<i8"), ("pose", "<f8", 3), ("flag", "u1")])
    rec = np.zeros(2, dt)
    rec["stamp"], rec["pose"], rec["flag"] = [7, 8], [[1, 2, 3], [4, 5, 6]], [1, 0]
    with Ring.create(4, dt.itemsize) as ring:
        assert ring.put(rec[0]) and ring.put(rec[1:2])  # a record scalar and a one-record array
        out = [np.frombuffer(ring.get_nowait(), dt)[0] for _ in range(2)]
    assert out[0]["stamp"] == 7 and list(out[1]["pose"]) == [4, 5, 6] and out[1]["flag"] == 0


def test_full_ring_drops_newest_and_counts_on_both_sides() -> None:
    with Ring.create(3, 16) as producer, Ring.attach(producer.name) as consumer:
        assert [producer.put(_msg(i, 16)) for i in range(5)] == [True, True, True, False, False]
        assert producer.dropped == consumer.dropped == 2 and len(consumer) == 3
        assert consumer.get_nowait() == _msg(0, 16)  # the oldest kept, the newest refused
        assert producer.put(_msg(9, 16))  # room for one again
        assert [consumer.get_nowait() for _ in range(3)] == [_msg(1, 16), _msg(2, 16), _msg(9, 16)]
        assert consumer.dropped == 2 and consumer.written == 4


def test_oversize_message_is_refused_and_the_ring_unchanged() -> None:
    with Ring.create(2, 32) as ring:
        assert ring.put(bytes(32))
        with pytest.raises(MessageTooLarge, match=r"33 bytes does not fit its 32-byte slots") as info:
            ring.put(bytes(33))
        with pytest.raises(MessageTooLarge):
            ring.put(np.zeros(5, "<f8"))  # 40 bytes through the buffer protocol
        assert isinstance(info.value, RunError) and isinstance(info.value, ValueError)
        assert (info.value.size, info.value.slot_size) == (33, 32)
        assert pickle.loads(pickle.dumps(info.value)).size == 33
        assert len(ring) == 1 and ring.written == 1 and ring.dropped == 0


def test_blocking_get_times_out_when_nothing_comes() -> None:
    with Ring.create(2, 8) as ring:
        with pytest.raises(queue.Empty):
            ring.get(timeout=0.02)
        assert not ring.consumer_waiting  # the flag is cleared on the way out


def _put_when_consumer_waits(name: str, message: bytes) -> None:
    """Wait until the consumer is in a blocking ``get`` (it says so in the header), then put one message."""
    with Ring.attach(name) as ring:
        while not ring.consumer_waiting:
            time.sleep(0.0005)  # a pause between looks at the flag (nothing is timed)
        ring.put(message)


def test_blocking_get_wakes_on_put_from_a_thread() -> None:
    """The putter is told to put by the consumer's ``waiting`` flag, so the put lands while it sleeps."""
    with Ring.create(2, 8) as ring:
        for i in range(20):
            t = threading.Thread(target=_put_when_consumer_waits, args=(ring.name, _msg(i, 8)))
            t.start()
            assert ring.get(timeout=30) == _msg(i, 8)  # a lost wake-up would time out: Empty
            t.join()


def _echo(inbox: str, outbox: str, count: int) -> None:
    """Child: attach both rings by name, send back every message reversed."""
    with Ring.attach(inbox) as rx, Ring.attach(outbox) as tx:
        for _ in range(count):
            tx.put(rx.get(timeout=30)[::-1])


@pytest.mark.slow
def test_cross_process_round_trip_with_a_spawned_child() -> None:
    ctx = mp.get_context("spawn")
    with Ring.create(4, 64) as to_child, Ring.create(4, 64) as from_child:
        child = ctx.Process(target=_echo, args=(to_child.name, from_child.name, 300))
        child.start()
        try:
            for i in range(300):  # one in flight at a time: every get blocks until the child answers
                sent = _msg(i, 8 + i % 57)
                assert to_child.put(sent)
                assert from_child.get(timeout=30) == sent[::-1]
        finally:
            child.join(30)
        assert child.exitcode == 0
        assert to_child.dropped == from_child.dropped == 0


@pytest.mark.slow
def test_blocking_get_wakes_on_put_from_a_spawned_child() -> None:
    ctx = mp.get_context("spawn")
    with Ring.create(2, 8) as ring:
        child = ctx.Process(target=_put_when_consumer_waits, args=(ring.name, b"woken"))
        child.start()
        try:
            assert ring.get(timeout=30) == b"woken"
        finally:
            child.join(30)
        assert child.exitcode == 0


def test_a_ring_pickles_as_its_name_and_arrives_attached() -> None:
    with Ring.create(2, 8) as ring:
        copy = pickle.loads(pickle.dumps(ring))
        with copy:
            assert copy.name == ring.name and ring.put(b"x") and copy.get_nowait() == b"x"


def test_close_unlinks_the_name_and_is_idempotent() -> None:
    ring = Ring.create(2, 8)
    name, other = ring.name, Ring.attach(ring.name)
    other.close()  # an attached end's close unlinks nothing
    Ring.attach(name).close()
    ring.close()
    ring.close()
    assert ring.closed
    with pytest.raises(FileNotFoundError):
        Ring.attach(name)
    assert not Path("/dev/shm", name).exists() and not Path("/dev/shm", f"{name}.wake").exists()


def test_an_unreferenced_ring_is_finalized() -> None:
    ring = Ring.create(2, 8)
    name = ring.name
    del ring  # weakref.finalize releases and unlinks without close()
    with pytest.raises(FileNotFoundError):
        Ring.attach(name)


def test_bad_sizes_and_foreign_segments_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity and slot_size"):
        Ring.create(0, 8)
    from multiprocessing import shared_memory

    name = f"simring-test-{os.getpid()}"
    shm = shared_memory.SharedMemory(name, create=True, size=4096)  # zeros: no magic
    fifo = Path("/dev/shm", f"{name}.wake")
    os.mkfifo(fifo)
    try:
        with pytest.raises(ValueError, match="not a ring"):
            Ring.attach(name)
    finally:
        fifo.unlink()
        shm.close()
        shm.unlink()


OPS = st.lists(st.one_of(st.integers(min_value=0, max_value=24), st.none()), max_size=200)


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=6), ops=OPS)
def test_random_puts_and_gets_match_a_bounded_deque(capacity: int, ops: list[int | None]) -> None:
    """An int is a put of a message that long, None a get_nowait; the model drops the newest when full."""
    model: deque[bytes] = deque()
    dropped = 0
    with Ring.create(capacity, 24) as ring:
        for k, op in enumerate(ops):
            if op is None:
                if model:
                    assert ring.get_nowait() == model.popleft()
                else:
                    with pytest.raises(queue.Empty):
                        ring.get_nowait()
            else:
                message = bytes((k + j) % 256 for j in range(op))
                accepted = len(model) < capacity
                assert ring.put(message) is accepted
                if accepted:
                    model.append(message)
                else:
                    dropped += 1
            assert len(ring) == len(model) and ring.dropped == dropped


@pytest.mark.slow
def test_nothing_survives_a_sigkill_of_the_creator() -> None:
    """The resource tracker of a killed creator unlinks its segment and its FIFO (no close ran)."""
    code = "from sim.common.ring import Ring; r = Ring.create(4, 8); print(r.name, flush=True); input()"
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as creator:
        try:
            assert creator.stdout is not None
            name = creator.stdout.readline().strip()
            paths = [Path("/dev/shm", name), Path("/dev/shm", f"{name}.wake")]
            assert all(p.exists() for p in paths)
            creator.send_signal(signal.SIGKILL)
            creator.wait(30)
        finally:
            creator.kill()
    for _ in range(3000):  # the tracker cleans up once it sees its pipe close: look until it has
        if not any(p.exists() for p in paths):
            break
        time.sleep(0.01)
    assert not any(p.exists() for p in paths)


def test_a_put_rings_the_fifo_only_for_a_waiting_consumer() -> None:
    """A busy consumer costs the producer no system call: the FIFO stays empty until the consumer waits."""
    with Ring.create(4, 8) as ring:
        fifo = os.open(Path("/dev/shm", f"{ring.name}.wake"), os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert ring.put(b"a")
            with pytest.raises(BlockingIOError):
                os.read(fifo, 16)
            assert ring.get_nowait() == b"a"
            assert not ring.consumer_waiting and ring.put(b"b")  # still nobody waiting: still no byte
            with pytest.raises(BlockingIOError):
                os.read(fifo, 16)
        finally:
            os.close(fifo)
