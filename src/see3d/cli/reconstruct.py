"""``see3d reconstruct``: posed photos (transforms.json, COLMAP text, or poses from pycolmap) -> 3D Gaussian Splatting,
optionally densified with generated views (``--densify N``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from see3d.cli._options import overwrite_option, parse_background


def reconstruct_cmd(
    views: Path = typer.Argument(..., help="Folder with transforms.json (or the file itself), a COLMAP text model (cameras.txt, images.txt[, points3D.txt]) and its images, or only photos (posed with pycolmap, extra 'sfm')."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: new or empty, or an earlier see3d output with --overwrite; written atomically when the job succeeds."),
    eval_every: int = typer.Option(0, "--eval-every", min=0, help="Hold out views 0, k, 2k, ... and report their PSNR/SSIM (0: no hold-out)."),
    train_views: str = typer.Option(None, "--train-views", help="Train on these views only (indices in file order, e.g. 0,12,24); every other view is held out and scored."),
    densify: int = typer.Option(0, "--densify", min=0, help="Generate this many novel views between and around the training views (depth, warp, multi-view fill) and fit to all of them (0: off)."),
    fill: str = typer.Option("mvd", "--fill", help="With --densify: hole filler, mvd (the See3D release's sparse variant if installed, else the bundled model), telea, ns or none (holes left out of the fit)."),
    fill_model: Path = typer.Option(None, "--fill-model", help="With --densify --fill mvd: a multi-view diffusion weights folder instead of the default."),
    depth_model: str = typer.Option("tiny", "--depth-model", help="With --densify: metric depth backend (tiny, metric3d-onnx:FILE, hf:DIR, ...), aligned to the poses by triangulated keypoints."),
    generated_weight: float = typer.Option(0.5, "--generated-weight", min=0.01, max=1.0, help="With --densify: loss weight of a generated view (a photo counts 1)."),
    iterations: int = typer.Option(1500, "--iterations", "-i", min=1, help="Optimisation steps."),
    max_size: int = typer.Option(512, "--max-size", min=8, help="Downscale so the longer image side is at most this many pixels."),
    sh_degree: int = typer.Option(1, "--sh-degree", min=0, max=3, help="Spherical-harmonic degree of the colours."),
    max_gaussians: int = typer.Option(200_000, "--max-gaussians", min=1, help="Upper limit on the number of Gaussians."),
    init_points: int = typer.Option(20_000, "--init-points", min=1, help="Random initial Gaussians when the input has no sparse points."),
    background: str = typer.Option("0,0,0", "--background", help="Background colour r,g,b in [0, 1]."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Fit 3D Gaussians to posed photos; distorted photos are undistorted first.

    Writes OUT/scene.ply, scene.splat, points.ply, transforms.json, metrics.json and
    heldout/*.png (render | photo); with --densify also generated/ (views, masks, cameras).
    Examples: see3d reconstruct data/fox -o fox3d --eval-every 2;
    see3d reconstruct data/fox --train-views 0,8,16 --densify 8 -o fox3d
    """
    from see3d.gs.reconstruct import load_posed_views, reconstruct
    from see3d.gs.train import GSTrainConfig

    from see3d.errors import See3DError
    from see3d.io import check_output

    real_out = check_output(out, inputs=[views], overwrite=overwrite)
    bg = parse_background(background)
    if densify and train_views is None:
        raise See3DError("--densify needs --train-views (the input views to densify, e.g. 0,12,24)")
    if train_views is not None and eval_every:
        raise See3DError("give either --train-views or --eval-every, not both")
    from see3d.pipeline.sparse import FILLS

    if fill not in FILLS:
        raise See3DError(f"unknown --fill {fill!r}: use one of {', '.join(FILLS)}")
    if fill_model is not None and not (fill_model / "config.json").is_file():
        raise See3DError(f"--fill-model {fill_model}: no config.json (not a multi-view diffusion weights folder)")
    t0 = time.perf_counter()
    # said even with --quiet: where the poses came from matters for every number that follows
    pv = load_posed_views(views, max_size=max_size, progress=not quiet, on_note=lambda s: print(s, file=sys.stderr))
    train_idx = None
    if train_views is not None:
        from see3d.gs.reconstruct import parse_view_indices

        train_idx = parse_view_indices(train_views, len(pv))
    if not quiet:
        h, w = pv.images.shape[1:3]
        und = ", undistorted" if pv.undistorted else ""
        print(f"{len(pv)} views at {w}x{h}{und} from {pv.source}", file=sys.stderr)
    cfg = GSTrainConfig.for_iterations(
        iterations,
        sh_degree=sh_degree,
        max_gaussians=max_gaussians,
        random_init_points=init_points,
        background=bg,
        seed=seed,
    )
    stage = (lambda s: print(f"-- {s}", file=sys.stderr)) if not quiet else None
    if train_idx is None:
        res = reconstruct(pv, real_out, cfg, eval_every=eval_every, progress=not quiet, on_stage=stage)
    else:
        from see3d.pipeline.sparse import SparseConfig, reconstruct_sparse

        scfg = None
        if densify:
            scfg = SparseConfig(densify=densify, fill=fill, fill_model=None if fill_model is None else str(fill_model),
                                depth_model=depth_model, generated_weight=generated_weight, seed=seed)
        res = reconstruct_sparse(pv, real_out, cfg, train_idx, scfg, depth_model=depth_model, on_stage=stage, progress=not quiet)
    m = res.metrics
    line = f"train PSNR {m['train']['psnr']:.2f} dB SSIM {m['train']['ssim']:.4f}"
    if "heldout" in m:
        line = f"held-out PSNR {m['heldout']['psnr']:.2f} dB SSIM {m['heldout']['ssim']:.4f} ({m['heldout_views']} views); " + line
    print(line)
    if not quiet:
        print(f"wrote {out} ({m['num_gaussians']} Gaussians, peak memory {m['peak_memory_mib']:.0f} MiB) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("reconstruct")(reconstruct_cmd)
