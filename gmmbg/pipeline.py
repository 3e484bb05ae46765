"""The steps of the per-video jobs: choose frames, train, stream masks, extract.

``gmmbg.jobs`` (one function per command) and ``gmmbg.compare`` build on these, so every
entry point runs the same code on a video. Frames are streamed from ``gmmbg.media``;
only a batch model's training frames are ever held together.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from gmmbg import media
from gmmbg.background import METHODS, model_class

# Batch models hold their training frames in memory: at most this many by default.
MAX_TRAINING_FRAMES = 200

Progress = Callable[[Iterable, int, str], Iterable]


def no_progress(items: Iterable, total: int, description: str) -> Iterable:
    """A progress reporter that reports nothing."""
    return items


# Command-line spellings of the model parameters whose flag is not "--" + their name.
_FLAGS = {"n_components": "-k", "detect_shadows": "--shadows/--no-shadows"}


def build_model(method: str, **options):
    """The background model for ``method``, given the options the user set (None = default).

    An option the method does not take is ignored with a warning, so one command line can
    switch methods without editing every flag.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    cls = model_class(method)
    accepted = inspect.signature(cls).parameters
    given = {name: value for name, value in options.items() if value is not None}
    for name in sorted(set(given) - set(accepted)):
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        warnings.warn(f"{flag} has no effect with --method {method}", stacklevel=2)
    return cls(**{name: value for name, value in given.items() if name in accepted})


def frame_range(n_frames: int, frames: slice | None, flag: str = "--frames") -> range:
    """The 0-based frame indices ``frames`` selects from a clip of ``n_frames`` (all if None)."""
    chosen = range(n_frames)[frames] if frames is not None else range(n_frames)
    if len(chosen) == 0:
        raise ValueError(f"{flag} selects no frames of this {n_frames}-frame video")
    return chosen


def training_indices(
    n_frames: int, train: slice | None = None, max_frames: int = MAX_TRAINING_FRAMES
) -> list[int]:
    """0-based indices of the training frames: ``train`` (default: the whole clip), thinned to
    at most ``max_frames`` spread evenly over it."""
    chosen = frame_range(n_frames, train, "--train")
    if len(chosen) > max_frames:
        picks = np.unique(np.linspace(0, len(chosen) - 1, max_frames).round().astype(int))
        chosen = [chosen[i] for i in picks]
    return list(chosen)


class Counted:
    """``items`` that say how many they are (``operator.length_hint``), so that a batch model
    allocates its training stack once instead of growing it (``pixel_gmm.stack_frames``)."""

    def __init__(self, items: Iterable, count: int) -> None:
        self.items = items
        self.count = count

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __length_hint__(self) -> int:
        return self.count


def train(model, path: Path, indices: list[int], progress: Progress = no_progress):
    """Fit a batch model on the frames ``indices`` of the video at ``path``; returns it."""
    frames = media.iter_frames(path, indices)
    model.fit(Counted(progress(frames, len(indices), "training"), len(indices)))
    return model


def stream_masks(
    model, path: Path, frames: slice | None = None, n_frames: int | None = None,
    progress: Progress = no_progress, learning_rate: float = -1,
) -> Iterator[np.ndarray]:  # fmt: skip
    """Yield the uint8 ``(H, W)`` mask of each frame in ``frames`` (default: all), in order.

    An online model sees every frame up to the last one asked for, since it learns as it goes;
    a batch model reads only the frames asked for. The yielded array is reused for the next
    frame: consume (write) it before asking for the next. ``learning_rate`` goes to
    ``model.apply`` (online models; batch models ignore it).
    """
    n_frames = n_frames if n_frames is not None else media.probe_video(path).n_frames
    wanted = frame_range(n_frames, frames)
    wanted_set = set(wanted)
    read = list(wanted) if model.needs_training else range(wanted[-1] + 1)
    mask = None
    decoded = media.iter_frames(path, read)
    # strict=False: a container may claim more frames than its decoder gives.
    for index, frame in zip(read, progress(decoded, len(read), "subtracting"), strict=False):
        mask = model.apply(frame, learning_rate=learning_rate, out=mask)
        if index in wanted_set:
            yield mask


def background_frames(
    model, n_frames: int, frames: slice | None = None,
    max_training_frames: int = MAX_TRAINING_FRAMES,
) -> Sequence[int]:  # fmt: skip
    """The 0-based frames :func:`extract_background` learns from: ``frames`` thinned to
    ``max_training_frames`` for a batch model, every frame of ``frames`` for an online one."""
    if model.needs_training:
        return training_indices(n_frames, frames, max_training_frames)
    return frame_range(n_frames, frames)


def extract_background(
    model, path: Path, frames: slice | None = None, n_frames: int | None = None,
    max_training_frames: int = MAX_TRAINING_FRAMES, progress: Progress = no_progress,
) -> np.ndarray:  # fmt: skip
    """The background image of the video: uint8 ``(H, W, 3)``.

    A batch model is fitted on ``frames`` thinned to ``max_training_frames``; an online model
    learns from every frame of ``frames`` in order (:func:`background_frames`).
    """
    n_frames = n_frames if n_frames is not None else media.probe_video(path).n_frames
    chosen = background_frames(model, n_frames, frames, max_training_frames)
    if model.needs_training:
        train(model, path, list(chosen), progress)
    else:
        mask = None
        decoded = media.iter_frames(path, chosen)
        for frame in progress(decoded, len(chosen), "learning"):
            mask = model.apply(frame, out=mask)
    return model.background_image()
