"""Hole filling: make warped views complete.

One interface for every filler::

    filler = get_filler("mvd")   # the multi-view diffusion model; or "telea", "ns" (OpenCV inpainting)
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
    """The filler ``name`` stands for, and why. ``auto`` (kept for old command lines) is ``mvd``:
    since 2026-11-26 the model runs on overlapping windows (:mod:`see3d.mvd.sampler`), so the
    diffusion fill of the 12-view example takes 14-18 s on 2 CPU cores (113-129 s over whole
    views), and it beats Telea on held-out synth and on the real Middlebury holes (docs/mvd.md)."""
    if name not in FILLERS:
        raise See3DError(f"unknown filler {name!r}: use one of {', '.join(FILLERS)}")
    if name == "auto":
        return "mvd", "auto: the diffusion model"
    return name, "chosen"


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
