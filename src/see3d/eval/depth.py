"""Depth evaluation in Metric3D's protocol.

Per image: clip the ground truth to the dataset's range (KITTI 0.1-80 m with the Garg crop,
NYU 0.1-10 m with the Eigen crop [45:471, 41:601]), keep pixels with valid ground truth and a
positive prediction, compute AbsRel, delta1-3 (1.25^k), RMSE, log10 and SILog; then average
over images. Optionally the same metrics after median-scale alignment
(``pred * median(gt) / median(pred)``), reported separately.

SILog here is ``100 * sqrt(mean(e^2) - mean(e)^2)`` with ``e = ln(pred) - ln(gt)`` (the
KITTI benchmark's definition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from see3d.errors import See3DError

METRICS = ("abs_rel", "delta1", "delta2", "delta3", "rmse", "log10", "silog")

#: Dataset protocols: depth range (m) and crop.
PROTOCOLS = {
    "kitti": {"min_depth": 0.1, "max_depth": 80.0, "crop": "garg"},
    "nyu": {"min_depth": 0.1, "max_depth": 10.0, "crop": "eigen"},
    "none": {"min_depth": 1e-3, "max_depth": math.inf, "crop": None},
}


def eval_mask(gt: np.ndarray, protocol: str = "none", min_depth: float | None = None, max_depth: float | None = None) -> np.ndarray:
    """Pixels that count: valid ground truth inside the range and inside the protocol's crop."""
    if protocol not in PROTOCOLS:
        raise See3DError(f"unknown depth protocol {protocol!r} (use {', '.join(PROTOCOLS)})")
    prot = PROTOCOLS[protocol]
    lo = prot["min_depth"] if min_depth is None else min_depth
    hi = prot["max_depth"] if max_depth is None else max_depth
    gt = np.asarray(gt)
    mask = np.isfinite(gt) & (gt > lo) & (gt < hi)
    h, w = gt.shape
    crop = np.zeros_like(mask)
    if prot["crop"] == "garg":
        # Garg et al.: rows 0.40810811-0.99189189 of the height, columns 0.03594771-0.96405229 of the width
        crop[int(0.40810811 * h) : int(0.99189189 * h), int(0.03594771 * w) : int(0.96405229 * w)] = True
    elif prot["crop"] == "eigen":
        # Eigen crop on 480x640 NYU frames (scaled for other sizes)
        sy, sx = h / 480.0, w / 640.0
        crop[int(45 * sy) : int(471 * sy), int(41 * sx) : int(601 * sx)] = True
    else:
        crop[:] = True
    return mask & crop


def depth_metrics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one image over ``mask`` (default: ``gt > 0``), predictions must be positive there."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise See3DError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth is {gt.shape[1]}x{gt.shape[0]}")
    if not np.all(np.isfinite(pred)):
        raise See3DError("prediction has NaN/inf values")
    m = (gt > 0) & np.isfinite(gt) if mask is None else np.asarray(mask, bool)
    m = m & (pred > 0)
    n = int(m.sum())
    if n == 0:
        raise See3DError("no pixel with both valid ground truth and a positive prediction")
    p, g = pred[m], gt[m]
    ratio = np.maximum(p / g, g / p)
    e = np.log(p) - np.log(g)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "silog": float(100.0 * np.sqrt(max(np.mean(e**2) - np.mean(e) ** 2, 0.0))),
        "n_pixels": n,
    }


def median_align(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``pred * median(gt) / median(pred)`` over ``mask`` (the usual scale-invariant protocol)."""
    m = mask & (pred > 0)
    if not m.any():
        raise See3DError("no valid pixels to align the scale on")
    return pred * (np.median(gt[m]) / np.median(pred[m]))


def guess_protocol(image_hw: tuple[int, int], depth_scale: float) -> str:
    """KITTI for 256-scaled wide frames, NYU for 1000-scaled 480x640-like frames, else none."""
    h, w = image_hw
    if depth_scale == 256.0 or w / h > 2.5:
        return "kitti"
    if depth_scale == 1000.0 and abs(w / h - 4 / 3) < 0.05:
        return "nyu"
    return "none"


@dataclass
class DepthEvalResult:
    """Per-image and mean metrics (metric scale; and after median alignment if asked)."""

    per_image: list[dict] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    mean_median_aligned: dict[str, float] | None = None

    def table(self) -> str:
        """Plain-text table, one row per image then the mean(s)."""
        head = f"{'image':<28}{'protocol':<9}" + "".join(f"{k:>9}" for k in METRICS)
        rows = [head]
        for r in self.per_image:
            rows.append(f"{Path(r['rgb']).name[:27]:<28}{r['protocol']:<9}" + "".join(f"{r['metrics'][k]:9.4f}" for k in METRICS))
        rows.append(f"{'mean':<37}" + "".join(f"{self.mean[k]:9.4f}" for k in METRICS))
        if self.mean_median_aligned is not None:
            rows.append(f"{'mean (median-scaled)':<37}" + "".join(f"{self.mean_median_aligned[k]:9.4f}" for k in METRICS))
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {"per_image": self.per_image, "mean": self.mean, "mean_median_aligned": self.mean_median_aligned}


def _mean(dicts: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([d[k] for d in dicts])) for k in METRICS}


def evaluate_annotations(
    annotations: str | Path,
    predict: Callable[[np.ndarray, "object"], np.ndarray],
    protocol: str = "auto",
    median_scale: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DepthEvalResult:
    """Evaluate ``predict(image, intrinsics) -> depth [H, W]`` on a Metric3D annotation file.

    ``protocol``: ``"auto"`` (per image from its depth scale and shape), ``"kitti"``, ``"nyu"``
    or ``"none"``. ``progress(i, n)`` is called after each image.
    """
    from see3d.camera.intrinsics import Intrinsics
    from see3d.io import load_depth, load_image, read_metric3d_annotations

    entries = read_metric3d_annotations(annotations)
    res = DepthEvalResult()
    aligned = []
    for i, e in enumerate(entries):
        if e.depth is None:
            raise See3DError(f"annotation entry {i} ({e.rgb.name}) has no ground-truth depth")
        img = load_image(e.rgb)
        h, w = img.shape[:2]
        gt = load_depth(e.depth, e.depth_scale)
        if gt.shape != (h, w):
            raise See3DError(f"ground truth {e.depth.name} is {gt.shape[1]}x{gt.shape[0]} but image {e.rgb.name} is {w}x{h}")
        fx, fy, cx, cy = e.cam_in
        intr = Intrinsics(fx, fy, cx, cy, w, h)
        pred = np.asarray(predict(img, intr), dtype=np.float64)
        if pred.shape != (h, w):
            raise See3DError(f"prediction for {e.rgb.name} is {pred.shape[1]}x{pred.shape[0]}, image is {w}x{h}")
        prot = guess_protocol((h, w), e.depth_scale) if protocol == "auto" else protocol
        mask = eval_mask(gt, prot)
        met = depth_metrics(pred, gt, mask)
        row = {"rgb": str(e.rgb), "protocol": prot, "metrics": met}
        if median_scale:
            ma = depth_metrics(median_align(pred, gt, mask), gt, mask)
            row["metrics_median_aligned"] = ma
            aligned.append(ma)
        res.per_image.append(row)
        if progress is not None:
            progress(i + 1, len(entries))
    res.mean = _mean([r["metrics"] for r in res.per_image])
    if median_scale:
        res.mean_median_aligned = _mean(aligned)
    return res
