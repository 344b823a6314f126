"""End-to-end benchmark: photos in, 3DGS out, scored on views nobody generated from.

Part 1, single view (held-out ``see3d.synth`` scenes): one input view -> depth (true, the
bundled ``tiny`` model, or the tiny model's depth rescaled to the true median) -> ``see3d generate``'s orbit views (warp + fill: the bundled multi-view
model filling every view from the input alone (its default) or autoregressively in groups of 4,
Telea, or no filling with the holes masked out of the fit) -> 3DGS fit on those views ->
renders at true cameras along an orbit about the input (other angles than the generated ones),
PSNR / SSIM against the scene's true renders there.

Part 2, sparse views: 3 input views -> held-out views of the same capture, 3DGS without
densification (random initialisation, as ``see3d reconstruct --train-views``; and initialised
from the inputs' aligned depth), and with densification (``--densify N``: bundled model, and on
synth also with the true depth), on synth orbits and on the real ``../shared/data/fox`` photos.

    python benchmarks/end_to_end.py                       # full setting
    python benchmarks/end_to_end.py --scenes 2 --size 96 --iterations 300 --sparse-scenes 2 --fox-size 160

Prints markdown tables (and writes them with ``--out FILE.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOX = ROOT.parent / "shared" / "data" / "fox"
SKY_M = 100.0  #: true depth of the sky for the single-view warps (generate takes finite depth)


def _score(renders: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    from see3d.gs.metrics import psnr, ssim

    return float(np.mean([psnr(r, t) for r, t in zip(renders, truth)])), float(np.mean([ssim(r, t) for r, t in zip(renders, truth)]))


# --------------------------------------------------------------------------- part 1
def single_view(seed: int, kind: str, size: int, frames: int, eval_frames: int, iterations: int, log) -> dict:
    from see3d.camera import TrajectoryConfig, make_trajectory
    from see3d.gs import GSTrainConfig, fit_gaussians, render_views
    from see3d.gs.reconstruct import fuse_point_cloud
    from see3d.pipeline.single_view import GenerateConfig, generate_views
    from see3d.pipeline.sparse import estimate_depths
    from see3d.synth import render, render_clip

    clip = render_clip(seed, frames=2, size=size, kind=kind, trajectory="random")
    img, c2w, K = clip.rgb[0], clip.poses[0], clip.intrinsics
    true_d = np.where(np.isfinite(clip.depth[0]), clip.depth[0], SKY_M).astype(np.float32)
    # evaluation cameras: an orbit about the input at the true median depth, the input itself left out,
    # at other angles than the generated views'
    fin = clip.depth[0][np.isfinite(clip.depth[0])]
    eval_rel = make_trajectory("orbit", float(np.median(fin)), TrajectoryConfig(frames=eval_frames))[1:]
    eval_w = np.stack([c2w @ p for p in eval_rel])
    truth = np.stack([render(clip.scene, K, p).rgb for p in eval_w])
    tiny = estimate_depths(img[None], [K], "tiny")[0]
    ok = (tiny > 0) & np.isfinite(clip.depth[0])
    # the tiny model's shape with the true scale: separates its scale error from the rest
    scaled = tiny * float(np.median(clip.depth[0][ok] / tiny[ok]))
    depths = {"true": true_d, "tiny": tiny, "tiny x true median scale": scaled}
    rows = {}
    variants = (("true", "mvd"), ("true", "mvd groups of 4"), ("true", "telea"), ("true", "none"), ("tiny", "mvd"), ("tiny x true median scale", "mvd"))
    for depth_name, fill in variants:
        t0 = time.perf_counter()
        # "mvd": generate's default for the bundled model (every view from the input alone, --group 0);
        # "mvd groups of 4": autoregressive (--group 4, the default with the See3D release)
        gcfg = GenerateConfig(frames=frames, fill={"none": "telea", "mvd groups of 4": "mvd"}.get(fill, fill), gaussians=False, seed=0,
                              group=4 if fill == "mvd groups of 4" else None)  # fmt: skip
        res = generate_views(img, depths[depth_name], K, gcfg)
        poses_w = np.stack([c2w @ p for p in res.poses])
        pw = None
        d_init = res.depths
        if fill == "none":  # the holes stay out of the fit and out of the initial points
            pw = (res.masks > 0.5).astype(np.float32)
            d_init = np.where(res.masks > 0.5, res.depths, 0.0)
        pts, cols = fuse_point_cloud(res.views, d_init, K, poses_w, max_points=15_000, seed=0)
        cfg = GSTrainConfig.for_iterations(iterations, sh_degree=0, opacity_reset_every=0, max_gaussians=30_000, seed=0)
        model = fit_gaussians(res.views, K, poses_w, init_points=pts, init_colors=cols, config=cfg, pixel_weights=pw)
        ps, ss = _score(render_views(model, K, eval_w), truth)
        rows[f"{depth_name}/{fill}"] = {"psnr": ps, "ssim": ss, "seconds": time.perf_counter() - t0}
        log(f"  single {kind} {seed} depth={depth_name} fill={fill}: {ps:.2f} dB SSIM {ss:.3f} ({time.perf_counter() - t0:.0f} s)")
    return rows


# --------------------------------------------------------------------------- part 2
def sparse_views(views, train_idx, iterations: int, densify: int, log, label: str, depths=None) -> dict:
    from see3d.gs.train import GSTrainConfig
    from see3d.pipeline.sparse import SparseConfig, reconstruct_sparse

    variants = [("3DGS, random init", None, False, None), ("3DGS, init from aligned tiny depth", None, True, None),
                (f"densify {densify}, bundled model, tiny depth", SparseConfig(densify=densify, fill="mvd"), None, None)]
    if depths is not None:  # the control: the same start from the true depth, no generated views
        variants.append(("3DGS, init from true depth", None, True, depths))
        variants.append((f"densify {densify}, bundled model, true depth", SparseConfig(densify=densify, fill="mvd"), None, depths))
    rows = {}
    for name, scfg, di, dep in variants:
        cfg = GSTrainConfig.for_iterations(iterations, sh_degree=0, max_gaussians=60_000, random_init_points=10_000, seed=0)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as td:
            r = reconstruct_sparse(views, Path(td) / "out", cfg, train_idx, scfg, depths=dep, depth_init=di)
        m = r.metrics
        rows[name] = {"psnr": m["heldout"]["psnr"], "ssim": m["heldout"]["ssim"], "train_psnr": m["train"]["psnr"],
                      "seconds": time.perf_counter() - t0, "heldout_views": m["heldout_views"]}
        log(f"  sparse {label} {name}: {rows[name]['psnr']:.2f} dB SSIM {rows[name]['ssim']:.3f} ({rows[name]['seconds']:.0f} s)")
    return rows


def _posed_synth(seed: int, frames: int, size: int):
    from see3d.gs.reconstruct import PosedViews
    from see3d.synth import render_clip

    clip = render_clip(seed, frames=frames, size=size, kind="objects", trajectory="orbit", motion=2.0)
    pv = PosedViews(clip.rgb.astype(np.float32), [clip.intrinsics] * frames, clip.poses, [f"{i:03d}" for i in range(frames)], source=f"synth {seed}")
    return pv, clip.depth


def _mean_rows(runs: list[dict]) -> dict:
    keys = runs[0].keys()
    return {k: {m: float(np.mean([r[k][m] for r in runs])) for m in ("psnr", "ssim", "seconds")} for k in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=4, help="held-out synth scenes of the single-view part (half rooms, half objects)")
    ap.add_argument("--size", type=int, default=128, help="synth image size (px)")
    ap.add_argument("--frames", type=int, default=12, help="views generate makes from the one input")
    ap.add_argument("--eval-frames", type=int, default=9, help="orbit cameras the single-view scene is scored at (the input's excluded)")
    ap.add_argument("--iterations", type=int, default=500, help="3DGS steps of every fit")
    ap.add_argument("--sparse-scenes", type=int, default=3, help="synth orbits of the sparse-view part")
    ap.add_argument("--sparse-frames", type=int, default=12, help="frames per synth orbit (3 inputs, the rest held out)")
    ap.add_argument("--densify", type=int, default=8, help="novel views of the densified runs")
    ap.add_argument("--fox-size", type=int, default=240, help="longer side of the fox photos (px); 0 skips the fox")
    ap.add_argument("--fox-views", default="0,8,16", help="the 3 fox input views")
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    a = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t_all = time.perf_counter()
    results: dict = {"args": {k: str(v) for k, v in vars(a).items()}}

    single = []
    for i in range(a.scenes):
        kind = "room" if i % 2 == 0 else "objects"
        single.append(single_view(9100 + i, kind, a.size, a.frames, a.eval_frames, a.iterations, log))
    if single:
        results["single_view"] = _mean_rows(single)

    synth = []
    for i in range(a.sparse_scenes):
        pv, depth = _posed_synth(9200 + i, a.sparse_frames, a.size)
        train = [0, a.sparse_frames // 3, 2 * a.sparse_frames // 3]
        synth.append(sparse_views(pv, train, a.iterations, a.densify, log, f"synth {9200 + i}", depths=depth[train]))
    if synth:
        results["sparse_synth"] = _mean_rows(synth)

    if a.fox_size and (FOX / "transforms.json").is_file():
        from see3d.gs.reconstruct import load_posed_views, parse_view_indices

        pv = load_posed_views(FOX, max_size=a.fox_size)
        results["sparse_fox"] = sparse_views(pv, parse_view_indices(a.fox_views, len(pv)), a.iterations, a.densify, log, "fox")
    elif a.fox_size:
        log(f"fox photos not found at {FOX}: skipped")
    results["seconds"] = time.perf_counter() - t_all

    def table(title, rows, note=""):
        print(f"\n### {title}{note}\n\n| variant | PSNR | SSIM | time per run |\n|---|---|---|---|")
        for k, v in rows.items():
            print(f"| {k} | {v['psnr']:.2f} dB | {v['ssim']:.3f} | {v['seconds']:.0f} s |")

    if "single_view" in results:
        table(f"Single view -> {a.frames} generated views -> 3DGS, scored at {a.eval_frames - 1} orbit cameras (depth/fill)",
              results["single_view"], f" - {a.scenes} synth scenes, {a.size} px, {a.iterations} steps")
    if "sparse_synth" in results:
        table("3 views -> 3DGS, held-out views of synth orbits", results["sparse_synth"],
              f" - {a.sparse_scenes} scenes x {a.sparse_frames - 3} held out, {a.size} px, {a.iterations} steps")
    if "sparse_fox" in results:
        n = next(iter(results["sparse_fox"].values()))["heldout_views"]
        table("3 views -> 3DGS, held-out fox photos", results["sparse_fox"], f" - inputs {a.fox_views}, {n} held out, {a.fox_size} px, {a.iterations} steps")
    print(f"\ntotal {results['seconds']:.0f} s")
    if a.out:
        a.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
