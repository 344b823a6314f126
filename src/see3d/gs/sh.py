"""Real spherical harmonics up to degree 3, in the convention of 3D Gaussian Splatting.

A Gaussian's view-dependent colour is ``0.5 + eval_sh(degree, sh, dirs)`` clamped at 0,
where ``sh`` holds ``(degree + 1) ** 2`` coefficients per colour channel, DC first, and
``dirs`` points from the camera centre to the Gaussian. The basis and its sign
convention are those of the original 3DGS code (``C0 = 1 / (2 sqrt(pi))``), so
checkpoints and PLY exports interoperate with other 3DGS tools.
"""

from __future__ import annotations

import math

import torch

from see3d.errors import See3DError

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

#: Highest supported degree.
MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Number of coefficients per channel for ``degree``: ``(degree + 1) ** 2``."""
    if not (0 <= int(degree) <= MAX_SH_DEGREE):
        raise See3DError(f"spherical-harmonics degree must be in 0..{MAX_SH_DEGREE}, got {degree}")
    return (int(degree) + 1) ** 2


def degree_from_bases(k: int) -> int:
    """Inverse of :func:`num_sh_bases`; raises :class:`See3DError` for a count that is not a square."""
    d = int(round(math.sqrt(k))) - 1
    if d < 0 or d > MAX_SH_DEGREE or (d + 1) ** 2 != k:
        raise See3DError(f"sh must hold 1, 4, 9 or 16 coefficients per channel, got {k}")
    return d


def rgb_to_sh(rgb: torch.Tensor) -> torch.Tensor:
    """DC coefficient that renders as ``rgb`` (any shape): ``(rgb - 0.5) / C0``."""
    return (rgb - 0.5) / SH_C0


def sh_to_rgb(dc: torch.Tensor) -> torch.Tensor:
    """Colour of a DC coefficient alone: ``0.5 + C0 * dc``."""
    return 0.5 + SH_C0 * dc


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Real SH basis values ``[..., (degree + 1) ** 2]`` for directions ``[..., 3]`` (normalised here)."""
    nb = num_sh_bases(degree)
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x, y, z = d.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        xy, yz, xz = x * y, y * z, x * z
        out += [
            SH_C2[0] * xy,
            SH_C2[1] * yz,
            SH_C2[2] * (2.0 * zz - xx - yy),
            SH_C2[3] * xz,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            SH_C3[0] * y * (3.0 * xx - yy),
            SH_C3[1] * xy * z,
            SH_C3[2] * y * (4.0 * zz - xx - yy),
            SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            SH_C3[4] * x * (4.0 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3.0 * yy),
        ]
    basis = torch.stack(out, dim=-1)
    assert basis.shape[-1] == nb
    return basis


def eval_sh(degree: int, sh: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate real SH of ``degree`` (0..3).

    sh: ``[..., K, C]`` with ``K >= (degree + 1) ** 2`` (only the first bases are used);
    dirs: ``[..., 3]`` viewing directions (normalised here; need not be unit length).
    Returns ``[..., C]`` without the ``+ 0.5`` offset and without clamping.
    """
    nb = num_sh_bases(degree)
    if sh.shape[-2] < nb:
        raise See3DError(f"sh has {sh.shape[-2]} coefficients per channel, degree {degree} needs {nb}")
    if degree == 0:
        return SH_C0 * sh[..., 0, :]
    basis = sh_basis(degree, dirs).to(sh.dtype)
    return (basis.unsqueeze(-1) * sh[..., :nb, :]).sum(-2)
