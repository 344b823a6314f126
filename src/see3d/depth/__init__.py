"""Metric depth from any camera: canonical-space backends, cross-view alignment, training.

>>> from see3d.depth import load_backend                      # doctest: +SKIP
>>> pred = load_backend("tiny").predict(image, intrinsics)     # doctest: +SKIP
>>> pred.depth.shape                                           # [H, W] metres
"""

from see3d.depth.align import (
    DepthPairs,
    align_dense,
    align_global,
    dense_scale_shift,
    dense_scale_shift_reference,
    fit_scale_shift,
    keypoint_pairs,
    match_keypoints,
    overlap_pairs,
)
from see3d.depth.base import DEFAULT_FOCAL, DepthBackend, DepthPrediction, default_intrinsics, load_backend, predict_metric_depth

__all__ = [
    "DEFAULT_FOCAL",
    "DepthBackend",
    "DepthPairs",
    "DepthPrediction",
    "align_dense",
    "align_global",
    "default_intrinsics",
    "dense_scale_shift",
    "dense_scale_shift_reference",
    "fit_scale_shift",
    "keypoint_pairs",
    "load_backend",
    "match_keypoints",
    "overlap_pairs",
    "predict_metric_depth",
]
