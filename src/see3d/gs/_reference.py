"""Dense pure-PyTorch compositing: the readable specification of the rasterizer.

Every pixel meets every (visible, depth-sorted) Gaussian; no tiles, no boxes. For
pixel centre ``p`` and Gaussian ``i`` (2D mean ``m``, conic ``[[a, b], [b, c]]``,
opacity ``o``) with ``d = m - p``::

    power_i = 0.5 * (a dx^2 + c dy^2) + b dx dy
    alpha_i = min(0.99, o exp(-power_i))            if power_i <= 4.5 (3 sigma)
                                                    and o exp(-power_i) >= 1/255, else 0
    T_i     = prod_{j < i} (1 - alpha_j)            (front to back)

Blending stops before the first Gaussian that would take ``T`` below ``1e-4`` (that
Gaussian and all behind it are dropped). Outputs per pixel: colour ``sum c_i alpha_i T_i``
(no background), accumulated depth ``sum z_i alpha_i T_i`` and alpha ``1 - T_final``.

The fast kernels in :mod:`see3d.gs._numba_kernels` compute exactly this; the tests hold
them to it. Memory is ``pixels x Gaussians``: use it on small cases, or pass
``pixel_chunk`` (rows are then recomputed in the backward pass via checkpointing).
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from see3d.gs._project import ALPHA_MAX, ALPHA_THRESHOLD, SIGMA_CUTOFF, T_MIN


def blend_weights(
    pix: torch.Tensor,
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """pix [P, 2] -> (weights ``alpha_i T_i`` [P, M], per-Gaussian ``alpha_i`` [P, M])."""
    d = means2d[None, :, :] - pix[:, None, :]  # [P, M, 2]
    dx, dy = d[..., 0], d[..., 1]
    a, b, c = conics[:, 0], conics[:, 1], conics[:, 2]
    power = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    raw = opacities[None, :] * torch.exp(-power)
    inside = (power <= 0.5 * SIGMA_CUTOFF**2) & (raw >= ALPHA_THRESHOLD)
    alpha = torch.where(inside, torch.clamp_max(raw, ALPHA_MAX), torch.zeros_like(raw))
    # Early termination: keep the prefix whose running transmittance stays >= T_MIN.
    with torch.no_grad():
        keep = torch.cumprod(1.0 - alpha, dim=1) >= T_MIN
    alpha = alpha * keep
    one_minus = 1.0 - alpha
    T = torch.cumprod(torch.cat([torch.ones_like(one_minus[:, :1]), one_minus[:, :-1]], dim=1), dim=1)
    return alpha * T, alpha


def _composite_pixels(
    pix: torch.Tensor,
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    depths: torch.Tensor,
) -> torch.Tensor:
    """pix [P, 2] -> [P, 5] (r, g, b, accumulated depth, alpha)."""
    w, alpha = blend_weights(pix, means2d, conics, opacities)
    rgb = w @ colors
    acc_depth = w @ depths
    alpha_out = 1.0 - torch.prod(1.0 - alpha, dim=1)
    return torch.cat([rgb, acc_depth[:, None], alpha_out[:, None]], dim=1)


def composite_dense(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    pixel_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite Gaussians already sorted front to back (see the module docstring).

    Returns ``rgb [H, W, 3]`` (no background), ``acc_depth [H, W]``, ``alpha [H, W]``.
    """
    dtype, device = means2d.dtype, means2d.device
    vs, us = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    pix = torch.stack([us, vs], dim=-1).reshape(-1, 2)
    if means2d.shape[0] == 0:
        zeros = torch.zeros(height, width, dtype=dtype, device=device)
        return torch.zeros(height, width, 3, dtype=dtype, device=device), zeros, zeros.clone()
    args = (means2d, conics, colors, opacities, depths)
    if pixel_chunk is None or pixel_chunk >= pix.shape[0]:
        out = _composite_pixels(pix, *args)
    else:
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in args)
        parts = []
        for s in range(0, pix.shape[0], pixel_chunk):
            chunk = pix[s : s + pixel_chunk]
            if needs_grad:
                parts.append(checkpoint(_composite_pixels, chunk, *args, use_reentrant=False))
            else:
                parts.append(_composite_pixels(chunk, *args))
        out = torch.cat(parts, dim=0)
    out = out.reshape(height, width, 5)
    return out[..., :3], out[..., 3], out[..., 4]
