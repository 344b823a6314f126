"""Forward warping (splatting) of colour + depth views into target cameras.

``warp_views`` is the entry point; :mod:`see3d.warp.reference` is the readable
PyTorch specification (and the GPU path), :mod:`see3d.warp.kernel` the compiled
numba CPU kernel tested against it. See ``docs/warp.md``.
"""

from see3d.warp.api import BACKENDS, WarpResult, intrinsics_to_K, warp_to_trajectory, warp_views

__all__ = ["BACKENDS", "WarpResult", "intrinsics_to_K", "warp_to_trajectory", "warp_views"]
