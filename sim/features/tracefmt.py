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
* ``(SAMPLE, label, seq, t, tid)`` and ``(PUBLISH, label, seq, t, tid, sample_time)``
* ``(CYCLE, tid, robot, k, release, start, inputs, finish, deadline, cpu, miss, overrun, stale, cause, pid)``
  (pid: the process track, 1 for the world, one per robot host)
* ``(INSTANT, event_dict)`` written as is.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import struct
import sys
from typing import IO, Any

from sim.common.interrupt import child_ignores
from sim.common.lifeline import die_with_parent
from sim.errors import describe_os_error as _why

PID = 1
MISS_COLOUR = "terrible"  # a Chrome trace viewer reserved colour name (red)
SAMPLE, PUBLISH, CYCLE, INSTANT = 0, 1, 2, 3


def us(t: float) -> float:
    """Seconds -> microseconds rounded to the nanosecond (keeps nested slices exactly nested)."""
    return round(t * 1e9) / 1000.0


def instant(name: str, t: float, tid: int, cat: str, args: dict[str, Any], pid: int = PID) -> dict[str, Any]:
    return {"name": name, "cat": cat, "ph": "i", "s": "t", "ts": us(t), "pid": pid, "tid": tid, "args": args}


def cycle_events(item: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The cycle slice, its nested phases, and a deadline-miss instant if it missed."""
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
        late = instant("deadline miss", release + deadline, tid, "miss",
                       {"k": k, "cause": cause, "late_by": finish_t - release - deadline}, pid)
        late["cname"] = MISS_COLOUR
        out.append(late)
    return out


class Formatter:
    """Formats batches into an open file; counts what it wrote (the report's trace summary)."""

    def __init__(self, file: Any, max_instants: int) -> None:
        self.file = file
        self.max_instants = max_instants
        self.events = self.cycles = self.instants = self.capped = 0
        self._first = True

    def write(self, batch: list[tuple[Any, ...]]) -> None:
        lines = [json.dumps(e, separators=(",", ":")) for item in batch for e in self._events(item)]
        if lines:
            self.file.write(("" if self._first else ",\n") + ",\n".join(lines))
            self._first = False
            self.events += len(lines)

    def _events(self, item: tuple[Any, ...]) -> list[dict[str, Any]]:
        kind = item[0]
        if kind == CYCLE:
            self.cycles += 1
            return cycle_events(item)
        if kind == INSTANT:
            return [item[1]]
        if self.instants >= self.max_instants:
            self.capped += 1
            return []
        self.instants += 1
        label, seq, t, tid = item[1], item[2], item[3], item[4]
        if kind == SAMPLE:
            return [instant(f"sample {label}", t, tid, "sensor", {"sensor": label, "seq": seq})]
        return [instant(f"publish {label}", t, tid, "sensor",
                        {"sensor": label, "seq": seq, "sample_time": item[5], "latency": t - item[5]})]

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "cycles": self.cycles, "instants": self.instants, "capped": self.capped}


HEADER = struct.Struct("<I")


def frame(batch: list[tuple[Any, ...]]) -> bytes:
    """One message: the length prefix and the marshalled batch."""
    data = marshal.dumps(batch)
    return HEADER.pack(len(data)) + data


def serve(source: IO[bytes], path: str, max_instants: int) -> tuple[dict[str, int] | None, str | None]:
    """Format messages from ``source`` into ``path`` until the end message: (counts, None) on success.

    (None, why) when writing failed: the rest of the input is still read (the parent never
    meets a broken pipe) and ``path`` is removed. (None, None) when the input broke off
    (the parent is gone or gave up): ``path`` is removed too, so nothing half-written stays.
    """
    fmt: Formatter | None = None
    error: str | None = None
    try:
        f = _open(path)
    except OSError as exc:
        f, error = None, _why(exc)
    else:
        fmt = Formatter(f, max_instants)
    complete = False
    try:
        if f is not None:
            f.write("[\n")
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
            if error is None and fmt is not None:
                try:
                    fmt.write(marshal.loads(data))
                except OSError as exc:
                    error = _why(exc)
        if complete and error is None and f is not None and fmt is not None:
            f.write("\n]\n")
            f.flush()
            os.fsync(f.fileno())
            f.close()
            return fmt.counts(), None
    except OSError as exc:
        error = _why(exc)
    finally:
        if f is not None:
            try:
                f.close()
            except OSError as exc:  # the last buffered write failed
                error = error or _why(exc)
    _remove(path)
    return None, error


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
