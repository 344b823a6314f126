"""Parallel CPU kernels (numba) for tile binning and front-to-back compositing.

They compute exactly the maths of :mod:`see3d.gs._reference` (read that first), fast:

* Binning: every visible Gaussian, already in depth order, carries a conservative
  pixel box (its 3-sigma / alpha-threshold ellipse); it is listed in each 16x16 tile
  its box touches. Lists keep depth order.
* Forward: tiles are independent; :func:`see3d.gs.rasterize` hands disjoint sets of
  tiles to a few Python threads, each running a serial, GIL-free kernel. For each Gaussian of the tile's list, only
  the pixels of its box inside the tile are visited; per-pixel transmittance lives in a
  small per-tile array; a pixel is done once its transmittance would fall below 1e-4,
  the tile once all its pixels are. No pixels x Gaussians tensor exists anywhere.
* Backward: per tile, the list is walked in reverse from the last contributor of each
  pixel, recovering each step's transmittance from the saved final one
  (``T_i = T_{i+1} / (1 - alpha_i)``) and recomputing alpha. Gradients go into one slot
  per (tile, Gaussian) pair and are summed afterwards: no atomics, deterministic.

Everything is float32; constants are float32 globals (a bare Python float literal would
promote the arithmetic to float64). Kernels are serial ``nogil`` functions rather than
``parallel=True`` ones: on the 2-core target that compiles in a fraction of the time
(first call) and avoids OpenMP threads spinning against PyTorch's own; threads over
tile sets give the same parallel speed-up.
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


@nb.njit(cache=True, inline="always")
def power_limit(o):  # pragma: no cover - compiled
    """Largest ``power`` at which a Gaussian of opacity ``o`` can still add to a pixel."""
    lim = np.log(o * INV_ALPHA_THRESHOLD)
    if lim > POWER_CUTOFF:
        lim = POWER_CUTOFF
    return lim


@nb.njit(cache=True, inline="always")
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


@nb.njit(cache=True, nogil=True)
def bin_gaussians(boxes, width, height):  # pragma: no cover - compiled
    """boxes [M, 4] int32 (x0, x1, y0, y1), depth-ordered -> (tile_start [T+1], tile_ids [P])."""
    ntx = (width + TILE - 1) // TILE
    nty = (height + TILE - 1) // TILE
    ntiles = ntx * nty
    counts = np.zeros(ntiles + 1, dtype=np.int64)
    m = boxes.shape[0]
    for g in range(m):
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
    for g in range(m):
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
    height = rgb.shape[0]
    ntx = (width + TILE - 1) // TILE
    for oi in range(tiles.shape[0]):
        t = tiles[oi]
        ty = t // ntx
        tx = t - ty * ntx
        u0 = tx * TILE
        v0 = ty * TILE
        u1 = min(u0 + TILE, width) - 1
        v1 = min(v0 + TILE, height) - 1
        start = tile_start[t]
        end = tile_start[t + 1]
        T = np.ones((TILE, TILE), dtype=np.float32)
        cr = np.zeros((TILE, TILE), dtype=np.float32)
        cg = np.zeros((TILE, TILE), dtype=np.float32)
        cb = np.zeros((TILE, TILE), dtype=np.float32)
        cd = np.zeros((TILE, TILE), dtype=np.float32)
        last = np.full((TILE, TILE), start, dtype=np.int32)
        done = np.zeros((TILE, TILE), dtype=np.bool_)
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
                dy = my - _f32(v)
                iy = v - v0
                lo, hi = row_span(mx, my, ca, cbb, cc, plim, v, bx0, bx1)
                for u in range(lo, hi + 1):
                    ix = u - u0
                    if done[iy, ix]:
                        continue
                    dx = mx - _f32(u)
                    power = HALF * (ca * dx * dx + cc * dy * dy) + cbb * dx * dy
                    if power > POWER_CUTOFF:
                        continue
                    a = o * np.exp(-power)
                    if a < ALPHA_THRESHOLD:
                        continue
                    if a > ALPHA_MAX:
                        a = ALPHA_MAX
                    Ti = T[iy, ix]
                    Tn = Ti * (ONE - a)
                    if Tn < T_MIN:
                        done[iy, ix] = True
                        ndone += 1
                        continue
                    w = a * Ti
                    cr[iy, ix] += w * r
                    cg[iy, ix] += w * gg
                    cb[iy, ix] += w * b
                    cd[iy, ix] += w * z
                    T[iy, ix] = Tn
                    last[iy, ix] = k + 1
            if ndone == npix:
                break
        for v in range(v0, v1 + 1):
            for u in range(u0, u1 + 1):
                iy = v - v0
                ix = u - u0
                rgb[v, u, 0] = cr[iy, ix]
                rgb[v, u, 1] = cg[iy, ix]
                rgb[v, u, 2] = cb[iy, ix]
                accd[v, u] = cd[iy, ix]
                tfin[v, u] = T[iy, ix]
                ncon[v, u] = last[iy, ix]


@nb.njit(cache=True, nogil=True)
def composite_backward(
    xy, conic, color, opac, depth, boxes, tile_start, tile_ids, tiles, width,
    tfin, ncon, grad_rgb, grad_accd, grad_alpha, slots,
):  # pragma: no cover - compiled
    """Per-(tile, Gaussian) gradient slots ``[P, 10]`` (layout G_*) for the tiles in ``tiles``.

    Writes ``slots[k]`` for every list position ``k`` of those tiles (in place); sum them
    per Gaussian with :func:`reduce_slots`. Disjoint tile sets may run concurrently.
    """
    height = tfin.shape[0]
    ntx = (width + TILE - 1) // TILE
    for oi in range(tiles.shape[0]):
        t = tiles[oi]
        ty = t // ntx
        tx = t - ty * ntx
        u0 = tx * TILE
        v0 = ty * TILE
        u1 = min(u0 + TILE, width) - 1
        v1 = min(v0 + TILE, height) - 1
        start = tile_start[t]
        T = np.ones((TILE, TILE), dtype=np.float32)
        Tf = np.ones((TILE, TILE), dtype=np.float32)
        last = np.zeros((TILE, TILE), dtype=np.int32)
        sr = np.zeros((TILE, TILE), dtype=np.float32)
        sg = np.zeros((TILE, TILE), dtype=np.float32)
        sb = np.zeros((TILE, TILE), dtype=np.float32)
        sd = np.zeros((TILE, TILE), dtype=np.float32)
        gr = np.zeros((TILE, TILE), dtype=np.float32)
        gg_ = np.zeros((TILE, TILE), dtype=np.float32)
        gb = np.zeros((TILE, TILE), dtype=np.float32)
        gd = np.zeros((TILE, TILE), dtype=np.float32)
        ga = np.zeros((TILE, TILE), dtype=np.float32)
        kmax = start
        for v in range(v0, v1 + 1):
            for u in range(u0, u1 + 1):
                iy = v - v0
                ix = u - u0
                T[iy, ix] = tfin[v, u]
                Tf[iy, ix] = tfin[v, u]
                last[iy, ix] = ncon[v, u]
                gr[iy, ix] = grad_rgb[v, u, 0]
                gg_[iy, ix] = grad_rgb[v, u, 1]
                gb[iy, ix] = grad_rgb[v, u, 2]
                gd[iy, ix] = grad_accd[v, u]
                ga[iy, ix] = grad_alpha[v, u]
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
                dy = my - _f32(v)
                iy = v - v0
                lo, hi = row_span(mx, my, ca, cbb, cc, plim, v, bx0, bx1)
                for u in range(lo, hi + 1):
                    ix = u - u0
                    if k >= last[iy, ix]:
                        continue
                    dx = mx - _f32(u)
                    power = HALF * (ca * dx * dx + cc * dy * dy) + cbb * dx * dy
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
                    Ti = T[iy, ix] * inv
                    T[iy, ix] = Ti
                    w = a * Ti
                    pr = gr[iy, ix]
                    pg = gg_[iy, ix]
                    pb = gb[iy, ix]
                    pd = gd[iy, ix]
                    d_r += w * pr
                    d_g += w * pg
                    d_b += w * pb
                    d_z += w * pd
                    dL_da = (
                        pr * (r * Ti - sr[iy, ix] * inv)
                        + pg * (gcol * Ti - sg[iy, ix] * inv)
                        + pb * (b * Ti - sb[iy, ix] * inv)
                        + pd * (z * Ti - sd[iy, ix] * inv)
                        + ga[iy, ix] * Tf[iy, ix] * inv
                    )
                    sr[iy, ix] += w * r
                    sg[iy, ix] += w * gcol
                    sb[iy, ix] += w * b
                    sd[iy, ix] += w * z
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
def reduce_slots(slots, tile_ids, m):  # pragma: no cover - compiled
    """Sum the per-(tile, Gaussian) gradient slots into ``[m, 10]`` per-Gaussian gradients."""
    out = np.zeros((m, N_GRAD), dtype=np.float32)
    for k in range(tile_ids.shape[0]):
        g = tile_ids[k]
        for j in range(N_GRAD):
            out[g, j] += slots[k, j]
    return out
