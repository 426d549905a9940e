"""Readings, commands and cycles as bytes, for the shared-memory rings between the world and robot hosts.

Why not pickle: a ring carries thousands of messages a second, and a pickle per reading costs a
generic object walk on both sides. The built-in payloads (numpy arrays, ``LaserScan``, bool, float,
None) and the records the timing kernel sends back (``Command``, ``Cycle``) have fixed shapes, so
each is a ``struct`` header plus raw array bytes: one ``pack`` to send, one ``unpack_from`` and one
``frombuffer`` to receive. A user's sensor whose payload is anything else still works: it falls back
to a pickle of that payload (tag ``PICKLE``), the rest of the reading stays binary.

Layouts (little-endian, no padding):

- reading: ``<HqddB`` sensor slot, seq, sample time, publish time, payload tag; then the payload;
- command: ``<BIdddH`` kind ``C``, robot index, v, w, issued at, inputs; per input ``<Bd`` name length
  and sample time, after the name's UTF-8 bytes;
- cycle: ``<BIqddddddBbH`` kind ``Y``, robot index, k, release, start, inputs, finish, deadline, cpu,
  flags (miss 1, overrun 2, safety stop 4), cause (-1: none), ages; per age a name and the age;
- note: ``<BI`` kind ``N``, robot index, then a pickle: what a controller tells the world (its outbox);
- visual: the same with kind ``V``: the controller's ``visual`` dict for the window, at most 5 times a second.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

from sim.core.control import Cause, Cycle
from sim.interfaces.messages import Command
from sim.interfaces.payloads import LaserScan

NONE, FALSE, TRUE, FLOAT, ARRAY, SCAN, PICKLE = range(7)
_READING = struct.Struct("<HqddB")
_FLOAT = struct.Struct("<d")
_ARRAY = struct.Struct("<BB")  # dtype string length, ndim; then the dtype string, shape (q each), data
_SCAN = struct.Struct("<dd")
_COMMAND = struct.Struct("<BIdddH")
_CYCLE = struct.Struct("<BIqddddddBbH")
_NAMED = struct.Struct("<Bd")
_NOTE = struct.Struct("<BI")
COMMAND, CYCLE, NOTE, VISUAL = ord("C"), ord("Y"), ord("N"), ord("V")
_CAUSES = list(Cause)
_CAUSE_CODE = {c: i for i, c in enumerate(_CAUSES)}


def encode_reading(slot: int, seq: int, sample_time: float, publish_time: float, payload: object) -> bytes:
    """One reading of sensor ``slot`` (its index in the receiving host's list)."""
    head = _READING.pack
    if payload is None:
        return head(slot, seq, sample_time, publish_time, NONE)
    if isinstance(payload, np.ndarray) and type(payload) is np.ndarray:
        return head(slot, seq, sample_time, publish_time, ARRAY) + _array(payload)
    tp = type(payload)
    if tp is bool or tp is np.bool_:
        return head(slot, seq, sample_time, publish_time, TRUE if payload else FALSE)
    if tp is float:
        return head(slot, seq, sample_time, publish_time, FLOAT) + _FLOAT.pack(payload)
    if isinstance(payload, LaserScan) and tp is LaserScan:
        s = payload
        return (head(slot, seq, sample_time, publish_time, SCAN) + _SCAN.pack(s.range_min, s.range_max)
                + _array(s.angles) + _array(s.ranges))
    return head(slot, seq, sample_time, publish_time, PICKLE) + pickle.dumps(payload, protocol=5)


def _array(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    dt = a.dtype.str.encode()
    return _ARRAY.pack(len(dt), a.ndim) + dt + struct.pack(f"<{a.ndim}q", *a.shape) + a.tobytes()


def _read_array(buf: bytes, off: int) -> tuple[np.ndarray, int]:
    n_dt, ndim = _ARRAY.unpack_from(buf, off)
    off += _ARRAY.size
    dt = np.dtype(buf[off:off + n_dt].decode())
    off += n_dt
    shape = struct.unpack_from(f"<{ndim}q", buf, off)
    off += 8 * ndim
    count = 1
    for d in shape:
        count *= d
    # a copy: the reader may keep or change it, as it may a payload in one process
    a = np.frombuffer(buf, dt, count, off).reshape(shape).copy()
    return a, off + count * dt.itemsize


def decode_reading(buf: bytes) -> tuple[int, int, float, float, object]:
    """(slot, seq, sample time, publish time, payload) of a reading made by ``encode_reading``."""
    slot, seq, sample_time, publish_time, tag = _READING.unpack_from(buf)
    off = _READING.size
    payload: Any
    if tag == ARRAY:
        payload, _ = _read_array(buf, off)
    elif tag in (TRUE, FALSE):
        payload = tag == TRUE
    elif tag == NONE:
        payload = None
    elif tag == FLOAT:
        payload = _FLOAT.unpack_from(buf, off)[0]
    elif tag == SCAN:
        lo, hi = _SCAN.unpack_from(buf, off)
        angles, off = _read_array(buf, off + _SCAN.size)
        ranges, _ = _read_array(buf, off)
        payload = LaserScan(angles, ranges, lo, hi)
    else:
        payload = pickle.loads(buf[off:])
    return slot, seq, sample_time, publish_time, payload


_BATCH = struct.Struct("<BH")  # kind (STACKED or MIXED), count
_STACKED_TIME = struct.Struct("<d")
STACKED, MIXED = ord("S"), ord("M")
_LEN = struct.Struct("<I")


def encode_batch(items: list[tuple[int, int, float, float, object]]) -> bytes:
    """Readings of one sample instant for one host, as one message: (slot, seq, sample time, publish time, payload).

    The usual batch (every IMU of the host, say: arrays of one shape and one sample time) is stacked
    into one array, so its cost hardly grows with the number of robots; anything else is a sequence of
    single readings.
    """
    n = len(items)
    first = items[0][4]
    arrays: list[np.ndarray] = [it[4] for it in items if type(it[4]) is np.ndarray]
    if (type(first) is np.ndarray and len(arrays) == n
            and all(a.shape == first.shape and a.dtype == first.dtype for a in arrays)
            and all(it[2] == items[0][2] for it in items)):
        slots = np.fromiter((it[0] for it in items), np.uint16, n)
        seqs = np.fromiter((it[1] for it in items), np.int64, n)
        publish = np.fromiter((it[3] for it in items), np.float64, n)
        return (_BATCH.pack(STACKED, n) + _STACKED_TIME.pack(items[0][2]) + slots.tobytes() + seqs.tobytes()
                + publish.tobytes() + _array(np.stack(arrays)))
    parts = [_BATCH.pack(MIXED, n)]
    for it in items:
        one = encode_reading(*it)
        parts.append(_LEN.pack(len(one)))
        parts.append(one)
    return b"".join(parts)


def decode_batch(buf: bytes) -> list[tuple[int, int, float, float, object]]:
    """The readings of a message made by ``encode_batch``, in the order they were given."""
    kind, n = _BATCH.unpack_from(buf)
    off = _BATCH.size
    if kind == STACKED:
        (t,) = _STACKED_TIME.unpack_from(buf, off)
        off += _STACKED_TIME.size
        slots = np.frombuffer(buf, np.uint16, n, off).tolist()
        off += 2 * n
        seqs = np.frombuffer(buf, np.int64, n, off).tolist()
        off += 8 * n
        publish = np.frombuffer(buf, np.float64, n, off).tolist()
        off += 8 * n
        stacked, _ = _read_array(buf, off)
        return [(slots[i], seqs[i], t, publish[i], stacked[i]) for i in range(n)]
    out = []
    for _ in range(n):
        (size,) = _LEN.unpack_from(buf, off)
        off += _LEN.size
        out.append(decode_reading(buf[off:off + size]))
        off += size
    return out


def _names(pairs: tuple[tuple[str, float], ...]) -> bytes:
    out = []
    for name, value in pairs:
        b = name.encode()
        out.append(_NAMED.pack(len(b), value) + b)
    return b"".join(out)


def _read_names(buf: bytes, off: int, n: int) -> tuple[tuple[tuple[str, float], ...], int]:
    out = []
    for _ in range(n):
        size, value = _NAMED.unpack_from(buf, off)
        off += _NAMED.size
        out.append((buf[off:off + size].decode(), value))
        off += size
    return tuple(out), off


def encode_command(index: int, command: Command) -> bytes:
    ins = command.input_sample_times
    return (_COMMAND.pack(COMMAND, index, command.v, command.w, command.issued_at, len(ins)) + _names(ins))


def decode_command(buf: bytes) -> tuple[int, Command]:
    _, index, v, w, issued_at, n = _COMMAND.unpack_from(buf)
    ins, _ = _read_names(buf, _COMMAND.size, n)
    return index, Command(v, w, issued_at, ins)


def encode_cycle(index: int, c: Cycle) -> bytes:
    flags = (1 if c.miss else 0) | (2 if c.overrun else 0) | (4 if c.safety_stop else 0)
    cause = -1 if c.cause is None else _CAUSE_CODE[c.cause]
    return (_CYCLE.pack(CYCLE, index, c.k, c.release_time, c.start_time, c.inputs_time, c.finish_time,
                        c.deadline, c.cpu_time, flags, cause, len(c.ages)) + _names(c.ages))


def decode_cycle(buf: bytes, robot: str) -> tuple[int, Cycle]:
    (_, index, k, release, start, inputs, finish, deadline, cpu, flags, cause,
     n) = _CYCLE.unpack_from(buf)
    ages, _ = _read_names(buf, _CYCLE.size, n)
    return index, Cycle(robot, k, release, start, inputs, finish, deadline, cpu, bool(flags & 1),
                        bool(flags & 2), bool(flags & 4), None if cause < 0 else _CAUSES[cause], ages)


def encode_note(index: int, note: object) -> bytes:
    return _NOTE.pack(NOTE, index) + pickle.dumps(note, protocol=5)


def encode_visual(index: int, visual: object) -> bytes:
    """A controller's ``visual`` (what the window draws of it: state, path, target), now and then."""
    return _NOTE.pack(VISUAL, index) + pickle.dumps(visual, protocol=5)


def decode_note(buf: bytes) -> tuple[int, object]:
    """A note or a visual (the same layout)."""
    _, index = _NOTE.unpack_from(buf)
    return index, pickle.loads(buf[_NOTE.size:])
