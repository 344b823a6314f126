"""Image metrics used for the 3DGS loss and for held-out evaluation: PSNR and SSIM.

SSIM uses an 11x11 Gaussian window (sigma 1.5), constants ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``
with ``L = 1`` and population (not sample) variances, averaged over the pixels where the whole
window fits inside the image, which matches ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``. The training loss
uses the same statistics with zero padding (``valid=False``) so border pixels get gradients too.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _gauss_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.to(dtype=dtype, device=device)


def _ssim_from_blur(x: torch.Tensor, y: torch.Tensor, blur) -> torch.Tensor:
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim_map(a: torch.Tensor, b: torch.Tensor, valid: bool = True, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of images ``[..., H, W, 3]`` in [0, 1] -> ``[..., H', W', 3]``.

    ``valid=True`` keeps only pixels whose window lies inside the image (``H' = H - size + 1``);
    ``valid=False`` zero-pads to keep ``H' = H``.
    """
    shape = a.shape
    x = a.reshape(-1, *shape[-3:]).permute(0, 3, 1, 2)
    y = b.reshape(-1, *shape[-3:]).permute(0, 3, 1, 2)
    c = x.shape[1]
    H, W = shape[-3], shape[-2]
    if valid and (H < size or W < size):
        valid = False
    g = _gauss_window(size, sigma, x.dtype, x.device)
    pad = 0 if valid else size // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, g.view(1, 1, 1, -1).expand(c, 1, 1, size), padding=(0, pad), groups=c)
        return F.conv2d(t, g.view(1, 1, -1, 1).expand(c, 1, size, 1), padding=(pad, 0), groups=c)

    s = _ssim_from_blur(x, y, blur).permute(0, 2, 3, 1)
    return s.reshape(*shape[:-3], *s.shape[1:])


def ssim(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, valid: bool = True) -> float:
    """Mean SSIM of two ``[H, W, 3]`` images in [0, 1] (see the module docstring)."""
    ta = torch.as_tensor(np.asarray(a, dtype=np.float64)) if not isinstance(a, torch.Tensor) else a.double()
    tb = torch.as_tensor(np.asarray(b, dtype=np.float64)) if not isinstance(b, torch.Tensor) else b.double()
    with torch.no_grad():
        return float(ssim_map(ta, tb, valid=valid).mean())


def psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """PSNR in dB of images in [0, 1] (``inf`` when identical)."""
    x = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    y = np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)
