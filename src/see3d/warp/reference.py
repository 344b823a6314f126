"""Readable, vectorised PyTorch forward warper: the specification of the numba kernel.

Same inputs and the same maths, step by step, as :mod:`see3d.warp.kernel` (see
:mod:`see3d.warp._common` for the algorithm). It runs on any device (the GPU
path of :func:`see3d.warp.warp_views`); on the CPU it is a test oracle in float64.
Targets are processed one at a time, vectorised over sources and pixels.
"""

from __future__ import annotations

import math

import torch

from see3d.warp._common import FAR_PIXELS, NEAR, Z_SKY, Z_SKY_THRESHOLD


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
    """Step 2: half-sizes ``h_u, h_v`` of each sample's projected pixel quad and its depth slope ``dz``."""
    sky = torch.isposinf(depth)
    valid = torch.isfinite(depth) & (depth > 0)
    neg = torch.full_like(u, -1.0)
    acc = {"xu": neg, "xv": neg, "yu": neg, "yv": neg}
    dz = torch.zeros_like(u)
    for di, dj, axis in ((0, 1, "x"), (0, -1, "x"), (1, 0, "y"), (-1, 0, "y")):
        n_ok = _shift(ok, di, dj, False)
        n_sky = _shift(sky, di, dj, False)
        n_valid = _shift(valid, di, dj, False)
        n_d = _shift(depth, di, dj, 0.0)
        du = (_shift(u, di, dj, 0.0) - u).abs()
        dv = (_shift(v, di, dj, 0.0) - v).abs()
        ddz = (_shift(z, di, dj, 0.0) - z).abs()
        surface = (sky & n_sky) | (valid & n_valid & ((depth - n_d).abs() <= edge_tol * torch.minimum(depth, n_d)))
        same = ok & n_ok & surface & (du <= max_splat) & (dv <= max_splat)
        acc[axis + "u"] = torch.where(same, torch.maximum(acc[axis + "u"], du), acc[axis + "u"])
        acc[axis + "v"] = torch.where(same, torch.maximum(acc[axis + "v"], dv), acc[axis + "v"])
        dz = torch.where(same, torch.maximum(dz, ddz), dz)
    zero = torch.zeros_like(u)
    has_x = acc["xu"] >= 0
    has_y = acc["yu"] >= 0
    ax_u = torch.where(has_x, acc["xu"], m_u)
    ax_v = torch.where(has_x, acc["xv"], zero)
    ay_u = torch.where(has_y, acc["yu"], zero)
    ay_v = torch.where(has_y, acc["yv"], m_v)
    h_u = (0.5 * (ax_u + ay_u)).clamp(min=0.5, max=0.5 * max_splat)
    h_v = (0.5 * (ax_v + ay_v)).clamp(min=0.5, max=0.5 * max_splat)
    return h_u, h_v, dz


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
    depth_tol: float = 0.01,
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
):
    """Warp all sources into one target. Returns ``rgb [h, w, C]``, ``depth [h, w]``, ``mask [h, w]`` (bool)."""
    S, H, W, C = rgb.shape
    dev, dt = depth.device, depth.dtype
    u, v, z, ok, m_u, m_v = project_sources(depth, Ks, kt, P, width, height)
    h_u, h_v, dz = footprints(depth, u, v, z, ok, m_u, m_v, edge_tol, max_splat)

    flat = lambda a: a.reshape(-1)  # noqa: E731
    u, v, z, ok, h_u, h_v, dz = map(flat, (u, v, z, ok, h_u, h_v, dz))
    sid = torch.arange(u.numel(), device=dev)
    colors = rgb.reshape(-1, C).to(dt)
    npix = width * height

    # --- step 3: coverage z-buffer over footprint boxes
    x0, x1 = torch.ceil(u - h_u), torch.floor(u + h_u)
    y0, y1 = torch.ceil(v - h_v), torch.floor(v + h_v)
    idx_l, z_l, dz_l, sid_l = [], [], [], []
    for oy in range(_window(y0, y1, ok) + 1):
        for ox in range(_window(x0, x1, ok) + 1):
            x, y = x0 + ox, y0 + oy
            sel = ok & (x <= x1) & (y <= y1) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
            idx_l.append((y[sel] * width + x[sel]).long())
            z_l.append(z[sel])
            dz_l.append(dz[sel])
            sid_l.append(sid[sel])
    idx, zc, dzc, sidc = (torch.cat(a) if a else torch.zeros(0, device=dev) for a in (idx_l, z_l, dz_l, sid_l))
    idx, sidc = idx.long(), sidc.long()
    inf = torch.full((npix,), math.inf, dtype=dt, device=dev)
    zf = inf.scatter_reduce(0, idx, zc, "amin")
    front = zc == zf[idx]
    df = inf.scatter_reduce(0, idx[front], dzc[front], "amin")
    covered = torch.isfinite(zf)

    out_rgb = torch.zeros(npix, C, dtype=dt, device=dev)
    out_z = torch.zeros(npix, dtype=dt, device=dev)
    if splat == "nearest":
        best = front & (dzc == df[idx])
        big = torch.full((npix,), u.numel(), dtype=torch.long, device=dev)
        win = big.scatter_reduce(0, idx[best], sidc[best], "amin")
        has = win < u.numel()
        out_rgb[has] = colors[win[has]]
        out_z[has] = z[win[has]]
    else:
        # --- step 4: tent splat of radius 2h onto covered pixels, front surface only
        r_u, r_v = 2.0 * h_u, 2.0 * h_v
        tx0, ty0 = torch.floor(u - r_u) + 1, torch.floor(v - r_v) + 1
        tx1, ty1 = torch.ceil(u + r_u) - 1, torch.ceil(v + r_v) - 1
        acc = torch.zeros(npix, C, dtype=dt, device=dev)
        wsum = torch.zeros(npix, dtype=dt, device=dev)
        zsum = torch.zeros(npix, dtype=dt, device=dev)
        for oy in range(_window(ty0, ty1, ok) + 1):
            for ox in range(_window(tx0, tx1, ok) + 1):
                x, y = tx0 + ox, ty0 + oy
                wx = 1.0 - (x - u).abs() / r_u
                wy = 1.0 - (y - v).abs() / r_v
                sel = ok & (wx > 0) & (wy > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
                i = (y[sel] * width + x[sel]).long()
                zs, zfi = z[sel], zf[i]
                keep = covered[i] & ((zs - zfi).abs() <= depth_tol * zfi + dz[sel] + df[i])
                i = i[keep]
                w = (wx[sel] * wy[sel])[keep]
                acc.index_add_(0, i, colors[sid[sel][keep]] * w[:, None])
                wsum.index_add_(0, i, w)
                zsum.index_add_(0, i, zs[keep] * w)
        good = covered & (wsum > 0)
        out_rgb[good] = acc[good] / wsum[good, None]
        out_z[good] = zsum[good] / wsum[good]
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
    depth_tol: float = 0.01,
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
):
    """All targets: ``rgb [T, h, w, C]``, ``depth [T, h, w]``, ``mask [T, h, w]`` from prepared tensors."""
    outs = [
        warp_one_target(rgb, depth, Ks, Kt[t], P[t], width, height, splat, depth_tol, edge_tol, max_splat)
        for t in range(Kt.shape[0])
    ]
    return tuple(torch.stack([o[k] for o in outs]) for k in range(3))
