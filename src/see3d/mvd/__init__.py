"""See3D multi-view diffusion: visual condition, multi-view UNet, DDIM sampler, training, filler.

Public API::

    from see3d.mvd import MVDModel, MVDConfig, MultiViewUNet, MultiViewUNetConfig, sample_views
    from see3d.mvd import MVDFiller, default_model_path

    filler = MVDFiller.from_pretrained(default_model_path())
    views = filler.fill(warped, masks, refs=refs, seed=0)   # [T, H, W, 3] float in [0, 1]
"""

from __future__ import annotations

from pathlib import Path

from see3d.mvd.condition import (
    CFG_DROPOUT,
    GUIDANCE_SCALE,
    build_condition,
    condition_timestep,
    condition_weight,
    make_mask,
    mixed_mask,
    stroke_mask,
    warp_hole_mask,
)
from see3d.mvd.model import MVDConfig, MVDModel
from see3d.mvd.sampler import sample_views
from see3d.mvd.schedule import NoiseSchedule
from see3d.mvd.unet import SEE3D_UNET, MultiViewUNet, MultiViewUNetConfig

#: Folder of the bundled small model inside the package.
BUNDLED_MODEL = Path(__file__).resolve().parents[1] / "assets" / "mvd_small"


def default_model_path() -> Path:
    """Path of the bundled small model (``see3d/assets/mvd_small``)."""
    return BUNDLED_MODEL


def __getattr__(name: str):  # lazy: the filler pulls in OpenCV-heavy helpers only when used
    if name in ("MVDFiller", "load_default_filler"):
        from see3d.mvd import filler

        return getattr(filler, name)
    raise AttributeError(name)


__all__ = [
    "CFG_DROPOUT",
    "GUIDANCE_SCALE",
    "SEE3D_UNET",
    "MVDConfig",
    "MVDModel",
    "MultiViewUNet",
    "MultiViewUNetConfig",
    "NoiseSchedule",
    "build_condition",
    "condition_timestep",
    "condition_weight",
    "default_model_path",
    "make_mask",
    "mixed_mask",
    "sample_views",
    "stroke_mask",
    "warp_hole_mask",
    "MVDFiller",
    "load_default_filler",
]
