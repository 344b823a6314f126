"""Depth maps -> truncated signed distance volume -> coloured triangle mesh.

The volume is a dense voxel grid over the scene's bounds (robust percentiles of the
back-projected depths).  Each view updates the voxels that project into it with the
projective signed distance ``d = depth(pixel) - z_voxel`` (camera z, metres), truncated to
``[-trunc, trunc]`` and divided by ``trunc``; voxels more than ``trunc`` behind the observed
surface are left alone (they are occluded, not empty).  A voxel's value is the weighted mean
over the views (the running average of Curless & Levoy 1996, KinectFusion).  The surface is
the zero level set, extracted with scikit-image's marching cubes only between voxels that at
least one view observed, so no false surface closes the unobserved space.  Vertex colours are
the mean colour of the views that see the vertex (projected, depth-tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from see3d.camera import Intrinsics, as_pose, invert
from see3d.errors import See3DError

#: Voxels of the default grid along the longest side of the scene's bounds.
DEFAULT_RESOLUTION = 256
#: Truncation distance in voxels (the band around the surface that the views update).
DEFAULT_TRUNC_VOXELS = 4.0
#: A volume larger than this many voxels is refused (float32 value + weight: 8 bytes each).
MAX_VOXELS = 96_000_000


@dataclass
class Mesh:
    """A triangle mesh: ``vertices [V, 3]`` float64 (world, metres), ``faces [F, 3]`` int64,
    ``colors [V, 3]`` uint8 (or None). Faces are wound so their normals point to free space
    (towards the cameras that saw them)."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None

    def face_normals(self) -> np.ndarray:
        """Unit normals ``[F, 3]`` (right-hand rule over the face's vertex order)."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)

    def face_areas(self) -> np.ndarray:
        v = self.vertices[self.faces]
        return 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points spread uniformly over the surface (by area) and their faces' normals."""
        areas = self.face_areas()
        if len(areas) == 0 or areas.sum() <= 0:
            raise See3DError("the mesh has no area to sample")
        rng = np.random.default_rng(seed)
        f = rng.choice(len(areas), size=n, p=areas / areas.sum())
        r1, r2 = rng.random(n), rng.random(n)
        s = np.sqrt(r1)
        a, b, c = (1 - s), s * (1 - r2), s * r2
        v = self.vertices[self.faces[f]]
        pts = a[:, None] * v[:, 0] + b[:, None] * v[:, 1] + c[:, None] * v[:, 2]
        return pts, self.face_normals()[f]


@dataclass
class TSDFVolume:
    """A dense TSDF grid: voxel ``(i, j, k)`` has its centre at ``origin + voxel * (i, j, k)``."""

    origin: np.ndarray  #: [3] world position of voxel (0, 0, 0)
    voxel: float  #: edge length, metres
    trunc: float  #: truncation distance, metres
    tsdf: np.ndarray  #: float32 [X, Y, Z] in [-1, 1] (1 = free space), 1 where unobserved
    weight: np.ndarray  #: float32 [X, Y, Z], 0 = never observed

    @classmethod
    def empty(cls, lo: np.ndarray, hi: np.ndarray, voxel: float, trunc_voxels: float = DEFAULT_TRUNC_VOXELS) -> "TSDFVolume":
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        if not (np.isfinite(voxel) and voxel > 0):
            raise See3DError(f"voxel size must be a positive number of metres, got {voxel}")
        if not trunc_voxels >= 1:
            raise See3DError(f"the truncation must be at least 1 voxel, got {trunc_voxels}")
        dims = np.maximum(np.ceil((hi - lo) / voxel).astype(np.int64) + 1, 2)
        n = int(np.prod(dims))
        if n > MAX_VOXELS:
            raise See3DError(
                f"a {dims[0]}x{dims[1]}x{dims[2]} volume ({n / 1e6:.0f} M voxels) is too large; "
                f"use a larger voxel size (now {voxel:.4g} m) or a lower resolution"
            )
        shape = tuple(int(d) for d in dims)
        return cls(lo, float(voxel), float(trunc_voxels * voxel), np.ones(shape, np.float32), np.zeros(shape, np.float32))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.tsdf.shape)  # type: ignore[return-value]

    def integrate(
        self,
        depth: np.ndarray,
        intrinsics: Intrinsics,
        c2w: np.ndarray,
        pixel_weight: np.ndarray | None = None,
        backend: str = "numba",
        chunk: int = 1 << 21,
    ) -> None:
        """Fuse one depth map (camera z, metres; 0 / non-finite = unknown) seen from ``c2w`` (OpenCV).

        ``backend``: ``numba`` (compiled loop) or ``numpy`` (the readable reference, same update)."""
        d = np.asarray(depth, np.float32)
        H, W = d.shape
        if (intrinsics.width, intrinsics.height) != (W, H):
            raise See3DError(f"depth map {W}x{H} does not match its intrinsics {intrinsics.width}x{intrinsics.height}")
        d = np.where(np.isfinite(d) & (d > 0), d, 0.0).astype(np.float32)
        pw = None if pixel_weight is None else np.asarray(pixel_weight, np.float32)
        w2c = invert(as_pose(c2w))
        if backend == "numba":
            from see3d.mesh._kernel import integrate_numba

            pwk = np.ones((H, W), np.float32) if pw is None else np.ascontiguousarray(pw)
            integrate_numba(self.tsdf, self.weight, np.asarray(self.origin, np.float64), float(self.voxel), float(self.trunc),
                            np.ascontiguousarray(w2c, np.float64), float(intrinsics.fx), float(intrinsics.fy),
                            float(intrinsics.cx), float(intrinsics.cy), d, pwk)
            return
        if backend != "numpy":
            raise See3DError(f"unknown TSDF backend {backend!r}; use numba or numpy")
        R, t = w2c[:3, :3], w2c[:3, 3]
        X, Y, Z = self.shape
        flat_t, flat_w = self.tsdf.reshape(-1), self.weight.reshape(-1)
        n = X * Y * Z
        for start in range(0, n, chunk):
            idx = np.arange(start, min(n, start + chunk))
            i, rem = np.divmod(idx, Y * Z)
            j, k = np.divmod(rem, Z)
            p = self.origin + self.voxel * np.stack([i, j, k], axis=1)
            c = p @ R.T + t
            z = c[:, 2]
            ok = z > 1e-6
            u = np.full(len(z), -1, np.int64)
            v = np.full(len(z), -1, np.int64)
            u[ok] = np.rint(intrinsics.fx * c[ok, 0] / z[ok] + intrinsics.cx).astype(np.int64)
            v[ok] = np.rint(intrinsics.fy * c[ok, 1] / z[ok] + intrinsics.cy).astype(np.int64)
            ok &= (u >= 0) & (u < W) & (v >= 0) & (v < H)
            sel = np.flatnonzero(ok)
            if len(sel) == 0:
                continue
            dv = d[v[sel], u[sel]]
            sdf = dv - z[sel]
            good = (dv > 0) & (sdf >= -self.trunc)
            sel, sdf = sel[good], sdf[good]
            w_new = np.ones(len(sel), np.float32) if pw is None else pw[v[sel], u[sel]]
            keep = w_new > 0
            sel, sdf, w_new = sel[keep], sdf[keep], w_new[keep]
            g = idx[sel]
            val = np.minimum(1.0, sdf / self.trunc).astype(np.float32)
            w_old = flat_w[g]
            w_sum = w_old + w_new
            flat_t[g] = (flat_t[g] * w_old + val * w_new) / w_sum
            flat_w[g] = w_sum

    def extract(self, min_weight: float = 0.0) -> Mesh:
        """Marching cubes at level 0 between observed voxels; faces oriented towards free space."""
        from skimage.measure import marching_cubes

        observed = self.weight > min_weight
        vol = np.where(observed, self.tsdf, 1.0).astype(np.float32)
        if not (vol.min() < 0 < vol.max()):
            raise See3DError("the fused volume has no surface (no depth observed inside the volume's bounds)")
        verts, faces, _, _ = marching_cubes(vol, level=0.0, allow_degenerate=False)
        # keep vertices that lie on an edge between two observed voxels (floor and ceil of the grid coordinate)
        lo = np.floor(verts).astype(np.int64)
        hi = np.minimum(np.ceil(verts).astype(np.int64), np.array(vol.shape) - 1)
        ok_v = observed[lo[:, 0], lo[:, 1], lo[:, 2]] & observed[hi[:, 0], hi[:, 1], hi[:, 2]]
        faces = faces[ok_v[faces].all(axis=1)]
        mesh = _compact(verts * self.voxel + self.origin, faces.astype(np.int64))
        # orient: the normal points up the gradient of the TSDF (from occupied, < 0, to free, > 0)
        if len(mesh.faces):
            cent = (mesh.vertices[mesh.faces].mean(axis=1) - self.origin) / self.voxel
            grad = _trilinear_gradient(vol, cent)
            flip = np.einsum("ij,ij->i", mesh.face_normals(), grad) < 0
            mesh.faces[flip] = mesh.faces[flip][:, ::-1]
        return mesh


def _compact(vertices: np.ndarray, faces: np.ndarray) -> Mesh:
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return Mesh(vertices[used].astype(np.float64), remap[faces])


def _trilinear_gradient(vol: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Central-difference gradient of ``vol`` at grid coordinates ``p [N, 3]`` (nearest cell)."""
    g = np.zeros_like(p)
    hi = np.array(vol.shape) - 1
    base = np.clip(np.rint(p).astype(np.int64), 0, hi)
    for a in range(3):
        e = np.zeros(3, np.int64)
        e[a] = 1
        up = np.clip(base + e, 0, hi)
        dn = np.clip(base - e, 0, hi)
        g[:, a] = vol[up[:, 0], up[:, 1], up[:, 2]] - vol[dn[:, 0], dn[:, 1], dn[:, 2]]
    return g


def remove_small_components(mesh: Mesh, min_faces: int) -> Mesh:
    """Drop connected pieces with fewer than ``min_faces`` faces (floaters of noisy depth)."""
    if min_faces <= 1 or len(mesh.faces) == 0:
        return mesh
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = mesh.faces
    nv = len(mesh.vertices)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(nv, nv))
    _, label = connected_components(graph, directed=False)
    face_label = label[f[:, 0]]
    counts = np.bincount(face_label)
    keep = counts[face_label] >= min_faces
    out = _compact(mesh.vertices, f[keep])
    if mesh.colors is not None:
        used = np.unique(f[keep])
        out.colors = mesh.colors[used]
    return out


def auto_bounds(
    depths: np.ndarray, intrinsics: list[Intrinsics], poses: np.ndarray, percentile: float = 1.0, stride: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the scene: per-axis ``[p, 100 - p]`` percentiles of the back-projected depths."""
    from see3d.camera import unproject_depth

    pts = []
    for d, k, c2w in zip(depths, intrinsics, poses):
        d = np.asarray(d, np.float64)
        P = unproject_depth(np.where(np.isfinite(d) & (d > 0), d, 0.0), k, as_pose(c2w))[::stride, ::stride]
        ok = (np.isfinite(d) & (d > 0))[::stride, ::stride]
        pts.append(P[ok])
    P = np.concatenate(pts) if pts else np.zeros((0, 3))
    if len(P) < 4:
        raise See3DError("no valid depth in any view: nothing to fuse")
    return np.percentile(P, percentile, axis=0), np.percentile(P, 100 - percentile, axis=0)


def pixel_footprint(depths: np.ndarray, intrinsics: list[Intrinsics]) -> float:
    """Median over the views of (median depth / focal length): the size of a pixel on the surface, metres."""
    vals = []
    for d, k in zip(depths, intrinsics):
        d = np.asarray(d)
        ok = np.isfinite(d) & (d > 0)
        if ok.any():
            vals.append(float(np.median(d[ok])) / max(k.fx, k.fy))
    return float(np.median(vals)) if vals else 0.0


def vertex_colors(
    vertices: np.ndarray,
    images: np.ndarray,
    depths: np.ndarray,
    intrinsics: list[Intrinsics],
    poses: np.ndarray,
    tolerance: float,
    pixel_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Mean colour of each vertex over the views that see it (|z - depth| <= ``tolerance``); uint8 [V, 3]."""
    acc = np.zeros((len(vertices), 3))
    wsum = np.zeros(len(vertices))
    for i, (img, d, k, c2w) in enumerate(zip(images, depths, intrinsics, poses)):
        img = np.asarray(img)
        imgf = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
        w2c = invert(as_pose(c2w))
        c = vertices @ w2c[:3, :3].T + w2c[:3, 3]
        z = c[:, 2]
        H, W = d.shape
        ok = z > 1e-6
        zs = np.where(ok, z, 1.0)
        u = np.rint(k.fx * c[:, 0] / zs + k.cx).astype(np.int64)
        v = np.rint(k.fy * c[:, 1] / zs + k.cy).astype(np.int64)
        ok &= (u >= 0) & (u < W) & (v >= 0) & (v < H)
        sel = np.flatnonzero(ok)
        dv = np.asarray(d)[v[sel], u[sel]]
        vis = np.isfinite(dv) & (dv > 0) & (np.abs(dv - z[sel]) <= tolerance)
        sel = sel[vis]
        w = np.ones(len(sel)) if pixel_weights is None else pixel_weights[i][v[sel], u[sel]].astype(np.float64)
        acc[sel] += w[:, None] * imgf[v[sel], u[sel]]
        wsum[sel] += w
    col = np.where(wsum[:, None] > 0, acc / np.maximum(wsum, 1e-12)[:, None], 0.5)
    return (np.clip(col, 0, 1) * 255 + 0.5).astype(np.uint8)


def fuse_depths(
    images: np.ndarray,
    depths: np.ndarray,
    intrinsics: Intrinsics | list[Intrinsics],
    poses: np.ndarray,
    *,
    voxel_size: float | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    trunc_voxels: float = DEFAULT_TRUNC_VOXELS,
    pixel_weights: np.ndarray | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    min_component_faces: int = 32,
    progress: bool = False,
) -> tuple[Mesh, TSDFVolume]:
    """Fuse posed depth maps into a TSDF and extract a coloured mesh.

    ``images [N, H, W, 3]`` (float [0, 1] or uint8), ``depths [N, H, W]`` (camera z, metres,
    0 = unknown), ``poses [N, 4, 4]`` OpenCV camera-to-world. ``voxel_size`` in metres; None =
    the longest side of the scene's bounds / ``resolution`` (the scene's own scale: a room and
    a street get the same number of voxels). ``pixel_weights [N, H, W]``: each depth's weight in
    the running average (0 = ignore the pixel). Returns ``(mesh, volume)``.
    """
    n = len(images)
    intr = [intrinsics] * n if isinstance(intrinsics, Intrinsics) else list(intrinsics)
    if len(intr) != n or len(depths) != n or len(poses) != n:
        raise See3DError("fuse_depths: images, depths, intrinsics and poses differ in number")
    if n == 0:
        raise See3DError("fuse_depths: no views")
    if resolution < 8:
        raise See3DError(f"resolution must be at least 8 voxels, got {resolution}")
    lo, hi = bounds if bounds is not None else auto_bounds(depths, intr, poses)
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    extent = float(np.max(hi - lo))
    if not extent > 0:
        raise See3DError("the scene's bounds are empty (all depths at one point)")
    voxel = float(voxel_size) if voxel_size is not None else extent / resolution
    # voxels finer than the pixels: the truncation band must still hold the depth's own
    # quantisation (neighbouring pixels at a grazing angle), at least 4 pixel footprints
    trunc_voxels = max(float(trunc_voxels), 4.0 * pixel_footprint(depths, intr) / voxel)
    pad = (trunc_voxels + 1) * voxel
    vol = TSDFVolume.empty(lo - pad, hi + pad, voxel, trunc_voxels)
    it = range(n)
    if progress:
        from see3d._progress import progress_bar

        it = progress_bar(it, desc="fuse", unit="view")
    for i in it:
        vol.integrate(depths[i], intr[i], poses[i], None if pixel_weights is None else pixel_weights[i])
    mesh = vol.extract()
    mesh.colors = vertex_colors(mesh.vertices, images, depths, intr, poses, vol.trunc, pixel_weights)
    mesh = remove_small_components(mesh, min_component_faces)
    return mesh, vol
