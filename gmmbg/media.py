"""Reading and writing images and videos: the only module that imports imageio.

Normalisation rule, for every image and frame that comes in:

- 8-bit stays as it is; 16-bit is scaled to 8-bit with rounding (``(v + 128) // 257``);
  float images in [0, 1] are scaled by 255, other floats are clipped to [0, 255]; boolean
  images become 0/255.
- Gray (``(H, W)``, ``(H, W, 1)``) and gray + alpha become ``(H, W)``; palette images are
  expanded to RGB; RGBA drops its alpha channel (it is not composited): ``(H, W, 3)``.
- Video frames always come out as ``(H, W, 3)`` uint8 RGB, whatever mix of gray, RGB and RGBA
  the decoder gives (the seed GIF decodes as one RGB frame followed by RGBA frames).

Every output is written to a temporary name beside its target and renamed into place only when
complete, so an interrupted or failed run leaves no half-written file; an existing output is an
error unless ``force`` is given.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gmmbg import interrupts
from gmmbg.errors import GmmbgError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_EXTENSIONS = {".gif", ".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg"}
VIDEO_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".avi": "mpeg4",
                ".webm": "libvpx-vp9"}  # fmt: skip
# First bytes of each format we accept on stdin, to name the spooled file (decoders pick their
# plugin by extension).
MAGIC = [
    (b"\x89PNG", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"\x1a\x45\xdf\xa3", ".mkv"),
]


class MediaError(GmmbgError):
    """A problem with an input or output file, in one line the user can act on."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video source holds, from its container or folder listing (no full decode)."""

    n_frames: int
    fps: float | None
    height: int
    width: int
    frame_names: list[str] | None = field(default=None, repr=False)  # stems, for a folder


# --------------------------------------------------------------------------- normalisation


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Normalise a decoded image to uint8 ``(H, W)`` gray or ``(H, W, 3)`` RGB (module rule)."""
    image = np.asarray(image)
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        scale = 255.0 if image.size and np.nanmax(image) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] in (1, 2):
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise MediaError(f"unsupported image layout {image.shape}: expected gray, RGB or RGBA")
    return np.ascontiguousarray(image)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Normalise like ``to_uint8`` and repeat gray into three channels: ``(H, W, 3)`` uint8."""
    image = to_uint8(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image


# --------------------------------------------------------------------------- sources


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def folder_images(folder: Path) -> list[Path]:
    """The image files of a folder in natural sort order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: natural_key(p.name))


def check_input(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it exists and is not empty."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty")
    return path


def sniff_extension(head: bytes) -> str | None:
    """The file extension that matches the first bytes of a file, or None."""
    for magic, extension in MAGIC:
        if head.startswith(magic):
            return extension
    if head[4:8] == b"ftyp":
        return ".mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


@contextmanager
def open_source(source: str | Path, format: str | None = None) -> Iterator[Path]:
    """Yield a readable path for ``source``; ``-`` spools standard input to a temporary file.

    ``format`` (``gif``, ``mp4``, ``png``, ...) names the stdin format when its bytes do not.
    """
    if str(source) != "-":
        yield check_input(source)
        return
    data = sys.stdin.buffer.read()
    if not data:
        raise MediaError("standard input is empty: pipe an image or a video into '-'")
    extension = f".{format.lower().lstrip('.')}" if format else sniff_extension(data[:16])
    if extension is None:
        raise MediaError(
            "cannot tell the format of standard input: give --format (gif, mp4, png...)"
        )
    with tempfile.TemporaryDirectory(prefix="gmmbg-stdin-") as folder:
        path = Path(folder) / f"stdin{extension}"
        path.write_bytes(data)
        yield path


def read_image(path: str | Path) -> np.ndarray:
    """Read one image (the first frame of an animation): uint8 ``(H, W)`` or ``(H, W, 3)``."""
    import imageio.v3 as iio

    path = check_input(path)
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, expected an image file")
    try:
        image = iio.imread(path, index=0) if path.suffix.lower() == ".gif" else iio.imread(path)
    except Exception as error:  # imageio raises many types; the user needs only this line
        raise MediaError(f"{path}: cannot be read as an image ({_reason(error)})") from None
    if image.ndim == 3 and image.shape[2] > 4:  # a multi-page TIFF or similar: first page
        image = image[0]
    image = to_uint8(image)
    if min(image.shape[:2]) < 1:
        raise MediaError(f"{path}: the image has no pixels")
    return image


def _reason(error: Exception) -> str:
    """The first line of an exception's message, for a one-line error."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a video file or a folder of images, without decoding it all."""
    path = check_input(path)
    if path.is_dir():
        files = folder_images(path)
        if not files:
            raise MediaError(
                f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        first = read_image(files[0])
        return VideoInfo(len(files), None, first.shape[0], first.shape[1], [f.stem for f in files])
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        image = read_image(path)
        return VideoInfo(1, None, image.shape[0], image.shape[1], None)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: holds no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            n_frames = stream.frames
            if n_frames <= 0:  # containers without a frame count: count packets, no decoding
                n_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            height, width = stream.codec_context.height, stream.codec_context.width
    except MediaError:
        raise
    except Exception as error:
        raise MediaError(f"{path}: cannot be read as a video ({_reason(error)})") from None
    if n_frames <= 0 or height <= 0 or width <= 0:
        raise MediaError(f"{path}: holds no decodable frames")
    return VideoInfo(n_frames, fps, height, width, None)


def _decode(path: Path) -> Iterator[np.ndarray]:
    """Decoded frames of a video file or folder, as they come from the decoder."""
    import imageio.v3 as iio

    if path.is_dir():
        for file in folder_images(path):
            yield read_image(file)
    elif path.suffix.lower() == ".gif":
        yield from iio.imiter(path, plugin="pillow", mode="RGB")
    elif path.suffix.lower() in IMAGE_EXTENSIONS:
        yield read_image(path)
    else:
        yield from iio.imiter(path, plugin="pyav", format="rgb24", thread_type="AUTO")


def iter_frames(
    path: str | Path, frames: slice | Sequence[int] | None = None
) -> Iterator[np.ndarray]:
    """Stream the frames of a video as ``(H, W, 3)`` uint8 RGB arrays, one at a time.

    ``frames`` picks 0-based frame indices (a slice or an increasing sequence); decoding stops
    after the last one wanted. A folder reads only the files it needs. Raises MediaError naming
    the frame when one cannot be decoded or differs in size from the first.
    """
    path = check_input(path)
    wanted = _wanted_indices(path, frames)
    last = max(wanted) if wanted is not None else None
    if path.is_dir() and wanted is not None:
        files = folder_images(path)
        source = ((i, read_image(files[i])) for i in sorted(wanted) if i < len(files))
    else:
        source = enumerate(_decode(path))
    shape = None
    index = -1
    try:
        for index, frame in source:
            if wanted is not None and index not in wanted:
                if index >= last:
                    break
                continue
            frame = to_rgb(frame)
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise MediaError(
                    f"{path}: frame {index} is {frame.shape[1]}x{frame.shape[0]} but the first is "
                    f"{shape[1]}x{shape[0]}: all frames must have the same size"
                )
            interrupts.check()  # a Ctrl-C that Python swallowed stops the run here
            yield frame
            if last is not None and index >= last:
                break
    except MediaError:
        raise
    except Exception as error:
        raise MediaError(f"{path}: cannot decode frame {index + 1} ({_reason(error)})") from None
    if shape is None:
        raise MediaError(f"{path}: no frames to read (check the file or the frame range)")


def _wanted_indices(path: Path, frames: slice | Sequence[int] | None) -> set[int] | None:
    """The set of 0-based indices ``frames`` selects (a slice needs the frame count)."""
    if frames is None:
        return None
    if isinstance(frames, slice):
        if frames.step is not None and frames.step <= 0:
            raise MediaError("a frame range must go forwards (step > 0)")
        return set(range(probe_video(path).n_frames)[frames])
    return set(int(i) for i in frames)


# --------------------------------------------------------------------------- outputs


def check_output(path: str | Path, force: bool = False) -> None:
    """Fail early when an output cannot be written: its folder is missing or read-only, or it
    exists and ``force`` is not set. ``-`` (stdout) always passes."""
    if str(path) == "-":
        return
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise MediaError(f"{path}: the folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise MediaError(f"{path}: the folder {parent} is not writable")
    if path.is_dir():
        if any(path.iterdir()) and not force:
            raise MediaError(f"{path}: the folder is not empty (use --force to write into it)")
    elif path.exists() and not force:
        raise MediaError(f"{path}: already exists (use --force to overwrite it)")


def is_folder_output(path: str | Path) -> bool:
    """True when ``path`` names a folder of PNG frames: an existing folder or a trailing slash."""
    return str(path).endswith(("/", os.sep)) or Path(path).is_dir()


@contextmanager
def atomic_path(path: str | Path, force: bool, stdout_format: str = "") -> Iterator[Path]:
    """Yield a temporary path to write to; on success move it to ``path`` (or copy it to stdout
    for ``-``), on any failure or interrupt delete it and leave ``path`` untouched."""
    check_output(path, force)
    to_stdout = str(path) == "-"
    suffix = f".{stdout_format}" if to_stdout else Path(path).suffix
    folder = None if to_stdout else Path(path).parent
    handle, name = tempfile.mkstemp(
        prefix=f".{'stdout' if to_stdout else Path(path).name}.", suffix=f".partial{suffix}",
        dir=folder,
    )  # fmt: skip
    try:  # at once: an interrupt from here on must not leave the file behind
        temporary = Path(name)
        os.close(handle)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        yield temporary
        if to_stdout:
            with open(temporary, "rb") as data:
                shutil.copyfileobj(data, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            check_output(path, force)  # it may have appeared while we worked
            os.replace(temporary, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(path: str | Path, image: np.ndarray, *, force: bool = False,
                format: str = "png") -> None:  # fmt: skip
    """Write one uint8 image atomically; ``-`` writes ``format`` bytes to stdout."""
    import imageio.v3 as iio

    if str(path) != "-" and Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
        raise MediaError(f"{path}: unknown image format (use .png, .jpg, .bmp or .tif)")
    try:
        with atomic_path(path, force, format) as temporary:
            iio.imwrite(temporary, np.ascontiguousarray(image))
    except MediaError:
        raise
    except OSError as error:
        raise MediaError(f"{path}: cannot write ({error.strerror or _reason(error)})") from None


class FrameWriter:
    """Streams frames to a GIF, a video file, a folder of PNGs or stdout, atomically.

    Use as a context manager: frames go to a temporary file (or folder) that replaces the
    target only when the ``with`` block ends without an error.
    ``frames``: uint8 ``(H, W)`` masks or ``(H, W, 3)`` RGB, all the same shape.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None,
                 frame_names: Sequence[str] | None = None, force: bool = False,
                 format: str = "gif") -> None:  # fmt: skip
        self.path = path
        self.fps = fps or 10.0
        self.frame_names = frame_names
        self.force = force
        self.format = format.lower().lstrip(".")
        self.to_folder = str(path) != "-" and is_folder_output(path)
        suffix = f".{self.format}" if str(path) == "-" else Path(path).suffix.lower()
        if not self.to_folder and suffix not in VIDEO_EXTENSIONS:
            raise MediaError(
                f"{path}: unknown video format (use .gif, .mp4, .avi, .mkv, .webm, or a folder/)"
            )
        self.suffix = suffix
        self.count = 0

    def __enter__(self) -> FrameWriter:
        self._stack = self._open()
        self._write = next(self._stack)
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one frame."""
        self._write(frame)
        self.count += 1

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            try:
                next(self._stack)
            except StopIteration:
                pass
        else:
            self._stack.throw(kind, error, traceback)

    def _open(self):
        """A generator: yields the write function once, finishes on the next ``next``."""
        if self.to_folder:
            yield from self._folder()
            return
        import imageio.v3 as iio

        try:
            with atomic_path(self.path, self.force, self.format) as temporary:
                with iio.imopen(temporary, "w", plugin="pyav") as video:
                    state = {}

                    def write(frame: np.ndarray) -> None:
                        frame = to_uint8(frame)
                        if not state:
                            state["gray"] = frame.ndim == 2
                            self._init_stream(video, frame, state["gray"])
                        if self.suffix == ".gif":
                            # The palette is gray or colour for the whole file (first frame).
                            frame = to_rgb(frame) if not state["gray"] else frame
                        elif frame.shape[0] % 2 or frame.shape[1] % 2:  # yuv420p: even sizes
                            frame = _pad_even(frame)
                        # Gray frames go to the encoder as gray: repeating masks into three
                        # channels and converting those from RGB cost 6 ms per 1280x720 frame.
                        pixel_format = "gray" if frame.ndim == 2 else "rgb24"
                        video.write_frame(frame, pixel_format=pixel_format)

                    yield write
        except MediaError:
            raise
        except OSError as error:
            raise MediaError(
                f"{self.path}: cannot write ({error.strerror or _reason(error)})"
            ) from None

    def _init_stream(self, video, frame: np.ndarray, gray: bool) -> None:
        """Open the encoder for the first frame's format."""
        fps = float(self.fps)
        if self.suffix == ".gif":
            video.init_video_stream("gif", fps=fps, pixel_format="gray" if gray else "rgb8")
        else:
            codec = VIDEO_CODECS.get(self.suffix, "libx264")
            video.init_video_stream(codec, fps=fps)
            if codec == "libx264":
                # x264's default preset (medium) took 24 ms to encode a 1280x720 mask, longer
                # than the rest of `gmmbg subtract` together; ultrafast takes 5 ms, and masks
                # read back the same after thresholding, in files about twice as large.
                # imageio has no parameter for encoder options, hence its stream.
                video._video_stream.options = {"preset": "ultrafast"}

    def _folder(self):
        """Write PNGs into a temporary sibling folder, then move them into the target."""
        import imageio.v3 as iio

        target = Path(self.path)
        check_output(target, self.force)
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:

            def write(frame: np.ndarray) -> None:
                names = self.frame_names
                stem = (
                    names[self.count]
                    if names and self.count < len(names)
                    else f"{self.count + 1:06d}"
                )
                iio.imwrite(temporary / f"{stem}.png", np.ascontiguousarray(frame))

            yield write
            target.mkdir(exist_ok=True)
            for file in sorted(temporary.iterdir()):
                os.replace(file, target / file.name)
        except OSError as error:
            raise MediaError(
                f"{target}: cannot write ({error.strerror or _reason(error)})"
            ) from None
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last row/column so both sides are even (yuv420p encoders need it)."""
    pad = [(0, frame.shape[0] % 2), (0, frame.shape[1] % 2)] + [(0, 0)] * (frame.ndim - 2)
    return np.pad(frame, pad, mode="edge")
