"""Mesh quality against exact geometry (``see3d.synth`` scenes): Chamfer distance and normal consistency.

- *accuracy*: distance from points sampled on the mesh to the true surface (the scene's exact
  distance field, :meth:`see3d.synth.Scene.clearance`);
- *completeness*: distance from true surface points (the views' exact depths, back-projected)
  to the mesh (nearest of dense samples on the mesh);
- *Chamfer* = (mean accuracy + mean completeness) / 2, metres;
- *normal consistency* = mean ``|n_mesh . n_true|`` over the mesh samples, ``n_true`` the
  normalised gradient of the distance field (1 = every facet parallel to the true surface).
"""

from __future__ import annotations

import numpy as np

from see3d.camera import Intrinsics, unproject_depth


def true_normals(scene, points: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Unit gradient of the scene's signed distance at ``points [N, 3]`` (central differences)."""
    g = np.zeros_like(points)
    for a in range(3):
        e = np.zeros(3)
        e[a] = eps
        g[:, a] = scene.clearance(points + e) - scene.clearance(points - e)
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-20)


def surface_points(depths: np.ndarray, intrinsics: Intrinsics, poses: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random points of the surfaces the views see (exact depths, back-projected)."""
    pts = []
    for d, c2w in zip(depths, poses):
        ok = np.isfinite(d) & (d > 0)
        pts.append(unproject_depth(np.where(ok, d, 1.0), intrinsics, c2w)[ok])
    P = np.concatenate(pts)
    sel = np.random.default_rng(seed).choice(len(P), size=min(n, len(P)), replace=False)
    return P[sel]


def mesh_vs_scene(mesh, scene, gt_points: np.ndarray, n_samples: int = 50_000, seed: int = 0) -> dict:
    """Accuracy, completeness, Chamfer (metres) and normal consistency of ``mesh`` against ``scene``."""
    from scipy.spatial import cKDTree

    pts, nrm = mesh.sample(n_samples, seed)
    acc = np.abs(scene.clearance(pts))
    comp, _ = cKDTree(pts).query(gt_points)
    nc = np.abs(np.einsum("ij,ij->i", nrm, true_normals(scene, pts)))
    return {
        "accuracy_m": float(acc.mean()),
        "completeness_m": float(comp.mean()),
        "chamfer_m": float((acc.mean() + comp.mean()) / 2),
        "normal_consistency": float(nc.mean()),
        "accuracy_p90_m": float(np.percentile(acc, 90)),
        "completeness_p90_m": float(np.percentile(comp, 90)),
    }
