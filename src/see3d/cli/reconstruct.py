"""``see3d reconstruct``: posed photos (transforms.json or COLMAP text) -> 3D Gaussian Splatting."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from see3d.cli._options import overwrite_option, parse_background


def reconstruct_cmd(
    views: Path = typer.Argument(..., help="Folder with transforms.json (or the file itself) or a COLMAP text model (cameras.txt, images.txt[, points3D.txt]) and its images."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (replaced atomically when the job succeeds)."),
    eval_every: int = typer.Option(0, "--eval-every", min=0, help="Hold out views 0, k, 2k, ... and report their PSNR/SSIM (0: no hold-out)."),
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
    heldout/*.png (render | photo). Example: see3d reconstruct data/fox -o fox3d --eval-every 2
    """
    from see3d.gs.reconstruct import load_posed_views, reconstruct
    from see3d.gs.train import GSTrainConfig

    from see3d.io import check_output

    real_out = check_output(out, inputs=[views], overwrite=overwrite)
    bg = parse_background(background)
    t0 = time.perf_counter()
    pv = load_posed_views(views, max_size=max_size, progress=not quiet)
    if not quiet:
        h, w = pv.images.shape[1:3]
        note = ", undistorted" if pv.undistorted else ""
        print(f"{len(pv)} views at {w}x{h}{note} from {pv.source}", file=sys.stderr)
    cfg = GSTrainConfig.for_iterations(
        iterations,
        sh_degree=sh_degree,
        max_gaussians=max_gaussians,
        random_init_points=init_points,
        background=bg,
        seed=seed,
    )
    stage = (lambda s: print(f"-- {s}", file=sys.stderr)) if not quiet else None
    res = reconstruct(pv, real_out, cfg, eval_every=eval_every, progress=not quiet, on_stage=stage)
    m = res.metrics
    line = f"train PSNR {m['train']['psnr']:.2f} dB SSIM {m['train']['ssim']:.4f}"
    if "heldout" in m:
        line = f"held-out PSNR {m['heldout']['psnr']:.2f} dB SSIM {m['heldout']['ssim']:.4f} ({m['heldout_views']} views); " + line
    print(line)
    if not quiet:
        print(f"wrote {out} ({m['num_gaussians']} Gaussians, peak memory {m['peak_memory_mib']:.0f} MiB) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("reconstruct")(reconstruct_cmd)
