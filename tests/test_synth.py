"""Procedural scenes: exact depth, multi-view consistency, metric sizes, free-space trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from see3d.camera import Intrinsics, look_at, project_points, unproject_depth
from see3d.errors import See3DError
from see3d.synth import (
    SCENE_KINDS,
    TRAJECTORY_KINDS,
    UP,
    Material,
    Scene,
    make_scene,
    render,
    render_clip,
    render_views,
    rotation_angle_deg,
    sample_trajectory,
)
from see3d.synth.raycast import cast_rays, cast_rays_reference, pixel_rays
from see3d.synth.render import shade, shade_reference
from see3d.synth.scene import BOX, CYLINDER, ROOM, SPHERE
from see3d.synth.textures import PHOTOS, texture_bank


def _hand_scene() -> Scene:
    """A 6 x 3 x 8 m room with a sphere, a box and a rotated cylinder at known places."""
    mats = [Material("checker", 1.0), Material("astronaut", 0.0), Material("brick", 0.8, swap=True)]
    c = np.sqrt(0.5)
    rot_cyl = np.array([[c, -c, 0.0], [c, c, 0.0], [0.0, 0.0, 1.0]])
    return Scene(
        kind="room",
        seed=0,
        ptype=np.array([ROOM, SPHERE, BOX, CYLINDER], np.int32),
        center=np.array([[0.0, -1.5, 0.0], [0.5, -1.0, 2.0], [-1.5, -0.5, 2.5], [1.5, -1.0, 1.0]]),
        rot=np.stack([np.eye(3), np.eye(3), np.eye(3), rot_cyl]),
        half=np.array([[3.0, 1.5, 4.0], [0.4, 0.4, 0.4], [0.5, 0.5, 0.5], [0.2, 0.3, 0.2]]),
        face_mat=np.array([[2] * 6, [0] * 6, [1] * 6, [0] * 6], np.int32),
        labels=["room", "sphere", "box", "cylinder"],
        materials=mats,
        bounds=np.array([[-3.0, -3.0, -4.0], [3.0, 0.0, 4.0]]),
        content=np.array([[0.5, -1.0, 2.0]]),
        light_pos=np.array([0.0, -2.7, 0.0]),
        sun_dir=np.array([0.3, -1.0, 0.2]),
        point_power=0.7,
        sun_power=0.3,
    )


# ------------------------------------------------------------------ exact geometry
def test_depth_matches_analytic_scene():
    scene = _hand_scene()
    intr = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    c2w = look_at([0.0, -1.0, -3.0], [0.0, -1.0, 0.0], UP)  # 3 m from the far wall at z = 4... looking +z
    fr = render(scene, intr, c2w)
    o, d = pixel_rays(intr, c2w)
    # sphere pixels: the analytic nearest root along each ray
    sph = fr.prim == 1
    assert sph.sum() > 200
    oc = o - scene.center[1]
    a = np.einsum("hwi,hwi->hw", d, d)
    b = np.einsum("hwi,i->hw", d, oc)
    cc = oc @ oc - 0.4**2
    t_sph = (-b - np.sqrt(np.maximum(b * b - a * cc, 0.0))) / a
    np.testing.assert_allclose(fr.depth[sph], t_sph[sph], rtol=1e-6)
    # far wall z = 4 is 7 m ahead of the camera: camera-z 7 wherever it is seen
    far = (fr.prim == 0) & (np.abs(fr.normal[..., 2] + 1.0) < 1e-6)
    assert far.sum() > 1000
    np.testing.assert_allclose(fr.depth[far], 7.0, rtol=1e-6)
    # floor (y = 0) seen 1 m below the camera: depth = 1 * fy / (v - cy)
    floor = (fr.prim == 0) & (np.abs(fr.normal[..., 1] + 1.0) < 1e-6)
    v = np.nonzero(floor)[0].astype(np.float64)
    np.testing.assert_allclose(fr.depth[floor], 1.0 * intr.fy / (v - intr.cy), rtol=1e-6)
    # box front face at z = 2 -> camera-z 5
    box = fr.prim == 2
    front = box & (np.abs(fr.normal[..., 2] + 1.0) < 1e-6)
    assert front.sum() > 100
    np.testing.assert_allclose(fr.depth[front], 5.0, rtol=1e-6)
    # a closed room: every ray hits something
    assert np.isfinite(fr.depth).all()


def test_normals_unit_facing_camera_and_match_depth_gradient():
    scene = _hand_scene()
    intr = Intrinsics(90.0, 90.0, 47.5, 35.5, 96, 72)
    c2w = look_at([0.3, -1.4, -2.5], [0.5, -1.0, 2.0], UP)
    fr = render(scene, intr, c2w)
    n = fr.normal
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
    u, v = intr.pixel_grid()
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1)
    assert (np.einsum("hwi,hwi->hw", n, rays) < 0).all()
    # on planar patches, the cross product of neighbouring 3D points gives the normal
    P = unproject_depth(fr.depth, intr)
    gx = P[1:-1, 2:] - P[1:-1, :-2]
    gy = P[2:, 1:-1] - P[:-2, 1:-1]
    nn = np.cross(gx, gy)
    nn /= np.linalg.norm(nn, axis=-1, keepdims=True)
    nn *= -np.sign(np.einsum("hwi,hwi->hw", nn, rays[1:-1, 1:-1]))[..., None]
    c = n[1:-1, 1:-1]
    same = np.ones(c.shape[:2], bool)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        nb = n[1 + dy : n.shape[0] - 1 + dy, 1 + dx : n.shape[1] - 1 + dx]
        same &= np.all(nb == c, axis=-1)
    planar = same & (fr.prim[1:-1, 1:-1] != 1)
    assert planar.mean() > 0.5
    cosang = np.einsum("ni,ni->n", nn[planar], c[planar])
    assert np.degrees(np.arccos(np.clip(cosang, -1, 1))).max() < 0.5


def test_clearance_is_distance_to_nearest_surface():
    scene = _hand_scene()  # room x in [-3, 3], y in [-3, 0], z in [-4, 4]; sphere r 0.4 at (0.5, -1, 2)
    pts = np.array([
        [0.5, -1.0, 1.0],   # 0.6 in front of the sphere
        [-1.5, -1.5, 2.5],  # 0.5 above the box top (box y in [-1, 0])
        [-2.0, -1.5, -3.5], # 0.5 from the back wall z = -4
        [0.5, -1.0, 2.0],   # sphere centre: inside, -0.4
        [1.5, -1.0, 1.0],   # cylinder centre (rotated 45 deg about z): inside, -0.2
    ])  # fmt: skip
    np.testing.assert_allclose(scene.clearance(pts), [0.6, 0.5, 0.5, -0.4, -0.2], atol=1e-12)
    assert scene.is_free(pts, 0.45).tolist() == [True, True, True, False, False]
    # outside the room counts as inside a wall
    assert scene.clearance(np.array([0.0, -1.0, 5.0])) == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_fast_path_matches_reference(kind):
    scene = make_scene(11, kind)
    poses = sample_trajectory(scene, np.random.default_rng(2), 3)
    intr = Intrinsics(70.0, 66.0, 40.2, 29.7, 80, 60)
    for p in poses[[0, -1]]:
        t, pid, face = cast_rays(scene, intr, p)
        o, d = pixel_rays(intr, p)
        t_ref, pid_ref, face_ref = cast_rays_reference(scene, o, d)
        np.testing.assert_array_equal(pid, pid_ref)
        np.testing.assert_array_equal(face, face_ref)
        np.testing.assert_array_equal(np.isfinite(t), np.isfinite(t_ref))
        fin = np.isfinite(t)
        np.testing.assert_allclose(t[fin], t_ref[fin], rtol=1e-12)
        rgb, nrm = shade(scene, intr, p, t, pid, face)
        rgb_ref, nrm_ref = shade_reference(scene, intr, p, t, pid, face)
        np.testing.assert_allclose(rgb, rgb_ref, atol=1e-5)
        np.testing.assert_allclose(nrm, nrm_ref, atol=1e-6)


def _inv_depth_bilinear(inv, nrm, prim, uv):
    """Bilinear inverse depth at ``uv``; ``ok`` where the 2x2 neighbourhood shows one planar face."""
    H, W = inv.shape
    x, y = uv[:, 0], uv[:, 1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = (x0 >= 0) & (y0 >= 0) & (x0 < W - 1) & (y0 < H - 1)
    x0c, y0c = np.clip(x0, 0, W - 2), np.clip(y0, 0, H - 2)
    n00, p00 = nrm[y0c, x0c], prim[y0c, x0c]
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        ok &= np.all(nrm[y0c + dy, x0c + dx] == n00, axis=-1) & (prim[y0c + dy, x0c + dx] == p00)
    fx, fy = x - x0c, y - y0c
    val = (1 - fy) * ((1 - fx) * inv[y0c, x0c] + fx * inv[y0c, x0c + 1]) + fy * (
        (1 - fx) * inv[y0c + 1, x0c] + fx * inv[y0c + 1, x0c + 1]
    )
    return val, ok, p00, n00


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_multiview_depth_consistency(kind):
    """Unproject view i, project into view j: the camera-z agrees with view j's depth on co-visible pixels."""
    clip = render_clip(5, frames=6, size=(72, 96), kind=kind)
    intr = clip.intrinsics
    frames = [render(clip.scene, intr, p) for p in clip.poses]
    for k, fr in enumerate(frames):  # render_views and render agree
        np.testing.assert_array_equal(fr.depth, clip.depth[k])
    checked = 0
    for i, j in ((0, 5), (5, 0), (2, 3)):
        fi, fj = frames[i], frames[j]
        fin = np.isfinite(fi.depth)
        pts = unproject_depth(np.where(fin, fi.depth, 1.0), intr, clip.poses[i])[fin]
        uv, z = project_points(pts, intr, clip.poses[j])
        # on one planar face in view j 1/z is affine in the image, so bilinear 1/depth is exact there
        pred, ok, prim_j, n_j = _inv_depth_bilinear(1.0 / fj.depth.astype(np.float64), fj.normal, fj.prim, uv)
        # co-visible: the patch in view j shows the same face of the same primitive as the source pixel
        n_i_world = fi.normal[fin] @ clip.poses[i][:3, :3].T
        n_j_world = n_j @ clip.poses[j][:3, :3].T
        same_face = np.einsum("ni,ni->n", n_i_world, n_j_world) > 1 - 1e-5
        ok &= (z > 0) & (prim_j == fi.prim[fin]) & same_face & (prim_j >= 0)
        assert ok.mean() > 0.2, f"too few co-visible planar pixels {ok.mean():.2f}"
        rel = np.abs(1.0 / pred[ok] - z[ok]) / z[ok]
        assert rel.max() < 1e-4, f"{kind} {i}->{j}: max relative error {rel.max():.2e}"
        checked += ok.sum()
    assert checked > 2000


def test_reprojected_depth_matches_rays_of_other_view_on_all_surfaces():
    """Curved surfaces too: the ray from camera j through the projection of view i's point meets it at z."""
    clip = render_clip(2, frames=8, size=(48, 64), kind="objects", trajectory="orbit")
    intr, scene = clip.intrinsics, clip.scene
    i, j = 0, 7
    fi = render(scene, intr, clip.poses[i])
    fin = np.isfinite(fi.depth)
    pts = unproject_depth(np.where(fin, fi.depth, 1.0), intr, clip.poses[i])[fin]
    uv, z = project_points(pts, intr, clip.poses[j])
    inside = (z > 0) & (uv[:, 0] > -0.5) & (uv[:, 1] > -0.5) & (uv[:, 0] < intr.width - 0.5) & (uv[:, 1] < intr.height - 0.5)
    Rj, oj = clip.poses[j][:3, :3], clip.poses[j][:3, 3]
    cam = np.stack([(uv[:, 0] - intr.cx) / intr.fx, (uv[:, 1] - intr.cy) / intr.fy, np.ones(len(uv))], -1)
    t, pid, face = cast_rays_reference(scene, oj, cam @ Rj.T)
    _, pid_i, face_i = cast_rays(scene, intr, clip.poses[i])
    n_world = fi.normal[fin] @ clip.poses[i][:3, :3].T
    facing_j = np.einsum("ni,ni->n", n_world, pts - oj) < 0  # the surface faces camera j there
    # co-visible: camera j's ray first meets the same face of the same (convex) primitive, facing it
    covis = inside & facing_j & (pid == pid_i[fin]) & (face == face_i[fin])
    curved = np.isin(pid_i[fin], np.nonzero(np.isin(scene.ptype, [SPHERE, CYLINDER]))[0])
    assert covis.mean() > 0.3 and (covis & curved).sum() > 20
    rel = np.abs(t[covis] - z[covis]) / z[covis]
    assert rel.max() < 1e-4 and np.median(rel) < 1e-6


def test_focal_zoom_is_centre_crop():
    """At focal 2f the image is the centre of the image at f, magnified 2x (exactly, on shared rays)."""
    scene = make_scene(3, "room")
    c2w = sample_trajectory(scene, np.random.default_rng(0), 1)[0]
    W, H, f = 81, 61, 60.0
    a = render(scene, Intrinsics(f, f, 40.0, 30.0, W, H), c2w)
    b = render(scene, Intrinsics(2 * f, 2 * f, 40.0, 30.0, W, H), c2w)
    # pixel (30 + 2k, 40 + 2l) of b casts the same ray as pixel (30 + k, 40 + l) of a
    np.testing.assert_array_equal(b.depth[::2, ::2], a.depth[15:46, 20:61])
    np.testing.assert_array_equal(b.prim[::2, ::2], a.prim[15:46, 20:61])
    # colours agree up to texture filtering (one mip level apart)
    ca, cb = a.rgb[15:46, 20:61].ravel(), b.rgb[::2, ::2].ravel()
    assert np.corrcoef(ca, cb)[0, 1] > 0.9
    assert np.abs(ca - cb).mean() < 0.05


# ------------------------------------------------------------------ determinism
def test_same_seed_identical_different_seed_differs():
    a = render_clip(7, frames=3, size=40)
    b = render_clip(7, frames=3, size=40)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.poses, b.poses)
    assert a.intrinsics == b.intrinsics
    c = render_clip(8, frames=3, size=40)
    assert not np.array_equal(a.depth, c.depth)
    assert np.abs(a.rgb - c.rgb).mean() > 0.02
    s1, s2 = make_scene(7, "objects"), make_scene(7, "objects")
    np.testing.assert_array_equal(s1.center, s2.center)
    assert s1.materials == s2.materials
    assert not np.array_equal(make_scene(7, "room").half[0], make_scene(9, "room").half[0])


def test_clip_shapes_and_focal_range():
    clip = render_clip(2, frames=4, size=(48, 64))
    assert clip.rgb.shape == (4, 48, 64, 3) and clip.rgb.dtype == np.float32
    assert clip.depth.shape == (4, 48, 64) and clip.depth.dtype == np.float32
    assert clip.poses.shape == (4, 4, 4)
    assert clip.intrinsics.width == 64 and clip.intrinsics.height == 48
    assert 0.0 <= clip.rgb.min() and clip.rgb.max() <= 1.0
    focals = [render_clip(s, frames=1, size=16).intrinsics.fx / 16 for s in range(12)]
    assert 0.6 <= min(focals) and max(focals) <= 1.2 and max(focals) - min(focals) > 0.2
    fixed = render_clip(2, frames=1, size=32, focal=50.0)
    assert fixed.intrinsics.fx == 50.0 and fixed.intrinsics.cx == 15.5
    seen = []
    render_clip(2, frames=3, size=16, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    # parallel frames give the same clip
    one = render_clip(2, frames=4, size=(24, 32), normals=True)
    par = render_clip(2, frames=4, size=(24, 32), normals=True, workers=2, progress=lambda i, n: seen.append((i, n)))
    np.testing.assert_array_equal(one.rgb, par.rgb)
    np.testing.assert_array_equal(one.depth, par.depth)
    np.testing.assert_array_equal(one.normal, par.normal)
    assert seen[-1] == (4, 4)


# ------------------------------------------------------------------ textures and metric sizes
def test_textures_are_real_photographs():
    from skimage import data
    from skimage.transform import resize

    bank = texture_bank()
    ref = resize(data.astronaut() / 255.0, bank.image("astronaut").shape, anti_aliasing=True)
    assert np.corrcoef(ref.ravel(), bank.image("astronaut").ravel())[0, 1] > 0.99
    for name in PHOTOS:
        assert bank.image(name).std() > 0.05, name
    # a poster in a rendered room carries the photograph's detail
    for seed in range(40):
        scene = make_scene(seed, "room")
        posters = [k for k, lab in enumerate(scene.labels) if lab == "poster"]
        k = posters[0]
        n_world = scene.rot[k] @ np.array([0.0, 0.0, -1.0])  # the poster's front faces the room
        eye = scene.center[k] + 1.2 * n_world
        if scene.clearance(eye) < 0.3:
            continue
        fr = render(scene, Intrinsics(64.0, 64.0, 31.5, 31.5, 64, 64), look_at(eye, scene.center[k], UP))
        mask = fr.prim == k
        if mask.sum() > 300:
            assert fr.rgb[mask].std() > 0.05
            assert len(np.unique((fr.rgb[mask] * 255).astype(np.uint8), axis=0)) > 100
            break
    else:
        pytest.fail("no poster seen")


def test_room_sizes_are_metric():
    tops, spheres, doors = [], [], []
    for seed in range(30):
        s = make_scene(seed, "room")
        W, H, D = s.facts["room_size"]
        assert 3.0 <= W <= 8.0 and 3.0 <= D <= 8.0 and 2.4 <= H <= 3.2
        room = s.ptype == ROOM
        np.testing.assert_allclose(2 * s.half[room][0], [W, H, D])
        for k, lab in enumerate(s.labels):
            if lab == "table" and s.half[k, 1] < 0.03:  # table tops
                tops.append(-(s.center[k, 1] - s.half[k, 1]))
                wd = 2 * s.half[k, [0, 2]]
                assert 0.6 - 1e-9 <= wd.max() <= 2.0 + 1e-9
            if s.ptype[k] == SPHERE and lab == "sphere":
                spheres.append(s.half[k, 0])
            if lab == "door":
                doors.append(2 * s.half[k, :2])
        # everything is inside the room and on/above the floor
        others = ~room
        assert (s.center[others, 1] <= 1e-9).all()
        assert (np.abs(s.center[others][:, [0, 2]]) <= np.array([W, D]) / 2 + 1e-9).all()
    assert len(tops) > 10 and min(tops) >= 0.72 - 1e-9 and max(tops) <= 0.78 + 1e-9
    assert len(spheres) > 10 and min(spheres) >= 0.1 - 1e-9 and max(spheres) <= 0.6 + 1e-9
    np.testing.assert_allclose(np.array(doors), np.tile([0.9, 2.0], (len(doors), 1)))


def test_texture_scale_is_physical():
    """Texture frequency is a depth cue: the same material at 2x the distance shows 2x finer texels."""
    mats = [Material("stripes", 0.4)]
    scene = Scene(
        kind="room", seed=0, ptype=np.array([ROOM], np.int32), center=np.array([[0.0, -1.5, 0.0]]),
        rot=np.eye(3)[None], half=np.array([[20.0, 1.5, 20.0]]), face_mat=np.zeros((1, 6), np.int32),
        labels=["room"], materials=mats, bounds=np.array([[-20, -3, -20], [20, 0, 20]]),
        content=np.zeros((0, 3)), light_pos=None, sun_dir=np.array([0.0, -1.0, 0.0]), ambient=1.0,
    )  # fmt: skip
    intr = Intrinsics(400.0, 400.0, 255.5, 0.0, 512, 1)

    def period(dist):
        fr = render(scene, intr, look_at([0.0, -1.5, 20.0 - dist], [0.0, -1.5, 20.0], UP))
        g = fr.rgb[0, :, 0] - fr.rgb[0, :, 0].mean()
        spec = np.abs(np.fft.rfft(g))
        return len(g) / (4 + np.argmax(spec[4:]))  # period in pixels

    # 8 stripes per 0.4 m: period 0.05 m = 400 * 0.05 / dist pixels
    assert period(2.0) == pytest.approx(10.0, rel=0.05)
    assert period(4.0) == pytest.approx(5.0, rel=0.05)


# ------------------------------------------------------------------ trajectories
@pytest.mark.parametrize("kind", SCENE_KINDS)
@pytest.mark.parametrize("traj", TRAJECTORY_KINDS)
def test_trajectories_in_free_space_looking_at_content(kind, traj):
    for seed in range(3):
        scene = make_scene(seed, kind)
        poses = sample_trajectory(scene, np.random.default_rng(seed), 20, traj)
        assert poses.shape == (20, 4, 4)
        eyes = poses[:, :3, 3]
        assert (scene.clearance(eyes) >= 0.5).all()
        if kind == "room":
            W, H, D = scene.facts["room_size"]
            assert (np.abs(eyes[:, 0]) < W / 2).all() and (np.abs(eyes[:, 2]) < D / 2).all()
            assert (eyes[:, 1] < -0.9).all() and (eyes[:, 1] > -2.0).all()  # eye height above the floor
        # widest field of view of render_clip (focal 0.6 x width): nothing closer than 0.3 m
        intr = Intrinsics(0.6 * 40, 0.6 * 40, 19.5, 19.5, 40, 40)
        for p in poses[::4]:
            d = cast_rays(scene, intr, p)[0]
            assert d.min() > 0.3
            assert np.isfinite(d).mean() > 0.3  # looks at content, not only sky
            assert np.isfinite(d[15:25, 15:25]).any()
        # moderate hand-held motion: a few tens of cm, ~10-30 degrees in total, smooth steps
        travel = np.linalg.norm(np.diff(eyes, axis=0), axis=1)
        assert 0.05 < travel.sum() < 1.6
        total = rotation_angle_deg(poses[0, :3, :3], poses[-1, :3, :3])
        assert 8.0 <= total <= 32.0
        steps = [rotation_angle_deg(poses[k, :3, :3], poses[k + 1, :3, :3]) for k in range(19)]
        assert max(steps) < 5.0 and travel.max() < 0.12
        # upright: the image's up direction stays near the world up
        assert (poses[:, :3, 1] @ UP < -0.75).all()


def test_motion_scales_the_path():
    def stats(motion):
        travel, rot = [], []
        for seed in range(6):
            p = sample_trajectory(make_scene(seed, "room"), np.random.default_rng(seed), 20, "forward", motion=motion)
            travel.append(np.linalg.norm(p[-1, :3, 3] - p[0, :3, 3]))
            rot.append(rotation_angle_deg(p[0, :3, :3], p[-1, :3, :3]))
        return np.median(travel), np.median(rot)

    t_small, r_small = stats(0.5)
    t_big, r_big = stats(2.0)
    assert t_big > 2.5 * t_small and r_big > 2.5 * r_small
    assert 16.0 <= r_big <= 64.0 and 4.0 <= r_small <= 16.0
    with pytest.raises(See3DError, match="motion"):
        sample_trajectory(make_scene(0), np.random.default_rng(0), 5, motion=0.0)


def _uncovered(clip, i, j):
    """Share of view j not covered by splatting view i's pixels (nearest pixel; sky counts as covered)."""
    intr = clip.intrinsics
    d = clip.depth[i].astype(np.float64)
    fin = np.isfinite(d)
    uv, z = project_points(unproject_depth(np.where(fin, d, 1.0), intr, clip.poses[i])[fin], intr, clip.poses[j])
    ui, vi = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    ok = (z > 0) & (ui >= 0) & (vi >= 0) & (ui < intr.width) & (vi < intr.height)
    cover = ~np.isfinite(clip.depth[j])
    cover[vi[ok], ui[ok]] = True
    return 1.0 - cover.mean()


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_warp_leaves_realistic_holes(kind):
    """Neighbouring frames nearly cover each other; first -> last leaves some, not most, uncovered."""
    near, far = [], []
    for seed in range(3):
        clip = render_clip(seed, frames=20, size=64, kind=kind)
        near.append(_uncovered(clip, 0, 1))
        far.append(_uncovered(clip, 0, 19))
    assert max(near) < 0.1, near
    assert 0.1 < np.mean(far) < 0.65, far
    assert min(f - n for f, n in zip(far, near)) > 0.05


# ------------------------------------------------------------------ outdoor + bad input
def test_outdoor_sky_is_infinite_and_direction_only():
    clip = render_clip(1, frames=2, size=64, kind="objects")
    sky = ~np.isfinite(clip.depth)
    assert sky.any() and (~sky).mean() > 0.3
    room = render_clip(1, frames=2, size=32, kind="room")
    assert np.isfinite(room.depth).all()
    # the sky colour depends on the direction only: a pure rotation keeps colour along the same ray
    scene = clip.scene
    c2w = clip.poses[0].copy()
    fr = render(scene, clip.intrinsics, c2w)
    c2w[:3, 3] += np.array([0.3, 0.0, 0.0])
    fr2 = render(scene, clip.intrinsics, c2w)
    both = ~np.isfinite(fr.depth) & ~np.isfinite(fr2.depth)
    np.testing.assert_allclose(fr.rgb[both], fr2.rgb[both], atol=1e-6)


def test_bad_input_raises():
    with pytest.raises(See3DError, match="scene kind"):
        make_scene(0, "castle")
    with pytest.raises(See3DError, match="seed"):
        make_scene(-1)
    scene = make_scene(0)
    with pytest.raises(See3DError, match="trajectory kind"):
        sample_trajectory(scene, np.random.default_rng(0), 5, "teleport")
    with pytest.raises(See3DError, match="at least 1 frame"):
        sample_trajectory(scene, np.random.default_rng(0), 0)
    with pytest.raises(See3DError, match="Scene"):
        render("room", Intrinsics.from_fov(60, 8, 8), np.eye(4))
    with pytest.raises(See3DError, match="Intrinsics"):
        render(scene, (100, 100), np.eye(4))
    with pytest.raises(See3DError, match="rotation"):
        render(scene, Intrinsics.from_fov(60, 8, 8), np.diag([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(See3DError, match="poses"):
        render_views(scene, Intrinsics.from_fov(60, 8, 8), np.eye(4))
    with pytest.raises(See3DError, match="size"):
        render_clip(0, frames=2, size=0)
    with pytest.raises(See3DError, match="focal"):
        render_clip(0, frames=2, size=8, focal=-3.0)


def test_antialias_keeps_exact_depth_and_smooths_colour():
    clip = render_clip(4, frames=1, size=48)
    scene, intr, c2w = clip.scene, clip.intrinsics, clip.poses[0]
    aa3 = render(scene, intr, c2w, antialias=3)
    aa7 = render(scene, intr, c2w, antialias=7)  # close to the true pixel average
    np.testing.assert_array_equal(aa3.depth, clip.depth[0])
    np.testing.assert_array_equal(aa7.depth, clip.depth[0])
    err1 = np.abs(clip.rgb[0] - aa7.rgb).mean()
    err3 = np.abs(aa3.rgb - aa7.rgb).mean()
    assert err3 < 0.6 * err1
    with pytest.raises(See3DError, match="odd"):
        render(scene, intr, c2w, antialias=2)


def test_cli_writes_clip(tmp_path):
    from see3d.cli import main
    from see3d.io import load_depth, load_image, read_transforms_json

    out = tmp_path / "clip"
    assert main(["synth", "-o", str(out), "--seed", "3", "--frames", "3", "--size", "40", "--height", "32", "--kind", "objects", "-q"]) == 0
    ref = render_clip(3, frames=3, size=(32, 40), kind="objects")
    cams = read_transforms_json(out / "transforms.json")
    np.testing.assert_allclose(cams.poses, ref.poses, atol=1e-9)
    assert cams.intrinsics[0].fx == pytest.approx(ref.intrinsics.fx) and cams.intrinsics[0].cx == pytest.approx(ref.intrinsics.cx)
    d = np.load(out / "depth" / "00002.npy")
    np.testing.assert_array_equal(d, np.where(np.isfinite(ref.depth[2]), ref.depth[2], 0.0))
    assert load_depth(out / "depth" / "00002.npy").shape == (32, 40)
    img = load_image(out / "images" / "00001.png")
    assert img.shape == (32, 40, 3) and np.abs(img / 255.0 - ref.rgb[1]).max() <= 0.5 / 255 + 1e-6
    assert main(["synth", "-o", str(tmp_path / "bad"), "--kind", "castle", "-q"]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_trajectories_found_for_many_seeds():
    """Every (scene kind, trajectory kind) finds a valid path for 40 seeds (no See3DError)."""
    for kind in SCENE_KINDS:
        for seed in range(100, 140):
            scene = make_scene(seed, kind)
            for traj in TRAJECTORY_KINDS:
                poses = sample_trajectory(scene, np.random.default_rng(seed), 20, traj)
                assert (scene.clearance(poses[:, :3, 3]) >= 0.5).all()
