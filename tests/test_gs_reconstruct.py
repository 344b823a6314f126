"""Posed photos -> 3DGS: camera files, undistortion, hold-out protocol, the CLI commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics, look_at
from see3d.camera.pose import invert
from see3d.cli import main
from see3d.errors import See3DError
from see3d.gs import GaussianModel, load_ply, render_views
from see3d.gs.metrics import psnr
from see3d.gs.reconstruct import holdout_split, load_posed_views, read_colmap_text, undistort_image
from see3d.io import read_video, save_image, write_transforms_json


def _ring_poses(n: int, radius: float = 2.2) -> np.ndarray:
    return np.stack([look_at(np.array([radius * math.sin(a), -0.6, -radius * math.cos(a)]), np.zeros(3))
                     for a in np.linspace(0, 2 * math.pi, n, endpoint=False)])


def _gt_scene(n: int = 40, seed: int = 1) -> GaussianModel:
    g = torch.Generator().manual_seed(seed)
    sh = torch.zeros(n, 1, 3)
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814
    return GaussianModel((torch.rand(n, 3, generator=g) - 0.5), torch.randn(n, 4, generator=g),
                         torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.04), torch.full((n,), 3.0), sh)


def _distort(img: np.ndarray, intr: Intrinsics, dist: np.ndarray) -> np.ndarray:
    """What a camera with lens distortion ``dist`` records of the pinhole image ``img``."""
    import cv2

    u, v = intr.pixel_grid()
    # each distorted pixel sees the ray of its undistorted normalised coordinates
    pts = np.stack([u.ravel(), v.ravel()], -1).astype(np.float64)[:, None, :]
    und = cv2.undistortPoints(pts, intr.K, dist, P=intr.K)[:, 0, :]
    mx = und[:, 0].reshape(u.shape).astype(np.float32)
    my = und[:, 1].reshape(u.shape).astype(np.float32)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_undistort_inverts_the_lens_model():
    from skimage.data import astronaut

    img = astronaut()[::2, ::2].astype(np.float32) / 255.0  # 256 x 256
    intr = Intrinsics(230.0, 230.0, 127.5, 127.5, 256, 256)
    dist = np.array([0.12, -0.08, 0.002, -0.001, 0.0])
    distorted = _distort(img, intr, dist)
    restored = undistort_image(distorted, intr, dist)
    c = slice(32, 224)  # away from the borders that left the frame
    before, after = psnr(distorted[c, c], img[c, c]), psnr(restored[c, c], img[c, c])
    assert before < 22.0  # the distortion is visible
    assert after > 28.0 and after > before + 8.0  # what is left is two bilinear resamplings
    assert undistort_image(img, intr, np.zeros(5)) is img


def test_colmap_text_model_is_read_in_opencv_convention(tmp_path):
    poses = _ring_poses(3)
    (tmp_path / "images").mkdir()
    lines = []
    for i, c2w in enumerate(poses):
        w2c = invert(c2w)
        from scipy.spatial.transform import Rotation

        x, y, z, w = Rotation.from_matrix(w2c[:3, :3]).as_quat()
        t = w2c[:3, 3]
        lines.append(f"{i + 1} {w} {x} {y} {z} {t[0]} {t[1]} {t[2]} {1 + i % 2} view{i}.png")
        lines.append("" if i == 1 else "10.0 20.0 -1 30.5 40.5 7")
        save_image(tmp_path / "images" / f"view{i}.png", np.zeros((24, 32, 3), np.float32))
    (tmp_path / "images.txt").write_text("# Image list\n" + "\n".join(lines) + "\n")
    (tmp_path / "cameras.txt").write_text("# cams\n1 PINHOLE 32 24 30 31 16 12\n2 OPENCV 32 24 30 31 16 12 0.1 -0.05 0.001 0.002\n")
    (tmp_path / "points3D.txt").write_text("1 0.1 0.2 0.3 255 0 10 0.5 1 0\n2 -1 -2 -3 0 128 0 0.5 2 0\n")
    P, intr, paths, dist, pts, cols = read_colmap_text(tmp_path)
    np.testing.assert_allclose(P, poses, atol=1e-9)
    assert intr[0] == Intrinsics(30, 31, 15.5, 11.5, 32, 24)  # COLMAP's pixel centres are at +0.5
    np.testing.assert_allclose(dist[1], [0.1, -0.05, 0.001, 0.002, 0.0])
    assert [p.name for p in paths] == ["view0.png", "view1.png", "view2.png"]
    np.testing.assert_allclose(pts, [[0.1, 0.2, 0.3], [-1, -2, -3]])
    assert cols.tolist() == [[255, 0, 10], [0, 128, 0]]
    pv = load_posed_views(tmp_path, max_size=16)
    assert pv.images.shape == (3, 12, 16, 3) and pv.undistorted and pv.points is not None
    assert pv.intrinsics[0].fx == pytest.approx(15.0)
    (tmp_path / "cameras.txt").write_text("1 FISHEYE 32 24 30 16 12 0.1\n")
    with pytest.raises(See3DError, match="FISHEYE is not supported"):
        read_colmap_text(tmp_path)


def test_holdout_split_protocol():
    assert holdout_split(10, 5) == ([1, 2, 3, 4, 6, 7, 8, 9], [0, 5])
    assert holdout_split(25, 2)[1] == list(range(0, 25, 2))
    assert holdout_split(3, 0) == ([0, 1, 2], [])
    with pytest.raises(See3DError, match="zero views"):
        holdout_split(0, 2)
    with pytest.raises(See3DError, match="every view"):
        holdout_split(4, 1)


@pytest.fixture(scope="module")
def views_dir(tmp_path_factory):
    """12 posed views of a known Gaussian scene, written with lens distortion as transforms.json."""
    root = tmp_path_factory.mktemp("views")
    gt = _gt_scene()
    intr = Intrinsics.from_fov(50.0, 40, 40)
    poses = _ring_poses(12)
    imgs = render_views(gt, intr, poses)
    dist = np.array([0.05, -0.02, 0.0, 0.0, 0.0])
    (root / "images").mkdir()
    names = []
    for i, im in enumerate(imgs):
        save_image(root / "images" / f"{i:03d}.png", _distort(im, intr, dist))
        names.append(f"images/{i:03d}.png")
    write_transforms_json(root / "transforms.json", poses, intr, names, extra={"k1": 0.05, "k2": -0.02, "p1": 0.0, "p2": 0.0})
    return root, gt, intr, poses, imgs


def test_reconstruct_render_and_view_commands(views_dir, tmp_path):
    root, gt, intr, poses, imgs = views_dir
    out = tmp_path / "out"
    rc = main(["reconstruct", str(root), "-o", str(out), "--eval-every", "4", "--iterations", "200", "--sh-degree", "0", "--init-points", "3000", "-q"])
    assert rc == 0
    for f in ("scene.ply", "scene.splat", "points.ply", "transforms.json", "metrics.json", "heldout/000.png", "heldout/004.png"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert m["heldout_views"] == 3 and m["train_views"] == 9 and m["undistorted"] is True
    assert [v["name"] for v in m["heldout"]["per_view"]] == ["000", "004", "008"]
    assert m["heldout"]["psnr"] > 20.0, m["heldout"]  # random init, 200 steps on 9 views of 40x40
    assert 0.0 < m["heldout"]["ssim"] <= 1.0 and m["peak_memory_mib"] > 0
    model = load_ply(out / "scene.ply")
    held = [0, 4, 8]
    assert psnr(render_views(model, intr, poses[held]), imgs[held]) == pytest.approx(m["heldout"]["psnr"], abs=0.5)

    video = tmp_path / "orbit.mp4"
    assert main(["render", str(out / "scene.ply"), "-t", "orbit", "-n", "6", "-o", str(video), "-q"]) == 0
    frames, _ = read_video(video)
    assert len(frames) == 6 and frames[0].shape == (40, 40, 3)
    # the first orbit frame is the first camera of transforms.json beside the scene
    first = render_views(model, intr, poses[:1])[0]
    assert psnr(frames[0].astype(np.float32) / 255.0, first) > 28.0
    assert main(["render", str(out / "scene.ply"), "-t", "cameras", "-o", str(tmp_path / "c.mp4"), "-q", "--size", "48x32"]) == 0
    frames, _ = read_video(tmp_path / "c.mp4")
    assert len(frames) == 12 and frames[0].shape == (32, 48, 3)

    page = tmp_path / "v.html"
    assert main(["view", str(out / "scene.ply"), "--html", str(page)]) == 0
    assert "see3d-canvas" in page.read_text() and page.stat().st_size > len(model) * 32


def test_cli_bad_inputs(tmp_path, capsys):
    assert main(["reconstruct", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["reconstruct", str(tmp_path / "empty"), "-o", str(tmp_path / "o")]) == 2
    assert "neither transforms.json nor a COLMAP" in capsys.readouterr().err
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "transforms.json").write_text(json.dumps({"fl_x": 10, "w": 8, "h": 8, "frames": []}))
    assert main(["reconstruct", str(tmp_path / "zero"), "-o", str(tmp_path / "o")]) == 2
    assert "zero views" in capsys.readouterr().err
    from plyfile import PlyData, PlyElement

    arr = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "pc.ply"))
    assert main(["render", str(tmp_path / "pc.ply"), "-o", str(tmp_path / "v.mp4")]) == 2
    assert "lacks 3DGS attributes" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "v.mp4").exists()


def test_mismatched_image_sizes_are_rejected(tmp_path):
    intr = Intrinsics.from_fov(50.0, 16, 16)
    poses = _ring_poses(2)
    (tmp_path / "images").mkdir()
    save_image(tmp_path / "images" / "a.png", np.zeros((16, 16, 3), np.float32))
    save_image(tmp_path / "images" / "b.png", np.zeros((16, 24, 3), np.float32))
    write_transforms_json(tmp_path / "transforms.json", poses, intr, ["images/a.png", "images/b.png"])
    with pytest.raises(See3DError, match="b.png is 24x16 but its camera is 16x16"):
        load_posed_views(tmp_path, max_size=None)


def test_fox_photos_load_undistorted(shared_data):
    pv = load_posed_views(shared_data / "fox", max_size=64)
    assert len(pv) == 25 and pv.undistorted
    assert pv.images.shape == (25, 64, 36, 3)
    k = pv.intrinsics[0]
    assert k.fx == pytest.approx(1375.52 * 36 / 1080, rel=1e-3)
    assert np.isfinite(pv.images).all() and 0.05 < pv.images.mean() < 0.95
