"""Cross-view depth scale alignment (See3D's 3D pipeline, paper section 3 / Eq. 4-6).

Monocular depth of different views disagrees in scale. Given depth pairs ``(x_i, y_i)`` -
``x`` the depth to correct, ``y`` the depth it should have, at pixels ``p_i`` of the view
being corrected - this module fits

* a **global** scale (and optional shift) ``y ~ s * x + t`` by RANSAC on minimal samples then
  iteratively reweighted least squares (Cauchy weights) on the inliers
  (:func:`fit_scale_shift`);
* **dense** per-pixel scale and shift maps by locally weighted linear regression: for every
  node ``c`` of a coarse grid, minimise
  ``sum_i w_i(c) (s_c x_i + t_c - y_i)^2 + lam * t_c^2 + mu * (s_c - s_0)^2`` with Gaussian weights
  ``w_i(c) = exp(-|p_i - c|^2 / 2 b^2)`` (data terms divided by the largest node weight sum;
  ridge ``lam`` on the shift as in the paper; the small ``mu`` pulls nodes with little data
  nearby to the global scale ``s_0``), then upsample the maps
  bilinearly to every pixel (:func:`dense_scale_shift`; :func:`dense_scale_shift_reference` is
  the readable per-node twin).

Pairs come from overlapping pixels (:func:`overlap_pairs`: a trusted depth of another view is
forward-projected into this view with a z-buffer) or from matched keypoints
(:func:`keypoint_pairs`: OpenCV SIFT/ORB, Lowe ratio test, RANSAC on the fundamental matrix,
then each reference keypoint's 3D point is projected into this view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.projection import project_points, unproject_depth
from see3d.errors import See3DError


@dataclass
class DepthPairs:
    """Correspondences in the view being corrected: pixel ``uv [N, 2]``, its depth ``x [N]``,
    the depth it should have ``y [N]``."""

    uv: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


# ----------------------------------------------------------------------------- global fit
def _lsq(x: np.ndarray, y: np.ndarray, w: np.ndarray, shift: bool) -> tuple[float, float]:
    if shift:
        A = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(w)[:, None]
        sol, *_ = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)
        return float(sol[0]), float(sol[1])
    return float(np.sum(w * x * y) / max(np.sum(w * x * x), 1e-300)), 0.0


def fit_scale_shift(
    x: np.ndarray,
    y: np.ndarray,
    shift: bool = False,
    iterations: int = 200,
    inlier_rel: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, np.ndarray]:
    """Robust ``y ~ s * x (+ t)``: RANSAC (relative residual < ``inlier_rel``) then Cauchy IRLS.

    Returns ``(s, t, inlier_mask)``; ``t`` is 0 unless ``shift``.
    """
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    need = 2 if shift else 1
    if ok.sum() < max(need, 3):
        raise See3DError(f"scale alignment needs at least 3 valid depth pairs, got {int(ok.sum())}")
    xi, yi = x[ok], y[ok]
    rng = np.random.default_rng(seed)
    best, best_n = None, -1
    for _ in range(iterations):
        idx = rng.choice(len(xi), need, replace=False)
        if shift:
            if abs(xi[idx[0]] - xi[idx[1]]) < 1e-9:
                continue
            s = (yi[idx[0]] - yi[idx[1]]) / (xi[idx[0]] - xi[idx[1]])
            t = yi[idx[0]] - s * xi[idx[0]]
        else:
            s, t = yi[idx[0]] / xi[idx[0]], 0.0
        if s <= 0:
            continue
        n = int(np.sum(np.abs(s * xi + t - yi) < inlier_rel * yi))
        if n > best_n:
            best, best_n = (s, t), n
    if best is None:
        best = _lsq(xi, yi, np.ones_like(xi), shift)
    s, t = best
    inl = np.abs(s * xi + t - yi) < inlier_rel * yi
    if inl.sum() < need:
        inl[:] = True
    w = inl.astype(np.float64)
    for _ in range(10):  # Cauchy IRLS on relative residuals, starting from the RANSAC inliers
        s, t = _lsq(xi, yi, w, shift)
        r = (s * xi + t - yi) / yi
        c = 2.385 * max(np.median(np.abs(r[inl])) / 0.6745, 1e-6)
        w = 1.0 / (1.0 + (r / c) ** 2)
    inl = np.abs(s * xi + t - yi) < inlier_rel * yi
    mask = np.zeros(len(x), bool)
    mask[np.flatnonzero(ok)[inl]] = True
    return float(s), float(t), mask


def align_global(depth: np.ndarray, pairs: DepthPairs, shift: bool = False, **kw) -> tuple[np.ndarray, float, float]:
    """``(aligned_depth, s, t)`` with one robust scale (and shift) for the whole map."""
    s, t, _ = fit_scale_shift(pairs.x, pairs.y, shift=shift, **kw)
    d = np.asarray(depth, np.float32)
    return np.where(d > 0, s * d + t, 0).astype(np.float32), s, t


# ----------------------------------------------------------------------------- dense LWLR
def _grid(h: int, w: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    gh, gw = max(2, int(np.ceil((h - 1) / step)) + 1), max(2, int(np.ceil((w - 1) / step)) + 1)
    gy = np.linspace(0, h - 1, gh)
    gx = np.linspace(0, w - 1, gw)
    return gy, gx


def _upsample(grid_map: np.ndarray, h: int, w: int) -> np.ndarray:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(grid_map, dtype=np.float64))[None, None]
    # the grid nodes sit exactly on the first and last pixel centres -> align_corners=True
    return torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=True)[0, 0].numpy()


def _defaults(h: int, w: int, bandwidth: float | None, step: int | None) -> tuple[float, int]:
    b = float(bandwidth) if bandwidth is not None else 0.1 * max(h, w)
    st = int(step) if step is not None else max(4, int(round(b / 2)))
    if b <= 0 or st <= 0:
        raise See3DError(f"dense alignment: bandwidth and grid step must be positive, got {b}, {st}")
    return b, st


def dense_scale_shift_reference(
    shape: tuple[int, int],
    pairs: DepthPairs,
    bandwidth: float | None = None,
    step: int | None = None,
    ridge_shift: float = 1e-2,
    ridge_scale: float = 1e-3,
    shift: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Readable twin of :func:`dense_scale_shift`: one small weighted ridge regression per grid node."""
    h, w = shape
    b, st = _defaults(h, w, bandwidth, step)
    s0, t0, _ = fit_scale_shift(pairs.x, pairs.y, shift=False)
    gy, gx = _grid(h, w, st)
    S = np.zeros((len(gy), len(gx)))
    T = np.zeros((len(gy), len(gx)))
    x, y = pairs.x.astype(np.float64), pairs.y.astype(np.float64)

    def weights(cy: float, cx: float) -> np.ndarray:
        return np.exp(-((pairs.uv[:, 0] - cx) ** 2 + (pairs.uv[:, 1] - cy) ** 2) / (2 * b * b))

    # data terms are divided by the largest total weight of any node (one constant for the map)
    W = max(weights(cy, cx).sum() for cy in gy for cx in gx)
    for i, cy in enumerate(gy):
        for j, cx in enumerate(gx):
            wt = weights(cy, cx)
            if shift:
                # normal equations of sum w (s x + t - y)^2 / W + lam t^2 + mu (s - s0)^2
                A = np.array([
                    [np.sum(wt * x * x) / W + ridge_scale, np.sum(wt * x) / W],
                    [np.sum(wt * x) / W, np.sum(wt) / W + ridge_shift],
                ])
                rhs = np.array([np.sum(wt * x * y) / W + ridge_scale * s0, np.sum(wt * y) / W])
                S[i, j], T[i, j] = np.linalg.solve(A, rhs)
            else:
                S[i, j] = (np.sum(wt * x * y) / W + ridge_scale * s0) / (np.sum(wt * x * x) / W + ridge_scale)
    return _upsample(S, h, w), _upsample(T, h, w)


def dense_scale_shift(
    shape: tuple[int, int],
    pairs: DepthPairs,
    bandwidth: float | None = None,
    step: int | None = None,
    ridge_shift: float = 1e-2,
    ridge_scale: float = 1e-3,
    shift: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ``(scale [H, W], shift [H, W])`` by locally weighted ridge regression.

    ``bandwidth`` b (pixels, default 10% of the longer side) sets the Gaussian kernel, ``step``
    the coarse grid spacing (default b / 2). Data terms are normalised by the node's total
    weight, so ``ridge_shift`` (lam, in 1/m^2 relative to a unit-weight node) and
    ``ridge_scale`` (mu, pull towards the global scale) mean the same at any point density.
    Vectorised over all nodes at once; :func:`dense_scale_shift_reference` is the loop twin.
    """
    h, w = shape
    b, st = _defaults(h, w, bandwidth, step)
    if len(pairs) < 3:
        raise See3DError(f"dense alignment needs at least 3 depth pairs, got {len(pairs)}")
    s0, _, _ = fit_scale_shift(pairs.x, pairs.y, shift=False)
    gy, gx = _grid(h, w, st)
    x, y = pairs.x.astype(np.float64), pairs.y.astype(np.float64)
    # separable Gaussian: w(c, p) = exp(-(u-cx)^2/2b^2) * exp(-(v-cy)^2/2b^2)
    wx = np.exp(-((pairs.uv[None, :, 0] - gx[:, None]) ** 2) / (2 * b * b))  # [GX, N]
    wy = np.exp(-((pairs.uv[None, :, 1] - gy[:, None]) ** 2) / (2 * b * b))  # [GY, N]

    def wsum(f: np.ndarray) -> np.ndarray:
        return (wy * f[None, :]) @ wx.T  # [GY, GX]

    Wn = wsum(np.ones_like(x))
    Wd = Wn.max()
    Sx, Sy = wsum(x) / Wd, wsum(y) / Wd
    Sxx, Sxy = wsum(x * x) / Wd, wsum(x * y) / Wd
    one = Wn / Wd
    if shift:
        a11 = Sxx + ridge_scale
        a12 = Sx
        a22 = one + ridge_shift
        r1 = Sxy + ridge_scale * s0
        r2 = Sy
        det = a11 * a22 - a12 * a12
        S = (a22 * r1 - a12 * r2) / det
        T = (a11 * r2 - a12 * r1) / det
    else:
        S = (Sxy + ridge_scale * s0) / (Sxx + ridge_scale)
        T = np.zeros_like(S)
    return _upsample(S, h, w), _upsample(T, h, w)


def align_dense(depth: np.ndarray, pairs: DepthPairs, **kw) -> np.ndarray:
    """Depth corrected by the dense scale/shift maps: ``S * depth + T`` (invalid stays 0)."""
    d = np.asarray(depth, np.float64)
    S, T = dense_scale_shift(d.shape, pairs, **kw)
    out = S * d + T
    return np.where((d > 0) & (out > 0), out, 0).astype(np.float32)


# ----------------------------------------------------------------------------- correspondences
def overlap_pairs(
    depth: np.ndarray,
    intr: Intrinsics,
    c2w: np.ndarray,
    ref_depth: np.ndarray,
    ref_intr: Intrinsics,
    ref_c2w: np.ndarray,
    max_pairs: int | None = 20000,
    seed: int = 0,
) -> DepthPairs:
    """Pairs from overlapping pixels: the trusted ``ref_depth`` is projected into this view
    (nearest surface per pixel) and paired with this view's ``depth`` there."""
    d = np.asarray(depth, np.float64)
    if d.shape != (intr.height, intr.width):
        raise See3DError(f"depth map is {d.shape[1]}x{d.shape[0]} but the intrinsics are for {intr.width}x{intr.height}")
    rd = np.asarray(ref_depth, np.float64)
    if rd.shape != (ref_intr.height, ref_intr.width):
        raise See3DError(f"reference depth is {rd.shape[1]}x{rd.shape[0]} but its intrinsics are for {ref_intr.width}x{ref_intr.height}")
    valid = np.isfinite(rd) & (rd > 0)
    pts = unproject_depth(np.where(valid, rd, 0), ref_intr, ref_c2w)[valid]
    uv, z = project_points(pts, intr, c2w)
    ui, vi = np.round(uv[:, 0]).astype(np.int64), np.round(uv[:, 1]).astype(np.int64)
    ok = (z > 0) & (ui >= 0) & (ui < intr.width) & (vi >= 0) & (vi < intr.height)
    ui, vi, z = ui[ok], vi[ok], z[ok]
    zbuf = np.full(d.shape, np.inf)
    np.minimum.at(zbuf, (vi, ui), z)
    have = np.isfinite(zbuf) & np.isfinite(d) & (d > 0)
    vv, uu = np.nonzero(have)
    if max_pairs is not None and len(vv) > max_pairs:
        sel = np.random.default_rng(seed).choice(len(vv), max_pairs, replace=False)
        vv, uu = vv[sel], uu[sel]
    return DepthPairs(np.stack([uu, vv], 1).astype(np.float64), d[vv, uu], zbuf[vv, uu])


def match_keypoints(
    image: np.ndarray, ref_image: np.ndarray, method: str = "sift", ratio: float = 0.75, ransac_px: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Matched pixel coordinates ``(uv [N, 2], ref_uv [N, 2])``: SIFT or ORB, Lowe ratio test,
    RANSAC on the fundamental matrix."""
    import cv2

    def grey(a):
        a = np.asarray(a)
        if a.dtype != np.uint8:
            a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
        return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if a.ndim == 3 else a

    if method == "sift":
        det, norm = cv2.SIFT_create(nfeatures=4000), cv2.NORM_L2
    elif method == "orb":
        det, norm = cv2.ORB_create(nfeatures=4000), cv2.NORM_HAMMING
    else:
        raise See3DError(f"unknown keypoint method {method!r} (use 'sift' or 'orb')")
    k1, d1 = det.detectAndCompute(grey(image), None)
    k2, d2 = det.detectAndCompute(grey(ref_image), None)
    if d1 is None or d2 is None or len(k1) < 8 or len(k2) < 8:
        return np.zeros((0, 2)), np.zeros((0, 2))
    knn = cv2.BFMatcher(norm).knnMatch(d1, d2, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if len(good) < 8:
        return np.zeros((0, 2)), np.zeros((0, 2))
    p1 = np.float64([k1[m.queryIdx].pt for m in good])
    p2 = np.float64([k2[m.trainIdx].pt for m in good])
    _, inl = cv2.findFundamentalMat(p1, p2, cv2.FM_RANSAC, ransac_px, 0.999)
    if inl is None:
        return np.zeros((0, 2)), np.zeros((0, 2))
    keep = inl.ravel().astype(bool)
    return p1[keep], p2[keep]


def keypoint_pairs(
    image: np.ndarray,
    depth: np.ndarray,
    intr: Intrinsics,
    c2w: np.ndarray,
    ref_image: np.ndarray,
    ref_depth: np.ndarray,
    ref_intr: Intrinsics,
    ref_c2w: np.ndarray,
    method: str = "sift",
    ratio: float = 0.75,
) -> DepthPairs:
    """Pairs from matched keypoints: each reference keypoint's 3D point (from ``ref_depth``) is
    projected into this view; its camera z is what this view's depth should read at the match."""
    uv, ruv = match_keypoints(image, ref_image, method, ratio)
    d = np.asarray(depth, np.float64)
    rd = np.asarray(ref_depth, np.float64)
    if len(uv) == 0:
        return DepthPairs(np.zeros((0, 2)), np.zeros(0), np.zeros(0))
    ri = np.clip(np.round(ruv).astype(np.int64), 0, [ref_intr.width - 1, ref_intr.height - 1])
    zi = np.clip(np.round(uv).astype(np.int64), 0, [intr.width - 1, intr.height - 1])
    rz = rd[ri[:, 1], ri[:, 0]]
    x = d[zi[:, 1], zi[:, 0]]
    ok = np.isfinite(rz) & (rz > 0) & np.isfinite(x) & (x > 0)
    rays = np.stack([(ruv[:, 0] - ref_intr.cx) / ref_intr.fx, (ruv[:, 1] - ref_intr.cy) / ref_intr.fy, np.ones(len(ruv))], 1)
    pts_cam = rays * np.where(ok, rz, 0)[:, None]
    R, t = np.asarray(ref_c2w)[:3, :3], np.asarray(ref_c2w)[:3, 3]
    pts_w = pts_cam @ R.T + t
    _, z = project_points(pts_w, intr, c2w)
    ok &= z > 0
    return DepthPairs(uv[ok], x[ok], z[ok])
