"""gmmbg's segmentation vs scikit-learn's GaussianMixture on two real images.

Both fit a full-covariance mixture with k=5 (tol 1e-3, max_iter 100, seed 0) and label every
pixel; the time is fit + labels. gmmbg fits the distinct colours weighted by their counts,
scikit-learn every pixel. Numba compile time is excluded (a warm-up run comes first).
gmmbg's time is the median of REPEATS runs (it is short, so one scheduler hiccup on a busy
machine would dominate a single run); scikit-learn's is one run.

    python benchmarks/bench_segment.py [PLANT_CELLS_2.jpeg]

Targets (issue 2): >= 20x faster on astronaut, >= 50x on plant_cells_2, with a mean
log-likelihood per pixel no lower than scikit-learn's minus 0.01 nats.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numba
import numpy as np
from skimage import data
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from gmmbg.segmentation import distinct_colours, segment_image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PLANT = REPO / ".." / "shared" / "media" / "seed-images" / "plant_cells_2.jpeg"
SETTINGS = dict(covariance_type="full", tol=1e-3, max_iter=100, random_state=0)
K = 5
REPEATS = 5


def bench_gmmbg(image):
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = segment_image(image, K, **SETTINGS)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), result.mean_log_likelihood, result.n_iter


def bench_sklearn(image):
    pixels = image.reshape(-1, image.shape[2]).astype(np.float64)
    start = time.perf_counter()
    model = SklearnGaussianMixture(K, **SETTINGS).fit(pixels)
    model.predict(pixels)
    seconds = time.perf_counter() - start
    return seconds, model.score(pixels), model.n_iter_


def main() -> None:
    plant = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PLANT
    images = {"astronaut": data.astronaut(), plant.name: iio.imread(plant)}
    segment_image(
        np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), K, **SETTINGS
    )
    print(
        f"full covariance, k={K}, tol={SETTINGS['tol']}, max_iter={SETTINGS['max_iter']}, "
        f"seed 0; time = fit + label every pixel; Numba compile time excluded (warm-up run "
        f"first); gmmbg: median of {REPEATS} runs, {numba.get_num_threads()} Numba threads; "
        "scikit-learn: one run"
    )
    header = (
        f"{'image':<20} {'pixels':>9} {'colours':>8} {'gmmbg s':>8} {'sklearn s':>9} "
        f"{'speed-up':>8} {'gmmbg LL':>10} {'sklearn LL':>10} {'LL diff':>8} {'iters':>7}"
    )
    print(header)
    for name, image in images.items():
        n_colours = distinct_colours(image)[0].shape[0]
        ours, ours_ll, ours_iter = bench_gmmbg(image)
        theirs, theirs_ll, theirs_iter = bench_sklearn(image)
        print(
            f"{name:<20} {image.shape[0] * image.shape[1]:>9} {n_colours:>8} {ours:>8.3f} "
            f"{theirs:>9.2f} {theirs / ours:>7.1f}x {ours_ll:>10.4f} {theirs_ll:>10.4f} "
            f"{ours_ll - theirs_ll:>+8.4f} {ours_iter:>3}/{theirs_iter:<3}"
        )
    print(
        "LL: mean log-likelihood per pixel (nats); LL diff = gmmbg - scikit-learn; "
        "iters: EM iterations gmmbg/scikit-learn"
    )


if __name__ == "__main__":
    main()
