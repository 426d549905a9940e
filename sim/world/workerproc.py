"""The worker process's side of ``sim.world.workers``: shared-memory layout and the request loop.

Kept apart from the pool so a spawned worker imports only what it serves with;
both sides build the same numpy views of a segment from the same ``Spec`` list.
"""

from __future__ import annotations

import os
import traceback
from multiprocessing.connection import Connection, wait
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from sim.common.interrupt import child_ignores
from sim.common.lifeline import die_with_parent

CAST_CHUNK = 16  # robots a worker casts between looks at its collision lane

Spec = tuple[str, tuple[int, ...], str]  # array name, shape, dtype
GridInfo = tuple[str, tuple[int, int], float, tuple[float, float]]  # segment name, (rows, cols), resolution, origin


def _layout(specs: list[Spec]) -> tuple[int, dict[str, int]]:
    """Byte size and 64-byte-aligned offset of each array packed into one segment."""
    offsets, size = {}, 0
    for name, shape, dtype in specs:
        offsets[name] = size
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        size += -(-max(nbytes, 1) // 64) * 64
    return size, offsets


def _views(shm: SharedMemory, specs: list[Spec]) -> dict[str, np.ndarray]:
    _, offsets = _layout(specs)
    return {name: np.ndarray(shape, dtype=dtype, buffer=shm.buf, offset=offsets[name])
            for name, shape, dtype in specs}


def _cast_specs(n: int, k: int) -> list[Spec]:
    return [("pose", (n, 3), "f8"), ("radius", (n,), "f8"), ("index", (n,), "i8"),
            ("beams", (k,), "f8"), ("ranges", (n, k), "f8")]


def _grid_specs(n: int) -> list[Spec]:
    """A grid map as ``sim.world.gridcast.PreparedGrid`` reads it: a clearance byte per cell, tiled (n bytes)."""
    return [("clear", (n,), "u1")]


def _collide_specs(n: int) -> list[Spec]:
    return [("pose", (n, 3), "f8"), ("radius", (n,), "f8"), ("static", (n,), "u1")]


class _Server:
    """The worker's end: the map rebuilt from shared memory, views on both request blocks."""

    def __init__(self, static_name: str, n_segments: int, cell_size: float, blocks: list[tuple[str, list[Spec]]],
                 cast_conn: Connection, collide_conn: Connection, grid_info: GridInfo | None = None) -> None:
        from sim.world import gridcast, kernels, raycast, segmap

        self.kernels, self.raycast, self.gridcast = kernels, raycast, gridcast
        static = SharedMemory(static_name)
        segments = np.array(np.ndarray((n_segments, 4), dtype="f8", buffer=static.buf))
        static.close()
        self.smap = segmap.SegmentMap(segments, cell_size=cell_size)
        self.shms = [SharedMemory(name) for name, _ in blocks]
        self.cast, self.coll = (_views(shm, specs) for shm, (_, specs) in zip(self.shms, blocks, strict=True))
        self.cast_conn, self.collide_conn = cast_conn, collide_conn
        self.grid: Any = None  # a gridcast.PreparedGrid on views of the parent's segment (no copy)
        self.grid_views: dict[str, np.ndarray] = {}
        if grid_info is not None:
            name, (rows, cols), resolution, origin = grid_info
            self.shms.append(SharedMemory(name))
            self.grid_views = _views(self.shms[-1], _grid_specs(-(-rows // 8) * -(-cols // 8) * 64))
            self.grid = gridcast.PreparedGrid(self.grid_views["clear"], rows, cols, resolution, origin)
            gridcast.warm_up()
        raycast.warm_up()
        kernels.warm_up()

    def serve(self) -> None:
        """Answer requests until told to stop (or the parent's Pipe ends close)."""
        self.cast_conn.send(("ready", os.getpid()))
        while True:
            ready = wait([self.collide_conn, self.cast_conn])
            if self.collide_conn in ready:
                self._guarded(self.collide_conn, self.collide, self.collide_conn.recv())
            if self.cast_conn in ready:
                msg = self.cast_conn.recv()
                if msg[0] == "stop":
                    return
                self._guarded(self.cast_conn, self.cast_rows, msg)

    def collide(self, msg: tuple) -> None:
        _, n, lo, hi = msg
        pose, radius = self.coll["pose"][:n], self.coll["radius"][:n]
        static_hit, pairs = self.kernels.collide(self.smap, pose[:, :2], radius, lo, hi)
        self.coll["static"][lo:hi] = static_hit
        self.collide_conn.send(("ok", pairs))

    def cast_rows(self, msg: tuple) -> None:
        _, n, k, lo, hi, rmin, rmax = msg
        a = self.cast
        pose, index, beams = a["pose"][:n], a["index"], a["beams"][:k]
        circles = (pose[:, :2], a["radius"][:n])
        for r0 in range(lo, hi, CAST_CHUNK):
            r1 = min(r0 + CAST_CHUNK, hi)
            idx = index[r0:r1]
            if self.grid is None:
                a["ranges"][r0:r1, :k] = self.raycast.cast_scans(
                    self.smap, pose[idx, :2], pose[idx, 2], beams, rmax, rmin, circles=circles, self_index=idx)
            else:
                a["ranges"][r0:r1, :k] = self.gridcast.cast_with_grid(
                    self.smap, self.grid, pose[idx, :2], pose[idx, 2], beams, rmax, rmin, circles=circles,
                    self_index=idx)
            if r1 < hi and self.collide_conn.poll():  # the physics thread is waiting: serve it now
                self._guarded(self.collide_conn, self.collide, self.collide_conn.recv())
        self.cast_conn.send(("ok",))

    @staticmethod
    def _guarded(conn: Connection, handler: Any, msg: tuple) -> None:
        """Run ``handler``; an exception goes back to the caller as an error message."""
        try:
            handler(msg)
        except (EOFError, OSError):
            raise
        except Exception:
            conn.send(("error", traceback.format_exc()))

    def close(self) -> None:
        self.cast.clear()
        self.coll.clear()  # drop the views first: a segment with live views cannot close
        self.grid = None
        self.grid_views.clear()
        for shm in self.shms:
            shm.close()


def _worker_main(index: int, static_name: str, n_segments: int, cell_size: float,
                 blocks: list[tuple[str, list[Spec]]], cast_conn: Connection, collide_conn: Connection,
                 parent: int, grid_info: GridInfo | None = None) -> None:
    """Entry point of worker ``index``: attach, build the map, serve until told to stop (or ``parent`` dies)."""
    die_with_parent(parent)  # a SIGKILLed parent cannot stop us: the kernel does (sim/common/lifeline.py)
    child_ignores()  # SIGINT/SIGTERM to the group are the parent's to handle: it stops us (or its pipes close)
    server = _Server(static_name, n_segments, cell_size, blocks, cast_conn, collide_conn, grid_info)
    try:
        server.serve()
    except (EOFError, OSError):
        return  # the parent went away
    finally:
        server.close()
