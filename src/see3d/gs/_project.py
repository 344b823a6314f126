"""Projection of 3D Gaussians to the image plane (pure PyTorch, differentiable).

This O(N) step is shared by every CPU backend: world -> camera, the EWA 2D covariance
``J W Sigma W^T J^T + 0.3 I`` with the perspective Jacobian ``J``, its inverse (the conic),
the 3-sigma radius, opacities and view-dependent colours. Autograd differentiates it.

Conventions: ``viewmat`` is world-to-camera in OpenCV axes (x right, y down, z forward);
pixel ``(u, v)`` has its centre at image coordinates ``(u, v)`` (see
:mod:`see3d.camera.intrinsics`); quaternions are ``(w, x, y, z)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from see3d.gs.sh import eval_sh

#: Low-pass dilation added to every 2D covariance (pixels^2), as in the original 3DGS.
COV2D_DILATION = 0.3
#: A Gaussian adds nothing to a pixel where its alpha would fall below this.
ALPHA_THRESHOLD = 1.0 / 255.0
#: Alpha of one Gaussian at one pixel is clamped to at most this.
ALPHA_MAX = 0.99
#: A Gaussian reaches at most this many standard deviations (Mahalanobis distance) from its mean.
SIGMA_CUTOFF = 3.0
#: A pixel stops blending once its transmittance would fall below this.
T_MIN = 1e-4
#: Relative and absolute padding of the per-Gaussian pixel boxes (they must be conservative).
_BOX_PAD_REL = 1e-3
_BOX_PAD_ABS = 1e-3


@dataclass
class Projected:
    """Per-Gaussian screen-space quantities, all ``[N, ...]`` in the input order."""

    means2d: torch.Tensor  # [N, 2] pixel coordinates (differentiable)
    conics: torch.Tensor  # [N, 3] (a, b, c) of the inverse 2D covariance [[a, b], [b, c]]
    colors: torch.Tensor  # [N, 3] view-dependent colour, >= 0
    opacities: torch.Tensor  # [N] in (0, 1)
    depths: torch.Tensor  # [N] camera z
    cov2d: torch.Tensor | None  # [N, 3] (xx, xy, yy) of the dilated 2D covariance (reference only)
    radii: torch.Tensor  # [N] int32, ceil(3 sigma_max) in pixels, 0 = culled
    visible: torch.Tensor  # [N] bool
    boxes: torch.Tensor  # [N, 4] int32 inclusive pixel box (x0, x1, y0, y1), clipped to the image


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` (w, x, y, z), any norm -> ``[N, 3, 3]`` rotation matrices."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def covariance_3d(quats: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """World-space covariance ``R diag(exp(s))^2 R^T``, ``[N, 3, 3]``."""
    M = quat_to_rotmat(quats) * torch.exp(log_scales)[:, None, :]
    return M @ M.transpose(-1, -2)


def project_gaussians(
    means: torch.Tensor,
    quats: torch.Tensor,
    log_scales: torch.Tensor,
    opacity_logits: torch.Tensor,
    sh: torch.Tensor,
    viewmat: torch.Tensor,
    K: torch.Tensor,
    width: int,
    height: int,
    sh_degree: int,
    near: float,
    far: float,
) -> Projected:
    """Project Gaussians for one camera; see the module docstring for conventions."""
    R = viewmat[:3, :3]
    t = viewmat[:3, 3]
    # Elementwise rather than ``means @ R.T``: a BLAS call for a 3x3 matrix is slow to
    # start on a busy CPU, and this is O(N) anyway.
    p = means[:, 0:1] * R[:, 0] + means[:, 1:2] * R[:, 1] + means[:, 2:3] * R[:, 2] + t
    x, y, z = p.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]

    in_depth = (z > near) & (z < far)
    zs = torch.where(in_depth, z, torch.ones_like(z))  # keep culled ones finite

    # Perspective Jacobian at the (frustum-clamped) mean, as in 3DGS: far off-screen
    # Gaussians would otherwise get huge, badly conditioned footprints.
    lim_x_pos = ((width - 0.5) - cx) / fx + 0.15 * width / fx
    lim_x_neg = (cx + 0.5) / fx + 0.15 * width / fx
    lim_y_pos = ((height - 0.5) - cy) / fy + 0.15 * height / fy
    lim_y_neg = (cy + 0.5) / fy + 0.15 * height / fy
    tx = zs * torch.minimum(torch.maximum(x / zs, -lim_x_neg), lim_x_pos)
    ty = zs * torch.minimum(torch.maximum(y / zs, -lim_y_neg), lim_y_pos)
    # T = J W R_q diag(s) (2 x 3 per Gaussian), written out elementwise: batched 3x3
    # matmuls are slow in PyTorch on the CPU. Then cov2d = T T^T + dilation.
    inv_z = 1.0 / zs
    j0 = (fx * inv_z)[:, None] * R[0] - (fx * tx * inv_z * inv_z)[:, None] * R[2]  # row 0 of J W
    j1 = (fy * inv_z)[:, None] * R[1] - (fy * ty * inv_z * inv_z)[:, None] * R[2]  # row 1 of J W
    M = quat_to_rotmat(quats) * torch.exp(log_scales)[:, None, :]  # [N, 3, 3]
    t0 = (j0[:, :, None] * M).sum(1)  # [N, 3]
    t1 = (j1[:, :, None] * M).sum(1)
    a = (t0 * t0).sum(-1) + COV2D_DILATION
    b = (t0 * t1).sum(-1)
    c = (t1 * t1).sum(-1) + COV2D_DILATION
    det = a * c - b * b
    ok_det = det > 0
    det_s = torch.where(ok_det, det, torch.ones_like(det))
    conics = torch.stack([c / det_s, -b / det_s, a / det_s], dim=-1)

    means2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], dim=-1)
    opacities = torch.sigmoid(opacity_logits)

    campos = -(R * t[:, None]).sum(0)  # -R^T t
    colors = torch.clamp_min(eval_sh(sh_degree, sh, means - campos) + 0.5, 0.0)

    with torch.no_grad():
        mid = 0.5 * (a + c)
        lam_max = mid + torch.sqrt(torch.clamp_min(mid * mid - det, 0.0))
        radius = torch.ceil(SIGMA_CUTOFF * torch.sqrt(lam_max.clamp_min(0)))
        # The pixels a Gaussian can reach: alpha >= 1/255 and within 3 sigma, i.e.
        # 0.5 d^T conic d <= min(4.5, ln(255 o)); their bounding box is +-k sqrt(cov_ii).
        o = opacities.detach()
        k2 = torch.clamp(2.0 * torch.log(o / ALPHA_THRESHOLD), min=0.0, max=SIGMA_CUTOFF**2)
        k = torch.sqrt(k2)
        ex = k * torch.sqrt(a.clamp_min(0)) * (1 + _BOX_PAD_REL) + _BOX_PAD_ABS
        ey = k * torch.sqrt(c.clamp_min(0)) * (1 + _BOX_PAD_REL) + _BOX_PAD_ABS
        m2 = means2d.detach()
        x0 = torch.ceil(m2[:, 0] - ex).clamp(-1, width)
        x1 = torch.floor(m2[:, 0] + ex).clamp(-1, width)
        y0 = torch.ceil(m2[:, 1] - ey).clamp(-1, height)
        y1 = torch.floor(m2[:, 1] + ey).clamp(-1, height)
        x0, y0 = x0.clamp_min(0), y0.clamp_min(0)
        x1, y1 = x1.clamp_max(width - 1), y1.clamp_max(height - 1)
        finite = torch.isfinite(means2d.detach()).all(-1) & torch.isfinite(conics.detach()).all(-1)
        finite &= torch.isfinite(colors.detach()).all(-1)
        visible = (
            in_depth & ok_det & finite & (o >= ALPHA_THRESHOLD) & (x0 <= x1) & (y0 <= y1)
        )
        boxes = torch.stack([x0, x1, y0, y1], dim=-1)
        boxes = torch.where(visible[:, None], boxes, torch.zeros_like(boxes)).to(torch.int32)
        radii = torch.where(visible, radius, torch.zeros_like(radius)).to(torch.int32)

    return Projected(
        means2d=means2d,
        conics=conics,
        colors=colors,
        opacities=opacities,
        depths=z,
        cov2d=torch.stack([a, b, c], dim=-1),
        radii=radii,
        visible=visible,
        boxes=boxes,
    )


def depth_order(proj: Projected) -> torch.Tensor:
    """Indices of the visible Gaussians, nearest first (stable for equal depths)."""
    idx = torch.nonzero(proj.visible, as_tuple=False).squeeze(1)
    order = torch.argsort(proj.depths.detach()[idx], stable=True)
    return idx[order]


__all__ = [
    "ALPHA_MAX",
    "ALPHA_THRESHOLD",
    "COV2D_DILATION",
    "SIGMA_CUTOFF",
    "T_MIN",
    "Projected",
    "covariance_3d",
    "depth_order",
    "project_gaussians",
    "quat_to_rotmat",
]
