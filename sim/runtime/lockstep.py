"""Robot hosts under virtual time: the world's side of the lockstep (``run.hosts`` with ``run.clock: virtual``).

Conservative synchronisation at physics step boundaries (docs/hosts.md, "Virtual time across
processes"): a ``lockstep`` participant of the world, first at every boundary, runs the hosts that
must run up to it and waits for them; each host's ``gate`` participant (``sim.runtime.hostproc``)
holds the host's clock between steps. A host reports its next release when it stops (lookahead), so
it runs only when it can have something to say.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from sim.core.control import Cycle
from sim.core.virtual import VirtualClock
from sim.runtime.hostproc import host_cpu
from sim.runtime.hosts import SYNC_AT_LEAST, mirror

if TYPE_CHECKING:
    from sim.runtime.hosts import HostSet


def lockstep(hs: HostSet) -> None:
    """The world's ``lockstep`` participant: at every physics step boundary, before physics, run the hosts up to it.

    Conservative synchronisation: the world has run everything before the boundary ``T`` (its sensors
    sampled and forwarded every reading published before ``T``, its timeline sent every event before
    ``T``); each host then runs its robots up to ``T`` (in parallel), and their commands, cycles and notes
    come back before physics steps at ``T``. Robots act on the world only through commands, which
    physics takes at the next step anyway, so nothing depends on where a robot ran.
    """
    run, clock = hs.run, hs.run.clock
    step, end = run.physics.step_size, run.duration
    tasks = run.controllers
    hosts = range(len(hs.plans))
    # Lookahead: a host reports, each time it stops, the earliest instant anything of it can happen
    # (its next release). Before that it sends nothing, so the world need not wait for it: it runs only
    # at a boundary past that instant, after an event was sent to it, or SYNC_AT_LEAST after it last ran.
    nothing_before = [0.0] * len(hs.plans)
    ran_to = [0.0] * len(hs.plans)
    poke = hs.poke
    n = 1
    while True:
        # The next boundary at which a host is due; sleep until then, unless an event sent to a host
        # meanwhile (the timeline notifies ``poke``) makes that host due at the boundary after it.
        next_n = [min(_first_after(nothing_before[h], step),
                      _first_after(ran_to[h] + SYNC_AT_LEAST - step / 2, step)) for h in hosts]
        n = max(n, min(next_n, default=n))
        until = n * step
        seen = poke.version()
        while clock.now() < until and not hs.events_sent:
            if not poke.wait_until(seen, until) and clock.stopped:
                return
            seen = poke.version()
        if clock.stopped:
            return
        if hs.events_sent and clock.now() < until:  # woken by an event: run its host at the next boundary
            n = _first_after(clock.now(), step)
            until = n * step
            if not clock.sleep_until(until):
                return
        for fd in hs.deaths.wait(0):  # a host that died (a kill_host fault, a crash) ends the run now
            died = hs.pidfd_host[fd]
            if died not in hs.ended:
                hs.read_control(died)
                hs.exited(died)
                return
        due = [h for h in hosts if next_n[h] <= n or h in hs.events_sent]
        hs.events_sent.clear()
        if len(due) > 1 and (mine := pinned_cpu(clock)) is not None:  # a host on this CPU would preempt
            due.sort(key=lambda h: host_cpu(h) == mine)  # the world before it told the others: it goes last
        for number in due:
            hs.send(number, ("advance", until))
        reached = await_step(hs, until, due)
        if reached is None:  # a host failed or the run stopped
            return
        hs.round_trips += len(due)
        for number, next_at in reached.items():
            nothing_before[number], ran_to[number] = next_at, until
        alive = any(t < math.inf for t in nothing_before)
        cycles: list[tuple[float, int, int, Cycle]] = []
        hs.drain_uplinks(cycles, due)
        cycles.sort(key=lambda c: c[:3])
        for _, index, _, cycle in cycles:
            task = tasks[index]
            mirror(task, cycle)
            if task.on_cycle is not None:
                task.on_cycle(cycle)
        if until >= end and not alive:
            return
        n += 1


def _first_after(t: float, step: float) -> int:
    """The index n of the first boundary n * step strictly after ``t`` (as floating point computes n * step)."""
    if t == math.inf:
        return 2**62
    n = max(int(t / step), 0)
    while n * step <= t:
        n += 1
    while n > 1 and (n - 1) * step > t:
        n -= 1
    return n


def pinned_cpu(virtual: object) -> int | None:
    """The CPU the world's virtual clock runs its threads on, if it pins them."""
    return virtual.pinned_cpu if isinstance(virtual, VirtualClock) else None


def await_step(hs: HostSet, until: float, due: list[int]) -> dict[int, float] | None:
    """Wait (real time, holding the world's token) until the hosts ``due`` reached ``until``; each one's
    next possible activity. None if the run ended meanwhile (a failure, a host died or went silent, a stop)."""
    reached: dict[int, float] = {}
    limit = hs.run.scenario.run.host_silence_limit
    waiter, pipe_host, awaited = hs.waiter, hs.pipe_host, set(due)
    while len(reached) < len(due):
        if hs.run.finished.is_set() or hs.run.clock.stopped:
            return None
        for fd in waiter.wait(0.05):  # one poll over every host's pipe and pidfd
            number = pipe_host.get(fd)
            if number is not None:
                for msg in hs.read_control(number):
                    if msg[0] == "reached" and msg[1] == until and number in awaited:
                        reached[number] = msg[2]
                continue
            died = hs.pidfd_host.get(fd)
            if died is not None and died not in hs.ended:
                hs.read_control(died)
                hs.exited(died)
                return None
        now = time.monotonic()
        for number in due:
            if number not in reached and now - hs.heartbeat[number] > limit:
                hs.silent(number, now - hs.heartbeat[number], limit)
                return None
    return reached
