"""There is one run sequence (sim.session.execute): nothing else builds a Run and its report.

Found by reading the source (the AST), not by convention: a call of ``build_report``/``finish_report``
outside ``sim/session`` (the sequence) and ``sim/report`` (where the report is built), or a
``sim.runtime.run.Run`` made outside ``sim/session`` and ``sim/runtime``, is a second copy of the
sequence. The few test modules that test a Run object at that level are named, with why; the
list may only shrink (a name that no longer needs it fails too).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT_CALLS = {"build_report", "finish_report"}
REPORT_HOMES = ("sim/session/", "sim/report/")
RUN_HOMES = ("sim/session/", "sim/runtime/")
# Test modules that build the report of a Run object they drive themselves: the runtime's and the
# report builder's own tests, below the session.
TESTS_BELOW_THE_SESSION = {
    "tests/test_report.py": "a run stepped on one thread by drive() in tests/scripted_run.py (no threads)",
    "tests/test_workers.py": "two Run objects, one with its physics changed once built, compared state for state",
    "tests/test_shutdown.py": "Run.stop itself: a run stopped mid-way, a thread that ignores the stop",
}


def sources(*tops: str) -> list[Path]:
    files = []
    for top in tops:
        path = ROOT / top
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def report_calls(tree: ast.AST) -> list[int]:
    """Lines calling build_report or finish_report (by name or as an attribute)."""
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) in REPORT_CALLS or getattr(n.func, "attr", None) in REPORT_CALLS)]


def run_constructions(tree: ast.AST) -> list[int]:
    """Lines making a ``sim.runtime.run.Run``, however it was imported."""
    names, modules = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module == "sim.runtime.run":
            names |= {a.asname or a.name for a in n.names if a.name == "Run"}
        elif isinstance(n, ast.ImportFrom) and n.module == "sim.runtime":
            modules |= {a.asname or a.name for a in n.names if a.name == "run"}
        elif isinstance(n, ast.Import):
            modules |= {a.asname for a in n.names if a.name == "sim.runtime.run" and a.asname}

    def makes_run(f: ast.expr) -> bool:
        if isinstance(f, ast.Name):
            return f.id in names
        return isinstance(f, ast.Attribute) and f.attr == "Run" and (
            getattr(f.value, "id", None) in modules or ast.unparse(f.value) == "sim.runtime.run")

    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and makes_run(n.func)]


def copies(files: list[Path], find: Callable[[ast.AST], list[int]], homes: tuple[str, ...]) -> dict[str, list[int]]:
    """Files outside ``homes`` where ``find`` finds something, with the lines."""
    found = {}
    for f in files:
        lines = find(ast.parse(f.read_text(), str(f)))
        if lines and not rel(f).startswith(homes):
            found[rel(f)] = lines
    return found


def test_the_scanner_sees_the_sequence_where_it_lives() -> None:
    """Guards the guard: the calls it looks for are found in sim/session."""
    (execute,) = sources("sim/session/execute.py")
    tree = ast.parse(execute.read_text())
    assert len(report_calls(tree)) == 2 and len(run_constructions(tree)) == 1


def test_no_code_but_the_session_builds_a_run_and_its_report() -> None:
    code = sources("sim", "bench", "run.py", "examples")
    assert copies(code, report_calls, REPORT_HOMES) == {}, "call sim.session.execute instead"
    assert copies(code, run_constructions, RUN_HOMES) == {}, "call sim.session.execute instead"


def test_tests_run_scenarios_through_the_session() -> None:
    found = copies(sources("tests"), report_calls, REPORT_HOMES)
    extra = sorted(set(found) - set(TESTS_BELOW_THE_SESSION))
    assert not extra, f"run the scenario with sim.session.execute (finish_within in tests/scripted_run.py): {extra}"
    stale = sorted(set(TESTS_BELOW_THE_SESSION) - set(found))
    assert not stale, f"no longer builds a report itself: take it off TESTS_BELOW_THE_SESSION: {stale}"
