"""Sparse views -> 3D: depth alignment to the poses, novel cameras, densification, held-out scoring, pose estimation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from see3d.camera import look_at
from see3d.cli import main
from see3d.errors import See3DError
from see3d.gs import load_ply, render_views
from see3d.gs.metrics import psnr
from see3d.io import save_image, write_transforms_json
from see3d.pipeline.sparse import (
    SparseConfig,
    align_depths_to_poses,
    densify_views,
    estimate_poses,
    place_novel_cameras,
)
from see3d.synth import render, render_clip

FOX = Path(__file__).resolve().parents[2] / "shared" / "data" / "fox"


@pytest.fixture(scope="module")
def clip():
    """8 orbit views of a synth scene with objects at 96 px (true depth, metric poses)."""
    return render_clip(3, frames=8, size=96, kind="objects", trajectory="orbit")


@pytest.fixture(scope="module")
def clip_dir(clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("sparse_views")
    (root / "images").mkdir()
    names = []
    for i, im in enumerate(clip.rgb):
        save_image(root / "images" / f"{i:03d}.png", im)
        names.append(f"images/{i:03d}.png")
    write_transforms_json(root / "transforms.json", clip.poses, clip.intrinsics, names)
    return root


def _ring(n, radius=3.0, arc=2 * math.pi, start=0.0):
    angles = start + np.arange(n) * arc / n
    return np.stack([look_at(np.array([radius * math.sin(a), -1.0, -radius * math.cos(a)]), np.zeros(3)) for a in angles])


def test_novel_cameras_lie_between_and_around_the_inputs():
    # an open arc of 3 cameras 30 degrees apart: cameras between them and past both ends
    P = _ring(3, arc=math.radians(90), start=-math.radians(30))
    cams = place_novel_cameras(P, np.zeros(3), 8, extend=0.5)
    assert cams.shape == (8, 4, 4)
    az = np.degrees(np.arctan2(cams[:, 0, 3], -cams[:, 2, 3]))
    az_in = np.degrees(np.arctan2(P[:, 0, 3], -P[:, 2, 3]))  # -30, 0, 30
    assert az.min() < az_in.min() - 5 and az.max() > az_in.max() + 5  # around: past both ends
    assert az.min() >= az_in.min() - 15 - 1e-6 and az.max() <= az_in.max() + 15 + 1e-6  # by at most half a gap
    assert ((az > -30) & (az < 0)).any() and ((az > 0) & (az < 30)).any()  # between each pair
    assert np.min(np.abs(az[:, None] - az_in[None])) > 1.0  # never on an input
    # same distance from the focus and still looking at it (rotations interpolated with the positions)
    np.testing.assert_allclose(np.linalg.norm(cams[:, :3, 3], axis=1), np.linalg.norm(P[0, :3, 3]), rtol=1e-9)
    fwd = cams[:, :3, 2]
    to_focus = -cams[:, :3, 3] / np.linalg.norm(cams[:, :3, 3], axis=1, keepdims=True)
    assert np.all(np.sum(fwd * to_focus, 1) > math.cos(math.radians(3.0)))  # measured <= 1.8 (past the ends)
    # cameras all around the focus: a closed ring, every gap gets the same share
    ring = place_novel_cameras(_ring(4), np.zeros(3), 8)
    az = np.sort(np.degrees(np.arctan2(ring[:, 0, 3], -ring[:, 2, 3])) % 360)
    np.testing.assert_allclose(az, [30, 60, 120, 150, 210, 240, 300, 330], atol=1.0)  # great-circle arcs: 0.46 deg off
    with pytest.raises(See3DError, match="at least 2 input views"):
        place_novel_cameras(P[:1], np.zeros(3), 4)


def test_depth_alignment_recovers_the_poses_scale(clip):
    idx = [0, 3, 6]
    true = clip.depth[idx]
    # a depth model that is off by a different factor in every view (and finite sky)
    wrong = np.stack([np.where(np.isfinite(d), d * f, 50.0) for d, f in zip(true, (0.4, 0.55, 2.5))])
    al, info = align_depths_to_poses(clip.rgb[idx], wrong, [clip.intrinsics] * 3, clip.poses[idx])
    fin = np.isfinite(true)
    rel = np.abs(al[fin] - true[fin]) / true[fin]
    assert np.median(rel) < 0.02, np.median(rel)
    np.testing.assert_allclose(info["scales"], [1 / 0.4, 1 / 0.55, 1 / 2.5], rtol=0.03)
    assert min(info["pairs"]) >= 3


def test_densified_views_match_the_true_renders(clip):
    idx = [0, 3, 6]
    gen = densify_views(clip.rgb[idx], [clip.intrinsics] * 3, clip.poses[idx], SparseConfig(densify=4, fill="telea"),
                        depths=clip.depth[idx])
    assert gen.images.shape == (4, 96, 96, 3) and gen.view_weight == 0.5
    truth = np.stack([render(clip.scene, clip.intrinsics, p).rgb for p in gen.poses])
    known = gen.masks > 0.5
    assert known.mean() > 0.9
    assert psnr(gen.images[known], truth[known]) > 25.0  # warped pixels are the scene seen from there
    assert psnr(gen.images, truth) > 22.0
    # the fit's weights: warped pixels 1, generated pixels hole_weight; unfilled holes 0
    assert set(np.unique(gen.pixel_weights[known])) == {1.0}
    none = densify_views(clip.rgb[idx], [clip.intrinsics] * 3, clip.poses[idx], SparseConfig(densify=4, fill="none"),
                         depths=clip.depth[idx])
    assert np.all(none.pixel_weights[none.masks < 0.5] == 0.0)


@pytest.mark.slow
def test_reconstruct_densify_scores_held_out_views_against_their_photos(clip, clip_dir, tmp_path):
    out = tmp_path / "out"
    rc = main(["reconstruct", str(clip_dir), "--train-views", "0,3,6", "--densify", "4", "--fill", "telea",
               "-i", "80", "--sh-degree", "0", "-o", str(out), "-q"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    held = [1, 2, 4, 5, 7]
    assert m["train_views"] == 3 and m["generated_views"] == 4 and m["heldout_views"] == 5
    assert [v["name"] for v in m["heldout"]["per_view"]] == [f"{i:03d}" for i in held]
    assert m["densify"]["depth"] == "tiny" and m["densify"]["fill"] == "telea"
    assert all(s is not None and s > 0 for s in m["densify"]["alignment"]["scales"])
    # the scores are those of the scene against the true renders of the held-out cameras
    model = load_ply(out / "scene.ply")
    renders = render_views(model, clip.intrinsics, clip.poses[held])
    assert np.mean([psnr(r, t) for r, t in zip(renders, clip.rgb[held])]) == pytest.approx(m["heldout"]["psnr"], abs=0.05)
    baseline = np.mean([psnr(np.broadcast_to(clip.rgb[[0, 3, 6]].mean((0, 1, 2)), t.shape), t) for t in clip.rgb[held]])
    assert m["heldout"]["psnr"] > baseline + 5.0, (m["heldout"]["psnr"], baseline)
    for i in held:
        assert (out / "heldout" / f"{i:03d}.png").is_file()
    for i in range(4):
        assert (out / "generated" / "views" / f"{i:04d}.png").is_file() and (out / "generated" / "masks" / f"{i:04d}.png").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train-views", "0,3,9"], "unknown view index 9"),
        (["--train-views", "0,x"], "comma-separated view indices"),
        (["--densify", "4"], "--densify needs --train-views"),
        (["--train-views", "0,3", "--eval-every", "2"], "either --train-views or --eval-every"),
        (["--train-views", "0,3", "--densify", "2", "--fill", "magic"], "unknown --fill"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_output(clip_dir, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["reconstruct", str(clip_dir), *args, "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def test_missing_view_image_is_one_line(clip_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "transforms.json").write_text((clip_dir / "transforms.json").read_text())
    (broken / "images").mkdir()
    out = tmp_path / "out"
    assert main(["reconstruct", str(broken), "--train-views", "0,3", "--densify", "2", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "image of view 0 not found" in err[0]
    assert not out.exists()


def test_pose_estimation_with_too_few_matches_is_one_line(tmp_path, capsys):
    pytest.importorskip("pycolmap", reason="pose estimation needs the optional extra 'sfm' (pycolmap)")
    views = tmp_path / "flat"
    views.mkdir()
    for i in range(3):
        save_image(views / f"{i}.png", np.full((48, 64, 3), 0.5, np.float32))
    out = tmp_path / "out"
    assert main(["reconstruct", str(views), "--train-views", "0,1", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "estimating the poses of its 3 photos with pycolmap" in err[0]
    assert err[-1].startswith("error: pose estimation failed: too few feature matches")
    assert not out.exists()


@pytest.mark.slow
def test_pose_estimation_on_real_photos_matches_their_cameras():
    """pycolmap on 6 of the fox photos: rotations and camera centres (up to a similarity) vs transforms.json."""
    pytest.importorskip("pycolmap", reason="pose estimation needs the optional extra 'sfm' (pycolmap)")
    if not (FOX / "transforms.json").is_file():
        pytest.skip(f"real photos not found at {FOX} (../shared/data/fox)")
    from scipy.spatial.transform import Rotation

    from see3d.io import read_transforms_json

    cs = read_transforms_json(FOX / "transforms.json")
    idx = [0, 2, 4, 6, 8, 10]
    P, K, paths, dist, pts, cols = estimate_poses([cs.image_paths[i] for i in idx], max_image_size=640)
    assert [p.name for p in paths] == [cs.image_paths[i].name for i in idx]  # all posed
    T = cs.poses[idx]
    # relative rotations agree
    for i in range(1, len(idx)):
        re = np.linalg.inv(P[0]) @ P[i]
        rt = np.linalg.inv(T[0]) @ T[i]
        assert np.degrees(Rotation.from_matrix(re[:3, :3].T @ rt[:3, :3]).magnitude()) < 1.5  # measured <= 0.5
    # camera centres agree up to scale, rotation and offset (Umeyama)
    a, b = P[:, :3, 3], T[:, :3, 3]
    ac, bc = a - a.mean(0), b - b.mean(0)
    U, S, Vt = np.linalg.svd(bc.T @ ac)
    D = np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / np.sum(ac ** 2)
    err = np.linalg.norm(s * ac @ R.T - bc, axis=1)
    assert err.max() < 0.03 * np.linalg.norm(bc, axis=1).max(), err


def test_depth_alignment_without_matches_uses_the_point_the_cameras_look_at():
    from see3d.camera import Intrinsics

    P = _ring(3, radius=4.0, arc=math.radians(120))
    K = Intrinsics.from_fov(60.0, 48, 48)
    dist = np.linalg.norm(P[0, :3, 3])  # every camera looks at the origin from this far
    depths = np.full((3, 48, 48), 0.5 * dist, np.float32) * np.array([1.0, 2.0, 4.0])[:, None, None]
    flat = np.full((3, 48, 48, 3), 0.5, np.float32)  # nothing to match
    al, info = align_depths_to_poses(flat, depths, [K] * 3, P)
    assert info["fallback"] == "look-at point" and info["pairs"] == [0, 0, 0]
    np.testing.assert_allclose(al[:, 24, 24], dist, rtol=1e-5)
    # cameras looking away from each other have no common point: one line
    away = np.stack([look_at(np.array([math.sin(a), 0.0, math.cos(a)]), 2 * np.array([math.sin(a), 0.0, math.cos(a)])) for a in (0.0, 2.0, 4.0)])
    with pytest.raises(See3DError, match="too few keypoint matches"):
        align_depths_to_poses(flat, depths, [K] * 3, away)
