"""Maps scenario ``type:`` names to sensor and controller classes.

Built-ins are stored as ``"module:Class"`` strings and imported on first use so
loading a scenario never drags in modules it does not need (e.g. pygame). A
type containing ``:`` is a user plugin imported with importlib.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from sim.errors import PluginError, PluginRaised, ScenarioError, format_value, one_line
from sim.interfaces.controller import Controller
from sim.interfaces.sensor import Sensor
from sim.scenario.marks import MarkedDoc, format_path, suggest
from sim.scenario.messages import translate

__all__ = [
    "controller_names",
    "register_controller",
    "register_sensor",
    "resolve_controller",
    "resolve_entries",
    "resolve_sensor",
    "sensor_names",
]

Kind = Literal["sensor", "controller"]
T = TypeVar("T")

BUILTIN_SENSORS: dict[str, str] = {
    "lidar": "sensors.lidar:Lidar",
    "odometry": "sensors.odometry:Odometry",
    "imu": "sensors.imu:Imu",
    "bumper": "sensors.bumper:Bumper",
    "localization": "sensors.localization:Localization",
}
BUILTIN_CONTROLLERS: dict[str, str] = {
    "waypoint": "controllers.waypoint:WaypointController",
    "warehouse": "controllers.warehouse:WarehouseController",
    "spiky": "controllers.spiky:SpikyController",
}

# Live tables: built-ins plus anything registered programmatically.
_TABLES: dict[Kind, dict[str, str | type]] = {
    "sensor": dict(BUILTIN_SENSORS),
    "controller": dict(BUILTIN_CONTROLLERS),
}
_BASES: dict[Kind, type] = {"sensor": Sensor, "controller": Controller}


def register_sensor(name: str, cls_or_path: type | str) -> None:
    """Make ``type: name`` resolve to a sensor class (or lazy ``module:Class`` path)."""
    _register("sensor", name, cls_or_path)


def register_controller(name: str, cls_or_path: type | str) -> None:
    """Make ``type: name`` resolve to a controller class (or lazy ``module:Class`` path)."""
    _register("controller", name, cls_or_path)


def sensor_names() -> list[str]:
    """Bare type names usable for sensors, sorted (for help text and suggestions)."""
    return sorted(_TABLES["sensor"])


def controller_names() -> list[str]:
    """Bare type names usable for controllers, sorted."""
    return sorted(_TABLES["controller"])


def resolve_sensor(type_name: str) -> type[Any]:
    """Class for a sensor ``type:``; raises PluginError explaining what is wrong."""
    return _resolve("sensor", type_name)


def resolve_controller(type_name: str) -> type[Any]:
    """Class for a controller ``type:``; raises PluginError explaining what is wrong."""
    return _resolve("controller", type_name)


def _register(kind: Kind, name: str, cls_or_path: type | str) -> None:
    """Validate the name eagerly so a bad registration fails at the call site."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"{kind} name must be a non-empty string without ':', got {name!r}")
    if isinstance(cls_or_path, str) and ":" not in cls_or_path:
        raise ValueError(f"lazy {kind} path must look like 'pkg.module:Class', got {cls_or_path!r}")
    _TABLES[kind][name] = cls_or_path


def _import_path(path: str, type_name: str) -> object:
    """Import ``module:attr``; every failure becomes a PluginError with the cause text."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or ":" in attr:
        raise PluginError(
            f"plugin type {format_value(type_name)} must look like 'pkg.module:ClassName'",
            type_name=type_name,
        )
    try:
        module = plugin_call(importlib.import_module, module_name)
    except PluginRaised as raised:  # a plugin may fail to import in any way, sys.exit() included
        exc = raised.error
        raise PluginError(
            f"cannot import module {format_value(module_name)} for type {format_value(type_name)}: "
            f"{describe_exception(exc)}",
            type_name=type_name,
        ) from exc
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(
                f"module {format_value(module_name)} has no attribute {format_value(attr)} "
                f"(type {format_value(type_name)})",
                type_name=type_name,
            ) from exc
    return obj


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` on one short line (plugin messages may be long or span lines)."""
    text = f"sys.exit({format_value(exc.code)}) was called" if isinstance(exc, SystemExit) else str(exc)
    return one_line(f"{type(exc).__name__}: {text}" if text.strip() else type(exc).__name__, 200)


@contextlib.contextmanager
def _interrupts_noted() -> Iterator[list[int]]:
    """While plugin code runs at load, note real SIGINTs, so a ``KeyboardInterrupt`` the code merely
    raised can be told from the user's Ctrl-C (which must still end the program with 130)."""
    seen: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        # Signals reach only the main thread, and an ignored (or default: fatal) SIGINT raises nothing:
        # any KeyboardInterrupt seen here was raised by code.
        yield seen
        return

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        previous(signum, frame)  # Python's default handler raises KeyboardInterrupt itself
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, note)
    except ValueError:  # no signal handling here (an embedded interpreter): nothing to tell apart
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def plugin_call(fn: Callable[..., T], *args: Any) -> T:
    """Run plugin code at load time: any BaseException it raises (``sys.exit(0)`` at import,
    ``KeyboardInterrupt`` raised by the code, ...) comes back as ``PluginRaised``; a real Ctrl-C
    (a SIGINT that arrived meanwhile) is re-raised as the KeyboardInterrupt it is."""
    from sim.common import interrupt

    signals_before = interrupt.count()
    with _interrupts_noted() as seen:
        try:
            return fn(*args)
        except BaseException as exc:  # plugin code may end in any way: a plugin error
            if isinstance(exc, KeyboardInterrupt) and (seen or interrupt.count() != signals_before):
                raise  # a real SIGINT, or a SIGTERM (sim.common.interrupt raises it as KeyboardInterrupt)
            raise PluginRaised(exc) from exc


def _resolve(kind: Kind, type_name: str) -> type[Any]:
    """Look up, import and check a type name against the base class and Params contract."""
    if not isinstance(type_name, str) or not type_name.strip():
        raise PluginError(f"{kind} type must be a non-empty string", type_name=str(type_name))
    table = _TABLES[kind]
    if type_name in table:
        target = table[type_name]
    elif ":" in type_name:
        target = type_name
    else:
        raise _unknown(kind, type_name)
    obj = _import_path(target, type_name) if isinstance(target, str) else target
    base = _BASES[kind]
    if not isinstance(obj, type):
        raise PluginError(
            f"{kind} type {format_value(type_name)} is not a class (got {type(obj).__name__})",
            type_name=type_name,
        )
    if not issubclass(obj, base):
        raise PluginError(
            f"{kind} type {format_value(type_name)}: {obj.__module__}.{obj.__qualname__} is not a subclass "
            f"of sim.api.{base.__qualname__} (the public plugin API)",
            type_name=type_name,
        )
    params = getattr(obj, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginError(
            f"{kind} type {format_value(type_name)}: class {obj.__qualname__} has no Params "
            "(a pydantic BaseModel subclass describing its parameters)",
            type_name=type_name,
        )
    return obj


def _unknown(kind: Kind, type_name: str) -> PluginError:
    """Unknown bare name: suggest the closest known name, and spot kind mix-ups."""
    names = list(_TABLES[kind])
    close = difflib.get_close_matches(type_name, names, n=1)
    other: Kind = "controller" if kind == "sensor" else "sensor"
    hint = f" ({format_value(type_name)} is a {other} type)" if type_name in _TABLES[other] else ""
    return PluginError(
        f"unknown {kind} type {format_value(type_name)}{hint}; known: {', '.join(sorted(names))} "
        "(or a plugin 'pkg.module:ClassName')",
        type_name=type_name,
        suggestion=close[0] if close else None,
    )


# ------------------------------------------------------------ scenario entries

Loc = tuple[str | int, ...]
Bound = dict[Loc, tuple[type, BaseModel]]


def resolve_entries(data: dict[str, Any], doc: MarkedDoc, sensor_keys: list[str],
                    controller_keys: list[str], errors: list[ScenarioError]) -> Bound:
    """Resolve every sensor/controller ``type:`` in raw scenario data and validate its params.

    Works on the raw dict (not the validated models) so plugin problems are
    reported in the same pass as ordinary field errors. ``*_keys`` are the
    common keys of each entry; everything else in the mapping is the class's
    flat params. Returns ``{entry path: (class, params)}``; problems are
    appended to ``errors``, located in ``doc``.
    """
    bound: Bound = {}
    robots = data.get("robots")
    for i, robot in enumerate(robots if isinstance(robots, list) else []):
        if not isinstance(robot, dict):
            continue
        sensors = robot.get("sensors")
        entries: list[tuple[Loc, Any, Kind, list[str]]] = [
            (("robots", i, "sensors", j), raw, "sensor", sensor_keys)
            for j, raw in enumerate(sensors if isinstance(sensors, list) else [])
        ]
        entries.append((("robots", i, "controller"), robot.get("controller"), "controller",
                        controller_keys))
        for loc, raw, kind, common in entries:
            if isinstance(raw, dict) and (got := _resolve_entry(kind, raw, loc, common, doc,
                                                                errors)):
                bound[loc] = got
    return bound


def _resolve_entry(kind: Kind, raw: dict[str, Any], loc: Loc, common: list[str],
                   doc: MarkedDoc, errors: list[ScenarioError]) -> tuple[type, BaseModel] | None:
    """One entry; on failure append located errors and return None."""
    extras = {k: v for k, v in raw.items() if k not in common}
    type_name = raw.get("type")
    if not isinstance(type_name, str) or not type_name:
        for key in extras:  # no class to ask, but typos of the common keys are still typos
            if (hint := suggest(key, common)) is not None:
                line, col = doc.locate((*loc, key), key=True) or (None, None)
                errors.append(ScenarioError(f"unknown key {format_value(key)}", path=doc.source, line=line,
                                            column=col, field=format_path(loc), suggestion=hint))
        return None
    try:
        cls = _resolve(kind, type_name)
    except PluginError as exc:
        line, col = doc.locate((*loc, "type")) or (None, None)
        errors.append(exc.at(path=doc.source, line=line, column=col,
                             field=format_path((*loc, "type"))))
        return None
    try:
        return cls, plugin_call(cls.Params.model_validate, extras)
    except PluginRaised as raised:
        if isinstance(raised.error, ValidationError):
            errors.extend(translate(e, doc, cls.Params, loc, extra_keys=common)
                          for e in raised.error.errors())
            return None
        line, col = doc.locate(loc) or (None, None)  # a plugin's validators may raise anything
        error = raised.error
        text = one_line(str(error), 200) if isinstance(error, Exception) else ""
        errors.append(PluginError(f"{kind} type {format_value(type_name)}: params rejected: "
                                  f"{text or describe_exception(error)}",
                                  type_name=type_name, path=doc.source, line=line,
                                  column=col, field=format_path(loc)))
    return None
