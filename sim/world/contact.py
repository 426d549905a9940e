"""Contacts: a robot that touches something turns and slides, and each contact is one collision.

The rule (documented in docs/architecture.md, "Contacts and collisions"):

* **Rotation always happens.** Robots are discs: turning one in place never changes
  what it overlaps, so the heading of a step is never rejected.
* **Only the motion into an obstacle is cut.** A step whose new position would overlap
  a wall, an obstacle or another robot is pushed back out along the contact normal (from
  the nearest point of what it overlaps to the robot's centre) to just touching; what is
  left of the step is its component along the contact tangent: the robot slides. Up to
  ``PUSHES`` push-outs handle corners (the deepest overlap first). If the robot still
  overlaps something after that, or a push would have to cross what it touches, it keeps
  its previous position (it still turns). Robots are resolved one at a time in scenario
  order against the others' positions of that moment, and a final check of the whole fleet
  sends any robot still overlapping back to its previous position, so no two things ever
  overlap after a step.
* **The wheels keep turning while it slides** (its speed is not cut, so an accelerating
  robot is not slowed to a crawl by a wall it grazes); the distance driven counts only the
  motion made. Pushing (almost) straight into something, less than ``STALL_SHARE`` of the
  step made along its direction (within ~6 degrees of head-on), stalls the wheels: speed 0.
* **A contact is counted once.** A contact of a robot with one other thing (the static
  map, or one other robot) starts at the step whose motion that thing cut, and lasts while
  the two stay within ``CONTACT_GAP`` of each other; a collision is the start of a contact.
  Pushing on, sliding along, or turning while touching is the same contact; backing away
  more than ``CONTACT_GAP`` and driving in again is a new one.

Robots with a footprint (``sim.world.footprint``) follow one more rule (``Contacts._resolve_shaped``):
a polygon's corners sweep as it turns, so a footprint robot neither slides nor always turns; its step
becomes the first of (new position, new heading), (old position, new heading), (old position, old
heading) that overlaps nothing. A disc slides along a footprint robot's outline as along a wall.
Without footprints (``footprints=None``) none of that code runs.

The geometry here runs only for the few robots whose step overlapped something, in plain
Python floats (the same code with and without numba), so the compiled and the numpy
physics paths give bitwise-identical poses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.world.collide import grid_edges
from sim.world.footprint import circumradius, edges, polygon_hits_disc, polygon_hits_segment, polygons_overlap, to_world
from sim.world.occgrid import OccupancyGrid
from sim.world.segmap import SegmentMap

__all__ = ["CONTACT_GAP", "PUSHES", "SKIN", "STATIC", "Contacts", "slide"]

PUSHES = 3  # push-outs per robot and step: a corner of two walls needs two
SKIN = 1e-9  # m left between a pushed-out robot and what it touches (touching is not overlapping)
CONTACT_GAP = 1e-3  # m: a contact ends when the two are further apart than this
STATIC = -1  # the "other" of a contact with the static map
STALL_SHARE = 0.01  # less than this share of the step made along its direction: the wheels stall

Check = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, list[tuple[int, int]]]]
Obstacle = tuple[int, float, float, float, float, float]  # other, ax, ay, bx, by, reach


def _nearest(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> tuple[float, float]:
    """The point of segment a-b nearest to p (a point when a == b)."""
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    t = ((px - ax) * ex + (py - ay) * ey) / len2 if len2 > 0.0 else 0.0
    t = min(max(t, 0.0), 1.0)
    return ax + t * ex, ay + t * ey


def _deepest(x: float, y: float, obstacles: list[Obstacle]) -> tuple[int, float, float, float, float] | None:
    """The overlapped obstacle with the deepest overlap at (x, y): (index, qx, qy, distance, reach)."""
    best = None
    best_depth = 0.0
    for k, (_, ax, ay, bx, by, reach) in enumerate(obstacles):
        qx, qy = _nearest(x, y, ax, ay, bx, by)
        dx, dy = x - qx, y - qy
        d2 = dx * dx + dy * dy
        if d2 < reach * reach:
            depth = reach - math.sqrt(d2)
            if best is None or depth > best_depth:
                best, best_depth = (k, qx, qy, math.sqrt(d2), reach), depth
    return best


def slide(x0: float, y0: float, x1: float, y1: float,
          obstacles: list[Obstacle]) -> tuple[float, float, list[int]]:
    """Where a disc moving from (x0, y0) towards (x1, y1) ends, and what it touched on the way.

    ``obstacles`` are segments (a robot is a zero-length segment at its centre) with the
    distance ``reach`` the disc's centre must keep from each (its radius, or the sum of radii).
    (x0, y0) is assumed clear of them; the result is clear of them, or (x0, y0).
    """
    x, y = x1, y1
    touched: list[int] = []
    for push in range(PUSHES + 1):
        hit = _deepest(x, y, obstacles)
        if hit is None:
            return x, y, touched
        k, qx, qy, d, reach = hit
        if obstacles[k][0] not in touched:
            touched.append(obstacles[k][0])
        if push == PUSHES or d == 0.0:  # still overlapping, or on top of it (no normal): stay
            return x0, y0, touched
        nx, ny = (x - qx) / d, (y - qy) / d
        if (x0 - qx) * nx + (y0 - qy) * ny <= 0.0:  # the push would cross what it touches: stay
            return x0, y0, touched
        x, y = qx + nx * (reach + SKIN), qy + ny * (reach + SKIN)
    return x0, y0, touched  # pragma: no cover - the loop always returns


def _reach(x0: float, y0: float, x1: float, y1: float, r: float) -> float:
    """How far from (x0, y0) anything ``slide`` could touch can be (less the other robot's radius).

    From a clear start, a step of length s overlaps nothing deeper than s, and a push moves
    the trial point no further than it overlapped, so after k pushes the trial point is within
    2**k * s of the start (plus the skins); it then overlaps only what is within r of it.
    """
    return math.hypot(x1 - x0, y1 - y0) * 2 ** PUSHES + r + 2 ** PUSHES * SKIN


def _obstacles(segments: list[list[float]], i: int, p0: np.ndarray, reach: float, pos: np.ndarray,
               radius: np.ndarray) -> list[Obstacle]:
    """Map segments (candidates from the grid) and other robots robot ``i`` could touch from ``p0``.

    In index order (segments, then robots), so the deepest-first choice is deterministic.
    """
    r = float(radius[i])
    found: list[Obstacle] = [(STATIC, ax, ay, bx, by, r) for ax, ay, bx, by in segments]
    gap = np.hypot(pos[:, 0] - p0[0], pos[:, 1] - p0[1]) - radius
    for j in np.flatnonzero(gap < reach).tolist():
        if j != i:
            cx, cy = pos[j].tolist()
            found.append((j, cx, cy, cx, cy, r + float(radius[j])))
    return found


def _progress(moved: np.ndarray, want: np.ndarray, flagged: np.ndarray, keep: np.ndarray, made: np.ndarray) -> None:
    """Per robot that was flagged or moved otherwise than it wanted: the share of its step it made
    (``made``), and ``keep`` 0 when it made too little of it along the way it wanted (a stall)."""
    for i in np.flatnonzero(flagged | (moved != want).any(axis=1)).tolist():
        (mx, my), (wx, wy) = moved[i].tolist(), want[i].tolist()
        length = math.hypot(wx, wy)
        if length > 0.0:
            made[i] = min(math.hypot(mx, my) / length, 1.0)
            if (mx * wx + my * wy) / (length * length) < STALL_SHARE:
                keep[i] = 0.0


class Contacts:
    """Resolves overlapping steps (``resolve``) and tracks who touches whom (``update``)."""

    def __init__(self, smap: SegmentMap, radius: np.ndarray, check: Check,
                 footprints: tuple[np.ndarray | None, ...] | None = None, grid: OccupancyGrid | None = None) -> None:
        self.smap = smap
        self.grid = grid  # a map_server map's cells: their faces towards free space are walls here
        self.radius = np.asarray(radius, dtype=float)
        self.check = check  # the physics' collision check (inline or in a worker)
        # None: every robot a disc (the disc rules only). Else per robot its footprint or None.
        self.footprints = footprints
        self._bound = self.radius if footprints is None else np.array(
            [r if f is None else max(r, circumradius(f))
             for r, f in zip(self.radius.tolist(), footprints, strict=True)])
        self.touching: set[tuple[int, int]] = set()  # (robot, other robot or STATIC)
        self._free = np.ones(len(self.radius))  # keep = made = 1.0 for every robot: a step that touched nothing

    def resolve(self, old: np.ndarray, new: np.ndarray, static_hit: np.ndarray, pairs: list[tuple[int, int]]
                ) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
        """Cut the motion into obstacles out of ``new`` (N, 3), in place; headings are kept.

        ``static_hit``/``pairs`` are the overlaps at ``new``. Returns per robot ``keep`` (0.0
        where the wheels stall, else 1.0), ``made`` (the length of the step made over the length
        commanded, 1.0 when free), and the (robot, other) contacts whose motion was cut.
        """
        n = len(new)
        if not pairs and not static_hit.any():  # nothing touches (nearly every step): no numpy work
            if len(self._free) != n:
                self._free = np.ones(n)
            return self._free, self._free, set()  # read only by the caller (settle)
        keep, made = np.ones(n), np.ones(n)
        hits: set[tuple[int, int]] = set()
        flagged = static_hit.copy()
        for i, j in pairs:
            flagged[i] = flagged[j] = True
            hits.update(((i, j), (j, i)))
        hits.update((int(i), STATIC) for i in np.flatnonzero(static_hit))
        if not flagged.any():
            return keep, made, hits
        if self.footprints is not None:
            return self._resolve_shaped(old, new, flagged, keep, made, hits)
        wanted = new[:, :2].copy()
        pos = new[:, :2]  # robots not yet resolved are at their old place meanwhile
        pos[flagged] = old[flagged, :2]
        order = np.flatnonzero(flagged)
        # ignore: mypy cannot count two *lists followed by a positional argument (python/mypy#14648)
        reach = {i: _reach(*old[i, :2].tolist(), *wanted[i].tolist(), float(self.radius[i]))  # type: ignore[call-arg]
                 for i in order.tolist()}
        near_segments: dict[int, list[list[float]]] = {i: [] for i in reach}
        if self.smap.n_segments:  # one grid query for every flagged robot
            span = np.array([reach[i] for i in order.tolist()])[:, None]
            box, sid = self.smap.candidates_in_boxes(old[order, :2] - span, old[order, :2] + span)
            for k in np.unique(box).tolist():
                near_segments[int(order[k])] = self.smap.segments[np.unique(sid[box == k])].tolist()
        if self.grid is not None:  # after the map's segments: the order stays deterministic
            for i in order.tolist():
                lo, hi = old[i, :2] - reach[i], old[i, :2] + reach[i]
                near_segments[i] += grid_edges(self.grid, lo, hi).tolist()
        for i in order.tolist():
            x0, y0 = old[i, :2].tolist()
            x1, y1 = wanted[i].tolist()
            obstacles = _obstacles(near_segments[i], i, old[i, :2], reach[i], pos, self.radius)
            x, y, touched = slide(x0, y0, x1, y1, obstacles)
            pos[i] = (x, y)
            for other in touched:
                hits.add((i, other))
                if other != STATIC:
                    hits.add((other, i))
        # Whoever still overlaps (a robot placed where another just went) goes back.
        while True:
            static_hit, pairs = self.check(new, self.radius)
            back = static_hit.copy()
            for i, j in pairs:
                back[i] = back[j] = True
                hits.update(((i, j), (j, i)))
            hits.update((int(i), STATIC) for i in np.flatnonzero(static_hit))
            back &= (pos != old[:, :2]).any(axis=1)
            if not back.any():
                break
            pos[back] = old[back, :2]
        _progress(pos - old[:, :2], wanted - old[:, :2], flagged, keep, made)
        return keep, made, hits

    def _resolve_shaped(self, old: np.ndarray, new: np.ndarray, flagged: np.ndarray, keep: np.ndarray,
                        made: np.ndarray, hits: set[tuple[int, int]]
                        ) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
        """``resolve`` when some robots have footprints.

        A disc robot slides as always, along walls and other discs and along footprint robots'
        outlines (their edges are segments to keep its radius from). A footprint robot does not
        slide and may not turn into something (a rectangle's corner sweeps): it takes the first of
        (new position, new heading), (old position, new heading), (old position, old heading)
        that overlaps nothing; its wheels stall unless it moved.
        """
        assert self.footprints is not None
        shapes = self.footprints
        wanted = new.copy()
        pos = new  # the poses of the moment: robots not yet resolved stay where they were
        shaped = np.array([f is not None for f in shapes])
        pos[flagged, :2] = old[flagged, :2]
        pos[flagged & shaped, 2] = old[flagged & shaped, 2]  # a disc's turn always happens, a footprint's may not
        order = np.flatnonzero(flagged)
        # ignore: mypy cannot count two *lists followed by a positional argument (python/mypy#14648)
        reach = {i: _reach(*old[i, :2].tolist(), *wanted[i, :2].tolist(), float(self._bound[i]))  # type: ignore[call-arg]
                 for i in order.tolist()}
        near: dict[int, list[list[float]]] = {i: [] for i in reach}
        if self.smap.n_segments:
            span = np.array([reach[i] for i in order.tolist()])[:, None]
            box, sid = self.smap.candidates_in_boxes(old[order, :2] - span, old[order, :2] + span)
            for k in np.unique(box).tolist():
                near[int(order[k])] = self.smap.segments[np.unique(sid[box == k])].tolist()
        for i in order.tolist():
            others = np.flatnonzero(np.hypot(pos[:, 0] - old[i, 0], pos[:, 1] - old[i, 1]) - self._bound
                                    < reach[i]).tolist()
            others = [j for j in others if j != i]
            f = shapes[i]
            if f is None:
                r = float(self.radius[i])
                found: list[Obstacle] = [(STATIC, ax, ay, bx, by, r) for ax, ay, bx, by in near[i]]
                for j in others:
                    fj = shapes[j]
                    if fj is None:
                        cx, cy = pos[j, :2].tolist()
                        found.append((j, cx, cy, cx, cy, r + float(self.radius[j])))
                    else:
                        outline = edges(to_world(fj, *pos[j].tolist())).tolist()
                        found += [(j, ax, ay, bx, by, r) for ax, ay, bx, by in outline]
                x, y, touched = slide(*old[i, :2].tolist(), *wanted[i, :2].tolist(), found)  # type: ignore[call-arg]  # as above
                pos[i, :2] = (x, y)
            else:
                x0, y0, th0 = old[i].tolist()
                x1, y1, th1 = wanted[i].tolist()
                touched = self._overlaps(f, (x1, y1, th1), near[i], others, pos)
                for cand in ((x1, y1, th1), (x0, y0, th1), (x0, y0, th0)):
                    if cand == (x0, y0, th0) or not self._overlaps(f, cand, near[i], others, pos):
                        pos[i] = cand
                        break
            for other in touched:
                hits.add((i, other))
                if other != STATIC:
                    hits.add((other, i))
        while True:  # whoever still overlaps (a robot placed where another just went) goes back
            static_hit, pairs = self.check(new, self.radius)
            back = static_hit.copy()
            for i, j in pairs:
                back[i] = back[j] = True
                hits.update(((i, j), (j, i)))
            hits.update((int(i), STATIC) for i in np.flatnonzero(static_hit))
            back &= (pos[:, :2] != old[:, :2]).any(axis=1) | (shaped & (pos[:, 2] != old[:, 2]))
            if not back.any():
                break
            pos[back, :2] = old[back, :2]
            pos[back & shaped, 2] = old[back & shaped, 2]
        _progress(pos[:, :2] - old[:, :2], wanted[:, :2] - old[:, :2], flagged, keep, made)
        return keep, made, hits

    def _overlaps(self, footprint: np.ndarray, pose: tuple[float, float, float], segments: list[list[float]],
                  others: list[int], pos: np.ndarray) -> list[int]:
        """What a footprint robot at ``pose`` would overlap: STATIC for the map, and other robots' indices."""
        assert self.footprints is not None
        poly = to_world(footprint, *pose)
        found = [STATIC] if any(polygon_hits_segment(poly, (ax, ay), (bx, by)) for ax, ay, bx, by in segments) else []
        for j in others:
            fj = self.footprints[j]
            if fj is None:
                cx, cy = pos[j, :2].tolist()
                if polygon_hits_disc(poly, cx, cy, float(self.radius[j])):
                    found.append(j)
            elif polygons_overlap(poly, to_world(fj, *pos[j].tolist())):
                found.append(j)
        return found

    def update(self, pose: np.ndarray, hits: set[tuple[int, int]]) -> list[tuple[int, int]]:
        """New contacts this step, sorted: those hit now and not touching before.

        A contact lasts while the two are within ``CONTACT_GAP``.
        """
        onsets = sorted(hits - self.touching)
        if self.touching:
            near: set[tuple[int, int]] = set()
            if any(other == STATIC for _, other in self.touching):
                static_near, _ = self.check(pose, self.radius + CONTACT_GAP)
                near.update((int(i), STATIC) for i in np.flatnonzero(static_near))
            if any(other != STATIC for _, other in self.touching):
                _, pairs_near = self.check(pose, self.radius + CONTACT_GAP / 2)  # discs apart by < GAP
                for i, j in pairs_near:
                    near.update(((i, j), (j, i)))
            self.touching &= near
        self.touching |= hits
        return onsets

    def touching_mask(self, n: int) -> np.ndarray:
        """Per robot: touching anything now."""
        mask = np.zeros(n, dtype=bool)
        for i, _ in self.touching:
            mask[i] = True
        return mask
