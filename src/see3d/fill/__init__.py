"""Hole filling: make warped views complete.

One interface for every filler::

    filler = get_filler("telea")   # or "ns", "mvd" (the multi-view diffusion model), "auto" (mvd on CUDA, else telea)
    filled = filler.fill(warped, masks, refs=refs, seed=0)

``warped`` is ``[T, H, W, 3]`` float32 in [0, 1], ``masks`` ``[T, H, W]`` with
1 = known (covered by the warp) and 0 = hole, ``refs`` the clean input views
``[S, H, W, 3]`` (used by generative fillers).  Known pixels are returned as they
were; only holes change.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from see3d.fill.classical import ClassicalFiller, fill_navier_stokes, fill_telea
from see3d.errors import See3DError

FILLERS = ("auto", "mvd", "telea", "ns")


def resolve_fill(name: str) -> tuple[str, str]:
    """The filler ``name`` stands for, and why: ``auto`` is ``mvd`` (the multi-view diffusion
    model) where PyTorch sees a CUDA device, else ``telea``. On a GPU the diffusion fill of a
    trajectory takes seconds; on 2 CPU cores it takes minutes (its 3D attention spans all
    views of a group), and there it was level with Telea on the real Middlebury photo
    (docs/mvd.md), so the CPU default stays classical and ``--fill mvd`` asks for the model."""
    if name != "auto":
        if name not in FILLERS:
            raise See3DError(f"unknown filler {name!r}: use one of {', '.join(FILLERS)}")
        return name, "chosen"
    import torch

    if torch.cuda.is_available():
        return "mvd", "auto: CUDA device found"
    return "telea", "auto: no CUDA device; --fill mvd runs the diffusion model on the CPU (minutes)"


class Filler(Protocol):
    name: str

    def fill(
        self, warped: np.ndarray, masks: np.ndarray, refs: np.ndarray | None = None, seed: int = 0, progress: bool = False
    ) -> np.ndarray: ...


def get_filler(name: str, model_path: str | None = None, **kwargs) -> Filler:
    """A filler by name: ``telea`` / ``ns`` (OpenCV inpainting), ``mvd`` (diffusion model) or
    ``auto`` (:func:`resolve_fill`)."""
    name = resolve_fill(name)[0]
    if name in ("telea", "ns"):
        return ClassicalFiller(name, **kwargs)
    from see3d.mvd.filler import load_default_filler  # name == "mvd" (resolve_fill rejects the rest)

    return load_default_filler(model_path, **kwargs)


__all__ = ["Filler", "ClassicalFiller", "FILLERS", "fill_telea", "fill_navier_stokes", "get_filler", "resolve_fill"]
