"""Every exception the simulator raises on purpose, in one place, under one root.

Keeping them together lets the CLI catch them once and print a single clear line, and lets
tests assert on stable attributes rather than on text. ``tests/test_errors.py`` fails if a
class deriving from ``BaseException`` is defined anywhere else in ``sim``, ``sensors`` or
``controllers``.

The tree, and what the CLI (``sim/cli.py``) makes of each branch::

    SimException (BaseException)    the root: ``except SimException`` sees everything raised here
    +-- CallAborted                 ends a stuck plugin call; not an ``Exception``, so a plugin's
    |                               ``except Exception`` cannot swallow it
    +-- SimError (Exception)        an anticipated failure
        +-- InputError              bad input: one line, exit 2
        |   +-- ScenarioError       a scenario file or an override (file, line, field)
        |   |   +-- PluginError     a ``type:`` that cannot be loaded or built
        |   +-- UsageError          a command-line option or a run folder given to a tool
        |   +-- PluginRaised        carries whatever plugin code raised at load time
        |   +-- ConformanceError    a plugin class breaks the plugin contract (also an AssertionError)
        +-- RunError                a failure during a run: exit 1, the report still written
        |   +-- PluginOutputError   a command or a reading the run cannot use
        |   +-- StuckCallError      a plugin call past ``run.call_limit``
        |   +-- WorkerError         a physics worker process raised (the three: also RuntimeErrors)
        |   +-- WorkerDied          a physics worker process exited
        |   +-- WorkerTimeout       a physics worker process did not start or answer in time
        |   +-- NoPathError         the built-in planner found no path (also a ValueError)
        |   +-- MessageTooLarge     a message longer than a shared-memory ring's slot (also a ValueError)
        +-- OutputError             an output file not written completely: exit 1
            +-- FormatterFailed     the trace formatter process said why it could not write

A failure inside a run's thread never reaches the CLI as an exception: the Supervisor records
it and the run ends with exit 1 and its report. A ``RunError`` or ``OutputError`` that does reach
the CLI (a worker pool that cannot start, a report that cannot be written) is exit 1 too; any
other ``SimError`` is the user's input, exit 2. The old homes (``sim.world.workers.WorkerDied``,
``controllers.planning.NoPathError``, ...) re-export these classes.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "CallAborted", "ConformanceError", "FormatterFailed", "HostError", "InputError", "MessageTooLarge", "NoPathError",
    "OutputError",
    "PluginError", "PluginOutputError", "PluginRaised", "RunError", "ScenarioError", "SimError", "SimException",
    "StuckCallError", "UsageError", "WorkerDied", "WorkerError", "WorkerTimeout", "describe_os_error", "format_value",
    "one_line", "shorten", "suggest",
]


class _Unset:
    """Marker for "no offending value", since ``None`` is itself a valid YAML value."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


# Integers wider than this are echoed by size, not digits: ``str()`` of a huge int is slow and, past
# 4300 digits, raises ValueError (Python's int->str limit), which would crash the error message itself.
_ECHO_INT_BITS = 200


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """Closest candidate for a probable typo, or None (the "did you mean" of an error message)."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with ``...``: every user key/value echoed goes through here."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def one_line(text: str, limit: int) -> str:
    """``text`` as one short line: runs of whitespace (line breaks included) become one space, then cut."""
    return shorten(" ".join(text.split()), limit)


def describe_os_error(error: BaseException) -> str:
    """``[Errno 28] No space left on device`` for an OS error, else ``Type: message``."""
    if isinstance(error, OSError) and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return f"{type(error).__name__}: {error}"


def format_value(value: Any, limit: int = 60) -> str:
    """Short, YAML-ish rendering of an offending value for one-line messages (never raises)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int) and value.bit_length() > _ECHO_INT_BITS:
        text = f"{'-' if value < 0 else ''}<integer of {_digits(abs(value))} digits>"
    else:
        try:
            text = repr(value) if not isinstance(value, (list, tuple, dict)) else _short_repr(value, limit)
        except Exception:  # an echo must never turn one error into another
            text = f"<{type(value).__name__}>"
    return shorten(text, limit)


def _digits(n: int) -> int:
    """Decimal digits of ``n > 0``, counted without converting it to a string."""
    k = int((n.bit_length() - 1) * 0.30102999566398120)  # 10**k <= n: a lower bound, exact or one short
    while 10 ** (k + 1) <= n:
        k += 1
    return k + 1


def _short_repr(value: list[Any] | tuple[Any, ...] | dict[Any, Any], limit: int) -> str:
    """repr of a container built item by item, stopping once past ``limit`` (items may be huge ints)."""
    if isinstance(value, dict):
        items = (f"{format_value(k, limit)}: {format_value(v, limit)}" for k, v in value.items())
        open_, close = "{", "}"
    else:
        items = (format_value(v, limit) for v in value)
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
    parts: list[str] = []
    size = 0
    for item in items:
        parts.append(item)
        size += len(item) + 2
        if size > limit:
            break
    if isinstance(value, tuple) and len(value) == 1:
        close = ",)"  # a 1-tuple reads as one, as Python writes it
    return open_ + ", ".join(parts) + close


class SimException(BaseException):
    """The root of every exception the simulator raises on purpose (``CallAborted`` and ``SimError``)."""


class SimError(SimException, Exception):
    """Raised when anything in the simulator fails in a way we anticipated; an ``Exception``."""


class InputError(SimError):
    """The user's input is wrong (scenario, option, plugin, path): the CLI prints one line, exit 2."""


class RunError(SimError):
    """Something failed while a run ran (a plugin's output, a stuck call, a worker process).

    Raised inside a run's thread it becomes one of the run's failures (exit 1, report written);
    one that reaches the CLI before the run started (a worker pool that cannot start) is exit 1 too.
    """


class ScenarioError(InputError):
    """Raised when a scenario file or its overrides are invalid (one located problem).

    ``others`` holds further problems found in the same pass so the CLI can say
    "(and N more)" without flooding the terminal.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        value: Any = UNSET,
        suggestion: str | None = None,
        others: list[ScenarioError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.field = field
        self.value = value
        self.suggestion = suggestion
        self.others: list[ScenarioError] = list(others or [])

    @property
    def has_value(self) -> bool:
        """True when an offending value was recorded (it may be ``None``)."""
        return not isinstance(self.value, _Unset)

    def location(self) -> str:
        """``file:line:col`` prefix, as much of it as is known."""
        parts = [self.path or "<scenario>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def describe(self) -> str:
        """The problem without location: ``got X; message; did you mean 'y'?``."""
        text = self.message
        if self.has_value:
            text = f"got {format_value(self.value)}; {text}"
        if self.suggestion:
            text = f"{text}; did you mean '{shorten(self.suggestion)}'?"
        return text

    def __str__(self) -> str:
        head = self.location()
        if self.field:
            head = f"{head}: {self.field}"
        text = f"{head}: {self.describe()}"
        if self.others:
            text += f" (and {len(self.others)} more)"
        return text

    def at(self, **where: Any) -> ScenarioError:
        """Copy of this error with location attributes (path, line, column, field) filled in."""
        new = copy.copy(self)
        for key, val in where.items():
            if key not in {"path", "line", "column", "field"}:
                raise TypeError(f"unknown location attribute {key!r}")
            setattr(new, key, str(val) if key == "path" and val is not None else val)
        return new

    def all_errors(self) -> list[ScenarioError]:
        """This error followed by the others, for tools that want the full list."""
        return [self, *self.others]

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__ breaks the default exception pickling (worker processes).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class PluginError(ScenarioError):
    """Raised when a ``type:`` cannot be resolved to a usable class.

    Covers unknown names, modules that fail to import, missing attributes,
    classes of the wrong base and classes without a pydantic ``Params`` model.
    """

    def __init__(self, message: str, *, type_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.type_name = type_name


class PluginRaised(InputError):
    """Raised by ``sim.scenario.registry.plugin_call`` around whatever plugin code raised (any BaseException,
    ``SystemExit`` included), so the caller can turn it into an error naming the plugin."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class UsageError(InputError):
    """Raised when a command-line option or a run folder given to a tool is invalid."""


class OutputError(SimError):
    """Raised when an output file could not be written completely (it never gets its final name).

    A failure of the run, not of the user's input: the CLI exits 1 with this one line.
    """

    def __init__(self, path: Any, error: BaseException | str) -> None:
        why = error if isinstance(error, str) else describe_os_error(error)
        super().__init__(f"{path}: not written: {why}")
        self.path = path
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.error))


class FormatterFailed(OutputError):
    """The trace formatter process (``sim.features.tracefmt``) said why it could not write the file.

    Raised and caught inside ``TraceWriter.close``, which reports it as the ``OutputError`` it is;
    a class of its own so the formatter's own words are told from an unexpected exception.
    """


class PluginOutputError(RunError):
    """Raised when a controller's command or a sensor's reading is not what the run can use.

    A ``compute()`` must return two finite numbers; a reading must hold no NaN, nor inf
    where its kind has no "no return" (see ``Sensor.allows_inf``). Raised in the plugin's
    thread, so the Supervisor reports it like any other failure of that plugin.
    """


class HostError(RunError):
    """A robot host process failed: it died, went silent (no heartbeat), or could not start (sim.runtime.hosts)."""


class StuckCallError(RunError):
    """A plugin call (``compute()``, ``sample_many()``...) ran past ``run.call_limit``.

    Never raised: the watchdog reports it as the stuck thread's failure (that thread
    cannot raise, it is still stuck), with the thread's stack where it was.
    """


class CallAborted(SimException):
    """Injected into a thread still stuck in a plugin call once the run is over, to end it.

    A ``BaseException``, so a plugin's ``except Exception`` does not swallow it; the
    Supervisor does not report it (the stuck call was reported already).
    """


class ConformanceError(InputError, AssertionError):
    """Raised by ``sim.testing.conformance`` checks when a plugin class breaks the plugin contract.

    An ``AssertionError`` too, so pytest shows it as a failed check in a user's
    own tests; ``check`` names the rule broken (e.g. ``"params_forbid_extra"``).
    """

    def __init__(self, cls_name: str, check: str, message: str) -> None:
        super().__init__(f"{cls_name}: {check}: {message}")
        self.cls_name = cls_name
        self.check = check


class WorkerError(RunError, RuntimeError):
    """A physics worker process (``sim.world.workers``) raised while computing; its traceback is in the message.

    The three worker errors are ``RuntimeError``s too, as they were before they moved here.
    """


class WorkerDied(RunError, RuntimeError):
    """A physics worker process exited while the pool was in use."""

    def __init__(self, index: int, pid: int | None, exitcode: int | None) -> None:
        how = f"exit code {exitcode}"
        if exitcode is not None and exitcode < 0:
            with contextlib.suppress(ValueError):
                how += f" (killed by {signal.Signals(-exitcode).name})"
        super().__init__(f"physics worker {index} (pid {pid}) died with {how}")
        self.index, self.pid, self.exitcode = index, pid, exitcode

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.index, self.pid, self.exitcode))


class WorkerTimeout(RunError, RuntimeError):
    """A physics worker process did not start, or did not answer, in time."""


class NoPathError(RunError, ValueError):
    """The built-in planner (``controllers.planning.plan``) found no collision-free path.

    A ``ValueError`` too, as it was before it moved here; the warehouse controller catches it
    and holds position, so it reaches a run's failures only from a controller that does not.
    """


class MessageTooLarge(RunError, ValueError):
    """A message longer than the slots of a shared-memory ring (``sim.common.ring.Ring.put``); nothing was written.

    The slot size is fixed when the ring is made, for the largest record of its stream: a longer one is
    a bug of the sender, not a full ring (that one is dropped and counted, never raised).
    """

    def __init__(self, ring: str, size: int, slot_size: int) -> None:
        super().__init__(f"ring {ring}: a message of {size} bytes does not fit its {slot_size}-byte slots")
        self.ring, self.size, self.slot_size = ring, size, slot_size

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ring, self.size, self.slot_size))


def _rebuild(cls: type[ScenarioError], message: str, state: dict[str, Any]) -> ScenarioError:
    """Unpickle helper for ScenarioError and subclasses."""
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err
