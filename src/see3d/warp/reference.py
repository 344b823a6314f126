"""Readable, vectorised PyTorch forward warper: the specification of the numba kernel.

Same inputs and the same maths, step by step, as :mod:`see3d.warp.kernel` (see
:mod:`see3d.warp._common` for the algorithm). It runs on any device (the GPU
path of :func:`see3d.warp.warp_views`); on the CPU it is a test oracle in float64.
Targets are processed one at a time, vectorised over sources and pixels.
"""

from __future__ import annotations

import math

import torch

from see3d.warp._common import DET_MIN, FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD


def _shift(a: torch.Tensor, di: int, dj: int, fill) -> torch.Tensor:
    """``out[..., i, j] = a[..., i + di, j + dj]`` (``fill`` outside the image)."""
    out = torch.full_like(a, fill)
    H, W = a.shape[-2:]
    oi0, oi1 = max(0, -di), H - max(0, di)
    oj0, oj1 = max(0, -dj), W - max(0, dj)
    out[..., oi0:oi1, oj0:oj1] = a[..., oi0 + di : oi1 + di, oj0 + dj : oj1 + dj]
    return out


def project_sources(depth: torch.Tensor, Ks: torch.Tensor, kt: torch.Tensor, P: torch.Tensor, width: int, height: int):
    """Step 1: every source pixel -> target ``u, v, z``, ``ok`` and the isotropic magnification.

    ``depth [S, H, W]``, ``Ks [S, 4]``, ``kt [4]``, ``P [S, 3, 4]``.
    Returns ``u, v, z, ok, m_u, m_v`` (all ``[S, H, W]``).
    """
    S, H, W = depth.shape
    dt = depth.dtype
    sky = torch.isposinf(depth)
    valid = torch.isfinite(depth) & (depth > 0)
    ii, jj = torch.meshgrid(
        torch.arange(H, dtype=dt, device=depth.device), torch.arange(W, dtype=dt, device=depth.device), indexing="ij"
    )
    fx, fy, cx, cy = (Ks[:, k].view(S, 1, 1) for k in range(4))
    d = torch.where(valid, depth, torch.ones_like(depth))  # sky: a direction with unit z
    X = (jj - cx) / fx * d
    Y = (ii - cy) / fy * d
    Z = d
    R = [[P[:, r, c].view(S, 1, 1) for c in range(3)] for r in range(3)]
    trans = torch.where(sky, torch.zeros_like(d), torch.ones_like(d))  # points at infinity ignore translation
    Xt = R[0][0] * X + R[0][1] * Y + R[0][2] * Z + P[:, 0, 3].view(S, 1, 1) * trans
    Yt = R[1][0] * X + R[1][1] * Y + R[1][2] * Z + P[:, 1, 3].view(S, 1, 1) * trans
    Zt = R[2][0] * X + R[2][1] * Y + R[2][2] * Z + P[:, 2, 3].view(S, 1, 1) * trans
    ok = (valid | sky) & (Zt > NEAR)
    Zs = torch.where(ok, Zt, torch.ones_like(Zt))
    u = kt[0] * Xt / Zs + kt[2]
    v = kt[1] * Yt / Zs + kt[3]
    ok &= (u > -FAR_PIXELS) & (u < width + FAR_PIXELS) & (v > -FAR_PIXELS) & (v < height + FAR_PIXELS)
    z = torch.where(sky, torch.full_like(Zt, Z_SKY), Zt)
    m_u = kt[0] / fx * Z / Zs
    m_v = kt[1] / fy * Z / Zs
    return u, v, z, ok, m_u, m_v


def footprints(depth, u, v, z, ok, m_u, m_v, edge_tol: float, max_splat: float):
    """Step 2: footprint half-sizes ``h_u, h_v``, local Jacobian, same-surface neighbour bits.

    A pair of grid neighbours is *linked* when both project (``ok``), lie on the same
    surface (relative source-depth jump at most ``edge_tol``, or both sky) and land at
    most ``max_splat`` pixels apart on each axis. Returns ``h_u, h_v`` (the box half-sizes),
    ``e_j, e_i`` (``[S, H, W, 2]``: target displacement per source column / row, the mean
    of the linked sides, the isotropic magnification without one) and ``bits`` (int64:
    1 right, 2 left, 4 down, 8 up linked; 16 / 32 / 64 / 128: the diagonal down-right /
    down-left / up-right / up-left reached through the horizontal then the vertical link).
    """
    sky = torch.isposinf(depth)
    valid = torch.isfinite(depth) & (depth > 0)

    def link(di: int, dj: int):
        """Pair (pixel, pixel + (di, dj)) for the right / lower neighbour: linked, du, dv."""
        n_d = _shift(depth, di, dj, 0.0)
        surface = (sky & _shift(sky, di, dj, False)) | (
            valid & _shift(valid, di, dj, False) & ((depth - n_d).abs() <= edge_tol * torch.minimum(depth, n_d))
        )
        du = _shift(u, di, dj, 0.0) - u
        dv = _shift(v, di, dj, 0.0) - v
        linked = ok & _shift(ok, di, dj, False) & surface & (du.abs() <= max_splat) & (dv.abs() <= max_splat)
        return linked, torch.where(linked, du, 0.0), torch.where(linked, dv, 0.0)

    r_ok, r_du, r_dv = link(0, 1)  # pixel -> right neighbour
    d_ok, d_du, d_dv = link(1, 0)  # pixel -> lower neighbour
    l_ok, l_du, l_dv = _shift(r_ok, 0, -1, False), _shift(r_du, 0, -1, 0.0), _shift(r_dv, 0, -1, 0.0)
    t_ok, t_du, t_dv = _shift(d_ok, -1, 0, False), _shift(d_du, -1, 0, 0.0), _shift(d_dv, -1, 0, 0.0)
    neg = torch.full_like(u, -1.0)
    zero = torch.zeros_like(u)

    def side(a_ok, a, b_ok, b):
        return torch.maximum(torch.where(a_ok, a.abs(), neg), torch.where(b_ok, b.abs(), neg))

    has_x = r_ok | l_ok
    has_y = d_ok | t_ok
    ax_u = torch.where(has_x, side(r_ok, r_du, l_ok, l_du), m_u)
    ax_v = torch.where(has_x, side(r_ok, r_dv, l_ok, l_dv), zero)
    ay_u = torch.where(has_y, side(d_ok, d_du, t_ok, t_du), zero)
    ay_v = torch.where(has_y, side(d_ok, d_dv, t_ok, t_dv), m_v)
    h_u = (0.5 * (ax_u + ay_u)).clamp(min=0.5, max=0.5 * max_splat)
    h_v = (0.5 * (ax_v + ay_v)).clamp(min=0.5, max=0.5 * max_splat)

    def mean(a_ok, a, b_ok, b, fallback):
        both = a_ok & b_ok
        one = torch.where(a_ok, a, b)
        return torch.where(both, 0.5 * (a + b), torch.where(a_ok | b_ok, one, fallback))

    e_j = torch.stack([mean(r_ok, r_du, l_ok, l_du, m_u), mean(r_ok, r_dv, l_ok, l_dv, zero)], -1)
    e_i = torch.stack([mean(d_ok, d_du, t_ok, t_du, zero), mean(d_ok, d_dv, t_ok, t_dv, m_v)], -1)
    diag = (
        (r_ok & _shift(d_ok, 0, 1, False), l_ok & _shift(d_ok, 0, -1, False),
         r_ok & _shift(t_ok, 0, 1, False), l_ok & _shift(t_ok, 0, -1, False))
    )
    bits = torch.zeros(u.shape, dtype=torch.long, device=u.device)
    for bit, m in zip((1, 2, 4, 8, 16, 32, 64, 128), (r_ok, l_ok, d_ok, t_ok) + diag):
        bits |= torch.where(m, bit, 0)
    return h_u, h_v, e_j, e_i, bits


def _window(lo: torch.Tensor, hi: torch.Tensor, ok: torch.Tensor) -> int:
    """Largest number of integer steps ``hi - lo`` over the valid samples (0 if none)."""
    if not bool(ok.any()):
        return 0
    return int((hi - lo)[ok].max().item())


def warp_one_target(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    Ks: torch.Tensor,
    kt: torch.Tensor,
    P: torch.Tensor,
    width: int,
    height: int,
    splat: str = "bilinear",
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
):
    """Warp all sources into one target. Returns ``rgb [h, w, C]``, ``depth [h, w]``, ``mask [h, w]`` (bool)."""
    S, H, W, C = rgb.shape
    dev, dt = depth.device, depth.dtype
    u, v, z, ok, m_u, m_v = project_sources(depth, Ks, kt, P, width, height)
    h_u, h_v, e_j, e_i, bits = footprints(depth, u, v, z, ok, m_u, m_v, edge_tol, max_splat)

    flat = lambda a: a.reshape(-1)  # noqa: E731
    u, v, z, ok, h_u, h_v, bits = map(flat, (u, v, z, ok, h_u, h_v, bits))
    e_j, e_i = e_j.reshape(-1, 2), e_i.reshape(-1, 2)
    N = u.numel()
    sid = torch.arange(N, device=dev)
    colors = rgb.reshape(-1, C).to(dt)
    npix = width * height

    # --- step 3: coverage z-buffer over footprint boxes
    x0, x1 = torch.ceil(u - h_u), torch.floor(u + h_u)
    y0, y1 = torch.ceil(v - h_v), torch.floor(v + h_v)
    idx_l, z_l, sid_l = [], [], []
    for oy in range(_window(y0, y1, ok) + 1):
        for ox in range(_window(x0, x1, ok) + 1):
            x, y = x0 + ox, y0 + oy
            sel = ok & (x <= x1) & (y <= y1) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
            idx_l.append((y[sel] * width + x[sel]).long())
            z_l.append(z[sel])
            sid_l.append(sid[sel])
    idx, zc, sidc = (torch.cat(a) if a else torch.zeros(0, device=dev) for a in (idx_l, z_l, sid_l))
    idx, sidc = idx.long(), sidc.long()
    # the z-test runs on float32 depths (the kernel's integer key); ties go to the first sample
    zc = zc.float()
    zf = torch.full((npix,), math.inf, dtype=zc.dtype, device=dev).scatter_reduce(0, idx, zc, "amin")
    front = zc == zf[idx]
    win = torch.full((npix,), N, dtype=torch.long, device=dev).scatter_reduce(0, idx[front], sidc[front], "amin")
    covered = win < N
    k = win[covered]

    out_rgb = torch.zeros(npix, C, dtype=dt, device=dev)
    out_z = torch.zeros(npix, dtype=dt, device=dev)
    if splat == "nearest":
        out_rgb[covered] = colors[k]
        out_z[covered] = z[k]
    else:
        # --- step 4: bilinear interpolation in the front sample's source cell. The pixel centre
        # in source units relative to the sample, from the inverse of its local Jacobian:
        pix = torch.arange(npix, device=dev)[covered]
        dx = (pix % width).to(dt) - u[k]
        dy = torch.div(pix, width, rounding_mode="floor").to(dt) - v[k]
        jx, jy, ix, iy = e_j[k, 0], e_j[k, 1], e_i[k, 0], e_i[k, 1]
        det = jx * iy - ix * jy
        idet = torch.where(det.abs() > DET_MIN, 1.0 / torch.where(det == 0, 1.0, det), 0.0)
        dj = (iy * dx - ix * dy) * idet
        di = (-jy * dx + jx * dy) * idet
        # the linked neighbours on the pixel's side (see footprints() for the bits)
        b = bits[k]
        rt = (dj >= 0).long()
        dn = (di >= 0).long()
        h_ok = (b >> (1 - rt)) & 1
        v_ok = (b >> (3 - dn)) & 1
        g_ok = (b >> (7 - rt - 2 * dn)) & 1
        sj = (2 * rt - 1) * h_ok
        si = (2 * dn - 1) * W * v_ok
        a = dj.abs().clamp(max=1.0) * h_ok
        c = di.abs().clamp(max=1.0) * v_ok
        w = torch.stack([(1 - a) * (1 - c), a * (1 - c), (1 - a) * c, a * c * g_ok], -1)
        ws = w.sum(-1)
        w[:, 0] = torch.where(ws > 0, w[:, 0], 1.0)  # a full cell away on both axes, no diagonal
        w = w / w.sum(-1, keepdim=True)
        n = torch.stack([k, k + sj, k + si, k + (sj + si) * g_ok], -1)
        out_rgb[covered] = (w[..., None] * colors[n]).sum(1)
        out_z[covered] = (w * z[n]).sum(1)
    out_z = torch.where(out_z >= Z_SKY_THRESHOLD, torch.full_like(out_z, math.inf), out_z)
    return (
        out_rgb.reshape(height, width, C).to(rgb.dtype),
        out_z.reshape(height, width).to(torch.float32),
        covered.reshape(height, width),
    )


def warp_reference(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    Ks: torch.Tensor,
    Kt: torch.Tensor,
    P: torch.Tensor,
    width: int,
    height: int,
    splat: str = "bilinear",
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
):
    """All targets: ``rgb [T, h, w, C]``, ``depth [T, h, w]``, ``mask [T, h, w]`` from prepared tensors."""
    outs = [
        warp_one_target(rgb, depth, Ks, Kt[t], P[t], width, height, splat, edge_tol, max_splat)
        for t in range(Kt.shape[0])
    ]
    return tuple(torch.stack([o[k] for o in outs]) for k in range(3))
