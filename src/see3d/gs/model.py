"""A set of 3D Gaussians: the scene representation that :func:`see3d.gs.fit_gaussians` optimises.

Parameters are stored the way the optimiser sees them (unconstrained):

- ``means [N, 3]``: centres in world coordinates (metres when the poses are metric);
- ``quats [N, 4]``: rotations as quaternions ``(w, x, y, z)``, not necessarily unit length;
- ``log_scales [N, 3]``: natural log of the standard deviations along the rotated axes;
- ``opacity_logits [N]``: logit of the peak opacity;
- ``sh [N, K, 3]``: spherical-harmonic colour coefficients, ``K = (degree + 1) ** 2``, DC first;
  the DC-only colour is ``0.5 + SH_C0 * sh[:, 0]``.

This is the layout of the original 3DGS implementation (its ``.ply`` stores the same numbers),
so export and import are exact (:mod:`see3d.gs.export`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from see3d.errors import See3DError
from see3d.gs.sh import SH_C0


def rgb_to_sh_dc(rgb: torch.Tensor) -> torch.Tensor:
    """Colour in [0, 1] -> DC coefficient (inverse of ``0.5 + SH_C0 * dc``)."""
    return (rgb - 0.5) / SH_C0


def sh_dc_to_rgb(dc: torch.Tensor) -> torch.Tensor:
    """DC coefficient -> view-independent colour (not clipped)."""
    return 0.5 + SH_C0 * dc


def sh_degree_of(k: int) -> int:
    """Degree of an SH basis with ``k`` coefficients per channel; raises for a non-square ``k``."""
    d = int(round(math.sqrt(k))) - 1
    if d < 0 or (d + 1) ** 2 != k:
        raise See3DError(f"spherical-harmonic coefficient count {k} is not (degree + 1)^2")
    return d


@dataclass
class GaussianModel:
    """3D Gaussians (see the module docstring for the meaning and shape of each field)."""

    means: torch.Tensor
    quats: torch.Tensor
    log_scales: torch.Tensor
    opacity_logits: torch.Tensor
    sh: torch.Tensor

    #: Names of the parameter tensors, in a fixed order.
    FIELDS = ("means", "quats", "log_scales", "opacity_logits", "sh")

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "GaussianModel":
        """Check shapes and finiteness; raise :class:`See3DError` naming the problem."""
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        expect = {
            "means": (n, 3),
            "quats": (n, 4),
            "log_scales": (n, 3),
            "opacity_logits": (n,),
        }
        if self.means.ndim != 2 or self.means.shape[1] != 3:
            raise See3DError(f"gaussians: means must be [N, 3], got {tuple(self.means.shape)}")
        for name, shape in expect.items():
            t = getattr(self, name)
            if tuple(t.shape) != shape:
                raise See3DError(f"gaussians: {name} must have shape {list(shape)}, got {list(t.shape)}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise See3DError(f"gaussians: sh must be [N, K, 3], got {list(self.sh.shape)}")
        sh_degree_of(self.sh.shape[1])
        for name in self.FIELDS:
            t = getattr(self, name)
            if not torch.is_floating_point(t):
                raise See3DError(f"gaussians: {name} must be a floating-point tensor, got {t.dtype}")
            if not bool(torch.isfinite(t).all()):
                bad = int((~torch.isfinite(t)).reshape(t.shape[0], -1).any(dim=1).sum()) if t.shape[0] else 0
                raise See3DError(f"gaussians: {name} has NaN or infinite values ({bad} Gaussians)")
        if n and bool((self.quats.detach().norm(dim=-1) < 1e-12).any()):
            raise See3DError("gaussians: a rotation quaternion has zero length")
        return self

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_of(self.sh.shape[1])

    @property
    def colors(self) -> torch.Tensor:
        """View-independent colour ``[N, 3]`` in [0, 1] (from the DC coefficient)."""
        return sh_dc_to_rgb(self.sh[:, 0]).clamp(0.0, 1.0)

    @property
    def opacities(self) -> torch.Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def scales(self) -> torch.Tensor:
        return torch.exp(self.log_scales)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self.FIELDS}

    def detach(self) -> "GaussianModel":
        """A copy with plain (no-grad) float32 CPU tensors."""
        return GaussianModel(**{k: v.detach().to("cpu", torch.float32).clone() for k, v in self.tensors().items()})

    def with_sh_degree(self, degree: int) -> "GaussianModel":
        """Pad with zeros or truncate the SH coefficients to ``degree``."""
        k = (degree + 1) ** 2
        sh = self.sh.detach()
        if sh.shape[1] >= k:
            sh = sh[:, :k]
        else:
            sh = torch.cat([sh, sh.new_zeros(len(self), k - sh.shape[1], 3)], dim=1)
        return GaussianModel(self.means.detach(), self.quats.detach(), self.log_scales.detach(), self.opacity_logits.detach(), sh.clone())

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_points(
        cls,
        points: np.ndarray | torch.Tensor,
        colors: np.ndarray | torch.Tensor | None = None,
        sh_degree: int = 0,
        opacity: float = 0.1,
        scale_factor: float = 1.0,
    ) -> "GaussianModel":
        """Isotropic Gaussians at ``points [M, 3]`` coloured by ``colors [M, 3]`` (in [0, 1] or uint8).

        Each initial scale is the mean distance to the 3 nearest neighbours (the 3DGS rule),
        times ``scale_factor``.
        """
        pts = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise See3DError(f"initial points must be [M, 3], got {list(pts.shape)}")
        if len(pts) == 0:
            raise See3DError("initial point cloud is empty")
        if not np.isfinite(pts).all():
            raise See3DError("initial points have NaN or infinite coordinates")
        if colors is None:
            col = np.full_like(pts, 0.5)
        else:
            col = np.asarray(colors.detach().cpu() if isinstance(colors, torch.Tensor) else colors)
            if col.shape != pts.shape:
                raise See3DError(f"initial colours must be [M, 3] like the points, got {list(col.shape)}")
            col = col.astype(np.float64) / 255.0 if col.dtype == np.uint8 else col.astype(np.float64)
            if not np.isfinite(col).all():
                raise See3DError("initial colours have NaN or infinite values")
            col = np.clip(col, 0.0, 1.0)
        dist = knn_mean_distance(pts, k=3)
        positive = dist[dist > 0]
        floor = float(np.median(positive)) * 1e-2 if positive.size else 1e-3
        dist = np.maximum(dist, max(floor, 1e-7)) * scale_factor
        n = len(pts)
        k = (sh_degree + 1) ** 2
        sh = torch.zeros(n, k, 3, dtype=torch.float32)
        sh[:, 0] = rgb_to_sh_dc(torch.as_tensor(col, dtype=torch.float32))
        quats = torch.zeros(n, 4, dtype=torch.float32)
        quats[:, 0] = 1.0
        return cls(
            means=torch.as_tensor(pts, dtype=torch.float32),
            quats=quats,
            log_scales=torch.log(torch.as_tensor(dist, dtype=torch.float32))[:, None].repeat(1, 3),
            opacity_logits=torch.full((n,), math.log(opacity / (1 - opacity)), dtype=torch.float32),
            sh=sh,
        )

    @classmethod
    def random(
        cls,
        n: int,
        center: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
        radius: float = 1.0,
        sh_degree: int = 0,
        seed: int = 0,
    ) -> "GaussianModel":
        """``n`` Gaussians uniform in a ball of ``radius`` about ``center`` with random colours."""
        if n < 1:
            raise See3DError(f"random initialisation needs at least 1 Gaussian, got {n}")
        if not (math.isfinite(radius) and radius > 0):
            raise See3DError(f"random initialisation radius must be positive, got {radius}")
        rng = np.random.default_rng(seed)
        d = rng.normal(size=(n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
        r = radius * rng.random(n) ** (1.0 / 3.0)
        pts = np.asarray(center, dtype=np.float64) + d * r[:, None]
        return cls.from_points(pts, rng.random((n, 3)), sh_degree=sh_degree)

    # ------------------------------------------------------------------ persistence (safetensors)
    def save_pretrained(self, path: str | Path) -> None:
        """Write ``gaussians.safetensors`` + ``config.json`` into the folder ``path``."""
        from safetensors.torch import save_file

        from see3d.io import atomic_output_dir

        m = self.detach()
        with atomic_output_dir(path) as tmp:
            save_file({k: v.contiguous() for k, v in m.tensors().items()}, str(tmp / "gaussians.safetensors"))
            (tmp / "config.json").write_text(json.dumps({"type": "see3d.gs.GaussianModel", "num_gaussians": len(m), "sh_degree": m.sh_degree}, indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "GaussianModel":
        """Read a folder written by :meth:`save_pretrained`."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        f = Path(path) / "gaussians.safetensors"
        if not f.is_file():
            raise See3DError(f"no gaussians.safetensors in {path}")
        try:
            t = load_file(str(f))
        except (SafetensorError, OSError) as e:
            raise See3DError(f"cannot read {f}: {str(e).splitlines()[0]}") from None
        missing = [k for k in cls.FIELDS if k not in t]
        if missing:
            raise See3DError(f"{f.name} lacks tensors: {', '.join(missing)}")
        return cls(**{k: t[k].float() for k in cls.FIELDS})


def knn_mean_distance(points: np.ndarray, k: int = 3) -> np.ndarray:
    """Mean distance of each point to its ``k`` nearest other points (0 where it has none)."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return np.zeros(len(pts))
    kk = min(k, len(pts) - 1)
    d, _ = cKDTree(pts).query(pts, k=kk + 1)
    d = np.asarray(d).reshape(len(pts), kk + 1)[:, 1:]
    return d.mean(axis=1)
