"""Projection and unprojection (NumPy and PyTorch, same maths).

Shapes: ``depth [H, W]`` (camera z, metres), points ``[..., 3]``, poses 4x4
camera-to-world (OpenCV convention, see :mod:`see3d.camera.pose`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: NumPy users of the camera module do not pay for it
    import torch

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import invert


def unproject_depth(depth: np.ndarray, intr: Intrinsics, c2w: np.ndarray | None = None) -> np.ndarray:
    """Depth map ``[H, W]`` -> points ``[H, W, 3]`` in the camera frame (or world if ``c2w``)."""
    depth = np.asarray(depth, dtype=np.float64)
    u, v = intr.pixel_grid()
    x = (u - intr.cx) / intr.fx * depth
    y = (v - intr.cy) / intr.fy * depth
    pts = np.stack([x, y, depth], axis=-1)
    if c2w is not None:
        pts = transform_points(pts, c2w)
    return pts


def transform_points(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to points ``[..., 3]``."""
    T = np.asarray(T, dtype=np.float64)
    return points @ T[:3, :3].T + T[:3, 3]


def project_points(
    points_world: np.ndarray, intr: Intrinsics, c2w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """World points ``[..., 3]`` -> pixel coordinates ``[..., 2]`` and camera z ``[...]``."""
    pts = points_world if c2w is None else transform_points(points_world, invert(c2w))
    z = pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intr.fx * pts[..., 0] / z + intr.cx
        v = intr.fy * pts[..., 1] / z + intr.cy
    return np.stack([u, v], axis=-1), z


def unproject_depth_torch(depth: "torch.Tensor", K: "torch.Tensor") -> "torch.Tensor":
    """Batched unprojection: ``depth [B, H, W]``, ``K [B, 3, 3]`` -> camera points ``[B, H, W, 3]``."""
    import torch

    B, H, W = depth.shape
    v, u = torch.meshgrid(
        torch.arange(H, dtype=depth.dtype, device=depth.device),
        torch.arange(W, dtype=depth.dtype, device=depth.device),
        indexing="ij",
    )
    fx, fy = K[:, 0, 0].view(B, 1, 1), K[:, 1, 1].view(B, 1, 1)
    cx, cy = K[:, 0, 2].view(B, 1, 1), K[:, 1, 2].view(B, 1, 1)
    x = (u - cx) / fx * depth
    y = (v - cy) / fy * depth
    return torch.stack([x, y, depth], dim=-1)


def project_points_torch(points_cam: "torch.Tensor", K: "torch.Tensor") -> "tuple[torch.Tensor, torch.Tensor]":
    """Camera points ``[B, N, 3]`` -> pixels ``[B, N, 2]`` and z ``[B, N]`` (``K [B, 3, 3]``)."""
    import torch

    z = points_cam[..., 2]
    uv = points_cam[..., :2] / z.unsqueeze(-1)
    u = uv[..., 0] * K[:, 0, 0].unsqueeze(-1) + K[:, 0, 2].unsqueeze(-1)
    v = uv[..., 1] * K[:, 1, 1].unsqueeze(-1) + K[:, 1, 2].unsqueeze(-1)
    return torch.stack([u, v], dim=-1), z
