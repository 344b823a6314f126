"""Compiled kernels of the curation filters (numba, one thread, compiled once and cached on
disk): the dynamic filter's per-pixel tests and distances, the small-viewpoint filter's circle
fits.

:func:`see3d.curate.dynamic.motion_mask` needs, per pixel of a frame pair, a handful of tests
(target inside the image, forward-backward consistency, photometric match) and the Sampson
distance to the pair's epipolar geometry (or the transfer distance to a homography). Written with
NumPy and OpenCV that is ~40 full-size temporaries a pair; here it is two passes over the pixels
and one over a 1/16 grid for the distance quantile. The NumPy / OpenCV versions
(:func:`see3d.curate.flow.fb_consistent`, :func:`see3d.curate.flow.warp_back`,
:func:`see3d.curate.dynamic.sampson_distance`) stay as the reference the tests hold these to
(``motion_mask(..., fast=False)`` runs them).

Bilinear sampling follows ``cv2.remap(INTER_LINEAR, BORDER_REPLICATE)`` with float maps: the
sample position is rounded to 1/32 pixel (OpenCV's ``INTER_BITS = 5``) and the four taps are
weighted with float32 products of the 1-D weights, so the two paths agree to float rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)
_TAB = 32  # OpenCV's INTER_TAB_SIZE (2 ** INTER_BITS)


@njit(inline="always", **_JIT)
def _tap(sx, sy, h, w):
    """Corner ``(x0, y0)``, its far neighbours (the border replicated) and the 1/32-pixel
    fractions of a sample position inside the image (cv2.remap's fixed point)."""
    ix = np.int64(np.rint(sx * np.float32(_TAB)))  # exact: a power of two
    iy = np.int64(np.rint(sy * np.float32(_TAB)))
    x0, y0 = ix >> 5, iy >> 5
    x1 = x0 + 1 if x0 < w - 1 else w - 1
    y1 = y0 + 1 if y0 < h - 1 else h - 1
    k = np.float32(1.0 / _TAB)
    return x0, y0, x1, y1, np.float32(ix & 31) * k, np.float32(iy & 31) * k


@njit(inline="always", **_JIT)
def _weights(fx, fy):
    one = np.float32(1.0)
    return (one - fy) * (one - fx), (one - fy) * fx, fy * (one - fx), fy * fx


@njit(**_JIT)
def reliable_pixels(flow, bwd, a32, b32, tex, alpha, beta, photo_max, use_bwd, use_photo, use_tex):
    """``(valid, |flow|)`` of a frame pair: ``valid`` where ``x + flow(x)`` lies in image b and
    (each when enabled) the backward flow undoes the forward one, ``b32`` sampled there is within
    ``photo_max`` of ``a32``, and ``tex`` is set. Arrays are float32 ``[H, W(, 2)]`` / bool."""
    h, w = flow.shape[0], flow.shape[1]
    valid = np.zeros((h, w), np.bool_)
    mag = np.empty((h, w), np.float32)
    al, be, pm = np.float32(alpha), np.float32(beta), np.float32(photo_max)
    for y in range(h):
        for x in range(w):
            u, v = flow[y, x, 0], flow[y, x, 1]
            fm = np.sqrt(u * u + v * v)
            mag[y, x] = fm
            sx, sy = np.float32(x) + u, np.float32(y) + v
            ok = sx >= 0 and sx <= w - 1 and sy >= 0 and sy <= h - 1  # then 0 <= x0 <= w - 1
            if ok and use_tex:
                ok = tex[y, x]
            if not ok:
                continue
            x0, y0, x1, y1, fx, fy = _tap(sx, sy, h, w)
            w00, w01, w10, w11 = _weights(fx, fy)
            if use_bwd:
                bu = bwd[y0, x0, 0] * w00 + bwd[y0, x1, 0] * w01 + bwd[y1, x0, 0] * w10 + bwd[y1, x1, 0] * w11
                bv = bwd[y0, x0, 1] * w00 + bwd[y0, x1, 1] * w01 + bwd[y1, x0, 1] * w10 + bwd[y1, x1, 1] * w11
                eu, ev = u + bu, v + bv
                if not np.sqrt(eu * eu + ev * ev) < al * (fm + np.sqrt(bu * bu + bv * bv)) + be:
                    continue
            if use_photo:
                bs = b32[y0, x0] * w00 + b32[y0, x1] * w01 + b32[y1, x0] * w10 + b32[y1, x1] * w11
                if not abs(bs - a32[y, x]) <= pm:
                    continue
            valid[y, x] = True
    return valid, mag


@njit(inline="always", **_JIT)
def _distance(f, m, homography, flow, y, x):
    """Distance (float32 pixels) of pixel ``(x, y)``'s match ``(x, y) + flow`` to the two-view
    model: the Sampson distance to a fundamental matrix ``f`` (float32), or (``homography``) the
    transfer distance ``|H x - x'|`` to ``m`` (float64, as ``cv2.perspectiveTransform`` projects)."""
    xf, yf = np.float32(x), np.float32(y)
    x2, y2 = xf + flow[y, x, 0], yf + flow[y, x, 1]
    if homography:
        X, Y = np.float64(xf), np.float64(yf)
        wz = m[2, 0] * X + m[2, 1] * Y + m[2, 2]
        wz = 1.0 / wz if wz != 0 else 0.0
        dx = np.float32((m[0, 0] * X + m[0, 1] * Y + m[0, 2]) * wz) - x2
        dy = np.float32((m[1, 0] * X + m[1, 1] * Y + m[1, 2]) * wz) - y2
        return np.sqrt(dx * dx + dy * dy)
    a = f[0, 0] * xf + (f[0, 1] * yf + f[0, 2])
    b = f[1, 0] * xf + (f[1, 1] * yf + f[1, 2])
    c = f[2, 0] * xf + (f[2, 1] * yf + f[2, 2])
    at = f[0, 0] * x2 + f[1, 0] * y2 + f[2, 0]
    bt = f[0, 1] * x2 + f[1, 1] * y2 + f[2, 1]
    num = x2 * a + y2 * b + c
    den = max(a * a + b * b + at * at + bt * bt, np.float32(1e-20))
    return abs(num) / np.sqrt(den)


@njit(**_JIT)
def distances_at(flow, model, homography, valid, step):
    """Distances (float32 pixels) to ``model`` (a fundamental matrix, or a homography) of the
    ``valid`` pixels of the grid ``[::step, ::step]``, in row-major order (``valid`` all set,
    ``step`` 1: every pixel)."""
    h, w = flow.shape[0], flow.shape[1]
    f, m = model.astype(np.float32), model.astype(np.float64)
    out = np.empty(((h + step - 1) // step) * ((w + step - 1) // step), np.float32)
    n = 0
    for y in range(0, h, step):
        for x in range(0, w, step):
            if valid[y, x]:
                out[n] = _distance(f, m, homography, flow, y, x)
                n += 1
    return out[:n]


@njit(**_JIT)
def model_mask(flow, model, homography, valid, mag, thr, rel):
    """``valid & (distance > max(thr, rel * |flow|))`` as uint8 0 / 1, the distance to ``model``
    computed only where ``valid`` (``rel <= 0``: ``thr`` alone)."""
    h, w = flow.shape[0], flow.shape[1]
    f, m = model.astype(np.float32), model.astype(np.float64)
    out = np.zeros((h, w), np.uint8)
    t0, r = np.float32(thr), np.float32(rel)
    for y in range(h):
        for x in range(w):
            if valid[y, x]:
                t = max(t0, r * mag[y, x]) if r > 0 else t0
                if _distance(f, m, homography, flow, y, x) > t:
                    out[y, x] = 1
    return out


@njit(**_JIT)
def smallest_circles(p, n, hyp, need):
    """Per track ``k`` (points ``p[k, :n[k]]``, float64): the radius of the smallest hypothesis
    circle that holds at least ``need[k]`` points, ``inf`` when none does. Hypotheses
    ``hyp[k]`` (int ``[5 iters]``): ``iters`` point triples (circumcircles: all a's, all b's,
    all c's) then ``iters`` point pairs (circles on a diameter: all first, all second points).
    The specification is the NumPy branch of :func:`see3d.curate.viewpoint.circle_radii`."""
    K = p.shape[0]
    iters = hyp.shape[1] // 5
    out = np.full(K, np.inf)
    for k in range(K):
        best = np.inf
        for h in range(2 * iters):
            if h < iters:
                ax, ay = p[k, hyp[k, h], 0], p[k, hyp[k, h], 1]
                bx, by = p[k, hyp[k, iters + h], 0], p[k, hyp[k, iters + h], 1]
                cx_, cy_ = p[k, hyp[k, 2 * iters + h], 0], p[k, hyp[k, 2 * iters + h], 1]
                A0, A1 = 2 * (bx - ax), 2 * (by - ay)
                B0, B1 = 2 * (cx_ - ax), 2 * (cy_ - ay)
                E = (bx * bx + by * by) - (ax * ax + ay * ay)
                Fv = (cx_ * cx_ + cy_ * cy_) - (ax * ax + ay * ay)
                G = A0 * B1 - A1 * B0
                if not abs(G) > 1e-9:
                    continue
                ox, oy = (B1 * E - A1 * Fv) / G, (A0 * Fv - B0 * E) / G
                r = np.sqrt((ox - ax) * (ox - ax) + (oy - ay) * (oy - ay))
            else:
                j = h - iters
                dx_, dy_ = p[k, hyp[k, 3 * iters + j], 0], p[k, hyp[k, 3 * iters + j], 1]
                ex, ey = p[k, hyp[k, 4 * iters + j], 0], p[k, hyp[k, 4 * iters + j], 1]
                ox, oy = (dx_ + ex) / 2, (dy_ + ey) / 2
                r = np.sqrt((dx_ - ex) * (dx_ - ex) + (dy_ - ey) * (dy_ - ey)) / 2
            if not (np.isfinite(r) and r < best):
                continue
            lim = r * (1 + 1e-9) + 1e-6
            held = 0
            for i in range(n[k]):
                qx, qy = p[k, i, 0] - ox, p[k, i, 1] - oy
                if np.sqrt(qx * qx + qy * qy) <= lim:
                    held += 1
            if held >= need[k]:
                best = r
        out[k] = best
    return out
