"""The ways to start the simulator: `python run.py`, `python -m sim` and the `fleet-sim` command are one program."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import sim
import sim.__main__

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
FLEET_SIM = Path(sys.executable).parent / "fleet-sim"  # where pip puts the console command of this environment
STARTS = {"run.py": [sys.executable, "run.py"], "python -m sim": [sys.executable, "-m", "sim"],
          "fleet-sim": [str(FLEET_SIM)]}


def start(how: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STARTS[how], *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_console_command_is_declared_and_installed() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"fleet-sim": "sim.__main__:main"}
    assert callable(sim.__main__.main)
    assert FLEET_SIM.is_file(), f"{FLEET_SIM} missing: reinstall the project (./dev does it when pyproject changes)"


def test_version_is_the_same_everywhere() -> None:
    for how in STARTS:
        res = start(how, "--version")
        assert (res.returncode, res.stdout, res.stderr) == (0, f"fleet-timing-sim {sim.__version__}\n", ""), how


def test_a_run_is_the_same_run_whichever_way_it_starts(tmp_path: Path) -> None:
    cycles = {}
    for how in STARTS:
        out = tmp_path / how.replace(" ", "-")
        res = start(how, str(TINY), "--headless", "--clock", "virtual", "--duration", "1", "--no-plot",
                    "--out", str(out))
        assert res.returncode == 0, (how, res.stderr)
        (folder,) = out.iterdir()
        assert res.stdout.strip().endswith(f"report folder: {folder}"), how
        assert {p.name for p in folder.iterdir()} == {"cycles.csv", "report.json", "trace.json"}, how
        cycles[how] = hashlib.md5((folder / "cycles.csv").read_bytes()).hexdigest()
    assert len(set(cycles.values())) == 1, cycles  # virtual time: the same cycles, byte for byte


def test_bad_input_is_one_line_exit_2_whichever_way_it_starts(tmp_path: Path) -> None:
    for how in STARTS:
        res = start(how, str(tmp_path / "missing.yaml"), "--headless")
        assert res.returncode == 2 and res.stdout == "", (how, res.stderr)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1 and "missing.yaml" in res.stderr, how


def test_python_m_sim_works_from_any_folder(tmp_path: Path) -> None:
    """Not only from the checkout: the package is found wherever it is installed."""
    res = subprocess.run([sys.executable, "-m", "sim", "--version"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and res.stdout == f"fleet-timing-sim {sim.__version__}\n", res.stderr
