"""The ``file`` backend: a depth map given on disk or in memory (no model).

This is the path the 3D pipeline takes when the user supplies depth: the map is read
(``.npy`` metres or a 16-bit PNG with its scale), validated (no NaN/inf, some valid pixels)
and checked against the image size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.depth.base import DepthPrediction
from see3d.errors import See3DError
from see3d.io.depthmaps import load_depth, validate_depth


class FileDepthBackend:
    """Return a fixed depth map for an image of the same size (``depth_scale`` for 16-bit PNGs)."""

    name = "file"

    def __init__(self, depth: str | Path | np.ndarray, depth_scale: float | None = None):
        if isinstance(depth, (str, Path)):
            if str(depth) == "":
                raise See3DError("file depth backend: no depth file given (use file:PATH)")
            self.source = str(depth)
            self.depth = load_depth(depth, depth_scale)
        else:
            self.source = "array"
            self.depth = validate_depth(np.asarray(depth), name="depth")

    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction:
        h, w = np.asarray(image).shape[:2]
        validate_depth(self.depth, (h, w), name=f"depth {Path(self.source).name}")
        if (intrinsics.height, intrinsics.width) != (h, w):
            raise See3DError(f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the image is {w}x{h}")
        return DepthPrediction(np.where(self.depth > 0, self.depth, 0).astype(np.float32))
