"""Plane geometry shared by the scenario checks, physics, ray casting and the built-in planner.

Shapes are plain numpy arrays so the hot paths stay vectorised: a polygon is a
(N, 2) array of vertices in order, a segment list is an (M, 4) array of
``[x1, y1, x2, y2]`` rows. Units are metres, x forward / y left (REP 103).
"""

from __future__ import annotations

import numpy as np


def rect_polygon(x: float, y: float, width: float, height: float) -> np.ndarray:
    """Axis-aligned rectangle with its lower-left corner at (x, y), as a polygon."""
    return np.array(
        [[x, y], [x + width, y], [x + width, y + height], [x, y + height]], dtype=float
    )


def polygon_segments(polygon: np.ndarray) -> np.ndarray:
    """Closed polygon outline as (N, 4) segments."""
    p = np.asarray(polygon, dtype=float)
    q = np.roll(p, -1, axis=0)
    return np.hstack([p, q])


def bounds_segments(width: float, height: float) -> np.ndarray:
    """The four outer walls of a ``width`` x ``height`` map whose origin is (0, 0)."""
    return polygon_segments(rect_polygon(0.0, 0.0, width, height))


def point_in_polygon(point: np.ndarray, polygon: np.ndarray) -> bool:
    """Even-odd rule; points exactly on an edge may fall either way."""
    x, y = float(point[0]), float(point[1])
    p = np.asarray(polygon, dtype=float)
    q = np.roll(p, -1, axis=0)
    crosses = (p[:, 1] > y) != (q[:, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = p[:, 0] + (y - p[:, 1]) * (q[:, 0] - p[:, 0]) / (q[:, 1] - p[:, 1])
    return bool(np.count_nonzero(crosses & (x < x_at)) % 2)


def point_segment_distance(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from each of P points to each of S segments, shape (P, S)."""
    pts = np.atleast_2d(np.asarray(points, dtype=float))
    seg = np.atleast_2d(np.asarray(segments, dtype=float))
    a = seg[None, :, 0:2]
    d = seg[None, :, 2:4] - a
    rel = pts[:, None, :] - a
    # Absurd inputs (1e308 from a fuzzed scenario) overflow to inf: a distance, not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        len2 = np.einsum("psk,psk->ps", d, d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.where(len2 > 0, np.einsum("psk,psk->ps", rel, d) / len2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        closest = a + t[..., None] * d
        return np.linalg.norm(pts[:, None, :] - closest, axis=2)


def circle_hits_polygon(center: np.ndarray, radius: float, polygon: np.ndarray) -> bool:
    """True if a disc of ``radius`` at ``center`` overlaps the polygon (inside or touching)."""
    if point_in_polygon(center, polygon):
        return True
    return bool(point_segment_distance(center, polygon_segments(polygon)).min() < radius)


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    """Wrap radians into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi
