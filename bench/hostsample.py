"""``python -m bench.hostsample``: what one tick of the host sampler costs with hundreds of robot hosts.

The sampler (``sim.features.hostload``) reads every process of the run once a tick, 10 times a
second, on its own thread of the world process: its cost is time the world's threads may wait for
the GIL. Measured side by side in one run: a tick with the world process alone (``os.times`` and
``/proc/stat``), and a tick with N more processes (``/proc/<pid>/stat`` each: N entries naming one
sleeping child, so every read is a real one); the difference divided by N is the cost per host.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from bench.common import median
from sim.core.clock import ManualClock
from sim.core.handle import HostInfo
from sim.features.hostload import HostLoad, ProcHost


def _tick_seconds(hosts: int, child: int, ticks: int) -> float:
    """Median seconds of ``HostLoad.sample()`` with the world process and ``hosts`` host entries."""
    clock = ManualClock()
    hl = HostLoad(source=ProcHost(), real=True)
    hl.setup(clock, [], 3600.0)
    hl.use_processes([HostInfo("main", os.getpid(), ())]
                     + [HostInfo(f"host-{i + 1}", child, ()) for i in range(hosts)])
    times = []
    for i in range(ticks):
        clock.set(i * 0.1)
        t0 = time.perf_counter()
        hl.sample()
        times.append(time.perf_counter() - t0)
    assert all(p.gone_at is None for p in hl.procs), "the child vanished during the measurement"
    return median(times)


def measure_host_sampling(hosts: int = 200, ticks: int = 200, repeats: int = 5) -> dict[str, Any]:
    """Median tick (s) without and with ``hosts`` host processes, per host, and the share of one core at 10 Hz."""
    child = subprocess.Popen(["sleep", "600"])
    try:
        base, full = [], []
        for _ in range(repeats):  # interleaved, so a burst of load on this shared host hits both alike
            base.append(_tick_seconds(0, child.pid, ticks))
            full.append(_tick_seconds(hosts, child.pid, ticks))
    finally:
        child.kill()
        child.wait()
    b, f = median(base), median(full)
    return {"hosts": hosts, "tick_world_only_s": b, "tick_with_hosts_s": f, "ratio": f / b,
            "per_host_s": (f - b) / hosts, "core_share_at_10hz": f * 10}


if __name__ == "__main__":
    r = measure_host_sampling()
    print(f"sampler tick, world process only: {r['tick_world_only_s'] * 1e6:.0f} µs; "
          f"with {r['hosts']} hosts: {r['tick_with_hosts_s'] * 1e6:.0f} µs (x{r['ratio']:.1f}), "
          f"{r['per_host_s'] * 1e6:.1f} µs a host; {r['core_share_at_10hz'] * 100:.2f} % of one core at 10 Hz")
