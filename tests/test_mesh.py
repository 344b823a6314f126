"""`see3d mesh`: TSDF fusion + marching cubes against the exact geometry of synth scenes."""

import numpy as np
import pytest

from see3d.cli import main
from see3d.io import read_transforms_json
from see3d.mesh import fuse_depths, read_mesh
from see3d.mesh.eval import mesh_vs_scene, surface_points
from see3d.synth import make_scene

SEED, FRAMES, W, H = 3, 8, 128, 96


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """`see3d synth` output: a room seen from 8 hand-held views (exact depth), and its scene."""
    out = tmp_path_factory.mktemp("mesh") / "room"
    assert main(["synth", "-o", str(out), "--seed", str(SEED), "--frames", str(FRAMES), "--size", str(W), "--height", str(H), "-q"]) == 0
    cams = read_transforms_json(out / "transforms.json")
    depths = np.stack([np.load(out / "depth" / f"{p.stem}.npy") for p in cams.image_paths])
    gt = surface_points(depths, cams.intrinsics[0], cams.poses, 30_000)
    return out, make_scene(SEED, "room"), cams, depths, gt


def test_mesh_of_exact_depths_matches_the_true_surface(room, tmp_path):
    """Floor measured on 2026-12-06 (this scene, 8 views of 128x96, --resolution 128 -> voxel
    2.7 cm): Chamfer 3.9 mm (accuracy 1.8, completeness 6.0 mm, of which ~5 mm is the spacing of
    the 200k mesh samples), normal consistency 0.969; asserted with a margin."""
    folder, scene, cams, depths, gt = room
    out = tmp_path / "room.ply"
    assert main(["mesh", str(folder), "-o", str(out), "--resolution", "128", "-q"]) == 0
    mesh = read_mesh(out)
    assert len(mesh.faces) > 20_000 and mesh.colors is not None
    m = mesh_vs_scene(mesh, scene, gt, n_samples=200_000)
    assert m["chamfer_m"] < 0.0055, m
    assert m["accuracy_p90_m"] < 0.006, m
    assert m["normal_consistency"] > 0.95, m
    # a coarser grid is farther from the truth: the voxel size sets the error
    coarse, vol_c = fuse_depths(np.zeros((FRAMES, H, W, 3), np.float32), depths, cams.intrinsics, cams.poses, resolution=48)
    mc = mesh_vs_scene(coarse, scene, gt, 50_000)
    assert mc["accuracy_m"] > 1.5 * m["accuracy_m"], (mc, m)
    # facets face the cameras that saw them (normals point to free space)
    pts, nrm = mesh.sample(20_000)
    to_cam = cams.poses[:, :3, 3].mean(0) - pts
    assert np.mean(np.einsum("ij,ij->i", nrm, to_cam) > 0) > 0.9


def test_mesh_colours_are_the_views_colours(room, tmp_path):
    """Vertex colours come from the views: projected back into view 0 they match its pixels."""
    from see3d.camera import project_points
    from see3d.io import load_image

    folder, scene, cams, depths, _ = room
    out = tmp_path / "room.ply"
    assert main(["mesh", str(folder), "-o", str(out), "--resolution", "96", "-q"]) == 0
    mesh = read_mesh(out)
    img = load_image(cams.image_paths[0]).astype(np.float64)
    uv, z = project_points(mesh.vertices, cams.intrinsics[0], cams.poses[0])
    u, v = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    ok = (z > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    ok[ok] &= np.abs(depths[0][v[ok], u[ok]] - z[ok]) < 0.02  # visible in view 0
    assert ok.sum() > 500
    err = np.abs(mesh.colors[ok].astype(np.float64) - img[v[ok], u[ok]]).mean()
    spread = np.abs(img[v[ok], u[ok]] - img[v[ok], u[ok]].mean(0)).mean()
    assert err < 0.5 * spread, (err, spread)


def test_wrong_depths_score_worse(room):
    """The metric sees a 5 % depth-scale error (a wrong mesh cannot pass the floor)."""
    _, scene, cams, depths, gt = room
    imgs = np.zeros((FRAMES, H, W, 3), np.float32)
    good, _ = fuse_depths(imgs, depths, cams.intrinsics, cams.poses, resolution=64)
    bad, _ = fuse_depths(imgs, depths * 1.05, cams.intrinsics, cams.poses, resolution=64)
    g, b = mesh_vs_scene(good, scene, gt, 30_000), mesh_vs_scene(bad, scene, gt, 30_000)
    assert b["chamfer_m"] > 3 * g["chamfer_m"], (g, b)


def test_mesh_glb(room, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    folder = room[0]
    assert main(["mesh", str(folder), "-o", str(tmp_path / "m.ply"), "--resolution", "64", "-q"]) == 0
    assert main(["mesh", str(folder), "-o", str(tmp_path / "m.glb"), "--resolution", "64", "-q"]) == 0
    ply, glb = read_mesh(tmp_path / "m.ply"), trimesh.load(tmp_path / "m.glb", force="mesh", process=False)
    assert len(glb.faces) == len(ply.faces) and len(glb.vertices) == len(ply.vertices)
    assert np.allclose(np.sort(glb.vertices, axis=0), np.sort(ply.vertices, axis=0), atol=1e-5)


def test_mesh_from_gaussians(room, tmp_path):
    """--depth-from gaussians renders the depths from the folder's scene.ply: Gaussians placed on
    the true surface give a mesh on the true surface."""
    import shutil

    from see3d.gs import GaussianModel, save_ply
    from see3d.gs.reconstruct import fuse_point_cloud

    folder, scene, cams, depths, gt = room
    work = tmp_path / "g"
    work.mkdir()
    shutil.copy(folder / "transforms.json", work)
    shutil.copytree(folder / "images", work / "images")
    imgs = np.zeros((FRAMES, H, W, 3), np.float32)
    pts, cols = fuse_point_cloud(imgs, depths, cams.intrinsics[0], cams.poses, max_points=120_000)
    save_ply(GaussianModel.from_points(pts, cols, opacity=0.95, scale_factor=0.7), work / "scene.ply")
    assert main(["mesh", str(work), "-o", str(tmp_path / "x.ply"), "--depth-from", "views", "-q"]) == 2
    out = tmp_path / "g.ply"
    assert main(["mesh", str(work), "-o", str(out), "--resolution", "96", "-q"]) == 0  # auto: no depth/ -> gaussians
    m = mesh_vs_scene(read_mesh(out), scene, gt, 100_000)
    assert m["chamfer_m"] < 0.03 and m["normal_consistency"] > 0.85, m


@pytest.mark.slow
def test_mesh_of_a_generate_output(tmp_path):
    """One synth view through `see3d generate` (true depth, Telea, no 3DGS) then `see3d mesh`
    with only the photo's pixels weighted: the mesh lies on the true surface."""
    from see3d.io import save_image, to_uint8
    from see3d.synth import render_clip

    clip = render_clip(seed=11, frames=1, size=(96, 128), kind="room")
    k = clip.intrinsics
    save_image(tmp_path / "in.png", to_uint8(clip.rgb[0]))
    np.save(tmp_path / "in.npy", clip.depth[0])
    out = tmp_path / "gen"
    args = ["generate", str(tmp_path / "in.png"), "--depth", str(tmp_path / "in.npy"), "--fx", str(k.fx), "--fy", str(k.fy),
            "--frames", "6", "--fill", "telea", "--no-gaussians", "-q", "-o", str(out)]
    assert main(args) == 0
    mesh_out = tmp_path / "gen.ply"
    assert main(["mesh", str(out), "-o", str(mesh_out), "--generated-weight", "0", "--resolution", "96", "-q"]) == 0
    mesh = read_mesh(mesh_out)
    # generate's world is the input camera's frame: move the mesh into the scene's
    mesh.vertices = mesh.vertices @ clip.poses[0][:3, :3].T + clip.poses[0][:3, 3]
    gt = surface_points(clip.depth[:1], k, clip.poses[:1], 20_000)
    m = mesh_vs_scene(mesh, clip.scene, gt, 100_000)
    assert m["accuracy_m"] < 0.02 and m["completeness_m"] < 0.03, m


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("none", [], "transforms.json"),
        ("room", ["-o", "{tmp}/m.stl"], "unknown format"),
        ("nodepth", [], "depth map"),
        ("room", ["--voxel-size", "-1"], "voxel-size"),
    ],
)
def test_mesh_bad_input_one_line_no_output(room, tmp_path, capsys, setup, args, message):
    import shutil

    folder = tmp_path / "in"
    if setup == "none":
        folder.mkdir()
    else:
        shutil.copytree(room[0], folder)
        if setup == "nodepth":
            next((folder / "depth").glob("*.npy")).unlink()
    out = tmp_path / "m.ply"
    argv = ["mesh", str(folder), *[a.format(tmp=tmp_path) for a in args]]
    if "-o" not in argv:
        argv += ["-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists() and not (tmp_path / "m.stl").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]


def test_numba_integration_matches_the_numpy_reference(room):
    """The compiled TSDF update is the NumPy reference's (same values and weights)."""
    from see3d.mesh import TSDFVolume
    from see3d.mesh.tsdf import auto_bounds

    _, _, cams, depths, _ = room
    lo, hi = auto_bounds(depths, cams.intrinsics, cams.poses)
    vols = {b: TSDFVolume.empty(lo, hi, float(np.max(hi - lo)) / 40) for b in ("numba", "numpy")}
    w = np.random.default_rng(0).uniform(0, 1, depths.shape[1:]).astype(np.float32)
    for i in range(3):
        for b, vol in vols.items():
            vol.integrate(depths[i], cams.intrinsics[i], cams.poses[i], pixel_weight=w if i == 1 else None, backend=b)
    a, b = vols["numba"], vols["numpy"]
    assert (a.weight > 0).mean() > 0.2
    same = (a.weight > 0) == (b.weight > 0)
    assert same.mean() > 0.9999  # rounding ties at pixel borders may differ
    both = (a.weight > 0) & (b.weight > 0)
    assert np.allclose(a.weight[both], b.weight[both], atol=1e-5) and np.allclose(a.tsdf[both], b.tsdf[both], atol=1e-4)
