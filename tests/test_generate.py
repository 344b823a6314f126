"""`see3d generate` end to end on CPU, and its handling of bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from see3d.camera import TrajectoryConfig, make_trajectory, scene_depth_of
from see3d.cli import main
from see3d.errors import See3DError
from see3d.io import read_point_ply, read_transforms_json, read_video


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "see3d", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def motorcycle_out(tmp_path_factory):
    """The README's first command (its wall time is measured by benchmarks/generate.py, not here)."""
    out = tmp_path_factory.mktemp("gen") / "out"
    r = run_cli("generate", "--example", "motorcycle", "-o", str(out))  # the default: 12 views, mvd fill, 3DGS
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def test_generate_example_outputs(motorcycle_out, motorcycle):
    out, log = motorcycle_out
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
    # 3D Gaussian Splatting by default: the splats re-render the input view, the splat video has every frame
    from see3d.gs import load_ply, render_views
    from see3d.gs.metrics import psnr

    model = load_ply(out / "scene.ply")
    img = np.asarray(render_views(model, cams.intrinsics[0], cams.poses[:1])[0])
    assert psnr(img, v0 / 255.0) > 20
    assert (out / "scene.splat").stat().st_size == 32 * len(model.means)
    frames, _ = read_video(out / "splats.mp4")
    assert len(frames) == 12


def test_generate_views_follow_trajectory_file(tmp_path):
    """A user pose file: the first pose is the input camera, views come in file order."""
    from see3d.camera.pose import make_pose, rotation_y

    poses = [make_pose(rotation_y(0.3), [5, 0, 1]), make_pose(rotation_y(0.3), [5.2, 0, 1]), make_pose(rotation_y(0.3), [4.8, 0, 1])]
    f = tmp_path / "traj.json"
    f.write_text(json.dumps([p.tolist() for p in poses]))
    out = tmp_path / "o"
    assert main(["generate", "--example", "motorcycle", "-o", str(out), "-t", str(f), "--no-gaussians", "-q"]) == 0
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
    # an out-of-range option value is a usage error (exit 2, one message), not a traceback
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "a.png"), "-o", str(out), "--frames", "0"]) == 2
    err = capsys.readouterr().err
    assert "--frames" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "d.npy", "d_nan.npy", "d_wrong.npy"]


def test_generate_help_explains():
    r = run_cli("generate", "--help")
    assert r.returncode == 0
    for word in ("--trajectory", "--fill", "--depth", "--fov", "orbit"):
        assert word in r.stdout


@pytest.mark.slow
def test_generate_with_gaussians(tmp_path, monkeypatch):
    """--gaussians fits 3DGS to the views: the exported splats re-render the input view. The
    quick fit starts from the views' depth and runs without an opacity reset (docs/gs.md)."""
    import see3d.gs
    from see3d.gs import load_ply, load_splat, render_views
    from see3d.gs.metrics import psnr

    configs = []
    real_fit = see3d.gs.fit_gaussians

    def spy(*args, **kwargs):
        configs.append(kwargs["config"])
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(see3d.gs, "fit_gaussians", spy)
    out = tmp_path / "g"
    args = ["generate", "--example", "motorcycle", "-o", str(out), "--frames", "4", "--max-size", "128"]
    assert main([*args, "--gaussians", "--gs-iterations", "150", "-q"]) == 0
    assert [(c.iterations, c.opacity_reset_every) for c in configs] == [(150, 0)]
    cams = read_transforms_json(out / "transforms.json")
    view0 = np.asarray(Image.open(out / "views" / "0000.png"), dtype=np.float32) / 255
    for model in (load_ply(out / "scene.ply"), load_splat(out / "scene.splat")):
        img = np.asarray(render_views(model, cams.intrinsics[0], cams.poses[:1])[0])
        assert psnr(img, view0) > 22
    frames, _ = read_video(out / "splats.mp4")
    assert len(frames) == 4


# ---------------------------------------------------------------- long trajectories (--fill mvd --group N)


@pytest.fixture(scope="module")
def synth_orbit():  # ~20 s of CPU (two fills of 11 views with the bundled model)
    """A tiny held-out synth room, generated along a 12-frame orbit from its first view, both ways."""
    from see3d.pipeline.single_view import GenerateConfig, generate_views
    from see3d.synth import render_clip

    clip = render_clip(seed=1_000_003, frames=2, size=64, kind="room", trajectory="orbit")
    img, depth, intr = clip.rgb[0], clip.depth[0], clip.intrinsics
    single = generate_views(img, depth, intr, GenerateConfig(frames=12, fill="mvd", group=0))
    auto = generate_views(img, depth, intr, GenerateConfig(frames=12, fill="mvd", group=3))
    return clip, single, auto


@pytest.mark.slow
def test_generate_mvd_autoregressive_fills_fewer_holes(synth_orbit):
    """Groups after the first are warped from the input and the views generated before them."""
    _, single, auto = synth_orbit
    for r in (single, auto):
        assert r.views.shape == (12, 64, 64, 3) and r.depths.shape == (12, 64, 64)
        assert np.isfinite(r.views).all() and np.all(r.depths > 0)
    # orbit yaw = 15 deg * sin(2 pi k / 12): view 6 is the input camera, view 6 - k revisits view k
    assert np.allclose(auto.poses[6], np.eye(4)) and np.allclose(auto.poses[4], auto.poses[2])
    # the output masks still mean "seen in the input photo", whatever the filler was given
    assert np.array_equal(auto.masks, single.masks)
    assert np.array_equal(single.fill_masks, single.masks)
    # targets (input camera excluded) in groups of 3: [1, 2, 3], [4, 5, 7], [8, 9, 10], [11]
    assert np.array_equal(auto.fill_masks[1:4], single.masks[1:4])  # first group: from the input alone
    assert np.all(auto.fill_masks >= single.masks - 1e-6)  # anchors only add coverage
    holes_single = 1 - single.fill_masks[4:].mean()
    holes_auto = 1 - auto.fill_masks[4:].mean()
    assert holes_single > 0.05, holes_single
    assert holes_auto < 0.5 * holes_single, (holes_auto, holes_single)
    # view 4 revisits view 2, generated one group earlier: the anchors cover it completely and
    # carry view 2's generated pixels over (up to resampling by the warp)
    assert 1 - auto.fill_masks[4].mean() < 0.01
    holes = single.masks[2] < 0.5
    err = np.abs(auto.views[4] - auto.views[2])[holes].mean()
    assert err < 0.05, err


def test_generate_cli_mvd_group_writes_all_frames(tmp_path, capsys):
    from see3d.synth import render_clip

    clip = render_clip(seed=1_000_003, frames=2, size=64, kind="room", trajectory="orbit")
    Image.fromarray((clip.rgb[0] * 255).round().astype(np.uint8)).save(tmp_path / "room.png")
    np.save(tmp_path / "room.npy", clip.depth[0].astype(np.float32))
    k = clip.intrinsics
    base = ["generate", str(tmp_path / "room.png"), "--depth", str(tmp_path / "room.npy"), "--fx", str(k.fx), "--fy", str(k.fy),
            "--cx", str(k.cx), "--cy", str(k.cy), "--fill", "mvd", "--frames", "7", "--no-gaussians", "-q"]
    assert main([*base, "--group", "-1", "-o", str(tmp_path / "bad")]) == 2
    assert "--group must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "o"
    assert main([*base, "--group", "2", "-o", str(out)]) == 0
    for sub, ext in (("views", "png"), ("masks", "png"), ("depth", "npy")):
        assert sorted(p.name for p in (out / sub).iterdir()) == [f"{i:04d}.{ext}" for i in range(7)]
    assert len(read_transforms_json(out / "transforms.json")) == 7
    assert json.loads((out / "run.json").read_text())["config"]["group"] == 2


def test_generate_fill_max_side_sets_the_models_working_size(tmp_path, capsys):
    """--fill-max-side picks the diffusion filler's working size (speed knob); bad values are usage errors."""
    from see3d.fill import get_filler
    from see3d.synth import render_clip

    assert get_filler("mvd", max_side=32).working_size(64, 96) == (20, 32)  # 21.3 rounded to the UNet multiple (4)
    clip = render_clip(seed=1_000_003, frames=2, size=64, kind="room", trajectory="orbit")
    Image.fromarray((clip.rgb[0] * 255).round().astype(np.uint8)).save(tmp_path / "room.png")
    np.save(tmp_path / "room.npy", clip.depth[0].astype(np.float32))
    k = clip.intrinsics
    base = ["generate", str(tmp_path / "room.png"), "--depth", str(tmp_path / "room.npy"), "--fx", str(k.fx),
            "--fill", "mvd", "--frames", "3", "--no-gaussians", "-q"]
    assert main([*base, "--fill-max-side", "8", "-o", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "o"
    assert main([*base, "--fill-max-side", "32", "-o", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["fill_max_side"] == 32
    masks = [np.asarray(Image.open(out / "masks" / f"000{i}.png")) for i in range(3)]
    views = [np.asarray(Image.open(out / "views" / f"000{i}.png")) for i in range(3)]
    assert (masks[2] == 0).any() and views[2].shape == (64, 64, 3)


def test_fill_default_is_the_diffusion_model():
    """The diffusion model is the default filler; `auto` (old command lines) means it too."""
    from see3d.fill import get_filler, resolve_fill
    from see3d.pipeline import GenerateConfig

    assert GenerateConfig().fill == "mvd"
    assert resolve_fill("auto")[0] == "mvd" and resolve_fill("mvd") == ("mvd", "chosen")
    assert get_filler("telea").name == "telea" and resolve_fill("ns") == ("ns", "chosen")
    with pytest.raises(See3DError, match="unknown filler"):
        resolve_fill("magic")


def test_generate_records_the_filler_that_ran(motorcycle_out):
    out, log = motorcycle_out
    assert "fill (mvd)" in log
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["see3d"]["fill"] == "mvd"


def test_default_group_by_model(tmp_path):
    """No --group: the bundled model (or any see3d model folder) fills every view from the input
    alone; the See3D release works in the published groups of 4; run.json records what ran."""
    from see3d.pipeline.single_view import GenerateConfig, default_group

    assert GenerateConfig().group is None
    assert default_group(None) == 0
    release = tmp_path / "release"
    (release / "unet").mkdir(parents=True)
    assert default_group(release) == 4
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert default_group(folder) == 0
    out = tmp_path / "out"
    assert main(["generate", "--example", "motorcycle", "-o", str(out), "--frames", "3", "--fill", "telea", "--no-gaussians", "-q"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["group"] == 0
