"""`see3d edit`: an edit of the input view regenerated in every view it reaches; views it cannot
reach stay bit-identical; bad input is one line and no output."""

import json

import numpy as np
import pytest
from PIL import Image

from see3d.cli import main

H, W = 72, 96


def _yaw(deg, t=(0.0, 0.0, 0.0)):
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    P = np.eye(4)
    P[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    P[:3, 3] = t
    return P


#: the input camera, two views that see the left part of the picture, two turned right past it
POSES = [_yaw(0), _yaw(-4, (0.05, 0, 0)), _yaw(3), _yaw(28), _yaw(33)]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A synth room view generated along POSES (true depth, Telea, no 3DGS), a mask on its left
    part and a red replacement picture."""
    from see3d.io import save_image, to_uint8
    from see3d.synth import render_clip

    root = tmp_path_factory.mktemp("edit")
    clip = render_clip(seed=21, frames=1, size=(H, W), kind="room")
    save_image(root / "in.png", to_uint8(clip.rgb[0]))
    np.save(root / "in.npy", clip.depth[0])
    (root / "traj.json").write_text(json.dumps([p.tolist() for p in POSES]))
    k = clip.intrinsics
    gen = root / "gen"
    assert main(["generate", str(root / "in.png"), "--depth", str(root / "in.npy"), "--fx", str(k.fx), "-t", str(root / "traj.json"),
                 "--fill", "telea", "--no-gaussians", "-q", "-o", str(gen)]) == 0
    m = np.zeros((H, W), np.uint8)
    m[20:50, 5:20] = 255
    save_image(root / "mask.png", np.stack([m] * 3, -1))
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255
    save_image(root / "red.png", red)
    return root, gen, clip, m > 0


def _png(p):
    return np.asarray(Image.open(p).convert("RGB"))


def test_edit_regenerates_reached_views_and_copies_the_others(scene, tmp_path):
    from see3d.camera import project_points, unproject_depth

    root, gen, clip, mask = scene
    out = tmp_path / "edited"
    assert main(["edit", str(gen), "--mask", str(root / "mask.png"), "--image", str(root / "red.png"), "-o", str(out), "-q"]) == 0
    run = json.loads((out / "run.json").read_text())["edit"]
    assert run["changed_views"] == ["0000", "0001", "0002"]
    # views the edit cannot reach: the same bytes; geometry files: the same bytes
    for n in ("0003", "0004"):
        assert (out / "views" / f"{n}.png").read_bytes() == (gen / "views" / f"{n}.png").read_bytes()
    for n in ("0000", "0001", "0002", "0003", "0004"):
        assert (out / "depth" / f"{n}.npy").read_bytes() == (gen / "depth" / f"{n}.npy").read_bytes()
        assert (out / "masks" / f"{n}.png").read_bytes() == (gen / "masks" / f"{n}.png").read_bytes()
    # the input view: the replacement inside the mask, the old pixels outside
    old0, new0 = _png(gen / "views" / "0000.png"), _png(out / "views" / "0000.png")
    assert np.all(new0[mask] == [255, 0, 0]) and np.array_equal(new0[~mask], old0[~mask])
    # reached views: the edited surface (true geometry, projected) is red there now; the
    # pixels far from it are untouched
    inner = np.zeros_like(mask)
    inner[23:47, 8:17] = True  # away from the mask's border (bilinear warp blends the edge)
    pts = unproject_depth(clip.depth[0], clip.intrinsics)[inner]
    for j in (1, 2):
        old, new = _png(gen / "views" / f"{j:04d}.png"), _png(out / "views" / f"{j:04d}.png")
        uv, z = project_points(pts, clip.intrinsics, POSES[j])
        u, v = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
        ok = (u >= 0) & (u < W) & (v >= 0) & (v < H)
        assert ok.sum() > 100
        redness = new[v[ok], u[ok]].astype(int)
        assert np.mean((redness[:, 0] > 200) & (redness[:, 1] < 60) & (redness[:, 2] < 60)) > 0.9
        assert np.mean(old[v[ok], u[ok], 0] > 200) < 0.5
        changed = np.any(new != old, axis=2)
        far = np.ones((H, W), bool)
        far[:, : W // 2] = False  # the edit lies in the left half of these views
        assert not changed[far].any()
    assert (out / "video.mp4").is_file() and (out / "points.ply").is_file() and not (out / "scene.ply").exists()


@pytest.mark.slow
def test_edit_refits_the_gaussians(scene, tmp_path):
    """A source with a 3DGS scene: the edited folder's splats show the edit at the input camera."""
    from see3d.gs import load_ply, render_views
    from see3d.io import read_transforms_json

    root, _, clip, mask = scene
    gen = tmp_path / "gen3d"
    args = ["generate", str(root / "in.png"), "--depth", str(root / "in.npy"), "--fx", str(clip.intrinsics.fx), "-t", str(root / "traj.json"),
            "--fill", "telea", "--gs-iterations", "60", "--gs-max-size", "48", "-q", "-o", str(gen)]
    assert main(args) == 0
    out = tmp_path / "edited3d"
    assert main(["edit", str(gen), "--mask", str(root / "mask.png"), "--image", str(root / "red.png"), "-o", str(out), "-q"]) == 0
    cams = read_transforms_json(out / "transforms.json")
    inner = np.zeros_like(mask)
    inner[24:46, 8:17] = True
    before = render_views(load_ply(gen / "scene.ply"), cams.intrinsics[0], cams.poses[:1])[0][inner].mean(0)
    after = render_views(load_ply(out / "scene.ply"), cams.intrinsics[0], cams.poses[:1])[0][inner].mean(0)
    assert after[0] - after[1:].mean() > 0.4, after
    assert before[0] - before[1:].mean() < 0.2, before


@pytest.mark.slow
def test_edit_with_an_inpainting_model(scene, tmp_path):
    """--prompt + --inpaint: a diffusers inpainting pipeline (tiny, random, built here) repaints the
    masked pixels (exactly its own output there); the rest of the input view is untouched."""
    pytest.importorskip("diffusers")
    import torch
    from _tiny_diffusers import build_tiny_pipeline
    from diffusers import AutoPipelineForInpainting

    root, gen, _, mask = scene
    model = build_tiny_pipeline(tmp_path / "inpaint", inpaint=True)
    out = tmp_path / "edited"
    assert main(["edit", str(gen), "--mask", str(root / "mask.png"), "--prompt", "the car", "--inpaint", str(model),
                 "--inpaint-steps", "2", "--seed", "5", "-o", str(out), "-q"]) == 0
    old0, new0 = _png(gen / "views" / "0000.png"), _png(out / "views" / "0000.png")
    assert np.array_equal(new0[~mask], old0[~mask])
    pipe = AutoPipelineForInpainting.from_pretrained(str(model), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt="the car", image=Image.fromarray(old0), mask_image=Image.fromarray(mask.astype(np.uint8) * 255),
               num_inference_steps=2, guidance_scale=7.5, height=H, width=W, strength=1.0,
               generator=torch.Generator().manual_seed(5), output_type="np").images[0]
    ref = (np.clip(ref, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(new0[mask], ref[mask])
    assert (out / "views" / "0003.png").read_bytes() == (gen / "views" / "0003.png").read_bytes()


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("garbage_mask", ["--image", "{root}/red.png"], "cannot read image"),
        ("small_mask", ["--image", "{root}/red.png"], "but the views are 96x72"),
        ("empty_mask", ["--image", "{root}/red.png"], "selects no pixel"),
        ("", ["--prompt", "  ", "--inpaint", "{tmp}"], "--prompt is empty"),
        ("", ["--prompt", "a red box"], "needs --inpaint"),
        ("", ["--image", "{root}/red.png", "--prompt", "x"], "not both or neither"),
        ("", [], "not both or neither"),
        ("", ["--image", "{root}/red.png", "--inpaint", "{tmp}"], "--inpaint repaints from a --prompt"),
        ("small_image", ["--image", "{tmp}/small.png"], "replacement small.png is 48x36"),
        ("not_generate", ["--image", "{root}/red.png"], "not a see3d generate output"),
    ],
)
def test_edit_bad_input_one_line_no_output(scene, tmp_path, capsys, setup, args, message):
    from see3d.io import save_image

    root, gen, _, _ = scene
    mask = root / "mask.png"
    folder = gen
    if setup == "garbage_mask":
        mask = tmp_path / "m.png"
        mask.write_bytes(b"not a png at all")
    elif setup == "small_mask":
        mask = tmp_path / "m.png"
        save_image(mask, np.full((36, 48, 3), 255, np.uint8))
    elif setup == "empty_mask":
        mask = tmp_path / "m.png"
        save_image(mask, np.zeros((H, W, 3), np.uint8))
    elif setup == "small_image":
        save_image(tmp_path / "small.png", np.zeros((36, 48, 3), np.uint8))
    elif setup == "not_generate":
        folder = tmp_path / "empty"
        folder.mkdir()
    out = tmp_path / "out"
    argv = ["edit", str(folder), "--mask", str(mask), *[a.format(root=root, tmp=tmp_path) for a in args], "-o", str(out), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
