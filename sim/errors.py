"""Every exception the simulator raises on purpose, in one place.

Keeping them together lets the CLI catch ``SimError`` once and print a single
clear line, and lets tests assert on stable attributes rather than on text.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

__all__ = [
    "CallAborted", "ConformanceError", "OutputError", "PluginError", "PluginOutputError", "PluginRaised", "RunError",
    "ScenarioError", "SimError", "StuckCallError", "UsageError", "describe_os_error", "format_value", "one_line",
    "shorten",
]


class _Unset:
    """Marker for "no offending value", since ``None`` is itself a valid YAML value."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


# Integers wider than this are echoed by size, not digits: ``str()`` of a huge int is slow and, past
# 4300 digits, raises ValueError (Python's int->str limit), which would crash the error message itself.
_ECHO_INT_BITS = 200


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


class SimError(Exception):
    """Raised when anything in the simulator fails in a way we anticipated; base of all ours."""


class ScenarioError(SimError):
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


class PluginRaised(Exception):
    """Raised by ``sim.scenario.registry.plugin_call`` around whatever plugin code raised (any BaseException,
    ``SystemExit`` included), so the caller can turn it into an error naming the plugin."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class UsageError(SimError):
    """Raised when a command-line option or a run folder given to a tool is invalid."""


class RunError(SimError):
    """Raised when a sensor/controller thread or a worker process dies during a run."""

    def __init__(self, thread_name: str, error: str, traceback_text: str = "") -> None:
        super().__init__(thread_name, error, traceback_text)
        self.thread_name = thread_name
        self.error = error
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return f"{self.thread_name} died: {self.error}"


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


class PluginOutputError(SimError):
    """Raised when a controller's command or a sensor's reading is not what the run can use.

    A ``compute()`` must return two finite numbers; a reading must hold no NaN, nor inf
    where its kind has no "no return" (see ``Sensor.allows_inf``). Raised in the plugin's
    thread, so the Supervisor reports it like any other failure of that plugin.
    """


class StuckCallError(SimError):
    """A plugin call (``compute()``, ``sample_many()``...) ran past ``run.call_limit``.

    Never raised: the watchdog reports it as the stuck thread's failure (that thread
    cannot raise, it is still stuck), with the thread's stack where it was.
    """


class CallAborted(BaseException):
    """Injected into a thread still stuck in a plugin call once the run is over, to end it.

    A ``BaseException``, so a plugin's ``except Exception`` does not swallow it; the
    Supervisor does not report it (the stuck call was reported already).
    """


class ConformanceError(SimError, AssertionError):
    """Raised by ``sim.testing.conformance`` checks when a plugin class breaks the plugin contract.

    An ``AssertionError`` too, so pytest shows it as a failed check in a user's
    own tests; ``check`` names the rule broken (e.g. ``"params_forbid_extra"``).
    """

    def __init__(self, cls_name: str, check: str, message: str) -> None:
        super().__init__(f"{cls_name}: {check}: {message}")
        self.cls_name = cls_name
        self.check = check


def _rebuild(cls: type[ScenarioError], message: str, state: dict[str, Any]) -> ScenarioError:
    """Unpickle helper for ScenarioError and subclasses."""
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err
