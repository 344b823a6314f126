"""The Middlebury 2014 "motorcycle" stereo pair shipped in scikit-image, with metric depth.

Calibration (for the 4x down-sampled images, from scikit-image's docstring):
f = 994.978 px, cx = 311.193, cy = 254.877, doffs = cx_right - cx_left = 31.086 px,
baseline B = 193.001 mm.  Depth = f * B / (disparity + doffs), 2.1 to 5.0 m.
The right camera sits ``B`` to the right of the left one (OpenCV: +x), same rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from see3d.camera.intrinsics import Intrinsics

FOCAL = 994.978
CX, CY = 311.193, 254.877
DOFFS = 31.086
BASELINE_M = 0.193001


@dataclass
class StereoPair:
    left: np.ndarray  #: uint8 [H, W, 3]
    right: np.ndarray  #: uint8 [H, W, 3]
    depth_left: np.ndarray  #: float32 [H, W] metres, 0 = unknown
    intr_left: Intrinsics
    intr_right: Intrinsics
    c2w_left: np.ndarray  #: 4x4, identity
    c2w_right: np.ndarray  #: 4x4, translated by +baseline along x


def load_motorcycle() -> StereoPair:
    """Load the pair with metric left depth (invalid disparity -> 0)."""
    from skimage import data

    left, right, disp = data.stereo_motorcycle()
    disp = np.asarray(disp, dtype=np.float64)
    valid = np.isfinite(disp)
    depth = np.zeros(disp.shape, np.float32)
    depth[valid] = (FOCAL * BASELINE_M / (disp[valid] + DOFFS)).astype(np.float32)
    h, w = disp.shape
    il = Intrinsics(FOCAL, FOCAL, CX, CY, w, h)
    ir = Intrinsics(FOCAL, FOCAL, CX + DOFFS, CY, w, h)
    c2w_r = np.eye(4)
    c2w_r[0, 3] = BASELINE_M
    return StereoPair(np.ascontiguousarray(left), np.ascontiguousarray(right), depth, il, ir, np.eye(4), c2w_r)
