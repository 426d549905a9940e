"""The wheel ships every package of sim, sensors and controllers (sim.view included), and no bench or tests.

Built offline (``pip wheel --no-build-isolation``: the setuptools of the dev extra) from a copy of the
checkout (a stale ``build/`` folder there would leak removed files into the wheel), then installed into
a folder of its own and imported from there, not from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("sim", "sensors", "controllers")
NOT_SHIPPED = ("bench", "tests", "docs", "scenarios", "examples", "tools")

pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--no-input", "--disable-pip-version-check"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    junk = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                  ".hypothesis", "runs", "sweeps")
    shutil.copytree(ROOT, src, ignore=junk)
    _pip("wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), cwd=out)
    (whl,) = out.glob("fleet_timing_sim-*.whl")
    return whl


def _source_files() -> set[str]:
    """Every file of the shipped packages in the checkout (caches left out), as wheel paths."""
    return {p.relative_to(ROOT).as_posix() for package in SHIPPED for p in (ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_wheel_holds_every_module_and_no_bench_or_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = _source_files()
    assert {"sim/__init__.py", "sim/view/app.py", "sim/core/clock.py", "sensors/lidar.py"} <= sources
    assert sources - names == set()  # every .py (and any data file) under sim/, sensors/, controllers/
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {*SHIPPED, next(t for t in tops if t.endswith(".dist-info"))}
    assert not [n for n in names if n.split("/", 1)[0] in NOT_SHIPPED]
    for package in {p.rsplit("/", 1)[0] for p in sources}:  # every package is a regular one
        assert f"{package}/__init__.py" in names, package


def test_the_installed_wheel_imports_the_view_from_itself(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    _pip("install", str(wheel), "--no-deps", "--no-index", "--target", str(target), cwd=tmp_path)
    probe = ("import importlib, json\n"
             "names = ['sim.view.app', 'sim.core.clock', 'sensors.lidar', 'controllers.warehouse']\n"
             "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
             "try:\n    import bench\nexcept ImportError:\n    print('no bench')\n")
    env = {**os.environ, "PYTHONPATH": str(target), "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    files = json.loads(first)
    assert all(Path(f).is_relative_to(target) for f in files.values()), files
    assert rest.strip() == "no bench"
