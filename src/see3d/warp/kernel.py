"""Compiled CPU forward warper (numba): the same algorithm as :mod:`see3d.warp.reference`.

Layout of the work (see :mod:`see3d.warp._common` for the four steps):

- once per call, per source pixel (target independent): a flag byte (valid, sky,
  same surface as the right / lower neighbour by the ``edge_tol`` source-depth test)
  and the depth used for unprojection (1 for sky, 0 for invalid);
- per target, **pass 1** streams the sources row by row, in four loops over a row:
  row ``i + 1`` is projected into a two-row ring (the combined matrix ``K_t [R | t]``
  applied to the source ray, affine along a row); row ``i`` gets its right and lower
  links (row buffers; the left / upper ones are the previous column's / row's), then
  its footprint boxes (int32, with the coverage case and the box's first z-buffer index),
  inverse Jacobians and neighbour bits in a branch-free loop that LLVM vectorises (see
  :func:`vectoriser_limits`), then a scalar loop writes
  each sample's float32 record (``u, v, z``, inverse Jacobian) and puts its box into
  the coverage z-buffer: one ``uint64`` per target pixel holding ``(float32 bits of z)
  << 32 | sample index``, so the z-test and its tie rule (smaller sample index) are one
  integer ``min``; one-pixel boxes (~86 %) take one ``min``, boxes up to 2 x 2 a fixed
  branch-free window;
- **pass 2** visits the target pixels once: a covered pixel reads its front sample
  from the z-buffer, maps the pixel centre into the sample's source cell with the
  inverse Jacobian and interpolates bilinearly between the linked samples of that
  cell (step 4), writes the outputs and resets the z-buffer row for the next target.

Buffers are allocated once per thread and reused for all its targets; chunks of targets
run on parallel threads (:func:`see3d._lanes.run_lanes`, ``nogil`` kernel). Geometry (projection, footprints, coverage boxes) is
float64 like the reference, so the masks agree; records and the interpolation are
float32. Compiled once and cached on disk (``cache=True``): the first call in a fresh
environment pays the compile (~10 s on the 2-core dev machine; ~13 s with the former
``prange`` driver), later processes load it from the cache.
"""

from __future__ import annotations

import contextlib
import functools
import math

import llvmlite.binding as _llvm
import numpy as np
from numba import njit

from see3d._lanes import num_threads, run_lanes
from see3d.errors import See3DError
from see3d.warp._common import DET_MIN, FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD

#: Source flag bits (computed once per call).
_VALID = np.uint8(1)  # a surface or sky pixel
_SKY = np.uint8(2)
_SAME_R = np.uint8(4)  # same surface as the right neighbour (source-depth test)
_SAME_D = np.uint8(8)  # same surface as the lower neighbour
#: Empty z-buffer entry: larger than every ``(z bits) << 32 | index`` key.
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_LOW = np.uint64(0xFFFFFFFF)
_SH = np.uint64(32)
_F32 = np.float32
_ZSKY32 = np.float32(Z_SKY_THRESHOLD)  # the sky test on float32 depths

_JIT = dict(cache=True, error_model="numpy", boundscheck=False)

#: LLVM's loop-vectoriser limits on run-time overlap checks: (option, LLVM default, raised).
#: The per-row loops of pass 1 read and write a dozen row arrays that LLVM cannot prove
#: disjoint (numba gives it no ``noalias``), so vectorising them needs more run-time
#: checks than the defaults allow; without them the footprint loop stays scalar.
_VEC_LIMITS = (
    ("runtime-memory-check-threshold", 8, 256),
    ("vectorize-memory-check-threshold", 128, 1024),
    ("memory-check-merge-threshold", 100, 1000),
)


@contextlib.contextmanager
def vectoriser_limits():
    """Raise the loop vectoriser's limits while the kernels are called (and so compiled, on
    the first call without a cache), then restore LLVM's defaults so that no other numba
    code in the process is compiled differently. Only the vectoriser's willingness changes:
    results are bit-identical. Unknown options are ignored by LLVM. :func:`warp_numba` enters
    it only until the kernels have their signature (later calls do not touch the options)."""
    for name, _, raised in _VEC_LIMITS:
        _llvm.set_option("", f"-{name}={raised}")
    try:
        yield
    finally:
        for name, default, _ in _VEC_LIMITS:
            _llvm.set_option("", f"-{name}={default}")


@njit(**_JIT)
def _floor32(x):
    """``floor(x)`` as an int32 (``|x| < 2**31``; vectorisable)."""
    i = np.int32(x)
    return i - np.int32(1) if x < i else i


@njit(**_JIT)
def _ceil32(x):
    """``ceil(x)`` as an int32 (``|x| < 2**31``; vectorisable)."""
    i = np.int32(x)
    return i + np.int32(1) if x > i else i


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
def _buffers(N, W, width, height):
    """Work buffers of one thread, reused for all its targets (the z-buffer is kept empty between targets)."""
    ring = np.empty((8, W + 1))  # u, v, z (Z_SKY for sky, -1 = dropped), d / z_t of two rows (+1 pad column)
    rl = np.zeros((3, W + 2))  # right links of the current row at column j + 1: ok (1 / 0), du, dv
    dl = np.zeros((2, 3, W + 2))  # lower links of the current and the previous row (by row parity)
    box = np.empty((6, W), np.int32)  # x0, x1, y0, y1, coverage case, first z-buffer index of the row's boxes
    wk = np.empty((4, W), np.float32)  # inverse Jacobians of the current row
    rec = np.empty(N * 8, np.float32)  # per sample: u, v, z, inverse Jacobian (4), unused
    nb = np.empty(N, np.uint8)  # same-surface neighbour bits
    key = np.full((height + 2) * (width + 2), _EMPTY, np.uint64)  # 1-pixel border
    return ring, rl, dl, box, wk, rec, nb, key


@njit(**_JIT)
def _project_row(dsrc, flags, s, i, M, ks, width, height, ring, slot):
    """Step 1 for source row ``i`` into ring slot ``slot``: ``u, v``, depth (-1 = dropped), ``d / z_t``."""
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
        Zt = d * (b2 + j * g2) + tr * t2
        iz = 1.0 / Zt
        u = X * iz
        v = Y * iz
        ok = (f != 0) & (Zt > NEAR) & (u > lo_u) & (u < hi_u) & (v > lo_v) & (v < hi_v)
        ring[slot, j] = u
        ring[2 + slot, j] = v
        ring[4 + slot, j] = (Z_SKY if f & _SKY else Zt) if ok else -1.0
        ring[6 + slot, j] = d * iz
    ring[4 + slot, W] = -1.0  # pad column: no right neighbour


@njit(**_JIT)
def _links(flags, s, i, ring, cs, ns, ms, rl, dl):
    """Right and lower links of source row ``i`` (row arrays at column ``j + 1``)."""
    W = flags.shape[2]
    for j in range(W):
        f = flags[s, i, j]
        u = ring[cs, j]
        v = ring[2 + cs, j]
        z = ring[4 + cs, j]
        rdu = ring[cs, j + 1] - u
        rdv = ring[2 + cs, j + 1] - v
        r_ok = ((f & _SAME_R) != 0) & (z > 0) & (ring[4 + cs, j + 1] > 0) & (abs(rdu) <= ms) & (abs(rdv) <= ms)
        ddu = ring[ns, j] - u
        ddv = ring[2 + ns, j] - v
        d_ok = ((f & _SAME_D) != 0) & (z > 0) & (ring[4 + ns, j] > 0) & (abs(ddu) <= ms) & (abs(ddv) <= ms)
        rl[0, j + 1] = 1.0 if r_ok else 0.0
        rl[1, j + 1] = rdu
        rl[2, j + 1] = rdv
        dl[0, j + 1] = 1.0 if d_ok else 0.0
        dl[1, j + 1] = ddu
        dl[2, j + 1] = ddv


@njit(**_JIT)
def _footprints(ring, cs, rl, dl, tl, mx, my, half_max, wk, nb, box, width, height):
    """Footprint box, inverse Jacobian and neighbour bits of every sample of one row (branch-free)."""
    W = box.shape[1]
    for j in range(W):
        k = j
        u = ring[cs, j]
        v = ring[2 + cs, j]
        q = ring[6 + cs, j]
        r_ok = rl[0, j + 1] > 0
        cl_ok = rl[0, j] > 0
        d_ok = dl[0, j + 1] > 0
        t_ok = tl[0, j + 1] > 0
        rdu = rl[1, j + 1]
        rdv = rl[2, j + 1]
        cldu = rl[1, j]
        cldv = rl[2, j]
        ddu = dl[1, j + 1]
        ddv = dl[2, j + 1]
        tdu = tl[1, j + 1]
        tdv = tl[2, j + 1]
        rau = abs(rdu) if r_ok else -1.0
        rav = abs(rdv) if r_ok else -1.0
        lau = abs(cldu) if cl_ok else -1.0
        lav = abs(cldv) if cl_ok else -1.0
        dau = abs(ddu) if d_ok else -1.0
        dav = abs(ddv) if d_ok else -1.0
        tau = abs(tdu) if t_ok else -1.0
        tav = abs(tdv) if t_ok else -1.0
        hx = r_ok | cl_ok
        hy = d_ok | t_ok
        ax_u = max(rau, lau) if hx else mx * q
        ax_v = max(rav, lav) if hx else 0.0
        ay_u = max(dau, tau) if hy else 0.0
        ay_v = max(dav, tav) if hy else my * q
        hu = min(max(0.5 * (ax_u + ay_u), 0.5), half_max)
        hv = min(max(0.5 * (ax_v + ay_v), 0.5), half_max)
        rlw = r_ok & cl_ok
        ejx = (0.5 * (rdu + cldu)) if rlw else (rdu if r_ok else (cldu if cl_ok else mx * q))
        ejy = (0.5 * (rdv + cldv)) if rlw else (rdv if r_ok else (cldv if cl_ok else 0.0))
        dtw = d_ok & t_ok
        eix = (0.5 * (ddu + tdu)) if dtw else (ddu if d_ok else (tdu if t_ok else 0.0))
        eiy = (0.5 * (ddv + tdv)) if dtw else (ddv if d_ok else (tdv if t_ok else my * q))
        det = ejx * eiy - eix * ejy
        idet = 1.0 / det if abs(det) > DET_MIN else 0.0
        wk[0, j] = eiy * idet
        wk[1, j] = -eix * idet
        wk[2, j] = -ejy * idet
        wk[3, j] = ejx * idet
        # neighbour bits: 1 / 2 right / left, 4 / 8 down / up, 16 / 32 / 64 / 128 diagonals DR / DL / UR / UL
        nb[k] = (
            (np.uint8(1) if r_ok else np.uint8(0)) | (np.uint8(2) if cl_ok else np.uint8(0))
            | (np.uint8(4) if d_ok else np.uint8(0)) | (np.uint8(8) if t_ok else np.uint8(0))
            | (np.uint8(16) if r_ok & (dl[0, j + 2] > 0) else np.uint8(0))
            | (np.uint8(32) if cl_ok & (dl[0, j] > 0) else np.uint8(0))
            | (np.uint8(64) if r_ok & (tl[0, j + 2] > 0) else np.uint8(0))
            | (np.uint8(128) if cl_ok & (tl[0, j] > 0) else np.uint8(0))
        )
        x0 = _ceil32(u - hu)
        x1 = _floor32(u + hu)
        y0 = _ceil32(v - hv)
        y1 = _floor32(v + hv)
        box[0, j] = x0
        box[1, j] = x1
        box[2, j] = y0
        box[3, j] = y1
        # the coverage case: 1 = one pixel inside the image, 2 = at most 2 x 2 pixels, 0 = larger
        inside = (x0 >= -1) & (y0 >= -1) & (x0 < width) & (y0 < height)
        one = (x0 == x1) & (y0 == y1) & (x0 >= 0) & (y0 >= 0) & inside
        small = (x1 - x0 <= 1) & (y1 - y0 <= 1) & inside
        box[4, j] = np.int32(1) if one else (np.int32(2) if small else np.int32(0))
        # z-buffer index of the box's first pixel (clamped: only used when inside)
        xc = min(max(x0, np.int32(-1)), width)
        yc = min(max(y0, np.int32(-1)), height)
        box[5, j] = (yc + np.int32(1)) * (width + np.int32(2)) + xc + np.int32(1)


@njit(**_JIT)
def _cover(ring, cs, box, wk, rec, key, base, width, height):
    """Step 3 for one source row: the footprint boxes into the coverage z-buffer."""
    W = box.shape[1]
    pw = width + 2
    for j in range(W):
        z = ring[4 + cs, j]
        if not z > 0:
            continue
        kv = (np.uint64(np.float32(z).view(np.uint32)) << _SH) | np.uint64(base + j)
        rec[8 * j] = ring[cs, j]
        rec[8 * j + 1] = ring[2 + cs, j]
        rec[8 * j + 2] = z
        rec[8 * j + 3] = wk[0, j]
        rec[8 * j + 4] = wk[1, j]
        rec[8 * j + 5] = wk[2, j]
        rec[8 * j + 6] = wk[3, j]
        case = box[4, j]
        p = np.uint64(box[5, j])  # >= 0: no wrap-around
        if case == 1:  # the usual case: one pixel
            key[p] = min(key[p], kv)
            continue
        x0 = np.int64(box[0, j])
        x1 = np.int64(box[1, j])
        y0 = np.int64(box[2, j])
        y1 = np.int64(box[3, j])
        if case == 2:
            # a box of at most 2 x 2 pixels, written without branches
            # (the candidates outside the box or the image get the empty key)
            xa = x0 >= 0
            xb = (x0 < x1) & (x0 + 1 < width)
            ya = y0 >= 0
            yb = (y0 < y1) & (y0 + 1 < height)
            q1 = p + np.uint64(1)
            q2 = p + np.uint64(pw)
            q3 = q2 + np.uint64(1)
            key[p] = min(key[p], kv if xa & ya else _EMPTY)
            key[q1] = min(key[q1], kv if xb & ya else _EMPTY)
            key[q2] = min(key[q2], kv if xa & yb else _EMPTY)
            key[q3] = min(key[q3], kv if xb & yb else _EMPTY)
            continue
        for y in range(max(y0, 0), min(y1, height - 1) + 1):
            for x in range(max(x0, 0), min(x1, width - 1) + 1):
                p = (y + 1) * pw + x + 1
                key[p] = min(key[p], kv)


@njit(**_JIT)
def _pass1(dsrc, flags, Ks, kt, P, width, height, max_splat, bufs):
    """Steps 1-3 for one target: project, footprint, coverage z-buffer; sample records for step 4."""
    ring, rl, dl, box, wk, rec, nb, key = bufs
    S, H, W = dsrc.shape
    half_max = 0.5 * max_splat
    w32, h32 = np.int32(width), np.int32(height)
    M = np.empty((3, 4))
    for s in range(S):
        for c in range(4):  # M = K_t @ P[s]
            M[0, c] = kt[0] * P[s, 0, c] + kt[2] * P[s, 2, c]
            M[1, c] = kt[1] * P[s, 1, c] + kt[3] * P[s, 2, c]
            M[2, c] = P[s, 2, c]
        mx, my = kt[0] / Ks[s, 0], kt[1] / Ks[s, 1]
        _project_row(dsrc, flags, s, 0, M, Ks[s], width, height, ring, 0)
        dl[1, 0, :] = 0.0  # row 0 has no upper links
        for i in range(H):
            cs = i % 2
            ns = 1 - cs
            if i + 1 < H:
                _project_row(dsrc, flags, s, i + 1, M, Ks[s], width, height, ring, ns)
            _links(flags, s, i, ring, cs, ns, max_splat, rl, dl[cs])
            base = (s * H + i) * W
            _footprints(ring, cs, rl, dl[cs], dl[ns], mx, my, half_max, wk, nb[base : base + W], box, w32, h32)
            _cover(ring, cs, box, wk, rec[8 * base : 8 * (base + W)], key, base, width, height)


@njit(**_JIT)
def _pass2(rgb, bufs, mode, out_rgb, out_depth, out_mask):
    """Step 4 per covered target pixel: bilinear in the front sample's source cell; resets the z-buffer."""
    ring, rl, dl, box, wk, rec, nb, key = bufs
    S, H, W, C = rgb.shape
    height, width = out_depth.shape
    col = rgb.reshape(S * H * W, C)
    pw = width + 2
    zero = _F32(0.0)
    one = _F32(1.0)
    for y in range(height):
        yf = _F32(y)
        krow = key[(y + 1) * pw + 1 : (y + 1) * pw + 1 + width]
        for x in range(width):
            kv = krow[x]
            if kv == _EMPTY:
                continue
            k = np.int64(kv & _LOW)
            out_mask[y, x] = True
            if mode == 1:
                for c in range(C):
                    out_rgb[y, x, c] = col[k, c]
                zk = rec[8 * k + 2]
                out_depth[y, x] = math.inf if zk >= _ZSKY32 else zk
                continue
            # the pixel centre in source units relative to the sample (local affine model)
            dx = _F32(x) - rec[8 * k + 0]
            dy = yf - rec[8 * k + 1]
            dj = rec[8 * k + 3] * dx + rec[8 * k + 4] * dy
            di = rec[8 * k + 5] * dx + rec[8 * k + 6] * dy
            # the neighbours on the pixel's side, without branches (the signs are data dependent):
            # bits 1 / 2 right / left, 4 / 8 down / up, 16 / 32 / 64 / 128 diagonals DR / DL / UR / UL
            b = np.int64(nb[k])
            rt = dj >= zero
            dn = di >= zero
            h_ok = ((b >> (0 if rt else 1)) & 1) != 0
            v_ok = ((b >> (2 if dn else 3)) & 1) != 0
            g_ok = ((b >> (4 + (0 if rt else 1) + (0 if dn else 2))) & 1) != 0
            sj = (1 if rt else -1) if h_ok else 0
            si = (W if dn else -W) if v_ok else 0
            a = min(abs(dj), one) if h_ok else zero
            c_ = min(abs(di), one) if v_ok else zero
            w1 = a * (one - c_)
            w2 = (one - a) * c_
            n1 = k + sj
            n2 = k + si
            if g_ok:  # the whole cell: the weights sum to 1
                w0 = (one - a) * (one - c_)
                w3 = a * c_
                n3 = n1 + si
            else:  # no diagonal: drop its weight and renormalise
                w0 = (one - a) * (one - c_)
                w3 = zero
                n3 = k
                ws = w0 + w1 + w2
                if not ws > zero:  # p a full cell away on both axes: the sample itself
                    w0 = one
                    ws = one
                iw = one / ws
                w0 *= iw
                w1 *= iw
                w2 *= iw
            # unsigned indices: numba adds no negative-index wrap-around to the loads
            u1, u2, u3 = np.uint64(n1), np.uint64(n2), np.uint64(n3)
            z1, z2, z3 = rec[np.uint64(8 * n1 + 2)], rec[np.uint64(8 * n2 + 2)], rec[np.uint64(8 * n3 + 2)]
            zz = w0 * rec[8 * k + 2] + w1 * z1 + w2 * z2 + w3 * z3
            out_depth[y, x] = math.inf if zz >= _ZSKY32 else zz
            if C == 3:  # the common case, unrolled
                out_rgb[y, x, 0] = w0 * col[k, 0] + w1 * col[u1, 0] + w2 * col[u2, 0] + w3 * col[u3, 0]
                out_rgb[y, x, 1] = w0 * col[k, 1] + w1 * col[u1, 1] + w2 * col[u2, 1] + w3 * col[u3, 1]
                out_rgb[y, x, 2] = w0 * col[k, 2] + w1 * col[u1, 2] + w2 * col[u2, 2] + w3 * col[u3, 2]
            else:
                for c in range(C):
                    out_rgb[y, x, c] = w0 * col[k, c] + w1 * col[u1, c] + w2 * col[u2, c] + w3 * col[u3, c]
        krow[:] = _EMPTY  # reset the z-buffer row for the next target (one vector fill)


@njit(**_JIT)
def _warp_target(rgb, dsrc, flags, Ks, kt, P, width, height, mode, max_splat, out_rgb, out_depth, out_mask, bufs):
    _pass1(dsrc, flags, Ks, kt, P, width, height, max_splat, bufs)
    _pass2(rgb, bufs, mode, out_rgb, out_depth, out_mask)


@njit(nogil=True, **_JIT)
def _warp_chunk(rgb, dsrc, flags, Ks, Kt, P, width, height, mode, max_splat, out_rgb, out_depth, out_mask, first, step):
    """Targets ``first, first + step, ...`` (one chunk per thread; buffers allocated once per chunk)."""
    S, H, W, C = rgb.shape
    bufs = _buffers(S * H * W, W, width, height)
    for t in range(first, Kt.shape[0], step):
        _warp_target(
            rgb, dsrc, flags, Ks, Kt[t], P[t], width, height, mode, max_splat,
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
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepared arrays in (see :mod:`see3d.warp._common`), ``rgb, depth, mask`` out (``[T, h, w, ...]``)."""
    T = Kt.shape[0]
    C = rgb.shape[3]
    if rgb.shape[0] * rgb.shape[1] * rgb.shape[2] >= 2**32:
        raise See3DError("warp: at most 2**32 source pixels per call (split the sources)")
    if (int(height) + 2) * (int(width) + 2) >= 2**31:  # int32 z-buffer indices in pass 1
        raise See3DError(f"warp: target {width}x{height} too large (at most ~2**31 pixels)")
    out_rgb = np.zeros((T, height, width, C), np.float32)
    out_depth = np.zeros((T, height, width), np.float32)
    out_mask = np.zeros((T, height, width), np.bool_)
    # the LLVM options only matter while numba compiles (or loads from its cache) the kernels:
    # once both entry points have their signature, leave the process-global options alone
    compiled = bool(_warp_chunk.signatures) and bool(_source_flags.signatures)
    with contextlib.nullcontext() if compiled else vectoriser_limits():
        flags, dsrc = _source_flags(np.ascontiguousarray(depth, dtype=np.float64), float(edge_tol))
        args = (
            np.ascontiguousarray(rgb, dtype=np.float32),
            dsrc,
            flags,
            np.ascontiguousarray(Ks, dtype=np.float64),
            np.ascontiguousarray(Kt, dtype=np.float64),
            np.ascontiguousarray(P, dtype=np.float64),
            int(width), int(height), int(mode), float(max_splat),
            out_rgb, out_depth, out_mask,
        )
        chunks = max(1, min(T, num_threads()))
        run_lanes([functools.partial(_warp_chunk, *args, c, chunks) for c in range(chunks)])
    return out_rgb, out_depth, out_mask

