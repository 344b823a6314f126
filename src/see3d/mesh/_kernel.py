"""Compiled TSDF integration (numba): the same update as :meth:`see3d.mesh.TSDFVolume.integrate`'s
NumPy reference, one voxel at a time instead of in chunks (~50x faster on one core)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def integrate_numba(tsdf, weight, origin, voxel, trunc, w2c, fx, fy, cx, cy, depth, pixel_weight):  # pragma: no cover - compiled
    X, Y, Z = tsdf.shape
    H, W = depth.shape
    for i in range(X):
        px = origin[0] + voxel * i
        for j in range(Y):
            py = origin[1] + voxel * j
            bx = w2c[0, 0] * px + w2c[0, 1] * py + w2c[0, 3]
            by = w2c[1, 0] * px + w2c[1, 1] * py + w2c[1, 3]
            bz = w2c[2, 0] * px + w2c[2, 1] * py + w2c[2, 3]
            for k in range(Z):
                pz = origin[2] + voxel * k
                z = bz + w2c[2, 2] * pz
                if z <= 1e-6:
                    continue
                x = bx + w2c[0, 2] * pz
                y = by + w2c[1, 2] * pz
                u = np.rint(fx * x / z + cx)
                v = np.rint(fy * y / z + cy)
                if u < 0 or u >= W or v < 0 or v >= H:
                    continue
                ui, vi = int(u), int(v)
                d = depth[vi, ui]
                if d <= 0:
                    continue
                sdf = d - z
                if sdf < -trunc:
                    continue
                w = pixel_weight[vi, ui]
                if w <= 0:
                    continue
                val = sdf / trunc
                if val > 1.0:
                    val = 1.0
                wo = weight[i, j, k]
                ws = wo + w
                tsdf[i, j, k] = (tsdf[i, j, k] * wo + val * w) / ws
                weight[i, j, k] = ws
