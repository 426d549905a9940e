"""Fonts and a cache of rendered text, because ``Font.render`` is the costliest call per frame.

Most HUD strings repeat from frame to frame (labels, names, table values that
refresh a few times a second), so rendering each distinct (text, colour, size)
once keeps the view's share of the GIL small.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pygame

from sim.view.theme import Color

_MONO_CANDIDATES = ("dejavusansmono", "liberationmono", "ubuntumono", "menlo", "consolas", "couriernew")
_KNOWN_PATHS = {
    False: ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",),
    True: ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",),
}
_CACHE_LIMIT = 3000


@functools.cache
def find_mono_font(bold: bool = False) -> str | None:
    """Path of a monospace TTF (aligned numbers read better), or None for pygame's default font."""
    for path in _KNOWN_PATHS[bold]:
        if Path(path).is_file():
            return path
    for name in _MONO_CANDIDATES:
        try:
            found = pygame.font.match_font(name, bold=bold)
        except Exception:  # fc-list missing or broken: fall back to the bundled font
            return None
        if found:
            return found
    return None


class Text:
    """Renders and caches text; one instance per window."""

    def __init__(self) -> None:
        pygame.font.init()
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._cache: dict[tuple[str, Color, int, bool], pygame.Surface] = {}

    def font(self, size: int, bold: bool = False) -> pygame.font.Font:
        key = (size, bold)
        f = self._fonts.get(key)
        if f is None:
            path = find_mono_font(bold)
            # pygame's bundled default font runs small: scale it to match the TTF sizes.
            f = pygame.font.Font(path, size) if path else pygame.font.Font(None, round(size * 1.3))
            self._fonts[key] = f
        return f

    def render(self, text: str, color: Color, size: int, bold: bool = False) -> pygame.Surface:
        """The rendered (antialiased, transparent) text surface, from the cache when possible."""
        key = (text, color, size, bold)
        surf = self._cache.get(key)
        if surf is None:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            surf = self.font(size, bold).render(text, True, color)
            self._cache[key] = surf
        return surf

    def draw(self, target: pygame.Surface, text: str, pos: tuple[float, float], color: Color,
             size: int, bold: bool = False, anchor: str = "topleft") -> pygame.Rect:
        """Blit ``text`` with its ``anchor`` point (a pygame.Rect attribute) at ``pos``."""
        surf = self.render(text, color, size, bold)
        rect = surf.get_rect(**{anchor: (round(pos[0]), round(pos[1]))})
        target.blit(surf, rect)
        return rect

    def width(self, text: str, size: int, bold: bool = False) -> int:
        return self.render(text, (255, 255, 255), size, bold).get_width()

    def line_height(self, size: int) -> int:
        return self.font(size).get_linesize()
