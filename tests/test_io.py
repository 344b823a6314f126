"""io: validated image loading, depth maps, camera files, video, point clouds, atomic outputs."""

import json

import numpy as np
import pytest
from PIL import Image

from see3d.camera import Intrinsics
from see3d.errors import See3DError
from see3d.io import (
    atomic_output_dir,
    load_depth,
    load_image,
    read_metric3d_annotations,
    read_point_ply,
    read_transforms_json,
    read_video,
    save_depth_png,
    write_point_ply,
    write_transforms_json,
    write_video,
)


def test_load_image_rgb_and_modes(tmp_path):
    arr = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    Image.fromarray(arr).save(tmp_path / "a.png")
    assert np.array_equal(load_image(tmp_path / "a.png"), arr)
    Image.fromarray(arr[..., 0]).save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == (20, 30, 3) and np.array_equal(g[..., 1], arr[..., 0])
    rgba = np.dstack([arr, np.full((20, 30), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(load_image(tmp_path / "rgba.png"), arr)


def test_load_image_applies_exif_orientation(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # white band on the left
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape == (20, 10, 3)
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the band is now at the top


def test_load_image_errors(tmp_path):
    with pytest.raises(See3DError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(See3DError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 10)
    with pytest.raises(See3DError, match="cannot read image"):
        load_image(tmp_path / "corrupt.jpg")
    Image.new("L", (8000, 7000)).save(tmp_path / "huge.png")
    with pytest.raises(See3DError, match="Mpixel"):
        load_image(tmp_path / "huge.png")
    Image.fromarray(np.zeros((16, 16), np.uint16)).save(tmp_path / "d16.png")
    with pytest.raises(See3DError, match="depth map"):
        load_image(tmp_path / "d16.png")
    # truncated file
    arr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(See3DError):
        load_image(tmp_path / "trunc.png")


def test_depth_png_round_trip(tmp_path):
    d = np.random.default_rng(1).uniform(0.5, 40, (30, 40)).astype(np.float32)
    save_depth_png(tmp_path / "d.png", d, scale=1000)
    back = load_depth(tmp_path / "d.png")
    assert np.abs(back - d).max() <= 0.5 / 1000 + 1e-6
    # scale from the name when metadata is gone
    Image.fromarray(np.round(d * 256).astype(np.uint16)).save(tmp_path / "x.depth_scale256.png")
    assert np.abs(load_depth(tmp_path / "x.depth_scale256.png") - d).max() <= 0.5 / 256 + 1e-6
    Image.fromarray(np.round(d * 256).astype(np.uint16)).save(tmp_path / "noscale.png")
    with pytest.raises(See3DError, match="depth_scale"):
        load_depth(tmp_path / "noscale.png")
    np.save(tmp_path / "nan.npy", np.full((3, 3), np.nan))
    with pytest.raises(See3DError, match="NaN"):
        load_depth(tmp_path / "nan.npy")


def test_read_fox_transforms(shared_data):
    cams = read_transforms_json(shared_data / "fox" / "transforms.json")
    assert len(cams) == 25
    k = cams.intrinsics[0]
    assert (k.width, k.height) == (1080, 1920) and np.isclose(k.fx, 1375.52)
    assert all(p.exists() for p in cams.image_paths)
    assert np.isclose(cams.distortion[0][0], 0.0578421)
    # cameras look at the figurine: the viewing rays (OpenCV +z) pass near a common point
    origins = cams.poses[:, :3, 3]
    dirs = cams.poses[:, :3, 2]
    A = sum(np.eye(3) - np.outer(d, d) for d in dirs)
    b = sum((np.eye(3) - np.outer(d, d)) @ o for o, d in zip(origins, dirs))
    center = np.linalg.solve(A, b)
    dist = [np.linalg.norm(np.cross(center - o, d)) for o, d in zip(origins, dirs)]
    spread = np.linalg.norm(origins - center, axis=1).mean()
    assert np.median(dist) < 0.2 * spread


def test_transforms_json_round_trip(tmp_path, rng):
    from see3d.camera.trajectory import orbit

    poses = orbit(3.0, 5)
    intr = Intrinsics(300.0, 301.0, 159.5, 119.5, 320, 240)
    for i in range(5):
        Image.new("RGB", (320, 240)).save(tmp_path / f"{i}.png")
    write_transforms_json(tmp_path / "transforms.json", poses, intr, [f"{i}.png" for i in range(5)])
    cams = read_transforms_json(tmp_path / "transforms.json")
    assert np.allclose(cams.poses, poses)
    assert cams.intrinsics[0] == intr
    d = json.loads((tmp_path / "transforms.json").read_text())
    # OpenGL convention on disk: the first camera (identity in OpenCV) looks down -z
    assert np.allclose(np.array(d["frames"][0]["transform_matrix"])[:3, 2], [0, 0, -1])


def test_transforms_json_errors(tmp_path):
    f = tmp_path / "t.json"
    f.write_text("{")
    with pytest.raises(See3DError, match="not valid JSON"):
        read_transforms_json(f)
    f.write_text(json.dumps({"frames": []}))
    with pytest.raises(See3DError, match="zero views"):
        read_transforms_json(f)
    f.write_text(json.dumps({"w": 4, "h": 4, "fl_x": 3, "frames": [{"file_path": "a.png", "transform_matrix": [[1, 2], [3, 4]]}]}))
    with pytest.raises(See3DError, match="4x4"):
        read_transforms_json(f)
    f.write_text(json.dumps({"w": 4, "h": 4, "fl_x": -3, "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(See3DError, match="positive"):
        read_transforms_json(f)


def test_metric3d_annotations(shared_data):
    ann = read_metric3d_annotations(shared_data / "metric3d_demo" / "test_annotations.json")
    assert len(ann) == 2
    assert ann[0].rgb.exists() and ann[0].depth.exists() and ann[0].depth_scale == 256.0
    d = load_depth(ann[1].depth, ann[1].depth_scale)
    assert 0.5 < np.median(d[d > 0]) < 10  # NYU: metres indoors


def test_video_round_trip(tmp_path):
    frames = [np.full((33, 47, 3), 20 * i, np.uint8) for i in range(7)]
    n = write_video(tmp_path / "v.mp4", frames, fps=10)
    assert n == 7
    back, fps = read_video(tmp_path / "v.mp4")
    assert len(back) == 7 and back[0].shape == (34, 48, 3)
    assert abs(int(back[3].mean()) - 60) <= 3
    with pytest.raises(See3DError, match="no frames"):
        write_video(tmp_path / "e.mp4", [])
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(See3DError, match="empty"):
        read_video(tmp_path / "empty.mp4")


def test_read_video_applies_display_rotation(tmp_path, phone_video):
    """A portrait phone video (landscape frames + a -90 degree display matrix) reads upright."""
    frames = [np.zeros((64, 32, 3), np.uint8) for _ in range(4)]
    for f in frames:
        f[:8] = (255, 0, 0)  # red along the top of the portrait picture
    phone_video(tmp_path / "phone.mp4", frames)
    back, _ = read_video(tmp_path / "phone.mp4")
    assert back[0].shape == (64, 32, 3)
    assert back[0][:6, :, 0].mean() > 200 and back[0][12:, :, 0].mean() < 30


def test_point_ply_round_trip(tmp_path, rng):
    pts = rng.normal(size=(100, 3)).astype(np.float32)
    cols = rng.integers(0, 255, (100, 3)).astype(np.uint8)
    write_point_ply(tmp_path / "p.ply", pts, cols)
    p2, c2 = read_point_ply(tmp_path / "p.ply")
    assert np.array_equal(p2, pts) and np.array_equal(c2, cols)
    (tmp_path / "bad.ply").write_text("ply\nformat nonsense\n")
    with pytest.raises(See3DError, match="cannot read ply"):
        read_point_ply(tmp_path / "bad.ply")


def test_atomic_output_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_output_dir(out) as tmp:
        (tmp / "ok.txt").write_text("1")
    assert (out / "ok.txt").read_text() == "1"
    # the library-level writer replaces an existing folder (model folders, checkpoints); a user's
    # -o goes through check_output first, which refuses anything but an earlier see3d output
    # without --overwrite (tests/test_reliability.py)
    with atomic_output_dir(out) as tmp:
        (tmp / "new.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
