"""Shot splitting and clipping.

Cuts come from PySceneDetect's ``ContentDetector`` (HSV content change between consecutive
frames), fed the decoded frames from memory, halved to 120-239 px on the short side (exact 2x
reductions, OpenCV's fast path; the score is a mean over pixels, so the size barely matters and
the detector costs ~0.1 ms a frame). Cuts are reported on the frame where they happen (the detector's "suppress" flash filter), so a stream
can be split as it is decoded. Each shot is then cut into clips of ``clip_frames`` frames; a
remainder shorter than ``min_clip_frames`` becomes a clip of its own that the quality step drops
as ``too_few_frames`` (every frame is accounted for in the report).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from see3d.curate.decode import Frame
from see3d.errors import See3DError

#: the shot detector's frames are halved while the halves' short side stays >= this
DETECT_HEIGHT = 120


def halve_to(img: np.ndarray, short: int) -> np.ndarray:
    """``img`` averaged over 2 x 2 blocks while its short side stays >= ``short`` (a last odd row
    or column is dropped): the 2x area reduction is ~10x cheaper than a resize by any other factor."""
    while min(img.shape[:2]) >= 2 * short:
        h, w = img.shape[:2]
        img = cv2.resize(img[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return img


class ShotDetector:
    """Online cut detector: ``push(frame) -> True`` when ``frame`` starts a new shot.

    ``threshold`` is PySceneDetect's ContentDetector threshold (0 = never cut); ``min_frames``
    the shortest shot in pushed frames; ``fps`` only labels the detector's timecodes.
    ``scores`` keeps the content score of every pushed frame (0 for the first).
    """

    def __init__(self, threshold: float = 27.0, min_frames: int = 8, fps: float = 15.0):
        self.threshold = float(threshold)
        self.scores: list[float] = []
        self.cuts: list[int] = []
        self._n = 0
        self._det = None
        if self.threshold > 0:
            try:
                from scenedetect import ContentDetector, FrameTimecode
                from scenedetect.detector import FlashFilter
            except ImportError:
                raise See3DError("shot splitting needs PySceneDetect: pip install 'see3d[curate]' (or shot_threshold = 0 in a --config file)") from None
            self._det = ContentDetector(threshold=self.threshold, min_scene_len=int(min_frames), filter_mode=FlashFilter.Mode.SUPPRESS)
            self._tc = FrameTimecode
            self._fps = float(fps) if fps and fps > 0 else 15.0

    def push(self, rgb: np.ndarray) -> bool:
        i = self._n
        self._n += 1
        if self._det is None:
            self.scores.append(0.0)
            return False
        bgr = cv2.cvtColor(halve_to(rgb, DETECT_HEIGHT), cv2.COLOR_RGB2BGR)
        cuts = self._det.process_frame(self._tc(i, self._fps), bgr)
        self.scores.append(float(getattr(self._det, "_frame_score", 0.0) or 0.0))
        # with the suppress filter a cut is reported on the frame that starts the new shot
        is_cut = any(int(c.frame_num) == i for c in cuts) and i > 0
        if is_cut:
            self.cuts.append(i)
        return is_cut


def detect_shots(frames: Iterable[np.ndarray], threshold: float = 27.0, min_frames: int = 8) -> tuple[list[int], list[float]]:
    """Indices where new shots start (the first frame excluded) and every frame's content score."""
    det = ShotDetector(threshold, min_frames)
    for f in frames:
        det.push(f)
    return det.cuts, det.scores


@dataclass
class ClipFrames:
    """Consecutive analysed frames of one shot."""

    shot: int  #: shot number within the input
    index: int  #: clip number within the shot
    frames: list[Frame]

    def __len__(self) -> int:
        return len(self.frames)


def split_clips(frames: Iterable[Frame], shots: ShotDetector, clip_frames: int, min_clip_frames: int) -> Iterator[ClipFrames]:
    """Cut a stream of frames into clips: at every shot cut, and every ``clip_frames`` frames.

    A shot's last clip is merged into the previous one when it would be shorter than
    ``min_clip_frames`` and the merge stays within 1.5 x ``clip_frames``; otherwise it is
    yielded as it is (and dropped later as too short). Memory: at most one clip plus the
    pending remainder.
    """
    if clip_frames < 1:
        raise See3DError("clip_frames must be >= 1")
    shot, k = 0, 0
    buf: list[Frame] = []
    held: list[Frame] | None = None  # a full clip held back in case the shot ends right after it

    def flush_shot() -> Iterator[ClipFrames]:
        nonlocal held, buf, k
        if held is not None and buf and len(buf) < min_clip_frames and len(held) + len(buf) <= clip_frames * 3 // 2:
            yield ClipFrames(shot, k, held + buf)
            k += 1
        else:
            if held is not None:
                yield ClipFrames(shot, k, held)
                k += 1
            if buf:
                yield ClipFrames(shot, k, buf)
                k += 1
        held, buf = None, []

    for f in frames:
        if shots.push(f.rgb) and (buf or held is not None):
            yield from flush_shot()
            shot, k = shot + 1, 0
        buf.append(f)
        if len(buf) == clip_frames:
            if held is not None:
                yield ClipFrames(shot, k, held)
                k += 1
            held, buf = buf, []
    yield from flush_shot()
