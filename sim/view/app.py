"""The window's state machine: events in (keys, mouse, resize), frames out.

``ViewApp`` owns no simulation state. It reads what the run publishes, and its
only effects on the run are the clock controls the user asks for (pause,
single step, time scale) and ``run.finish("window closed")``. ``handle`` and
``frame`` are separate so tests can drive it event by event.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygame

from sim.core.clock import Clock, PausableClock
from sim.errors import InputError
from sim.view.camera import Camera
from sim.view.hud import MARGIN, ROW_H, Hud, Layout, StatusInfo
from sim.view.scene import Scene, SceneOptions
from sim.view.telemetry import RateWindow, Telemetry
from sim.view.text import Text

if TYPE_CHECKING:
    from sim.runtime.run import Run

MIN_SCALE, MAX_SCALE = 0.05, 20.0  # time-scale limits for + / -
WHEEL_ZOOM = 1.15  # per wheel notch
DRAG_THRESHOLD = 4  # px: a press that moves less than this is a click, not a pan
HUD_PERIOD = 1 / 20  # s real between HUD re-renders (it shows 20 Hz controllers; text is costly)

_FASTER_KEYS = {pygame.K_PLUS, pygame.K_KP_PLUS, pygame.K_EQUALS}
_SLOWER_KEYS = {pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE}
_STEP_KEYS = {pygame.K_PERIOD, pygame.K_KP_PERIOD}


class ViewApp:
    """One window on one run. Read ``paused``, ``selected``, ``show_*`` to see its state."""

    def __init__(self, run: Run, window: tuple[int, int] = (1280, 800)) -> None:
        self.run = run
        self.clock: Clock = run.clock
        pygame.display.init()
        pygame.font.init()
        self.surface = pygame.display.set_mode(window, pygame.RESIZABLE)
        name = getattr(getattr(run, "scenario", None), "name", None) or "scenario"
        pygame.display.set_caption(f"{name} · fleet timing sim")
        self.text = Text()
        self.telemetry = Telemetry(run)
        self.telemetry.install()
        self.scene = Scene(run, self.telemetry, self.text)
        self.hud = Hud(self.text)
        self.camera = Camera(self.surface.get_size())
        self.options = SceneOptions(selected=0 if self.telemetry.count else None)
        self.show_hud = True
        self.show_help = False
        self.follow = False
        self.running = True
        self.frames = 0
        self.screenshots: list[Path] = []
        self._fps = RateWindow(1.0)
        self._mouse: tuple[int, int] | None = None
        self._press: tuple[int, int] | None = None
        self._dragging = False
        self._toast = ("", -math.inf)
        self._hud_rects: list[pygame.Rect] = []
        self._cards: list[tuple[pygame.Surface, pygame.Rect]] | None = None
        self._cards_at = -math.inf
        self.status: StatusInfo | None = None  # what the status bar shows now (tests read it)
        self.layout = Layout(self.surface.get_size(), self.show_hud)
        self.fit()

    # ------------------------------------------------------------------ state tests read
    @property
    def paused(self) -> bool:
        return isinstance(self.clock, PausableClock) and self.clock.paused

    @property
    def selected(self) -> int | None:
        return self.options.selected

    @selected.setter
    def selected(self, index: int | None) -> None:
        self.options.selected = index

    @property
    def show_rays(self) -> bool:
        return self.options.show_rays

    @property
    def show_trails(self) -> bool:
        return self.options.show_trails

    @property
    def show_names(self) -> bool:
        return self.options.show_names

    def sim_now(self, snap: Any) -> float:
        """Simulated time to show: the clock's, but frozen at the last step once the run is over.

        After the end the clock runs on while no sensor publishes, so ages and the
        time shown on the final frame (the ``--screenshot``) would otherwise creep.
        """
        now = self.clock.now()
        if self.run.finished.is_set():
            now = min(now, float(snap.time))
        return now

    # ------------------------------------------------------------------ actions
    def close_window(self) -> None:
        """The user closed the window: end the run and leave the loop."""
        self.run.finish("window closed")
        self.running = False

    def toggle_pause(self) -> None:
        clock = self.clock
        if not isinstance(clock, PausableClock):
            self.toast("this clock cannot be paused")
            return
        if clock.paused:
            clock.resume()
        else:
            clock.pause()

    def single_step(self) -> None:
        """While paused, let simulated time advance by exactly one physics step."""
        clock = self.clock
        if not isinstance(clock, PausableClock) or not clock.paused:
            self.toast("pause first (Space), then . steps")
            return
        dt = float(self.run.physics.step_size)
        clock.step_paused(dt)
        self.toast(f"stepped {1000 * dt:g} ms → t {self.clock.now():.3f} s")

    def change_time_scale(self, factor: float) -> None:
        clock = self.clock
        if not isinstance(clock, PausableClock):
            self.toast("this clock has no time scale")
            return
        current = float(clock.time_scale or 0.0)
        if current <= 0:  # an unpaced virtual clock: already as fast as it goes
            if factor > 1:
                self.toast("unpaced: already running as fast as possible")
                return
            current = MAX_SCALE / factor
        scale = min(max(current * factor, MIN_SCALE), MAX_SCALE)
        clock.set_time_scale(scale)
        self.toast(f"time scale ×{scale:g}")

    def select_next(self, backwards: bool = False) -> None:
        n = self.telemetry.count
        if not n:
            return
        cur = self.options.selected
        if cur is None:
            self.options.selected = n - 1 if backwards else 0
        else:
            self.options.selected = (cur + (-1 if backwards else 1)) % n

    def fit(self) -> None:
        """Fit the whole map into the part of the window the HUD leaves free."""
        self.layout = Layout(self.surface.get_size(), self.show_hud)
        m = self.run.static
        self.camera.resize(*self.surface.get_size())
        self.camera.fit((0.0, 0.0, m.width, m.height), self.layout.map_rect)

    def toast(self, message: str) -> None:
        self._toast = (message, time.perf_counter())

    def screenshot(self, path: Path | None = None) -> Path:
        """Draw the current state and save it as PNG (default: a numbered file in the run folder)."""
        if path is None:
            n = len(self.screenshots) + 1
            path = Path(self.run.out_dir) / f"screenshot-{n:02d}-t{self.clock.now():07.2f}s.png"
            while path.exists():
                n += 1
                path = Path(self.run.out_dir) / f"screenshot-{n:02d}-t{self.clock.now():07.2f}s.png"
        path = Path(path)
        self._cards = None  # the HUD exactly as of now, not its last cached render
        self.draw()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            pygame.image.save(self.surface, str(path))
        except (OSError, pygame.error) as exc:
            raise InputError(f"cannot save the screenshot {path}: {exc}") from None
        self.screenshots.append(path)
        self.toast(f"saved {path}")
        return path

    # ------------------------------------------------------------------ events
    def handle(self, event: pygame.event.Event) -> None:
        """React to one pygame event."""
        et = event.type
        if et in (pygame.KEYDOWN, pygame.MOUSEBUTTONUP, pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            self._cards = None  # the HUD may show something else now: redraw it on the next frame
        if et == pygame.QUIT:
            self.close_window()
        elif et == pygame.KEYDOWN:
            self._key(event)
        elif et == pygame.MOUSEBUTTONDOWN and event.button in (1, 2, 3):  # 4/5: legacy wheel
            self._press = self._mouse = tuple(event.pos)
            self._dragging = False
        elif et == pygame.MOUSEMOTION:
            self._motion(tuple(event.pos))
        elif et == pygame.MOUSEBUTTONUP and event.button in (1, 2, 3):
            if self._press is not None and not self._dragging and event.button == 1:
                self._click(tuple(event.pos))
            self._press = None
            self._dragging = False
        elif et == pygame.MOUSEWHEEL:
            notches = float(getattr(event, "precise_y", event.y))
            pos = self._mouse if self._mouse is not None else pygame.mouse.get_pos()
            self.camera.zoom_at(WHEEL_ZOOM ** notches, *pos)
        elif et in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            self._sync_size()

    def _key(self, event: pygame.event.Event) -> None:
        key = event.key
        char = getattr(event, "unicode", "") or ""
        shift = bool(getattr(event, "mod", 0) & pygame.KMOD_SHIFT)
        if key == pygame.K_ESCAPE:
            self.close_window()
        elif key == pygame.K_SPACE:
            self.toggle_pause()
        elif char == "+" or (key in _FASTER_KEYS and char != "-"):
            self.change_time_scale(2.0)
        elif char == "-" or key in _SLOWER_KEYS:
            self.change_time_scale(0.5)
        elif char == "?" or key in (pygame.K_F1, pygame.K_QUESTION) or (key == pygame.K_SLASH and shift):
            self.show_help = not self.show_help
        elif char == "." or key in _STEP_KEYS:
            self.single_step()
        elif key == pygame.K_TAB:
            self.select_next(backwards=shift)
        elif key == pygame.K_r:
            self.options.show_rays = not self.options.show_rays
        elif key == pygame.K_t:
            self.options.show_trails = not self.options.show_trails
        elif key == pygame.K_n:
            self.options.show_names = not self.options.show_names
        elif key == pygame.K_h:
            self.show_hud = not self.show_hud
        elif key == pygame.K_s:
            self.screenshot()
        elif key == pygame.K_f:
            self.follow = False
            self.fit()
        elif key == pygame.K_c:
            self.follow = not self.follow and self.options.selected is not None
            self.toast("following " + self.telemetry.names[self.options.selected]
                       if self.follow and self.options.selected is not None else "follow off")

    def _motion(self, pos: tuple[int, int]) -> None:
        last = self._mouse
        self._mouse = pos
        if self._press is None or last is None:
            return
        if not self._dragging and math.dist(pos, self._press) >= DRAG_THRESHOLD:
            self._dragging = True
            last = self._press
        if self._dragging:
            self.camera.pan(pos[0] - last[0], pos[1] - last[1])
            self.follow = False

    def _click(self, pos: tuple[int, int]) -> None:
        """Select from the fleet table, or the robot under the cursor, or nothing."""
        if self.show_hud:
            for rect, index in self.hud.row_rects:
                if rect.collidepoint(pos):
                    self.options.selected = index
                    return
            if any(r.collidepoint(pos) for r in self._hud_rects):
                return
        self.options.selected = self.scene.robot_at(self.run.physics.snapshot, self.camera, *pos)

    def _sync_size(self) -> None:
        surf = pygame.display.get_surface()
        if surf is not None:
            self.surface = surf
        if self.surface.get_size() != (self.camera.width, self.camera.height):
            self.fit()

    # ------------------------------------------------------------------ frames
    def frame(self) -> None:
        """Read the run's newest state, draw it, show it."""
        real = time.perf_counter()
        self._sync_size()
        snap = self.run.physics.snapshot
        self.telemetry.update(snap, self.sim_now(snap), real)
        self.telemetry.refresh_table(real)
        self.scene.update(snap)
        sel = self.options.selected
        if self.follow and sel is not None:
            pose = snap.pose[sel]
            self.camera.center_on(float(pose[0]), float(pose[1]), self.layout.map_rect)
        self.draw()
        pygame.display.flip()
        self.frames += 1
        self._fps.add(real, self.frames)

    def draw(self) -> None:
        """Draw the scene and the HUD onto the window surface (no flip)."""
        s = self.surface
        real = time.perf_counter()
        snap = self.run.physics.snapshot
        now = self.sim_now(snap)
        opts = self.options
        opts.hovered = None
        if self._mouse is not None and not any(r.collidepoint(self._mouse) for r in self._hud_rects):
            opts.hovered = self.scene.robot_at(snap, self.camera, *self._mouse)
        self.scene.draw(s, self.camera, snap, opts, real)
        if self.show_hud:
            self._draw_hud(s, snap, now, real)
        else:
            self._hud_rects = []
            self.hud.row_rects = []
        cursor = self.camera.to_world(*self._mouse) if self._mouse is not None else None
        self.hud.draw_footer(s, self.camera, cursor, self.follow)
        if self.show_help:
            self.hud.draw_help(s)
        message, at = self._toast
        if message:
            self.hud.draw_toast(s, message, real - at)

    def _draw_hud(self, s: pygame.Surface, snap: Any, now: float, real: float) -> None:
        """Blit the HUD cards, re-rendering them at most HUD_PERIOD apart (text is the costly part)."""
        if self._cards is None or real - self._cards_at >= HUD_PERIOD:
            self._cards = self._render_cards(snap, now)
            self._cards_at = real
        for surf, rect in self._cards:
            s.blit(surf, rect)

    def _render_cards(self, snap: Any, now: float) -> list[tuple[pygame.Surface, pygame.Rect]]:
        tel = self.telemetry
        run = self.run
        lay = self.layout
        hud = self.hud
        finished = run.end_reason if run.finished.is_set() else None
        scale = self.clock.time_scale if isinstance(self.clock, PausableClock) else None
        info = StatusInfo(now, float(run.duration), scale, tel.rtf.rate(), self._fps.rate(), self.paused, finished,
                          tel.totals)
        self.status = info
        cards = [(lay.status, lambda surf, r: hud.draw_status(surf, r, info))]
        panel = lay.panel
        sel = self.options.selected
        sensors = tel.sensors_of[sel] if sel is not None else []
        sel_h = hud.selected_height(len(sensors)) if sel is not None else 0
        room = panel.h - sel_h - MARGIN
        max_rows = max(1, (room - hud.table_height(0)) // ROW_H)
        rows = min(len(tel.rows), max_rows)
        table = pygame.Rect(panel.x, panel.y, panel.w, hud.table_height(rows, len(tel.rows) > max_rows))
        deadlines = [t.deadline if t is not None else math.inf for t in tel.controller_of]
        cards.append((table, lambda surf, r: hud.draw_table(surf, r, tel.rows, sel, deadlines, max_rows)))
        if sel is not None:
            box = pygame.Rect(panel.x, table.bottom + MARGIN, panel.w, sel_h)
            cards.append((box, lambda surf, r: hud.draw_selected(
                surf, r, sel, tel.names[sel], tel.health[sel], tel.controller_of[sel], sensors, snap,
                tel.feed(sel), now)))
        out = []
        row_rects: list[tuple[pygame.Rect, int]] = []
        for rect, paint in cards:
            surf = hud.card_surface(rect.size)
            paint(surf, surf.get_rect())
            if rect is table:  # the table's clickable rows, in window coordinates
                row_rects = [(r.move(rect.topleft), i) for r, i in hud.row_rects]
            out.append((surf, rect))
        hud.row_rects = row_rects
        self._hud_rects = [rect for rect, _ in cards]
        return out

    def close(self) -> None:
        """Give the run its hooks back and close the window."""
        self.telemetry.uninstall()
        pygame.display.quit()
