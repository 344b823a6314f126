"""Bundled examples that need no extra files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from see3d.camera import Intrinsics
from see3d.errors import See3DError

EXAMPLES = ("motorcycle",)


@dataclass
class Example:
    name: str
    image: np.ndarray  #: uint8 [H, W, 3]
    depth: np.ndarray  #: float32 [H, W] metres, 0 = unknown
    intrinsics: Intrinsics
    description: str


def load_example(name: str) -> Example:
    """``motorcycle``: the Middlebury 2014 left view (scikit-image) with its true metric depth."""
    if name == "motorcycle":
        from see3d.synth.middlebury import load_motorcycle

        p = load_motorcycle()
        return Example(
            name,
            p.left,
            p.depth_left,
            p.intr_left,
            "Middlebury 2014 'motorcycle' left view with ground-truth depth (scikit-image data)",
        )
    raise See3DError(f"unknown example {name!r}: available: {', '.join(EXAMPLES)}")
