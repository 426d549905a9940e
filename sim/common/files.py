"""Output files are written atomically: a file that could not be written completely never gets its name.

One rule for every output (cycles.csv, trace.json, report.json, report.png,
recording.mcap, sweep results): write under a unique temp name in the same
folder (``.<name>.<random>.tmp``), check every write, flush, fsync and close,
rename over the final name only when all succeeded, and remove the temp file
otherwise. A failure raises ``OutputError`` naming the file and the OS error.
Temp files are created with mode 0o666 and the process umask applies, as it
does to any file a program creates (``mkstemp`` would make them 0600).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sim.errors import OutputError


def create_temp(path: Path) -> tuple[int, str]:
    """A new, empty temp file beside ``path``: (open fd for writing, its name). Mode 0o666 less the umask."""
    path = Path(path)
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(path, exc) from exc
    raise OutputError(path, FileExistsError(f"no free temp name beside {path.name}"))


class AtomicFile:
    """A file opened under a temp name; ``commit`` puts it in place, ``discard`` removes it.

    As a context manager it commits on success and discards on any exception.
    """

    def __init__(self, path: Path, binary: bool = False, newline: str | None = None) -> None:
        self.path = Path(path)
        fd, self.tmp = create_temp(self.path)
        try:
            self.file: IO[Any] = os.fdopen(fd, "wb" if binary else "w", newline=None if binary else newline)
        except BaseException:
            os.close(fd)
            Path(self.tmp).unlink(missing_ok=True)
            raise
        self.done = False

    def write(self, data: Any) -> None:
        """Write ``data``; an OS error discards the file and raises ``OutputError``."""
        try:
            self.file.write(data)
        except OSError as exc:
            self.discard()
            raise OutputError(self.path, exc) from exc

    def commit(self) -> None:
        """Flush, fsync, close and rename into place; on any failure remove the temp file and raise."""
        if self.done:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(self.path, exc) from exc
        except BaseException:
            self.discard()
            raise
        self.done = True

    def discard(self) -> None:
        """Close (ignoring errors: the content is abandoned) and remove the temp file."""
        self.done = True
        with contextlib.suppress(OSError, ValueError):
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
            if isinstance(exc, OSError):
                raise OutputError(self.path, exc) from exc


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to a temp file in the same folder, fsync, then rename over ``path``."""
    with AtomicFile(path, binary=isinstance(data, bytes)) as f:
        f.write(data)


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (NaN and infinities become null) written atomically."""
    write_atomic(path, json.dumps(clean_json(obj), indent=2, allow_nan=False,
                                  default=_jsonable) + "\n")


def clean_json(obj: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
