"""The trace formatter process: turns compact event tuples into ``trace.json`` lines.

JSON formatting costs ~13 µs per event in Python, and a run makes thousands of
events per simulated second; done on a thread it holds the GIL the simulation
threads need. Here it runs in a process of its own (``python -m sim.features.tracefmt PATH
MAX_INSTANTS PARENT_PID``, a plain subprocess: it never re-imports the caller's main module as
multiprocessing's spawn would): the parent only marshals plain tuples (~0.1 µs each)
down its stdin, whose bounded pipe buffer also bounds memory (the sender waits when
the formatter falls behind). This module imports nothing heavy, so it starts fast.

Messages are length-prefixed (4 bytes, little endian) ``marshal`` dumps of a batch of
items; a zero length ends the file, and the counts come back as one JSON line on stdout:
* ``(CONFIG, {"labels": [...], "queue_window": s, "gzip_above": bytes})`` first (optional): the
  sensor labels in a fixed order (flow ids are made from them, so they do not depend on arrival order)
* ``(SAMPLE, label, seq, t, tid)`` and ``(PUBLISH, label, seq, t, tid, sample_time, kept, depth)``
  (kept: False if the stride thinned it, written only if a cycle uses it; depth: the queue's depth
  right after the put, -1 if unknown, as for a robot host's queue, which lives in the host process)
* ``(CYCLE, tid, robot, k, release, start, inputs, finish, deadline, cpu, miss, overrun, stale, cause, pid,
  ages)`` (pid: the process track, 1 for the world, one per robot host; ages: ((sensor, age at use), ...))
* ``(INSTANT, event_dict)`` written as is.

Flows (reading -> the cycle that used it): a publish is held back (``_Pending``, a few per sensor)
until a cycle's input ages show that it used that reading (its sample time = inputs time - age) or a
newer one; it is then written as a zero-length complete event carrying ``bind_id`` + ``flow_out``,
and the cycle gets a zero-length ``use <sensor>`` slice at its inputs time with the same ``bind_id`` +
``flow_in``. Perfetto's JSON importer binds such v2 flow ids to the very slice that carries them
(``MaybeAddFlow`` after the slice is made), so the arrow lands right whatever the event order in the
file; instants ("i") cannot carry flows there, and v1 "s"/"f" events bind to whatever slice is on top
of the track at that time, which is ambiguous when eight robots publish at the same instant.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import marshal
import math
import os
import shutil
import struct
import sys
from collections import deque
from typing import IO, Any

from sim.common.interrupt import child_ignores
from sim.common.lifeline import die_with_parent
from sim.errors import describe_os_error as _why

PID = 1
MISS_COLOUR = "terrible"  # chrome://tracing's reserved red; Perfetto ignores cname (misses are named "MISS ...")
SAMPLE, PUBLISH, CYCLE, INSTANT, CONFIG = 0, 1, 2, 3, 4
QUEUE_WINDOW = 0.1  # s: queue depth counters give the peak depth per window of this length
GZIP_ABOVE = 16 * 1024 * 1024  # bytes of JSON above which the file is written as trace.json.gz
GZIP_LEVEL = 6
PENDING_PER_SENSOR = 256  # publishes held back per sensor waiting for a cycle to use them
PARKED_PER_SENSOR = 16  # uses per sensor waiting for their publish (its hook runs just after the put)
_MATCH = 1e-9  # s: a cycle's sample time (inputs time - age) matches a publish's within this


def us(t: float) -> float:
    """Seconds -> microseconds rounded to the nanosecond (keeps nested slices exactly nested)."""
    return round(t * 1e9) / 1000.0


def instant(name: str, t: float, tid: int, cat: str, args: dict[str, Any], pid: int = PID) -> dict[str, Any]:
    return {"name": name, "cat": cat, "ph": "i", "s": "t", "ts": us(t), "pid": pid, "tid": tid, "args": args}


def cycle_events(item: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The cycle slice, its nested phases, and a ``MISS <robot> k=<k> <cause>`` instant if it missed."""
    _, tid, robot, k, release, start_t, inputs_t, finish_t, deadline, cpu, miss, overrun, stale, cause = item[:14]
    pid = item[14] if len(item) > 14 else PID
    start, inputs, finish = us(start_t), us(inputs_t), us(finish_t)
    args = {
        "robot": robot, "k": k, "release": release, "release_jitter": start_t - release,
        "response_time": finish_t - release, "deadline": deadline, "cpu_time": cpu,
        "miss": miss, "overrun": overrun, "cause": cause, "safety_stop": stale,
    }
    cycle: dict[str, Any] = {"name": "cycle MISS" if miss else "cycle", "cat": "cycle", "ph": "X",
                             "ts": start, "dur": round(finish - start, 3), "pid": pid, "tid": tid, "args": args}
    if miss:
        cycle["cname"] = MISS_COLOUR
    out = [cycle]
    if inputs > start:
        out.append({"name": "input wait", "cat": "phase", "ph": "X", "ts": start, "dur": round(inputs - start, 3),
                    "pid": pid, "tid": tid, "args": {"k": k}})
    if finish > inputs:
        out.append({"name": "compute", "cat": "phase", "ph": "X", "ts": inputs, "dur": round(finish - inputs, 3),
                    "pid": pid, "tid": tid, "args": {"k": k}})
    if miss:
        late = instant(f"MISS {robot} k={k} {cause}", release + deadline, tid, "miss",
                       {"k": k, "cause": cause, "late_by": finish_t - release - deadline}, pid)
        late["cname"] = MISS_COLOUR
        out.append(late)
    return out


def counter(name: str, t: float, value: float, key: str, pid: int, tid: int) -> dict[str, Any]:
    """A counter sample ("C"): Perfetto draws one track per process and ``name`` + ``key``."""
    return {"name": name, "cat": "counter", "ph": "C", "ts": us(t), "pid": pid, "tid": tid, "args": {key: value}}


# A publish held back until a cycle uses it or a newer one: (seq, sample_time, publish_time, tid, kept)
_Pending = tuple[int, float, float, int, bool]
Event = dict[str, Any] | str  # an event, or its JSON text already formatted
# A cycle's use of a reading whose publish has not arrived yet: (sample_time, inputs_time, age, pid, tid)
_Use = tuple[float, float, float, int, int]


class Formatter:
    """Formats batches into an open file; counts what it wrote (the report's trace summary)."""

    def __init__(self, file: Any, max_instants: int) -> None:
        self.file = file
        self.max_instants = max_instants
        self.events = self.cycles = self.instants = self.capped = 0
        self.flows = 0  # reading -> cycle arrows
        self.rescued = 0  # publishes the stride had thinned, written because a cycle used them
        self.queue_window = QUEUE_WINDOW
        self.gzip_above = GZIP_ABOVE
        self._first = True
        self._label_index: dict[str, int] = {}
        self._pending: dict[str, deque[_Pending]] = {}
        self._parked: dict[str, deque[_Use]] = {}
        self._used: dict[str, float] = {}  # label -> sample time of the newest reading a flow was drawn for
        self._queues: dict[str, list[Any]] = {}  # label -> [window, peak, last written, tid]
        self._misses: dict[str, int] = {}  # robot -> deadline misses so far
        self._json_names: dict[str, tuple[str, str, str, str]] = {}

    def write(self, batch: list[tuple[Any, ...]]) -> None:
        """Format a batch of items (module docstring) and append their events to the file."""
        self._lines([e for item in batch for e in self._events(item)])

    def finish(self) -> None:
        """Write what is still held back: publishes no cycle used, the last queue-depth window."""
        out: list[Event] = []
        for label, pending in self._pending.items():
            while pending:
                out.extend(self._publish(label, pending.popleft(), None))
        for label, state in self._queues.items():
            out.extend(self._close_window(label, state[0] + 1))
        self._lines(out)

    def _lines(self, events: list[Event]) -> None:
        lines = [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in events]
        if lines:
            self.file.write(("" if self._first else ",\n") + ",\n".join(lines))
            self._first = False
            self.events += len(lines)

    def _names(self, label: str) -> tuple[str, str, str, str]:
        """The label's JSON strings, escaped once: the label, and the sample, publish and use event names."""
        names = self._json_names.get(label)
        if names is None:
            names = self._json_names[label] = (json.dumps(label), json.dumps(f"sample {label}"),
                                                json.dumps(f"publish {label}"), json.dumps(f"use {label}"))
        return names

    def _events(self, item: tuple[Any, ...]) -> list[Event]:
        kind = item[0]
        if kind == CYCLE:
            self.cycles += 1
            return cycle_events(item) + self._cycle_extras(item)
        if kind == INSTANT:
            return [item[1]]
        if kind == CONFIG:
            config = item[1]
            self._label_index = {label: n for n, label in enumerate(config.get("labels", ()))}
            self.queue_window = config.get("queue_window", self.queue_window)
            self.gzip_above = config.get("gzip_above", self.gzip_above)
            return []
        label, seq, t, tid = item[1], item[2], item[3], item[4]
        if kind == SAMPLE:
            if self._capped():
                return []
            # the three most frequent events are formatted by hand: json.dumps of a dict costs ~3 times more
            # (the same text: floats are repr'd as json does; simulated times are always finite)
            sensor, name, _, _ = self._names(label)
            return [f'{{"name":{name},"cat":"sensor","ph":"i","s":"t","ts":{us(t)!r},"pid":{PID},"tid":{tid},'
                    f'"args":{{"sensor":{sensor},"seq":{seq}}}}}']
        kept, depth = (item[6], item[7]) if len(item) > 7 else (True, -1)
        out: list[Event] = self._queue_depth(label, t, depth, tid) if depth >= 0 else []
        pending = self._pending.setdefault(label, deque())
        pending.append((seq, item[5], t, tid, kept))
        parked = self._parked.get(label)
        if parked:  # a cycle already used it (its publish hook ran after the cycle ended): draw that flow now
            while parked and parked[0][0] < item[5] - _MATCH:
                parked.popleft()  # used readings whose publish never came: no arrow
            if parked and abs(parked[0][0] - item[5]) <= _MATCH:
                out.extend(self._flow(label, len(pending) - 1, parked.popleft()))
        if len(pending) > PENDING_PER_SENSOR:  # never used (yet): write it without a flow
            out.extend(self._publish(label, pending.popleft(), None))
        return out

    def _capped(self) -> bool:
        """Count one sensor instant; False if the overall cap leaves it out."""
        if self.instants >= self.max_instants:
            self.capped += 1
            return True
        self.instants += 1
        return False

    def _publish(self, label: str, p: _Pending, flow: int | None) -> list[Event]:
        """A publish as a zero-length complete event (it can carry a flow); nothing if thinned or capped."""
        seq, sample_time, t, tid, kept = p
        if not kept and flow is None:
            return []  # the stride left it out and no cycle used it
        if self._capped():
            return []
        self.rescued += not kept
        sensor, _, name, _ = self._names(label)
        out = (f'{{"name":{name},"cat":"sensor","ph":"X","ts":{us(t)!r},"dur":0,"pid":{PID},"tid":{tid},'
               f'"args":{{"sensor":{sensor},"seq":{seq},"sample_time":{sample_time!r},"latency":{t - sample_time!r}}}')
        return [out + (f',"bind_id":{flow},"flow_out":true}}' if flow is not None else "}")]

    def _flow_id(self, label: str, seq: int) -> int:
        """Unique per reading, whatever order the events arrive in: 2^32 * sensor index + seq (< 2^53)."""
        index = self._label_index.setdefault(label, len(self._label_index))
        return (index << 32) | (seq & 0xFFFFFFFF)

    def _cycle_extras(self, item: tuple[Any, ...]) -> list[Event]:
        """The cycle's incoming flows (one per reading it was the first to use) and its misses counter."""
        _, tid, robot, _, release, _, inputs_t, _, deadline, _, miss = item[:11]
        pid = item[14] if len(item) > 14 else PID
        out: list[Event] = []
        if robot not in self._misses:  # the counter starts at 0 at the robot's first cycle
            self._misses[robot] = 0
            out.append(counter(f"{robot} deadline misses", 0.0, 0, "total", pid, tid))
        if miss:
            self._misses[robot] += 1
            out.append(counter(f"{robot} deadline misses", release + deadline, self._misses[robot], "total", pid, tid))
        for name, age in item[15] if len(item) > 15 else ():
            label = f"{robot}/{name}"
            sample_time = inputs_t - age
            if sample_time <= self._used.get(label, -math.inf) + _MATCH:
                continue  # used by an earlier cycle: its flow is drawn
            use: _Use = (sample_time, inputs_t, age, pid, tid)
            pending = self._pending.get(label) or ()
            for i in range(len(pending) - 1, -1, -1):  # the newest first: a cycle takes the newest reading
                if abs(pending[i][1] - sample_time) <= _MATCH:
                    out.extend(self._flow(label, i, use))
                    break
            else:  # not published yet as far as we know (its hook still to come): wait for it, a little
                parked = self._parked.setdefault(label, deque())
                if not parked or abs(parked[-1][0] - sample_time) > _MATCH:  # the first cycle to use it only
                    parked.append(use)
                    if len(parked) > PARKED_PER_SENSOR:
                        parked.popleft()
        return out

    def _flow(self, label: str, index: int, use: _Use) -> list[Event]:
        """The publish ``pending[index]`` with its flow out, and the cycle's ``use`` slice with its flow in.

        The older publishes still held back are written without a flow: a cycle takes the newest
        reading, so no later cycle will use them."""
        pending = self._pending[label]
        out: list[Event] = []
        for _ in range(index):
            out.extend(self._publish(label, pending.popleft(), None))
        reading = pending.popleft()
        sample_time, inputs_t, age, pid, tid = use
        self._used[label] = sample_time
        flow = self._flow_id(label, reading[0])
        publish = self._publish(label, reading, flow)
        if not publish:
            return out  # capped: no arrow without its start
        self.flows += 1
        name = self._names(label)[3]
        return [*out, *publish, f'{{"name":{name},"cat":"flow","ph":"X","ts":{us(inputs_t)!r},"dur":0,"pid":{pid},'
                                f'"tid":{tid},"bind_id":{flow},"flow_in":true,"args":{{"seq":{reading[0]},"age":{age!r}}}}}']

    def _queue_depth(self, label: str, t: float, depth: int, tid: int) -> list[Event]:
        """The queue's peak depth per window, written when it differs from the last value written."""
        state = self._queues.get(label)
        window = math.floor(t / self.queue_window)
        if state is None:
            self._queues[label] = [window, depth, None, tid]
            return []
        out = self._close_window(label, window) if window != state[0] else []
        if window != state[0]:
            state[0], state[1] = window, depth
        elif depth > state[1]:
            state[1] = depth
        return out

    def _close_window(self, label: str, next_window: float) -> list[Event]:
        """The finished window's peak, and 0 for the first empty window after it (nothing was put there)."""
        window, peak, last, tid = self._queues[label]
        name, out = f"queue {label}", list[Event]()
        if peak != last:
            out.append(counter(name, window * self.queue_window, peak, "depth", PID, tid))
            last = peak
        if next_window > window + 1 and last != 0:
            out.append(counter(name, (window + 1) * self.queue_window, 0, "depth", PID, tid))
            last = 0
        self._queues[label][2] = last
        return out

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "cycles": self.cycles, "instants": self.instants, "capped": self.capped,
                "flows": self.flows, "rescued": self.rescued}


HEADER = struct.Struct("<I")


def frame(batch: list[tuple[Any, ...]]) -> bytes:
    """One message: the length prefix and the marshalled batch."""
    data = marshal.dumps(batch)
    return HEADER.pack(len(data)) + data


class _Sink:
    """The file being written: plain JSON, switched to gzip (``path + ".gz"``) once it grows past a size.

    The switch compresses what is written so far and streams the rest through the compressor, so a
    large trace costs no extra pass at the end (the formatter compresses while the run goes on).
    """

    def __init__(self, file: IO[str], path: str) -> None:
        self.file = file
        self.path = path
        self.size = 0  # characters written (JSON is ASCII: bytes)
        self._raw: IO[bytes] | None = None  # the .gz file once switched

    @property
    def gzipped(self) -> bool:
        return self._raw is not None

    def write(self, text: str) -> None:
        self.file.write(text)
        self.size += len(text)

    def switch_to_gzip(self) -> None:
        self.file.close()
        self._raw = _create(self.path + GZ)
        out = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=GZIP_LEVEL, mtime=0)
        with open(self.path, "rb") as src:  # no name or time in the header: the same run gives the same bytes
            shutil.copyfileobj(src, out, 1 << 20)
        os.unlink(self.path)
        self.file = io.TextIOWrapper(out, encoding="ascii")

    def finish(self) -> None:
        """Flush, fsync, close."""
        self.file.flush()
        if self._raw is not None:
            self.file.close()  # ends the gzip stream (the raw file stays open: it was handed in)
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
        else:
            os.fsync(self.file.fileno())
            self.file.close()

    def close(self) -> None:
        """After a failure: close whatever is open (a last buffered write may still fail: the caller says why)."""
        try:
            self.file.close()
        finally:
            if self._raw is not None:
                self._raw.close()


def serve(source: IO[bytes], path: str, max_instants: int) -> tuple[dict[str, int] | None, str | None]:
    """Format messages from ``source`` into ``path`` until the end message: (counts, None) on success.

    Once the JSON passes the configured ``gzip_above`` bytes it goes to ``path + ".gz"`` instead (``path``
    is removed; the counts then say ``"gzip": 1``). (None, why) when writing failed: the rest of the input
    is still read (the parent never meets a broken pipe) and the file is removed. (None, None) when the
    input broke off (the parent is gone or gave up): the file is removed too, so nothing half-written stays.
    """
    fmt: Formatter | None = None
    sink: _Sink | None = None
    error: str | None = None
    try:
        sink = _Sink(_open(path), path)
    except OSError as exc:
        error = _why(exc)
    else:
        fmt = Formatter(sink, max_instants)
    complete = False
    try:
        if sink is not None:
            sink.write("[\n")
        while True:
            head = source.read(HEADER.size)
            if len(head) < HEADER.size:
                break  # the parent is gone: the temp file is never renamed
            (size,) = HEADER.unpack(head)
            if size == 0:
                complete = True
                break
            data = source.read(size)
            if len(data) < size:
                break
            if error is None and fmt is not None and sink is not None:
                try:
                    fmt.write(marshal.loads(data))
                    if not sink.gzipped and sink.size > fmt.gzip_above:
                        sink.switch_to_gzip()
                except OSError as exc:
                    error = _why(exc)
        if complete and error is None and sink is not None and fmt is not None:
            fmt.finish()
            sink.write("\n]\n")
            sink.finish()
            counts = fmt.counts()
            if sink.gzipped:
                counts["gzip"] = 1
            return counts, None
    except OSError as exc:
        error = _why(exc)
    finally:
        if sink is not None:
            try:
                sink.close()
            except OSError as exc:  # the last buffered write failed
                error = error or _why(exc)
    _remove(path)
    _remove(path + GZ)
    return None, error


GZ = ".gz"


def read_trace(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a trace file, ``trace.json`` or ``trace.json.gz``; a run folder finds the one it holds."""
    p = os.fspath(path)
    if os.path.isdir(p):
        found = [os.path.join(p, n) for n in ("trace.json", "trace.json.gz") if os.path.exists(os.path.join(p, n))]
        if not found:
            raise FileNotFoundError(os.path.join(p, "trace.json"))
        p = found[0]
    opener = gzip.open if p.endswith(GZ) else open
    with opener(p, "rt", encoding="utf-8") as f:
        events: list[dict[str, Any]] = json.load(f)
    return events


def _create(path: str) -> IO[bytes]:
    """A new binary file (mode 0o666 less the umask, like the temp file); an existing one is an error."""
    return open(path, "xb")


def _open(path: str) -> IO[str]:
    """The temp file the parent created (O_EXCL, mode 0o666 less the umask), truncated."""
    return open(path, "w")


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def formatter_command(path: str, max_instants: int) -> list[str]:
    """The formatter's command line, started by the process whose pid it carries (it dies with that one)."""
    return [sys.executable, "-m", "sim.features.tracefmt", path, str(max_instants), str(os.getpid())]


def main(argv: list[str]) -> int:
    """Exit 0 with the counts as one JSON line; exit 1 with ``{"error": ...}`` (or nothing: input broke off).

    ``argv``: PATH MAX_INSTANTS [PARENT_PID]. Never a traceback: the parent turns the message into
    its one-line error naming trace.json.
    """
    if len(argv) > 2:  # a SIGKILLed parent cannot close our input if another process holds it: the kernel ends us
        die_with_parent(int(argv[2]))
    child_ignores()  # a signal to the whole group is the parent's: it ends us by closing our input
    try:
        counts, error = serve(sys.stdin.buffer, argv[0], int(argv[1]))
    except Exception as exc:  # a bug here must still reach the parent as a message
        _remove(argv[0])
        counts, error = None, f"{type(exc).__name__}: {exc}"
    try:
        if counts is not None:
            print(json.dumps(counts), flush=True)
            return 0
        if error is not None:
            print(json.dumps({"error": error}), flush=True)
    except OSError:
        pass  # the parent is gone: nobody to tell
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
