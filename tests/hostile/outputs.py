"""Checks shared by the signal and file cases: every file in a run folder complete, no temp, no child left."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from sim.features.tracefmt import read_trace

PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk (type + CRC) ends every complete PNG
MCAP_MAGIC = b"\x89MCAP0\r\n"  # an MCAP file starts and ends with it


def run_folders(tmp: Path) -> list[Path]:
    runs = tmp / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def assert_complete(folder: Path, required: tuple[str, ...] = ("report.json", "cycles.csv")) -> dict[str, Any]:
    """Every file parses whole; no temp or partial file; ``required`` are there; returns report.json ({} if absent)."""
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith((".tmp", ".partial"))], (folder, names)
    assert set(required) <= set(names), (folder, names)
    report = json.loads((folder / "report.json").read_text()) if "report.json" in names else {}
    if "cycles.csv" in names:
        with open(folder / "cycles.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert rows and all(len(r) == len(rows[0]) for r in rows), f"{folder}/cycles.csv: a row is cut"
    if "trace.json" in names or "trace.json.gz" in names:  # gzipped when large
        assert isinstance(read_trace(folder), list)
    if "report.png" in names:
        data = (folder / "report.png").read_bytes()
        assert data.startswith(b"\x89PNG") and data.endswith(PNG_END), f"{folder}/report.png is cut"
    if "recording.mcap" in names:
        data = (folder / "recording.mcap").read_bytes()
        assert data.startswith(MCAP_MAGIC) and data.endswith(MCAP_MAGIC), f"{folder}/recording.mcap is cut"
    return report


def assert_no_child_left(tmp: Path, wait: float = 5.0) -> None:
    """No process started from the case folder (the run's children inherit its cwd) is still alive."""
    import psutil

    def alive() -> list[str]:
        found = []
        for p in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
            try:
                if p.info["status"] == psutil.STATUS_ZOMBIE:
                    continue  # dead, only not reaped by whoever adopted it
                cwd = p.info["cwd"] or ""
                cmd = " ".join(p.info["cmdline"] or [])
            except (psutil.Error, OSError):
                continue
            if p.pid != os.getpid() and (cwd == str(tmp) or cwd.startswith(f"{tmp}/") or str(tmp) in cmd):
                found.append(f"{p.pid}: {cmd[:200]}")
        return found

    end = time.monotonic() + wait  # a child told to exit may take a moment to be gone
    while (left := alive()) and time.monotonic() < end:
        time.sleep(0.1)
    assert not left, f"processes outlived the run: {left}"


def umask() -> int:
    """This process's umask: from /proc (cases start processes from other threads meanwhile, which
    a set-and-put-back would hand the temporary mask); where there is no /proc, set and put back."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def assert_modes_follow_umask(folder: Path) -> None:
    want = 0o666 & ~umask()
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir() if p.is_file()}
    assert all(m == oct(want) for m in modes.values()), (oct(want), modes)
