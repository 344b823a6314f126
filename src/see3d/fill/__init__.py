"""Hole filling: make warped views complete.

One interface for every filler::

    filler = get_filler("telea")            # or "ns", or "mvd" (the multi-view diffusion model)
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

FILLERS = ("mvd", "telea", "ns")


class Filler(Protocol):
    name: str

    def fill(
        self, warped: np.ndarray, masks: np.ndarray, refs: np.ndarray | None = None, seed: int = 0, progress: bool = False
    ) -> np.ndarray: ...


def get_filler(name: str, model_path: str | None = None, **kwargs) -> Filler:
    """A filler by name: ``telea`` / ``ns`` (OpenCV inpainting) or ``mvd`` (diffusion model)."""
    if name in ("telea", "ns"):
        return ClassicalFiller(name, **kwargs)
    if name == "mvd":
        from see3d.mvd.filler import load_default_filler

        return load_default_filler(model_path, **kwargs)
    raise See3DError(f"unknown filler {name!r}: use one of {', '.join(FILLERS)}")


__all__ = ["Filler", "ClassicalFiller", "FILLERS", "fill_telea", "fill_navier_stokes", "get_filler"]
