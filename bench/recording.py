"""What ``--record`` (Foxglove protobuf), ``--record ros2`` and ``--foxglove`` (live, no client) cost a minute.

``python -m bench.recording [--reps 3] [--duration 60]``: the warehouse (8 robots) on the virtual clock,
seed 7, the run folder's usual outputs (cycles.csv, trace.json; no report.png), each configuration
``reps`` times, each run in a fresh process (so peak memory is the run's own): ``plain`` (no recording),
``record`` (--record: recording.mcap), ``ros2`` (--record ros2: recording-ros2.mcap), ``live`` (--foxglove
on a free port, nobody connected; its pacing is switched off here - ``paced=False`` - so it measures the
cost, not the pace). Printed per configuration, median of the reps: recording size (MB per simulated
minute), the writer thread's CPU seconds (building and encoding the messages, compression, the file;
``time.thread_time`` around each batch, plus the file's finish at close), the run's wall time and the
process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("plain", "record", "ros2", "live")


def one(config: str, duration: float, out: Path) -> dict[str, Any]:
    """One run in this process; its figures."""
    import resource
    import time

    import sim.features.record as rec
    import sim.features.record_ros2 as rec2
    from sim.scenario.load import load_scenario
    from sim.session import execute

    cpu = [0.0]
    recorder: Any = rec2.Ros2Recorder if config == "ros2" else rec.FoxgloveRecorder
    batch, close = recorder._write_batch, recorder.close

    def timed_batch(self: Any, items: list[Any]) -> None:
        t = time.thread_time()
        batch(self, items)
        cpu[0] += time.thread_time() - t

    def timed_close(self: Any, run: Any) -> None:  # the drain's last batch is counted above; the file's finish here
        t = time.thread_time()
        close(self, run)
        cpu[0] += time.thread_time() - t

    recorder._write_batch = timed_batch
    recorder.close = timed_close
    live = None
    if config == "live":
        from sim.features.live import LiveServer

        live = LiveServer("127.0.0.1", 0)
    scn = load_scenario(ROOT / "scenarios" / "warehouse.yaml",
                        {"run.duration": duration, "run.seed": 7, "run.clock": "virtual"})
    t0 = time.perf_counter()
    record = {"record": ("foxglove",), "ros2": ("ros2",)}.get(config, ())
    result = execute(scn, out, trace=True, record=record, live=live, plot=False)
    wall = time.perf_counter() - t0
    mcap = out / ("recording-ros2.mcap" if config == "ros2" else "recording.mcap")
    section = result.report.get("recording_ros2" if config == "ros2" else "recording") or {}
    return {"config": config, "wall_s": wall, "run_wall_s": result.run.wall_seconds, "writer_cpu_s": cpu[0],
            "bytes": mcap.stat().st_size if mcap.exists() else 0,
            "messages": section.get("messages", 0),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cycles_md5": _md5(out / "cycles.csv")}


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.recording", description=__doc__)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.duration, args.out)))
        return 0
    rows: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for rep in range(args.reps):
        for config in CONFIGS:  # interleaved, so a change in the machine's load touches every configuration
            with tempfile.TemporaryDirectory() as tmp:
                res = subprocess.run([sys.executable, "-m", "bench.recording", "--one", config, "--duration",
                                      str(args.duration), "--out", tmp], cwd=ROOT, capture_output=True, text=True,
                                     check=True)
                row = json.loads(res.stdout.strip().splitlines()[-1])
            rows[config].append(row)
            print(f"rep {rep + 1} {config:6s} wall {row['wall_s']:6.2f} s  writer CPU {row['writer_cpu_s']:6.2f} s  "
                  f"{row['bytes'] / 1e6:7.2f} MB  {row['messages']:8d} msgs  peak RSS {row['peak_rss_mb']:6.0f} MB  "
                  f"cycles.csv {row['cycles_md5']}", flush=True)
    per_min = 60.0 / args.duration
    print(f"\nmedian of {args.reps}, per simulated minute (warehouse, 8 robots, virtual clock, seed 7):")
    for config, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "writer_cpu_s", "bytes", "peak_rss_mb")}
        print(f"  {config:6s} size {med['bytes'] * per_min / 1e6:7.2f} MB  "
              f"writer CPU {med['writer_cpu_s'] * per_min:6.2f} s  run wall {med['wall_s'] * per_min:6.2f} s  "
              f"peak RSS {med['peak_rss_mb']:6.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
