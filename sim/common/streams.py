"""Named random streams: every random source of a run belongs to a name, not to a position.

A stream is ``numpy.random.SeedSequence(seed, spawn_key=...)`` whose spawn key is the
stable hash of a path of names, e.g. ``("robot", "amr-1", "sensor", "lidar", "noise")``.
So adding, removing or reordering robots, sensors or faults leaves every other stream
exactly as it was (docs/virtual-time.md, "Random streams"). The hash is BLAKE2b of the
UTF-8 name, never Python's ``hash()``, which is salted per process.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = ["fault_key", "name_key", "stream", "stream_seq"]


def name_key(name: str) -> int:
    """A 64-bit integer for ``name``, the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def stream_seq(seed: int, *path: str) -> np.random.SeedSequence:
    """The seed sequence of the stream named ``path`` in a run seeded ``seed``."""
    return np.random.SeedSequence(seed, spawn_key=tuple(name_key(p) for p in path))


def stream(seed: int, *path: str) -> np.random.Generator:
    """The generator of the stream named ``path`` (a fresh one, at the stream's start)."""
    return np.random.default_rng(stream_seq(seed, *path))


def fault_key(faults: list[Any], k: int) -> str:
    """A name for fault ``k`` that other faults do not change: its ``name`` if given, else
    what it does (its fields), plus the count of identical faults before it."""
    def ident(f: Any) -> str:
        name = getattr(f, "name", None)
        if name:
            return f"name:{name}"
        return "fields:" + json.dumps(f.model_dump(mode="json"), sort_keys=True, default=str)

    mine = ident(faults[k])
    twins = sum(1 for f in faults[:k] if ident(f) == mine)
    return f"{mine}#{twins}"
