"""Step 1, temporal-spatial downsampling: decode a video (PyAV, threaded) or read a folder of
ordered frames, keep every ``stride``-th frame at a short side of at most ``size`` pixels.

Both readers are generators of :class:`Frame` that fill a :class:`DecodeStats` as they go, so a
long video is analysed clip by clip in bounded memory. A broken packet is skipped; a file that
cannot be opened raises :class:`DecodeError`; a truncated file yields what decodes and marks
``stats.truncated``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from see3d.errors import See3DError
from see3d.io.video import display_turns, upright

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

#: consecutive undecodable packets after which a video is given up as truncated
MAX_BAD_PACKETS = 64


class DecodeError(See3DError):
    """The input cannot be read at all (missing, empty, not a video, no frames)."""


@dataclass
class Frame:
    index: int  #: index among the analysed frames
    source_index: int  #: decoded frame number (videos) or image number (folders)
    time: float  #: seconds from the start (videos); image number / fps for folders
    rgb: np.ndarray  #: uint8 [H, W, 3] at the analysis size
    name: str | None = None  #: file name (folders)


@dataclass
class DecodeStats:
    kind: str = "video"  #: "video" | "frames"
    decoded: int = 0  #: frames decoded (or images read)
    analysed: int = 0  #: frames handed on for analysis
    bad_packets: int = 0  #: undecodable packets skipped (videos) / unreadable images (folders)
    truncated: bool = False
    fps: float | None = None
    source_size: tuple[int, int] | None = None  #: (width, height) of the input
    size: tuple[int, int] | None = None  #: (width, height) analysed
    notes: list[str] = field(default_factory=list)


def analysis_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """``(width, height)`` with the short side at most ``size`` (aspect kept, never upscaled)."""
    s = min(width, height)
    if s <= size:
        return int(width), int(height)
    k = size / s
    return max(1, int(round(width * k))), max(1, int(round(height * k)))


def iter_video(path: str | Path, size: int = 480, stride: int = 2, max_seconds: float | None = None,
               stats: DecodeStats | None = None, threads: int = 0) -> Iterator[Frame]:  # fmt: skip
    """Frames of a video: every ``stride``-th decoded frame, short side <= ``size``, RGB uint8,
    upright as a player shows them (the stream's display rotation applied).

    Decoding uses the codec's frame/slice threads (``threads=0``: FFmpeg's automatic count).
    Frames that are skipped by ``stride`` are decoded (codecs need them) but never converted.
    """
    import av

    path = Path(path)
    stats = stats if stats is not None else DecodeStats()
    stats.kind = "video"
    if not path.is_file():
        raise DecodeError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise DecodeError(f"cannot open: {_first_line(e)}") from None
    try:
        if not container.streams.video:
            raise DecodeError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = int(threads)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        stats.fps = fps
        shape = None
        n_dec = 0
        bad_run = 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError) as e:
                stats.truncated = True
                stats.notes.append(f"demux stopped at frame {n_dec}: {_first_line(e)}")
                break
            try:
                decoded = packet.decode()
                bad_run = 0
            except (av.error.FFmpegError, ValueError) as e:
                stats.bad_packets += 1
                bad_run += 1
                if bad_run >= MAX_BAD_PACKETS:
                    stats.truncated = True
                    stats.notes.append(f"gave up after {bad_run} undecodable packets: {_first_line(e)}")
                    break
                continue
            for fr in decoded:
                i = n_dec
                n_dec += 1
                stats.decoded = n_dec
                t = float(fr.time) if fr.time is not None else i / fps
                if max_seconds is not None and t >= max_seconds:
                    return
                if i % stride:
                    continue
                turns = display_turns(fr)  # portrait phone videos: landscape frames + a display rotation
                if shape is None:
                    shown = (fr.height, fr.width) if turns % 2 else (fr.width, fr.height)
                    stats.source_size = shown
                    shape = analysis_shape(*shown, size)
                    stats.size = shape
                dec = (shape[1], shape[0]) if turns % 2 else shape  # the size before turning
                if (fr.width, fr.height) == dec:
                    rgb = fr.to_ndarray(format="rgb24")
                else:
                    rgb = fr.to_ndarray(width=dec[0], height=dec[1], format="rgb24", interpolation="AREA")
                rgb = upright(rgb, turns)
                frame = Frame(stats.analysed, i, t, rgb)
                stats.analysed += 1
                yield frame
    finally:
        container.close()
    if stats.decoded == 0:
        raise DecodeError("no decodable frames" + (f" ({stats.bad_packets} bad packets)" if stats.bad_packets else ""))


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of a folder in natural order (``DecodeError`` when it holds none)."""
    folder = Path(folder)
    try:
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    except OSError as e:
        raise DecodeError(f"cannot list folder: {_first_line(e)}") from None
    if not files:
        raise DecodeError("folder holds no images")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as RGB uint8 with its short side at most ``size`` (EXIF orientation applied;
    JPEGs are decoded at a reduced scale when that is still >= ``size``)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        w, h = im.size
        if im.format == "JPEG":
            k = max(1, min(w, h) // max(size, 1))
            if k >= 2:
                im.draft("RGB", (w // k, h // k))
        im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            im = im.convert("RGB")
        rgb = np.asarray(im, dtype=np.uint8)
    ow, oh = analysis_shape(rgb.shape[1], rgb.shape[0], size)
    if (ow, oh) != (rgb.shape[1], rgb.shape[0]):
        rgb = cv2.resize(rgb, (ow, oh), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def iter_frames_folder(folder: str | Path, size: int = 480, stride: int = 1, fps: float | None = None,
                       stats: DecodeStats | None = None) -> Iterator[Frame]:  # fmt: skip
    """Ordered images of a folder (a photo walk or extracted frames), every ``stride``-th.

    An unreadable image is skipped and counted in ``stats.bad_packets``; images of another size
    than the first are resized to it (a folder is one camera)."""
    stats = stats if stats is not None else DecodeStats()
    stats.kind = "frames"
    stats.fps = fps
    files = list_frames(folder)
    shape = None
    for i, p in enumerate(files):
        if i % stride:
            continue
        try:
            rgb = read_image(p, size)
        except Exception as e:  # noqa: BLE001 - any unreadable image is skipped, never fatal
            stats.bad_packets += 1
            stats.notes.append(f"unreadable image {p.name}: {_first_line(e)}")
            continue
        stats.decoded += 1
        if shape is None:
            shape = (rgb.shape[1], rgb.shape[0])
            stats.size = shape
            stats.source_size = shape
        elif (rgb.shape[1], rgb.shape[0]) != shape:
            rgb = cv2.resize(rgb, shape, interpolation=cv2.INTER_AREA)
        t = i / fps if fps else float(i)
        frame = Frame(stats.analysed, i, t, rgb, p.name)
        stats.analysed += 1
        yield frame
    if stats.decoded == 0:
        raise DecodeError(f"none of the {len(files)} images could be read")


def decode(path: str | Path, size: int = 480, stride: int = 2, max_seconds: float | None = None) -> tuple[list[Frame], DecodeStats]:
    """All analysed frames of a video or a frame folder at once (small inputs, tests)."""
    stats = DecodeStats()
    p = Path(path)
    it = iter_frames_folder(p, size, stride, stats=stats) if p.is_dir() else iter_video(p, size, stride, max_seconds, stats)
    return list(it), stats


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__
