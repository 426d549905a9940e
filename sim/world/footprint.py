"""Robot footprints: polygons in the body frame, and the exact tests collisions and the lidar use on them.

A robot's shape is either ``None`` (a disc of its ``radius``, today's robots, handled by the disc code in
``sim.world.collide``/``kernels``/``contact``) or an ``(V, 2)`` float array of polygon vertices in
``base_link`` (x forward, y left, m), in order, simple (no self-intersection), non-zero area. That is the
whole representation: anything that needs a robot's shape (the physics, the lidar, the view, an
occupancy-grid check) takes ``footprint: np.ndarray | None`` and the pose, and calls ``to_world``.

The tests here run in plain Python floats (a handful of vertices per robot, a few robots near
something per step), so the compiled and the numpy physics give the same bits. Contact convention
as for discs: shapes collide when they *overlap* (an edge crosses, or one holds a point of the other
strictly inside); exactly touching is not a collision. ``grow`` > 0 also counts shapes closer than
``grow`` (the contact tracker's look-ahead gap).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "circumradius", "edges", "footprint_problem", "polygon_hits_disc", "polygon_hits_segment", "polygons_overlap",
    "to_world",
]

Pt = tuple[float, float]


def footprint_problem(points: Sequence[Sequence[float]]) -> str | None:
    """Why ``points`` is not a usable footprint (fewer than 3 points, zero area, self-intersecting), or None."""
    pts = [(float(x), float(y)) for x, y in points]
    n = len(pts)
    if n < 3:
        return f"needs at least 3 points, got {n}"
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        if a == b:
            return f"repeats point {i} ({a[0]:g}, {a[1]:g})"
        for j in range(i + 1, n):
            if j == i or (j + 1) % n == i or j == (i + 1) % n:
                continue  # neighbouring edges share a vertex
            c, d = pts[j], pts[(j + 1) % n]
            if _segments_touch(a, b, c, d):
                return f"self-intersects (edge {i} meets edge {j})"
    if abs(_area(pts)) <= 1e-12:
        return "has zero area"
    return None


def _area(pts: Sequence[Pt]) -> float:
    """Signed area (shoelace), > 0 counter-clockwise."""
    s = 0.0
    for i, (x0, y0) in enumerate(pts):
        x1, y1 = pts[(i + 1) % len(pts)]
        s += x0 * y1 - x1 * y0
    return s / 2.0


def circumradius(footprint: np.ndarray) -> float:
    """The distance from base_link to the farthest vertex: the smallest disc at base_link holding the shape."""
    return float(np.hypot(footprint[:, 0], footprint[:, 1]).max())


def to_world(footprint: np.ndarray, x: float, y: float, theta: float) -> list[Pt]:
    """The footprint's vertices in the world frame for pose (x, y, theta), as float pairs."""
    c, s = math.cos(theta), math.sin(theta)
    return [(x + c * px - s * py, y + s * px + c * py) for px, py in footprint.tolist()]


def edges(pts: Sequence[Pt]) -> np.ndarray:
    """The closed outline of ``pts`` as segments (V, 4) [x1, y1, x2, y2]."""
    a = np.asarray(pts, dtype=float).reshape(-1, 2)
    return np.hstack([a, np.roll(a, -1, axis=0)])


def _cross(o: Pt, a: Pt, b: Pt) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _crosses(a: Pt, b: Pt, c: Pt, d: Pt) -> bool:
    """Segments a-b and c-d cross properly (each strictly separates the other's ends)."""
    d1, d2 = _cross(c, d, a), _cross(c, d, b)
    d3, d4 = _cross(a, b, c), _cross(a, b, d)
    return ((d1 > 0.0 > d2) or (d1 < 0.0 < d2)) and ((d3 > 0.0 > d4) or (d3 < 0.0 < d4))


def _on(p: Pt, a: Pt, b: Pt) -> bool:
    """p lies on segment a-b (collinear, within its box)."""
    return (_cross(a, b, p) == 0.0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def _segments_touch(a: Pt, b: Pt, c: Pt, d: Pt) -> bool:
    """Segments share any point (crossing, or an end on the other): the footprint check's strict rule."""
    return _crosses(a, b, c, d) or _on(a, c, d) or _on(b, c, d) or _on(c, a, b) or _on(d, a, b)


def _dist2_point_segment(px: float, py: float, a: Pt, b: Pt) -> float:
    ex, ey = b[0] - a[0], b[1] - a[1]
    len2 = ex * ex + ey * ey
    t = ((px - a[0]) * ex + (py - a[1]) * ey) / len2 if len2 > 0.0 else 0.0
    t = min(max(t, 0.0), 1.0)
    dx, dy = a[0] + t * ex - px, a[1] + t * ey - py
    return dx * dx + dy * dy


def _dist2_segments(a: Pt, b: Pt, c: Pt, d: Pt) -> float:
    if _crosses(a, b, c, d):
        return 0.0
    return min(_dist2_point_segment(*a, c, d), _dist2_point_segment(*b, c, d),
               _dist2_point_segment(*c, a, b), _dist2_point_segment(*d, a, b))


def _strictly_inside(px: float, py: float, poly: Sequence[Pt]) -> bool:
    """Even-odd test; a point on the outline counts as outside (touching is not overlapping)."""
    inside = False
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        if _on((px, py), a, b):
            return False
        if (a[1] > py) != (b[1] > py):
            x = a[0] + (py - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            if px < x:
                inside = not inside
    return inside


def _enters(poly: Sequence[Pt], a: Pt, b: Pt) -> bool:
    """Some point of segment a-b lies strictly inside the polygon.

    The segment is cut where it meets the outline (crossing, touching or running along an
    edge); each piece is then wholly inside or outside, so its midpoint decides. Exact for
    the aligned cases a plain crossing test misses (two rectangles' edges on one line).
    """
    ex, ey = b[0] - a[0], b[1] - a[1]
    cuts = [0.0, 1.0]
    n = len(poly)
    len2 = ex * ex + ey * ey
    for i in range(n):
        c, d = poly[i], poly[(i + 1) % n]
        fx, fy = d[0] - c[0], d[1] - c[1]
        den = ex * fy - ey * fx
        wx, wy = c[0] - a[0], c[1] - a[1]
        if den != 0.0:
            t, u = (wx * fy - wy * fx) / den, (wx * ey - wy * ex) / den
            if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0:
                cuts.append(t)
        elif wx * ey - wy * ex == 0.0 and len2 > 0.0:  # collinear: the edge's ends along a-b
            for p in (c, d):
                t = ((p[0] - a[0]) * ex + (p[1] - a[1]) * ey) / len2
                if 0.0 < t < 1.0:
                    cuts.append(t)
    cuts.sort()
    for t0, t1 in itertools.pairwise(cuts):
        if t1 > t0:
            t = (t0 + t1) / 2.0
            if _strictly_inside(a[0] + t * ex, a[1] + t * ey, poly):
                return True
    return False


def polygon_hits_segment(poly: Sequence[Pt], a: Pt, b: Pt, grow: float = 0.0) -> bool:
    """The polygon (world frame) overlaps segment a-b, or comes closer to it than ``grow``."""
    n = len(poly)
    for i in range(n):
        if _crosses(poly[i], poly[(i + 1) % n], a, b):
            return True
    if _enters(poly, a, b):
        return True
    if grow > 0.0:
        g2 = grow * grow
        return any(_dist2_segments(poly[i], poly[(i + 1) % n], a, b) < g2 for i in range(n))
    return False


def polygon_hits_disc(poly: Sequence[Pt], cx: float, cy: float, r: float) -> bool:
    """The polygon overlaps the disc (centre inside, or the outline strictly closer than ``r``)."""
    if _strictly_inside(cx, cy, poly):
        return True
    n = len(poly)
    r2 = r * r
    return any(_dist2_point_segment(cx, cy, poly[i], poly[(i + 1) % n]) < r2 for i in range(n))


def polygons_overlap(p: Sequence[Pt], q: Sequence[Pt], grow: float = 0.0) -> bool:
    """Two polygons overlap (an edge crosses, or one holds a vertex of the other), or are closer than ``grow``."""
    if any(polygon_hits_segment(p, q[j], q[(j + 1) % len(q)], grow) for j in range(len(q))):
        return True
    if any(_enters(q, p[i], p[(i + 1) % len(p)]) for i in range(len(p))):
        return True
    # Outlines that coincide (one robot exactly on another) have no edge inside the other: their centres are.
    return _strictly_inside(*_mean(p), q) or _strictly_inside(*_mean(q), p)


def _mean(pts: Sequence[Pt]) -> Pt:
    return sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
