"""`see3d generate` end to end on CPU, and its handling of bad input."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from see3d.camera import TrajectoryConfig, make_trajectory, scene_depth_of
from see3d.cli import main
from see3d.io import read_point_ply, read_transforms_json, read_video


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "see3d", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def motorcycle_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "out"
    t0 = time.perf_counter()
    r = run_cli("generate", "--example", "motorcycle", "-o", str(out), "--frames", "12")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return out, elapsed, r.stderr


def test_generate_example_outputs(motorcycle_out, motorcycle):
    out, elapsed, log = motorcycle_out
    assert elapsed < 60, f"generate took {elapsed:.1f} s"
    views = sorted((out / "views").glob("*.png"))
    masks = sorted((out / "masks").glob("*.png"))
    depths = sorted((out / "depth").glob("*.npy"))
    assert len(views) == len(masks) == len(depths) == 12
    for v in views:
        with Image.open(v) as im:
            assert im.size == (741, 500)
    # the first view is the input camera: it reproduces the input where depth was known
    v0 = np.asarray(Image.open(views[0]), dtype=np.float32)
    known = motorcycle.depth_left > 0
    assert np.abs(v0[known] - motorcycle.left[known].astype(np.float32)).mean() < 3.0
    # other views have holes (masks) that were filled
    m5 = np.asarray(Image.open(masks[3])) > 127
    assert 0.01 < 1 - m5.mean() < 0.6
    frames, _ = read_video(out / "video.mp4")
    assert len(frames) == 12
    pts, cols = read_point_ply(out / "points.ply")
    assert len(pts) > 100_000 and cols is not None
    assert 2.0 < np.median(pts[:, 2]) < 5.1  # metric depth of the motorcycle scene
    cams = read_transforms_json(out / "transforms.json")
    expected = make_trajectory("orbit", scene_depth_of(motorcycle.depth_left), TrajectoryConfig(frames=12))
    assert np.allclose(cams.poses, expected, atol=1e-9)
    assert cams.intrinsics[0] == motorcycle.intr_left
    assert all(p.exists() for p in cams.image_paths)
    d3 = np.load(depths[3])
    assert np.all(np.isfinite(d3)) and d3.min() > 0


def test_generate_views_follow_trajectory_file(tmp_path):
    """A user pose file: the first pose is the input camera, views come in file order."""
    from see3d.camera.pose import make_pose, rotation_y

    poses = [make_pose(rotation_y(0.3), [5, 0, 1]), make_pose(rotation_y(0.3), [5.2, 0, 1]), make_pose(rotation_y(0.3), [4.8, 0, 1])]
    f = tmp_path / "traj.json"
    f.write_text(json.dumps([p.tolist() for p in poses]))
    out = tmp_path / "o"
    assert main(["generate", "--example", "motorcycle", "-o", str(out), "-t", str(f), "-q"]) == 0
    cams = read_transforms_json(out / "transforms.json")
    assert len(cams) == 3
    assert np.allclose(cams.poses[0], np.eye(4))
    assert np.allclose(cams.poses[1][:3, 3], rotation_y(-0.3) @ [0.2, 0, 0])
    assert sorted(p.name for p in (out / "views").iterdir()) == ["0000.png", "0001.png", "0002.png"]


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda d: d / "missing.jpg", "not found"),
        (lambda d: _write(d / "empty.jpg", b""), "empty"),
        (lambda d: _write(d / "bad.jpg", b"garbage" * 20), "cannot read image"),
    ],
)
def test_generate_bad_image(tmp_path, capsys, make_input, message):
    img = make_input(tmp_path)
    out = tmp_path / "out"
    assert main(["generate", str(img), "--depth", str(tmp_path / "x.npy"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()


def test_generate_bad_depth_and_focal(tmp_path, capsys):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "a.png")
    np.save(tmp_path / "d_wrong.npy", np.ones((10, 10), np.float32))
    np.save(tmp_path / "d_nan.npy", np.full((40, 60), np.nan, np.float32))
    np.save(tmp_path / "d.npy", np.ones((40, 60), np.float32))
    out = tmp_path / "out"
    cases = [
        (["--depth", str(tmp_path / "d_wrong.npy")], "does not match"),
        (["--depth", str(tmp_path / "d_nan.npy")], "NaN"),
        (["--depth", str(tmp_path / "d.npy"), "--fx", "-5"], "focal length must be positive"),
        (["--depth", str(tmp_path / "d.npy"), "--fx", "1e9"], "absurd"),
        (["--depth", str(tmp_path / "d.npy"), "--trajectory", "nowhere"], "unknown trajectory"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert main(["generate", str(tmp_path / "a.png"), "-o", str(out), *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert err and err[-1].startswith("error:") and message in err[-1], (args, err)
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "d.npy", "d_nan.npy", "d_wrong.npy"]


def test_generate_help_explains():
    r = run_cli("generate", "--help")
    assert r.returncode == 0
    for word in ("--trajectory", "--fill", "--depth", "--fov", "orbit"):
        assert word in r.stdout


@pytest.mark.slow
def test_generate_with_gaussians(tmp_path):
    """--gaussians fits 3DGS to the views: the exported splats re-render the input view."""
    from see3d.gs import load_ply, load_splat, render_views
    from see3d.gs.metrics import psnr

    out = tmp_path / "g"
    args = ["generate", "--example", "motorcycle", "-o", str(out), "--frames", "4", "--max-size", "128"]
    assert main([*args, "--gaussians", "--gs-iterations", "150", "-q"]) == 0
    cams = read_transforms_json(out / "transforms.json")
    view0 = np.asarray(Image.open(out / "views" / "0000.png"), dtype=np.float32) / 255
    for model in (load_ply(out / "scene.ply"), load_splat(out / "scene.splat")):
        img = np.asarray(render_views(model, cams.intrinsics[0], cams.poses[:1])[0])
        assert psnr(img, view0) > 22
    frames, _ = read_video(out / "splats.mp4")
    assert len(frames) == 4
