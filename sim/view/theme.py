"""Colours and sizes of the view in one place, so the scene, the HUD and docs/view.md agree.

A dark theme: the floor is near-black so light shelves, coloured robots and
lidar returns stand out; health colours are reserved for robot bodies and the
fleet table so green/amber/red always means "deadline health".
"""

from __future__ import annotations

import colorsys

Color = tuple[int, int, int]

BACKGROUND: Color = (11, 13, 17)  # outside the map
FLOOR: Color = (22, 26, 33)  # inside the map rectangle
GRID_MINOR: Color = (30, 35, 44)
GRID_MAJOR: Color = (40, 47, 58)
MAP_EDGE: Color = (70, 80, 95)
WALL: Color = (215, 220, 228)
MAP_UNKNOWN: Color = (52, 58, 68)  # a grid map's unknown cells (occupied ones are drawn as WALL)

OBSTACLE_FILL: dict[str, Color] = {
    "shelf": (176, 184, 196),
    "wall": (215, 220, 228),
    "pillar": (128, 136, 150),
    "station": (46, 108, 120),
    "other": (110, 104, 130),
}
OBSTACLE_EDGE: dict[str, Color] = {
    "shelf": (226, 231, 238),
    "wall": (240, 242, 246),
    "pillar": (180, 188, 200),
    "station": (94, 180, 192),
    "other": (160, 150, 190),
}
OBSTACLE_LABEL: Color = (40, 46, 56)

PLACE: dict[str, Color] = {
    "pick": (232, 152, 72),
    "packing": (94, 196, 206),
    "parking": (110, 140, 220),
    "charging": (236, 214, 90),
    "waypoint": (140, 148, 160),
}

# Deadline health (robot bodies, fleet table dots).
HEALTH: dict[str, Color] = {
    "ok": (61, 220, 132),  # no misses in the recent window
    "warn": (255, 176, 32),  # some misses
    "bad": (255, 77, 79),  # many misses, or a recent safety stop
    "idle": (120, 128, 140),  # no cycle yet
}

ROBOT_EDGE: Color = (8, 10, 14)
HEADING: Color = (8, 10, 14)
SELECTED: Color = (245, 247, 250)
CONTACT: Color = (255, 77, 79)
MISS_FLASH: Color = (255, 255, 255)
COLLISION_FLASH: Color = (255, 120, 60)

RAY_FAN = (80, 190, 255, 26)  # RGBA: free space the lidar saw
RAY_HIT: Color = (110, 215, 255)

TEXT: Color = (222, 228, 236)
TEXT_DIM: Color = (138, 148, 162)
TEXT_FAINT: Color = (92, 101, 115)
PANEL = (16, 19, 25, 222)  # RGBA
PANEL_EDGE: Color = (48, 56, 68)
ACCENT: Color = (110, 190, 255)
CHART_LINE: Color = (110, 190, 255)
CHART_DEADLINE: Color = (255, 77, 79)
CHART_GRID: Color = (38, 44, 54)
AXIS_X: Color = (235, 80, 80)
AXIS_Y: Color = (80, 210, 110)

FONT_SMALL = 13
FONT_NORMAL = 15
FONT_LARGE = 19


def robot_color(index: int) -> Color:
    """A stable identity colour per robot (trail, path, label): golden-ratio hue steps."""
    hue = (0.58 + index * 0.618034) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.45, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def mix(a: Color, b: Color, t: float) -> Color:
    """Blend ``a`` towards ``b`` by ``t`` in [0, 1] (fading without per-pixel alpha)."""
    t = min(max(t, 0.0), 1.0)
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))
