"""Render procedural scenes: RGB, exact metric depth, normals, along any camera path.

``render(scene, intr, c2w)`` casts one ray through every pixel centre (OpenCV
convention, see :mod:`see3d.camera.intrinsics`), keeps the nearest hit, and
shades it: texture (trilinear mip-mapped lookup at the material's physical
scale) times Lambert lighting (ambient + a distant light + a point light with a
soft distance falloff in rooms), times the scene's light colour / exposure.  No shadows, no anti-aliasing: every pixel is
the colour of the surface point whose camera-z is stored in the depth map, so
depth and colour agree exactly across views.  Rays that hit nothing (the sky of
outdoor scenes) get depth ``inf`` and a sky colour that depends only on the ray
direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import as_pose
from see3d.errors import See3DError
from see3d.synth.raycast import cast_rays, cast_rays_reference, pixel_rays
from see3d.synth.scene import BOX, CYLINDER, ROOM, SPHERE, Scene
from see3d.synth.shade_fast import shade_image
from see3d.synth.textures import TEX_SIZE, sample, texture_bank

_SKY_HORIZON = np.array([0.86, 0.9, 0.95], np.float32)
_SKY_ZENITH = np.array([0.32, 0.52, 0.88], np.float32)
_FALLOFF_M = 3.0  #: distance at which the point light has half its power


@dataclass
class SynthFrame:
    """One rendered view.

    ``rgb`` float32 ``[H, W, 3]`` in [0, 1]; ``depth`` float32 ``[H, W]`` camera-z
    in metres, ``inf`` where the ray hits nothing; ``normal`` float32 ``[H, W, 3]``
    unit normals in the *camera* frame (facing the camera, 0 on the sky);
    ``prim`` int32 ``[H, W]`` index of the primitive seen (-1 = sky).
    """

    rgb: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    prim: np.ndarray


@dataclass
class SynthClip:
    """A rendered clip: ``rgb [N, H, W, 3]`` float32, ``depth [N, H, W]`` float32
    (camera-z metres, ``inf`` = sky), one ``intrinsics`` for all frames, and
    ``poses [N, 4, 4]`` OpenCV camera-to-world (float64).  ``normal`` ``[N, H, W, 3]``
    (camera frame) when requested, ``scene`` the scene rendered.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    poses: np.ndarray
    normal: np.ndarray | None = None
    scene: Scene | None = None

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


def sky_color(dirs: np.ndarray) -> np.ndarray:
    """Sky colour for world ray directions ``[N, 3]`` (any length): a gradient by elevation."""
    d = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    e = np.clip(-d[:, 1], 0.0, 1.0) ** 0.6  # elevation (y is down)
    return ((1 - e)[:, None] * _SKY_HORIZON + e[:, None] * _SKY_ZENITH).astype(np.float32)


def _surface(scene: Scene, p_local: np.ndarray, pid: np.ndarray, face: np.ndarray):
    """Local normals, surface coordinates in metres (u, v) and the face extent for 'fit' mapping."""
    n = pid.shape[0]
    kind = scene.ptype[pid]
    half = scene.half[pid]
    nl = np.zeros((n, 3))
    um = np.zeros(n)
    vm = np.zeros(n)
    ufit = np.zeros(n)
    vfit = np.zeros(n)
    extent = np.ones(n)

    box = (kind == BOX) | (kind == ROOM)
    if box.any():
        ax = face[box] // 2
        sgn = np.where(face[box] % 2 == 1, 1.0, -1.0)
        sgn = np.where(kind[box] == ROOM, -sgn, sgn)  # room walls are seen from inside
        idx = np.nonzero(box)[0]
        nl[idx, ax] = sgn
        pl = p_local[box]
        h = half[box]
        # in-face axes: x faces -> (z, y), y faces -> (x, z), z faces -> (x, y); u points to the
        # viewer's right for an upright viewer facing the face, v points down
        a_u = np.choose(ax, [2, 0, 0])
        a_v = np.choose(ax, [1, 2, 1])
        flip = np.where(ax == 0, sgn, np.where(ax == 2, -sgn, 1.0))
        r = np.arange(pl.shape[0])
        u_ = flip * pl[r, a_u]
        v_ = pl[r, a_v]
        hu, hv = h[r, a_u], h[r, a_v]
        um[box], vm[box] = u_, v_
        ufit[box] = (u_ + hu) / (2 * hu)
        vfit[box] = (v_ + hv) / (2 * hv)
        extent[box] = 2 * np.maximum(hu, hv)

    sph = kind == SPHERE
    if sph.any():
        pl = p_local[sph]
        r = half[sph, 0]
        nl[sph] = pl / r[:, None]
        phi = np.arctan2(pl[:, 2], pl[:, 0])
        theta = np.arccos(np.clip(pl[:, 1] / r, -1.0, 1.0))
        um[sph], vm[sph] = phi * r, theta * r
        ufit[sph], vfit[sph] = (phi + np.pi) / (2 * np.pi), theta / np.pi
        extent[sph] = 2 * np.pi * r

    cyl = kind == CYLINDER
    if cyl.any():
        pl = p_local[cyl]
        r, hh = half[cyl, 0], half[cyl, 1]
        f = face[cyl]
        side = f == 0
        phi = np.arctan2(pl[:, 2], pl[:, 0])
        nrm = np.zeros_like(pl)
        rr = np.maximum(np.hypot(pl[:, 0], pl[:, 2]), 1e-12)
        nrm[:, 0] = np.where(side, pl[:, 0] / rr, 0.0)
        nrm[:, 2] = np.where(side, pl[:, 2] / rr, 0.0)
        nrm[:, 1] = np.where(side, 0.0, np.where(f == 3, 1.0, -1.0))
        nl[cyl] = nrm
        um[cyl] = np.where(side, phi * r, pl[:, 0])
        vm[cyl] = np.where(side, pl[:, 1], pl[:, 2])
        ufit[cyl] = np.where(side, (phi + np.pi) / (2 * np.pi), (pl[:, 0] + r) / (2 * r))
        vfit[cyl] = np.where(side, (pl[:, 1] + hh) / (2 * hh), (pl[:, 2] + r) / (2 * r))
        extent[cyl] = np.where(side, np.maximum(2 * np.pi * r, 2 * hh), 2 * r)
    return nl, um, vm, ufit, vfit, extent


def shade_reference(
    scene: Scene, intr: Intrinsics, c2w: np.ndarray, t: np.ndarray, pid: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Colour ``[H, W, 3]`` and camera-frame normals ``[H, W, 3]`` for the hits ``(t, pid, face)``.

    Readable NumPy version (the specification of :func:`shade`).
    """
    H, W = t.shape
    o, dirs = pixel_rays(intr, c2w)
    dirs = dirs.reshape(-1, 3)
    t = t.reshape(-1)
    pid = pid.reshape(-1).astype(np.int64)
    face = face.reshape(-1).astype(np.int64)
    rgb = np.empty((H * W, 3), np.float32)
    normal = np.zeros((H * W, 3), np.float32)
    hit = pid >= 0
    if (~hit).any():
        rgb[~hit] = sky_color(dirs[~hit])
    if hit.any():
        d = dirs[hit]
        th = t[hit]
        ph = pid[hit]
        fh = face[hit]
        p_world = o + th[:, None] * d
        R = scene.rot[ph]
        p_local = np.einsum("nji,nj->ni", R, p_world - scene.center[ph])
        nl, um, vm, ufit, vfit, extent = _surface(scene, p_local, ph, fh)
        n_world = np.einsum("nij,nj->ni", R, nl)
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        cos_v = np.einsum("ni,ni->n", n_world, dn)
        n_world = np.where((cos_v > 0)[:, None], -n_world, n_world)  # face the camera
        cos_v = np.abs(cos_v)

        mats = scene.material_arrays()
        m = scene.face_mat[ph, fh]
        tile = mats["tile"][m]
        fit = tile <= 0
        safe_tile = np.where(fit, 1.0, tile)
        u = np.where(fit, ufit, um / safe_tile + mats["offset"][m, 0])
        v = np.where(fit, vfit, vm / safe_tile + mats["offset"][m, 1])
        swap = mats["swap"][m]
        u, v = np.where(swap, v, u), np.where(swap, u, v)
        # mip level: metres per pixel on the surface over metres per texel
        f = np.sqrt(intr.fx * intr.fy)
        footprint = th / f / np.maximum(cos_v, 0.25)
        texel = np.where(fit, extent, tile) / TEX_SIZE
        level = np.log2(np.maximum(footprint / texel, 1e-12))
        albedo = sample(texture_bank(), mats["tex"][m], u, v, level, fit) * mats["tint"][m]

        light = np.full(th.shape, scene.ambient)
        if scene.sun_power > 0:
            light += scene.sun_power * np.maximum(n_world @ scene.sun_dir, 0.0)
        if scene.light_pos is not None and scene.point_power > 0:
            to_l = scene.light_pos - p_world
            dist = np.linalg.norm(to_l, axis=1)
            lam = np.maximum(np.einsum("ni,ni->n", n_world, to_l) / np.maximum(dist, 1e-9), 0.0)
            light += scene.point_power * lam / (1.0 + (dist / _FALLOFF_M) ** 2) * 2.0
        lit = light[:, None] * np.asarray(scene.light_color, np.float64)
        rgb[hit] = np.clip(albedo * lit.astype(np.float32), 0.0, 1.0)
        normal[hit] = (n_world @ np.asarray(c2w)[:3, :3]).astype(np.float32)
    return rgb.reshape(H, W, 3), normal.reshape(H, W, 3)


def shade(
    scene: Scene, intr: Intrinsics, c2w: np.ndarray, t: np.ndarray, pid: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fast path of :func:`shade_reference` (numba, one pass over the pixels)."""
    H, W = t.shape
    c2w = np.asarray(c2w, np.float64)
    mats = scene.material_arrays()
    bank = texture_bank()
    rgb = np.empty((H, W, 3), np.float32)
    normal = np.empty((H, W, 3), np.float32)
    has_point = scene.light_pos is not None and scene.point_power > 0
    shade_image(
        intr.fx, intr.fy, intr.cx, intr.cy,
        np.ascontiguousarray(c2w[:3, :3]), np.ascontiguousarray(c2w[:3, 3]),
        np.ascontiguousarray(t, np.float64), np.ascontiguousarray(pid, np.int32), np.ascontiguousarray(face, np.int32),
        scene.ptype, scene.center, scene.rot, scene.half, scene.face_mat,
        mats["tex"], mats["tile"], mats["tint"], mats["swap"], mats["offset"],
        bank.texels, bank.table, float(TEX_SIZE),
        float(scene.ambient), float(scene.sun_power), scene.sun_dir,
        float(scene.point_power) if has_point else 0.0,
        scene.light_pos if has_point else np.zeros(3), _FALLOFF_M, np.asarray(scene.light_color, np.float64),
        _SKY_HORIZON.astype(np.float64), _SKY_ZENITH.astype(np.float64),
        rgb, normal,
    )  # fmt: skip
    return rgb, normal


def _check_camera(intr: Intrinsics, c2w: np.ndarray) -> np.ndarray:
    if isinstance(intr, Scene):
        raise See3DError("render: arguments are (scene, intrinsics, c2w); got a Scene as intrinsics")
    if not isinstance(intr, Intrinsics):
        raise See3DError(f"render: intrinsics must be an Intrinsics, got {type(intr).__name__}")
    return as_pose(c2w, "render: camera pose")


def render(
    scene: Scene, intr: Intrinsics, c2w: np.ndarray, *, antialias: int = 1, reference: bool = False
) -> SynthFrame:
    """Render one view of ``scene`` from the OpenCV camera-to-world pose ``c2w``.

    ``antialias`` (odd, 1 = off): colour is the mean of ``antialias x antialias``
    sub-pixel samples; depth, normal and primitive id stay those of the ray through
    the pixel centre (the middle sub-pixel), so depth is still exact.
    ``reference=True`` uses the readable NumPy ray caster and shader instead of the
    numba kernels (same result up to float rounding, ~10x slower).
    """
    if not isinstance(scene, Scene):
        raise See3DError(f"render: scene must be a see3d.synth.Scene (from make_scene), got {type(scene).__name__}")
    c2w = _check_camera(intr, c2w)
    k = int(antialias)
    if k < 1 or k % 2 == 0 or k > 9:
        raise See3DError(f"antialias must be an odd number of samples per side (1-9), got {antialias}")
    if k > 1:
        W, H = intr.width, intr.height
        # sub-pixel grid: sample (k*u + c, k*v + c) of the fine image is the centre of pixel (u, v)
        fine = Intrinsics(intr.fx * k, intr.fy * k, (intr.cx + 0.5) * k - 0.5, (intr.cy + 0.5) * k - 0.5, W * k, H * k)
        fr = render(scene, fine, c2w, reference=reference)
        c = k // 2
        rgb = fr.rgb.reshape(H, k, W, k, 3).mean(axis=(1, 3), dtype=np.float32)
        return SynthFrame(rgb, fr.depth[c::k, c::k].copy(), fr.normal[c::k, c::k].copy(), fr.prim[c::k, c::k].copy())
    if reference:
        o, dirs = pixel_rays(intr, c2w)
        t, pid, face = cast_rays_reference(scene, o, dirs)
        rgb, normal = shade_reference(scene, intr, c2w, t, pid, face)
    else:
        t, pid, face = cast_rays(scene, intr, c2w)
        rgb, normal = shade(scene, intr, c2w, t, pid, face)
    return SynthFrame(rgb, t.astype(np.float32), normal, pid.astype(np.int32))


def render_views(
    scene: Scene,
    intr: Intrinsics,
    poses: np.ndarray,
    *,
    normals: bool = False,
    antialias: int = 1,
    workers: int = 1,
    progress=None,
) -> SynthClip:
    """Render ``scene`` from every pose ``[N, 4, 4]`` with the same intrinsics.

    ``normals``: also keep camera-frame normals; ``antialias``: see :func:`render`;
    ``workers``: frames rendered in parallel threads (the kernels release the GIL;
    the result does not depend on it); ``progress``: optional callable
    ``progress(done, total)`` called after each frame.
    """
    if not isinstance(scene, Scene):
        raise See3DError(f"render_views: scene must be a see3d.synth.Scene (from make_scene), got {type(scene).__name__}")
    poses = np.asarray(poses, np.float64)
    if poses.ndim != 3 or poses.shape[1:] not in ((4, 4), (3, 4)) or len(poses) == 0:
        raise See3DError(f"render_views: poses must be [N, 4, 4], got shape {poses.shape}")
    if int(workers) < 1:
        raise See3DError(f"render_views: workers must be at least 1, got {workers}")
    poses = np.stack([_check_camera(intr, p) for p in poses])
    N, H, W = len(poses), intr.height, intr.width
    rgb = np.empty((N, H, W, 3), np.float32)
    depth = np.empty((N, H, W), np.float32)
    nrm = np.empty((N, H, W, 3), np.float32) if normals else None

    def one(i: int) -> None:
        fr = render(scene, intr, poses[i], antialias=antialias)
        rgb[i], depth[i] = fr.rgb, fr.depth
        if nrm is not None:
            nrm[i] = fr.normal

    if int(workers) == 1 or N == 1:
        for i in range(N):
            one(i)
            if progress is not None:
                progress(i + 1, N)
    else:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        texture_bank()  # build the shared texture bank once, before the threads
        with ThreadPoolExecutor(max_workers=int(workers)) as pool:
            futures = [pool.submit(one, i) for i in range(N)]
            for done, fut in enumerate(as_completed(futures), 1):
                fut.result()
                if progress is not None:
                    progress(done, N)
    return SynthClip(rgb, depth, intr, poses, nrm, scene)
