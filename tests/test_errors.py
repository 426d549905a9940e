"""Every exception raised on purpose is defined in sim/errors.py, under one root, in the branch the CLI reads."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

from sim import errors

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "sensors", "controllers")
# Where an exception class may be defined. Nothing else: a new one goes into sim/errors.py.
ALLOWED = {"sim.errors"}


def _modules() -> list[tuple[str, Path]]:
    """Every module of the three packages, by dotted name, found on disk (not by what happens to be imported)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def _class_defs(tree: ast.AST) -> list[ast.ClassDef]:
    """Every ``class`` statement in a module, at any depth (inside functions and classes too)."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _is_exception(base: ast.expr, namespace: dict[str, object], local: set[str]) -> bool:
    """Whether a base-class expression names an exception class (or a class of this file that is one)."""
    if isinstance(base, ast.Name) and base.id in local:
        return True
    try:
        value = eval(compile(ast.Expression(base), "<base>", "eval"), {"__builtins__": builtins, **namespace})
    except Exception as exc:  # a base this test cannot see: say so rather than let it through
        raise AssertionError(f"cannot resolve base class {ast.unparse(base)!r}: {exc}") from exc
    return isinstance(value, type) and issubclass(value, BaseException)


def exception_classes_outside_errors() -> list[str]:
    """``module:Class`` for every class deriving from BaseException defined outside ``ALLOWED``.

    Reads each file's ``class`` statements (so a class inside a function counts too) and resolves
    their bases in the imported module's namespace; ``__main__`` modules are parsed, not imported.
    """
    offenders = []
    for name, path in _modules():
        if name in ALLOWED:
            continue
        tree = ast.parse(path.read_text(), str(path))
        classes = _class_defs(tree)
        if not classes:
            continue
        namespace = {} if name.endswith("__main__") else vars(importlib.import_module(name))
        local: set[str] = set()
        # Twice over: a class deriving from another exception class of the same file is found either way.
        for _ in range(2):
            for cls in classes:
                if cls.name not in local and any(_is_exception(b, namespace, local) for b in cls.bases):
                    local.add(cls.name)
        offenders += [f"{name}:{cls}" for cls in sorted(local)]
    return offenders


def test_no_exception_class_is_defined_outside_sim_errors() -> None:
    assert exception_classes_outside_errors() == []


def test_the_check_finds_an_exception_class_where_it_should_not_be(tmp_path: Path) -> None:
    """The walker above is not blind: a module-level and a function-local exception class are both found."""
    source = "class Boom(RuntimeError):\n    pass\n\ndef f():\n    class Local(Boom):\n        pass\n"
    tree = ast.parse(source)
    namespace: dict[str, object] = {}
    exec(compile(tree, "<m>", "exec"), namespace)
    local: set[str] = set()
    for _ in range(2):
        for cls in _class_defs(tree):
            if cls.name not in local and any(_is_exception(b, namespace, local) for b in cls.bases):
                local.add(cls.name)
    assert local == {"Boom", "Local"}


def _defined_in_errors() -> list[type[BaseException]]:
    return [v for v in vars(errors).values()
            if isinstance(v, type) and issubclass(v, BaseException) and v.__module__ == "sim.errors"]


def test_every_exception_is_under_one_root_and_one_branch() -> None:
    classes = _defined_in_errors()
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, errors.SimException), cls
    # Only CallAborted is not an Exception: a plugin's ``except Exception`` must not swallow it.
    assert [c for c in classes if not issubclass(c, Exception)] == [errors.SimException, errors.CallAborted]
    branches = (errors.InputError, errors.RunError, errors.OutputError)
    for cls in classes:
        if cls in (errors.SimException, errors.CallAborted, errors.SimError, *branches):
            continue
        assert sum(issubclass(cls, b) for b in branches) == 1, f"{cls.__name__} is not in exactly one branch"
    assert set(errors.__all__) >= {c.__name__ for c in classes}


def test_old_homes_still_export_the_moved_names() -> None:
    """Code written against the old paths keeps working: the same class objects, still catchable as before."""
    from controllers.planning import NoPathError
    from sim.scenario.marks import suggest
    from sim.world.workers import WorkerDied, WorkerError, WorkerTimeout

    assert (WorkerDied, WorkerError, WorkerTimeout) == (errors.WorkerDied, errors.WorkerError, errors.WorkerTimeout)
    assert all(issubclass(c, RuntimeError) for c in (WorkerDied, WorkerError, WorkerTimeout))
    assert NoPathError is errors.NoPathError and issubclass(NoPathError, ValueError)
    assert suggest is errors.suggest and suggest("lidr", ["lidar", "imu"]) == "lidar"
    assert suggest("zzz", ["lidar"]) is None


@pytest.mark.parametrize(("exc", "code", "line"), [
    (errors.ScenarioError("must be > 0", path="s.yaml", line=3, field="run.x"), 2,
     "error: s.yaml:3: run.x: must be > 0"),
    (errors.UsageError("--window: bad"), 2, "error: --window: bad"),
    (errors.InputError("cannot open the window"), 2, "error: cannot open the window"),
    (errors.WorkerTimeout("physics worker 0 did not start in time"), 1,
     "error: physics worker 0 did not start in time"),
    (errors.WorkerDied(0, 123, -9), 1, "error: physics worker 0 (pid 123) died with exit code -9 (killed by SIGKILL)"),
    (errors.OutputError("out/report.json", "disk full"), 1, "error: out/report.json: not written: disk full"),
])
def test_the_cli_boundary_reads_the_branch(exc: errors.SimError, code: int, line: str,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    """Bad input is one line and exit 2; a run's failure (a dead worker, a file not written) one line and exit 1."""
    from sim import cli

    def fail(args: object) -> int:
        raise exc

    monkeypatch.setattr(cli, "_run", fail)
    assert cli.main(["scenario.yaml"]) == code
    assert capsys.readouterr().err == line + "\n"
