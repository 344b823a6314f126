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
    """Normalised template score of two same-size binary edge maps (1 = identical; any nonzero
    pixel is an edge, as in Canny's 0 / 255 maps).

    For maps of the same size OpenCV's ``TM_CCOEFF_NORMED`` is their correlation coefficient;
    for binary maps that is ``(N n_ab - n_a n_b) / sqrt((N n_a - n_a^2)(N n_b - n_b^2))`` from
    the pixel count ``N``, the edge counts ``n_a``, ``n_b`` and the shared edges ``n_ab``: three
    counts instead of a full-size correlation (``matchTemplate`` would even go through a DFT)."""
    a8, b8 = (x if x.dtype == np.uint8 else (x != 0).view(np.uint8) for x in (a, b))
    n = float(a8.size)
    na, nb = float(cv2.countNonZero(a8)), float(cv2.countNonZero(b8))
    nab = float(cv2.countNonZero(cv2.min(a8, b8)))  # nonzero where both are
    va, vb = n * na - na * na, n * nb - nb * nb
    if va == 0 and vb == 0:
        return 1.0  # two blank (or full) maps: nothing moved that could be seen
    if va == 0 or vb == 0:
        return 0.0
    return (n * nab - na * nb) / float(np.sqrt(va * vb))


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
    n = flow.shape[0] * flow.shape[1]
    return cv2.norm(np.ascontiguousarray(flow, np.float32), cv2.NORM_L1) / max(n, 1) * scale


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
