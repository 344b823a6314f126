"""Compiled CPU forward warper (numba): the same algorithm as :mod:`see3d.warp.reference`.

Layout of the work (see :mod:`see3d.warp._common` for the four steps):

- once per call, per source pixel (target independent): a flag byte (valid, sky,
  same surface as the right / lower neighbour by the ``edge_tol`` source-depth test)
  and the depth used for unprojection (1 for sky, 0 for invalid);
- per target, **pass 1** streams each source row by row. Every source pixel is
  projected exactly once, into a three-row ring buffer (rows ``i - 1, i, i + 1``),
  so the footprint of row ``i`` comes from already projected neighbours. The
  projection is the combined matrix ``K_t [R | t]`` applied to the source ray, which
  is affine along a row. The footprint box is rasterised at once into the coverage
  z-buffer (front depth, its slope; float32 pairs), and the sample
  ``(u, v, z, h_u, h_v, dz)`` is kept as one float32 record;
- **pass 2** (``splat="bilinear"``) reads the records in source order and
  accumulates each tent on the pixels of the front surface;
- **pass 3** normalises the accumulators into the outputs and resets the work
  buffers for the next target (so they are cleared only where they were touched).

Buffers are allocated once per thread and reused for all its targets; targets run in
parallel (``prange``) over chunks. Geometry (projection, footprints, coverage boxes)
is computed in float64 like the reference, so the masks agree; stored records,
z-buffer and accumulators are float32. Compiled once and cached on disk
(``cache=True``); the first call in a fresh environment pays the compile.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from see3d.warp._common import FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD

#: Source flag bits (computed once per call).
_VALID = np.uint8(1)  # a surface or sky pixel
_SKY = np.uint8(2)
_SAME_R = np.uint8(4)  # same surface as the right neighbour (source-depth test)
_SAME_D = np.uint8(8)  # same surface as the lower neighbour
#: Empty z-buffer entry (finite, beyond Z_SKY, so no inf arithmetic in the loops).
_EMPTY = np.float32(3.0e38)
_F32 = np.float32

_JIT = dict(cache=True, error_model="numpy", boundscheck=False)


@njit(**_JIT)
def _floor(x):
    """``floor(x)`` as an integer without a libm call (``|x| < 2**31``)."""
    i = int(x)
    return i - 1 if x < i else i


@njit(**_JIT)
def _ceil(x):
    """``ceil(x)`` as an integer without a libm call (``|x| < 2**31``)."""
    i = int(x)
    return i + 1 if x > i else i


@njit(**_JIT)
def _source_flags(depth, edge_tol):
    """Per source pixel: flag byte and unprojection depth (target independent)."""
    S, H, W = depth.shape
    flags = np.zeros((S, H, W), np.uint8)
    dsrc = np.zeros((S, H, W))
    for s in range(S):
        for i in range(H):
            for j in range(W):
                d = depth[s, i, j]
                if math.isfinite(d) and d > 0:
                    flags[s, i, j] = _VALID
                    dsrc[s, i, j] = d
                elif math.isinf(d) and d > 0:
                    flags[s, i, j] = _VALID | _SKY
                    dsrc[s, i, j] = 1.0  # a direction with unit z
        for i in range(H):
            for j in range(W):
                f = flags[s, i, j]
                if f == 0:
                    continue
                d = depth[s, i, j]
                for di, dj, bit in ((0, 1, _SAME_R), (1, 0, _SAME_D)):
                    ii, jj = i + di, j + dj
                    if ii >= H or jj >= W:
                        continue
                    g = flags[s, ii, jj]
                    if g == 0 or (f & _SKY) != (g & _SKY):
                        continue
                    e = depth[s, ii, jj]
                    if (f & _SKY) or abs(d - e) <= edge_tol * min(d, e):
                        flags[s, i, j] |= bit
    return flags, dsrc


@njit(**_JIT)
def _buffers(N, W, C, width, height, mode):
    """Work buffers of one thread, reused for all its targets (kept clean between targets)."""
    ring = np.empty((12, W))  # u, v, z (Z_SKY for sky, -1 = dropped), d / z_t: 3 rows each
    rel = np.empty((9, W))  # |du|, |dv|, |dz| to the right, lower and upper neighbours
    A = ((C + 4 + 3) // 4) * 4
    # per target pixel, with a 2-pixel border: zf, df, sum w, sum w z, sum w colour
    pix = np.zeros((height + 4) * (width + 4) * A, np.float32)
    pix[0::A] = _EMPTY
    rec = np.empty((N if mode == 0 else 1, 6), np.float32)  # u, v, z, h_u, h_v, dz per sample
    win = np.full((height + 4) * (width + 4) if mode == 1 else 1, -1, np.int64)
    return ring, rel, pix, rec, win


@njit(**_JIT)
def _project_row(dsrc, flags, s, i, M, ks, width, height, ring, slot):
    """Step 1 for source row ``i`` into ring slot ``slot``: ``u, v``, z-buffer depth (or -1), ``d / z_t``."""
    W = dsrc.shape[2]
    fx, fy, cx, cy = ks[0], ks[1], ks[2], ks[3]
    yi = (i - cy) / fy
    # homogeneous target pixel of the unit-depth ray of column j: b + j * g
    b0 = M[0, 2] + M[0, 1] * yi - M[0, 0] * cx / fx
    b1 = M[1, 2] + M[1, 1] * yi - M[1, 0] * cx / fx
    b2 = M[2, 2] + M[2, 1] * yi - M[2, 0] * cx / fx
    g0, g1, g2 = M[0, 0] / fx, M[1, 0] / fx, M[2, 0] / fx
    t0, t1, t2 = M[0, 3], M[1, 3], M[2, 3]
    lo_u, hi_u, lo_v, hi_v = -FAR_PIXELS, width + FAR_PIXELS, -FAR_PIXELS, height + FAR_PIXELS
    for j in range(W):
        f = flags[s, i, j]
        d = dsrc[s, i, j]
        tr = 1.0 if (f & 3) == 1 else 0.0  # surfaces; points at infinity ignore translation
        X = d * (b0 + j * g0) + tr * t0
        Y = d * (b1 + j * g1) + tr * t1
        Z = d * (b2 + j * g2) + tr * t2
        iz = 1.0 / Z
        u = X * iz
        v = Y * iz
        ok = f != 0 and Z > NEAR and u > lo_u and u < hi_u and v > lo_v and v < hi_v
        ring[slot, j] = u
        ring[3 + slot, j] = v
        ring[6 + slot, j] = (Z_SKY if f & _SKY else Z) if ok else -1.0
        ring[9 + slot, j] = d * iz


@njit(**_JIT)
def _relations(ring, a, b, same_bits, bit, rel, r0, off, max_splat, n):
    """Steps of ``n`` neighbour pairs between ring slots ``a`` (index ``j``) and ``b`` (index ``j + off``).

    Writes ``|du|, |dv|`` (-1 = not the same surface) and ``|dz|`` (0) to ``rel[r0:r0 + 3, j]``.
    """
    for j in range(n):
        z1 = ring[6 + a, j]
        z2 = ring[6 + b, j + off]
        du = abs(ring[b, j + off] - ring[a, j])
        dv = abs(ring[3 + b, j + off] - ring[3 + a, j])
        same = (same_bits[j] & bit) != 0 and z1 > 0 and z2 > 0 and du <= max_splat and dv <= max_splat
        rel[r0, j] = du if same else -1.0
        rel[r0 + 1, j] = dv if same else -1.0
        rel[r0 + 2, j] = abs(z2 - z1) if same else 0.0


@njit(**_JIT)
def _cover(pix, a, inside, z, dz, win, p, k, mode):
    """Coverage z-test of one candidate pixel (record at ``a``, index ``p``), as selects."""
    zf = pix[a]
    df = pix[a + 1]
    front = inside & ((z < zf) | ((z == zf) & (dz < df)))
    pix[a] = z if front else zf
    pix[a + 1] = dz if front else df
    if mode == 1:
        win[p] = k if front else win[p]


@njit(**_JIT)
def _pass1(dsrc, flags, Ks, kt, P, width, height, mode, max_splat, ring, rel, pix, A, rec, win):
    """Steps 1-3 for one target: project, footprint, coverage z-buffer; records for step 4."""
    S, H, W = dsrc.shape
    half_max = 0.5 * max_splat
    pw = width + 4  # rows of the work buffer (2-pixel border)
    M = np.empty((3, 4))
    for s in range(S):
        for c in range(4):  # M = K_t @ P[s]
            M[0, c] = kt[0] * P[s, 0, c] + kt[2] * P[s, 2, c]
            M[1, c] = kt[1] * P[s, 1, c] + kt[3] * P[s, 2, c]
            M[2, c] = P[s, 2, c]
        mx, my = kt[0] / Ks[s, 0], kt[1] / Ks[s, 1]
        _project_row(dsrc, flags, s, 0, M, Ks[s], width, height, ring, 0)
        # rel rows: 0-2 right pairs (index j: pair j, j + 1), then lower and upper pairs (index j)
        lo, up = 3, 6
        rel[up : up + 2, :] = -1.0
        rel[up + 2, :] = 0.0
        rel[0:2, W - 1] = -1.0  # the last column has no right neighbour
        rel[2, W - 1] = 0.0
        for i in range(H):
            cs = i % 3
            ns = (i + 1) % 3
            if i + 1 < H:
                _project_row(dsrc, flags, s, i + 1, M, Ks[s], width, height, ring, ns)
                _relations(ring, cs, ns, flags[s, i], _SAME_D, rel, lo, 0, max_splat, W)
            else:
                rel[lo : lo + 2, :] = -1.0
                rel[lo + 2, :] = 0.0
            _relations(ring, cs, cs, flags[s, i], _SAME_R, rel, 0, 1, max_splat, W - 1)
            base = (s * H + i) * W
            for j in range(W):
                k = base + j
                zz = ring[6 + cs, j]
                if not zz > 0:
                    if mode == 0:
                        rec[k, 3] = 0.0
                    continue
                # right pair (j, j + 1) at rel[., j], left pair (j - 1, j) at rel[., j - 1]
                xu = rel[0, j]
                xv = rel[1, j]
                dz = rel[2, j]
                if j > 0:
                    xu = max(xu, rel[0, j - 1])
                    xv = max(xv, rel[1, j - 1])
                    dz = max(dz, rel[2, j - 1])
                yu = max(rel[lo, j], rel[up, j])
                yv = max(rel[lo + 1, j], rel[up + 1, j])
                dz = max(dz, max(rel[lo + 2, j], rel[up + 2, j]))
                q = ring[9 + cs, j]
                if xu >= 0:
                    ax_u, ax_v = xu, xv
                else:
                    ax_u, ax_v = mx * q, 0.0
                if yu >= 0:
                    ay_u, ay_v = yu, yv
                else:
                    ay_u, ay_v = 0.0, my * q
                hu = min(max(0.5 * (ax_u + ay_u), 0.5), half_max)
                hv = min(max(0.5 * (ax_v + ay_v), 0.5), half_max)
                u = ring[cs, j]
                v = ring[3 + cs, j]
                z32 = _F32(zz)
                dz32 = _F32(dz)
                if mode == 0:
                    rec[k, 0] = u
                    rec[k, 1] = v
                    rec[k, 2] = z32
                    rec[k, 3] = hu
                    rec[k, 4] = hv
                    rec[k, 5] = dz32
                x0 = _ceil(u - hu)
                x1 = _floor(u + hu)
                y0 = _ceil(v - hv)
                y1 = _floor(v + hv)
                if hu <= 0.75 and hv <= 0.75 and x0 >= -1 and y0 >= -1 and x0 < width and y0 < height:
                    # the usual case: a box of at most 2 x 2 pixels, written without branches
                    # (the candidates outside the box or the image are rewritten unchanged)
                    xa = x0 >= 0
                    xb = x0 < x1 and x0 + 1 < width
                    ya = y0 >= 0
                    yb = y0 < y1 and y0 + 1 < height
                    p = (y0 + 2) * pw + x0 + 2
                    _cover(pix, p * A, xa & ya, z32, dz32, win, p, k, mode)
                    _cover(pix, (p + 1) * A, xb & ya, z32, dz32, win, p + 1, k, mode)
                    _cover(pix, (p + pw) * A, xa & yb, z32, dz32, win, p + pw, k, mode)
                    _cover(pix, (p + pw + 1) * A, xb & yb, z32, dz32, win, p + pw + 1, k, mode)
                    continue
                for y in range(max(y0, 0), min(y1, height - 1) + 1):
                    for x in range(max(x0, 0), min(x1, width - 1) + 1):
                        p = (y + 2) * pw + x + 2
                        a = p * A
                        zf = pix[a]
                        if z32 < zf or (z32 == zf and dz32 < pix[a + 1]):
                            pix[a] = z32
                            pix[a + 1] = dz32
                            if mode == 1:
                                win[p] = k
            lo, up = up, lo  # the lower pairs of this row are the upper pairs of the next


@njit(**_JIT)
def _pass2(rgb, rec, pix, A, width, height, depth_tol):
    """Step 4: tent of radius ``2 h`` of each sample onto the covered pixels of its front surface.

    The tent's integer range is tight (``|x - u| < 2 h``), so every weight is positive up to
    rounding (clamped at 0).
    """
    S, H, W, C = rgb.shape
    pw = width + 4
    one = _F32(1.0)
    zero = _F32(0.0)
    tol = _F32(depth_tol)
    col = rgb.reshape(S * H * W, C)
    for k in range(S * H * W):
        hu = rec[k, 3]
        if not hu > 0:
            continue
        u, v, zz, hv, dz = rec[k, 0], rec[k, 1], rec[k, 2], rec[k, 4], rec[k, 5]
        c0 = col[k, 0]
        c1 = col[k, 1] if C > 1 else c0
        c2 = col[k, 2] if C > 2 else c0
        ru = _F32(2.0) * hu
        rv = _F32(2.0) * hv
        iu = one / ru
        iv = one / rv
        x0 = max((_floor(u - ru)) + 1, 0)
        x1 = min((_ceil(u + ru)) - 1, width - 1)
        y0 = max((_floor(v - rv)) + 1, 0)
        y1 = min((_ceil(v + rv)) - 1, height - 1)
        for y in range(y0, y1 + 1):
            wy = max(one - abs(_F32(y) - v) * iv, zero)
            for x in range(x0, x1 + 1):
                a = ((y + 2) * pw + x + 2) * A
                zf = pix[a]
                if zf < _EMPTY and abs(zz - zf) <= tol * zf + dz + pix[a + 1]:
                    w = wy * max(one - abs(_F32(x) - u) * iu, zero)
                    pix[a + 2] += w
                    pix[a + 3] += w * zz
                    if C == 3:  # the common case, unrolled
                        pix[a + 4] += w * c0
                        pix[a + 5] += w * c1
                        pix[a + 6] += w * c2
                    else:
                        for c in range(C):
                            pix[a + 4 + c] += w * col[k, c]


@njit(**_JIT)
def _pass3(rgb, pix, A, win, mode, out_rgb, out_depth, out_mask):
    """Normalise into the outputs, reset the touched work buffers for the next target."""
    S, H, W, C = rgb.shape
    height, width = out_depth.shape
    col = rgb.reshape(S * H * W, C)
    pw = width + 4
    for y in range(height):
        for x in range(width):
            p = (y + 2) * pw + x + 2
            a = p * A
            zf = pix[a]
            if not zf < _EMPTY:
                continue
            out_mask[y, x] = True
            if mode == 1:
                k = win[p]
                win[p] = -1
                for c in range(C):
                    out_rgb[y, x, c] = col[k, c]
                out_depth[y, x] = math.inf if zf >= Z_SKY_THRESHOLD else zf
            else:
                ws = pix[a + 2]
                if ws > 0:
                    iw = _F32(1.0) / ws
                    for c in range(C):
                        out_rgb[y, x, c] = pix[a + 4 + c] * iw
                    zz = pix[a + 3] * iw
                    out_depth[y, x] = math.inf if zz >= Z_SKY_THRESHOLD else zz
            pix[a] = _EMPTY
            for c in range(1, A):
                pix[a + c] = 0.0


@njit(**_JIT)
def _warp_target(rgb, dsrc, flags, Ks, kt, P, width, height, mode, depth_tol, max_splat, out_rgb, out_depth, out_mask, bufs):
    ring, rel, pix, rec, win = bufs
    A = ((rgb.shape[3] + 4 + 3) // 4) * 4
    _pass1(dsrc, flags, Ks, kt, P, width, height, mode, max_splat, ring, rel, pix, A, rec, win)
    if mode == 0:
        _pass2(rgb, rec, pix, A, width, height, depth_tol)
    _pass3(rgb, pix, A, win, mode, out_rgb, out_depth, out_mask)


@njit(cache=True, parallel=True)
def _warp_all(rgb, dsrc, flags, Ks, Kt, P, width, height, mode, depth_tol, max_splat, out_rgb, out_depth, out_mask, chunks):
    S, H, W, C = rgb.shape
    T = Kt.shape[0]
    for c in prange(chunks):  # one chunk of targets per thread, buffers allocated once per chunk
        bufs = _buffers(S * H * W, W, C, width, height, mode)
        for t in range(c, T, chunks):
            _warp_target(
                rgb, dsrc, flags, Ks, Kt[t], P[t], width, height, mode, depth_tol, max_splat,
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
    flags, dsrc = _source_flags(np.ascontiguousarray(depth, dtype=np.float64), float(edge_tol))
    _warp_all(
        np.ascontiguousarray(rgb, dtype=np.float32),
        dsrc,
        flags,
        np.ascontiguousarray(Ks, dtype=np.float64),
        np.ascontiguousarray(Kt, dtype=np.float64),
        np.ascontiguousarray(P, dtype=np.float64),
        int(width), int(height), int(mode), float(depth_tol), float(max_splat),
        out_rgb, out_depth, out_mask, max(1, min(T, numba.get_num_threads())),
    )
    return out_rgb, out_depth, out_mask
