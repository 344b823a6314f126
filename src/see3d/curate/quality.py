"""Image-quality filter: too few frames, black frames, exposure, blur.

Not described in the public See3D material; these are the usual checks of video-dataset
pipelines. Scores are medians over the clip's frames, so one bad frame does not decide.
Blur is the variance of the Laplacian of the grey frame, measured at ``ref_size`` (frames
larger than that are downscaled for it; smaller ones are measured as they are).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.result import StepResult


#: grey levels counted as clipped: 0-3 and 252-255
_CLIP_LOW, _CLIP_HIGH = 4, 251


def frame_quality(grey: np.ndarray, ref_size: int = 480, sharpness: bool = True) -> tuple[float, float, float]:
    """``(mean luma, share of clipped pixels, variance of the Laplacian)`` of one grey frame
    (``sharpness=False``: the last is NaN, not computed)."""
    h, w = grey.shape[:2]
    s = min(h, w)
    g = grey
    if s > ref_size:
        k = ref_size / s
        g = cv2.resize(grey, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    mean = float(cv2.mean(g)[0])
    clipped = 1.0 - cv2.countNonZero(cv2.inRange(g, _CLIP_LOW, _CLIP_HIGH)) / g.size
    if not sharpness:
        return mean, clipped, float("nan")
    lap = cv2.Laplacian(g, cv2.CV_16S, ksize=1)
    _, sd = cv2.meanStdDev(lap)
    return mean, clipped, float(sd[0, 0] ** 2)


def quality_check(greys: Sequence[np.ndarray], cfg: CurateConfig = CurateConfig()) -> StepResult:
    """Quality verdict on a clip of grey uint8 frames (in this order: too few frames, black
    frames, exposure, blur)."""
    n = len(greys)
    r = StepResult("quality", {"frames": n})
    if n < cfg.min_clip_frames:
        r.drop, r.reason = True, "too_few_frames"
        r.detail = f"{n} frames < {cfg.min_clip_frames}"
        return r
    # sharpness on every 2nd frame (a median over the clip; the Laplacian is the costly part)
    q = np.array([frame_quality(g, cfg.ref_size, sharpness=i % 2 == 0) for i, g in enumerate(greys)])
    black = float(np.mean(q[:, 0] < cfg.black_luma))
    bright = q[:, 0] >= cfg.black_luma
    # blur and exposure are judged on the frames that are not black
    sel = q[bright] if bright.any() else q
    luma, clipped = float(np.median(sel[:, 0])), float(np.median(sel[:, 1]))
    sh = sel[:, 2][np.isfinite(sel[:, 2])]
    sharp = float(np.median(sh)) if sh.size else float(np.nanmedian(q[:, 2]))
    r.scores.update(black_fraction=black, luma=luma, clipped=clipped, sharpness=sharp)
    if black > cfg.max_black_fraction:
        r.drop, r.reason, r.detail = True, "black_frames", f"{black:.0%} of the frames are black"
    elif not cfg.dark_luma <= luma <= cfg.bright_luma:
        r.drop, r.reason, r.detail = True, "exposure", f"median luma {luma:.0f} outside [{cfg.dark_luma:.0f}, {cfg.bright_luma:.0f}]"
    elif clipped > cfg.max_clipped_fraction:
        r.drop, r.reason, r.detail = True, "exposure", f"{clipped:.0%} of the pixels clipped"
    elif sharp < cfg.blur_min:
        r.drop, r.reason, r.detail = True, "blurry", f"Laplacian variance {sharp:.1f} < {cfg.blur_min:g}"
    else:
        r.detail = f"luma {luma:.0f}, sharpness {sharp:.0f}"
    return r
