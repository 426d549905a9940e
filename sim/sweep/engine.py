"""Sweeps: one scenario run over every combination of settings and seeds.

``python run.py sweep SCENARIO --seeds 0-99 --set robots.count=4,8 --set 'robots.*.controller.period=0.05,0.1'``

Runs are headless, virtual time by default, on a local process pool or on Dask.
Each finished run is stored as ``runs/<key>.json`` in the sweep folder, keyed by the
scenario's hash, its settings and its seed, and by the code that runs it (``code_digest``:
the project's version and packages, and every plugin module the scenario names), so
re-running a sweep skips what is done, and only what was done by the same code.
A run that crashes or breaches its ``expect:`` block is recorded with its error; the
rest go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError, UsageError, format_value

METRICS = ["miss_rate", "response_p99", "orders_per_hour", "collisions", "safety_stops", "stale_uses"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything a worker process needs, picklable."""

    scenario: str  # path
    settings: tuple[tuple[str, Any], ...]
    seed: int
    clock: str
    duration: float | None
    key: str


@dataclass
class Sweep:
    scenario: Path
    seeds: list[int]
    sets: list[tuple[str, list[Any]]]
    clock: str = "virtual"
    duration: float | None = None
    out: Path = Path("sweeps")
    specs: list[RunSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        text = self.scenario.read_bytes()
        digest = hashlib.sha256(text).hexdigest()
        self.folder = self.out / f"{self.scenario.stem}-{digest[:10]}"
        self.code = code_digest(plugin_modules(text, self.sets))
        names = [p for p, _ in self.sets]
        for values in itertools.product(*[v for _, v in self.sets]):
            settings = tuple(zip(names, values, strict=True))
            for seed in self.seeds:
                ident = json.dumps([digest, settings, seed, self.clock, self.duration, self.code], default=str)
                key = hashlib.sha256(ident.encode()).hexdigest()[:16]
                self.specs.append(RunSpec(str(self.scenario), settings, seed, self.clock, self.duration, key))


# ---------------------------------------------------------------------- the code a run runs
PROJECT_PACKAGES = ("sim", "sensors", "controllers")
_ROOT = Path(__file__).resolve().parents[2]


def plugin_modules(scenario_text: bytes, sets: list[tuple[str, list[Any]]]) -> list[str]:
    """Modules of the plugin types (``pkg.module:Class``) the scenario or a ``--set`` value names.

    Read from the raw YAML, so it needs no loading; an unreadable file names none (the
    scenario's own validation reports it).
    """
    found: set[str] = set()
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) in seen:  # YAML aliases can make a node its own child
            return
        seen.add(id(node))
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str) and ":" in kind:
                found.add(kind.partition(":")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with contextlib.suppress(Exception):  # an unreadable scenario names no plugin; loading reports it
        walk(yaml.safe_load(scenario_text))
    for path, values in sets:
        if path.rsplit(".", 1)[-1] == "type":
            found.update(v.partition(":")[0] for v in values if isinstance(v, str) and ":" in v)
    return sorted(m for m in found if m)


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


# ---------------------------------------------------------------------- parsing
def parse_seeds(text: str) -> list[int]:
    """``0-99``, ``1,2,5`` or ``0-9,20-29`` -> sorted unique seeds."""
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
            if a < 0 or b < a:
                raise ValueError
            seeds.update(range(a, b + 1))
    except ValueError:
        raise UsageError(f"--seeds: got {format_value(text)}; expected e.g. 0-99 or 1,2,5") from None
    return sorted(seeds)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``path=v1,v2`` -> (path, [v1, v2]); values are read as YAML scalars (0.05 is a float)."""
    path, eq, values = text.partition("=")
    if not eq or not path.strip() or not values.strip():
        raise UsageError(f"--set: got {format_value(text)}; expected PATH=V1,V2,... e.g. robots.count=4,8,16")
    return path.strip(), [_scalar(v.strip(), text) for v in values.split(",")]


def _scalar(value: str, text: str) -> Any:
    """One ``--set`` value read as a YAML scalar, with the scenario loader's limits (64-bit integers)."""
    from sim.scenario.marks import parse_marked

    if not value:
        return None
    try:
        return parse_marked(value, "--set").data
    except ScenarioError as exc:
        raise UsageError(f"--set {format_value(text)}: {exc.describe()}") from None


def validate(sweep: Sweep) -> None:
    """Load the scenario once per distinct setting so an unknown path fails before any run."""
    from sim.scenario.load import load_scenario

    for values in itertools.product(*[v for _, v in sweep.sets]):
        load_scenario(sweep.scenario, dict(zip([p for p, _ in sweep.sets], values, strict=True)))


# ---------------------------------------------------------------------- one run
_STOP: Any = None  # in a local worker process: the sweep's stop event (set when the sweep is interrupted)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one scenario headless and return its result row (in a worker process)."""
    import tempfile

    from sim.report.build import build_report
    from sim.runtime.run import Run, make_clock
    from sim.scenario.load import load_scenario

    row: dict[str, Any] = {"key": spec.key, "seed": spec.seed, **dict(spec.settings), "error": ""}
    t0 = time.perf_counter()
    try:
        overrides = {**dict(spec.settings), "run.seed": spec.seed, "run.clock": spec.clock}
        if spec.duration is not None:
            overrides["run.duration"] = spec.duration
        scenario = load_scenario(spec.scenario, overrides)
        with tempfile.TemporaryDirectory(prefix="sweep-run-") as tmp:
            clock = make_clock(scenario.run.clock, scenario.run.time_scale, paced=False,
                               pin_cpu=scenario.run.pin_cpu)
            run = Run(scenario, Path(tmp), clock=clock)
            run.start()
            while not run.finished.wait(0.1):
                if _STOP is not None and _STOP.is_set():  # the sweep was interrupted: end this run now
                    run.finish("interrupted")
            run.stop()
            report = build_report(run, "")
        if run.end_reason in ("interrupted", "terminated"):
            row["interrupted"] = True  # not a result: never cached, run again next time
        row.update(metrics(report))
        if run.failures:
            f = run.failures[0]
            row["error"] = f"{f.thread}: {f.error}"
        elif (breaches := _breaches(scenario, report)):
            row["error"] = "expect: " + "; ".join(breaches)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["wall_seconds"] = time.perf_counter() - t0
    return row


def _breaches(scenario: Any, report: dict[str, Any]) -> list[str]:
    expect = getattr(scenario, "expect", None)
    if expect is None:
        return []
    from sim.features.expect import check_expectations

    return check_expectations(expect, report)


def metrics(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a sweep compares, from one run's report."""
    s = report["summary"]
    p99s = [c["response_time"]["p99"] for c in report["controllers"] if c["response_time"]["p99"] is not None]
    outcomes = report.get("outcomes") or {}
    hours = report["run"]["sim_seconds"] / 3600.0
    orders = (outcomes.get("orders") or {}).get("completed", outcomes.get("orders_completed"))
    return {
        "miss_rate": s["miss_rate"],
        "response_p99": max(p99s) if p99s else math.nan,
        "orders_per_hour": orders / hours if orders is not None and hours > 0 else math.nan,
        "collisions": s["collisions"],
        "safety_stops": s["safety_stops"],
        "stale_uses": s["stale_uses"],
        "sim_seconds": report["run"]["sim_seconds"],
    }


# ---------------------------------------------------------------------- executing
def execute(sweep: Sweep, workers: int, dask: str | None,
            progress: Callable[[int, int, int, int], None], stop: Any = None) -> list[dict[str, Any]]:
    """Run what is not done yet; return every row (done before + now).

    ``stop`` (a ``threading.Event``): once set (an interrupt), no run starts, the running ones
    end at once, and what completed is kept; the rows returned are then only those done.
    """
    from sim.common.files import write_json

    runs_dir = sweep.folder / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for spec in sweep.specs:
        path = runs_dir / f"{spec.key}.json"
        if path.exists():
            rows[spec.key] = json.loads(path.read_text())
        else:
            todo.append(spec)
    skipped = len(rows)
    failed = sum(1 for r in rows.values() if r["error"])
    progress(len(rows), len(sweep.specs), failed, skipped)
    for row in _results(todo, workers, dask, stop):
        if row.get("interrupted"):
            continue  # cut short by an interrupt: not a result, so not kept
        write_json(runs_dir / f"{row['key']}.json", row)
        rows[row["key"]] = row
        failed += bool(row["error"])
        progress(len(rows), len(sweep.specs), failed, skipped)
    return [rows[s.key] for s in sweep.specs if s.key in rows]


def _results(todo: list[RunSpec], workers: int, dask: str | None, stop: Any = None) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if dask:
        yield from _dask_results(todo, dask)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from sim.common import interrupt

    ctx = multiprocessing.get_context("spawn")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    counter = ctx.Value("i", 0)
    told = ctx.Event()  # the workers ignore SIGINT/SIGTERM (a terminal's Ctrl-C reaches the whole group): the
    # parent decides, and tells them through this
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(counter, cpus, told)) as pool:
        with interrupt.blocked():  # workers start (on submit) with the signals held back, then ignore them
            pending = {pool.submit(run_one, spec) for spec in todo}
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in done:
                if not fut.cancelled():
                    yield fut.result()
            if stop is not None and stop.is_set() and not told.is_set():
                told.set()  # running runs end within a second; the rest never start
                for fut in pending:
                    fut.cancel()


def _init_worker(counter: Any, cpus: list[int], stop: Any) -> None:
    from sim.common.interrupt import child_ignores

    global _STOP
    child_ignores()
    _STOP = stop
    _pin_worker(counter, cpus)


def _pin_worker(counter: Any, cpus: list[int]) -> None:
    """Give each worker process a CPU of its own, in turn: a virtual run keeps its threads on the
    CPU it starts on (sim.core.virtual), and two workers left to pick would often pick the same one."""
    if len(cpus) < 2:
        return
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    from sim.core.virtual import pin_thread

    pin_thread(cpus[i % len(cpus)])  # the worker's main thread; the run's threads inherit it


def _dask_results(todo: list[RunSpec], address: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError("--dask needs Dask: pip install -e '.[sweep]' (dask[distributed])") from None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address == "local" else None
    try:
        with Client(cluster if cluster is not None else address) as client:
            futures = client.map(run_one, todo, pure=False)
            for fut in as_completed(futures):
                yield fut.result()
    finally:
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------- summarising
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23,
        15: 2.13, 20: 2.09, 30: 2.04, 60: 2.00}


def t95(dof: int) -> float:
    """Two-sided 95 % Student-t quantile (table, nearest lower dof; 1.96 beyond 60)."""
    if dof > 60:
        return 1.96
    return _T95[max(k for k in _T95 if k <= dof)]


def summarise(sweep: Sweep, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per setting: n, failures, mean with a 95 % confidence interval for each metric."""
    out = []
    names = [p for p, _ in sweep.sets]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(json.dumps(r.get(n), default=str) for n in names), []).append(r)
    for key, members in groups.items():
        ok = [r for r in members if not r["error"] or r["error"].startswith("expect:")]
        line: dict[str, Any] = {n: json.loads(k) for n, k in zip(names, key, strict=True)}
        line["runs"] = len(members)
        line["failed"] = sum(1 for r in members if r["error"])
        for m in METRICS:
            vals = [float(r[m]) for r in ok if m in r and r[m] is not None and math.isfinite(float(r[m]))]
            n = len(vals)
            mean = sum(vals) / n if n else math.nan
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else math.nan
            line[m] = mean
            line[m + "_ci"] = t95(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
        out.append(line)
    return out


# ---------------------------------------------------------------------- output
def write_outputs(sweep: Sweep, rows: list[dict[str, Any]], table: list[dict[str, Any]]) -> list[Path]:
    """results.csv (one row per run), summary.json, and sweep.png (main metric per setting)."""
    import csv
    import io

    from sim.common.files import write_atomic, write_json

    cols = ["key", "seed", *[p for p, _ in sweep.sets], *METRICS, "sim_seconds", "wall_seconds", "error"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_atomic(sweep.folder / "results.csv", buf.getvalue())
    write_json(sweep.folder / "summary.json", {"scenario": str(sweep.scenario), "clock": sweep.clock,
                                                "seeds": sweep.seeds, "settings": sweep.sets, "table": table})
    paths = [sweep.folder / "results.csv", sweep.folder / "summary.json"]
    if any(len(v) > 1 for _, v in sweep.sets) and any(math.isfinite(t["miss_rate"]) for t in table):
        paths.append(_plot(sweep, table))
    return paths


def _plot(sweep: Sweep, table: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    varied = [(p, v) for p, v in sweep.sets if len(v) > 1]
    fig, axes = plt.subplots(1, max(len(varied), 1), figsize=(5.5 * max(len(varied), 1), 4), squeeze=False)
    for ax, (name, values) in zip(axes[0], varied, strict=False):
        others = [p for p, _ in varied if p != name]
        series: dict[tuple, list[tuple[Any, float, float]]] = {}
        for t in table:
            series.setdefault(tuple(t[o] for o in others), []).append((t[name], t["miss_rate"], t["miss_rate_ci"]))
        for label, pts in series.items():
            pts.sort(key=lambda p: values.index(p[0]) if p[0] in values else 0)
            xs = [str(p[0]) for p in pts]
            ys = [100 * p[1] for p in pts]
            es = [100 * p[2] if math.isfinite(p[2]) else 0.0 for p in pts]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3,
                        label=", ".join(f"{o}={v}" for o, v in zip(others, label, strict=True)) or None)
        ax.set_xlabel(name)
        ax.set_ylabel("deadline miss rate (%), mean ± 95% CI")
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
    fig.suptitle(f"{sweep.scenario.name}: {len(sweep.seeds)} seeds per setting ({sweep.clock} time)")
    fig.tight_layout()
    import io

    from sim.common.files import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = sweep.folder / "sweep.png"
    write_atomic(path, buf.getvalue())
    return path


def format_table(sweep: Sweep, table: list[dict[str, Any]]) -> str:
    def pm(t: dict[str, Any], m: str, scale: float = 1.0, fmt: str = ".2f") -> str:
        v, ci = t[m], t[m + "_ci"]
        if not math.isfinite(v):
            return "-"
        return f"{v * scale:{fmt}}" + (f" ± {ci * scale:{fmt}}" if math.isfinite(ci) else "")

    names = [p for p, v in sweep.sets if len(v) > 1]
    fixed = [f"{p}={v[0]}" for p, v in sweep.sets if len(v) == 1]
    head = [*names, "runs", "failed", "miss % (95% CI)", "resp p99 ms", "orders/h", "collisions", "safety stops"]
    rows = [head] + [[*(str(t[n]) for n in names), str(t["runs"]), str(t["failed"]),
                      pm(t, "miss_rate", 100, ".3f"), pm(t, "response_p99", 1000), pm(t, "orders_per_hour", 1, ".1f"),
                      pm(t, "collisions"), pm(t, "safety_stops", 1, ".1f")] for t in table]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if fixed:
        lines.insert(0, "fixed: " + ", ".join(fixed))
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr: done/total, failed, and time left.

    On a terminal it redraws one line (``\r``); into a pipe or a file (CI logs) it writes one
    whole line per update instead, so a reader sees each as it comes.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.redraw = bool(getattr(stream, "isatty", lambda: False)())
        self.drawn = False  # a redrawn line is on screen, not yet ended
        self.t0 = time.perf_counter()
        self.first_done: int | None = None

    def __call__(self, done: int, total: int, failed: int, skipped: int) -> None:
        if self.first_done is None:
            self.first_done = done
        ran = done - self.first_done
        elapsed = time.perf_counter() - self.t0
        left = "?" if ran == 0 else f"{(total - done) * elapsed / ran:.0f} s"
        width = 30
        filled = int(width * done / total) if total else width
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done, {failed} failed, "
                f"{skipped} skipped (done before), {elapsed:.0f} s elapsed, ~{left} left")
        if self.redraw:
            self.stream.write(f"\r{text} ")
            self.drawn = done != total
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def end_line(self) -> None:
        """End a redrawn line left open (the sweep stopped early), so the next message starts clean."""
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def main(argv: list[str]) -> int:
    import os
    import sys

    from sim.common.argparser import ArgumentParser

    p = ArgumentParser(prog="run.py sweep", description="Run a scenario over every combination of "
                                "settings and seeds, headless, and summarise (docs/sweeps.md).")
    p.add_argument("scenario", type=Path)
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0-99 or 1,2,5 (default 0)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=V1,V2",
                   help="a setting to sweep, as a dotted scenario path; '*' = every list item "
                   "(robots.*.controller.period=0.05,0.1); robots.count=N resizes the fleet. Repeatable.")
    p.add_argument("--clock", choices=["virtual", "real"], default="virtual",
                   help="virtual (default: deterministic, fast) or real time")
    p.add_argument("--duration", type=float, help="simulated seconds per run (overrides run.duration)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run on Dask: 'local' starts a LocalCluster, or a "
                   "scheduler address like tcp://host:8786 (needs the 'sweep' extra)")
    p.add_argument("--out", type=Path, default=Path("sweeps"), help="sweep folders go here (default sweeps/)")
    args = p.parse_args(argv)
    if not args.scenario.is_file():
        raise UsageError(f"{args.scenario}: no such scenario file")
    if args.workers < 1:
        raise UsageError(f"--workers: got {args.workers}; must be >= 1")
    sweep = Sweep(args.scenario, parse_seeds(args.seeds), [parse_set(s) for s in args.sets], args.clock,
                  args.duration, args.out)
    validate(sweep)
    print(f"sweep {sweep.scenario}: {len(sweep.specs)} runs ({len(sweep.seeds)} seeds x "
          f"{len(sweep.specs) // max(len(sweep.seeds), 1)} settings), {args.clock} time, "
          f"{'dask ' + args.dask if args.dask else str(args.workers) + ' local processes'}", flush=True)
    if not args.dask:  # here, once: the local processes then load every kernel from the disk cache
        from sim.world.jit import COMPILE_NOTICE, announce_compiles, warm_up_all

        with announce_compiles(lambda: print(COMPILE_NOTICE, flush=True)):
            warm_up_all()
    t0 = time.perf_counter()
    import threading

    from sim.common import interrupt

    stop = threading.Event()
    progress = Progress(sys.stderr)
    with interrupt.deferred(lambda _reason: stop.set()):
        rows = execute(sweep, args.workers, args.dask, progress, stop)
    progress.end_line()
    if stop.is_set():
        print(f"sweep {interrupt.end_reason()}: {len(rows)} of {len(sweep.specs)} runs done and kept in "
              f"{sweep.folder}; the same command runs the rest", file=sys.stderr)
        return 130
    table = summarise(sweep, rows)
    paths = write_outputs(sweep, rows, table)
    print(format_table(sweep, table))
    failures = [r for r in rows if r["error"]]
    for r in failures[:10]:
        print(f"  failed: seed {r['seed']} {dict((p, r.get(p)) for p, _ in sweep.sets)}: {r['error']}")
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more failures (see results.csv)")
    print(f"{len(rows)} runs, {len(failures)} failed, wall {time.perf_counter() - t0:.1f} s")
    for path in paths:
        print(f"wrote {path}")
    return 0
