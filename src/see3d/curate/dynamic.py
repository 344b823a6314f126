"""Flow-based dynamic filter (REFERENCE.md section 4, step 4; public ``s3_generate_mask.py`` and
``s4_filter.py``).

For every pair of consecutive analysed frames:

1. dense flow a -> b (and b -> a for the forward-backward check);
2. a fundamental matrix from ``f_points`` flow correspondences, by LMedS (published: 500 random
   pixels, LMedS); it explains the camera's motion in a static scene;
3. per pixel, the Sampson distance of ``(x, x + flow(x))`` to that epipolar geometry (pixels at
   ``ref_size``); a pixel belongs to the motion mask when its distance is above the clip-frame's
   80th percentile (published) and above ``sampson_px``, and its flow passes the forward-backward
   check (occlusions and flow failures are not motion); the mask is opened with a 3 x 3 cross
   and dilated by a disk of radius 2 (published);
4. the pair is *dynamic* when the mask covers more than ``mask_ratio_min`` of the frame.

Decision ([code] rule of ``s4_filter.py``): drop the clip when at least ``dynamic_fraction``
(0.6) of the pairs are dynamic. The paper's weighted score (whole-frame and centre ratios, drop
when the sum >= 0.25 N) is reported beside it as ``paper_score`` / ``paper_drop``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.flow import fb_consistent, flow_map, warp_back
from see3d.curate.result import StepResult

_OPEN = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # skimage disk(1)
_DILATE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # skimage disk(2)


METHODS = {"lmeds": cv2.FM_LMEDS, "ransac": cv2.FM_RANSAC, "magsac": cv2.USAC_MAGSAC}


def _flow_correspondences(flow: np.ndarray, valid: np.ndarray | None, n: int, rng: np.random.Generator, min_points: int, dtype):
    """``n`` random pixels ``x`` among ``valid`` and their matches ``x + flow(x)`` (``[n, 2]`` each,
    ``dtype``); ``None`` with fewer than ``min_points`` candidates.

    The pixels are the first ``n`` valid ones of a random draw over the whole image (4 n draws;
    all valid pixels in random order when too few of those are valid), so a change of a few
    valid pixels changes at most those few correspondences, not the whole sample."""
    h, w = flow.shape[:2]
    size = h * w
    pick = None
    if valid is not None and size > 4 * n:
        cand = rng.integers(0, size, 4 * n)
        cand = cand[valid.reshape(-1)[cand]]
        _, first = np.unique(cand, return_index=True)
        if first.size >= n:
            pick = cand[np.sort(first)[:n]]
    if pick is None:
        idx = np.flatnonzero(valid) if valid is not None else np.arange(size)
        if idx.size < min_points:
            return None
        pick = rng.choice(idx, size=min(n, idx.size), replace=False)
    y, x = np.divmod(pick, w)
    p1 = np.stack([x, y], 1).astype(dtype)
    return p1, p1 + flow.reshape(-1, 2)[pick].astype(dtype)


def fundamental_from_flow(
    flow: np.ndarray,
    valid: np.ndarray | None,
    n: int,
    rng: np.random.Generator,
    method: str = "ransac",
    threshold: float = 1.0,
) -> np.ndarray | None:
    """``F`` (3 x 3, pixel coordinates, ``x2^T F x1 = 0``) from ``n`` random correspondences
    ``(x, x + flow(x))`` among ``valid`` pixels; ``None`` when it cannot be estimated.

    ``method``: ``lmeds`` (published), ``ransac`` (``threshold`` pixels; 3-6x faster than LMedS
    here, same decisions on the test clips) or ``magsac`` (OpenCV's USAC with MAGSAC++)."""
    pts = _flow_correspondences(flow, valid, n, rng, 8, np.float64)
    if pts is None:
        return None
    p1, p2 = pts
    if np.abs(p2 - p1).max() < 1e-6:
        return None  # no motion at all: no epipolar geometry
    try:
        if method == "lmeds":
            F, _ = cv2.findFundamentalMat(p1, p2, cv2.FM_LMEDS)
        else:
            F, _ = cv2.findFundamentalMat(p1, p2, METHODS[method], threshold, 0.99, 1000)
    except cv2.error:  # USAC asserts on a model it cannot build (e.g. all points on a line)
        return None
    if F is None or F.shape != (3, 3) or not np.isfinite(F).all():
        return None
    return F


def sampson_distance(flow: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Per-pixel Sampson distance (pixels) of ``(x, x + flow(x))`` to the epipolar geometry ``F``."""
    h, w = flow.shape[:2]
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    u, v = cv2.split(np.ascontiguousarray(flow, np.float32))
    x2 = u + x
    y2 = v + y
    f = F.astype(np.float32)
    a = f[0, 0] * x + (f[0, 1] * y + f[0, 2])  # F x1 (outer sums: no per-pixel multiply)
    b = f[1, 0] * x + (f[1, 1] * y + f[1, 2])
    c = f[2, 0] * x + (f[2, 1] * y + f[2, 2])
    at = f[0, 0] * x2 + f[1, 0] * y2 + f[2, 0]  # F^T x2
    bt = f[0, 1] * x2 + f[1, 1] * y2 + f[2, 1]
    num = x2 * a + y2 * b + c
    den = a * a + b * b + at * at + bt * bt
    np.maximum(den, 1e-20, out=den)
    return np.abs(num) / np.sqrt(den)


def homography_from_flow(flow: np.ndarray, valid: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """A homography (RANSAC, 1 px) from ``n`` random correspondences ``(x, x + flow(x))`` among
    ``valid`` pixels: the fallback model when F is degenerate (no translation, a plane)."""
    pts = _flow_correspondences(flow, valid, n, rng, 4, np.float32)
    if pts is None:
        return None
    H, _ = cv2.findHomography(*pts, cv2.RANSAC, 1.0)
    return H


def transfer_distance(flow: np.ndarray, H: np.ndarray, maps=None) -> np.ndarray:
    """Per-pixel transfer distance ``|H x - (x + flow(x))|`` (pixels)."""
    h, w = flow.shape[:2]
    mx, my = maps if maps is not None else flow_map(flow)
    gx, gy = mx - flow[..., 0], my - flow[..., 1]
    pts = cv2.perspectiveTransform(np.stack([gx, gy], -1).reshape(-1, 1, 2), H).reshape(h, w, 2)
    d = pts - np.stack([mx, my], -1)
    return cv2.magnitude(d[..., 0], d[..., 1])


def textured(grey: np.ndarray, level: float) -> np.ndarray:
    """Pixels where flow is well defined: the smaller eigenvalue of the local structure tensor
    (OpenCV ``cornerMinEigenVal``, 5 x 5 window, measured at half size) is above ``level``."""
    h, w = grey.shape[:2]
    small = cv2.resize(grey, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    e = cv2.cornerMinEigenVal(small, 3, 3)
    return cv2.resize((e > level).view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)


def _reliable_reference(flow, bwd, cfg, grey, grey_b) -> tuple[np.ndarray, np.ndarray, tuple]:
    """``(valid, |flow|, remap maps)`` with NumPy and OpenCV (the specification of the kernel)."""
    h, w = flow.shape[:2]
    maps = flow_map(flow)
    fmag = cv2.magnitude(*cv2.split(flow))
    valid = (maps[0] >= 0) & (maps[0] <= w - 1) & (maps[1] >= 0) & (maps[1] <= h - 1)
    if bwd is not None:
        valid &= fb_consistent(flow, bwd, cfg.fb_alpha, cfg.fb_beta, maps, fmag)
    if grey is not None and cfg.texture_min > 0:
        valid &= textured(grey, cfg.texture_min)
    if grey is not None and grey_b is not None and cfg.photo_max > 0:
        a32 = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)
        b32 = cv2.GaussianBlur(grey_b, (3, 3), 0).astype(np.float32)
        valid &= np.abs(warp_back(b32, flow, maps) - a32) <= cfg.photo_max
    return valid, fmag, maps


def _reliable_fast(flow, bwd, cfg, grey, grey_b) -> tuple[np.ndarray, np.ndarray]:
    """The same as :func:`_reliable_reference` in one compiled pass (:mod:`see3d.curate.kernels`)."""
    from see3d.curate.kernels import reliable_pixels

    use_tex = grey is not None and cfg.texture_min > 0
    use_photo = grey is not None and grey_b is not None and cfg.photo_max > 0
    none2, none1, nonef = np.zeros((1, 1, 2), np.float32), np.zeros((1, 1), bool), np.zeros((1, 1), np.float32)
    tex = textured(grey, cfg.texture_min) if use_tex else none1
    a32 = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32) if use_photo else nonef
    b32 = cv2.GaussianBlur(grey_b, (3, 3), 0).astype(np.float32) if use_photo else nonef
    bw = np.ascontiguousarray(bwd, np.float32) if bwd is not None else none2
    return reliable_pixels(flow, bw, a32, b32, tex, cfg.fb_alpha, cfg.fb_beta, cfg.photo_max, bwd is not None, use_photo, use_tex)


def motion_mask(
    flow: np.ndarray,
    bwd: np.ndarray | None,
    scale: float,
    cfg: CurateConfig = CurateConfig(),
    rng: np.random.Generator | None = None,
    grey: np.ndarray | None = None,
    grey_b: np.ndarray | None = None,
    fast: bool = True,
) -> tuple[np.ndarray, dict]:
    """Motion mask of one frame pair (bool ``[H, W]`` at the flow's size) and its numbers.

    A pixel x of image a is *reliable* when ``x + flow(x)`` lies in image b, its flow passes the
    forward-backward check (``bwd``, the b -> a flow), it is textured (``grey``, image a) and the
    flow maps it onto the same grey value of ``grey_b`` (image b); occlusions, flat regions and
    wrong flow are not motion. ``scale`` converts the flow's pixels to pixels at ``ref_size``.
    ``fast``: the per-pixel work in compiled kernels; ``False`` runs the NumPy / OpenCV
    reference (same masks up to float rounding; the tests compare them).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = flow.shape[:2]
    flow = np.ascontiguousarray(flow, np.float32)
    if fast:
        valid, fmag = _reliable_fast(flow, bwd, cfg, grey, grey_b)
        maps = None
    else:
        valid, fmag, maps = _reliable_reference(flow, bwd, cfg, grey, grey_b)
    info: dict = {"valid": float(valid.mean())}
    mag = fmag[::4, ::4][valid[::4, ::4]]
    # a camera that barely moves has no epipolar geometry (any skew-symmetric F explains zero
    # flow, and a walker's motion too): then the static world is a homography (the identity)
    still = mag.size > 0 and float(np.median(mag)) * scale < 2 * cfg.still_flow_px
    model = None if still else fundamental_from_flow(flow, valid, cfg.f_points, rng, cfg.f_method, cfg.f_threshold / scale)
    info["model"] = "F"
    if model is None:
        model = homography_from_flow(flow, valid, cfg.f_points, rng)
        info["model"] = "H"
        if model is None:
            info["model"] = None
            return np.zeros((h, w), bool), info | {"ratio": 0.0, "centre": 0.0, "median_px": 0.0, "q_px": 0.0}
    homography = info["model"] == "H"
    if fast:  # distances only where they count: on the quantile's grid, then in the mask
        from see3d.curate.kernels import distances_at, model_mask

        sub = distances_at(flow, model, homography, valid, 4)
    else:
        dist = transfer_distance(flow, model, maps) if homography else sampson_distance(flow, model)
        sub = dist[::4, ::4][valid[::4, ::4]]
    sub = sub * np.float32(scale)
    if sub.size:
        k = min(sub.size - 1, int(cfg.error_quantile * (sub.size - 1)))
        part = np.partition(sub, (sub.size // 2, k))
        q, med = float(part[k]), float(part[sub.size // 2])
    else:
        q = med = 0.0
    thr = max(q, cfg.sampson_px)
    # flow errors grow with the displacement: so does the tolerance (``sampson_rel``)
    if fast:
        raw = model_mask(flow, model, homography, valid, fmag, thr / scale, cfg.sampson_rel)
    else:
        dist = dist * scale
        if cfg.sampson_rel > 0:
            thr = np.maximum(thr, (cfg.sampson_rel * scale) * fmag)
        raw = ((dist > thr) & valid).view(np.uint8)
    m = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _OPEN)
    m = cv2.dilate(m, _DILATE).view(bool)
    ys, xs = slice(h // 4, h - h // 4), slice(w // 4, w - w // 4)
    info.update(ratio=float(np.count_nonzero(m)) / m.size, centre=float(np.count_nonzero(m[ys, xs])) / max(1, m[ys, xs].size), median_px=med, q_px=q)
    return m, info


def paper_frame_score(many: float, central: float) -> float:
    """The paper's per-frame weight from whole-frame and centre motion ratios (``s4_filter.py``)."""
    if many >= 0.12 and central >= 0.35:
        return 2.0
    if many >= 0.12 and central < 0.2:
        return 0.8
    if many >= 0.05 and central >= 0.2:
        return 1.5
    if many < 0.05 and central >= 0.2:
        return 1.0
    if many >= 0.05 and central < 0.2:
        return 0.5
    return 0.0


def dynamic_check(
    flows: Sequence[np.ndarray],
    bwds: Sequence[np.ndarray] | None,
    scale: float,
    cfg: CurateConfig = CurateConfig(),
    rng: np.random.Generator | None = None,
    images: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> StepResult:
    """Dynamic verdict from the forward flows of frame pairs (and the backward ones).

    ``images``: the grey ``(a, b)`` images of each pair at the flow's size (texture and
    photometric tests)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    ratios, centres, models = [], [], []
    for i, f in enumerate(flows):
        g, gb = images[i] if images is not None else (None, None)
        _, info = motion_mask(f, bwds[i] if bwds is not None else None, scale, cfg, rng, g, gb)
        ratios.append(info["ratio"])
        centres.append(info["centre"])
        models.append(info["model"])
    n = len(ratios)
    flagged = [r > cfg.mask_ratio_min for r in ratios]
    frac = float(np.mean(flagged)) if n else 0.0
    paper = float(sum(paper_frame_score(a, c) for a, c in zip(ratios, centres)))
    r = StepResult(
        "dynamic",
        {
            "mask_ratio": ratios,
            "centre_ratio": centres,
            "dynamic_fraction": frac,
            "median_ratio": float(np.median(ratios)) if n else 0.0,
            "paper_score": paper / n if n else 0.0,
            "paper_drop": bool(n and paper >= 0.25 * n),
            "homography_pairs": int(sum(m == "H" for m in models)),
        },
    )
    if n and frac >= cfg.dynamic_fraction:
        r.drop, r.reason = True, "dynamic"
        r.detail = f"{frac:.0%} of the frame pairs have > {cfg.mask_ratio_min:.2%} of pixels off the epipolar geometry: moving content"
    else:
        r.detail = f"{frac:.0%} of the pairs show motion (median mask {r.scores['median_ratio']:.2%})"
    return r
