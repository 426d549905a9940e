"""A single-producer single-consumer ring of fixed-size slots in shared memory, for process -> process hand-offs.

Why: a robot host process and the world process exchange readings and commands many thousand times a
second. ``multiprocessing.Queue`` pickles every message, sends it through a pipe and unpickles it with a
feeder thread in between; here a message is copied once into a slot of a ``SharedMemory`` segment and
once out of it, and the consumer sleeps in the kernel only when the ring is empty.

Layout of the segment (every counter a native, 8-byte aligned ``uint64``; each side's counters on their
own 64-byte cache line so the producer and the consumer do not write the same line)::

    0    magic, version, capacity, slot size                      (written once by the creator)
    64   write count   (producer)   dropped count (producer)
    128  read count    (consumer)   waiting flag  (consumer)
    192  capacity slots of ``stride`` bytes: [length: uint64][payload: slot_size bytes][padding to 64]

The counters only grow: ``write - read`` is the number of messages waiting, slot ``i % capacity`` holds
message ``i``. One writer per counter, so no read-modify-write needs to be atomic.

**Full ring**: :meth:`Ring.put` never blocks. When ``capacity`` messages are waiting it refuses the new
one (drop-newest, like a ``drop_newest`` channel), adds one to the dropped count and returns False;
the count is in the segment, so both sides read it (:attr:`Ring.dropped`). Nothing is lost silently.

**Oversize**: a message longer than ``slot_size`` bytes is refused with
:class:`sim.errors.MessageTooLarge` (a programming error of the caller: the slot size is chosen for the
largest record of the stream); the ring is unchanged.

**Messages** are any object with the buffer protocol: ``bytes``, ``bytearray``, ``memoryview`` or a
C-contiguous numpy array / structured record (``np.frombuffer(msg, dtype)`` reads one back).
``get`` returns ``bytes`` (a copy: the slot is reused as soon as the read count moves on).

**Memory ordering.** The producer writes the slot (length, then payload), *then* stores the new write
count; the consumer loads the write count, *then* reads the slot, *then* stores the new read count.
That is enough here because (1) CPython executes these as separate C calls (memoryview slice and item
assignment: ``memcpy`` and one aligned 8-byte store), in program order, which the C compiler cannot
move across; (2) on x86-64 (this host, total store order) stores become visible to other cores in
program order and loads are not reordered with other loads nor with later stores, and an aligned 8-byte
store is single-copy atomic, so a consumer that sees count ``w + 1`` sees the whole slot ``w``, and a
producer that sees read count ``r + 1`` may overwrite slot ``r``. The one reordering x86 does allow,
a later load passing an earlier store, matters for the sleep/wake hand-shake (store ``waiting`` then
load ``write``, against store ``write`` then load ``waiting``): there each side acquires and releases a
process-local ``threading.Lock`` in between, which on Linux is a ``sem_wait``/``sem_post`` and so a
locked instruction, a full fence on x86. On a weakly ordered CPU (ARM, POWER) this is not enough: the
count stores need release semantics and the loads acquire semantics (``stlr``/``ldar``, a C11 atomic),
which pure Python cannot express; it would take a small C extension (or cffi) doing the counter
accesses, or ringing the wake-up pipe on every put (the kernel's pipe lock then orders everything).

**Wake-up**: the consumer blocks in ``poll()`` on a named FIFO beside the segment; the producer writes
one byte into it only when the consumer has said it is waiting (the ``waiting`` flag), so a put costs no
system call while the consumer is busy. A FIFO because it has a name (any process attaches to the ring
by one name; an ``eventfd`` would have to be handed over at spawn time) and ``poll`` gives a timeout
without spinning. Measured against the alternatives in BENCHMARKS.md ("Transport for robot hosts").

**Lifetime**: :meth:`Ring.create` makes the segment and the FIFO (names ``simring-<pid>-<n>-<random>``,
so a supervisor can find those of a dead creator); :meth:`Ring.attach` opens them by name. Both names are
registered with the creator's ``multiprocessing`` resource tracker (spawned children share it), which
unlinks them if the creator is killed, once every process holding the tracker has gone. ``close()`` (or
the context manager, or a ``weakref.finalize`` at garbage collection or exit) releases the mapping; the
creator's also unlinks both names, after which the name no longer attaches. One producer thread and one
consumer thread: nothing here checks that.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import math
import os
import queue
import secrets
import select
import tempfile
import threading
import time
import weakref
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import Any

from sim.errors import MessageTooLarge

__all__ = ["Ring", "RingWaiter"]

_MAGIC = 0x53494D52494E4731  # "SIMRING1"
_VERSION = 1
# header word indices (uint64)
_H_MAGIC, _H_VERSION, _H_CAPACITY, _H_SLOT = 0, 1, 2, 3
_H_WRITE, _H_DROPPED = 8, 9  # producer's cache line
_H_READ, _H_WAITING = 16, 17  # consumer's cache line
_HEADER = 192
_LINE = 64
_LEN = 8  # the length word in front of each payload
_names = itertools.count()


def _tracked(fifo: Path) -> bool:
    """Whether the FIFO is in /dev/shm, where ``shm_unlink("/<name>")`` (glibc) removes it.

    There the ``multiprocessing`` resource tracker, which already unlinks a killed creator's segments,
    is told about the FIFO as one more "shared_memory" name, so it goes with them.
    """
    return fifo.parent == Path("/dev/shm")


def _wake_dir() -> Path:
    """Where the wake-up FIFOs live: beside the segments in /dev/shm when there is one (tmpfs, no disk)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


class _Handle:
    """What has to be released: kept apart from the Ring so ``weakref.finalize`` does not keep the Ring alive."""

    def __init__(self, shm: shared_memory.SharedMemory, fifo: Path, fd: int, owner: bool) -> None:
        self.shm, self.fifo, self.fd, self.owner = shm, fifo, fd, owner
        self.views: list[memoryview] = []

    def release(self) -> None:
        for v in self.views:
            v.release()
        self.views.clear()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.shm.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.shm.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.fifo.unlink()
            if _tracked(self.fifo):
                resource_tracker.unregister(f"/{self.fifo.name}", "shared_memory")


class Ring:
    """One end (or both) of a shared-memory SPSC ring: ``put`` on the producer side, ``get`` on the consumer's.

    Build with :meth:`create` (the owner: unlinks on close) or :meth:`attach` (by name, any process).
    """

    def __init__(self, shm: shared_memory.SharedMemory, fifo: Path, owner: bool) -> None:
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # RDWR: opening never blocks, writing never ENXIO
        self._handle = _Handle(shm, fifo, fd, owner)
        self._finalizer = weakref.finalize(self, self._handle.release)
        buf = shm.buf
        assert buf is not None
        self._buf = buf[:]  # a view of our own, released before the segment closes
        self._words = self._buf.cast("Q")
        self._handle.views += [self._words, self._buf]
        if self._words[_H_MAGIC] != _MAGIC or self._words[_H_VERSION] != _VERSION:
            self.close()
            raise ValueError(f"shared memory {shm.name!r} is not a ring of this version")
        self.name = shm.name
        self.capacity = int(self._words[_H_CAPACITY])
        self.slot_size = int(self._words[_H_SLOT])
        self._stride = _stride(self.slot_size)
        self._fd = fd
        self._fence_lock = threading.Lock()
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    # ---------------------------------------------------------------- lifetime
    @classmethod
    def create(cls, capacity: int, slot_size: int, name: str | None = None) -> Ring:
        """A new ring of ``capacity`` slots of ``slot_size`` payload bytes; the caller owns (unlinks) it."""
        if capacity < 1 or slot_size < 1:
            raise ValueError(f"capacity and slot_size must be >= 1 (got {capacity}, {slot_size})")
        name = name or f"simring-{os.getpid()}-{next(_names)}-{secrets.token_hex(3)}"
        fifo = _wake_dir() / f"{name}.wake"
        os.mkfifo(fifo, 0o600)
        try:
            shm = shared_memory.SharedMemory(name, create=True, size=_HEADER + capacity * _stride(slot_size))
        except BaseException:
            fifo.unlink()
            raise
        if _tracked(fifo):  # the segment's tracker removes the FIFO too if this process is killed
            resource_tracker.register(f"/{fifo.name}", "shared_memory")
        buf = shm.buf
        assert buf is not None
        words = buf.cast("Q")
        words[_H_CAPACITY], words[_H_SLOT] = capacity, slot_size
        words[_H_VERSION], words[_H_MAGIC] = _VERSION, _MAGIC  # magic last: the header is complete
        words.release()
        return cls(shm, fifo, owner=True)

    @classmethod
    def attach(cls, name: str) -> Ring:
        """The ring ``name`` made by :meth:`create` in any process; FileNotFoundError once it is unlinked."""
        fifo = _wake_dir() / f"{name}.wake"
        if not fifo.exists():
            raise FileNotFoundError(errno.ENOENT, "no such ring", name)
        return cls(shared_memory.SharedMemory(name), fifo, owner=False)

    def close(self) -> None:
        """Release this end; the creator's also unlinks the names. Idempotent."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent to another process (e.g. as a spawned child's argument) it arrives attached by name."""
        return (Ring.attach, (self.name,))

    # ---------------------------------------------------------------- producer
    def put(self, data: Any) -> bool:
        """Copy ``data`` into the next slot and publish it; False (counted in :attr:`dropped`) when full.

        Never blocks. Raises :class:`~sim.errors.MessageTooLarge` if ``data`` is longer than ``slot_size``.
        """
        if type(data) is not bytes:
            data = memoryview(data).cast("B")
        n = len(data)
        if n > self.slot_size:
            raise MessageTooLarge(self.name, n, self.slot_size)
        words = self._words
        w = words[_H_WRITE]
        if w - words[_H_READ] >= self.capacity:
            words[_H_DROPPED] += 1  # one writer (us): no atomic increment needed
            return False
        off = _HEADER + (w % self.capacity) * self._stride
        words[off >> 3] = n
        self._buf[off + _LEN: off + _LEN + n] = data
        words[_H_WRITE] = w + 1  # publish: after the slot is complete (see the module docstring)
        with self._fence_lock:  # full fence: the store above is visible before the load below
            pass
        if words[_H_WAITING]:
            with contextlib.suppress(BlockingIOError):  # FIFO full: wake-ups are pending already
                os.write(self._fd, b"\1")
        return True

    # ---------------------------------------------------------------- consumer
    def get_nowait(self) -> bytes:
        """The oldest message; ``queue.Empty`` if there is none (as ``queue.Queue.get_nowait``)."""
        words = self._words
        r = words[_H_READ]
        if r == words[_H_WRITE]:
            raise queue.Empty
        off = _HEADER + (r % self.capacity) * self._stride
        n = words[off >> 3]
        out = bytes(self._buf[off + _LEN: off + _LEN + n])
        words[_H_READ] = r + 1  # the slot is free only once copied out
        return out

    def get(self, timeout: float | None = None) -> bytes:
        """The oldest message, asleep in ``poll`` up to ``timeout`` s (None: no limit) for one; else ``queue.Empty``."""
        with contextlib.suppress(queue.Empty):
            return self.get_nowait()
        deadline = None if timeout is None else time.monotonic() + timeout
        words = self._words
        words[_H_WAITING] = 1
        try:
            while True:
                with self._fence_lock:  # full fence: ``waiting`` is visible before we load the write count
                    pass
                with contextlib.suppress(queue.Empty):
                    return self.get_nowait()
                if deadline is None:
                    wait_ms = -1
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise queue.Empty
                    wait_ms = max(1, math.ceil(left * 1000))
                if self._poller.poll(wait_ms):
                    self._drain()
        finally:
            words[_H_WAITING] = 0

    def _drain(self) -> None:
        """Empty the FIFO (wake-ups are level, not counted: the counters say how many messages there are)."""
        with contextlib.suppress(BlockingIOError):  # one read: a token left over only costs one more poll
            os.read(self._fd, 4096)

    # ---------------------------------------------------------------- both sides
    def __len__(self) -> int:
        """Messages waiting (a snapshot: the other side may move it at once)."""
        return int(self._words[_H_WRITE] - self._words[_H_READ])

    @property
    def dropped(self) -> int:
        """Messages refused because the ring was full, since it was created (both sides read the same count)."""
        return int(self._words[_H_DROPPED])

    @property
    def written(self) -> int:
        """Messages accepted by ``put`` since the ring was created."""
        return int(self._words[_H_WRITE])

    @property
    def consumer_waiting(self) -> bool:
        """The consumer is (about to be) asleep in a blocking ``get``."""
        return bool(self._words[_H_WAITING])


def _stride(slot_size: int) -> int:
    """Bytes a slot takes: length word + payload, rounded up to a cache line (no two slots share one)."""
    return -(-(_LEN + slot_size) // _LINE) * _LINE


class RingWaiter:
    """The consumer of several rings (and other file descriptors): sleep until any has something.

    Why: a world process reads one ring from every robot host; a thread per ring would be hundreds
    of threads. This sets each ring's ``waiting`` flag, fences, checks them all, then sleeps in one
    ``poll`` over their FIFOs and the extra descriptors (a process's pidfd, a pipe).
    """

    def __init__(self, rings: list[Ring], fds: list[int] | None = None) -> None:
        self.rings = rings
        self._fifos = {r._fd: r for r in rings}
        self._poller = select.poll()
        for fd in [*self._fifos, *(fds or [])]:
            self._poller.register(fd, select.POLLIN)
        self._fence = threading.Lock()

    def wait(self, timeout: float) -> list[int]:
        """Return once a ring has a message, an extra descriptor is readable (returned) or ``timeout`` s passed."""
        for r in self.rings:
            r._words[_H_WAITING] = 1
        try:
            with self._fence:  # full fence: the flags are visible before the write counts are loaded
                pass
            if any(len(r) for r in self.rings):
                return []
            ready = self._poller.poll(max(0, math.ceil(timeout * 1000)))
        finally:
            for r in self.rings:
                r._words[_H_WAITING] = 0
        out = []
        for fd, _ in ready:
            ring = self._fifos.get(fd)
            if ring is not None:
                ring._drain()
            else:
                out.append(fd)
        return out
