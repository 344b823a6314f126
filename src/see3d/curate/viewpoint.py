"""Small-viewpoint filter (REFERENCE.md section 4, step 5; public ``s4_filter.py``).

About ``tracks`` (100) corners of the first frame are followed through the clip (every
``track_step``-th frame, at the flow size) by pyramidal Lucas-Kanade, with a forward-backward check (a point whose backward track misses
its start by more than ``track_fb_px`` is lost from then on). Each track that is followed through
at least ``track_min_span`` of the clip gets a circle fitted by RANSAC as in the published script:
among circles through 3 random points of the trajectory (and, here, circles on 2 points as a
diameter, so a short straight track gets its true small size), the smallest that holds at least
60% of the points. Its radius, in pixels at ``ref_size``, is the track's viewpoint-change proxy.

Decision (published): drop when at least 40 of the ~100 tracks (``small_fraction`` of the judged
ones) have radius <= 20 px and the mean radius is <= 10 px. A translating camera draws long
nearly-straight tracks (large radii); a camera that only trembles or turns a little in place
draws small loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.result import StepResult

_LK = dict(winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def track_points(greys: Sequence[np.ndarray], n: int = 100, fb_px: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Follow up to ``n`` corners of the first frame: ``(xy [T, P, 2], alive [T, P])``.

    A point is alive at frame t while every step so far passed LK's status and the
    forward-backward check (error <= ``fb_px`` pixels)."""
    T = len(greys)
    g0 = greys[0]
    h, w = g0.shape[:2]
    pts = cv2.goodFeaturesToTrack(g0, maxCorners=n, qualityLevel=0.01, minDistance=max(3, min(h, w) // 30), blockSize=7)
    if pts is None:
        return np.zeros((T, 0, 2), np.float32), np.zeros((T, 0), bool)
    pts = pts.reshape(-1, 2).astype(np.float32)
    P = len(pts)
    xy = np.zeros((T, P, 2), np.float32)
    alive = np.zeros((T, P), bool)
    xy[0], alive[0] = pts, True
    cur = pts.copy()
    ok = np.ones(P, bool)
    for t in range(1, T):
        if not ok.any():
            break
        idx = np.flatnonzero(ok)
        p0 = cur[idx].reshape(-1, 1, 2)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(greys[t - 1], greys[t], p0, None, **_LK)
        pb, st2, _ = cv2.calcOpticalFlowPyrLK(greys[t], greys[t - 1], p1, None, **_LK)
        fb = np.linalg.norm(pb.reshape(-1, 2) - p0.reshape(-1, 2), axis=1)
        p1 = p1.reshape(-1, 2)
        inside = (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb <= fb_px) & inside
        ok[idx[~good]] = False
        cur[idx[good]] = p1[good]
        xy[t, idx[good]] = p1[good]
        alive[t] = ok
    return xy, alive


def circle_radius(points: np.ndarray, inliers: float = 0.6, iters: int = 200, rng: np.random.Generator | None = None, fast: bool = True) -> float:
    """Radius of the smallest RANSAC circle (through 3 points, or on 2 as a diameter) that holds
    at least ``inliers`` of ``points [N, 2]`` (a point is held when it is inside or on it)."""
    return float(circle_radii([points], inliers, iters, rng, fast)[0])


def circle_radii(tracks: Sequence[np.ndarray], inliers: float = 0.6, iters: int = 200, rng: np.random.Generator | None = None,
                 fast: bool = True) -> np.ndarray:  # fmt: skip
    """:func:`circle_radius` of each track (``[N_i, 2]`` points; NaN for fewer than 3). The random
    draws are those of one call per track, in order, so a batch gives the radii of one-by-one
    calls. ``fast``: the hypotheses tested in a compiled loop (:mod:`see3d.curate.kernels`);
    ``False``: all at once with NumPy (the reference; same radii)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out = np.full(len(tracks), np.nan)
    use = [i for i, t in enumerate(tracks) if len(t) >= 3]
    if not use:
        return out
    n = np.array([len(tracks[i]) for i in use])
    p = np.full((len(use), int(n.max()), 2), np.nan)  # tracks padded with NaN (never held)
    hyp = np.empty((len(use), 5 * iters), np.int64)  # per track: iters triples (a, b, c), iters pairs
    for k, i in enumerate(use):
        p[k, : n[k]] = np.asarray(tracks[i], np.float64)
        tri = rng.integers(0, n[k], size=(iters, 3))
        pair = rng.integers(0, n[k], size=(iters, 2))
        hyp[k] = np.concatenate([tri.T.ravel(), pair.T.ravel()])
    need = np.ceil(inliers * n).astype(np.int64)
    if fast:
        from see3d.curate.kernels import smallest_circles

        cand = smallest_circles(p, n.astype(np.int64), hyp, need)
        return _with_spread(out, use, p, cand)
    a, b, c, d, e = np.split(np.take_along_axis(p, hyp[..., None], axis=1), 5, axis=1)
    # circumcentre of a, b, c
    A = 2 * (b - a)
    B = 2 * (c - a)
    E = (b * b).sum(-1) - (a * a).sum(-1)
    Fv = (c * c).sum(-1) - (a * a).sum(-1)
    G = A[..., 0] * B[..., 1] - A[..., 1] * B[..., 0]
    good = np.abs(G) > 1e-9
    Gs = np.where(good, G, 1)
    cx = np.where(good, (B[..., 1] * E - A[..., 1] * Fv) / Gs, np.nan)
    cy = np.where(good, (A[..., 0] * Fv - B[..., 0] * E) / Gs, np.nan)
    centres = np.concatenate([np.stack([cx, cy], -1), (d + e) / 2], axis=1)  # [K, 2 iters, 2]
    radii = np.concatenate([np.linalg.norm(centres[:, :iters] - a, axis=-1), np.linalg.norm(d - e, axis=-1) / 2], axis=1)
    with np.errstate(invalid="ignore"):
        dx = p[:, None, :, 0] - centres[:, :, None, 0]  # [K, 2 iters, L]
        dy = p[:, None, :, 1] - centres[:, :, None, 1]
        held = (np.sqrt(dx * dx + dy * dy) <= radii[..., None] * (1 + 1e-9) + 1e-6).sum(-1)
    cand = np.where(np.isfinite(radii) & (held >= need[:, None]), radii, np.inf).min(1)
    return _with_spread(out, use, p, cand)


def _with_spread(out: np.ndarray, use: list[int], p: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """``out[use] = cand``, and where no hypothesis held enough points the enclosing size."""
    spread = np.nanmax(np.linalg.norm(p - np.nanmean(p, axis=1, keepdims=True), axis=-1), axis=1)
    out[use] = np.where(np.isfinite(cand), cand, spread)
    return out


def viewpoint_check(greys: Sequence[np.ndarray], cfg: CurateConfig = CurateConfig(), rng: np.random.Generator | None = None) -> StepResult:
    """Small-viewpoint verdict on a clip of grey frames (radii are scaled from their size to ``ref_size``)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = greys[0].shape[:2]
    to_ref = cfg.ref_size / min(h, w)
    # every track_step-th frame (published: CoTracker on every 4th extracted frame)
    greys = list(greys[:: cfg.track_step])
    T = len(greys)
    xy, alive = track_points(greys, cfg.tracks, cfg.track_fb_px / to_ref)
    span = alive.sum(0)
    judged = np.flatnonzero(span >= max(3, int(np.ceil(cfg.track_min_span * T))))
    radii = circle_radii([xy[: span[i], i] for i in judged], cfg.circle_inliers, cfg.circle_iters, rng) * to_ref
    n = int(len(radii))
    r = StepResult("viewpoint", {"tracks": int(xy.shape[1]), "judged": n})
    if n == 0:
        r.scores.update(small_count=0, small_fraction=0.0, mean_radius=None, median_radius=None)
    else:
        small = int(np.sum(radii <= cfg.small_radius_px))
        r.scores.update(small_count=small, small_fraction=small / n, mean_radius=float(radii.mean()), median_radius=float(np.median(radii)))
    if n < cfg.min_tracks:
        r.detail = f"only {n} of {xy.shape[1]} tracks followed through the clip: viewpoint changes too much to judge small"
        return r
    sf, mr = r.scores["small_fraction"], r.scores["mean_radius"]
    if sf >= cfg.small_fraction and mr <= cfg.mean_radius_px:
        r.drop, r.reason = True, "small_viewpoint"
        r.detail = f"{sf:.0%} of {n} tracks have radius <= {cfg.small_radius_px:g} px, mean {mr:.1f} px <= {cfg.mean_radius_px:g}: viewpoint barely changes"
    else:
        r.detail = f"mean track radius {mr:.1f} px, {sf:.0%} small"
    return r
