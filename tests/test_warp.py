"""Forward warping against ground truth: analytic scenes, the synthetic renderer, real stereo."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion

from see3d.camera import Intrinsics, look_at
from see3d.camera.pose import invert
from see3d.errors import See3DError
from see3d.warp import WarpResult, intrinsics_to_K, warp_to_trajectory, warp_views

# ----------------------------------------------------------------------------- analytic scene
# World in OpenCV axes (y down). A textured back wall at z = 8 (up to 2 m above the
# camera, sky above it), a floor 1.5 m below the camera, a sphere and a pillar.
WALL_Z, WALL_TOP, FLOOR_Y = 8.0, -2.0, 1.5
SPHERE_C, SPHERE_R = np.array([0.4, 0.3, 4.0]), 0.8
BOX_LO, BOX_HI = np.array([-1.6, -1.0, 3.0]), np.array([-1.0, 1.5, 3.6])


def _texture(p: np.ndarray, k: int) -> np.ndarray:
    """Smooth colour of world points ``p [..., 3]`` on primitive ``k``."""
    f = [np.array([1.7, 1.3, 0.9]), np.array([1.1, 0.6, 1.9]), np.array([2.3, 1.9, 1.4]), np.array([1.4, 2.6, 1.2])][k]
    base = [0.55, 0.4, 0.6, 0.45][k]
    out = []
    for c in range(3):
        ph = 2 * np.pi * (p[..., 0] * f[c] + 0.7 * c) / 1.5
        out.append(base + 0.2 * np.sin(ph) * np.cos(2 * np.pi * p[..., 1] * f[(c + 1) % 3] / 1.5) + 0.1 * np.sin(2 * np.pi * p[..., 2] * f[(c + 2) % 3] / 1.5))
    return np.stack(out, -1)


def _raycast(o: np.ndarray, d: np.ndarray):
    """Rays ``o + t d`` (``d [..., 3]``): nearest hit ``t`` (inf = sky) and colour."""
    shape = d.shape[:-1]
    t_best = np.full(shape, np.inf)
    prim = np.full(shape, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # wall
        t = (WALL_Z - o[2]) / d[..., 2]
        y = o[1] + t * d[..., 1]
        hit = (t > 0) & (y >= WALL_TOP) & (y <= FLOOR_Y)
        upd = hit & (t < t_best)
        t_best[upd], prim[upd] = t[upd], 0
        # floor
        t = (FLOOR_Y - o[1]) / d[..., 1]
        z = o[2] + t * d[..., 2]
        hit = (t > 0) & (z <= WALL_Z)
        upd = hit & (t < t_best)
        t_best[upd], prim[upd] = t[upd], 1
        # sphere
        oc = o - SPHERE_C
        a = (d * d).sum(-1)
        b = 2 * (d @ oc)
        c = oc @ oc - SPHERE_R**2
        disc = b * b - 4 * a * c
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        hit = (disc > 0) & (t > 0)
        upd = hit & (t < t_best)
        t_best[upd], prim[upd] = t[upd], 2
        # pillar (slab test)
        t0 = (BOX_LO - o) / d
        t1 = (BOX_HI - o) / d
        tn = np.minimum(t0, t1).max(-1)
        tf = np.maximum(t0, t1).min(-1)
        hit = (tn <= tf) & (tn > 0)
        upd = hit & (tn < t_best)
        t_best[upd], prim[upd] = tn[upd], 3
    p = o + t_best[..., None] * d
    col = np.zeros(shape + (3,))
    for k in range(4):
        sel = prim == k
        col[sel] = _texture(p[sel], k)
    sky = prim < 0
    dn = d[sky] / np.linalg.norm(d[sky], axis=-1, keepdims=True)
    col[sky] = np.stack([0.5 + 0.3 * dn[:, 0], 0.6 - 0.3 * dn[:, 1], 0.8 + 0.1 * dn[:, 0]], -1)
    return t_best, col


def render(intr: Intrinsics, c2w: np.ndarray, ss: int = 3):
    """Ray-cast ``rgb [H, W, 3]`` (``ss x ss`` supersampled) and exact centre depth (camera z, inf = sky)."""
    R, o = c2w[:3, :3], c2w[:3, 3]

    def rays(off):
        u, v = intr.pixel_grid()
        u, v = u + off[0], v + off[1]
        dc = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1)
        return dc @ R.T  # camera z component of each ray is 1, so t = camera depth

    depth, _ = _raycast(o, rays((0.0, 0.0)))
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    rgb = np.mean([_raycast(o, rays((dx, dy)))[1] for dy in offs for dx in offs], axis=0)
    return rgb.astype(np.float32), depth.astype(np.float32)


INTR = Intrinsics(160.0, 160.0, 95.5, 71.5, 192, 144)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def true_visible(depth_t, K_t, c2w_t, depth_s, K_s, c2w_s, rel_tol: float = 0.02) -> np.ndarray:
    """Target pixels whose true 3D point is visible in the source (the complement of the disocclusion).

    Unproject the target depth, project into the source and compare with the source depth around
    that spot: visible iff inside the source image and not behind the source surface, i.e. at least
    one of the 2 x 2 source pixels around it is not nearer than the point (so steep but visible
    surfaces such as a floor at a grazing angle count as visible). Sky (inf) is visible iff its
    direction lands next to source sky.
    """
    H, W = depth_t.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    sky = np.isposinf(depth_t)
    d = np.where(sky, 1.0, depth_t)
    pc = np.stack([(u - K_t[0, 2]) / K_t[0, 0] * d, (v - K_t[1, 2]) / K_t[1, 1] * d, d], -1)
    T = invert(c2w_s) @ c2w_t
    ps = pc @ T[:3, :3].T + np.where(sky[..., None], 0.0, T[:3, 3])
    with np.errstate(divide="ignore", invalid="ignore"):
        us = K_s[0, 0] * ps[..., 0] / ps[..., 2] + K_s[0, 2]
        vs = K_s[1, 1] * ps[..., 1] / ps[..., 2] + K_s[1, 2]
    Hs, Ws = depth_s.shape
    inside = (ps[..., 2] > 0) & (us > -0.5) & (us < Ws - 0.5) & (vs > -0.5) & (vs < Hs - 0.5)
    u0 = np.floor(np.nan_to_num(us)).astype(int)
    v0 = np.floor(np.nan_to_num(vs)).astype(int)
    vis_surface = np.zeros(depth_t.shape, bool)
    vis_sky = np.zeros(depth_t.shape, bool)
    for dv in (0, 1):
        for du in (0, 1):
            ds = depth_s[np.clip(v0 + dv, 0, Hs - 1), np.clip(u0 + du, 0, Ws - 1)].astype(np.float64)
            vis_surface |= ~sky & np.isfinite(ds) & (ds > 0) & (ds >= ps[..., 2] * (1 - rel_tol))
            vis_sky |= sky & np.isposinf(ds)
    return inside & (vis_surface | vis_sky) & (np.isfinite(depth_t) | sky) & ((depth_t > 0) | sky)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def naive_nearest_splat(rgb, depth, K, c2w_s, c2w_t, W, H):
    """The textbook warp: each source pixel to its nearest target pixel, hard z-buffer."""
    v, u = np.mgrid[0 : depth.shape[0], 0 : depth.shape[1]].astype(np.float64)
    pc = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)
    T = invert(c2w_t) @ c2w_s
    pt = pc @ T[:3, :3].T + T[:3, 3]
    ut = np.round(K[0, 0] * pt[..., 0] / pt[..., 2] + K[0, 2]).astype(int)
    vt = np.round(K[1, 1] * pt[..., 1] / pt[..., 2] + K[1, 2]).astype(int)
    ok = (ut >= 0) & (ut < W) & (vt >= 0) & (vt < H)
    zb = np.full(H * W, np.inf)
    np.minimum.at(zb, vt[ok] * W + ut[ok], pt[..., 2][ok])
    return np.isfinite(zb).reshape(H, W)


@pytest.fixture(scope="module")
def scene_pair():
    """Source at the origin; target moved 0.7 m right and turned towards the sphere."""
    c2w_s = np.eye(4)
    c2w_t = look_at([0.7, 0.0, 0.0], [0.2, 0.2, 4.5])
    rgb_s, d_s = render(INTR, c2w_s)
    rgb_t, d_t = render(INTR, c2w_t)
    return rgb_s, d_s, c2w_s, rgb_t, d_t, c2w_t


# ----------------------------------------------------------------------------- basic behaviour
@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("splat", ["bilinear", "nearest"])
def test_identity_warp_reproduces_source(scene_pair, backend, splat):
    rgb, depth = scene_pair[0], scene_pair[1].copy()
    depth[10:20, 30:60] = 0.0  # invalid: not splatted
    depth[20:25, 30:60] = np.nan
    K = INTR.K
    res = warp_views(rgb, depth, K, np.eye(4), K, np.eye(4), INTR.width, INTR.height, backend=backend, splat=splat)
    assert isinstance(res, WarpResult) and res.rgb.shape == (1, 144, 192, 3)
    valid = (depth > 0) | np.isposinf(depth)
    np.testing.assert_array_equal(res.mask[0], valid)
    np.testing.assert_allclose(res.rgb[0][valid], rgb[valid], atol=1e-6)
    fin = np.isfinite(depth) & (depth > 0)
    np.testing.assert_allclose(res.depth[0][fin], depth[fin], rtol=1e-6)
    assert np.all(np.isposinf(res.depth[0][np.isposinf(depth)]))  # sky reports inf
    assert np.all(res.depth[0][~valid] == 0) and np.all(res.rgb[0][~valid] == 0)


def test_warp_matches_render_and_true_disocclusion(scene_pair):
    rgb_s, d_s, c2w_s, rgb_t, d_t, c2w_t = scene_pair
    K = INTR.K
    res = warp_views(rgb_s, d_s, K, c2w_s, K, c2w_t, INTR.width, INTR.height)
    mask = res.mask[0]
    vis = true_visible(d_t, K, c2w_t, d_s, K, c2w_s)
    holes_true = ~vis
    assert 0.05 < holes_true.mean() < 0.5  # the view change opens real holes
    assert iou(~mask, holes_true) >= 0.9
    assert psnr(res.rgb[0][mask], rgb_t[mask]) >= 30.0
    fin = mask & np.isfinite(d_t)
    rel = np.abs(res.depth[0][fin] - d_t[fin]) / d_t[fin]
    assert np.median(rel) < 2e-3
    # sky lands on sky (away from sub-pixel silhouette edges)
    sky_core = binary_erosion(np.isposinf(d_t), np.ones((3, 3), bool))
    assert sky_core.sum() > 500
    assert np.all(np.isposinf(res.depth[0][mask & sky_core]))


@pytest.mark.parametrize("slant_deg", [0.0, 60.0])
def test_magnified_plane_has_no_cracks(slant_deg):
    """A textured plane seen 2x closer (and at a slant) is fully covered; naive splatting cracks."""
    intr = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    a = np.radians(slant_deg)
    n = np.array([np.sin(a), 0.0, -np.cos(a)])  # plane through (0, 0, 4) with normal n
    p0 = np.array([0.0, 0.0, 4.0])

    def plane_render(c2w):
        u, v = intr.pixel_grid()
        dc = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1) @ c2w[:3, :3].T
        t = ((p0 - c2w[:3, 3]) @ n) / (dc @ n)
        p = c2w[:3, 3] + t[..., None] * dc
        col = np.stack([0.5 + 0.3 * np.sin(3 * p[..., 0] + c) * np.cos(2.5 * p[..., 1]) for c in range(3)], -1)
        return col.astype(np.float32), t.astype(np.float32)

    c2w_s = np.eye(4)
    if slant_deg:
        # look at the slanted plane from far off to its side: the source sees it foreshortened
        c2w_s = look_at(p0 + 4.0 * np.array([np.sin(a + np.radians(55)), 0, -np.cos(a + np.radians(55))]), p0)
    c2w_t = look_at(p0 + 2.0 * (-n), p0)  # frontal, 2 m away: at least 2x magnification
    rgb_s, d_s = plane_render(c2w_s)
    rgb_t, d_t = plane_render(c2w_t)
    K = intr.K
    res = warp_views(rgb_s, d_s, K, c2w_s, K, c2w_t, intr.width, intr.height)
    vis = true_visible(d_t, K, c2w_t, d_s, K, c2w_s)
    inner = vis.copy()
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    assert inner.mean() > 0.3
    assert res.mask[0][inner].all()  # no cracks anywhere the plane is visible
    assert psnr(res.rgb[0][inner], rgb_t[inner]) >= 35.0
    # the textbook nearest-pixel splat does crack here (so this test can fail)
    naive = naive_nearest_splat(rgb_s, d_s, K, c2w_s, c2w_t, intr.width, intr.height)
    assert (~naive[inner]).mean() > 0.2


def test_numba_matches_torch_reference():
    """Several sources with sky and invalid pixels, several targets, both splat modes."""
    intr = Intrinsics(60.0, 60.0, 39.5, 29.5, 80, 60)
    c2w_src = np.stack([np.eye(4), look_at([0.6, -0.1, 0.2], [0.3, 0.2, 4.0])])
    rgbs, depths = zip(*(render(intr, c, ss=1) for c in c2w_src))
    rgb, depth = np.stack(rgbs), np.stack(depths)
    depth[0, 5:9, 10:30] = 0.0
    c2w_tgt = np.stack([look_at([x, -0.2, z], [0.0, 0.0, 5.0]) for x, z in [(-0.4, 0.0), (0.3, 1.0), (0.9, -0.5)]])
    Ks = np.repeat(intr.K[None], 2, 0)
    Kt = np.repeat(np.array([[50.0, 0, 35.5], [0, 55.0, 26.0], [0, 0, 1]])[None], 3, 0)
    for splat in ("bilinear", "nearest"):
        a = warp_views(rgb, depth, Ks, c2w_src, Kt, c2w_tgt, 72, 54, backend="numba", splat=splat)
        b = warp_views(rgb, depth, Ks, c2w_src, Kt, c2w_tgt, 72, 54, backend="torch", splat=splat)
        assert a.mask.mean() > 0.5
        assert (a.mask != b.mask).mean() < 1e-3
        both = a.mask & b.mask
        np.testing.assert_allclose(a.rgb[both], b.rgb[both], atol=1e-4)
        fin = both & np.isfinite(a.depth)
        np.testing.assert_allclose(a.depth[fin], b.depth[fin], rtol=1e-4)
        np.testing.assert_array_equal(np.isposinf(a.depth), np.isposinf(b.depth))


def test_nearest_surface_wins_across_sources():
    """Two sources see a near and a far plane at the same target pixels: the near one wins."""
    intr = Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    K = intr.K
    rgb = np.stack([np.full((48, 64, 3), 0.2, np.float32), np.full((48, 64, 3), 0.8, np.float32)])
    depth = np.stack([np.full((48, 64), 6.0, np.float32), np.full((48, 64), 3.0, np.float32)])
    for order in ([0, 1], [1, 0]):
        res = warp_views(rgb[order], depth[order], np.stack([K, K]), np.stack([np.eye(4)] * 2), K, np.eye(4), 64, 48)
        assert res.mask.all()
        np.testing.assert_allclose(res.depth[0], 3.0, rtol=1e-6)
        np.testing.assert_allclose(res.rgb[0], 0.8, atol=1e-6)


def test_sky_moves_by_rotation_only_and_background_depth():
    intr = Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    K = intr.K
    u, v = intr.pixel_grid()
    rgb = np.stack([0.5 + 0.4 * np.sin(u / 5), 0.5 + 0.4 * np.cos(v / 4), 0.5 + 0.2 * np.sin((u + v) / 7)], -1).astype(np.float32)
    sky = np.full((48, 64), np.inf, np.float32)
    shift = np.eye(4)
    shift[:3, 3] = [2.0, 0.0, 0.0]  # pure translation: sky does not move at all
    res = warp_views(rgb, sky, K, np.eye(4), K, shift, 64, 48)
    assert res.mask.all() and np.isposinf(res.depth).all()
    np.testing.assert_allclose(res.rgb[0], rgb, atol=1e-6)
    # with a background depth the backdrop gets parallax: 2 m at 10 m and f = 50 -> 10 px to the left
    res = warp_views(rgb, sky, K, np.eye(4), K, shift, 64, 48, background_depth=10.0)
    np.testing.assert_allclose(res.depth[0][res.mask[0]], 10.0, rtol=1e-5)
    assert not res.mask[0][:, 54:].any() and res.mask[0][:, :54].all()
    np.testing.assert_allclose(res.rgb[0][:, :54], rgb[:, 10:], atol=1e-5)
    # a sky pixel never covers a surface, wherever it lands
    depth = np.full((48, 64), 5.0, np.float32)
    depth[:, 40:] = np.inf
    shift[:3, 3] = [-1.0, 0.0, 0.0]  # sky stays put, the surface moves right by 10 px over it
    res = warp_views(rgb, depth, K, np.eye(4), K, shift, 64, 48)
    assert np.isfinite(res.depth[0][:, 41:49]).all()
    np.testing.assert_allclose(res.depth[0][:, 41:49], 5.0, rtol=1e-6)


def test_torch_in_torch_out_and_trajectory_helper(scene_pair):
    rgb, depth = scene_pair[0], scene_pair[1]
    poses = np.stack([np.eye(4), look_at([0.3, 0.0, 0.0], [0.0, 0.0, 5.0])])
    res_np = warp_to_trajectory(rgb, depth, INTR, None, poses)
    res_t = warp_to_trajectory(torch.from_numpy(rgb), torch.from_numpy(depth), INTR, np.eye(4), torch.from_numpy(poses))
    assert isinstance(res_t.rgb, torch.Tensor) and res_t.mask.dtype == torch.bool
    assert res_np.rgb.shape == (2, 144, 192, 3) and len(res_np) == 2
    np.testing.assert_allclose(res_t.rgb.numpy(), res_np.rgb, atol=1e-6)
    np.testing.assert_allclose(res_np.rgb[0], rgb, atol=1e-6)  # first pose is the source camera
    np.testing.assert_array_equal(intrinsics_to_K(INTR), INTR.K)
    # uint8 colours are read as /255 and any channel count works
    res8 = warp_views((rgb * 255).round().astype(np.uint8), depth, INTR.K, np.eye(4), INTR.K, np.eye(4), 192, 144)
    np.testing.assert_allclose(res8.rgb[0], np.round(rgb * 255) / 255, atol=1e-6)
    res5 = warp_views(np.concatenate([rgb, rgb[..., :2]], -1), depth, INTR.K, np.eye(4), INTR.K, poses, 192, 144)
    np.testing.assert_allclose(res5.rgb[..., 3:], res_np.rgb[..., :2], atol=1e-6)


def test_bad_inputs_raise():
    rgb = np.zeros((10, 12, 3), np.float32)
    depth = np.ones((10, 12), np.float32)
    K = Intrinsics(10.0, 10.0, 5.5, 4.5, 12, 10).K
    I = np.eye(4)
    with pytest.raises(See3DError, match="depth shape"):
        warp_views(rgb, depth[:9], K, I, K, I, 12, 10)
    badK = K.copy()
    badK[0, 0] = 0.0
    with pytest.raises(See3DError, match="focal"):
        warp_views(rgb, depth, badK, I, K, I, 12, 10)
    badK[0, 0] = -5.0
    with pytest.raises(See3DError, match="focal"):
        warp_views(rgb, depth, K, I, badK, I, 12, 10)
    nanpose = I.copy()
    nanpose[0, 3] = np.nan
    with pytest.raises(See3DError, match="NaN"):
        warp_views(rgb, depth, K, I, K, nanpose, 12, 10)
    with pytest.raises(See3DError, match="NaN"):
        warp_views(rgb, depth, K, nanpose, K, I, 12, 10)
    with pytest.raises(See3DError, match="c2w_tgt"):
        warp_views(rgb, depth, K, I, np.stack([K, K]), np.stack([I, I, I]), 12, 10)
    with pytest.raises(See3DError, match="source images"):
        warp_views(np.stack([rgb, rgb]), np.stack([depth, depth]), K, I, K, I, 12, 10)
    with pytest.raises(See3DError, match="rgb must have shape"):
        warp_views(rgb[..., 0], depth, K, I, K, I, 12, 10)
    with pytest.raises(See3DError, match="target size"):
        warp_views(rgb, depth, K, I, K, I, 0, 10)
    with pytest.raises(See3DError, match="backend"):
        warp_views(rgb, depth, K, I, K, I, 12, 10, backend="cuda")
    with pytest.raises(See3DError, match="splat"):
        warp_views(rgb, depth, K, I, K, I, 12, 10, splat="gauss")
    with pytest.raises(See3DError, match="background_depth"):
        warp_views(rgb, depth, K, I, K, I, 12, 10, background_depth=0.0)
    scaled = I.copy()
    scaled[:3, :3] *= 2
    with pytest.raises(See3DError, match="rotation"):
        warp_views(rgb, depth, K, scaled, K, I, 12, 10)


# ----------------------------------------------------------------------------- see3d.synth scenes
@pytest.fixture(scope="module", params=[("room", 0), ("objects", 1), ("street", 0)], ids=lambda p: f"{p[0]}{p[1]}")
def synth_clip(request):
    from see3d.synth import render_clip

    kind, seed = request.param
    return render_clip(seed, frames=5, size=128, kind=kind, antialias=3)


def test_synth_warp_matches_render_and_disocclusion(synth_clip):
    """Frame 0 -> frame 4 with the true depth: covered pixels match the render, holes match the truth."""
    c = synth_clip
    K = c.intrinsics.K
    i, j = 0, 4
    res = warp_views(c.rgb[i], c.depth[i], K, c.poses[i], K, c.poses[j], c.intrinsics.width, c.intrinsics.height)
    mask = res.mask[0]
    holes_true = ~true_visible(c.depth[j], K, c.poses[j], c.depth[i], K, c.poses[i])
    assert holes_true.mean() > 0.05
    assert psnr(res.rgb[0][mask], c.rgb[j][mask]) >= 30.0
    assert iou(~mask, holes_true) >= 0.9


def test_synth_two_sources_fill_more(synth_clip):
    """Frames 0 and 4 splat into one z-buffer for frame 2: fewer holes than either alone, same quality."""
    c = synth_clip
    K = c.intrinsics.K
    w, h = c.intrinsics.width, c.intrinsics.height
    both = warp_views(c.rgb[[0, 4]], c.depth[[0, 4]], K, c.poses[[0, 4]], K, c.poses[2], w, h)
    singles = [warp_views(c.rgb[k], c.depth[k], K, c.poses[k], K, c.poses[2], w, h).mask[0] for k in (0, 4)]
    m = both.mask[0]
    np.testing.assert_array_equal(m, singles[0] | singles[1])  # coverage is the union
    assert m.mean() > max(s.mean() for s in singles)
    assert psnr(both.rgb[0][m], c.rgb[2][m]) >= 30.0


# ----------------------------------------------------------------------------- real stereo
def test_middlebury_left_to_right(motorcycle):
    m = motorcycle
    left = m.left.astype(np.float32) / 255
    right = m.right.astype(np.float32) / 255
    res = warp_views(left, m.depth_left, m.intr_left.K, m.c2w_left, m.intr_right.K, m.c2w_right, m.intr_right.width, m.intr_right.height)
    mask = res.mask[0]
    uncovered = 1.0 - mask.mean()
    assert 0.12 <= uncovered <= 0.22
    assert psnr(res.rgb[0][mask], right[mask]) >= 26.0
    # the right camera sees nothing of the left view beyond its right edge: a hole strip there
    assert (~mask[:, -20:]).mean() > 0.9


def test_reference_in_float32_agrees(motorcycle):
    """The PyTorch reference at GPU precision (float32) matches the float64 numba kernel."""
    from see3d.warp.api import _prepare
    from see3d.warp.kernel import warp_numba
    from see3d.warp.reference import warp_reference

    m = motorcycle
    r, d, Ks, Kt, P, w, h = _prepare(m.left, m.depth_left, m.intr_left.K, m.c2w_left, m.intr_right.K, m.c2w_right, 741, 500, None)
    a_rgb, a_depth, a_mask = warp_numba(r, d, Ks, Kt, P, w, h)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    b_rgb, b_depth, b_mask = (x.numpy() for x in warp_reference(torch.as_tensor(r), f32(d), f32(Ks), f32(Kt), f32(P), w, h))
    assert (a_mask != b_mask).mean() < 1e-4
    both = a_mask & b_mask
    assert np.abs(a_rgb - b_rgb)[both].max() < 1e-3
    # float32 rounding may pick the neighbouring front sample at a few pixels: same surface,
    # interpolated from the next source cell
    rel = np.abs(a_depth[both] - b_depth[both]) / b_depth[both]
    assert np.quantile(rel, 0.9999) < 1e-5 and rel.max() < 2e-3


@pytest.mark.parametrize("zoom", [1.0, 2.5])
def test_numba_matches_reference_small_and_large_footprints(zoom):
    """The kernel's fast paths (boxes up to 2 x 2, tents up to 3 x 3 pixels, next to the
    image border) and its general loops (magnified footprints) agree with the reference."""
    intr = Intrinsics(60.0, 60.0, 39.5, 29.5, 80, 60)
    rgb, depth = render(intr, np.eye(4), ss=1)
    c2w_t = look_at([0.25, -0.1, 0.3], [0.0, 0.1, 5.0])
    Kt = intr.K.copy()
    Kt[:2, :2] *= zoom  # zoom > 1.5 gives footprints wider than the fast paths take
    a = warp_views(rgb, depth, intr.K, np.eye(4), Kt, c2w_t, 80, 60, backend="numba")
    b = warp_views(rgb, depth, intr.K, np.eye(4), Kt, c2w_t, 80, 60, backend="torch")
    assert a.mask.mean() > 0.7
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.rgb[a.mask], b.rgb[a.mask], atol=1e-4)
    fin = a.mask & np.isfinite(b.depth)
    np.testing.assert_allclose(a.depth[fin], b.depth[fin], rtol=1e-5)
    np.testing.assert_array_equal(np.isposinf(a.depth), np.isposinf(b.depth))


def test_compiled_kernel_leaves_the_llvm_options_alone(monkeypatch):
    """The raised vectoriser limits are process-global LLVM options: they are set only while the
    kernels may compile, not on every call once both entry points have their signature."""
    from see3d.warp import kernel

    intr = Intrinsics(40.0, 40.0, 15.5, 11.5, 32, 24)
    rgb, depth = render(intr, np.eye(4), ss=1)
    args = (rgb[None], depth[None], intr.K[None], np.eye(4)[None], intr.K[None], np.eye(4)[None], 32, 24)
    first = warp_views(*args, backend="numba")  # compiles or loads the kernels if needed
    entered = []

    @contextlib.contextmanager
    def spy():
        entered.append(True)
        yield

    monkeypatch.setattr(kernel, "vectoriser_limits", spy)
    again = warp_views(*args, backend="numba")
    assert not entered
    np.testing.assert_array_equal(first.rgb, again.rgb)
    assert first.mask.all()  # the identity warp covers everything


def test_compiled_warp_keeps_torch_thread_count():
    """Running the numba warp (which asks numba for its thread count) leaves PyTorch's intra-op
    threads as OMP_NUM_THREADS set them: numba's OpenMP layer used to reset the shared runtime's
    count to every CPU."""
    import os
    import subprocess
    import sys

    code = (
        "import torch, numpy as np\n"
        "from see3d.camera import Intrinsics\n"
        "from see3d.warp import warp_views\n"
        "before = torch.get_num_threads()\n"
        "intr = Intrinsics(40.0, 40.0, 15.5, 11.5, 32, 24)\n"
        "rgb, depth = np.zeros((24, 32, 3), np.float32), np.ones((24, 32), np.float32)\n"
        "warp_views(rgb[None], depth[None], intr.K[None], np.eye(4)[None], intr.K[None], np.eye(4)[None], 32, 24, backend='numba')\n"
        "print(before, torch.get_num_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    env.pop("NUMBA_THREADING_LAYER", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1"]
