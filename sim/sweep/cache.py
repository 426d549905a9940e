"""What a sweep keeps between invocations: ``runs/<key>.json`` per finished run, keyed by the code it ran.

A run's key (sim.sweep.grid) covers the scenario's hash, its settings, its seed, and the code
that runs it (``code_digest``: the project's version and packages, and every plugin module the
scenario names) and the recordings it replays (``recordings_digest``), so re-running a sweep skips
what is done, and only what was done by the same code on the same data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from sim.sweep.grid import RunSpec

PROJECT_PACKAGES = ("sim", "sensors", "controllers")
_ROOT = Path(__file__).resolve().parents[2]


def _mappings(scenario_text: bytes) -> list[dict[Any, Any]]:
    """Every mapping in the raw YAML (aliases visited once); none if the file does not parse (loading reports it)."""
    out: list[dict[Any, Any]] = []
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) in seen:  # YAML aliases can make a node its own child
            return
        seen.add(id(node))
        if isinstance(node, dict):
            out.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with contextlib.suppress(Exception):
        walk(yaml.safe_load(scenario_text))
    return out


def plugin_modules(scenario_text: bytes, sets: list[tuple[str, list[Any]]]) -> list[str]:
    """Modules of the plugin types (``pkg.module:Class``) the scenario or a ``--set`` value names.

    Read from the raw YAML, so it needs no loading; an unreadable file names none (the
    scenario's own validation reports it).
    """
    found = {kind.partition(":")[0] for node in _mappings(scenario_text)
             if isinstance(kind := node.get("type"), str) and ":" in kind}
    for path, values in sets:
        if path.rsplit(".", 1)[-1] == "type":
            found.update(v.partition(":")[0] for v in values if isinstance(v, str) and ":" in v)
    return sorted(m for m in found if m)


def recording_sources(scenario_text: bytes, sets: list[tuple[str, list[Any]]]) -> list[str]:
    """The ``from`` of every ``replay``/``empirical`` execution model the scenario or a ``--set`` value names.

    Read from the raw YAML, as ``plugin_modules``: a recording is data a run reads, so its bytes
    belong in the run's cache key (``recordings_digest``).
    """
    found = {node["from"] for node in _mappings(scenario_text)
             if node.get("model") in ("replay", "empirical") and isinstance(node.get("from"), str)}
    for path, values in sets:
        if path.rsplit(".", 1)[-1] == "from":
            found.update(v for v in values if isinstance(v, str))
    return sorted(found)


def recordings_digest(scenario: Path, sources: list[str]) -> str:
    """SHA-256 over the bytes of each recording (``from`` resolved as the loader does; a folder: its cycles.csv)."""
    from sim.scenario.recording import resolve_source

    h = hashlib.sha256()
    for source in sources:
        path = resolve_source(source, scenario)
        path = path / "cycles.csv" if path.is_dir() else path
        h.update(source.encode() + b"\0")
        try:
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        except OSError:
            h.update(b"\0missing")  # loading reports it; a file that appears later changes the key
    return h.hexdigest()


def map_sources(scenario_text: bytes, sets: list[tuple[str, list[Any]]]) -> list[str]:
    """The ``world.map`` the scenario or a ``--set`` value names (docs/maps.md): data a run reads, like a recording."""
    found = {node["map"] for node in _mappings(scenario_text) if isinstance(node.get("map"), str)}
    for path, values in sets:
        if path == "world.map":
            found.update(v for v in values if isinstance(v, str))
    return sorted(found)


def maps_digest(scenario: Path, sources: list[str]) -> str:
    """SHA-256 over each map YAML's bytes and its image's (``image:`` resolved as the loader does)."""
    import yaml

    from sim.scenario.mapfile import resolve_map

    h = hashlib.sha256()
    for source in sources:
        path = resolve_map(source, scenario)
        h.update(source.encode() + b"\0")
        try:
            text = path.read_bytes()
            h.update(text)
            meta = yaml.safe_load(text)
            image = Path(str(meta.get("image", ""))).expanduser() if isinstance(meta, dict) else None
            if image is not None and image.name:
                h.update((image if image.is_absolute() else path.parent / image).read_bytes())
        except (OSError, yaml.YAMLError):
            h.update(b"\0missing")  # loading reports it; a file that appears later changes the key
    return h.hexdigest()


def _module_files(module: str) -> dict[str, Path]:
    """The source files of a plugin module's top-level package (all of it), or of the module itself,
    by a name relative to the folder it is imported from.

    The whole top-level package, because a plugin's helpers are code that runs too.
    """
    import importlib.util

    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return {}
    if spec is None:
        return {}
    if spec.submodule_search_locations:
        return {f"{top}/{f.relative_to(d).as_posix()}": f for d in map(Path, spec.submodule_search_locations)
                for f in d.rglob("*.py")}
    return {f"{top}.py": Path(spec.origin)} if spec.origin and spec.origin.endswith(".py") else {}


def project_version() -> str:
    """The installed project's version (``pyproject.toml``), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fleet-timing-sim")
    except PackageNotFoundError:
        return "unknown"


def code_digest(plugins: list[str]) -> str:
    """SHA-256 over the project's version, the bytes of every ``.py`` file of its packages
    (``sim``, ``sensors``, ``controllers``) and of the plugin modules' packages: a run's cache
    key changes whenever any code it runs may have changed."""
    h = hashlib.sha256(project_version().encode())
    files = {f.relative_to(_ROOT).as_posix(): f for pkg in PROJECT_PACKAGES for f in (_ROOT / pkg).rglob("*.py")}
    for module in plugins:
        files.update(_module_files(module))
    for name in sorted(files):
        try:
            data = files[name].read_bytes()
        except OSError:
            continue  # vanished meanwhile: its absence is part of the digest
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def done_before(runs_dir: Path, specs: list[RunSpec]) -> tuple[dict[str, dict[str, Any]], list[RunSpec]]:
    """The rows already stored under ``runs_dir`` by key, and the specs still to run."""
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for spec in specs:
        path = runs_dir / f"{spec.key}.json"
        if path.exists():
            rows[spec.key] = json.loads(path.read_text())
        else:
            todo.append(spec)
    return rows, todo


def store(runs_dir: Path, row: dict[str, Any]) -> None:
    """Keep one finished run's row (written whole or not at all)."""
    from sim.common.files import write_json

    write_json(runs_dir / f"{row['key']}.json", row)
