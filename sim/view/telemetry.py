"""What the view reads from a running simulation, reduced to what it draws.

The view never locks or copies the simulation's state: it reads references the
simulation swaps atomically (snapshots, ``visual`` dicts, ``Reading``s) and
small counters. The only thing it adds to the run is a per-robot cycle feed: it
wraps each controller's ``on_cycle`` hook (keeping the old one) to append one
tuple per cycle to a bounded deque, which is cheap and thread-safe.

No pygame here, so health rules and meters are unit-testable.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.listeners import RunListener

if TYPE_CHECKING:
    from sim.runtime.run import Run

BAD_MISS_FRACTION = 0.1  # of the recent window (40 cycles): 4 misses turn a robot red
SAFETY_HOLD = 1.0  # s simulated: a safety stop keeps the robot red this long
FEED_LENGTH = 600  # cycles kept per robot for the strip chart
TABLE_PERIOD = 0.2  # s real between refreshes of the fleet table (quantiles cost a little)

# (release time s, response time s, missed deadline, safety stop)
CyclePoint = tuple[float, float, bool, bool]


def classify_health(recent_misses: int, recent_cycles: int, safety_stopped: bool) -> str:
    """Deadline health for colouring: ``idle``, ``ok``, ``warn`` or ``bad``."""
    if safety_stopped:
        return "bad"
    if recent_cycles <= 0:
        return "idle"
    if recent_misses == 0:
        return "ok"
    if recent_misses / recent_cycles >= BAD_MISS_FRACTION:
        return "bad"
    return "warn"


class RateWindow:
    """Rate of one quantity against another over a sliding window (real-time factor, FPS)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, x: float, y: float) -> None:
        """Record that quantity ``y`` had this value at ``x`` (e.g. real s, simulated s)."""
        s = self._samples
        s.append((x, y))
        while len(s) > 2 and x - s[0][0] > self.window:
            s.popleft()

    def rate(self) -> float:
        """dy/dx over the window; NaN until the window spans a quarter of its length."""
        s = self._samples
        if len(s) < 2:
            return math.nan
        dx = s[-1][0] - s[0][0]
        if dx < self.window / 4:
            return math.nan
        return (s[-1][1] - s[0][1]) / dx


@dataclass(frozen=True)
class RobotRow:
    """One line of the fleet table."""

    index: int
    name: str
    health: str
    cycles: int
    miss_pct: float  # % of all cycles so far (NaN before the first cycle)
    p99_ms: float  # response time p99, ms (NaN before the first cycle)
    worst_age_ms: float  # max age at use (ms) of the input closest to its max_age (NaN: none used yet)
    age_over: bool  # that input has been used past its max_age (stale)
    stale: int


@dataclass(frozen=True)
class Totals:
    """Fleet-wide counters for the status bar."""

    cycles: int = 0
    misses: int = 0
    drops: int = 0  # lost to full queues
    dropouts: int = 0  # lost to the sensors' dropout model
    stale: int = 0
    collisions: int = 0


class Telemetry:
    """Per-frame reduction of the run's state: health, flashes, feeds, table rows, totals."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.names: tuple[str, ...] = tuple(run.bodies.names)
        n = len(self.names)
        self.count = n
        index = {name: i for i, name in enumerate(self.names)}
        self.sensors_of: list[list[Any]] = [[] for _ in range(n)]
        for rt in run.sensors:
            i = index.get(rt.robot_name)
            if i is not None:
                self.sensors_of[i].append(rt)
        self.lidars: list[tuple[int, Any]] = [
            (index[rt.robot_name], rt) for rt in run.sensors
            if rt.sensor.kind == "lidar" and rt.robot_name in index
        ]
        self.controller_of: list[Any | None] = [None] * n
        for task in run.controllers:
            i = index.get(task.robot_name)
            if i is not None:
                self.controller_of[i] = task
        self.feeds: list[deque[CyclePoint]] = [deque(maxlen=FEED_LENGTH) for _ in range(n)]
        self._hooks: list[tuple[Any, Callable[..., None], Callable[..., None] | None]] = []
        self.health: list[str] = ["idle"] * n
        self.miss_flash_at = np.full(n, -math.inf)  # real time of the newest new miss
        self.collision_flash_at = np.full(n, -math.inf)
        self._safety_at = np.full(n, -math.inf)  # simulated time of the newest safety stop
        self._misses = np.zeros(n, dtype=np.int64)
        self._stops = np.zeros(n, dtype=np.int64)
        self._collisions: np.ndarray | None = None
        self.rows: list[RobotRow] = []
        self.totals = Totals()
        self._table_at = -math.inf
        self.rtf = RateWindow(1.0)

    # ------------------------------------------------------------------ cycle feed
    def install(self) -> None:
        """Feed every controller's cycles into our deques.

        A started run (the CLI starts it before opening the window) has its hooks
        wired already, so each ``on_cycle`` is wrapped; a run not started yet gets
        a listener instead, since ``start`` rewires the hooks from its listeners.
        """
        add_listener = getattr(self.run, "add_listener", None)
        if add_listener is not None and not getattr(self.run, "threads", True):
            add_listener(_FeedListener({name: feed for name, feed in zip(self.names, self.feeds, strict=True)}))
            return
        for i, task in enumerate(self.controller_of):
            if task is None:
                continue
            old = getattr(task, "on_cycle", None)
            hook = _make_hook(self.feeds[i], old)
            task.on_cycle = hook
            self._hooks.append((task, hook, old))

    def uninstall(self) -> None:
        """Put the old hooks back (unless someone wrapped ours meanwhile)."""
        for task, hook, old in self._hooks:
            if task.on_cycle is hook:
                task.on_cycle = old
        self._hooks.clear()

    # ------------------------------------------------------------------ per frame
    def update(self, snap: Any, sim_now: float, real_now: float) -> None:
        """Cheap per-frame pass: health colours, new misses/collisions to flash, RTF."""
        self.rtf.add(real_now, sim_now)
        for i, task in enumerate(self.controller_of):
            if task is None:
                continue
            st = task.stats
            misses, stops = st.misses, st.safety_stops
            if misses > self._misses[i]:
                self.miss_flash_at[i] = real_now
                self._misses[i] = misses
            if stops > self._stops[i]:
                self._safety_at[i] = sim_now
                self._stops[i] = stops
            try:
                recent = st.recent
                cycles, missed = len(recent), sum(recent)
            except RuntimeError:  # appended to while summed: keep last frame's colour
                continue
            stopped = sim_now - self._safety_at[i] < SAFETY_HOLD
            self.health[i] = classify_health(missed, cycles, stopped)
        collisions = np.asarray(snap.collisions)
        if self._collisions is not None and collisions.shape == self._collisions.shape:
            self.collision_flash_at[collisions > self._collisions] = real_now
        self._collisions = collisions

    def refresh_table(self, real_now: float, force: bool = False) -> bool:
        """Recompute fleet rows and totals at most every ``TABLE_PERIOD``; True if it did."""
        if not force and real_now - self._table_at < TABLE_PERIOD:
            return False
        self._table_at = real_now
        rows = []
        cycles = misses = stale_total = 0
        for i, name in enumerate(self.names):
            task = self.controller_of[i]
            # The input that came closest to (or furthest past) its own max_age.
            worst, worst_ratio, stale = math.nan, -math.inf, 0
            for rt in self.sensors_of[i]:
                m = rt.stats.age_at_use.max
                if rt.stats.age_at_use.count and m / rt.max_age > worst_ratio:
                    worst, worst_ratio = m, m / rt.max_age
                stale += rt.stats.stale_uses
            stale_total += stale
            if task is None:
                rows.append(RobotRow(i, name, "idle", 0, math.nan, math.nan, 1000.0 * worst, worst_ratio > 1.0,
                                     stale))
                continue
            st = task.stats
            n = st.cycles
            cycles += n
            misses += st.misses
            rows.append(RobotRow(
                index=i, name=name, health=self.health[i], cycles=n,
                miss_pct=100.0 * st.misses / n if n else math.nan,
                p99_ms=1000.0 * st.response.quantile(0.99) if n else math.nan,
                worst_age_ms=1000.0 * worst, age_over=worst_ratio > 1.0, stale=stale,
            ))
        drops = sum(rt.channel.stats.dropped for rt in self.run.sensors)
        dropouts = sum(rt.stats.dropouts for rt in self.run.sensors)
        snap = self.run.physics.snapshot
        self.rows = rows
        self.totals = Totals(cycles, misses, drops, dropouts, stale_total, int(np.sum(snap.collisions)))
        return True

    def feed(self, index: int) -> list[CyclePoint]:
        """A copy of robot ``index``'s recent cycles, oldest first (copied under the GIL)."""
        q = self.feeds[index]
        for _ in range(3):
            try:
                return list(q)
            except RuntimeError:  # appended to while copying: try again
                continue
        return []


def _make_hook(feed: deque[CyclePoint], old: Callable[..., None] | None) -> Callable[..., None]:
    """The wrapped ``on_cycle``: the old hook first (the cycle log), then one deque append."""

    def on_cycle(cycle: Any) -> None:
        if old is not None:
            old(cycle)
        feed.append((cycle.release_time, cycle.response_time, bool(cycle.miss), bool(cycle.safety_stop)))

    return on_cycle


class _FeedListener(RunListener):
    """The same feed as a run listener, for runs not started yet."""

    def __init__(self, feeds: dict[str, deque[CyclePoint]]) -> None:
        self._feeds = feeds

    def on_cycle(self, cycle: Any) -> None:
        feed = self._feeds.get(cycle.robot)
        if feed is not None:
            feed.append((cycle.release_time, cycle.response_time, bool(cycle.miss), bool(cycle.safety_stop)))
