"""3DGS fit figures: the synthetic 30-view scene and the real fox photos (held-out PSNR/SSIM).

    python benchmarks/gs_fit.py synth [--iterations N] [--size 256]
    python benchmarks/gs_fit.py fox   [--iterations N] [--max-size 320]

``synth``: ``see3d.synth.render_clip`` (objects scene, orbit), 30 views; every 5th view held out;
initialisation from the fused point cloud of the training views' true depth. Baseline printed
beside it: the initial point cloud rendered as Gaussians before any optimisation.
``fox``: ../shared/data/fox, every other view held out (``--eval-every 2``), random init.
Baseline: a constant image of the mean training colour.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def synth_views(size: int, frames: int = 30, seed: int = 0):
    from see3d.synth import render_clip

    clip = render_clip(seed=seed, frames=frames, size=size, kind="objects", trajectory="orbit")
    return clip


def run_synth(args) -> dict:
    from see3d.gs import GaussianModel, GSTrainConfig, evaluate_views, fit_gaussians
    from see3d.gs.reconstruct import fuse_point_cloud, holdout_split, peak_rss_mib

    clip = synth_views(args.size)
    imgs = np.asarray(clip.rgb, dtype=np.float32)
    if imgs.dtype != np.float32 or imgs.max() > 1.0:
        imgs = imgs.astype(np.float32) / 255.0
    n = len(imgs)
    train, test = holdout_split(n, 5)
    intr = clip.intrinsics
    depth = np.where(np.isfinite(clip.depth), clip.depth, 0.0)
    pts, cols = fuse_point_cloud(imgs[train], depth[train], intr, clip.poses[train], max_points=args.init_points)
    cfg = GSTrainConfig.for_iterations(args.iterations, sh_degree=args.sh_degree, max_gaussians=args.max_gaussians)
    base = evaluate_views(GaussianModel.from_points(pts, cols, args.sh_degree, opacity=0.9), imgs[test], intr, clip.poses[test])
    t0 = time.perf_counter()
    model = fit_gaussians(imgs[train], intr, clip.poses[train], pts, cols, cfg, progress=True)
    fit_s = time.perf_counter() - t0
    ev = evaluate_views(model, imgs[test], intr, clip.poses[test])
    return {"scene": "synth objects/orbit seed 0", "size": args.size, "views": n, "train": len(train), "heldout": len(test),
            "iterations": args.iterations, "fit_seconds": fit_s, "gaussians": len(model),
            "heldout_psnr": ev["psnr"], "heldout_ssim": ev["ssim"], "baseline_init_psnr": base["psnr"], "baseline_init_ssim": base["ssim"],
            "peak_memory_mib": peak_rss_mib(), "threads": torch.get_num_threads()}


def run_fox(args) -> dict:
    from see3d.gs import GSTrainConfig
    from see3d.gs.metrics import psnr, ssim
    from see3d.gs.reconstruct import holdout_split, load_posed_views, reconstruct

    data = Path(args.data) / "fox"
    if not data.is_dir():
        sys.exit(f"fox data not found at {data}")
    pv = load_posed_views(data, max_size=args.max_size, progress=True)
    cfg = GSTrainConfig.for_iterations(args.iterations, sh_degree=args.sh_degree, max_gaussians=args.max_gaussians, random_init_points=args.init_points)
    out = Path(args.out)
    t0 = time.perf_counter()
    res = reconstruct(pv, out, cfg, eval_every=2, progress=True)
    m = res.metrics
    train, test = holdout_split(len(pv), 2)
    mean = pv.images[train].mean(axis=(0, 1, 2))
    base_p = float(np.mean([psnr(np.broadcast_to(mean, im.shape), im) for im in pv.images[test]]))
    base_s = float(np.mean([ssim(np.broadcast_to(mean, im.shape).copy(), im) for im in pv.images[test]]))
    return {"scene": "fox", "size": m["image_size"], "views": len(pv), "train": m["train_views"], "heldout": m["heldout_views"],
            "iterations": args.iterations, "fit_seconds": m["fit_seconds"], "total_seconds": time.perf_counter() - t0, "gaussians": m["num_gaussians"],
            "heldout_psnr": m["heldout"]["psnr"], "heldout_ssim": m["heldout"]["ssim"], "train_psnr": m["train"]["psnr"],
            "baseline_mean_colour_psnr": base_p, "baseline_mean_colour_ssim": base_s, "peak_memory_mib": m["peak_memory_mib"], "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["synth", "fox"])
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--max-size", type=int, default=320)
    ap.add_argument("--sh-degree", type=int, default=1)
    ap.add_argument("--max-gaussians", type=int, default=200_000)
    ap.add_argument("--init-points", type=int, default=30_000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "gs_fox"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_synth(args) if args.which == "synth" else run_fox(args)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
