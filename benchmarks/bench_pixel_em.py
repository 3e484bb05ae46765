"""Per-pixel batch EM against scikit-learn, and the batch models' quality on the real clips.

Speed (always): 150 training frames of 320x240 (cdnet-highway frames 1-469, spread evenly, or
a generated scene when ../shared/media is absent). gmmbg fits every pixel with the
``pixel_em`` kernel (K=3, diagonal, tol 1e-3, max_iter 100, Numba's default threads); the peer
is a loop of ``sklearn.mixture.GaussianMixture(3, covariance_type="diag", random_state=0)``
fits over ``--pixels`` pixels spread over the frame, extrapolated to all 76800, with its
default threads and with BLAS held to one thread (its fastest setting at this size). Wall
and CPU seconds are both shown: CPU time counts only this process, so it moves less with
the machine's load. gmmbg runs
twice: with scikit-learn's regularisation (variance floor 1e-6, no ceiling; reg_covar adds
1e-6) for a like-for-like fit and log-likelihood, and with PixelGMM's defaults (variances
within [256, 400]: a constrained fit, so a lower log-likelihood by design). The log-likelihood
is the mean per value, averaged over the sampled pixels (and over all pixels for gmmbg).

Quality (``--quality``, a few minutes): every figure the tests check on a subset, on every
frame. cdnet-highway: batch models trained on 200 frames spread over frames 1-469 (the CLI
default), OpenCV MOG2 and KNN (default parameters, BGR) fed the whole clip; CDnet F-measure
over all of frames 470-1700 with ROI.bmp; AGE of each background against the per-pixel
median of frames 470-1700 where the ground truth is static. Wallflower WavingTrees and
TimeOfDay (train 0-199, evaluate the ground-truth frame), and the seed traffic checks.

    python benchmarks/bench_pixel_em.py [--pixels 200] [--rounds 3] [--quality]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numba
import numpy as np
from scenes import moving_blocks  # benchmarks/ is on the path when run as a script

from gmmbg import media, metrics, pipeline
from gmmbg.background import model_class
from gmmbg.background.pixel_gmm import PixelGMM
from gmmbg.kernels.pixel_em import pixel_em

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
HIGHWAY = MEDIA / "cdnet-highway"
BATCH = ("gmm", "mean", "median", "kmeans")


def training_stack(n: int = 150) -> tuple[np.ndarray, str]:
    """``(T, H*W, 3)`` uint8: highway frames 1-469 spread evenly, or a generated scene."""
    if (HIGHWAY / "input").is_dir():
        indices = pipeline.training_indices(469, None, n)
        frames = list(media.iter_frames(HIGHWAY / "input", indices))
        source = "cdnet-highway frames 1-469"
    else:
        frames = moving_blocks(n)
        source = "generated moving blocks"
    stack = np.stack(frames)
    return stack.reshape(len(frames), -1, 3), f"{source}, {stack.shape[2]}x{stack.shape[1]}"


def fit_gmmbg(stack: np.ndarray, var_min: float, var_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel EM over the whole stack; returns (mean log-likelihood, iterations) per pixel."""
    _, p, c = stack.shape
    ll, n_iter = np.empty(p), np.empty(p, np.int64)
    pixel_em(
        stack, False, var_min, var_max, 1e-3, 100, 10,
        np.empty((p, 3)), np.empty((p, 3, c)), np.empty((p, 3, c)), n_iter, ll,
        np.empty((p, c)),
    )  # fmt: skip
    return ll, n_iter


def timed(function, *args):
    """``function(*args)`` and the (wall, CPU) seconds it took; CPU time counts every thread
    of this process and only this process, so it barely moves with the machine's load."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, np.array([time.perf_counter() - wall, time.process_time() - cpu])


def fit_sklearn(stack: np.ndarray, pixels: np.ndarray, blas_threads: int | None) -> np.ndarray:
    """The mean log-likelihood per value of a GaussianMixture fit of each of ``pixels``, with
    BLAS on ``blas_threads`` threads (None: the default)."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    scores = []
    with warnings.catch_warnings(), threadpool_limits(blas_threads):
        warnings.simplefilter("ignore")  # ConvergenceWarning on a few pixels
        for p in pixels:
            x = stack[:, p, :].astype(np.float64)
            model = GaussianMixture(3, covariance_type="diag", random_state=0).fit(x)
            scores.append(model.score(x))
    return np.array(scores)


def speed(n_pixels: int, rounds: int) -> None:
    """Rounds alternate gmmbg's fits with a share of scikit-learn's sample, so both see the
    same machine load; ratios are taken per round and their median reported.

    scikit-learn runs twice: with its default threads, and with BLAS on one thread (on
    150 x 3 matrices extra BLAS threads mostly spin; in a standalone run the default was 3.5x
    slower, here the gap varies with the load).
    """
    stack, source = training_stack()
    t, p, _ = stack.shape
    pixels = np.linspace(0, p - 1, n_pixels).round().astype(int)
    print(f"per-pixel EM, K=3 diag: {t} frames of {source}; {numba.get_num_threads()} threads")
    fit_gmmbg(np.ascontiguousarray(stack[:, :64]), 1.0, np.inf)  # compile, untimed
    fit_sklearn(stack, pixels[:2], None)  # imports, untimed
    gmmbg = {
        "gmmbg, variance >= 1e-6": (1e-6, np.inf),
        "gmmbg, PixelGMM's [256, 400]": (256.0, 400.0),
    }
    sklearn = {"scikit-learn, default threads": None, "scikit-learn, BLAS on 1 thread": 1}
    seconds = {label: [] for label in (*gmmbg, *sklearn)}
    scores = {label: [] for label in sklearn}
    fits = {}
    for r in range(rounds):
        for label, var_range in gmmbg.items():
            fits[label], spent = timed(fit_gmmbg, stack, *var_range)
            seconds[label].append(spent)
        share = pixels[r::rounds]
        for label, threads in sklearn.items():
            result, spent = timed(fit_sklearn, stack, share, threads)
            seconds[label].append(spent / len(share) * p)  # extrapolated to the frame
            scores[label].append(result)
    sample = np.concatenate([pixels[r::rounds] for r in range(rounds)])
    print(f"{'':31} {'wall s':>8} {'CPU s':>7}   mean log-lik: sample     all")
    for label, times in seconds.items():
        wall, cpu = np.median(times, axis=0)
        if label in sklearn:
            print(f"{label:31} {wall:8.1f} {cpu:7.1f} {np.concatenate(scores[label]).mean():20.4f}")
        else:
            ll, n_iter = fits[label]
            print(f"{label:31} {wall:8.2f} {cpu:7.2f} {ll[sample].mean():20.4f} {ll.mean():8.4f}"
                  f"   ({n_iter.mean():.1f} EM iterations per pixel)")  # fmt: skip
    print(f"ratios, scikit-learn / gmmbg (wall, CPU), medians of the {rounds} rounds:")
    for label in gmmbg:
        cells = []
        for peer in sklearn:
            ratio = np.median(np.array(seconds[peer]) / np.array(seconds[label]), axis=0)
            cells.append(f"{ratio[0]:.0f}x, {ratio[1]:.0f}x vs {peer.split(', ')[1]}")
        print(f"  {label:29} " + "; ".join(cells))
    print(f"(scikit-learn fitted {n_pixels} pixels in all, extrapolated to {p})")


def f_measure(counts: np.ndarray) -> float:
    return metrics.cdnet_scores(counts)["f_measure"]


def static_median(frames: np.ndarray, truth: np.ndarray, rows: int = 16) -> np.ndarray:
    """Per-pixel median over time of ``frames`` ``(T, H, W, C)`` where ``truth`` is static."""
    out = np.zeros(frames.shape[1:])
    for r in range(0, frames.shape[1], rows):
        block = frames[:, r : r + rows].astype(np.float32)
        block[truth[:, r : r + rows] != metrics.STATIC] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a pixel never static: all-NaN
            out[r : r + rows] = np.nan_to_num(np.nanmedian(block, axis=0))
    return out


def highway_quality() -> None:
    import cv2

    first, last = metrics.read_temporal_roi(HIGHWAY / "temporalROI.txt")
    roi = media.read_image(HIGHWAY / "ROI.bmp")
    train = pipeline.training_indices(last, slice(0, first - 1))
    frames = list(media.iter_frames(HIGHWAY / "input", train))
    models = {name: model_class(name)().fit(frames) for name in BATCH}
    opencv = {
        "opencv-mog2": cv2.createBackgroundSubtractorMOG2(),
        "opencv-knn": cv2.createBackgroundSubtractorKNN(),
    }
    counts = {name: np.zeros(4, np.int64) for name in (*models, *opencv)}
    scored, truths = [], []
    mask = np.empty(frames[0].shape[:2], np.uint8)
    for index, frame in enumerate(media.iter_frames(HIGHWAY / "input", slice(0, last))):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        online = {name: sub.apply(bgr) for name, sub in opencv.items()}
        if index < first - 1:
            continue
        truth = media.read_image(HIGHWAY / "groundtruth" / f"gt{index + 1:06d}.png")
        truth = truth if truth.ndim == 2 else truth[..., 0]
        scored.append(frame)
        truths.append(truth)
        for name, model in models.items():
            counts[name] += metrics.confusion_counts(model.apply(frame, out=mask), truth, roi)
        for name, result in online.items():
            counts[name] += metrics.confusion_counts(result, truth, roi)
    print(f"\ncdnet-highway, F-measure over all {len(scored)} scored frames (ROI.bmp, CDnet rules)")
    for name, c in counts.items():
        s = metrics.cdnet_scores(c)
        print(f"  {name:12} F {s['f_measure']:.4f}  recall {s['recall']:.3f}  "
              f"precision {s['precision']:.3f}  PWC {s['pwc']:.2f}")  # fmt: skip

    scored, truths = np.stack(scored), np.stack(truths)
    true_bg = static_median(scored, truths)
    static = (truths == metrics.STATIC).any(axis=0)
    print("\ncdnet-highway, AGE against the median of the static values of frames 470-1700")
    for name, sub in opencv.items():
        bg = cv2.cvtColor(sub.getBackgroundImage(), cv2.COLOR_BGR2RGB)
        error = metrics.age(bg, true_bg, static)
        print(f"  {name:12} {'after the whole clip':32} AGE {error:.4f}")
    for window, span in (("frames 470-1700", slice(first - 1, last)), ("the whole clip", None)):
        indices = pipeline.training_indices(last, span)
        frames = list(media.iter_frames(HIGHWAY / "input", indices))
        for name in BATCH:
            bg = model_class(name)().fit(frames).background_image()
            label = f"200 frames over {window}"
            print(f"  {name:12} {label:32} AGE {metrics.age(bg, true_bg, static):.4f}")


def wallflower_quality() -> None:
    import cv2

    print("\nWallflower (train 0-199, evaluate the ground-truth frame): F-measure, FP + FN")
    for clip, gt_frame in (("WavingTrees", 247), ("TimeOfDay", 1850)):
        folder = MEDIA / "wallflower" / clip
        truth = media.read_image(folder / f"hand_segmented_{gt_frame:05d}.BMP")
        truth = metrics.truth_from_binary(truth)
        frames = list(media.iter_frames(folder / f"{clip}.mp4", slice(0, gt_frame + 1)))
        masks = {
            name: model_class(name)().fit(frames[:200]).apply(frames[gt_frame]) for name in BATCH
        }
        for name, factory in (("opencv-mog2", cv2.createBackgroundSubtractorMOG2),
                              ("opencv-knn", cv2.createBackgroundSubtractorKNN)):  # fmt: skip
            sub = factory()
            for frame in frames:
                result = sub.apply(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            masks[name] = result
        cells = []
        for name, mask in masks.items():
            c = metrics.confusion_counts(mask, truth)
            cells.append(f"{name} {f_measure(c):.3f} ({c[1] + c[2]})")
        print(f"  {clip:11} " + "  ".join(cells))


def seed_quality() -> None:
    clip = MEDIA / "seed-traffic"
    frames = list(media.iter_frames(clip / "traffic.mp4"))
    reference = list(media.iter_frames(clip / "reference" / "mean_l2_masks.gif"))
    model = model_class("mean")(threshold=100).fit(frames)
    agree = np.mean(
        [
            (model.apply(f) == 255) == (r[..., 0] > 127)
            for f, r in zip(frames, reference, strict=True)
        ]
    )
    print(f"\nseed traffic: FrameAverage(threshold=100) vs mean_l2_masks.gif: {agree:.5f} agree")
    frames = list(media.iter_frames(clip / "traffic.avi"))
    reference = media.read_image(clip / "reference" / "gmm2_background.png").astype(float)
    joint = PixelGMM(2).fit(frames).background_image()
    channels = [PixelGMM(2, var_min=1.0, var_max=np.inf).fit([f[..., c] for f in frames])
                for c in range(3)]  # fmt: skip
    per_channel = np.stack([m.background_image() for m in channels], axis=2)
    joint_mae = np.abs(joint - reference).mean()
    channel_mae = np.abs(per_channel - reference).mean()
    print(
        f"seed traffic: gmm2_background.png MAE: PixelGMM(2) {joint_mae:.3f}, "
        f"per channel with var_min 1 {channel_mae:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pixels", type=int, default=200, help="pixels scikit-learn fits")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    parser.add_argument("--quality", action="store_true", help="also the real-clip figures")
    args = parser.parse_args()
    speed(args.pixels, args.rounds)
    if args.quality:
        if not HIGHWAY.is_dir():
            raise SystemExit(f"--quality needs {MEDIA}")
        highway_quality()
        wallflower_quality()
        seed_quality()


if __name__ == "__main__":
    main()
