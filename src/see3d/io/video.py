"""Video writing (PyAV, H.264) and reading."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from see3d.errors import See3DError


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 12.0, crf: int = 20) -> int:
    """Write uint8 RGB frames ``[H, W, 3]`` to an H.264 mp4; returns the number of frames.

    Odd sizes are padded by one pixel (yuv420p needs even width and height).
    """
    import av

    path = Path(path)
    n = 0
    container = av.open(str(path), mode="w")
    try:
        stream = None
        for fr in frames:
            fr = np.asarray(fr)
            if fr.dtype != np.uint8:
                fr = (np.clip(fr, 0, 1) * 255 + 0.5).astype(np.uint8)
            h, w = fr.shape[:2]
            if stream is None:
                stream = container.add_stream("libx264", rate=int(round(fps)))
                stream.width, stream.height = w + (w % 2), h + (h % 2)
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            if (w + w % 2, h + h % 2) != (stream.width, stream.height):
                raise See3DError("video frames differ in size")
            if w % 2 or h % 2:
                fr = np.pad(fr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        container.close()
    if n == 0:
        path.unlink(missing_ok=True)
        raise See3DError("no frames to write to the video")
    return n


def display_turns(frame) -> int:
    """Quarter turns counterclockwise (0-3) that show a decoded PyAV frame upright, from its
    display matrix (phones store portrait video as landscape frames rotated by -90 degrees)."""
    r = getattr(frame, "rotation", 0) or 0
    return int(round(float(r) / 90.0)) % 4


def upright(img: np.ndarray, turns: int) -> np.ndarray:
    """``img`` turned ``turns`` quarter turns counterclockwise (``display_turns``)."""
    if turns % 4 == 0:
        return img
    import cv2

    return cv2.rotate(img, {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}[turns % 4])


def read_video(path: str | Path, max_frames: int | None = None, step: int = 1) -> tuple[list[np.ndarray], float]:
    """Decode a video to uint8 RGB frames, upright as a player shows them (display rotation
    applied); returns ``(frames, fps)``. Undecodable tails are dropped."""
    import av

    path = Path(path)
    if not path.is_file():
        raise See3DError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise See3DError(f"video file is empty (0 bytes): {path}")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise See3DError(f"{path.name} has no video stream")
            s = c.streams.video[0]
            fps = float(s.average_rate) if s.average_rate else 25.0
            try:
                for i, fr in enumerate(c.decode(s)):
                    if i % step == 0:
                        frames.append(upright(fr.to_ndarray(format="rgb24"), display_turns(fr)))
                    if max_frames is not None and len(frames) >= max_frames:
                        break
            except av.error.InvalidDataError:
                pass  # keep the decodable prefix
    except See3DError:
        raise
    except (av.error.FFmpegError, OSError) as e:
        raise See3DError(f"cannot read video {path}: {str(e).splitlines()[0]}") from None
    if not frames:
        raise See3DError(f"video {path.name} has no decodable frames")
    return frames, fps
