"""The numpy ray-cast methods, ``"plain"`` (every beam against every object, the reference)
and ``"culled"`` (grid and angular-window culling, then the same exact test).

Both are a fixed number of vectorised numpy calls (numpy releases the GIL inside its
kernels). The hit rules they share with every method are in ``sim/world/raycast.py``,
which chooses the method.
"""

from __future__ import annotations

import itertools

import numpy as np

from sim.world.segmap import SegmentMap, _ranges

# Conservative slack for the numpy culling (angles in rad, distances in m):
# extra candidates cost little, a lost candidate would be a wrong reading.
_ANG_MARGIN = 1e-6
_DIST_MARGIN = 1e-6
# Within this distance of an object the angular window is ill-conditioned, so
# every beam is tested against it.
_FULL_EPS = 1e-3
# Upper bound on elements per dense block in the "plain" method (memory cap).
_PLAIN_BLOCK = 1 << 21
# Up to this many (robot, segment) pairs, a dense distance check beats the grid.
_DENSE_CANDIDATES_MAX = 4096
# Beam/object pairs per numpy batch in the culled path (keeps arrays in cache).
_PAIR_CHUNK = 4096


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi) (same rule as ``sim.common.geometry.wrap_angle``)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _segment_hits(
    wx: np.ndarray,
    wy: np.ndarray,
    cw: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    tol: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    range_min: float,
    range_max: float,
) -> np.ndarray:
    """Ray/segment distances (inf = miss), elementwise; the one formula all methods use.

    With ``w = a - o`` (segment start relative to the ray origin), ``e`` the
    segment vector and ``cw = wx * ey - wy * ex``: ``t = cw / (d x e)``,
    ``u = (w x d) / (d x e)``. ``w`` and ``cw`` depend only on (robot, segment),
    so callers compute them once per pair of those, not per beam. ``|d x e| <= tol``
    counts as parallel (no hit).
    """
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cw / denom
        u = (wx * dy - wy * dx) / denom
    ok = (np.abs(denom) > tol) & (u >= 0.0) & (u <= 1.0) & (t >= range_min) & (t <= range_max)
    return np.where(ok, t, np.inf)


def _circle_hits(
    fx: np.ndarray,
    fy: np.ndarray,
    c: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    range_min: float,
    range_max: float,
) -> np.ndarray:
    """Ray/circle-boundary distances (inf = miss), elementwise; unit directions assumed.

    ``f = o - centre`` and ``c = |f|^2 - r^2`` depend only on (robot, circle).
    """
    b = fx * dx + fy * dy
    disc = b * b - c
    with np.errstate(invalid="ignore"):
        sq = np.sqrt(disc)
    t1 = -b - sq
    t2 = -b + sq
    t = np.where(t1 >= range_min, t1, t2)
    ok = (disc >= 0.0) & (t >= range_min) & (t <= range_max)
    return np.where(ok, t, np.inf)


def _cast_plain(
    smap: SegmentMap,
    o: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Reference: every beam against every segment and circle, in dense blocks."""
    m_count, k_count = dxs.shape
    out = np.full((m_count, k_count), np.inf)
    seg = smap.segments
    ax, ay = seg[:, 0], seg[:, 1]
    ex, ey = seg[:, 2] - ax, seg[:, 3] - ay
    n_obj = seg.shape[0] + (0 if circ is None else circ[1].size)
    block = max(1, _PLAIN_BLOCK // max(1, k_count * n_obj))
    for s in range(0, m_count, block):
        sl = slice(s, s + block)
        ox = o[sl, 0][:, None, None]
        oy = o[sl, 1][:, None, None]
        dx = dxs[sl][:, :, None]
        dy = dys[sl][:, :, None]
        if seg.shape[0]:
            wx = ax - ox
            wy = ay - oy
            cw = wx * ey - wy * ex
            t = _segment_hits(wx, wy, cw, ex, ey, smap.parallel_tol, dx, dy, rmin, rmax)
            out[sl] = t.min(axis=2)
        if circ is not None and circ[1].size:
            c, r = circ
            fx = ox - c[:, 0]
            fy = oy - c[:, 1]
            cc = fx * fx + fy * fy - r * r
            t = _circle_hits(fx, fy, cc, dx, dy, rmin, rmax)
            mine = self_index[sl][:, None] == np.arange(r.size)[None, :]
            t = np.where(mine[:, None, :], np.inf, t)
            out[sl] = np.minimum(out[sl], t.min(axis=2))
    return out


def _beam_runs(
    start: np.ndarray,
    length: np.ndarray,
    full: np.ndarray,
    rel_sorted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of beams (positions in ``rel_sorted``) inside angular windows.

    A window is ``[start, start + length]`` relative to the robot heading,
    ``start`` in [-pi, pi); past pi it wraps into a second run from -pi, so
    window ``w`` owns runs ``2w`` and ``2w + 1``. ``full`` windows take every
    beam. Returns (run starts, run lengths).
    """
    k_count = rel_sorted.size
    end = start + length
    lo = np.where(full, 0, np.searchsorted(rel_sorted, start, side="left"))
    hi = np.where(full, k_count, np.searchsorted(rel_sorted, end, side="right"))
    hi2 = np.where(full, 0, np.searchsorted(rel_sorted, end - 2.0 * np.pi, side="right"))
    starts = np.zeros(2 * lo.size, dtype=np.int64)
    counts = np.empty(2 * lo.size, dtype=np.int64)
    starts[0::2] = lo
    counts[0::2] = hi - lo
    counts[1::2] = hi2
    return starts, counts


def _near_segments(
    smap: SegmentMap, o: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(robot, segment, approximate distance) for segments within ``reach`` of each origin.

    Few robots x few segments: one dense broadcast is the fewest numpy calls.
    Otherwise the grid narrows the candidates before the distance test. The
    distance only culls (with margins), so a cheaper formula than
    :func:`point_segment_distance_sq` is fine here.
    """
    if o.shape[0] * smap.n_segments <= _DENSE_CANDIDATES_MAX:
        rob = sid = None
        px, py = o[:, 0:1], o[:, 1:2]
        ax, ay, ex, ey, inv = smap._ax, smap._ay, smap._ex, smap._ey, smap._inv_len2
    else:
        rob, sid = smap.candidates_in_boxes(o - reach, o + reach)
        px, py = o[rob, 0], o[rob, 1]
        ax, ay, ex, ey, inv = smap._ax[sid], smap._ay[sid], smap._ex[sid], smap._ey[sid], smap._inv_len2[sid]
    rx = px - ax
    ry = py - ay
    t = np.minimum(np.maximum((rx * ex + ry * ey) * inv, 0.0), 1.0)
    cx = rx - t * ex
    cy = ry - t * ey
    d2 = cx * cx + cy * cy
    if rob is None or sid is None:
        rob, sid = np.nonzero(d2 <= reach * reach)
        return rob, sid, np.sqrt(d2[rob, sid])
    keep = d2 <= reach * reach
    return rob[keep], sid[keep], np.sqrt(d2[keep])


def _cast_culled(
    smap: SegmentMap,
    o: np.ndarray,
    headings: np.ndarray,
    beam_angles: np.ndarray,
    dxs: np.ndarray,
    dys: np.ndarray,
    rmin: float,
    rmax: float,
    circ: tuple[np.ndarray, np.ndarray] | None,
    self_index: np.ndarray,
) -> np.ndarray:
    """Numpy with two culling stages, then the exact test on (beam, object) pairs only.

    1. The grid gives the segments in cells near each robot (for small
       problems a dense distance check is cheaper); an exact point-to-segment
       distance keeps those within ``range_max``.
    2. Each kept segment or circle subtends an angular window seen from the
       robot; only beams inside that window (``searchsorted`` on the sorted
       beam angles) are paired with it - only the beams that can cross it.
       Windows are padded, so culling never drops a true hit, and the final
       test is the same formula as "plain", so results match it.
    The number of numpy calls is fixed (independent of M and K): no Python
    loop holds the GIL between numpy kernels.
    """
    m_count, k_count = dxs.shape
    rel = _wrap(beam_angles)
    order = np.argsort(rel, kind="stable")
    rel_sorted = rel[order]
    reach = rmax + _DIST_MARGIN
    seg = smap.segments

    # Segment windows: the arc between the two endpoint directions (< pi).
    rob_s, sid, dist = _near_segments(smap, o, reach)
    if rmin > 0.0:
        s = seg[sid]
        far = np.maximum(
            np.hypot(s[:, 0] - o[rob_s, 0], s[:, 1] - o[rob_s, 1]),
            np.hypot(s[:, 2] - o[rob_s, 0], s[:, 3] - o[rob_s, 1]),
        )
        keep = far >= rmin - _DIST_MARGIN
        rob_s, sid, dist = rob_s[keep], sid[keep], dist[keep]
    wx = smap._ax[sid] - o[rob_s, 0]
    wy = smap._ay[sid] - o[rob_s, 1]
    ex = smap._ex[sid]
    ey = smap._ey[sid]
    # Per (robot, segment) constants of the hit formula, gathered per pair below.
    seg_w = np.stack([wx, wy, wx * ey - wy * ex, ex, ey, smap.parallel_tol[sid]], axis=1)
    th_a = np.arctan2(wy, wx)
    th_b = np.arctan2(wy + ey, wx + ex)
    diff = _wrap(th_b - th_a)
    starts = [np.where(diff >= 0.0, th_a, th_b) - headings[rob_s] - _ANG_MARGIN]
    lengths = [np.abs(diff) + 2.0 * _ANG_MARGIN]
    fulls = [dist < _FULL_EPS]
    robs = [rob_s]

    # Circle windows: centre direction +- asin(r / d).
    n_c = 0 if circ is None else circ[1].size
    circ_w = np.zeros((0, 3))
    if circ is not None and n_c:
        c, r = circ
        fx = o[:, 0:1] - c[None, :, 0]
        fy = o[:, 1:2] - c[None, :, 1]
        dcen = np.hypot(fx, fy)
        keep = (
            (np.arange(n_c)[None, :] != self_index[:, None])
            & (dcen - r <= reach)
            & (dcen + r >= rmin - _DIST_MARGIN)
        )
        rob_c, cid = np.nonzero(keep)
        fx, fy, dcen, rr = fx[rob_c, cid], fy[rob_c, cid], dcen[rob_c, cid], r[cid]
        circ_w = np.stack([fx, fy, fx * fx + fy * fy - rr * rr], axis=1)
        full = dcen < rr + _FULL_EPS
        with np.errstate(invalid="ignore", divide="ignore"):
            half = np.where(full, np.pi, np.arcsin(np.minimum(rr / dcen, 1.0))) + _ANG_MARGIN
        starts.append(np.arctan2(-fy, -fx) - half - headings[rob_c])
        lengths.append(2.0 * half)
        fulls.append(full)
        robs.append(rob_c)

    run_start, run_count = _beam_runs(
        _wrap(np.concatenate(starts)), np.concatenate(lengths), np.concatenate(fulls), rel_sorted
    )
    win_rob = np.concatenate(robs)
    n_sw = sid.size
    out = np.full(m_count * k_count, np.inf)
    dirs = np.stack([dxs.ravel(), dys.ravel()], axis=1)
    # Pairs are processed in chunks of whole runs so temporaries stay small
    # (cache-resident, recycled by malloc instead of mmap'd and faulted in).
    first = np.cumsum(run_count) - run_count
    cuts = np.flatnonzero(np.diff(first // _PAIR_CHUNK)) + 1
    bounds = [0, *cuts.tolist(), run_count.size]
    for r0, r1 in itertools.pairwise(bounds):
        run, pos = _ranges(run_start[r0:r1], run_count[r0:r1])
        win = (run + r0) >> 1
        beam = win_rob[win] * k_count + order[pos]
        d = dirs[beam]
        # Segment windows come first, circle windows after.
        n_sp = int(np.searchsorted(win, n_sw))
        if n_sp:
            w = seg_w[win[:n_sp]]
            t = _segment_hits(
                w[:, 0], w[:, 1], w[:, 2], w[:, 3], w[:, 4], w[:, 5], d[:n_sp, 0], d[:n_sp, 1], rmin, rmax
            )
            np.minimum.at(out, beam[:n_sp], t)
        if n_sp < win.size:
            w = circ_w[win[n_sp:] - n_sw]
            t = _circle_hits(w[:, 0], w[:, 1], w[:, 2], d[n_sp:, 0], d[n_sp:, 1], rmin, rmax)
            np.minimum.at(out, beam[n_sp:], t)
    return out.reshape(m_count, k_count)
