"""Parallel CPU kernels (numba) for tile binning and front-to-back compositing.

They compute exactly the maths of :mod:`see3d.gs._reference` (read that first), fast:

* Binning: every visible Gaussian, taken in depth order, carries a conservative
  pixel box (its 3-sigma / alpha-threshold ellipse); it is listed in each 16x16 tile
  its box touches. Lists keep depth order.
* Forward: tiles are independent; :mod:`see3d.gs.rasterize` deals them by cost into
  lanes (one per numba thread) and runs the serial, ``nogil`` per-lane functions on
  parallel threads (:func:`see3d._lanes.run_lanes`). For each Gaussian of the tile's list, only
  the pixels of its row spans inside the tile are visited; per-pixel transmittance lives in a
  small per-tile array; a pixel is done once its transmittance would fall below 1e-4,
  the tile once all its pixels are. No pixels x Gaussians tensor exists anywhere.
* Backward: per tile, the list is walked in reverse from the last contributor of each
  pixel, recovering each step's transmittance from the saved final one
  (``T_i = T_{i+1} / (1 - alpha_i)``) and recomputing alpha. Gradients go into one slot
  per (tile, Gaussian) pair and are summed afterwards: no atomics, deterministic.

Everything is float32; constants are float32 globals (a bare Python float literal would
promote the arithmetic to float64). No kernel is ``parallel=True`` (numba's parfor
compilation cost ~1-2 s per driver on every fresh install); all are cached on disk
(``cache=True``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

TILE = 16
_f32 = np.float32
HALF = _f32(0.5)
ONE = _f32(1.0)
ZERO = _f32(0.0)
ALPHA_THRESHOLD = _f32(1.0 / 255.0)
ALPHA_MAX = _f32(0.99)
POWER_CUTOFF = _f32(4.5)  # 0.5 * 3^2
T_MIN = _f32(1e-4)
INV_ALPHA_THRESHOLD = _f32(255.0)
TWO = _f32(2.0)
SPAN_PAD_REL = _f32(1.0 + 1e-3)
SPAN_PAD_ABS = _f32(1e-3)
SPAN_MARGIN = _f32(0.01)

#: Gradient slot layout (per (tile, Gaussian) pair).
G_MX, G_MY, G_CA, G_CB, G_CC, G_OP, G_R, G_G, G_B, G_Z = range(10)
N_GRAD = 10


@nb.njit(cache=True)
def power_limit(o):  # pragma: no cover - compiled
    """Largest ``power`` at which a Gaussian of opacity ``o`` can still add to a pixel."""
    lim = np.log(o * INV_ALPHA_THRESHOLD)
    if lim > POWER_CUTOFF:
        lim = POWER_CUTOFF
    return lim


@nb.njit(cache=True)
def row_span(mx, my, ca, cb, cc, plim, v, bx0, bx1):  # pragma: no cover - compiled
    """Pixel columns of row ``v`` (within ``[bx0, bx1]``) where ``power <= plim`` may hold.

    Solves the quadratic ``0.5 a dx^2 + b dy dx + 0.5 c dy^2 = plim`` for ``dx`` with a
    slightly enlarged ``plim`` and a margin, so the span is conservative; the exact
    per-pixel tests still decide. Returns an empty span (lo > hi) when nothing can hold.
    """
    dy = my - np.float32(v)
    p = plim * SPAN_PAD_REL + SPAN_PAD_ABS
    disc = cb * cb * dy * dy - ca * (cc * dy * dy - TWO * p)
    if disc < ZERO:
        return 1, 0
    sq = np.sqrt(disc)
    dx_lo = (-cb * dy - sq) / ca
    dx_hi = (-cb * dy + sq) / ca
    lo = np.int64(np.ceil(mx - dx_hi - SPAN_MARGIN))
    hi = np.int64(np.floor(mx - dx_lo + SPAN_MARGIN))
    if lo < bx0:
        lo = bx0
    if hi > bx1:
        hi = bx1
    return lo, hi


def sort_visible(depth, visible):
    """Indices of the visible Gaussians, nearest first; stable (ties keep input order).
    Plain NumPy (as fast as numba's merge sort here, and nothing to compile)."""
    idx = np.flatnonzero(visible)
    return idx[np.argsort(depth[idx], kind="stable")].astype(np.int32)


@nb.njit(cache=True, nogil=True)
def bin_gaussians(order, boxes, width, height):  # pragma: no cover - compiled
    """Tile lists of the Gaussians ``order`` (depth-sorted indices; ``boxes [N, 4]`` int32
    inclusive pixel boxes x0, x1, y0, y1) -> (tile_start [T+1], tile_ids [P] Gaussian indices).
    """
    ntx = (width + TILE - 1) // TILE
    nty = (height + TILE - 1) // TILE
    ntiles = ntx * nty
    counts = np.zeros(ntiles + 1, dtype=np.int64)
    for j in range(order.shape[0]):
        g = order[j]
        tx0 = boxes[g, 0] // TILE
        tx1 = boxes[g, 1] // TILE
        ty0 = boxes[g, 2] // TILE
        ty1 = boxes[g, 3] // TILE
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                counts[ty * ntx + tx + 1] += 1
    for t in range(ntiles):
        counts[t + 1] += counts[t]
    cursor = counts[:ntiles].copy()
    ids = np.empty(counts[ntiles], dtype=np.int32)
    for j in range(order.shape[0]):
        g = order[j]
        tx0 = boxes[g, 0] // TILE
        tx1 = boxes[g, 1] // TILE
        ty0 = boxes[g, 2] // TILE
        ty1 = boxes[g, 3] // TILE
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                t = ty * ntx + tx
                ids[cursor[t]] = g
                cursor[t] += 1
    return counts, ids


@nb.njit(cache=True, nogil=True)
def forward_tile(
    t, xy, conic, color, opac, depth, boxes, tile_start, tile_ids, width,
    rgb, accd, tfin, ncon, T, cr, cg, cb, cd, last,
):  # pragma: no cover - compiled
    """Composite tile ``t`` into its pixels of rgb, acc_depth, T_final, n_contrib.

    ``T, cr, cg, cb, cd`` (float32) and ``last`` (int32) are ``TILE * TILE`` scratch
    arrays. A pixel that is done (its next contribution would take T below 1e-4) keeps
    its transmittance negated, so one load tells "done" and "T" apart.
    """
    height = rgb.shape[0]
    ntx = (width + TILE - 1) // TILE
    ty = t // ntx
    tx = t - ty * ntx
    u0 = tx * TILE
    v0 = ty * TILE
    u1 = min(u0 + TILE, width) - 1
    v1 = min(v0 + TILE, height) - 1
    start = tile_start[t]
    end = tile_start[t + 1]
    for p in range(TILE * TILE):
        T[p] = ONE
        cr[p] = ZERO
        cg[p] = ZERO
        cb[p] = ZERO
        cd[p] = ZERO
        last[p] = start
    npix = (u1 - u0 + 1) * (v1 - v0 + 1)
    ndone = 0
    for k in range(start, end):
        g = tile_ids[k]
        bx0 = max(boxes[g, 0], u0)
        bx1 = min(boxes[g, 1], u1)
        by0 = max(boxes[g, 2], v0)
        by1 = min(boxes[g, 3], v1)
        mx = xy[g, 0]
        my = xy[g, 1]
        ca = conic[g, 0]
        cbb = conic[g, 1]
        cc = conic[g, 2]
        o = opac[g]
        r = color[g, 0]
        gg = color[g, 1]
        b = color[g, 2]
        z = depth[g]
        plim = power_limit(o)
        for v in range(by0, by1 + 1):
            lo, hi = row_span(mx, my, ca, cbb, cc, plim, v, bx0, bx1)
            dy = my - _f32(v)
            cdy2 = cc * dy * dy
            row = (v - v0) * TILE - u0
            for u in range(lo, hi + 1):
                p = row + u
                Ti = T[p]
                if Ti < ZERO:
                    continue
                dx = mx - _f32(u)
                # same operation order as the dense reference (bit-identical power)
                power = HALF * (ca * dx * dx + cdy2) + cbb * dx * dy
                if power > POWER_CUTOFF:
                    continue
                a = o * np.exp(-power)
                if a < ALPHA_THRESHOLD:
                    continue
                a = min(a, ALPHA_MAX)
                Tn = Ti * (ONE - a)
                if Tn < T_MIN:
                    T[p] = -Ti
                    ndone += 1
                    continue
                w = a * Ti
                cr[p] += w * r
                cg[p] += w * gg
                cb[p] += w * b
                cd[p] += w * z
                T[p] = Tn
                last[p] = k + 1
        if ndone == npix:
            break
    for v in range(v0, v1 + 1):
        row = (v - v0) * TILE - u0
        for u in range(u0, u1 + 1):
            p = row + u
            rgb[v, u, 0] = cr[p]
            rgb[v, u, 1] = cg[p]
            rgb[v, u, 2] = cb[p]
            accd[v, u] = cd[p]
            tfin[v, u] = abs(T[p])
            ncon[v, u] = last[p]


@nb.njit(cache=True, nogil=True)
def composite_forward(
    xy, conic, color, opac, depth, boxes, tile_start, tile_ids, tiles, width,
    rgb, accd, tfin, ncon,
):  # pragma: no cover - compiled
    """Composite the tiles listed in ``tiles``, writing their pixels of the outputs in place.

    Outputs: rgb [H, W, 3], acc_depth [H, W], T_final [H, W], n_contrib [H, W] (int32):
    ``n_contrib[v, u]`` is one past the position, in the tile's list, of the pixel's last
    contributing Gaussian (the list start when none contributed). Calls on disjoint tile
    sets touch disjoint memory, so they may run concurrently (the GIL is released).
    """
    n = TILE * TILE
    T = np.empty(n, np.float32)
    cr = np.empty(n, np.float32)
    cg = np.empty(n, np.float32)
    cb = np.empty(n, np.float32)
    cd = np.empty(n, np.float32)
    last = np.empty(n, np.int32)
    for oi in range(tiles.shape[0]):
        forward_tile(tiles[oi], xy, conic, color, opac, depth, boxes, tile_start, tile_ids, width,
                     rgb, accd, tfin, ncon, T, cr, cg, cb, cd, last)


@nb.njit(cache=True, nogil=True)
def backward_tile(
    t, xy, conic, color, opac, depth, boxes, tile_start, tile_ids, width,
    tfin, ncon, grad_rgb, grad_accd, grad_alpha, slots, S, last,
):  # pragma: no cover - compiled
    """Gradient slots of tile ``t`` (see :func:`composite_backward`).

    ``S [TILE * TILE, 11]`` float32 scratch holds per pixel: 0 T (walking back), 1 T_final,
    2-5 the colour/depth accumulated behind (r, g, b, z), 6-9 the upstream gradients of
    (r, g, b, acc_depth), 10 that of alpha; ``last`` int32 the pixel's n_contrib.
    """
    height = tfin.shape[0]
    ntx = (width + TILE - 1) // TILE
    ty = t // ntx
    tx = t - ty * ntx
    u0 = tx * TILE
    v0 = ty * TILE
    u1 = min(u0 + TILE, width) - 1
    v1 = min(v0 + TILE, height) - 1
    start = tile_start[t]
    kmax = start
    for p in range(TILE * TILE):
        last[p] = 0
    for v in range(v0, v1 + 1):
        row = (v - v0) * TILE - u0
        for u in range(u0, u1 + 1):
            p = row + u
            S[p, 0] = tfin[v, u]
            S[p, 1] = tfin[v, u]
            S[p, 2] = ZERO
            S[p, 3] = ZERO
            S[p, 4] = ZERO
            S[p, 5] = ZERO
            S[p, 6] = grad_rgb[v, u, 0]
            S[p, 7] = grad_rgb[v, u, 1]
            S[p, 8] = grad_rgb[v, u, 2]
            S[p, 9] = grad_accd[v, u]
            S[p, 10] = grad_alpha[v, u]
            last[p] = ncon[v, u]
            if ncon[v, u] > kmax:
                kmax = ncon[v, u]
    for k in range(kmax - 1, start - 1, -1):
        g = tile_ids[k]
        bx0 = max(boxes[g, 0], u0)
        bx1 = min(boxes[g, 1], u1)
        by0 = max(boxes[g, 2], v0)
        by1 = min(boxes[g, 3], v1)
        mx = xy[g, 0]
        my = xy[g, 1]
        ca = conic[g, 0]
        cbb = conic[g, 1]
        cc = conic[g, 2]
        o = opac[g]
        r = color[g, 0]
        gcol = color[g, 1]
        b = color[g, 2]
        z = depth[g]
        d_mx = ZERO
        d_my = ZERO
        d_ca = ZERO
        d_cb = ZERO
        d_cc = ZERO
        d_o = ZERO
        d_r = ZERO
        d_g = ZERO
        d_b = ZERO
        d_z = ZERO
        plim = power_limit(o)
        for v in range(by0, by1 + 1):
            lo, hi = row_span(mx, my, ca, cbb, cc, plim, v, bx0, bx1)
            dy = my - _f32(v)
            cdy2 = cc * dy * dy
            row = (v - v0) * TILE - u0
            for u in range(lo, hi + 1):
                p = row + u
                if k >= last[p]:
                    continue
                dx = mx - _f32(u)
                power = HALF * (ca * dx * dx + cdy2) + cbb * dx * dy
                if power > POWER_CUTOFF:
                    continue
                G = np.exp(-power)
                a = o * G
                if a < ALPHA_THRESHOLD:
                    continue
                clamped = a > ALPHA_MAX
                if clamped:
                    a = ALPHA_MAX
                inv = ONE / (ONE - a)
                Ti = S[p, 0] * inv
                S[p, 0] = Ti
                w = a * Ti
                pr = S[p, 6]
                pg = S[p, 7]
                pb = S[p, 8]
                pd = S[p, 9]
                d_r += w * pr
                d_g += w * pg
                d_b += w * pb
                d_z += w * pd
                dL_da = (
                    pr * (r * Ti - S[p, 2] * inv)
                    + pg * (gcol * Ti - S[p, 3] * inv)
                    + pb * (b * Ti - S[p, 4] * inv)
                    + pd * (z * Ti - S[p, 5] * inv)
                    + S[p, 10] * S[p, 1] * inv
                )
                S[p, 2] += w * r
                S[p, 3] += w * gcol
                S[p, 4] += w * b
                S[p, 5] += w * z
                if not clamped:
                    d_o += dL_da * G
                    dL_dp = -dL_da * a
                    d_mx += dL_dp * (ca * dx + cbb * dy)
                    d_my += dL_dp * (cbb * dx + cc * dy)
                    d_ca += dL_dp * HALF * dx * dx
                    d_cb += dL_dp * dx * dy
                    d_cc += dL_dp * HALF * dy * dy
        slots[k, G_MX] = d_mx
        slots[k, G_MY] = d_my
        slots[k, G_CA] = d_ca
        slots[k, G_CB] = d_cb
        slots[k, G_CC] = d_cc
        slots[k, G_OP] = d_o
        slots[k, G_R] = d_r
        slots[k, G_G] = d_g
        slots[k, G_B] = d_b
        slots[k, G_Z] = d_z


@nb.njit(cache=True, nogil=True)
def composite_backward(
    xy, conic, color, opac, depth, boxes, tile_start, tile_ids, tiles, width,
    tfin, ncon, grad_rgb, grad_accd, grad_alpha, slots,
):  # pragma: no cover - compiled
    """Per-(tile, Gaussian) gradient slots ``[P, 10]`` (layout G_*) for the tiles in ``tiles``.

    Writes ``slots[k]`` for every list position ``k`` of those tiles that some pixel
    reached (the others stay as they are: zero them first); sum them per Gaussian with
    :func:`reduce_slots`. Disjoint tile sets may run concurrently.
    """
    S = np.empty((TILE * TILE, 11), np.float32)
    last = np.empty(TILE * TILE, np.int32)
    for oi in range(tiles.shape[0]):
        backward_tile(tiles[oi], xy, conic, color, opac, depth, boxes, tile_start, tile_ids, width,
                      tfin, ncon, grad_rgb, grad_accd, grad_alpha, slots, S, last)


@nb.njit(cache=True, nogil=True)
def reduce_slots(slots, tile_ids, m):  # pragma: no cover - compiled
    """Sum the per-(tile, Gaussian) gradient slots into ``[m, 10]`` per-Gaussian gradients."""
    out = np.zeros((m, N_GRAD), dtype=np.float32)
    for k in range(tile_ids.shape[0]):
        g = tile_ids[k]
        for j in range(N_GRAD):
            out[g, j] += slots[k, j]
    return out


# --------------------------------------------------------------------------- projection
# The same maths as see3d.gs._project.project_gaussians (the readable twin, differentiated
# by autograd), per Gaussian, with a hand-written backward. O(N); kept here because on a
# 2-core CPU ~100 small PyTorch ops per call cost more than the whole compositing.
SH_C0 = _f32(0.28209479177387814)
SH_C1 = _f32(0.4886025119029199)
SH_C2_0 = _f32(1.0925484305920792)
SH_C2_1 = _f32(-1.0925484305920792)
SH_C2_2 = _f32(0.31539156525252005)
SH_C2_3 = _f32(-1.0925484305920792)
SH_C2_4 = _f32(0.5462742152960396)
SH_C3_0 = _f32(-0.5900435899266435)
SH_C3_1 = _f32(2.890611442640554)
SH_C3_2 = _f32(-0.4570457994644658)
SH_C3_3 = _f32(0.3731763325901154)
SH_C3_4 = _f32(-0.4570457994644658)
SH_C3_5 = _f32(1.445305721320277)
SH_C3_6 = _f32(-0.5900435899266435)
DILATION = _f32(0.3)
THREE = _f32(3.0)
FOUR = _f32(4.0)
SIX = _f32(6.0)
EIGHT = _f32(8.0)
TINY = _f32(1e-12)
SIGMA_CUTOFF_SQ = _f32(9.0)
LIM_PAD = _f32(0.15)
BOX_PAD_REL = _f32(1.0 + 1e-3)
BOX_PAD_ABS = _f32(1e-3)


@nb.njit(cache=True)
def _sh_basis(deg, x, y, z, out):  # pragma: no cover - compiled
    """Basis values of the unit direction (x, y, z) into ``out[:(deg + 1) ** 2]``."""
    out[0] = SH_C0
    if deg >= 1:
        out[1] = -SH_C1 * y
        out[2] = SH_C1 * z
        out[3] = -SH_C1 * x
    if deg >= 2:
        xx = x * x
        yy = y * y
        zz = z * z
        out[4] = SH_C2_0 * x * y
        out[5] = SH_C2_1 * y * z
        out[6] = SH_C2_2 * (TWO * zz - xx - yy)
        out[7] = SH_C2_3 * x * z
        out[8] = SH_C2_4 * (xx - yy)
        if deg >= 3:
            out[9] = SH_C3_0 * y * (THREE * xx - yy)
            out[10] = SH_C3_1 * x * y * z
            out[11] = SH_C3_2 * y * (FOUR * zz - xx - yy)
            out[12] = SH_C3_3 * z * (TWO * zz - THREE * xx - THREE * yy)
            out[13] = SH_C3_4 * x * (FOUR * zz - xx - yy)
            out[14] = SH_C3_5 * z * (xx - yy)
            out[15] = SH_C3_6 * x * (xx - THREE * yy)


@nb.njit(cache=True)
def _sh_basis_vjp(deg, x, y, z, gb):  # pragma: no cover - compiled
    """Gradient wrt the unit direction (x, y, z) of ``sum_k gb[k] * basis_k``."""
    gx = ZERO
    gy = ZERO
    gz = ZERO
    if deg >= 1:
        gy -= SH_C1 * gb[1]
        gz += SH_C1 * gb[2]
        gx -= SH_C1 * gb[3]
    if deg >= 2:
        xx = x * x
        yy = y * y
        zz = z * z
        gx += SH_C2_0 * y * gb[4]
        gy += SH_C2_0 * x * gb[4]
        gy += SH_C2_1 * z * gb[5]
        gz += SH_C2_1 * y * gb[5]
        gx -= TWO * SH_C2_2 * x * gb[6]
        gy -= TWO * SH_C2_2 * y * gb[6]
        gz += FOUR * SH_C2_2 * z * gb[6]
        gx += SH_C2_3 * z * gb[7]
        gz += SH_C2_3 * x * gb[7]
        gx += TWO * SH_C2_4 * x * gb[8]
        gy -= TWO * SH_C2_4 * y * gb[8]
        if deg >= 3:
            gx += SIX * SH_C3_0 * x * y * gb[9]
            gy += SH_C3_0 * (THREE * xx - THREE * yy) * gb[9]
            gx += SH_C3_1 * y * z * gb[10]
            gy += SH_C3_1 * x * z * gb[10]
            gz += SH_C3_1 * x * y * gb[10]
            gx -= TWO * SH_C3_2 * x * y * gb[11]
            gy += SH_C3_2 * (FOUR * zz - xx - THREE * yy) * gb[11]
            gz += EIGHT * SH_C3_2 * y * z * gb[11]
            gx -= SIX * SH_C3_3 * x * z * gb[12]
            gy -= SIX * SH_C3_3 * y * z * gb[12]
            gz += SH_C3_3 * (SIX * zz - THREE * xx - THREE * yy) * gb[12]
            gx += SH_C3_4 * (FOUR * zz - THREE * xx - yy) * gb[13]
            gy -= TWO * SH_C3_4 * x * y * gb[13]
            gz += EIGHT * SH_C3_4 * x * z * gb[13]
            gx += TWO * SH_C3_5 * x * z * gb[14]
            gy -= TWO * SH_C3_5 * y * z * gb[14]
            gz += SH_C3_5 * (xx - yy) * gb[14]
            gx += SH_C3_6 * (THREE * xx - THREE * yy) * gb[15]
            gy -= SIX * SH_C3_6 * x * y * gb[15]
    return gx, gy, gz


@nb.njit(cache=True)
def _rotmat(qw, qx, qy, qz, R):  # pragma: no cover - compiled
    R[0, 0] = ONE - TWO * (qy * qy + qz * qz)
    R[0, 1] = TWO * (qx * qy - qw * qz)
    R[0, 2] = TWO * (qx * qz + qw * qy)
    R[1, 0] = TWO * (qx * qy + qw * qz)
    R[1, 1] = ONE - TWO * (qx * qx + qz * qz)
    R[1, 2] = TWO * (qy * qz - qw * qx)
    R[2, 0] = TWO * (qx * qz - qw * qy)
    R[2, 1] = TWO * (qy * qz + qw * qx)
    R[2, 2] = ONE - TWO * (qx * qx + qy * qy)


@nb.njit(cache=True)
def _view_setup(cam, width, height):  # pragma: no cover - compiled
    """``cam`` = (fx, fy, cx, cy) -> (fx, fy, cx, cy, W, H, then the frustum limits of x/z and y/z
    (+x, -x, +y, -y) beyond which the EWA Jacobian is evaluated at the clamped point)."""
    fx = cam[0]
    fy = cam[1]
    cx = cam[2]
    cy = cam[3]
    fw = _f32(width)
    fh = _f32(height)
    lxp = (fw - HALF - cx) / fx + LIM_PAD * fw / fx
    lxn = (cx + HALF) / fx + LIM_PAD * fw / fx
    lyp = (fh - HALF - cy) / fy + LIM_PAD * fh / fy
    lyn = (cy + HALF) / fy + LIM_PAD * fh / fy
    return fx, fy, cx, cy, fw, fh, lxp, lxn, lyp, lyn


@nb.njit(cache=True)
def _camera_centre(W):  # pragma: no cover - compiled
    """World position of the camera of world-to-camera ``W`` (-R^T t)."""
    cpx = -(W[0, 0] * W[0, 3] + W[1, 0] * W[1, 3] + W[2, 0] * W[2, 3])
    cpy = -(W[0, 1] * W[0, 3] + W[1, 1] * W[1, 3] + W[2, 1] * W[2, 3])
    cpz = -(W[0, 2] * W[0, 3] + W[1, 2] * W[1, 3] + W[2, 2] * W[2, 3])
    return cpx, cpy, cpz


@nb.njit(cache=True)
def _to_camera(W, mx, my, mz):  # pragma: no cover - compiled
    x = W[0, 0] * mx + W[0, 1] * my + W[0, 2] * mz + W[0, 3]
    y = W[1, 0] * mx + W[1, 1] * my + W[1, 2] * mz + W[1, 3]
    z = W[2, 0] * mx + W[2, 1] * my + W[2, 2] * mz + W[2, 3]
    return x, y, z


@nb.njit(cache=True)
def _jw_rows(W, ax, ay, ux, uy):  # pragma: no cover - compiled
    """Rows of J W: (f / z) (W_r - u W_2), with ``ax = fx / z``, ``ay = fy / z``, u the clamped x/z, y/z."""
    j00 = ax * (W[0, 0] - ux * W[2, 0])
    j01 = ax * (W[0, 1] - ux * W[2, 1])
    j02 = ax * (W[0, 2] - ux * W[2, 2])
    j10 = ay * (W[1, 0] - uy * W[2, 0])
    j11 = ay * (W[1, 1] - uy * W[2, 1])
    j12 = ay * (W[1, 2] - uy * W[2, 2])
    return j00, j01, j02, j10, j11, j12


@nb.njit(cache=True)
def _unit_quat(quats, i):  # pragma: no cover - compiled
    """Quaternion ``i`` (w, x, y, z) normalised, and its norm."""
    q0 = quats[i, 0]
    q1 = quats[i, 1]
    q2 = quats[i, 2]
    q3 = quats[i, 3]
    qn = max(np.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3), TINY)
    return q0 / qn, q1 / qn, q2 / qn, q3 / qn, qn


@nb.njit(cache=True, nogil=True)
def project_forward(
    lo, hi, means, quats, log_scales, logits, sh, deg, viewmat, cam, width, height, near, far,
    means2d, conics, colors, opac, depths, radii, boxes, visible,
):  # pragma: no cover - compiled
    """Project Gaussians ``lo..hi-1`` (see :func:`see3d.gs._project.project_gaussians`).

    ``cam`` = (fx, fy, cx, cy). Writes the outputs in place; float32 throughout.
    """
    fx, fy, cx, cy, fw, fh, lxp, lxn, lyp, lyn = _view_setup(cam, width, height)
    W = viewmat
    cpx, cpy, cpz = _camera_centre(W)
    nb_ = (deg + 1) * (deg + 1)
    R = np.empty((3, 3), dtype=np.float32)
    basis = np.zeros(16, dtype=np.float32)
    for i in range(lo, hi):
        mx = means[i, 0]
        my = means[i, 1]
        mz = means[i, 2]
        x, y, z = _to_camera(W, mx, my, mz)
        depths[i] = z
        o = ONE / (ONE + np.exp(-logits[i]))
        opac[i] = o
        visible[i] = False
        radii[i] = 0
        boxes[i, 0] = 0
        boxes[i, 1] = 0
        boxes[i, 2] = 0
        boxes[i, 3] = 0
        if not (z > near and z < far):
            continue
        iz = ONE / z
        u = fx * x * iz + cx
        v = fy * y * iz + cy
        means2d[i, 0] = u
        means2d[i, 1] = v
        if not (o >= ALPHA_THRESHOLD):
            continue
        ux = min(max(x * iz, -lxn), lxp)
        uy = min(max(y * iz, -lyn), lyp)
        # rows of J W: (f / z) (W_r - u W_2)
        ax = fx * iz
        ay = fy * iz
        j00, j01, j02, j10, j11, j12 = _jw_rows(W, ax, ay, ux, uy)
        qw, qx, qy, qz, qn = _unit_quat(quats, i)
        _rotmat(qw, qx, qy, qz, R)
        t00 = ZERO
        t01 = ZERO
        t02 = ZERO
        t10 = ZERO
        t11 = ZERO
        t12 = ZERO
        for k in range(3):
            s = np.exp(log_scales[i, k])
            m0 = R[0, k] * s
            m1 = R[1, k] * s
            m2 = R[2, k] * s
            tk0 = j00 * m0 + j01 * m1 + j02 * m2
            tk1 = j10 * m0 + j11 * m1 + j12 * m2
            if k == 0:
                t00 = tk0
                t10 = tk1
            elif k == 1:
                t01 = tk0
                t11 = tk1
            else:
                t02 = tk0
                t12 = tk1
        a = t00 * t00 + t01 * t01 + t02 * t02 + DILATION
        b = t00 * t10 + t01 * t11 + t02 * t12
        c = t10 * t10 + t11 * t11 + t12 * t12 + DILATION
        det = a * c - b * b
        if not (det > ZERO):
            continue
        conics[i, 0] = c / det
        conics[i, 1] = -b / det
        conics[i, 2] = a / det
        # colour
        dx = mx - cpx
        dy = my - cpy
        dz = mz - cpz
        dn = max(np.sqrt(dx * dx + dy * dy + dz * dz), TINY)
        _sh_basis(deg, dx / dn, dy / dn, dz / dn, basis)
        for ch in range(3):
            acc = ZERO
            for k in range(nb_):
                acc += basis[k] * sh[i, k, ch]
            colors[i, ch] = max(acc + HALF, ZERO)
        # reach: the box of the ellipse 0.5 d^T conic d <= min(4.5, ln(255 o))
        k2 = min(TWO * np.log(o * INV_ALPHA_THRESHOLD), SIGMA_CUTOFF_SQ)
        k2 = max(k2, ZERO)
        kk = np.sqrt(k2)
        ex = kk * np.sqrt(a) * BOX_PAD_REL + BOX_PAD_ABS
        ey = kk * np.sqrt(c) * BOX_PAD_REL + BOX_PAD_ABS
        if not (np.isfinite(u) and np.isfinite(v) and np.isfinite(ex) and np.isfinite(ey)):
            continue
        x0 = max(np.ceil(u - ex), ZERO)
        x1 = min(np.floor(u + ex), fw - ONE)
        y0 = max(np.ceil(v - ey), ZERO)
        y1 = min(np.floor(v + ey), fh - ONE)
        if x0 > x1 or y0 > y1:
            continue
        mid = HALF * (a + c)
        lam = mid + np.sqrt(max(mid * mid - det, ZERO))
        visible[i] = True
        radii[i] = np.int32(np.ceil(THREE * np.sqrt(lam)))
        boxes[i, 0] = np.int32(x0)
        boxes[i, 1] = np.int32(x1)
        boxes[i, 2] = np.int32(y0)
        boxes[i, 3] = np.int32(y1)


@nb.njit(cache=True, nogil=True)
def project_backward(
    lo, hi, means, quats, log_scales, logits, sh, deg, viewmat, cam, width, height, visible,
    g_means2d, g_conics, g_colors, g_opac, g_depths,
    d_means, d_quats, d_log_scales, d_logits, d_sh,
):  # pragma: no cover - compiled
    """Vector-Jacobian product of :func:`project_forward` for Gaussians ``lo..hi-1`` (in place).

    Only visible Gaussians get gradients (the compositing gives the others none).
    """
    fx, fy, cx, cy, fw, fh, lxp, lxn, lyp, lyn = _view_setup(cam, width, height)
    W = viewmat
    cpx, cpy, cpz = _camera_centre(W)
    nb_ = (deg + 1) * (deg + 1)
    R = np.empty((3, 3), dtype=np.float32)
    M = np.empty((3, 3), dtype=np.float32)
    gM = np.empty((3, 3), dtype=np.float32)
    sc = np.empty(3, dtype=np.float32)
    basis = np.zeros(16, dtype=np.float32)
    gbasis = np.zeros(16, dtype=np.float32)
    for i in range(lo, hi):
        if not visible[i]:
            continue
        mx = means[i, 0]
        my = means[i, 1]
        mz = means[i, 2]
        x, y, z = _to_camera(W, mx, my, mz)
        # opacity
        o = ONE / (ONE + np.exp(-logits[i]))
        d_logits[i] = g_opac[i] * o * (ONE - o)
        # ---- recompute the covariance chain
        iz = ONE / z
        rx = x * iz
        ry = y * iz
        ux = min(max(rx, -lxn), lxp)
        uy = min(max(ry, -lyn), lyp)
        ax = fx * iz
        ay = fy * iz
        j00, j01, j02, j10, j11, j12 = _jw_rows(W, ax, ay, ux, uy)
        qw, qx, qy, qz, qn = _unit_quat(quats, i)
        _rotmat(qw, qx, qy, qz, R)
        for k in range(3):
            sc[k] = np.exp(log_scales[i, k])
            for j in range(3):
                M[j, k] = R[j, k] * sc[k]
        t00 = j00 * M[0, 0] + j01 * M[1, 0] + j02 * M[2, 0]
        t01 = j00 * M[0, 1] + j01 * M[1, 1] + j02 * M[2, 1]
        t02 = j00 * M[0, 2] + j01 * M[1, 2] + j02 * M[2, 2]
        t10 = j10 * M[0, 0] + j11 * M[1, 0] + j12 * M[2, 0]
        t11 = j10 * M[0, 1] + j11 * M[1, 1] + j12 * M[2, 1]
        t12 = j10 * M[0, 2] + j11 * M[1, 2] + j12 * M[2, 2]
        a = t00 * t00 + t01 * t01 + t02 * t02 + DILATION
        b = t00 * t10 + t01 * t11 + t02 * t12
        c = t10 * t10 + t11 * t11 + t12 * t12 + DILATION
        det = a * c - b * b
        id2 = ONE / (det * det)
        # ---- conic (c, -b, a) / det  ->  (a, b, c)
        gA = g_conics[i, 0]
        gB = g_conics[i, 1]
        gC = g_conics[i, 2]
        ga = (-gA * c * c + gB * b * c - gC * b * b) * id2
        gb_ = (TWO * gA * b * c - gB * (a * c + b * b) + TWO * gC * a * b) * id2
        gc = (-gA * b * b + gB * a * b - gC * a * a) * id2
        # ---- a = t0.t0 + .3, b = t0.t1, c = t1.t1 + .3
        gt00 = TWO * ga * t00 + gb_ * t10
        gt01 = TWO * ga * t01 + gb_ * t11
        gt02 = TWO * ga * t02 + gb_ * t12
        gt10 = TWO * gc * t10 + gb_ * t00
        gt11 = TWO * gc * t11 + gb_ * t01
        gt12 = TWO * gc * t12 + gb_ * t02
        # ---- t_rk = sum_j j_rj M_jk
        gj00 = gt00 * M[0, 0] + gt01 * M[0, 1] + gt02 * M[0, 2]
        gj01 = gt00 * M[1, 0] + gt01 * M[1, 1] + gt02 * M[1, 2]
        gj02 = gt00 * M[2, 0] + gt01 * M[2, 1] + gt02 * M[2, 2]
        gj10 = gt10 * M[0, 0] + gt11 * M[0, 1] + gt12 * M[0, 2]
        gj11 = gt10 * M[1, 0] + gt11 * M[1, 1] + gt12 * M[1, 2]
        gj12 = gt10 * M[2, 0] + gt11 * M[2, 1] + gt12 * M[2, 2]
        for j in range(3):
            jr0 = j00 if j == 0 else (j01 if j == 1 else j02)
            jr1 = j10 if j == 0 else (j11 if j == 1 else j12)
            gM[j, 0] = gt00 * jr0 + gt10 * jr1
            gM[j, 1] = gt01 * jr0 + gt11 * jr1
            gM[j, 2] = gt02 * jr0 + gt12 * jr1
        # ---- M = R diag(s), s = exp(log_scale)
        for k in range(3):
            gs = gM[0, k] * R[0, k] + gM[1, k] * R[1, k] + gM[2, k] * R[2, k]
            d_log_scales[i, k] = gs * sc[k]
        g00 = gM[0, 0] * sc[0]
        g01 = gM[0, 1] * sc[1]
        g02 = gM[0, 2] * sc[2]
        g10 = gM[1, 0] * sc[0]
        g11 = gM[1, 1] * sc[1]
        g12 = gM[1, 2] * sc[2]
        g20 = gM[2, 0] * sc[0]
        g21 = gM[2, 1] * sc[1]
        g22 = gM[2, 2] * sc[2]
        gqw = TWO * (-qz * g01 + qy * g02 + qz * g10 - qx * g12 - qy * g20 + qx * g21)
        gqx = TWO * (qy * g01 + qz * g02 + qy * g10 - TWO * qx * g11 - qw * g12 + qz * g20 + qw * g21
                     - TWO * qx * g22)
        gqy = TWO * (-TWO * qy * g00 + qx * g01 + qw * g02 + qx * g10 + qz * g12 - qw * g20 + qz * g21
                     - TWO * qy * g22)
        gqz = TWO * (-TWO * qz * g00 - qw * g01 + qx * g02 + qw * g10 - TWO * qz * g11 + qy * g12
                     + qx * g20 + qy * g21)
        dot = qw * gqw + qx * gqx + qy * gqy + qz * gqz
        d_quats[i, 0] = (gqw - qw * dot) / qn
        d_quats[i, 1] = (gqx - qx * dot) / qn
        d_quats[i, 2] = (gqy - qy * dot) / qn
        d_quats[i, 3] = (gqz - qz * dot) / qn
        # ---- J W rows: (f / z) (W_r - u W_2), u = clamp(x / z)
        gx = ZERO
        gy = ZERO
        gz = ZERO
        gj0_j0 = gj00 * j00 + gj01 * j01 + gj02 * j02
        gj1_j1 = gj10 * j10 + gj11 * j11 + gj12 * j12
        gz -= (gj0_j0 + gj1_j1) * iz
        gux = -ax * (gj00 * W[2, 0] + gj01 * W[2, 1] + gj02 * W[2, 2])
        guy = -ay * (gj10 * W[2, 0] + gj11 * W[2, 1] + gj12 * W[2, 2])
        if rx >= -lxn and rx <= lxp:
            gx += gux * iz
            gz -= gux * rx * iz
        if ry >= -lyn and ry <= lyp:
            gy += guy * iz
            gz -= guy * ry * iz
        # ---- mean2d and depth
        gu = g_means2d[i, 0]
        gv = g_means2d[i, 1]
        gx += gu * fx * iz
        gy += gv * fy * iz
        gz -= (gu * fx * rx + gv * fy * ry) * iz
        gz += g_depths[i]
        # ---- camera -> world
        dmx = W[0, 0] * gx + W[1, 0] * gy + W[2, 0] * gz
        dmy = W[0, 1] * gx + W[1, 1] * gy + W[2, 1] * gz
        dmz = W[0, 2] * gx + W[1, 2] * gy + W[2, 2] * gz
        # ---- colour: clamp_min(sum_k basis_k sh_k + 0.5, 0)
        vx = mx - cpx
        vy = my - cpy
        vz = mz - cpz
        dn = max(np.sqrt(vx * vx + vy * vy + vz * vz), TINY)
        nx = vx / dn
        ny = vy / dn
        nz = vz / dn
        _sh_basis(deg, nx, ny, nz, basis)
        for k in range(nb_):
            gbasis[k] = ZERO
        for ch in range(3):
            acc = ZERO
            for k in range(nb_):
                acc += basis[k] * sh[i, k, ch]
            gcol = g_colors[i, ch] if acc + HALF >= ZERO else ZERO
            for k in range(nb_):
                d_sh[i, k, ch] = basis[k] * gcol
                gbasis[k] += sh[i, k, ch] * gcol
        if deg > 0:
            gnx, gny, gnz = _sh_basis_vjp(deg, nx, ny, nz, gbasis)
            ndot = nx * gnx + ny * gny + nz * gnz
            dmx += (gnx - nx * ndot) / dn
            dmy += (gny - ny * ndot) / dn
            dmz += (gnz - nz * ndot) / dn
        d_means[i, 0] = dmx
        d_means[i, 1] = dmy
        d_means[i, 2] = dmz
