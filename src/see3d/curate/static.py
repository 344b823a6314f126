"""Static-camera pre-check (REFERENCE.md section 4, step 3; public ``s2_generate_flow_earlycheck.py``).

Two cheap tests on the first ``static_frames`` analysed frames:

* edge maps: Canny (50, 100) of every 2nd frame; consecutive maps are compared with OpenCV's
  normalised template score (``TM_CCOEFF_NORMED`` of same-size maps, a correlation); the clip
  is static when at least ``static_fraction`` of the pairs score >= 0.7 (published: 8 of 9).
* tiny flow: the mean of ``|u| + |v|`` of each early flow, in pixels at ``ref_size``; the clip
  is static when at least ``still_fraction`` of them are <= 0.4 px (published: 20 of 20).

:func:`edge_check` needs only the frames, so it runs before any flow is computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.result import StepResult


def edge_score(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised template score of two same-size edge maps (1 = identical).

    For maps of the same size OpenCV's ``TM_CCOEFF_NORMED`` is their correlation coefficient;
    it is computed directly here (``matchTemplate`` would go through a full-size DFT)."""
    ea, eb = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    ea -= ea.mean()
    eb -= eb.mean()
    na, nb = float(ea @ ea), float(eb @ eb)
    if na == 0 and nb == 0:
        return 1.0  # two blank maps: nothing moved that could be seen
    if na == 0 or nb == 0:
        return 0.0
    return float(ea @ eb) / float(np.sqrt(na * nb))


def edge_check(greys: Sequence[np.ndarray], cfg: CurateConfig = CurateConfig()) -> StepResult:
    """Edge-map template scores of the early frames (every 2nd of the first ``static_frames``)."""
    early = list(greys[: cfg.static_frames : 2])
    edges = [cv2.Canny(g, cfg.canny_low, cfg.canny_high) for g in early]
    scores = [edge_score(a, b) for a, b in zip(edges[:-1], edges[1:])]
    frac = float(np.mean([s >= cfg.edge_match for s in scores])) if scores else 0.0
    r = StepResult("static", {"edge_scores": scores, "edge_match_fraction": frac})
    if scores and frac >= cfg.static_fraction:
        r.drop, r.reason = True, "static"
        r.detail = f"edge maps match in {frac:.0%} of the early pairs (score >= {cfg.edge_match:g}): camera not moving"
    return r


def mean_flow_px(flow: np.ndarray, scale: float = 1.0) -> float:
    """Mean ``|u| + |v|`` of a flow field, times ``scale`` (to pixels at ``ref_size``)."""
    return float(np.abs(flow).sum(axis=-1).mean()) * scale


def flow_check(flows: Sequence[np.ndarray], scale: float, cfg: CurateConfig = CurateConfig(), edges: StepResult | None = None) -> StepResult:
    """Adds the tiny-flow test to ``edges`` (the result of :func:`edge_check`) and decides.

    ``flows`` are the early forward flows, ``scale`` converts their pixels to ``ref_size``."""
    r = edges if edges is not None else StepResult("static")
    mags = [mean_flow_px(f, scale) for f in flows[: cfg.static_frames]]
    still = float(np.mean([m <= cfg.still_flow_px for m in mags])) if mags else 0.0
    r.scores.update(mean_flow_px=mags, still_fraction=still)
    if not r.drop and mags and still >= cfg.still_fraction:
        r.drop, r.reason = True, "static"
        r.detail = f"{still:.0%} of the early flows move <= {cfg.still_flow_px:g} px: camera not moving"
    if not r.drop:
        r.detail = f"camera moves (median early flow {np.median(mags) if mags else 0:.1f} px)"
    return r
