"""Executing a sweep: what is not done yet runs on a local process pool or on Dask, and each row is kept."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from sim.errors import UsageError
from sim.sweep.cache import done_before, store
from sim.sweep.grid import RunSpec, Sweep
from sim.sweep.worker import init_worker, run_one


def execute(sweep: Sweep, workers: int, dask: str | None,
            progress: Callable[[int, int, int, int], None], stop: Any = None) -> list[dict[str, Any]]:
    """Run what is not done yet on ``workers`` processes (local, or a ``dask="local"`` cluster's) or on the
    Dask scheduler at ``dask``; return every row (done before + now).

    ``stop`` (a ``threading.Event``): once set (an interrupt), no run starts, the running ones
    end at once, and what completed is kept; the rows returned are then only those done.
    """
    runs_dir = sweep.folder / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    rows, todo = done_before(runs_dir, sweep.specs)
    skipped = len(rows)
    failed = sum(1 for r in rows.values() if r["error"])
    progress(len(rows), len(sweep.specs), failed, skipped)
    for row in _results(todo, workers, dask, stop):
        if row.get("interrupted"):
            continue  # cut short by an interrupt: not a result, so not kept
        store(runs_dir, row)
        rows[row["key"]] = row
        failed += bool(row["error"])
        progress(len(rows), len(sweep.specs), failed, skipped)
    return [rows[s.key] for s in sweep.specs if s.key in rows]


def _results(todo: list[RunSpec], workers: int, dask: str | None, stop: Any = None) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if dask:
        yield from _dask_results(todo, dask, workers)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from sim.common import interrupt

    ctx = multiprocessing.get_context("spawn")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    counter = ctx.Value("i", 0)
    told = ctx.Event()  # the workers ignore SIGINT/SIGTERM (a terminal's Ctrl-C reaches the whole group): the
    # parent decides, and tells them through this
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                             initargs=(counter, cpus, told, os.getpid())) as pool:
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


def _dask_results(todo: list[RunSpec], address: str, workers: int) -> Iterator[dict[str, Any]]:
    """Every row from Dask: ``local`` starts a LocalCluster of ``workers`` single-thread processes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError("--dask needs Dask: pip install -e '.[sweep]' (dask[distributed])") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address == "local" else None
    try:
        with Client(cluster if cluster is not None else address) as client:
            futures = client.map(run_one, todo, pure=False)
            for fut in as_completed(futures):
                yield fut.result()
    finally:
        if cluster is not None:
            cluster.close()
