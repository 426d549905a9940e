"""Heads-up display: status bar, fleet table, selected-robot panel with strip chart, help, toasts.

Everything here draws onto translucent cards laid over the scene. ``Layout``
decides where the cards go and which part of the window the map should be
fitted into, so the HUD does not cover the map on start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pygame

from sim.view import theme
from sim.view.camera import Camera, nice_step
from sim.view.telemetry import CyclePoint, RobotRow, Totals
from sim.view.text import Text

MARGIN = 12
PANEL_W = 360
STATUS_H = 64
PAD = 10
ROW_H = 18
CHART_H = 120
CHART_SPAN = 10.0  # s simulated shown by the strip chart
_KEY = (255, 0, 255)  # colour key for the cut-out corners of cached cards

HEALTH_WORDS = {
    "ok": "meeting deadlines",
    "warn": "missing some deadlines",
    "bad": "missing many / safety stop",
    "idle": "no cycle yet",
}

KEYS = [
    ("Space", "pause / resume simulated time"),
    (".", "single step while paused (one physics step)"),
    ("+  -", "time scale x2 / ÷2 (0.05 .. 20)"),
    ("click, Tab", "select a robot (Shift+Tab: back; click floor: none)"),
    ("drag, wheel", "pan, zoom about the cursor"),
    ("F", "fit the map to the window"),
    ("C", "follow the selected robot"),
    ("R  T  N", "lidar rays, trails, all names"),
    ("H", "hide / show this HUD"),
    ("S", "screenshot into the run folder"),
    ("?  F1", "this help"),
    ("Esc", "close the window (ends the run)"),
]
LEGEND = [
    (theme.HEALTH["ok"], "body: no deadline miss in the last 40 cycles"),
    (theme.HEALTH["warn"], "body: some misses (under 10 %)"),
    (theme.HEALTH["bad"], "body: ≥ 10 % missed, or a safety stop in the last 1 s"),
    (theme.HEALTH["idle"], "body: controller has not run yet"),
    (theme.MISS_FLASH, "white ring: a deadline was just missed"),
    (theme.COLLISION_FLASH, "orange ring: a collision; red outline: in contact"),
    (theme.RAY_HIT, "cyan: lidar free space and returns"),
]


@dataclass
class Layout:
    """Where the HUD cards sit for a window size, and the map area left free."""

    size: tuple[int, int]
    visible: bool = True
    status: pygame.Rect = field(init=False)
    panel: pygame.Rect = field(init=False)
    map_rect: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        w, h = self.size
        side_by_side = w - PANEL_W - 2 * MARGIN >= 420
        panel_w = min(PANEL_W, w - 2 * MARGIN)
        self.panel = pygame.Rect(w - panel_w - MARGIN, MARGIN, panel_w, h - 2 * MARGIN)
        status_w = min(700, (w - panel_w - 3 * MARGIN) if side_by_side else w - 2 * MARGIN)
        self.status = pygame.Rect(MARGIN, MARGIN, max(status_w, 200), STATUS_H)
        if not self.visible:
            self.map_rect = (0.0, 0.0, float(w), float(h))
        elif side_by_side:
            top = self.status.bottom
            self.map_rect = (0.0, float(top), float(self.panel.left), float(h - top - 28))
        else:
            top = self.status.bottom
            self.map_rect = (0.0, float(top), float(w), float(h - top - 28))


@dataclass
class StatusInfo:
    """What the status bar shows."""

    sim_now: float
    duration: float
    time_scale: float | None
    rtf: float
    fps: float
    paused: bool
    finished: str | None
    totals: Totals


class Hud:
    """Draws the HUD cards; returns clickable rows so the app can select from the table."""

    def __init__(self, text: Text) -> None:
        self.text = text
        self._cards: dict[tuple[int, int], pygame.Surface] = {}
        self.row_rects: list[tuple[pygame.Rect, int]] = []  # fleet-table rows -> robot index

    # ------------------------------------------------------------------ helpers
    def card_surface(self, size: tuple[int, int]) -> pygame.Surface:
        """A surface for one cached HUD card: opaque, rounded corners cut out by a colour key.

        Opaque text on an opaque card blits fast and antialiases cleanly; the app
        renders each card into one of these a few times a second and blits it every frame.
        """
        surf = pygame.Surface(size).convert()
        surf.fill(_KEY)
        surf.set_colorkey(_KEY)
        rect = surf.get_rect()
        pygame.draw.rect(surf, theme.PANEL[:3], rect, border_radius=8)
        pygame.draw.rect(surf, theme.PANEL_EDGE, rect, 1, border_radius=8)
        return surf

    def card(self, s: pygame.Surface, rect: pygame.Rect) -> None:
        """A translucent rounded panel (cached per size); a no-op on a ``card_surface``."""
        if s.get_colorkey() == (*_KEY, 255) and rect.topleft == (0, 0) and rect.size == s.get_size():
            return  # already painted by card_surface
        key = (rect.w, rect.h)
        surf = self._cards.get(key)
        if surf is None:
            if len(self._cards) > 64:
                self._cards.clear()
            surf = pygame.Surface(key, pygame.SRCALPHA)
            pygame.draw.rect(surf, theme.PANEL, surf.get_rect(), border_radius=8)
            pygame.draw.rect(surf, (*theme.PANEL_EDGE, 255), surf.get_rect(), 1, border_radius=8)
            self._cards[key] = surf
        s.blit(surf, rect.topleft)

    def _pairs(self, s: pygame.Surface, x: float, y: float, pairs: list[tuple[str, str, theme.Color]],
               size: int, gap: int = 14) -> float:
        """Draw "label value" pairs on one line; returns the x after the last one."""
        for label, value, color in pairs:
            if label:
                x = self.text.draw(s, label, (x, y), theme.TEXT_DIM, size).right + 5
            x = self.text.draw(s, value, (x, y), color, size).right + gap
        return x

    # ------------------------------------------------------------------ status bar
    def draw_status(self, s: pygame.Surface, rect: pygame.Rect, info: StatusInfo) -> None:
        self.card(s, rect)
        t = self.text
        x: float  # a text width, then _pairs' float
        x, y = rect.x + PAD, rect.y + 8
        x = t.draw(s, f"t {info.sim_now:.2f} s", (x, y), theme.TEXT, theme.FONT_LARGE, bold=True).right
        x = t.draw(s, f" / {info.duration:g} s", (x, y + 3), theme.TEXT_DIM, theme.FONT_NORMAL).right + 16
        scale = "—" if info.time_scale is None else "max" if info.time_scale <= 0 else f"×{info.time_scale:g}"
        rtf = "—" if not math.isfinite(info.rtf) else f"{info.rtf:.2f}"
        fps = "—" if not math.isfinite(info.fps) else f"{info.fps:.0f}"
        x = self._pairs(s, x, y + 3, [("scale", scale, theme.TEXT), ("RTF", rtf, theme.TEXT),
                                      ("view", f"{fps} fps", theme.TEXT)], theme.FONT_NORMAL)
        badge = None
        if info.finished:
            badge = (f"FINISHED · {info.finished}", theme.ACCENT)
        elif info.paused:
            badge = ("PAUSED", theme.HEALTH["warn"])
        if badge:
            surf = t.render(badge[0], theme.BACKGROUND, theme.FONT_SMALL, bold=True)
            br = surf.get_rect(topright=(rect.right - PAD, y + 2)).inflate(10, 4)
            if br.left < x - 8:
                br.topleft = (x - 8, br.top)
            pygame.draw.rect(s, badge[1], br, border_radius=4)
            s.blit(surf, surf.get_rect(center=br.center))
        tot = info.totals
        y2 = rect.y + 36

        def level(v: int, bad: bool) -> theme.Color:
            if v == 0:
                return theme.TEXT_DIM
            return theme.HEALTH["bad"] if bad else theme.HEALTH["warn"]

        self._pairs(s, rect.x + PAD, y2, [
            ("cycles", f"{tot.cycles}", theme.TEXT),
            ("misses", f"{tot.misses}", level(tot.misses, True)),
            ("drops", f"{tot.drops}", level(tot.drops, False)),
            ("lost", f"{tot.dropouts}", level(tot.dropouts, False)),
            ("stale", f"{tot.stale}", level(tot.stale, True)),
            ("collisions", f"{tot.collisions}", level(tot.collisions, True)),
        ], theme.FONT_SMALL, gap=12)
        if info.duration > 0:
            frac = min(max(info.sim_now / info.duration, 0.0), 1.0)
            bar = pygame.Rect(rect.x + 8, rect.bottom - 6, rect.w - 16, 2)
            pygame.draw.rect(s, theme.PANEL_EDGE, bar)
            pygame.draw.rect(s, theme.ACCENT, (bar.x, bar.y, round(bar.w * frac), bar.h))

    # ------------------------------------------------------------------ fleet table
    def table_height(self, rows: int, note: bool = False) -> int:
        """Card height for ``rows`` lines (plus the "worst N of M" note when truncated)."""
        return 30 + ROW_H * rows + (24 if note else 6)

    def draw_table(self, s: pygame.Surface, rect: pygame.Rect, rows: list[RobotRow], selected: int | None,
                   deadlines: list[float], max_rows: int) -> None:
        """One line per robot: health dot, name, miss %, response p99, worst input age."""
        self.card(s, rect)
        t = self.text
        x0, y = rect.x + PAD, rect.y + 8
        cols = (x0 + 16, rect.x + 130, rect.x + 205, rect.x + 300)
        t.draw(s, "FLEET", (x0, y), theme.TEXT_DIM, theme.FONT_SMALL, bold=True)
        for cx, label in zip(cols[1:], ("miss %", "p99 ms", "worst age"), strict=True):
            t.draw(s, label, (cx + 50, y), theme.TEXT_FAINT, theme.FONT_SMALL, anchor="topright")
        y += 22
        shown = rows
        note = ""
        if len(rows) > max_rows:
            shown = sorted(rows, key=lambda r: (-(r.miss_pct if math.isfinite(r.miss_pct) else -1), r.index))
            shown = shown[:max(max_rows, 0)]
            note = f"worst {len(shown)} of {len(rows)} by miss %"
        self.row_rects = []
        for row in shown:
            line = pygame.Rect(rect.x + 4, y - 1, rect.w - 8, ROW_H)
            if row.index == selected:
                pygame.draw.rect(s, theme.PANEL_EDGE, line, border_radius=4)
            self.row_rects.append((line, row.index))
            pygame.draw.circle(s, theme.HEALTH.get(row.health, theme.HEALTH["idle"]), (x0 + 5, y + ROW_H // 2 - 1), 5)
            t.draw(s, row.name[:16], (cols[0], y), theme.robot_color(row.index), theme.FONT_SMALL)
            deadline = deadlines[row.index] if row.index < len(deadlines) else math.inf
            miss_c = theme.TEXT_DIM if not row.miss_pct else (
                theme.HEALTH["bad"] if row.miss_pct >= 10 else theme.HEALTH["warn"])
            p99_c = theme.HEALTH["bad"] if row.p99_ms > 1000 * deadline else theme.TEXT
            age_c = theme.HEALTH["bad"] if row.age_over else theme.TEXT
            for cx, value, color in ((cols[1], _fmt(row.miss_pct, 1), miss_c), (cols[2], _fmt(row.p99_ms, 1), p99_c),
                                     (cols[3], _fmt(row.worst_age_ms, 0), age_c)):
                t.draw(s, value, (cx + 50, y), color, theme.FONT_SMALL, anchor="topright")
            y += ROW_H
        if note:
            t.draw(s, note, (x0, y + 2), theme.TEXT_FAINT, theme.FONT_SMALL)

    # ------------------------------------------------------------------ selected robot
    def selected_height(self, sensors: int) -> int:
        return 8 + 24 + 4 * 17 + 8 + 18 + sensors * 17 + 10 + 18 + CHART_H + 12

    def draw_selected(self, s: pygame.Surface, rect: pygame.Rect, index: int, name: str, health: str,
                      task: Any, sensors: list[Any], snap: Any, feed: list[CyclePoint], sim_now: float) -> None:
        """The selected robot: controller state, timing summary, sensor table, response strip chart."""
        self.card(s, rect)
        t = self.text
        x0, y = rect.x + PAD, rect.y + 8
        right = rect.right - PAD
        t.draw(s, name, (x0, y), theme.robot_color(index), theme.FONT_LARGE, bold=True)
        t.draw(s, HEALTH_WORDS.get(health, health), (right, y + 4), theme.HEALTH.get(health, theme.TEXT),
               theme.FONT_SMALL, anchor="topright")
        y += 26
        small = theme.FONT_SMALL
        pose = snap.pose[index]
        vel = snap.velocity[index]
        visual = (getattr(task.controller, "visual", None) or {}) if task is not None else {}
        state = str(visual.get("state", "—"))
        self._pairs(s, x0, y, [("pose", f"{pose[0]:6.2f} {pose[1]:6.2f} m {pose[2]:+5.2f} rad", theme.TEXT)], small)
        y += 17
        self._pairs(s, x0, y, [("v", f"{vel[0]:+.2f} m/s", theme.TEXT), ("ω", f"{vel[1]:+.2f} rad/s", theme.TEXT),
                               ("state", state, theme.TEXT)], small)
        y += 17
        if task is not None:
            st = task.stats
            n = st.cycles
            pct = f"{100.0 * st.misses / n:.1f}%" if n else "—"
            self._pairs(s, x0, y, [
                ("cycles", f"{n}", theme.TEXT),
                ("missed", f"{st.misses} ({pct})", theme.HEALTH["bad"] if st.misses else theme.TEXT_DIM),
                ("stops", f"{st.safety_stops}", theme.HEALTH["bad"] if st.safety_stops else theme.TEXT_DIM),
            ], small, gap=10)
            y += 17
            r = st.response
            q = (lambda v: f"{1000 * v:.1f}") if r.count else (lambda v: "—")
            self._pairs(s, x0, y, [
                ("response p50", q(r.quantile(0.5)), theme.TEXT),
                ("p99", q(r.quantile(0.99)), theme.TEXT),
                ("max", q(r.max) + " ms", theme.TEXT),
            ], small, gap=10)
        y += 17 + 8
        y = self._sensor_table(s, x0, y, right, sensors, sim_now)
        y += 10
        if task is not None:
            t.draw(s, f"response time per cycle · last {CHART_SPAN:g} s", (x0, y), theme.TEXT_DIM, small)
            y += 18
            chart = pygame.Rect(x0, y, rect.w - 2 * PAD, CHART_H)
            self.draw_chart(s, chart, feed, task.deadline, sim_now)

    def _sensor_table(self, s: pygame.Surface, x0: int, y: int, right: int, sensors: list[Any], sim_now: float) -> int:
        t = self.text
        small = theme.FONT_SMALL
        # right edges of the numeric columns
        cols = (x0 + 190, x0 + 240, x0 + 280, right)
        t.draw(s, "sensor", (x0, y), theme.TEXT_FAINT, small)
        for cx, label in zip(cols, ("Hz", "queue", "lost", "age ms"), strict=True):
            t.draw(s, label, (cx, y), theme.TEXT_FAINT, small, anchor="topright")
        y += 18
        for rt in sensors:
            name = f"{rt.sensor.name}"[:14]
            rate = rt.stats.rate.rate()
            rate_c = theme.TEXT if math.isfinite(rate) and rate >= 0.9 * rt.rate_hz else theme.HEALTH["warn"]
            depth, cap = len(rt.channel), rt.channel.capacity
            lost = rt.channel.stats.dropped + rt.stats.dropouts
            last = rt.last
            age = (sim_now - last.sample_time) if last is not None else math.inf
            age_c = theme.HEALTH["bad"] if age > rt.max_age else theme.TEXT
            t.draw(s, name, (x0, y), theme.TEXT, small)
            t.draw(s, f"{_fmt(rate, 1)}/{rt.rate_hz:g}", (cols[0], y), rate_c, small, anchor="topright")
            t.draw(s, f"{depth}/{cap}", (cols[1], y), theme.HEALTH["warn"] if depth >= cap else theme.TEXT,
                   small, anchor="topright")
            t.draw(s, f"{lost}", (cols[2], y), theme.HEALTH["warn"] if lost else theme.TEXT_DIM, small,
                   anchor="topright")
            t.draw(s, "—" if not math.isfinite(age) else f"{1000 * max(age, 0.0):.0f}", (cols[3], y), age_c, small,
                   anchor="topright")
            y += 17
        return y

    def draw_chart(self, s: pygame.Surface, rect: pygame.Rect, feed: list[CyclePoint], deadline: float,
                   sim_now: float) -> None:
        """Response time of each cycle over the last CHART_SPAN s, with the deadline as a red line."""
        pygame.draw.rect(s, theme.BACKGROUND, rect, border_radius=4)
        t = self.text
        end = max(sim_now, feed[-1][0] if feed else 0.0)
        start = end - CHART_SPAN
        data = np.asarray(feed, dtype=float).reshape(-1, 4) if feed else np.zeros((0, 4))
        data = data[data[:, 0] >= start]
        peak = float(data[:, 1].max()) if len(data) else 0.0
        ymax = nice_step(max(1.5 * deadline, 1.1 * peak, 1e-4))
        inner = rect.inflate(-2, -8)

        def sx(tt: np.ndarray | float) -> np.ndarray | float:
            return inner.left + (np.asarray(tt) - start) / CHART_SPAN * inner.w

        def sy(v: np.ndarray | float) -> np.ndarray | float:
            return inner.bottom - np.minimum(np.asarray(v) / ymax, 1.0) * inner.h

        for frac in (0.25, 0.5, 0.75):
            yy = inner.bottom - frac * inner.h
            pygame.draw.line(s, theme.CHART_GRID, (inner.left, yy), (inner.right, yy))
        dl = float(sy(deadline))
        pygame.draw.line(s, theme.CHART_DEADLINE, (inner.left, dl), (inner.right, dl), 1)
        t.draw(s, f"{1000 * ymax:g} ms", (rect.x + 4, rect.y + 2), theme.TEXT_FAINT, theme.FONT_SMALL - 2)
        t.draw(s, f"deadline {1000 * deadline:g} ms", (rect.right - 4, dl - 1), theme.CHART_DEADLINE,
               theme.FONT_SMALL - 2, anchor="bottomright")
        if len(data) >= 2:
            pts = np.column_stack([sx(data[:, 0]), sy(data[:, 1])])
            pygame.draw.lines(s, theme.CHART_LINE, False, pts.tolist(), 1)
        miss = data[data[:, 2] > 0]
        for tt, v in zip(np.asarray(sx(miss[:, 0])).tolist(), np.asarray(sy(miss[:, 1])).tolist(), strict=True):
            pygame.draw.circle(s, theme.CHART_DEADLINE, (tt, v), 3)
        stops = data[data[:, 3] > 0]
        for tt in np.asarray(sx(stops[:, 0])).tolist()[:200]:
            pygame.draw.line(s, theme.HEALTH["warn"], (tt, inner.bottom), (tt, inner.bottom - 6), 2)
        if not len(data):
            t.draw(s, "waiting for cycles…", rect.center, theme.TEXT_FAINT, theme.FONT_SMALL, anchor="center")

    # ------------------------------------------------------------------ footer, help, toasts
    def draw_footer(self, s: pygame.Surface, cam: Camera, cursor: tuple[float, float] | None,
                    following: bool) -> None:
        """Scale bar, cursor position in map coordinates, and the help hint, bottom left."""
        h = s.get_height()
        t = self.text
        metres = nice_step(110.0 / cam.scale)
        px = metres * cam.scale
        x, y = MARGIN + 2, h - MARGIN - 4
        pygame.draw.line(s, theme.TEXT, (x, y), (x + px, y), 2)
        for xx in (x, x + px):
            pygame.draw.line(s, theme.TEXT, (xx, y - 5), (xx, y), 2)
        label = f"{metres:g} m"
        t.draw(s, label, (x + px / 2, y - 4), theme.TEXT, theme.FONT_SMALL, anchor="midbottom")
        x2 = x + px + 16
        if cursor is not None:
            x2 = t.draw(s, f"x {cursor[0]:7.2f}  y {cursor[1]:7.2f} m", (x2, y + 2), theme.TEXT_DIM, theme.FONT_SMALL,
                        anchor="bottomleft").right + 16
        hint = "following · " if following else ""
        t.draw(s, hint + "? help", (x2, y + 2), theme.TEXT_FAINT, theme.FONT_SMALL, anchor="bottomleft")

    def draw_help(self, s: pygame.Surface) -> None:
        t = self.text
        w, h = s.get_size()
        lh = 20
        key_w = max(t.width(k, theme.FONT_NORMAL, bold=True) for k, _ in KEYS) + 24
        content = max(max(key_w + t.width(what, theme.FONT_NORMAL) for _, what in KEYS),
                      max(24 + t.width(what, theme.FONT_SMALL) for _, what in LEGEND))
        box = pygame.Rect(0, 0, min(content + 36, w - 20), 60 + lh * (len(KEYS) + len(LEGEND)) + 30)
        box.center = (w // 2, h // 2)
        s.fill((120, 120, 120), special_flags=pygame.BLEND_RGB_MULT)  # dim everything behind the help
        card = self.card_surface(box.size)
        self._help_text(card, key_w)
        s.blit(card, box)

    def _help_text(self, s: pygame.Surface, key_w: int) -> None:
        t = self.text
        lh = 20
        x, y = 18, 14
        t.draw(s, "Keys and mouse", (x, y), theme.TEXT, theme.FONT_LARGE, bold=True)
        y += 32
        for key, what in KEYS:
            t.draw(s, key, (x, y), theme.ACCENT, theme.FONT_NORMAL, bold=True)
            t.draw(s, what, (x + key_w, y), theme.TEXT, theme.FONT_NORMAL)
            y += lh
        y += 10
        for color, what in LEGEND:
            pygame.draw.circle(s, color, (x + 8, y + 9), 6)
            t.draw(s, what, (x + 24, y), theme.TEXT_DIM, theme.FONT_SMALL)
            y += lh

    def draw_toast(self, s: pygame.Surface, message: str, age: float, duration: float = 3.0) -> None:
        """A short message bottom centre (screenshot saved, pause unsupported...), fading out."""
        if age >= duration:
            return
        fade = max(0.0, (age - (duration - 0.6)) / 0.6)
        color = theme.mix(theme.TEXT, theme.PANEL[:3], fade)
        surf = self.text.render(message, color, theme.FONT_NORMAL)
        w, h = s.get_size()
        box = surf.get_rect(midbottom=(w // 2, h - 36)).inflate(20, 10)
        self.card(s, box)
        s.blit(surf, surf.get_rect(center=box.center))


def _fmt(value: float, digits: int) -> str:
    """A number for a table cell; "—" when there is none yet."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"
