"""The map and everything on it: floor, grid, obstacles, places, trails, paths, lidar, robots.

The static map is drawn once per camera change onto a cached surface and
blitted each frame. Lidar scans are converted to screen points with numpy once
per new reading (a 10 Hz lidar is re-used for several 60 Hz frames) and drawn
with one polygon per scan plus one vectorised pixel write for all hit points.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pygame

from sim.view import theme
from sim.view.camera import Camera, nice_step
from sim.view.telemetry import Telemetry
from sim.view.text import Text

if TYPE_CHECKING:
    from sim.runtime.run import Run

TRAIL_EVERY = 0.1  # s simulated between trail points
TRAIL_POINTS = 200  # 20 s of trail per robot
TRAIL_SHADES = 6  # the trail fades in this many steps (one draw call each)
HISTORY = 120  # snapshots kept (one per frame) to place each scan at its robot's sample-time pose
RAYS_ALL_UP_TO = 64  # above this many robots, only the selected/hovered robots' lidar is drawn
MIN_ROBOT_PX = 4.0  # robots never shrink below this radius, so a fleet stays visible zoomed out
PLACE_LABELS_FROM = 32.0  # px per m: below this, place names would crowd the aisles
MISS_FLASH_S = 0.45  # s real
COLLISION_FLASH_S = 0.9  # s real


@dataclass
class SceneOptions:
    """What the user toggled and pointed at; read by the scene each frame."""

    show_rays: bool = True
    show_trails: bool = True
    show_names: bool = False
    selected: int | None = None
    hovered: int | None = None


class Scene:
    """Draws the world for one run."""

    def __init__(self, run: Run, telemetry: Telemetry, text: Text) -> None:
        self.run = run
        self.static = run.static
        self.telemetry = telemetry
        self.text = text
        n = telemetry.count
        self.colors = [theme.robot_color(i) for i in range(n)]
        self._static_surface: pygame.Surface | None = None
        self._cells_surface: pygame.Surface | None = None  # the grid map, one pixel a cell (built once)
        self._static_key: tuple[Any, ...] | None = None
        self._trail = np.full((TRAIL_POINTS, n, 2), np.nan)
        self._trail_head = 0
        self._trail_count = 0
        self._trail_time = -math.inf
        self._history: deque[Any] = deque(maxlen=HISTORY)
        self._scan_cache: dict[int, tuple[Any, tuple[Any, ...], list[list[float]], np.ndarray]] = {}
        self._overlay: pygame.Surface | None = None
        self.robot_px = np.zeros(n)  # robot radii on screen, this frame
        # Per robot, the lidars mounted off base_link, in robot radii (drawn at that spot on the body).
        radius = run.bodies.radius if getattr(run, "bodies", None) is not None else np.ones(n)
        self._mounts: dict[int, list[tuple[float, float]]] = {}
        for i, rt in telemetry.lidars:
            mx, my, _ = getattr(rt.sensor, "mount", (0.0, 0.0, 0.0))
            if mx or my:
                self._mounts.setdefault(i, []).append((mx / float(radius[i]), my / float(radius[i])))

    # ------------------------------------------------------------------ state
    def update(self, snap: Any) -> None:
        """Remember the newest snapshot: trail points every TRAIL_EVERY s, pose history."""
        if self._history and snap is self._history[-1]:
            return
        if self._history and snap.time < self._history[-1].time:  # time went back: start over
            self._history.clear()
            self._trail_count = 0
            self._trail_time = -math.inf
        self._history.append(snap)
        if snap.time - self._trail_time >= TRAIL_EVERY:
            self._trail[self._trail_head] = snap.pose[:, :2]
            self._trail_head = (self._trail_head + 1) % TRAIL_POINTS
            self._trail_count = min(self._trail_count + 1, TRAIL_POINTS)
            self._trail_time = snap.time

    def pose_at(self, index: int, t: float, snap: Any) -> np.ndarray:
        """Robot ``index``'s true pose at the snapshot nearest simulated time ``t``."""
        best = snap
        for s in reversed(self._history):
            best = s
            if s.time <= t:
                break
        return best.pose[index]

    @staticmethod
    def robot_at(snap: Any, cam: Camera, sx: float, sy: float, slack: float = 6.0) -> int | None:
        """The robot drawn under screen point (sx, sy) (nearest if several), or None."""
        if not len(snap.pose):
            return None
        pts = cam.world_to_screen(snap.pose[:, :2])
        radius = np.maximum(snap.radius * cam.scale, MIN_ROBOT_PX)
        d = np.hypot(pts[:, 0] - sx, pts[:, 1] - sy)
        i = int(np.argmin(d))
        return i if d[i] <= radius[i] + slack else None

    # ------------------------------------------------------------------ drawing
    def draw(self, surf: pygame.Surface, cam: Camera, snap: Any, opts: SceneOptions,
             real_now: float) -> None:
        """The whole scene, back to front."""
        surf.blit(self._static_layer(surf, cam), (0, 0))
        pts = cam.world_to_screen(snap.pose[:, :2])
        self.robot_px = np.maximum(snap.radius * cam.scale, MIN_ROBOT_PX)
        if opts.show_trails:
            self._draw_trails(surf, cam, pts, opts.selected)
        self._draw_paths(surf, cam, pts, opts.selected)
        if opts.show_rays:
            self._draw_rays(surf, cam, snap, (opts.selected, opts.hovered))
        self._draw_robots(surf, snap, pts, opts, real_now)

    # ---- static map
    def _static_layer(self, surf: pygame.Surface, cam: Camera) -> pygame.Surface:
        key = (cam.key, surf.get_size())
        if self._static_surface is None or key != self._static_key:
            layer = pygame.Surface(surf.get_size()).convert(surf)
            self._render_static(layer, cam)
            self._static_surface, self._static_key = layer, key
        return self._static_surface

    def _render_static(self, s: pygame.Surface, cam: Camera) -> None:
        m = self.static
        s.fill(theme.BACKGROUND)
        x0, y0 = cam.to_screen(0.0, m.height)
        x1, y1 = cam.to_screen(m.width, 0.0)
        floor = pygame.Rect(round(x0), round(y0), round(x1 - x0), round(y1 - y0))
        s.fill(theme.FLOOR, floor)
        self._render_grid(s, cam)
        self._render_cells(s, cam)
        for ob in m.obstacles:
            poly = cam.world_to_screen(ob.polygon).tolist()
            pygame.draw.polygon(s, theme.OBSTACLE_FILL.get(ob.kind, theme.OBSTACLE_FILL["other"]), poly)
            pygame.draw.polygon(s, theme.OBSTACLE_EDGE.get(ob.kind, theme.OBSTACLE_EDGE["other"]), poly, 1)
        wall_w = max(2, round(0.06 * cam.scale))
        for x_a, y_a, x_b, y_b in np.asarray(m.walls, dtype=float).reshape(-1, 4):
            pygame.draw.line(s, theme.WALL, cam.to_screen(x_a, y_a), cam.to_screen(x_b, y_b), wall_w)
        self._render_labels(s, cam)
        self._render_places(s, cam)
        self._render_axes(s, cam)

    def _render_grid(self, s: pygame.Surface, cam: Camera) -> None:
        """1-2-5 metre grid, minor lines at least ~14 px apart, every fifth line brighter."""
        m = self.static
        step = nice_step(14.0 / cam.scale)
        vx0, vy0, vx1, vy1 = cam.visible_world()
        gx0, gx1 = max(vx0, 0.0), min(vx1, m.width)
        gy0, gy1 = max(vy0, 0.0), min(vy1, m.height)
        if gx1 <= gx0 or gy1 <= gy0:
            return
        top, bottom = cam.to_screen(0, gy1)[1], cam.to_screen(0, gy0)[1]
        left, right = cam.to_screen(gx0, 0)[0], cam.to_screen(gx1, 0)[0]
        for k in range(math.ceil(gx0 / step), math.floor(gx1 / step) + 1):
            sx = cam.to_screen(k * step, 0)[0]
            color = theme.GRID_MAJOR if k % 5 == 0 else theme.GRID_MINOR
            pygame.draw.line(s, color, (sx, top), (sx, bottom))
        for k in range(math.ceil(gy0 / step), math.floor(gy1 / step) + 1):
            sy = cam.to_screen(0, k * step)[1]
            color = theme.GRID_MAJOR if k % 5 == 0 else theme.GRID_MINOR
            pygame.draw.line(s, color, (left, sy), (right, sy))
        x0, y0 = cam.to_screen(0.0, m.height)
        x1, y1 = cam.to_screen(m.width, 0.0)
        pygame.draw.rect(s, theme.MAP_EDGE, pygame.Rect(round(x0), round(y0), round(x1 - x0), round(y1 - y0)), 1)

    def _cells(self) -> pygame.Surface | None:
        """The world's grid map (``world.map``) as one surface, one pixel a cell, built once.

        Occupied cells in the wall colour (the dark theme draws what blocks light), unknown
        cells grey, free cells and scale-mode values in between see-through, so the floor and
        its metre grid show through free space.
        """
        grid = getattr(self.static, "grid", None)
        if grid is None:
            return None
        if self._cells_surface is None:
            rgba = np.zeros((grid.rows, grid.cols, 4), dtype=np.uint8)
            rgba[grid.values < 0] = (*theme.MAP_UNKNOWN, 255)
            rgba[grid.occupied] = (*theme.WALL, 255)
            image = np.ascontiguousarray(rgba[::-1].transpose(1, 0, 2))  # top row first; pygame indexes [x, y]
            surf = pygame.Surface((grid.cols, grid.rows), pygame.SRCALPHA, 32)
            pygame.surfarray.pixels3d(surf)[:] = image[:, :, :3]
            pygame.surfarray.pixels_alpha(surf)[:] = image[:, :, 3]
            self._cells_surface = surf
        return self._cells_surface

    def _render_cells(self, s: pygame.Surface, cam: Camera) -> None:
        """The visible part of the grid map, scaled to the camera (smoothly when shrunk, so thin walls stay)."""
        cells, grid = self._cells(), self.static.grid
        if cells is None or grid is None:
            return
        res, (ox, oy) = grid.resolution, grid.origin
        vx0, vy0, vx1, vy1 = cam.visible_world()
        j0 = max(0, math.floor((vx0 - ox) / res))
        j1 = min(grid.cols, math.ceil((vx1 - ox) / res))
        i0 = max(0, math.floor((vy0 - oy) / res))
        i1 = min(grid.rows, math.ceil((vy1 - oy) / res))
        if j1 <= j0 or i1 <= i0:
            return
        part = cells.subsurface(pygame.Rect(j0, grid.rows - i1, j1 - j0, i1 - i0))
        left, top = cam.to_screen(ox + j0 * res, oy + i1 * res)
        right, bottom = cam.to_screen(ox + j1 * res, oy + i0 * res)
        size = (max(1, round(right - left)), max(1, round(bottom - top)))
        shrink = size[0] < part.get_width()
        scaled = pygame.transform.smoothscale(part, size) if shrink else pygame.transform.scale(part, size)
        s.blit(scaled, (round(left), round(top)))

    def _render_labels(self, s: pygame.Surface, cam: Camera) -> None:
        """Obstacle names inside their outline, once zoomed in far enough to fit them."""
        size = theme.FONT_SMALL
        for ob in self.static.obstacles:
            poly = cam.world_to_screen(ob.polygon)
            w = poly[:, 0].max() - poly[:, 0].min()
            h = poly[:, 1].max() - poly[:, 1].min()
            label = self.text.render(ob.name, theme.OBSTACLE_LABEL, size)
            if label.get_width() + 8 <= w and label.get_height() + 2 <= h:
                c = poly.mean(axis=0)
                s.blit(label, label.get_rect(center=(round(c[0]), round(c[1]))))

    def _render_places(self, s: pygame.Surface, cam: Camera) -> None:
        """Named places: a ring with a heading tick, and the name when there is room."""
        r = max(0.28 * cam.scale, 4.0)
        for name, (kind, x, y, heading) in self.static.places.items():
            color = theme.PLACE.get(kind, theme.PLACE["waypoint"])
            c = cam.to_screen(x, y)
            pygame.draw.circle(s, theme.mix(color, theme.FLOOR, 0.55), c, r, 1)
            tip = (c[0] + r * 1.6 * math.cos(heading), c[1] - r * 1.6 * math.sin(heading))
            pygame.draw.line(s, theme.mix(color, theme.FLOOR, 0.35), c, tip, 2)
            if cam.scale >= PLACE_LABELS_FROM:
                self.text.draw(s, name, (c[0] + r + 3, c[1] + r * 0.6), theme.mix(color, theme.FLOOR, 0.4),
                               theme.FONT_SMALL - 2, anchor="topleft")

    def _render_axes(self, s: pygame.Surface, cam: Camera) -> None:
        """REP 103 frame at the map origin: x red to the right, y green upwards."""
        length = max(1.0, nice_step(30.0 / cam.scale))
        o = cam.to_screen(0.0, 0.0)
        for end, color in ((cam.to_screen(length, 0.0), theme.AXIS_X), (cam.to_screen(0.0, length), theme.AXIS_Y)):
            pygame.draw.line(s, color, o, end, 2)
            d = np.subtract(end, o)
            d = d / max(float(np.hypot(*d)), 1e-9)
            n = np.array([-d[1], d[0]])
            tip = np.asarray(end)
            pygame.draw.polygon(s, color, [tip.tolist(), (tip - 7 * d + 4 * n).tolist(),
                                           (tip - 7 * d - 4 * n).tolist()])

    # ---- dynamic layers
    def _draw_trails(self, s: pygame.Surface, cam: Camera, now_pts: np.ndarray, selected: int | None) -> None:
        count = self._trail_count
        if count < 1:
            return
        order = (self._trail_head - count + np.arange(count)) % TRAIL_POINTS
        pts = cam.world_to_screen(self._trail[order])  # (count, N, 2)
        width = 2 if cam.scale >= 8 else 1
        chunk = max(2, math.ceil((count + 1) / TRAIL_SHADES))
        for i in range(pts.shape[1]):
            track = np.vstack([pts[:, i, :], now_pts[i:i + 1]])
            strength = 0.9 if i == selected else 0.6
            base = theme.mix(theme.FLOOR, self.colors[i], strength)
            n = len(track)
            for start in range(0, n - 1, chunk - 1):
                seg = track[start:start + chunk]
                if len(seg) < 2:
                    break
                age = 1.0 - (start + len(seg)) / n  # 0 newest .. ~1 oldest
                pygame.draw.lines(s, theme.mix(base, theme.FLOOR, 0.85 * age), False, seg.tolist(), width)

    def _draw_paths(self, s: pygame.Surface, cam: Camera, now_pts: np.ndarray, selected: int | None) -> None:
        """Each controller's route (waypoints) or planned path, and a line to its current target."""
        for i, task in enumerate(self.telemetry.controller_of):
            visual = getattr(getattr(task, "controller", None), "visual", None)
            if not visual:
                continue
            try:
                self._draw_route(s, cam, i, visual, now_pts[i], i == selected)
            except (TypeError, ValueError):  # a plugin's malformed ``visual``: skip it, keep drawing
                continue

    def _draw_route(self, s: pygame.Surface, cam: Camera, i: int, visual: dict[str, Any], here: np.ndarray,
                    selected: bool) -> None:
        color = theme.mix(theme.FLOOR, self.colors[i], 1.0 if selected else 0.5)
        path = visual.get("path")
        if path is not None and len(path) >= 2:
            pts = cam.world_to_screen(np.asarray(path, dtype=float).reshape(-1, 2))
            pygame.draw.lines(s, color, False, pts.tolist(), 2 if selected else 1)
        waypoints = visual.get("waypoints")
        if not waypoints:
            return
        wp = cam.world_to_screen(np.asarray(waypoints, dtype=float).reshape(-1, 2))
        if len(wp) >= 2 and path is None:
            pygame.draw.lines(s, theme.mix(theme.FLOOR, self.colors[i], 0.6 if selected else 0.3), False,
                              wp.tolist(), 1)
        for p in wp:
            pygame.draw.rect(s, color, pygame.Rect(round(p[0]) - 3, round(p[1]) - 3, 7, 7), 1)
        target = visual.get("target")
        if isinstance(target, int) and 0 <= target < len(wp):
            t = wp[target]
            if path is None:  # the leg the robot is driving now
                pygame.draw.line(s, color, here.tolist(), t.tolist(), 2 if selected else 1)
            pygame.draw.circle(s, color, t.tolist(), 7, 2)

    def _draw_rays(self, s: pygame.Surface, cam: Camera, snap: Any, fans: tuple[int | None, ...]) -> None:
        """Lidar returns of every robot as 2x2 pixel dots, plus the ray fan of the robots in ``fans``.

        Fans of a whole fleet would merge into one haze, so only the selected and
        hovered robots show theirs (through a translucent overlay, blitted over
        the fans' bounding box only); the dots are one vectorised pixel write.
        """
        lidars = self.telemetry.lidars
        if self.telemetry.count > RAYS_ALL_UP_TO:
            lidars = [(i, rt) for i, rt in lidars if i in fans]
        polys: list[list[list[float]]] = []
        hits: list[np.ndarray] = []
        for i, rt in lidars:
            scan = self._scan_points(i, rt, cam, snap)
            if scan is not None:
                if i in fans:
                    polys.append(scan[0])
                hits.append(scan[1])
        if polys:
            size = s.get_size()
            if self._overlay is None or self._overlay.get_size() != size:
                self._overlay = pygame.Surface(size, pygame.SRCALPHA)
            ov = self._overlay
            box = None
            for poly in polys:
                r = pygame.draw.polygon(ov, theme.RAY_FAN, poly)
                box = r if box is None else box.union(r)
            if box is not None:
                box = box.clip(ov.get_rect())
                s.blit(ov, box.topleft, area=box)
                ov.fill((0, 0, 0, 0), box)  # leave it clear for the next frame
        if hits:
            _dots(s, np.vstack(hits), theme.RAY_HIT)

    def _scan_points(self, i: int, rt: Any, cam: Camera,
                     snap: Any) -> tuple[list[list[float]], np.ndarray] | None:
        """Screen polygon and integer hit points of robot ``i``'s newest scan (cached per reading)."""
        reading = rt.last
        if reading is None:
            return None
        cached = self._scan_cache.get(id(rt))
        if cached is not None and cached[0] is reading and cached[1] == cam.key:
            return cached[2], cached[3]
        scan = reading.data
        angles = getattr(scan, "angles", None)
        ranges = getattr(scan, "ranges", None)
        if angles is None or ranges is None or len(ranges) == 0:
            return None
        pose = _sensor_pose(self.pose_at(i, reading.sample_time, snap), rt.sensor)
        r = np.asarray(ranges, dtype=float)
        finite = np.isfinite(r)
        rmax = getattr(scan, "range_max", None)
        if rmax is None or not math.isfinite(rmax):
            rmax = float(r[finite].max()) if finite.any() else 1.0
        th = pose[2] + np.asarray(angles, dtype=float)
        rr = np.where(finite, r, rmax)
        world = np.column_stack([pose[0] + rr * np.cos(th), pose[1] + rr * np.sin(th)])
        screen = cam.world_to_screen(world)
        span = float(np.ptp(angles)) if len(angles) > 1 else 0.0
        full_circle = span >= 2 * math.pi * (1 - 1.5 / max(len(angles), 1))
        # A partial fan closes at the robot; a full circle is its own outline.
        poly = screen.tolist() if full_circle else [list(cam.to_screen(pose[0], pose[1])), *screen.tolist()]
        if len(poly) < 3:
            poly = [*poly, *poly[-1:] * (3 - len(poly))]
        hit = np.round(screen[finite]).astype(np.int64)
        self._scan_cache[id(rt)] = (reading, cam.key, poly, hit)
        return poly, hit

    def _draw_robots(self, s: pygame.Surface, snap: Any, pts: np.ndarray, opts: SceneOptions,
                     real_now: float) -> None:
        tel = self.telemetry
        w, h = s.get_size()
        pose = snap.pose
        contact = snap.contact
        shapes = getattr(snap, "footprints", ())
        for i in range(len(pts)):
            cx, cy = float(pts[i, 0]), float(pts[i, 1])
            r = float(self.robot_px[i])
            if cx < -r - 40 or cy < -r - 40 or cx > w + r + 40 or cy > h + r + 40:
                continue
            age = real_now - tel.collision_flash_at[i]
            if age < COLLISION_FLASH_S:
                t = age / COLLISION_FLASH_S
                pygame.draw.circle(s, theme.mix(theme.COLLISION_FLASH, theme.FLOOR, t), (cx, cy),
                                   r + 4 + 26 * t, 3)
            age = real_now - tel.miss_flash_at[i]
            if age < MISS_FLASH_S:
                t = age / MISS_FLASH_S
                pygame.draw.circle(s, theme.mix(theme.MISS_FLASH, theme.FLOOR, t), (cx, cy), r + 3 + 12 * t, 2)
            body = theme.HEALTH.get(tel.health[i], theme.HEALTH["idle"])
            th = float(pose[i, 2])
            c, sn = math.cos(th), math.sin(th)
            shape = shapes[i] if shapes else None
            if shape is None:
                pygame.draw.circle(s, body, (cx, cy), r)
                pygame.draw.circle(s, theme.ROBOT_EDGE, (cx, cy), r, max(1, round(r / 7)))
            else:  # its footprint, as the physics and the other lidars see it
                outline = self._outline(shape, pose[i], cam_scale=r / max(float(snap.radius[i]), 1e-9), centre=(cx, cy))
                pygame.draw.polygon(s, body, outline)
                pygame.draw.polygon(s, theme.ROBOT_EDGE, outline, max(1, round(r / 7)))
            # Heading: a dark arrowhead inside the body, pointing forward (screen y is flipped).
            tip = (cx + 0.9 * r * c, cy - 0.9 * r * sn)
            if r >= 6:
                back = (cx - 0.45 * r * c, cy + 0.45 * r * sn)
                left = (back[0] - 0.6 * r * sn, back[1] - 0.6 * r * c)
                right = (back[0] + 0.6 * r * sn, back[1] + 0.6 * r * c)
                notch = (cx - 0.1 * r * c, cy + 0.1 * r * sn)
                pygame.draw.polygon(s, theme.HEADING, [tip, left, notch, right])
            else:
                pygame.draw.line(s, theme.HEADING, (cx, cy), tip, 2)
            for mx, my in self._mounts.get(i, ()):  # lidars off base_link: a dot where each sits
                pygame.draw.circle(s, theme.HEADING, (cx + (c * mx - sn * my) * r, cy - (sn * mx + c * my) * r),
                                   max(2.0, r / 6))
            if shape is not None:  # rings that follow the outline
                if contact[i]:
                    pygame.draw.polygon(s, theme.CONTACT, outline, 3)
                if i == opts.selected:
                    pygame.draw.polygon(s, theme.SELECTED, _grown(outline, (cx, cy), 4.0), 2)
            elif contact[i]:
                pygame.draw.circle(s, theme.CONTACT, (cx, cy), r + 2, 2)
            if shape is None and i == opts.selected:
                pygame.draw.circle(s, theme.SELECTED, (cx, cy), r + 5, 2)
            if opts.show_names or i == opts.selected or i == opts.hovered:
                self._label(s, tel.names[i], (cx, cy - r - 6), self.colors[i])

    @staticmethod
    def _outline(shape: np.ndarray, pose: np.ndarray, cam_scale: float,
                 centre: tuple[float, float]) -> list[tuple[float, float]]:
        """A footprint (base_link, m) on screen around the robot's drawn centre, ``cam_scale`` px/m."""
        c, sn = math.cos(float(pose[2])), math.sin(float(pose[2]))
        cx, cy = centre
        return [(cx + (c * px - sn * py) * cam_scale, cy - (sn * px + c * py) * cam_scale) for px, py in shape.tolist()]

    def _label(self, s: pygame.Surface, name: str, pos: tuple[float, float], color: theme.Color) -> None:
        """A name tag with a dark backing so it reads over shelves and rays alike."""
        surf = self.text.render(name, color, theme.FONT_SMALL)
        rect = surf.get_rect(midbottom=(round(pos[0]), round(pos[1])))
        pygame.draw.rect(s, theme.BACKGROUND, rect.inflate(6, 2), border_radius=3)
        s.blit(surf, rect)


def _dots(s: pygame.Surface, pts: np.ndarray, color: theme.Color) -> None:
    """2x2 pixel dots at integer screen points, written in one numpy step (thousands per frame)."""
    w, h = s.get_size()
    xs, ys = pts[:, 0], pts[:, 1]
    ok = (xs >= 0) & (ys >= 0) & (xs < w - 1) & (ys < h - 1)
    xs, ys = xs[ok], ys[ok]
    if not len(xs):
        return
    try:
        px = pygame.surfarray.pixels2d(s)
    except (ValueError, pygame.error):  # e.g. a 24-bit surface: no 2D pixel view, draw one by one
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            s.fill(color, (x, y, 2, 2))
        return
    # map_rgb can come back signed (alpha in the top bit); the array is unsigned.
    c = px.dtype.type(s.map_rgb(color) % (1 << (8 * px.dtype.itemsize)))
    px[xs, ys] = c
    px[xs + 1, ys] = c
    px[xs, ys + 1] = c
    px[xs + 1, ys + 1] = c
    del px  # unlock the surface


def _sensor_pose(pose: np.ndarray, sensor: Any) -> np.ndarray:
    """The world pose (x, y, heading) of ``sensor`` mounted on a robot at ``pose`` (its ``mount`` in base_link)."""
    mx, my, myaw = getattr(sensor, "mount", (0.0, 0.0, 0.0))
    if not (mx or my or myaw):
        return pose
    c, sn = math.cos(float(pose[2])), math.sin(float(pose[2]))
    return np.array([pose[0] + c * mx - sn * my, pose[1] + sn * mx + c * my, pose[2] + myaw])


def _grown(outline: list[tuple[float, float]], centre: tuple[float, float], px: float) -> list[tuple[float, float]]:
    """``outline`` pushed ``px`` pixels further from ``centre`` at each vertex (a ring just outside it)."""
    cx, cy = centre
    out = []
    for x, y in outline:
        d = math.hypot(x - cx, y - cy) or 1.0
        out.append((x + (x - cx) / d * px, y + (y - cy) / d * px))
    return out
