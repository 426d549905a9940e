"""World <-> screen transform with pan, zoom about a point, and fit-to-rectangle.

Pure arithmetic (numpy only, no pygame) so it is unit-tested on its own. The
world is REP 103 (x forward/right on screen, y left/up on screen, metres); the
screen is pixels with y down, so the transform flips y:

    sx = ox + scale * x        sy = oy - scale * y
"""

from __future__ import annotations

import math

import numpy as np

Rect = tuple[float, float, float, float]  # x, y, width, height (screen px)


class Camera:
    """Maps world metres to screen pixels; ``key`` changes whenever the mapping does."""

    MIN_SCALE = 0.2  # px per m: a 5 km map still fits a window
    MAX_SCALE = 4000.0  # px per m: 0.25 mm per pixel, far past any useful zoom

    def __init__(self, viewport: tuple[int, int], scale: float = 20.0,
                 origin: tuple[float, float] = (0.0, 0.0)) -> None:
        self.width, self.height = int(viewport[0]), int(viewport[1])
        self.scale = float(scale)
        self.ox, self.oy = float(origin[0]), float(origin[1])  # screen position of world (0, 0)

    @property
    def key(self) -> tuple[float, float, float, int, int]:
        """Hashable summary: cached drawings are valid while it is unchanged."""
        return (self.scale, self.ox, self.oy, self.width, self.height)

    # ------------------------------------------------------------------ transforms
    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        """One world point (m) to screen pixels."""
        return self.ox + self.scale * x, self.oy - self.scale * y

    def to_world(self, sx: float, sy: float) -> tuple[float, float]:
        """One screen point (px) to world metres."""
        return (sx - self.ox) / self.scale, (self.oy - sy) / self.scale

    def world_to_screen(self, points: np.ndarray) -> np.ndarray:
        """Array (..., 2) of world points to screen pixels (float), in one vectorised step."""
        pts = np.asarray(points, dtype=float)
        out = np.empty_like(pts)
        out[..., 0] = self.ox + self.scale * pts[..., 0]
        out[..., 1] = self.oy - self.scale * pts[..., 1]
        return out

    def screen_to_world(self, points: np.ndarray) -> np.ndarray:
        """Array (..., 2) of screen pixels to world metres."""
        pts = np.asarray(points, dtype=float)
        out = np.empty_like(pts)
        out[..., 0] = (pts[..., 0] - self.ox) / self.scale
        out[..., 1] = (self.oy - pts[..., 1]) / self.scale
        return out

    def visible_world(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the world the viewport shows."""
        x0, y1 = self.to_world(0, 0)
        x1, y0 = self.to_world(self.width, self.height)
        return x0, y0, x1, y1

    # ------------------------------------------------------------------ moves
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = int(width), int(height)

    def pan(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) screen pixels (a mouse drag)."""
        self.ox += dx
        self.oy += dy

    def zoom_at(self, factor: float, sx: float, sy: float) -> None:
        """Zoom by ``factor`` keeping the world point under screen (sx, sy) where it is."""
        wx, wy = self.to_world(sx, sy)
        self.scale = min(max(self.scale * factor, self.MIN_SCALE), self.MAX_SCALE)
        self.ox = sx - self.scale * wx
        self.oy = sy + self.scale * wy

    def center_on(self, x: float, y: float, rect: Rect | None = None) -> None:
        """Put world (x, y) at the centre of ``rect`` (default: the whole viewport)."""
        rx, ry, rw, rh = rect if rect is not None else (0, 0, self.width, self.height)
        self.ox = rx + rw / 2 - self.scale * x
        self.oy = ry + rh / 2 + self.scale * y

    def fit(self, world_rect: tuple[float, float, float, float], rect: Rect | None = None,
            margin: float = 16.0) -> None:
        """Show the whole world box (xmin, ymin, xmax, ymax) inside screen ``rect``, centred."""
        rx, ry, rw, rh = rect if rect is not None else (0, 0, self.width, self.height)
        x0, y0, x1, y1 = world_rect
        ww, wh = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
        avail_w, avail_h = max(rw - 2 * margin, 1.0), max(rh - 2 * margin, 1.0)
        scale = min(avail_w / ww, avail_h / wh)
        self.scale = min(max(scale, self.MIN_SCALE), self.MAX_SCALE)
        self.center_on((x0 + x1) / 2, (y0 + y1) / 2, (rx, ry, rw, rh))


def nice_step(target: float) -> float:
    """The 1-2-5 series value nearest above ``target`` (grid spacing, scale-bar length)."""
    if target <= 0 or not math.isfinite(target):
        return 1.0
    exp = math.floor(math.log10(target))
    base = 10.0 ** exp
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * base >= target * (1 - 1e-9):
            return m * base
    return 10.0 * base
