"""``map_server`` map files: image pixels to occupancy values, and an occupancy grid back to PGM + YAML.

The pixel rules are those of ROS 2 Navigation's ``nav2_map_server`` (``map_io.cpp``), so a map
loads here as it loads into a navigation stack:

* ``shade`` is the mean of the pixel's R, G, B (a grey image: its one value) over 255; in
  ``trinary`` mode an image with an alpha channel adds its alpha (255 = opaque) to that mean.
* ``p = shade`` when ``negate`` else ``1 - shade``: how occupied the cell is (dark = occupied).
* ``trinary``: ``p > occupied_thresh`` -> 100, ``p < free_thresh`` -> 0, else -1 (unknown).
* ``scale``: a pixel not fully opaque -> -1; else as trinary, but a ``p`` between the thresholds
  becomes ``rint((p - free) / (occupied - free) * 100)`` (1..99).
* ``raw``: ``round(shade * 255)`` when in 0..100, else -1.

The image's top row is the map's top (largest y): row ``i`` of the grid is image row
``height - 1 - i``. What blocks bodies and beams (``OccupancyGrid.occupied``) is a value of 100
in ``trinary`` and ``scale`` modes; in ``raw`` mode, a value above ``occupied_thresh * 100``.
Reading a file is the scenario loader's business (``sim.scenario.mapfile``), which words
errors; this module only converts and writes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sim.world.occgrid import OCCUPIED, UNKNOWN, OccupancyGrid

__all__ = ["FREE_PIXEL", "MAX_SIDE", "OCCUPIED_PIXEL", "UNKNOWN_PIXEL", "MapMode", "occupancy_from_pixels",
           "read_pixels", "write_map"]

MapMode = Literal["trinary", "scale", "raw"]
MAX_SIDE = 10_000  # pixels per image side at most: 10,000 x 10,000 cells (500 m x 500 m at 5 cm) is 200 MB of grid
# map_saver's trinary colours: free 254, occupied 0, unknown 205.
FREE_PIXEL, OCCUPIED_PIXEL, UNKNOWN_PIXEL = 254, 0, 205


def read_pixels(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An image file as (rows, cols, 1 or 3) uint8 colour channels and its (rows, cols) alpha or None.

    PGM (P5/P2), PNG and anything else Pillow reads. Raises ``OSError`` for a file that cannot be
    read or decoded, ``ValueError`` for one larger than ``MAX_SIDE`` pixels a side (checked from
    the header, before any pixel is decoded).
    """
    from PIL import Image  # Pillow: only a scenario with a map needs it

    with Image.open(path) as img:
        w, h = img.size
        if w > MAX_SIDE or h > MAX_SIDE:
            raise ValueError(f"{w} x {h} pixels: at most {MAX_SIDE:,} x {MAX_SIDE:,}")
        if w == 0 or h == 0:
            raise ValueError(f"{w} x {h} pixels: the image is empty")
        try:
            return _decode(img)
        except (ValueError, SyntaxError, EOFError, MemoryError) as exc:  # a damaged file, however Pillow words it
            raise OSError(str(exc) or type(exc).__name__) from exc


def _decode(img: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The pixels of an opened Pillow image (see ``read_pixels``)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit grey: Pillow scales it to 0..65535 (any maxval)
        wide = np.clip(np.asarray(img, dtype=np.float64), 0.0, 65535.0)
        return np.rint(wide / 65535.0 * 255.0).astype(np.uint8)[:, :, None], None
    transparent = "transparency" in img.info
    if img.mode in ("1", "L", "LA", "La"):  # a palette image goes as RGB: the mean of a grey's channels is the grey
        if img.mode in ("LA", "La") or transparent:
            la = np.asarray(img.convert("LA"), dtype=np.uint8)
            return la[:, :, :1], la[:, :, 1]
        return np.asarray(img.convert("L"), dtype=np.uint8)[:, :, None], None
    if img.mode in ("RGBA", "RGBa", "PA") or transparent:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        return rgba[:, :, :3], rgba[:, :, 3]
    return np.asarray(img.convert("RGB"), dtype=np.uint8), None


def occupancy_from_pixels(channels: np.ndarray, alpha: np.ndarray | None, *, mode: MapMode, negate: bool,
                          occupied_thresh: float, free_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """(values, occupied) in nav_msgs layout (row 0 at the bottom) from image pixels (row 0 at the top)."""
    c = np.asarray(channels, dtype=np.float64)
    if c.ndim == 2:
        c = c[:, :, None]
    # A grey pixel is R = G = B: its mean over three channels is the grey value itself.
    total = c.sum(axis=2) * (3.0 / c.shape[2])
    count = 3.0
    if mode == "trinary" and alpha is not None:
        total = total + np.asarray(alpha, dtype=np.float64)
        count = 4.0
    shade = total / count / 255.0
    p = shade if negate else 1.0 - shade
    values = np.full(shade.shape, UNKNOWN, dtype=np.int8)
    if mode == "raw":
        pct = np.round(shade * 255.0)
        ok = (pct >= 0) & (pct <= 100)
        values[ok] = pct[ok].astype(np.int8)
        occupied = values > occupied_thresh * 100.0
    else:
        occ = occupied_thresh < p
        free = p < free_thresh
        values[free] = 0
        values[occ] = OCCUPIED
        if mode == "scale":
            between = ~occ & ~free
            values[between] = np.rint((p[between] - free_thresh) / (occupied_thresh - free_thresh) * 100.0)
            if alpha is not None:
                values[np.asarray(alpha) != 255] = UNKNOWN
        occupied = values == OCCUPIED
    return np.ascontiguousarray(values[::-1]), np.ascontiguousarray(occupied[::-1])


def _trinary_pixels(grid: OccupancyGrid, occupied_thresh: float, free_thresh: float) -> np.ndarray:
    """map_saver's trinary image of ``grid`` (row 0 at the top): 254 free, 0 occupied, 205 unknown/between."""
    v = grid.values.astype(np.int16)
    px = np.full(v.shape, UNKNOWN_PIXEL, dtype=np.uint8)
    known = (v >= 0) & (v <= 100)
    px[known & (v <= round(free_thresh * 100.0))] = FREE_PIXEL
    px[known & (v >= round(occupied_thresh * 100.0))] = OCCUPIED_PIXEL
    px[grid.occupied] = OCCUPIED_PIXEL  # what blocks here blocks there
    return np.ascontiguousarray(px[::-1])


def write_map(grid: OccupancyGrid, yaml_path: Path, *, occupied_thresh: float = 0.65,
              free_thresh: float = 0.196) -> Path:
    """Write ``grid`` as a ``map_server`` trinary map: ``<stem>.pgm`` (P5) beside ``yaml_path``; the image path.

    The thresholds written are those the pixels were made for, so loading the pair (here or in
    ``nav2_map_server``) gives back the same free, occupied and unknown cells: unknown's 205 is
    p = 0.19608, free only below ``free_thresh`` (0.196 keeps it unknown; 0.25 would not).
    """
    if not 0.0 <= free_thresh < occupied_thresh <= 1.0:
        raise ValueError("thresholds must satisfy 0 <= free_thresh < occupied_thresh <= 1")
    if not (1.0 - FREE_PIXEL / 255.0 < free_thresh <= 1.0 - UNKNOWN_PIXEL / 255.0 and occupied_thresh < 1.0):
        raise ValueError(f"thresholds {free_thresh:g}/{occupied_thresh:g} would not read the trinary pixels back "
                         "(free_thresh must be in (0.004, 0.196], occupied_thresh below 1)")
    yaml_path = Path(yaml_path)
    image_path = yaml_path.with_suffix(".pgm")
    px = _trinary_pixels(grid, occupied_thresh, free_thresh)
    header = f"P5\n# fleet-timing-sim map export\n{px.shape[1]} {px.shape[0]}\n255\n".encode("ascii")
    ox, oy = grid.origin
    text = (f"image: {image_path.name}\nmode: trinary\nresolution: {_num(grid.resolution)}\n"
            f"origin: [{_num(ox)}, {_num(oy)}, 0.0]\nnegate: 0\noccupied_thresh: {_num(occupied_thresh)}\n"
            f"free_thresh: {_num(free_thresh)}\n")
    _write_atomic(image_path, header + px.tobytes())
    _write_atomic(yaml_path, text.encode("utf-8"))
    return image_path


def _num(x: float) -> str:
    """Shortest text that reads back as the same float (YAML 1.1 needs the '.0' to read a float)."""
    text = repr(float(x))
    return text if math.isfinite(x) else "0.0"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename: a half-written map never sits under its name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
