"""A pydantic validation error as one located, human line: ``file:line:col: field: must be ...``.

``translate`` walks the scenario models to word the error (ranges with units, allowed
values, did-you-mean for unknown keys) and finds its position in the marked document
(``sim/scenario/marks.py``).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.errors import UNSET, ScenarioError, format_value, suggest
from sim.scenario.marks import MarkedDoc, Pos, format_path

__all__ = ["translate", "valid_keys"]

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
    unit = extra.get("unit") if isinstance(extra, dict) else None
    return unit if isinstance(unit, str) else None


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


def _phrase(err: Mapping[str, Any], model: type[BaseModel], loc: tuple[Any, ...]) -> str:
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
    err: Mapping[str, Any],
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
