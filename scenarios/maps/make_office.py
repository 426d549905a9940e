"""Generate a SLAM-looking office floor as a ROS map_server map (PNG + YAML), deterministic from a seed.

    python scenarios/maps/make_office.py                    # writes scenarios/maps/office.png + office.yaml
    python scenarios/maps/make_office.py --seed 3 --out /tmp/floor.yaml

A 40 m x 30 m floor at 5 cm (800 x 600 pixels): a building with 0.25 m outer walls, a 2.6 m
east-west corridor crossed by a 2.6 m north-south one, twelve rooms off them with 1.6 m doors,
one storage room the robot never mapped (closed, unknown inside), desks and cabinets along the
room walls with unknown shadows behind them, pillars half in the corridor walls, and the
noise of a real SLAM map: ragged wall faces, occupied speckle along the walls, grey-level
noise in free space that stays free, and unknown everywhere outside the building.
Pixels are map_saver's: 0 occupied, 254 free, 205 unknown (trinary, occupied_thresh 0.65,
free_thresh 0.196: 205 is just not free). ``scenarios/office_map.yaml`` runs delivery missions on the committed map;
its places are the ``PLACES`` below (rooms' centres, the mail room, the parking bay).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

RES = 0.05  # m per pixel
WIDTH, HEIGHT = 40.0, 30.0  # m
BUILDING = (1.0, 1.0, 39.0, 29.0)  # x0, y0, x1, y1 of the outer walls' inner faces
WALL = 0.25  # m, outer walls
INNER = 0.15  # m, room walls
CORRIDOR_Y = (13.7, 16.3)  # east-west corridor
CORRIDOR_X = (18.7, 21.3)  # north-south corridor
ROOM_X = (1.0, 7.0, 13.0, 18.7, 21.3, 27.0, 33.0, 39.0)  # room walls along x (the corridor's sides included)
DOOR = 1.6  # m
STORE = (33.0, 39.0, 16.3, 29.0)  # the north-east room: closed, never mapped
FREE, UNKNOWN, OCCUPIED = 254, 205, 0

# Places the scenario uses (name, kind, x, y): all in free, known floor, clear of furniture.
PLACES = [
    ("room-sw2", "pick", 10.0, 10.5), ("room-sw3", "pick", 15.9, 10.5), ("room-se1", "pick", 24.2, 10.5),
    ("room-se2", "pick", 30.0, 10.5), ("room-nw1", "pick", 4.0, 19.5), ("room-nw2", "pick", 10.0, 19.5),
    ("room-nw3", "pick", 15.9, 19.5), ("room-ne1", "pick", 24.2, 19.5), ("room-ne2", "pick", 30.0, 19.5),
    ("mail-1", "packing", 20.0, 8.0), ("mail-2", "packing", 20.0, 22.0),
    ("park-1", "parking", 3.0, 11.0), ("park-2", "parking", 5.0, 11.0),  # the south-west room is the robots' bay
    ("park-3", "parking", 35.0, 11.0), ("park-4", "parking", 37.0, 11.0),  # and the south-east one
]


def _centres() -> tuple[np.ndarray, np.ndarray]:
    """x of each column's centre and y of each row's centre (row 0 at the bottom)."""
    xs = (np.arange(round(WIDTH / RES)) + 0.5) * RES
    ys = (np.arange(round(HEIGHT / RES)) + 0.5) * RES
    return xs, ys


def _box(xs: np.ndarray, ys: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Cells whose centre lies in [x0, x1] x [y0, y1]: (rows, cols) bool."""
    return ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]


def _doors() -> list[tuple[float, float, float, float]]:
    """Door openings (boxes through the corridor walls): one per room but the storage room."""
    doors = []
    for a, b in itertools.pairwise(ROOM_X):
        if (a, b) == CORRIDOR_X:
            continue
        mid = (a + b) / 2
        doors.append((mid - DOOR / 2, CORRIDOR_Y[0] - 0.5, mid + DOOR / 2, CORRIDOR_Y[0] + 0.1))  # south rooms
        if (a, b) != STORE[:2]:
            doors.append((mid - DOOR / 2, CORRIDOR_Y[1] - 0.1, mid + DOOR / 2, CORRIDOR_Y[1] + 0.5))  # north rooms
    return doors


def make_office(seed: int = 7) -> np.ndarray:
    """The floor as map_saver pixels, (rows, cols) uint8, row 0 at the TOP (image order)."""
    rng = np.random.default_rng(seed)
    xs, ys = _centres()
    bx0, by0, bx1, by1 = BUILDING
    inside = _box(xs, ys, bx0, by0, bx1, by1)
    walls = _box(xs, ys, bx0 - WALL, by0 - WALL, bx1 + WALL, by1 + WALL) & ~inside
    # Corridor walls (both sides of both corridors) and the walls between rooms.
    for y in CORRIDOR_Y:
        cross = _box(xs, ys, CORRIDOR_X[0] + INNER / 2, 0.0, CORRIDOR_X[1] - INNER / 2, HEIGHT)
        walls |= _box(xs, ys, bx0, y - INNER / 2, bx1, y + INNER / 2) & ~cross
    for x in CORRIDOR_X:
        along = _box(xs, ys, 0.0, CORRIDOR_Y[0] + INNER / 2, WIDTH, CORRIDOR_Y[1] - INNER / 2)
        walls |= _box(xs, ys, x - INNER / 2, by0, x + INNER / 2, by1) & ~along
    for x in ROOM_X[1:-1]:
        if x in CORRIDOR_X:
            continue
        walls |= _box(xs, ys, x - INNER / 2, by0, x + INNER / 2, CORRIDOR_Y[0]) | _box(
            xs, ys, x - INNER / 2, CORRIDOR_Y[1], x + INNER / 2, by1)
    for d in _doors():
        walls &= ~_box(xs, ys, *d)
    # Ragged faces: every wall cell next to free floor grows or shrinks by a cell here and there.
    grow = np.zeros_like(walls)
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        grow |= np.roll(walls, (di, dj), axis=(0, 1))
    edge = grow & ~walls & inside
    walls |= edge & (rng.random(walls.shape) < 0.18)
    furniture = np.zeros_like(walls)
    shadow = np.zeros_like(walls)
    rooms = [(a, b, by0, CORRIDOR_Y[0]) for a, b in itertools.pairwise(ROOM_X) if (a, b) != CORRIDOR_X]
    rooms += [(a, b, CORRIDOR_Y[1], by1) for a, b in itertools.pairwise(ROOM_X)
              if (a, b) not in (CORRIDOR_X, STORE[:2])]
    for a, b, y0, y1 in rooms:
        far_y = y0 + 0.2 if y1 == CORRIDOR_Y[0] else y1 - 1.0  # desks along the wall away from the door
        n = int(rng.integers(2, 4))
        span = (b - a - 1.0) / n
        for k in range(n):
            x = a + 0.6 + k * span + float(rng.uniform(0.0, max(span - 1.7, 0.0)))
            furniture |= _box(xs, ys, x, far_y, x + 1.5, far_y + 0.8)
            shadow |= _box(xs, ys, x + 0.1, far_y - 0.15 if y1 == CORRIDOR_Y[0] else far_y + 0.8, x + 1.4,
                           far_y if y1 == CORRIDOR_Y[0] else far_y + 0.95)
            for _ in range(int(rng.integers(0, 3))):  # chairs pushed back from the desk, at odd angles
                cx = x + float(rng.uniform(0.1, 1.2))
                cy = far_y + (0.95 if y1 == CORRIDOR_Y[0] else -0.55) + float(rng.uniform(0.0, 0.25))
                chair = (xs[None, :] - cx - 0.17) ** 2 + (ys[:, None] - cy - 0.17) ** 2 < 0.2 ** 2
                furniture |= chair & ~_box(xs, ys, cx + 0.1, cy + 0.1, cx + 0.24, cy + 0.24)  # a ring: legs, seat edge
        if rng.random() < 0.6:  # a round meeting table off the room's middle
            tx = (a + b) / 2 + float(rng.choice([-1.4, 1.4]))
            ty = y0 + 3.6 if y1 == CORRIDOR_Y[0] else y1 - 3.6
            furniture |= (xs[None, :] - tx) ** 2 + (ys[:, None] - ty) ** 2 < 0.55 ** 2
        side = a + 0.2 if rng.random() < 0.5 else b - 0.8  # a cabinet on one side wall, by the door
        cy = y1 - 2.8 if y1 == CORRIDOR_Y[0] else y0 + 2.0
        furniture |= _box(xs, ys, side, cy, side + 0.6, cy + 0.8)
    for x in (7.0, 13.0, 27.0, 33.0):  # columns where room walls meet the corridor's
        for y in CORRIDOR_Y:
            furniture |= _box(xs, ys, x - 0.2, y - 0.2, x + 0.2, y + 0.2)
    sx0, sx1, sy0, sy1 = STORE
    unexplored = _box(xs, ys, sx0 + INNER, sy0 + INNER, sx1, sy1)
    px = np.full(walls.shape, FREE, dtype=np.int16)
    # Grey noise on a tenth of the free floor (p <= 0.08 < free_thresh: still free); sparse, so the PNG stays small.
    noisy = rng.random(walls.shape) < 0.1
    px[noisy] = rng.choice(np.array([250, 246, 240], dtype=np.int16), size=int(noisy.sum()))
    px[~inside] = UNKNOWN
    px[shadow | unexplored] = UNKNOWN
    occupied = walls | furniture
    near_wall = np.zeros_like(walls)
    for di in range(-3, 4):
        for dj in range(-3, 4):
            near_wall |= np.roll(walls, (di, dj), axis=(0, 1))
    speckle = near_wall & ~occupied & inside & ~unexplored & (rng.random(walls.shape) < 0.03)
    for d in _doors():
        speckle &= ~_box(xs, ys, d[0] - 0.4, d[1] - 0.6, d[2] + 0.4, d[3] + 0.6)  # doorways stay clean
    occupied |= speckle
    outside_blur = ~inside & ~walls & (rng.random(walls.shape) < 0.004)  # a few beams leaked out of windows
    px[outside_blur] = FREE
    px[occupied] = OCCUPIED
    return np.ascontiguousarray(px.astype(np.uint8)[::-1])


def write(out: Path, seed: int) -> Path:
    """Write the PNG and its map YAML; the PNG's path."""
    from PIL import Image

    px = make_office(seed)
    image = out.with_suffix(".png")
    Image.fromarray(px, mode="L").save(image, optimize=True)
    out.write_text(f"# An office floor generated by make_office.py --seed {seed} (SLAM-like; docs/maps.md).\n"
                   f"image: {image.name}\nmode: trinary\nresolution: {RES}\norigin: [0.0, 0.0, 0.0]\n"
                   "negate: 0\noccupied_thresh: 0.65\nfree_thresh: 0.196\n")
    return image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=7, help="the random seed (default 7: the committed map)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("office.yaml"), help="the map YAML to write")
    args = p.parse_args()
    image = write(args.out, args.seed)
    print(f"wrote {args.out} and {image} ({image.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
