"""Make gmmbg's sample media: a colour image to segment and a street video with exact truth.

    python sample_media/make_samples.py [--out DIR]     (default DIR: this script's folder)

Writes, deterministically (fixed seed; numpy and imageio only):

- ``flowers.png``: 256x192 RGB. Five colour classes (sky, foliage, red, yellow and violet
  flowers) with texture and noise: made for ``gmmbg segment flowers.png -k 5``.
- ``street.gif``: 160x120 RGB, 120 frames, 10 fps. A textured static scene (brick wall with
  windows, sidewalk, road with a dashed lane marking, grass) with independent noise in every
  frame (each pixel's brightness moves by -2..2 steps of its colour's 16-step ramp, standard
  deviation 0.7 step: at most ``MAX_NOISE`` = 14 grey values per channel); a tree whose
  canopy pixels flip between three leaf colours (a multi-modal background, like swaying
  leaves); from frame 31 on, cars in both lanes, a pedestrian and a ball crossing at
  different speeds, entering and leaving the frame. Frames 1-30 hold no moving object
  (warm-up).
- ``street-groundtruth/000001.png ...``: one uint8 gray mask per frame, 1-based like CDnet's:
  255 where a moving object covers the pixel, 0 elsewhere (the tree is background).
- ``street-groundtruth/temporalROI.txt``: ``31 120``, the frames to score, CDnet style.
- ``street-background.png``: the exact noise-free background; in the tree, the leaf colour
  each pixel shows most often.

Every frame is built from one fixed 256-colour palette, so the GIF encoder's palette
quantisation keeps every colour: ``imageio.v3.imread("street.gif")[..., :3]`` equals the
frames made here exactly (the script decodes the GIF and checks this before writing). Files
are encoded in memory and written only when their bytes change, so a rerun leaves identical
files untouched.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np

SEED = 20240611
WIDTH, HEIGHT = 160, 120
N_FRAMES = 120
FPS = 10
WARMUP = 30  # frames 1..WARMUP hold no moving object
FLOWERS_SIZE = (192, 256)  # (H, W)

# --- palette: 16 colour families x 16 brightness levels ------------------------------------
# Colour index = 16 * family + level; level l scales the family's colour by 0.6 + 0.027 l.
# Noise moves a pixel by a level or two, i.e. a few grey values, never to another family.
N_LEVELS = 16
MAX_NOISE = 14  # 2 levels of the brightest colour, 246 * 2 * 0.027 = 13.3, after rounding
FAMILIES = {
    "asphalt": (118, 118, 122),
    "marking": (236, 232, 214),
    "sidewalk": (196, 178, 150),
    "grass": (86, 150, 64),
    "brick": (170, 84, 60),
    "mortar": (190, 186, 176),
    "window": (60, 84, 120),
    "leaf_dark": (34, 100, 40),
    "leaf_light": (120, 180, 70),
    "leaf_sun": (200, 204, 96),
    "trunk": (96, 70, 46),
    "car_red": (210, 30, 36),
    "car_blue": (36, 80, 210),
    "car_yellow": (240, 200, 30),
    "car_white": (246, 246, 246),
    "dark": (34, 34, 40),
}
FAMILY = {name: i for i, name in enumerate(FAMILIES)}
LEAF_FAMILIES = ("leaf_dark", "leaf_light", "leaf_sun")  # leaf_dark is the commonest
OBJECT_LEVEL = 11  # moving objects are drawn at this level (plus noise)


def palette() -> np.ndarray:
    """The street video's colours: uint8 (256, 3), entry 16 * family + level."""
    base = np.array(list(FAMILIES.values()), dtype=np.float64)  # (16, 3)
    scale = 0.6 + 0.027 * np.arange(N_LEVELS)  # (16,)
    colours = base[:, None, :] * scale[None, :, None]  # (family, level, 3)
    return np.clip(np.rint(colours), 0, 255).astype(np.uint8).reshape(256, 3)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth random texture in [0, 1], float64 ``shape``: bilinear upsampling of a coarse grid.

    Only +, * and floor: bit-identical on every platform.
    """
    h, w = shape
    coarse = rng.random((h // cell + 2, w // cell + 2))
    y = np.arange(h) / cell
    x = np.arange(w) / cell
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    c00 = coarse[y0][:, x0]
    c01 = coarse[y0][:, x0 + 1]
    c10 = coarse[y0 + 1][:, x0]
    c11 = coarse[y0 + 1][:, x0 + 1]
    return (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy


# --- the street scene ---------------------------------------------------------------------
ROWS = {"wall": (0, 36), "sidewalk": (36, 46), "road": (46, 92), "grass": (92, HEIGHT)}
LANES = {"east": (49, 64), "west": (72, 87)}  # rows of the car bodies, top..bottom exclusive
TREE_CENTRE, TREE_RADIUS = (24, 128), 17  # (row, col)

# (lane, colour, length, speed in pixels per frame, first frame it moves, 1-based)
CARS = [
    ("east", "car_red", 30, 3.0, 31),
    ("west", "car_blue", 34, 2.0, 36),
    ("east", "car_white", 26, 4.5, 62),
    ("west", "car_yellow", 28, 2.8, 80),
    ("east", "dark", 32, 2.5, 92),
]
# (colour, radius, start (row, col), velocity (rows, cols) per frame, first frame)
BALL = ("car_yellow", 5, (118.0, 10.0), (-0.45, 1.6), 44)
# (colour, height, width, row of the top, speed, first frame)
PEDESTRIAN = ("car_red", 11, 5, 33, -0.8, 40)


def background_levels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The static scene: family (H, W) uint8 and level (H, W) int64 of every pixel."""
    family = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    level = np.rint(3 + 9 * smooth_field(rng, (HEIGHT, WIDTH), 12)).astype(np.int64)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]

    top, bottom = ROWS["wall"]
    wall = rows < bottom
    family[wall] = FAMILY["brick"]
    # Bricks 12x5 with 1-pixel mortar, every other course offset by half a brick.
    course = rows // 5
    mortar = wall & ((rows % 5 == 4) | ((cols + 6 * (course % 2)) % 12 == 11))
    family[mortar] = FAMILY["mortar"]
    level[wall & ~mortar] += ((course * 7 + (cols + 6 * (course % 2)) // 12 * 5) % 5 - 2)[
        wall & ~mortar
    ]
    for c0 in (10, 46, 82):  # windows
        family[6:26, c0 : c0 + 18] = FAMILY["window"]
        family[6:26, c0 + 8 : c0 + 10] = FAMILY["mortar"]  # the frame's middle bar

    top, bottom = ROWS["sidewalk"]
    walk = (rows >= top) & (rows < bottom)
    family[walk] = FAMILY["sidewalk"]
    level[walk & ((cols % 16 == 0) | (rows == top))] -= 4  # paving joints, kerb

    top, bottom = ROWS["road"]
    road = (rows >= top) & (rows < bottom)
    family[road] = FAMILY["asphalt"]
    level[road] += rng.integers(-2, 3, size=level.shape)[road]  # grainy asphalt
    dash = road & (rows >= 67) & (rows < 69) & (cols % 20 < 11)
    family[dash] = FAMILY["marking"]

    grass = rows >= ROWS["grass"][0]
    family[grass] = FAMILY["grass"]
    level[grass] += (rng.random(level.shape) < 0.2)[grass] * 3  # blades

    trunk = (rows >= 30) & (rows < 46) & (np.abs(cols - TREE_CENTRE[1]) <= 2)
    family[trunk] = FAMILY["trunk"]
    family[tree_mask()] = FAMILY[LEAF_FAMILIES[0]]
    return family, np.clip(level, 0, N_LEVELS - 1)


def tree_mask() -> np.ndarray:
    """The waving canopy: bool (H, W)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    dy, dx = rows - TREE_CENTRE[0], cols - TREE_CENTRE[1]
    return 4 * dy * dy + 3 * dx * dx <= 4 * TREE_RADIUS * TREE_RADIUS


def leaf_families(rng: np.random.Generator) -> np.ndarray:
    """Leaf colour family of every canopy pixel in every frame: uint8 (N_FRAMES, n_canopy).

    Each 4x4 clump cycles with its own period (7-12 frames) and phase, its pixels nearly in
    step as leaves move together: over a cycle, 4/7 to 7/11 of the time dark (always the
    commonest colour), the rest light or sunlit. Integer
    arithmetic only, so the result is the same on every platform.
    """
    rows, cols = np.nonzero(tree_mask())
    block = rows // 4 * 5 + cols // 4 * 3  # 4x4 clumps of leaves
    period = 7 + block % 6
    phase = block + rng.integers(0, 3, size=rows.size)
    t = np.arange(N_FRAMES)[:, None]
    step = ((t + phase) % period) * 20 // period  # 0..19: the position within the cycle
    mode = (step >= 11).astype(np.uint8) + (step >= 16)
    return np.array([FAMILY[f] for f in LEAF_FAMILIES], dtype=np.uint8)[mode]


def car_silhouette(length: int, height: int) -> np.ndarray:
    """Where a car is: bool (height, length), a box with its corners cut."""
    body = np.ones((height, length), dtype=bool)
    for r, c in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        body[r, c] = False
    body[0, [1, -2]] = False
    body[:4, : length // 6] = False  # bonnet and boot are lower than the cabin
    body[:4, length - length // 6 :] = False
    return body


def car_family(colour: str, length: int, height: int) -> np.ndarray:
    """The car's colour families: uint8 (height, length)."""
    fam = np.full((height, length), FAMILY[colour], dtype=np.uint8)
    fam[4:8, length // 4 : length - length // 4] = FAMILY["window"]
    for c in (length // 6, length - length // 6 - 4):  # wheels
        fam[height - 3 :, c : c + 4] = FAMILY["dark"]
    return fam


def paste(
    family: np.ndarray, truth: np.ndarray, sprite: np.ndarray, shape: np.ndarray, r: int, c: int
) -> None:
    """Draw ``sprite`` (families) where ``shape`` is true, top-left at (r, c), clipped."""
    h, w = shape.shape
    r0, r1, c0, c1 = max(r, 0), min(r + h, HEIGHT), max(c, 0), min(c + w, WIDTH)
    if r0 >= r1 or c0 >= c1:
        return
    cut = shape[r0 - r : r1 - r, c0 - c : c1 - c]
    family[r0:r1, c0:c1][cut] = sprite[r0 - r : r1 - r, c0 - c : c1 - c][cut]
    truth[r0:r1, c0:c1][cut] = 255


def draw_objects(family: np.ndarray, truth: np.ndarray, frame: int) -> None:
    """Draw the moving objects of 1-based ``frame`` into ``family`` and ``truth`` (H, W)."""
    for lane, colour, length, speed, first in CARS:
        if frame < first:
            continue
        top, bottom = LANES[lane]
        moved = math.floor((frame - first + 1) * speed)
        col = -length + moved if lane == "east" else WIDTH - moved
        shape = car_silhouette(length, bottom - top)
        paste(family, truth, car_family(colour, length, bottom - top), shape, top, col)

    colour, radius, (r0, c0), (vr, vc), first = BALL
    if frame >= first:
        r = math.floor(r0 + vr * (frame - first))
        c = math.floor(c0 + vc * (frame - first))
        dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        shape = dy * dy + dx * dx <= radius * radius
        sprite = np.full(shape.shape, FAMILY[colour], dtype=np.uint8)
        paste(family, truth, sprite, shape, r - radius, c - radius)

    colour, height, width, top, speed, first = PEDESTRIAN
    if frame >= first:
        col = WIDTH + math.floor(speed * (frame - first))
        shape = np.ones((height, width), dtype=bool)
        shape[:3, [0, -1]] = False  # a head on shoulders
        sprite = np.full(shape.shape, FAMILY[colour], dtype=np.uint8)
        sprite[:3] = FAMILY["marking"]  # face
        sprite[7:] = FAMILY["car_blue"]  # trousers
        paste(family, truth, sprite, shape, top, col)


def make_street(seed: int = SEED) -> dict[str, np.ndarray]:
    """The street video and its truth.

    Returns
    -------
    dict with ``frames`` uint8 (N_FRAMES, H, W, 3), ``truth`` uint8 (N_FRAMES, H, W) (0 or
    255), ``background`` uint8 (H, W, 3) and ``waving`` bool (H, W), the tree's canopy.
    """
    rng = np.random.default_rng(seed)
    bg_family, bg_level = background_levels(rng)
    leaves = leaf_families(rng)
    canopy = tree_mask()
    colours = palette()

    indices = np.empty((N_FRAMES, HEIGHT, WIDTH), dtype=np.uint8)
    truth = np.zeros((N_FRAMES, HEIGHT, WIDTH), dtype=np.uint8)
    # Sensor noise: -2..2 levels, most pixels within one level.
    noise = np.clip(np.rint(rng.normal(0.0, 0.7, size=indices.shape)), -2, 2).astype(np.int64)
    for i in range(N_FRAMES):
        family = bg_family.copy()
        family[canopy] = leaves[i]
        draw_objects(family, truth[i], i + 1)
        level = np.where(truth[i] > 0, OBJECT_LEVEL, bg_level)  # objects are evenly lit
        level = np.clip(level + noise[i], 0, N_LEVELS - 1)
        indices[i] = family.astype(np.int64) * N_LEVELS + level
    return {
        "frames": colours[indices],
        "truth": truth,
        "background": colours[bg_family.astype(np.int64) * N_LEVELS + bg_level],
        "waving": canopy,
    }


# --- the flowers image --------------------------------------------------------------------
FLOWER_COLOURS = {
    "sky": (150, 196, 236),
    "foliage": (52, 110, 46),
    "red": (206, 38, 52),
    "yellow": (242, 204, 48),
    "violet": (128, 70, 176),
}


def make_flowers(seed: int = SEED) -> np.ndarray:
    """A meadow with flowers: uint8 (192, 256, 3), five colour classes plus texture and noise."""
    rng = np.random.default_rng(seed + 1)
    h, w = FLOWERS_SIZE
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    horizon = 44 + 10 * smooth_field(rng, (1, w), 40)[0]  # a hilly skyline
    label = np.where(rows < horizon[None, :], 0, 1)  # 0 sky, 1 foliage

    petal_classes = (2, 3, 4)  # red, yellow, violet
    for _ in range(14):
        cy, cx = rng.uniform(60, h - 12), rng.uniform(12, w - 12)
        size = rng.uniform(9, 17)
        cls = petal_classes[rng.integers(0, 3)]
        turn = rng.uniform(0, 2 * math.pi / 5)
        for k in range(5):
            a = turn + 2 * math.pi * k / 5
            ca, sa = math.cos(a), math.sin(a)
            py, px = cy + 0.6 * size * sa, cx + 0.6 * size * ca
            u = (cols - px) * ca + (rows - py) * sa  # along the petal
            v = -(cols - px) * sa + (rows - py) * ca  # across it
            label[(u * u) / (0.55 * size) ** 2 + (v * v) / (0.28 * size) ** 2 <= 1] = cls
        centre = (rows - cy) ** 2 + (cols - cx) ** 2 <= (0.22 * size) ** 2
        label[centre] = 3 if cls != 3 else 2  # a contrasting heart

    base = np.array(list(FLOWER_COLOURS.values()), dtype=np.float64)[label]
    shade = 0.8 + 0.35 * smooth_field(rng, (h, w), 16)  # light and shadow
    veins = 6.0 * ((rows.astype(np.int64) + 2 * cols.astype(np.int64)) % 7 < 2)  # fine texture
    image = base * shade[:, :, None] - veins[:, :, None] + rng.normal(0.0, 6.0, base.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --- writing ------------------------------------------------------------------------------
def encode_png(image: np.ndarray) -> bytes:
    return iio.imwrite("<bytes>", image, extension=".png")


def encode_gif(frames: np.ndarray) -> bytes:
    """A looping GIF of RGB frames (N, H, W, 3), each of at most 256 colours: lossless."""
    return iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 // FPS, loop=0)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds exactly that; True if written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def check_gif(data: bytes, frames: np.ndarray) -> None:
    """Fail loudly unless the GIF decodes to exactly ``frames`` (N, H, W, 3)."""
    decoded = iio.imread(io.BytesIO(data), index=None, extension=".gif")[..., :3]
    if decoded.shape != frames.shape or not np.array_equal(decoded, frames):
        raise RuntimeError("street.gif does not decode to the frames made: palette mismatch")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output folder"
    )
    out = parser.parse_args(argv).out
    truth_dir = out / "street-groundtruth"
    truth_dir.mkdir(parents=True, exist_ok=True)

    street = make_street()
    gif = encode_gif(street["frames"])
    check_gif(gif, street["frames"])
    files = {
        out / "flowers.png": encode_png(make_flowers()),
        out / "street.gif": gif,
        out / "street-background.png": encode_png(street["background"]),
        truth_dir / "temporalROI.txt": f"{WARMUP + 1} {N_FRAMES}\n".encode("ascii"),
    }
    for i, mask in enumerate(street["truth"], start=1):
        files[truth_dir / f"{i:06d}.png"] = encode_png(mask)
    for stale in set(truth_dir.glob("*.png")) - set(files):
        stale.unlink()  # masks of frames the video no longer has
    written = [path for path, data in files.items() if write_if_changed(path, data)]
    print(f"{out}: {len(written)} of {len(files)} files written, the rest already up to date")


if __name__ == "__main__":
    main()
