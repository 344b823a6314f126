"""Hole filling with the multi-view diffusion model (the ``mvd`` filler of ``see3d generate``).

The model runs at its working resolution (``fill_scale`` of the input, at most ``max_side`` pixels
on the long side, a multiple of the UNet's downsampling factor). A low-resolution cell is *known*
only when every full-resolution pixel under it is known, so every hole is generated. The output
keeps the known pixels of the warped views at full resolution; only holes take the (upsampled)
generated pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from see3d.errors import See3DError
from see3d.mvd.model import MVDModel
from see3d.mvd.sampler import sample_views


def _as_views(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise See3DError(f"mvd fill: {name} must be [N, H, W, 3] RGB views, got shape {a.shape}")
    if a.shape[0] == 0:
        raise See3DError(f"mvd fill: no {name} given (zero views)")
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


class MVDFiller:
    """Filler interface over :class:`MVDModel` (see :mod:`see3d.fill`)."""

    name = "mvd"

    def __init__(self, model: MVDModel, context: torch.Tensor | None = None, device: str | torch.device | None = None, **overrides):
        """``device``: where the model runs (``None``: the first CUDA device if PyTorch sees one,
        else the CPU). Inputs and outputs stay NumPy on the host; the noise is drawn on the CPU,
        so a seed gives the same noise on every device."""
        if model.offload_device is not None:  # offloaded: every network moves to its device when it runs
            device = model.offload_device
        elif device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise See3DError(f"mvd fill: device {device!r} requested but PyTorch sees no CUDA device")
        if model.offload_device is None:
            model = model.to(self.device)
        # channels-last convolutions: 1.28x faster on the CPU for the bundled model (benchmarks/fill.py)
        self.model = model.to(memory_format=torch.channels_last).eval()
        self.context = context
        for k, v in overrides.items():
            if not hasattr(model.config, k):
                raise See3DError(f"mvd fill: unknown option {k!r}")
            setattr(model.config, k, v)
        model.config.__post_init__()

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device | None = None, **overrides) -> "MVDFiller":
        """Load a model folder (default: the bundled small model) or a See3D release root
        (:mod:`see3d.mvd.release`; ``variant``, ``dtype``, ``offload``, ``vae_slicing``, ``vae_tiling``
        choose how it runs); ``overrides``: steps, samples, ..."""
        from see3d.mvd import default_model_path
        from see3d.mvd.release import is_release_root, load_release

        if is_release_root(path):
            opts = {k: overrides.pop(k) for k in ("variant", "dtype", "offload", "vae_slicing", "vae_tiling") if k in overrides}
            return cls(load_release(path, device=device, **opts), device=device, **overrides)
        path = Path(path) if path is not None else default_model_path()
        if not (path / "config.json").is_file():
            raise See3DError(
                f"no multi-view diffusion weights at {path}; train them with `see3d train mvd` "
                "or use --fill telea"
            )
        return cls(MVDModel.from_pretrained(path), device=device, **overrides)

    def working_size(self, h: int, w: int) -> tuple[int, int]:
        cfg = self.model.config
        m = self.model.unet.config.downsample_factor * self.model.downscale
        s = min(cfg.fill_scale, cfg.max_side / max(h, w))
        return max(m, int(round(h * s / m)) * m), max(m, int(round(w * s / m)) * m)

    def fill(
        self,
        warped: np.ndarray,
        masks: np.ndarray,
        refs: np.ndarray | None = None,
        seed: int = 0,
        progress: bool = False,
        steps: int | None = None,
    ) -> np.ndarray:
        """Fill the holes (``masks == 0``) of ``warped [T, H, W, 3]`` given clean ``refs [S, H, W, 3]``.

        Returns ``[T, H, W, 3]`` float32 in [0, 1]; known pixels are returned unchanged.
        """
        warped = _as_views(warped, "warped views")
        if refs is None:
            raise See3DError("mvd fill: the diffusion filler needs at least one clean reference view (refs)")
        refs = _as_views(refs, "reference views")
        masks = np.asarray(masks, np.float32)
        if masks.ndim == 2:
            masks = masks[None]
        if masks.shape != warped.shape[:3]:
            raise See3DError(f"mvd fill: masks shape {masks.shape} does not match views {warped.shape[:3]}")
        if refs.shape[1:3] != warped.shape[1:3]:
            raise See3DError(f"mvd fill: reference size {refs.shape[1:3]} differs from warped size {warped.shape[1:3]}")
        H, W = warped.shape[1:3]
        h, w = self.working_size(H, W)
        known = (masks >= 0.5).astype(np.float32)
        small_rgb, small_m = [], []
        for img, m in zip(warped, known):
            ms = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
            rs = cv2.resize(img * m[..., None], (w, h), interpolation=cv2.INTER_AREA)
            rs = rs / np.maximum(ms, 1e-6)[..., None]
            mk = (ms >= 0.999).astype(np.float32)
            small_rgb.append(rs * mk[..., None])
            small_m.append(mk)
        small_refs = np.stack([cv2.resize(r, (w, h), interpolation=cv2.INTER_AREA) for r in refs])
        model = self.model
        tw = torch.from_numpy(np.stack(small_rgb)).permute(0, 3, 1, 2).float()
        tm = torch.from_numpy(np.stack(small_m))[:, None].float()
        tr = torch.from_numpy(small_refs).permute(0, 3, 1, 2).float()
        cond_img = model.prepare_condition(tw, tm)  # on the host (OpenCV pre-fill)
        dev = self.device
        context = self.context
        if context is None and getattr(model, "context_encoder", None) is not None:
            context = model.context_encoder(tr[:1] * 2.0 - 1.0)  # per scene, from the first reference
        both = torch.cat([tr, cond_img])
        if not model.config.vae_sample:
            z_all = model.encode(both.to(dev))
        mz = model.encode_mask(tm.to(dev))
        acc = None
        n = model.config.samples
        s_n = tr.shape[0]
        for k in range(n):
            gen = torch.Generator(device="cpu").manual_seed(int(seed + 1000 * k))
            if model.config.vae_sample:  # the latents are a seeded sample, drawn before the sampler's noise
                z_all = model.encode(both, generator=gen)
            z = sample_views(model, z_all[:s_n], z_all[s_n:], mz, steps=steps, context=context, progress=progress, generator=gen)
            img = model.decode(z).float().cpu()
            acc = img if acc is None else acc + img
        gen = (acc / n).permute(0, 2, 3, 1).numpy()
        residual = model.config.compose == "residual"
        if residual:
            from see3d.fill.classical import fill_telea

            gen = gen - cond_img.permute(0, 2, 3, 1).numpy()
        out = warped.copy()
        for i in range(out.shape[0]):
            up = cv2.resize(gen[i], (W, H), interpolation=cv2.INTER_CUBIC)
            if residual:
                up = up + fill_telea(warped[i], known[i])
            hole = known[i] < 0.5
            out[i][hole] = np.clip(up[hole], 0.0, 1.0)
        return out


def load_default_filler(model_path: str | Path | None = None, **kwargs) -> MVDFiller:
    """The ``mvd`` filler: the given weights folder, or the bundled small model."""
    return MVDFiller.from_pretrained(model_path, **kwargs)
