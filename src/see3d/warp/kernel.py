"""Compiled CPU forward warper (numba): the same algorithm as :mod:`see3d.warp.reference`.

Loops over targets in parallel (``prange``); each target runs the four steps of
:mod:`see3d.warp._common` over all sources with explicit loops, so the footprint
boxes and tents cost only the pixels they touch. Compiled once and cached on
disk (``cache=True``); the first call in a fresh environment pays the compile.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from see3d.warp._common import FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD


@njit(cache=True, error_model="numpy")
def _pair(ok1, ok2, d1, d2, u1, u2, v1, v2, z1, z2, edge_tol, max_splat):
    """``(same_surface, |du|, |dv|, |dz|)`` of two neighbouring samples (a symmetric relation)."""
    if not (ok1 and ok2):
        return False, 0.0, 0.0, 0.0
    sky1 = math.isinf(d1)
    if sky1 != math.isinf(d2):
        return False, 0.0, 0.0, 0.0
    if not sky1 and abs(d1 - d2) > edge_tol * min(d1, d2):
        return False, 0.0, 0.0, 0.0
    du = abs(u2 - u1)
    dv = abs(v2 - v1)
    if du > max_splat or dv > max_splat:
        return False, 0.0, 0.0, 0.0
    return True, du, dv, 0.0 if sky1 else abs(z2 - z1)


@njit(cache=True, error_model="numpy")
def _buffers(S, H, W, C, width, height, mode):
    """Work buffers of one target, reused for the next target of the same thread."""
    u = np.empty((S, H, W))
    v = np.empty((S, H, W))
    zt = np.empty((S, H, W))  # target camera z (of the direction, for sky)
    ok = np.empty((S, H, W), np.bool_)
    h_u = np.empty((S, H, W), np.float32)
    h_v = np.empty((S, H, W), np.float32)
    slope = np.empty((S, H, W), np.float32)
    zb = np.empty((height, width, 2))  # front depth, its slope
    win = np.empty((height, width) if mode == 1 else (1, 1), np.int64)
    acc = np.empty((height, width, C + 2) if mode == 0 else (1, 1, C + 2), np.float32)
    return u, v, zt, ok, h_u, h_v, slope, zb, win, acc


@njit(cache=True, error_model="numpy")
def _project(depth, Ks, kt, P, width, height, u, v, zt, ok):
    """Step 1: target position ``u, v``, camera z ``zt`` (of the direction for sky) and ``ok``."""
    S, H, W = depth.shape
    fxt, fyt, cxt, cyt = kt[0], kt[1], kt[2], kt[3]
    for s in range(S):
        fx, fy, cx, cy = Ks[s, 0], Ks[s, 1], Ks[s, 2], Ks[s, 3]
        R00, R01, R02, t0 = P[s, 0, 0], P[s, 0, 1], P[s, 0, 2], P[s, 0, 3]
        R10, R11, R12, t1 = P[s, 1, 0], P[s, 1, 1], P[s, 1, 2], P[s, 1, 3]
        R20, R21, R22, t2 = P[s, 2, 0], P[s, 2, 1], P[s, 2, 2], P[s, 2, 3]
        dep, us, vs, zs, oks = depth[s], u[s], v[s], zt[s], ok[s]
        for i in range(H):
            for j in range(W):
                oks[i, j] = False
                dd = dep[i, j]
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
                oks[i, j] = True
                us[i, j] = uu
                vs[i, j] = vv
                zs[i, j] = Zt


@njit(cache=True, error_model="numpy")
def _footprints_and_zbuffer(depth, Ks, kt, u, v, zt, ok, h_u, h_v, slope, zb, win, mode, edge_tol, max_splat):
    """Steps 2 and 3: footprint of each sample, then its box into the coverage z-buffer."""
    S, H, W = depth.shape
    height, width = zb.shape[0], zb.shape[1]
    zb[:, :, 0] = np.inf
    zb[:, :, 1] = np.inf
    win[:] = -1
    half_max = 0.5 * max_splat
    # relations of each pixel with its right and lower neighbours, one source row at a time
    r_same = np.empty(W, np.bool_)
    r_du, r_dv, r_dz = np.empty(W), np.empty(W), np.empty(W)
    d_same, up_same = np.empty(W, np.bool_), np.empty(W, np.bool_)
    d_du, d_dv, d_dz = np.empty(W), np.empty(W), np.empty(W)
    up_du, up_dv, up_dz = np.empty(W), np.empty(W), np.empty(W)
    for s in range(S):
        fx, fy = Ks[s, 0], Ks[s, 1]
        mx, my = kt[0] / fx, kt[1] / fy
        dep, us, vs, zs, oks = depth[s], u[s], v[s], zt[s], ok[s]
        hus, hvs, sls = h_u[s], h_v[s], slope[s]
        up_same[:] = False
        for i in range(H):
            r_same[W - 1] = False
            for j in range(W - 1):
                r_same[j], r_du[j], r_dv[j], r_dz[j] = _pair(
                    oks[i, j], oks[i, j + 1], dep[i, j], dep[i, j + 1], us[i, j], us[i, j + 1],
                    vs[i, j], vs[i, j + 1], zs[i, j], zs[i, j + 1], edge_tol, max_splat,
                )
            if i + 1 < H:
                for j in range(W):
                    d_same[j], d_du[j], d_dv[j], d_dz[j] = _pair(
                        oks[i, j], oks[i + 1, j], dep[i, j], dep[i + 1, j], us[i, j], us[i + 1, j],
                        vs[i, j], vs[i + 1, j], zs[i, j], zs[i + 1, j], edge_tol, max_splat,
                    )
            else:
                d_same[:] = False
            for j in range(W):
                if not oks[i, j]:
                    continue
                d = dep[i, j]
                sky = math.isinf(d)
                uu, vv, z_t = us[i, j], vs[i, j], zs[i, j]
                xu, xv, yu, yv, dz = -1.0, -1.0, -1.0, -1.0, 0.0
                if r_same[j]:
                    xu, xv, dz = max(xu, r_du[j]), max(xv, r_dv[j]), max(dz, r_dz[j])
                if j > 0 and r_same[j - 1]:
                    xu, xv, dz = max(xu, r_du[j - 1]), max(xv, r_dv[j - 1]), max(dz, r_dz[j - 1])
                if d_same[j]:
                    yu, yv, dz = max(yu, d_du[j]), max(yv, d_dv[j]), max(dz, d_dz[j])
                if up_same[j]:
                    yu, yv, dz = max(yu, up_du[j]), max(yv, up_dv[j]), max(dz, up_dz[j])
                # no same-surface neighbour along a grid direction: isotropic magnification
                if xu >= 0:
                    ax_u, ax_v = xu, xv
                else:
                    ax_u, ax_v = mx * (1.0 if sky else d) / z_t, 0.0
                if yu >= 0:
                    ay_u, ay_v = yu, yv
                else:
                    ay_u, ay_v = 0.0, my * (1.0 if sky else d) / z_t
                hu = min(max(0.5 * (ax_u + ay_u), 0.5), half_max)
                hv = min(max(0.5 * (ax_v + ay_v), 0.5), half_max)
                hus[i, j] = hu  # kept as float32 for step 4; the box below uses float64
                hvs[i, j] = hv
                sls[i, j] = dz
                zz = Z_SKY if sky else z_t
                x0 = max(int(math.ceil(uu - hu)), 0)
                x1 = min(int(math.floor(uu + hu)), width - 1)
                y0 = max(int(math.ceil(vv - hv)), 0)
                y1 = min(int(math.floor(vv + hv)), height - 1)
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        zf = zb[y, x, 0]
                        if zz < zf or (zz == zf and dz < zb[y, x, 1]):
                            zb[y, x, 0] = zz
                            zb[y, x, 1] = dz
                            if mode == 1:
                                win[y, x] = (s * H + i) * W + j
            # the lower relations of this row are the upper relations of the next
            up_same, d_same = d_same, up_same
            up_du, d_du = d_du, up_du
            up_dv, d_dv = d_dv, up_dv
            up_dz, d_dz = d_dz, up_dz


@njit(cache=True, error_model="numpy")
def _blend(rgb, depth, u, v, zt, ok, h_u, h_v, slope, zb, acc, depth_tol, out_rgb, out_depth, out_mask):
    """Step 4: tent splat of each sample onto the covered pixels of its front surface."""
    S, H, W, C = rgb.shape
    height, width = zb.shape[0], zb.shape[1]
    acc[:] = 0.0  # colour sums, weight sum, depth sum
    wxs = np.empty(width + 2)  # column weights of one sample
    for s in range(S):
        dep, us, vs, zs, oks = depth[s], u[s], v[s], zt[s], ok[s]
        hus, hvs, sls, col = h_u[s], h_v[s], slope[s], rgb[s]
        for i in range(H):
            for j in range(W):
                if not oks[i, j]:
                    continue
                uu, vv, dz = us[i, j], vs[i, j], sls[i, j]
                zz = Z_SKY if math.isinf(dep[i, j]) else zs[i, j]
                r_u, r_v = 2.0 * hus[i, j], 2.0 * hvs[i, j]
                iu, iv = 1.0 / r_u, 1.0 / r_v
                c0 = col[i, j, 0]
                c1 = col[i, j, 1] if C > 1 else 0.0
                c2 = col[i, j, 2] if C > 2 else 0.0
                x0 = max(int(math.floor(uu - r_u)) + 1, 0)
                x1 = min(int(math.ceil(uu + r_u)) - 1, width - 1)
                y0 = max(int(math.floor(vv - r_v)) + 1, 0)
                y1 = min(int(math.ceil(vv + r_v)) - 1, height - 1)
                if x1 < x0 or y1 < y0:
                    continue
                for x in range(x0, x1 + 1):
                    wxs[x - x0] = 1.0 - abs(x - uu) * iu
                for y in range(y0, y1 + 1):
                    wy = 1.0 - abs(y - vv) * iv
                    if not wy > 0:
                        continue
                    zrow = zb[y]
                    arow = acc[y]
                    for x in range(x0, x1 + 1):
                        wx = wxs[x - x0]
                        if not wx > 0:
                            continue
                        zf = zrow[x, 0]
                        if not (zf < math.inf) or abs(zz - zf) > depth_tol * zf + dz + zrow[x, 1]:
                            continue
                        w = wx * wy
                        if C == 3:  # the common case, unrolled
                            arow[x, 0] += c0 * w
                            arow[x, 1] += c1 * w
                            arow[x, 2] += c2 * w
                        else:
                            for c in range(C):
                                arow[x, c] += col[i, j, c] * w
                        arow[x, C] += w
                        arow[x, C + 1] += zz * w
    for y in range(height):
        for x in range(width):
            ws = acc[y, x, C]
            if zb[y, x, 0] < math.inf and ws > 0:
                for c in range(C):
                    out_rgb[y, x, c] = acc[y, x, c] / ws
                zz = acc[y, x, C + 1] / ws
                out_depth[y, x] = math.inf if zz >= Z_SKY_THRESHOLD else zz
                out_mask[y, x] = True


@njit(cache=True, error_model="numpy")
def _nearest(rgb, zb, win, out_rgb, out_depth, out_mask):
    """Step 4 of ``splat="nearest"``: colour and depth of the front-most covering sample."""
    S, H, W, C = rgb.shape
    height, width = zb.shape[0], zb.shape[1]
    for y in range(height):
        for x in range(width):
            w = win[y, x]
            if w < 0:
                continue
            s, r = w // (H * W), w % (H * W)
            i, j = r // W, r % W
            for c in range(C):
                out_rgb[y, x, c] = rgb[s, i, j, c]
            out_depth[y, x] = math.inf if zb[y, x, 0] >= Z_SKY_THRESHOLD else zb[y, x, 0]
            out_mask[y, x] = True


@njit(cache=True, error_model="numpy")
def _warp_target(rgb, depth, Ks, kt, P, width, height, mode, depth_tol, edge_tol, max_splat, out_rgb, out_depth, out_mask, bufs):
    u, v, zt, ok, h_u, h_v, slope, zb, win, acc = bufs
    _project(depth, Ks, kt, P, width, height, u, v, zt, ok)
    _footprints_and_zbuffer(depth, Ks, kt, u, v, zt, ok, h_u, h_v, slope, zb, win, mode, edge_tol, max_splat)
    if mode == 1:
        _nearest(rgb, zb, win, out_rgb, out_depth, out_mask)
    else:
        _blend(rgb, depth, u, v, zt, ok, h_u, h_v, slope, zb, acc, depth_tol, out_rgb, out_depth, out_mask)


@njit(cache=True, parallel=True)
def _warp_all(rgb, depth, Ks, Kt, P, width, height, mode, depth_tol, edge_tol, max_splat, out_rgb, out_depth, out_mask, chunks):
    S, H, W, C = rgb.shape
    T = Kt.shape[0]
    for c in prange(chunks):  # one chunk of targets per thread, buffers allocated once per chunk
        bufs = _buffers(S, H, W, C, width, height, mode)
        for t in range(c, T, chunks):
            _warp_target(
                rgb, depth, Ks, Kt[t], P[t], width, height, mode, depth_tol, edge_tol, max_splat,
                out_rgb[t], out_depth[t], out_mask[t], bufs,
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
        out_rgb, out_depth, out_mask, max(1, min(T, numba.get_num_threads())),
    )
    return out_rgb, out_depth, out_mask
