"""Coloured point clouds as binary PLY (opens in MeshLab, CloudCompare, Blender)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from see3d.errors import See3DError


def write_point_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None, normals: np.ndarray | None = None) -> None:
    """Write ``points [N, 3]`` with optional uint8 (or [0,1] float) ``colors [N, 3]``."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if normals is not None:
        fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    v = np.empty(len(pts), dtype=fields)
    v["x"], v["y"], v["z"] = pts.T
    if normals is not None:
        n = np.asarray(normals, dtype=np.float32).reshape(-1, 3)
        v["nx"], v["ny"], v["nz"] = n.T
    if colors is not None:
        c = np.asarray(colors).reshape(-1, 3)
        if c.dtype != np.uint8:
            c = (np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
        v["red"], v["green"], v["blue"] = c.T
    PlyData([PlyElement.describe(v, "vertex")], text=False).write(str(path))


def read_point_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``(points [N, 3] float32, colors [N, 3] uint8 or None)``."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"ply file not found: {path}")
    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"]
    except Exception as e:  # plyfile raises several types for malformed files
        raise See3DError(f"cannot read ply {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    names = v.data.dtype.names
    if not all(k in names for k in ("x", "y", "z")):
        raise See3DError(f"ply {path.name} has no x/y/z vertex attributes")
    pts = np.stack([v["x"], v["y"], v["z"]], axis=-1).astype(np.float32)
    cols = None
    if all(k in names for k in ("red", "green", "blue")):
        cols = np.stack([v["red"], v["green"], v["blue"]], axis=-1).astype(np.uint8)
    return pts, cols
