"""The oracle: the seeded 60 s virtual warehouse run's ``cycles.csv``, byte for byte.

Behaviour nobody meant to change stays byte-identical. A change that alters this run on
purpose updates ``ORACLE`` here and says why in its commit (history: session 2 c97935c8...;
session 3 d233aeb2..., when random streams became named instead of positional).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORACLE = "d233aeb26f4c7704381f1c68f4fcf907"  # md5 of cycles.csv

pytestmark = pytest.mark.slow  # a run.py process: 60 s simulated


def test_the_seeded_virtual_warehouse_run_is_byte_identical(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "run.py", "scenarios/warehouse.yaml", "--headless", "--clock", "virtual",
                           "--duration", "60", "--seed", "7", "--no-plot", "--no-trace", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (cycles,) = tmp_path.glob("*/cycles.csv")
    assert hashlib.md5(cycles.read_bytes()).hexdigest() == ORACLE, (
        "the seeded warehouse run changed: if on purpose, update ORACLE and say why")
