"""Compiled CPU forward warper (numba): the same algorithm as :mod:`see3d.warp.reference`.

Loops over targets in parallel (``prange``); each target runs the four steps of
:mod:`see3d.warp._common` over all sources with explicit loops, so the footprint
boxes and tents cost only the pixels they touch. Compiled once and cached on
disk (``cache=True``); the first call in a fresh environment pays the compile.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from see3d.warp._common import FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD


@njit(cache=True, inline="always")
def _neighbour(depth, u, v, z, ok, s, i, j, ni, nj, H, W, edge_tol, max_splat):
    """``(same_surface, |du|, |dv|, |dz|)`` of neighbour ``(ni, nj)`` of sample ``(s, i, j)``."""
    if ni < 0 or ni >= H or nj < 0 or nj >= W or not ok[s, ni, nj]:
        return False, 0.0, 0.0, 0.0
    d = depth[s, i, j]
    dn = depth[s, ni, nj]
    if math.isinf(d) or math.isinf(dn):
        if not (math.isinf(d) and math.isinf(dn)):
            return False, 0.0, 0.0, 0.0
    elif abs(d - dn) > edge_tol * min(d, dn):
        return False, 0.0, 0.0, 0.0
    du = abs(u[s, ni, nj] - u[s, i, j])
    dv = abs(v[s, ni, nj] - v[s, i, j])
    if du > max_splat or dv > max_splat:
        return False, 0.0, 0.0, 0.0
    return True, du, dv, abs(z[s, ni, nj] - z[s, i, j])


@njit(cache=True)
def _warp_target(rgb, depth, Ks, kt, P, width, height, mode, depth_tol, edge_tol, max_splat, out_rgb, out_depth, out_mask):
    S, H, W, C = rgb.shape
    u = np.empty((S, H, W))
    v = np.empty((S, H, W))
    z = np.empty((S, H, W))
    m_u = np.empty((S, H, W))
    m_v = np.empty((S, H, W))
    ok = np.zeros((S, H, W), np.bool_)
    fxt, fyt, cxt, cyt = kt[0], kt[1], kt[2], kt[3]

    # 1. project
    for s in range(S):
        fx, fy, cx, cy = Ks[s, 0], Ks[s, 1], Ks[s, 2], Ks[s, 3]
        R00, R01, R02, t0 = P[s, 0, 0], P[s, 0, 1], P[s, 0, 2], P[s, 0, 3]
        R10, R11, R12, t1 = P[s, 1, 0], P[s, 1, 1], P[s, 1, 2], P[s, 1, 3]
        R20, R21, R22, t2 = P[s, 2, 0], P[s, 2, 1], P[s, 2, 2], P[s, 2, 3]
        for i in range(H):
            for j in range(W):
                dd = depth[s, i, j]
                sky = math.isinf(dd) and dd > 0
                if not (sky or (math.isfinite(dd) and dd > 0)):
                    continue
                d = 1.0 if sky else dd
                tr = 0.0 if sky else 1.0
                X = (j - cx) / fx * d
                Y = (i - cy) / fy * d
                Xt = R00 * X + R01 * Y + R02 * d + t0 * tr
                Yt = R10 * X + R11 * Y + R12 * d + t1 * tr
                Zt = R20 * X + R21 * Y + R22 * d + t2 * tr
                if not Zt > NEAR:
                    continue
                uu = fxt * Xt / Zt + cxt
                vv = fyt * Yt / Zt + cyt
                if not (uu > -FAR_PIXELS and uu < width + FAR_PIXELS and vv > -FAR_PIXELS and vv < height + FAR_PIXELS):
                    continue
                ok[s, i, j] = True
                u[s, i, j] = uu
                v[s, i, j] = vv
                z[s, i, j] = Z_SKY if sky else Zt
                m_u[s, i, j] = fxt / fx * d / Zt
                m_v[s, i, j] = fyt / fy * d / Zt

    # 2. footprints
    h_u = np.empty((S, H, W))
    h_v = np.empty((S, H, W))
    slope = np.zeros((S, H, W))
    for s in range(S):
        for i in range(H):
            for j in range(W):
                if not ok[s, i, j]:
                    continue
                xu, xv, yu, yv, dz = -1.0, -1.0, -1.0, -1.0, 0.0
                for k in range(4):
                    if k == 0:
                        ni, nj = i, j + 1
                    elif k == 1:
                        ni, nj = i, j - 1
                    elif k == 2:
                        ni, nj = i + 1, j
                    else:
                        ni, nj = i - 1, j
                    same, du, dv, ddz = _neighbour(depth, u, v, z, ok, s, i, j, ni, nj, H, W, edge_tol, max_splat)
                    if not same:
                        continue
                    if k < 2:
                        xu = max(xu, du)
                        xv = max(xv, dv)
                    else:
                        yu = max(yu, du)
                        yv = max(yv, dv)
                    dz = max(dz, ddz)
                if xu >= 0:
                    ax_u, ax_v = xu, xv
                else:
                    ax_u, ax_v = m_u[s, i, j], 0.0
                if yu >= 0:
                    ay_u, ay_v = yu, yv
                else:
                    ay_u, ay_v = 0.0, m_v[s, i, j]
                h_u[s, i, j] = min(max(0.5 * (ax_u + ay_u), 0.5), 0.5 * max_splat)
                h_v[s, i, j] = min(max(0.5 * (ax_v + ay_v), 0.5), 0.5 * max_splat)
                slope[s, i, j] = dz

    # 3. coverage z-buffer
    zf = np.full((height, width), np.inf)
    df = np.full((height, width), np.inf)
    win = np.full((height, width), -1, np.int64)
    for s in range(S):
        for i in range(H):
            for j in range(W):
                if not ok[s, i, j]:
                    continue
                uu, vv, zz, dz = u[s, i, j], v[s, i, j], z[s, i, j], slope[s, i, j]
                x0 = max(int(math.ceil(uu - h_u[s, i, j])), 0)
                x1 = min(int(math.floor(uu + h_u[s, i, j])), width - 1)
                y0 = max(int(math.ceil(vv - h_v[s, i, j])), 0)
                y1 = min(int(math.floor(vv + h_v[s, i, j])), height - 1)
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        if zz < zf[y, x] or (zz == zf[y, x] and dz < df[y, x]):
                            zf[y, x] = zz
                            df[y, x] = dz
                            win[y, x] = (s * H + i) * W + j

    if mode == 1:  # nearest: the front-most covering sample
        for y in range(height):
            for x in range(width):
                w = win[y, x]
                if w < 0:
                    continue
                s, r = w // (H * W), w % (H * W)
                i, j = r // W, r % W
                for c in range(C):
                    out_rgb[y, x, c] = rgb[s, i, j, c]
                out_depth[y, x] = math.inf if zf[y, x] >= Z_SKY_THRESHOLD else zf[y, x]
                out_mask[y, x] = True
        return

    # 4. tent splat onto covered pixels, front surface only
    acc = np.zeros((height, width, C))
    wsum = np.zeros((height, width))
    zsum = np.zeros((height, width))
    for s in range(S):
        for i in range(H):
            for j in range(W):
                if not ok[s, i, j]:
                    continue
                uu, vv, zz, dz = u[s, i, j], v[s, i, j], z[s, i, j], slope[s, i, j]
                r_u, r_v = 2.0 * h_u[s, i, j], 2.0 * h_v[s, i, j]
                x0 = max(int(math.floor(uu - r_u)) + 1, 0)
                x1 = min(int(math.ceil(uu + r_u)) - 1, width - 1)
                y0 = max(int(math.floor(vv - r_v)) + 1, 0)
                y1 = min(int(math.ceil(vv + r_v)) - 1, height - 1)
                for y in range(y0, y1 + 1):
                    wy = 1.0 - abs(y - vv) / r_v
                    if not wy > 0:
                        continue
                    for x in range(x0, x1 + 1):
                        wx = 1.0 - abs(x - uu) / r_u
                        if not wx > 0:
                            continue
                        zfr = zf[y, x]
                        if not (zfr < math.inf):
                            continue
                        if abs(zz - zfr) > depth_tol * zfr + dz + df[y, x]:
                            continue
                        w = wx * wy
                        for c in range(C):
                            acc[y, x, c] += rgb[s, i, j, c] * w
                        wsum[y, x] += w
                        zsum[y, x] += zz * w
    for y in range(height):
        for x in range(width):
            if zf[y, x] < math.inf and wsum[y, x] > 0:
                for c in range(C):
                    out_rgb[y, x, c] = acc[y, x, c] / wsum[y, x]
                zz = zsum[y, x] / wsum[y, x]
                out_depth[y, x] = math.inf if zz >= Z_SKY_THRESHOLD else zz
                out_mask[y, x] = True


@njit(cache=True, parallel=True)
def _warp_all(rgb, depth, Ks, Kt, P, width, height, mode, depth_tol, edge_tol, max_splat, out_rgb, out_depth, out_mask):
    for t in prange(Kt.shape[0]):
        _warp_target(
            rgb, depth, Ks, Kt[t], P[t], width, height, mode, depth_tol, edge_tol, max_splat,
            out_rgb[t], out_depth[t], out_mask[t],
        )


def warp_numba(
    rgb: np.ndarray,
    depth: np.ndarray,
    Ks: np.ndarray,
    Kt: np.ndarray,
    P: np.ndarray,
    width: int,
    height: int,
    mode: int = 0,
    depth_tol: float = 0.01,
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepared arrays in (see :mod:`see3d.warp._common`), ``rgb, depth, mask`` out (``[T, h, w, ...]``)."""
    T = Kt.shape[0]
    C = rgb.shape[3]
    out_rgb = np.zeros((T, height, width, C), np.float32)
    out_depth = np.zeros((T, height, width), np.float32)
    out_mask = np.zeros((T, height, width), np.bool_)
    _warp_all(
        np.ascontiguousarray(rgb, dtype=np.float32),
        np.ascontiguousarray(depth, dtype=np.float64),
        np.ascontiguousarray(Ks, dtype=np.float64),
        np.ascontiguousarray(Kt, dtype=np.float64),
        np.ascontiguousarray(P, dtype=np.float64),
        int(width), int(height), int(mode), float(depth_tol), float(edge_tol), float(max_splat),
        out_rgb, out_depth, out_mask,
    )
    return out_rgb, out_depth, out_mask
