"""Evaluation against ground truth (depth metrics in Metric3D's protocol)."""

from see3d.eval.depth import METRICS, DepthEvalResult, depth_metrics, eval_mask, evaluate_annotations, median_align

__all__ = ["METRICS", "DepthEvalResult", "depth_metrics", "eval_mask", "evaluate_annotations", "median_align"]
