"""YAML loading that remembers where every key and value came from.

Validation happens on plain dicts, so to point an error at ``file:line:col`` we
keep a side table from each node's path tuple (``("robots", 0, "start")``) to
its 1-based position. Only ``yaml.SafeLoader`` semantics are used: scenario
files are data, never code. ``translate`` turns a pydantic error into a
one-line ``ScenarioError`` at that position, phrased for a human.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.common.suggest import suggest  # re-exported: the loader's modules import it from here
from sim.errors import UNSET, ScenarioError, format_value, shorten

__all__ = [
    "MarkedDoc", "MarkedLoader", "Pos", "apply_overrides", "format_path", "load_marked", "parse_marked",
    "suggest", "translate", "valid_keys",
]

Path_ = tuple[str | int, ...]
Pos = tuple[int, int]

_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
# Guard against alias "billion laughs" documents blowing up memory while expanding.
MAX_NODES = 500_000
MAX_DEPTH = 64
# At most this much of a scenario file is read: a character device (/dev/zero) or an endless pipe
# must end in an error, not in MemoryError. Real scenarios are a few kB; 16 MB is far beyond any.
MAX_BYTES = 16 * 1024 * 1024
# Integers must fit in 64 bits (|n| < 2^63): a 5,000-digit seed or radius is out of range, said
# without echoing its digits (Python refuses str() of ints past 4300 digits).
MAX_INT_BITS = 63
_INT_TAG = "tag:yaml.org,2002:int"


class MarkedLoader(yaml.SafeLoader):
    """SafeLoader that builds plain data plus a path -> (line, column) table.

    Also accepts YAML 1.2 style floats such as ``1e3`` (YAML 1.1 reads them as
    strings, which would turn ``rate_hz: 1e3`` into a confusing type error).
    """

    def build(self, node: yaml.Node, source: str | None = None) -> MarkedDoc:
        """Construct ``node`` into plain Python objects, recording marks per path."""
        doc = MarkedDoc(data=None, source=source)
        self._count = 0
        self._merged: dict[int, int] = {}
        doc.data = self._walk(node, (), doc, frozenset())
        return doc

    def _flatten(self, node: yaml.MappingNode) -> int:
        """Resolve ``<<`` merge keys as SafeLoader does; returns how many leading pairs were merged in.

        Remembered per node because an aliased mapping is walked again after it was flattened.
        """
        counts = self._merged
        if id(node) not in counts:
            written = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
            self.flatten_mapping(node)
            counts[id(node)] = len(node.value) - written
        return counts[id(node)]

    def _walk(self, node: yaml.Node, path: Path_, doc: MarkedDoc, active: frozenset[int]) -> Any:
        """Depth-first construction; ``active`` detects recursive aliases."""
        self._count += 1
        if self._count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _yaml_error(doc, "document too large or too deeply nested", node.start_mark)
        if id(node) in active:
            raise _yaml_error(doc, "recursive YAML alias", node.start_mark)
        doc.marks[path] = _pos(node.start_mark)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
            raise _yaml_error(doc, f"unsupported YAML tag {format_value(node.tag)}", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            merged = self._flatten(node)
            result: dict[str, Any] = {}
            explicit: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self._construct(key_node, doc)
                if not isinstance(key, str):
                    raise _yaml_error(doc, f"mapping keys must be strings, got {format_value(key)}",
                                      key_node.start_mark)
                if index >= merged:  # keys written here; merged-in ones ("<<") may be overridden
                    if key in explicit:
                        raise _yaml_error(doc, f"duplicate key {format_value(key)}", key_node.start_mark)
                    explicit.add(key)
                doc.key_marks[(*path, key)] = _pos(key_node.start_mark)
                result[key] = self._walk(value_node, (*path, key), doc, active | {id(node)})
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self._walk(item, (*path, i), doc, active | {id(node)})
                for i, item in enumerate(node.value)
            ]
        return self._construct(node, doc)

    def _construct(self, node: yaml.Node, doc: MarkedDoc) -> Any:
        """A scalar (or key) as SafeLoader builds it, refusing integers beyond 64 bits before they exist."""
        if node.tag == _INT_TAG and isinstance(node.value, str):
            size = len(node.value.lstrip("+-").replace("_", ""))
            if size > 64 + 2:  # longer than any 64-bit literal (0b + 64 binary digits): never convert it
                raise _yaml_error(doc, _int_range(size), node.start_mark)
            value = self.construct_object(node, deep=True)
            if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
                raise _yaml_error(doc, _int_range(size), node.start_mark)
            return value
        return self.construct_object(node, deep=True)


def _int_range(size: int) -> str:
    """The message for an integer literal of ``size`` characters that does not fit in 64 bits."""
    return f"integer out of range (a {size}-character number); integers in a scenario must be within +-(2^63 - 1)"


MarkedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class MarkedDoc:
    """Loaded data plus where each value (``marks``) and mapping key (``key_marks``) starts."""

    data: Any
    marks: dict[Path_, Pos] = field(default_factory=dict)
    key_marks: dict[Path_, Pos] = field(default_factory=dict)
    source: str | None = None

    def locate(self, path: Path_, *, key: bool = False) -> Pos | None:
        """Position of the deepest node that exists along ``path`` (key position if asked)."""
        if key and tuple(path) in self.key_marks:
            return self.key_marks[tuple(path)]
        p = tuple(path)
        while True:
            if p in self.marks:
                return self.marks[p]
            if not p:
                return None
            p = p[:-1]


def format_path(path: Path_) -> str:
    """``("robots", 0, "sensors", 1, "rate_hz")`` -> ``robots[0].sensors[1].rate_hz``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_marked(path: str | Path) -> MarkedDoc:
    """Read and parse a YAML file; every failure is a ScenarioError pointing into the file."""
    source = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more: a device or pipe may never end
        if len(raw) > MAX_BYTES:
            raise ScenarioError(f"scenario file is larger than {MAX_BYTES / 2**20:g} MB "
                                "(the most that is read)", path=source)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError("scenario file not found", path=source) from None
    except IsADirectoryError:
        raise ScenarioError("scenario path is a directory, not a file", path=source) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario file is not UTF-8 text ({exc.reason})", path=source) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc.strerror or exc}", path=source) from None
    return parse_marked(text, source)


def parse_marked(text: str, source: str | None = None) -> MarkedDoc:
    """Parse YAML text (one document) into a MarkedDoc."""
    loader = MarkedLoader(text)
    empty = MarkedDoc(data=None, source=source)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError("scenario file is empty", path=source, line=1, column=1)
        doc = loader.build(node, source)
    except yaml.MarkedYAMLError as exc:
        raise _from_yaml(exc, source) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"malformed YAML: {exc}", path=source) from None
    except RecursionError:
        raise _yaml_error(empty, "document too deeply nested", None) from None
    finally:
        loader.dispose()
    return doc


def _pos(mark: yaml.Mark | None) -> Pos:
    """PyYAML marks are 0-based; editors and humans count from 1."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _yaml_error(doc: MarkedDoc, message: str, mark: yaml.Mark | None) -> ScenarioError:
    """A ScenarioError at a YAML mark."""
    line, col = _pos(mark)
    return ScenarioError(message, path=doc.source, line=line, column=col)


def _from_yaml(exc: yaml.MarkedYAMLError, source: str | None) -> ScenarioError:
    """Turn PyYAML's multi-line error into one line, with a hint for the classic tab mistake."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if exc.context and exc.problem and exc.context not in problem:
        problem = f"{problem} ({exc.context})"
    if "\\t" in problem or "\t" in problem:
        problem += "; use spaces, not tabs, for indentation"
    line, col = _pos(mark)
    return ScenarioError(f"malformed YAML: {problem}", path=source, line=line, column=col)


# ---------------------------------------------------------------- pydantic errors

_TYPE_WORDS = {
    "float_type": "must be a number", "float_parsing": "must be a number",
    "int_type": "must be an integer", "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number", "finite_number": "must be a finite number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "string_type": "must be a string", "list_type": "must be a list",
    "tuple_type": "must be a list", "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "string_too_short": "must not be empty",
}
_SCALAR_TAGS = frozenset({"float", "int", "str", "bool", "list", "dict", "tuple", "none"})
_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _unwrap(ann: Any) -> tuple[Any, list[Any], str | None]:
    """Strip Annotated/Optional layers, collecting constraint metadata and a unit."""
    meta: list[Any] = []
    unit: str | None = None
    while True:
        origin = get_origin(ann)
        if origin is Annotated:
            ann, *extra = get_args(ann)
            for item in extra:
                if isinstance(item, FieldInfo):
                    meta.extend(item.metadata)
                    unit = _unit(item) or unit
                else:
                    meta.append(item)
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann, meta, unit
            ann = args[0]
        else:
            return ann, meta, unit


def _unit(info: FieldInfo) -> str | None:
    extra = info.json_schema_extra
    return extra.get("unit") if isinstance(extra, dict) else None  # type: ignore[return-value]


def _model_field(model: type[BaseModel], key: str) -> FieldInfo | None:
    """Field by the key as written in YAML (alias first)."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _walk_type(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, list[Any], str | None]:
    """Annotation, constraints and unit at ``loc`` inside ``model`` (None if unknown)."""
    ann: Any = model
    meta: list[Any] = []
    unit: str | None = None
    for part in loc:
        ann, more, u = _unwrap(ann)
        unit = u or unit
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(part, str):
            info = _model_field(ann, part)
            if info is None:
                return None, [], unit
            ann, meta, unit = info.annotation, list(info.metadata), _unit(info) or unit
        elif get_origin(ann) in (list, tuple) and isinstance(part, int):
            args = get_args(ann)
            fixed = get_origin(ann) is tuple and Ellipsis not in args
            ann = args[part] if fixed and part < len(args) else args[0] if args else Any
            meta = []
        elif get_origin(ann) in (Union, types.UnionType) and (member := _union_member(ann, part)):
            ann, meta = member, []  # pydantic put the union member's tag in the loc
        else:
            return None, [], unit
    ann, more, u = _unwrap(ann)
    return ann, meta + more, u or unit


def _union_member(ann: Any, tag: Any) -> Any:
    """The union member a pydantic loc tag names: by type name or by a Literal discriminator value."""
    for member in get_args(ann):
        if getattr(member, "__name__", None) == tag:
            return member
        if isinstance(member, type) and issubclass(member, BaseModel) and any(
            get_origin(f.annotation) is Literal and tag in get_args(f.annotation) for f in member.model_fields.values()
        ):
            return member
    return None


def _strip_tags(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop union tags (``'A'``, ``'float'``) from a pydantic loc by walking the data they describe."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        elif isinstance(part, str) and data is not UNSET and (
            not isinstance(data, dict) or i < len(loc) - 1 or part in _SCALAR_TAGS
        ):
            continue  # a string step into a scalar/list, or through a mapping that lacks it: a tag
        else:
            data = UNSET  # genuinely missing from here on: keep the rest as written
        out.append(part)
    return tuple(out)


def valid_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Keys accepted by the mapping at ``loc`` (for did-you-mean)."""
    ann = _walk_type(model, loc)[0]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [info.alias or name for name, info in ann.model_fields.items()]
    return []


def _num(x: Any) -> str:
    """2000.0 -> '2000', 0.0005 -> '0.0005': bounds read like the docs."""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _range_text(meta: list[Any], unit: str | None) -> str:
    """``(0, 1000] Hz`` style interval from annotated-types constraints."""
    lo = hi = None
    for c in meta:
        if isinstance(c, at.Gt):
            lo = f"({_num(c.gt)}"
        elif isinstance(c, at.Ge):
            lo = f"[{_num(c.ge)}"
        elif isinstance(c, at.Lt):
            hi = f"{_num(c.lt)})"
        elif isinstance(c, at.Le):
            hi = f"{_num(c.le)}]"
    if lo is None and hi is None:
        return unit or ""
    text = f"{lo or '(-inf'}, {hi or 'inf)'}"
    return f"{text} {unit}" if unit else text


def _phrase(err: dict[str, Any], model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Human wording for one pydantic error (value and suggestion are added elsewhere)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    ann, meta, unit = _walk_type(model, loc)
    if kind in _RANGE_TYPES:
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[kind]
        bound = _num(next(iter(ctx.values()), "?"))
        rng = _range_text(meta, unit)
        both = sum(isinstance(c, (at.Gt, at.Ge, at.Lt, at.Le)) for c in meta) > 1
        detail = f" (range {rng})" if both else f" ({unit})" if unit else ""
        return f"must be {op} {bound}{detail}"
    if kind == "literal_error" and get_origin(ann) is Literal:
        return "must be one of " + ", ".join(repr(a) for a in get_args(ann))
    if kind in ("too_short", "too_long"):
        n, what = ctx.get("min_length", ctx.get("max_length")), ctx.get("field_type", "")
        fixed = what == "Tuple" and get_origin(ann) is tuple
        if fixed:
            return f"must have exactly {len(get_args(ann))} items"
        side = "at least" if kind == "too_short" else "at most"
        return f"must have {side} {n} item{'' if n == 1 else 's'}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in _TYPE_WORDS:
        text = _TYPE_WORDS[kind]
        if kind in ("tuple_type", "list_type") and get_origin(ann) is tuple:
            text = f"must be a list of {len(get_args(ann))} items"
        rng = _range_text(meta, unit) if kind.startswith(("float", "int", "finite")) else ""
        return f"{text} in {rng}" if rng and rng != unit else f"{text} ({unit})" if rng else text
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def translate(
    err: dict[str, Any],
    doc: MarkedDoc,
    model: type[BaseModel],
    prefix: tuple[Any, ...] = (),
    extra_keys: Iterable[str] = (),
) -> ScenarioError:
    """One pydantic error (validated against ``model`` at ``prefix``) as a ScenarioError."""
    typed_loc = tuple(err["loc"])  # may hold union tags: right for the types, wrong for the file
    loc = _strip_tags(_get(doc.data, prefix), typed_loc)
    full = prefix + loc
    kind = err["type"]
    where: dict[str, Any] = {"path": doc.source}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        keys = valid_keys(model, typed_loc[:-1]) + (list(extra_keys) if len(typed_loc) == 1 else [])
        pos = doc.locate(full, key=True)
        return ScenarioError(f"unknown key {format_value(key)}", field=format_path(full[:-1]) or None,
                             suggestion=suggest(key, keys), **_at(where, pos))
    pos = doc.locate(full)
    if kind == "missing" and isinstance(loc[-1], str):
        return ScenarioError(f"missing required key {loc[-1]!r}",
                             field=format_path(full[:-1]) or None, **_at(where, pos))
    if kind == "missing":  # a too-short fixed-length list such as [x, y]
        ann = _walk_type(model, typed_loc[:-1])[0]
        n = len(get_args(ann)) if get_origin(ann) is tuple else loc[-1] + 1
        return ScenarioError(f"must have exactly {n} items", field=format_path(full[:-1]),
                             **_at(where, pos))
    text = _phrase(err, model, typed_loc)
    value = err.get("input", UNSET)
    suggestion = None
    if kind == "literal_error" and isinstance(value, str):
        options = [a for a in get_args(_walk_type(model, typed_loc)[0]) if isinstance(a, str)]
        suggestion = suggest(value, options)
    if isinstance(value, (dict, list)) and kind not in _TYPE_WORDS:
        value = UNSET  # model-level checks: the whole mapping is noise in one line
    return ScenarioError(text, field=format_path(full) or None, value=value,
                         suggestion=suggestion, **_at(where, pos))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    """Raw value at ``path``, or None when it is not there."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _at(where: dict[str, Any], pos: Pos | None) -> dict[str, Any]:
    line, col = pos if pos is not None else (None, None)
    return {**where, "line": line, "column": col}


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any],
                    source: str | None = None) -> set[tuple[str | int, ...]]:
    """Set dotted paths (``run.duration``, ``robots.0.max_speed``) in raw data before validation.

    Missing or null mappings along the way are created; a scalar in the way is an
    error, not silently replaced. Returns the paths set, so errors about those
    values can say they came from an override rather than from the file.
    """
    touched: set[tuple[str | int, ...]] = set()
    for dotted, value in _expand_wildcards(data, overrides, source).items():
        parts = tuple(int(p) if p.isdigit() else p for p in str(dotted).split("."))
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, dict) and isinstance(part, str) and part:
                if not last and node.get(part) is None:
                    node[part] = {}
            elif not (isinstance(node, list) and isinstance(part, int) and part < len(node)):
                where = shorten(format_path(parts[: depth + 1]))
                raise ScenarioError(f"override {format_value(dotted)}: cannot set {where} "
                                    "(no such mapping key or list item)", path=source)
            if last:
                node[part] = value
            else:
                node = node[part]
        touched.add(parts)
    return touched


def _expand_wildcards(data: dict[str, Any], overrides: dict[str, Any], source: str | None) -> dict[str, Any]:
    """``robots.*.controller.period`` -> one override per robot (``*`` = every list item).

    ``robots.count`` is applied first so wildcards reach the resized fleet.
    """
    ordered = sorted(overrides.items(), key=lambda kv: kv[0] != "robots.count")
    out: dict[str, Any] = {}
    for dotted, value in ordered:
        if dotted == "robots.count":
            from sim.scenario.fleet import resize_fleet

            resize_fleet(data, value, source)
            continue
        parts = str(dotted).split(".")
        if "*" not in parts:
            out[dotted] = value
            continue
        i = parts.index("*")
        node: Any = data
        for p in parts[:i]:
            node = node.get(p) if isinstance(node, dict) else (
                node[int(p)] if isinstance(node, list) and p.isdigit() and int(p) < len(node) else None)
        if not isinstance(node, list):
            raise ScenarioError(f"override {format_value(dotted)}: '*' must stand for the items of a list", path=source)
        for k in range(len(node)):
            one = ".".join([*parts[:i], str(k), *parts[i + 1:]])
            out.update(_expand_wildcards(data, {one: value}, source))
    return out

