"""YAML loading that remembers where every key and value came from.

Validation happens on plain dicts, so to point an error at ``file:line:col`` we
keep a side table from each node's path tuple (``("robots", 0, "start")``) to
its 1-based position. Only ``yaml.SafeLoader`` semantics are used: scenario
files are data, never code. ``sim/scenario/messages.py`` turns a pydantic error
into a one-line ``ScenarioError`` at that position; ``sim/scenario/overrides.py``
applies ``--set`` overrides to the loaded data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError, format_value, suggest  # suggest: re-exported, its old home

__all__ = ["MarkedDoc", "MarkedLoader", "Pos", "format_path", "load_marked", "parse_marked", "suggest"]

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


def load_marked(path: str | Path, what: str = "scenario file") -> MarkedDoc:
    """Read and parse a YAML file (``what``: the scenario, a map's YAML); every failure is a ScenarioError
    pointing into the file."""
    source = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more: a device or pipe may never end
        if len(raw) > MAX_BYTES:
            raise ScenarioError(f"{what} is larger than {MAX_BYTES / 2**20:g} MB "
                                "(the most that is read)", path=source)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{what} not found", path=source) from None
    except IsADirectoryError:
        raise ScenarioError(f"{what.removesuffix(' file')} path is a directory, not a file", path=source) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{what} is not UTF-8 text ({exc.reason})", path=source) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read {what}: {exc.strerror or exc}", path=source) from None
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
