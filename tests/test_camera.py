"""Camera geometry: intrinsics under resize/crop/pad, pose conventions, projection, trajectories."""

import json

import numpy as np
import pytest
import torch

from see3d.camera import (
    Intrinsics,
    TrajectoryConfig,
    invert,
    look_at,
    make_trajectory,
    opencv_to_opengl,
    opengl_to_opencv,
    project_points,
    project_points_torch,
    unproject_depth,
    unproject_depth_torch,
)
from see3d.camera.pose import as_pose, make_pose, rotation_x, rotation_y
from see3d.camera.trajectory import dolly, orbit, pan, rebase, spiral
from see3d.errors import See3DError


def random_pose(rng):
    a, b = rng.uniform(-1, 1, 2)
    return make_pose(rotation_y(a) @ rotation_x(b), rng.normal(size=3))


def test_unproject_project_round_trip(rng):
    intr = Intrinsics(523.1, 517.9, 301.7, 245.2, 640, 480)
    depth = rng.uniform(0.5, 20.0, (480, 640))
    c2w = random_pose(rng)
    pts = unproject_depth(depth, intr, c2w)
    uv, z = project_points(pts, intr, c2w)
    u, v = intr.pixel_grid()
    assert np.abs(uv[..., 0] - u).max() < 1e-4
    assert np.abs(uv[..., 1] - v).max() < 1e-4
    assert np.allclose(z, depth)


def test_torch_projection_matches_numpy(rng):
    intr = Intrinsics(300.0, 310.0, 60.3, 40.1, 128, 96)
    depth = rng.uniform(1, 5, (96, 128))
    pts_np = unproject_depth(depth, intr)
    K = torch.tensor(intr.K)[None]
    pts_t = unproject_depth_torch(torch.tensor(depth)[None], K)
    assert torch.allclose(pts_t[0], torch.tensor(pts_np), atol=1e-9)
    uv, z = project_points_torch(pts_t.reshape(1, -1, 3), K)
    u, v = intr.pixel_grid()
    assert np.abs(uv[0, :, 0].numpy() - u.ravel()).max() < 1e-4
    assert np.abs(uv[0, :, 1].numpy() - v.ravel()).max() < 1e-4


def _project_world_point(intr, X):
    return intr.fx * X[0] / X[2] + intr.cx, intr.fy * X[1] / X[2] + intr.cy


def test_intrinsics_resize_matches_resampled_image():
    """A bright dot keeps its sub-pixel position after cv2.resize (area-consistent pixel-centre convention)."""
    import cv2

    intr = Intrinsics(200.0, 200.0, 63.5, 47.5, 128, 96)
    X = np.array([0.123, -0.071, 1.0])
    u, v = _project_world_point(intr, X)
    img = np.zeros((96, 128), np.float32)
    yy, xx = np.mgrid[0:96, 0:128]
    img[:] = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * 3.0**2))
    for w, h in [(256, 192), (64, 48), (200, 150)]:
        r = intr.resize(w, h)
        big = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        ys, xs = np.mgrid[0:h, 0:w]
        cu, cv_ = (big * xs).sum() / big.sum(), (big * ys).sum() / big.sum()
        pu, pv = _project_world_point(r, X)
        assert abs(cu - pu) < 0.1 and abs(cv_ - pv) < 0.1, (w, h, cu, pu, cv_, pv)


def test_intrinsics_crop_and_pad():
    intr = Intrinsics(200.0, 210.0, 63.5, 47.5, 128, 96)
    X = np.array([0.2, 0.1, 2.0])
    u, v = _project_world_point(intr, X)
    c = intr.crop(10, 20, 50, 40)
    cu, cv_ = _project_world_point(c, X)
    assert (c.width, c.height) == (50, 40)
    assert np.isclose(cu, u - 10) and np.isclose(cv_, v - 20)
    p = intr.pad(left=5, top=7, right=3, bottom=1)
    pu, pv = _project_world_point(p, X)
    assert (p.width, p.height) == (136, 104)
    assert np.isclose(pu, u + 5) and np.isclose(pv, v + 7)
    # pad then crop back is the identity
    assert p.crop(5, 7, 128, 96) == intr


def test_intrinsics_validation():
    with pytest.raises(See3DError, match="focal length must be positive"):
        Intrinsics(0.0, 1.0, 1, 1, 10, 10)
    with pytest.raises(See3DError, match="absurd"):
        Intrinsics(1e6, 1e6, 5, 5, 10, 10)
    with pytest.raises(See3DError, match="finite"):
        Intrinsics(float("nan"), 1.0, 1, 1, 10, 10)
    with pytest.raises(See3DError, match="field of view"):
        Intrinsics.from_fov(0, 10, 10)


def test_fov_round_trip():
    intr = Intrinsics.from_fov(60.0, 640, 480)
    assert np.isclose(intr.fov_deg()[0], 60.0)
    assert np.isclose(intr.fx, 320 / np.tan(np.radians(30)))


def test_pose_convention_converters_are_inverses(rng):
    for _ in range(5):
        p = random_pose(rng)
        assert np.allclose(opengl_to_opencv(opencv_to_opengl(p)), p)
        assert np.allclose(opencv_to_opengl(opengl_to_opencv(p)), p)
    # an OpenGL camera looking down -z is an OpenCV camera looking down +z rotated by 180 deg about x
    gl = np.eye(4)
    cv = opengl_to_opencv(gl)
    assert np.allclose(cv[:3, 2], [0, 0, -1])  # viewing direction = -z of the world
    assert np.allclose(cv[:3, 1], [0, -1, 0])  # image down = world -y, i.e. OpenGL up = world +y


def test_invert_and_look_at(rng):
    p = random_pose(rng)
    assert np.allclose(invert(p) @ p, np.eye(4))
    assert np.allclose(look_at([0, 0, 0], [0, 0, 5]), np.eye(4))
    c2w = look_at([1, 2, 3], [0, 0, 0])
    # the target projects to the image centre
    intr = Intrinsics(100, 100, 50, 50, 101, 101)
    uv, z = project_points(np.zeros(3), intr, c2w)
    assert np.allclose(uv, [50, 50]) and z > 0


def test_as_pose_rejects_bad_matrices():
    with pytest.raises(See3DError, match="4x4"):
        as_pose(np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = np.nan
    with pytest.raises(See3DError, match="NaN"):
        as_pose(bad)
    with pytest.raises(See3DError, match="rotation"):
        as_pose(np.diag([2.0, 1, 1, 1]))


@pytest.mark.parametrize("kind", ["orbit", "dolly", "pan", "spiral"])
def test_trajectories_start_at_input_camera(kind, rng):
    base = random_pose(rng)
    poses = make_trajectory(kind, 3.0, TrajectoryConfig(frames=12), c2w=base)
    assert poses.shape == (12, 4, 4)
    assert np.allclose(poses[0], base)
    for p in poses:
        as_pose(p)  # all rigid
    assert not np.allclose(poses[3], poses[0])


def test_trajectories_scale_with_scene_depth():
    for fn in (orbit, dolly, spiral):
        a = fn(2.0, 10)
        b = fn(20.0, 10)
        assert np.allclose(b[:, :3, 3], 10 * a[:, :3, 3])
        assert np.allclose(b[:, :3, :3], a[:, :3, :3])
    p = pan(5.0, 10)
    assert np.allclose(p[:, :3, 3], 0)


def test_orbit_keeps_look_at_point_centred():
    d = 4.0
    intr = Intrinsics(500, 500, 319.5, 239.5, 640, 480)
    for p in orbit(d, 16, degrees=20):
        uv, z = project_points(np.array([0, 0, d]), intr, p)
        assert np.allclose(uv, [319.5, 239.5], atol=1e-6) and np.isclose(z, d)
        assert np.isclose(np.linalg.norm(p[:3, 3] - [0, 0, d]), d)


def test_trajectory_file_is_rebased(tmp_path, rng):
    base = random_pose(rng)
    file_poses = np.stack([random_pose(rng) for _ in range(4)])
    f = tmp_path / "poses.json"
    f.write_text(json.dumps(file_poses.tolist()))
    poses = make_trajectory(str(f), 2.0, c2w=base)
    assert np.allclose(poses[0], base)
    # relative motion is preserved
    for i in range(4):
        assert np.allclose(invert(poses[0]) @ poses[i], invert(file_poses[0]) @ file_poses[i])
    assert np.allclose(rebase(file_poses), make_trajectory(str(f), 1.0))


def test_trajectory_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(See3DError, match="malformed"):
        make_trajectory(str(bad), 1.0)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([[1, 2, 3]]))
    with pytest.raises(See3DError, match="4x4"):
        make_trajectory(str(wrong), 1.0)
    with pytest.raises(See3DError, match="unknown trajectory"):
        make_trajectory("zigzag", 1.0)
