"""``see3d generate``: one photo -> novel views, transforms.json, video, point cloud (and 3DGS)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError


def _stage_printer(quiet: bool):
    """Print each stage with the time the previous one took."""
    state = {"name": None, "t": time.perf_counter(), "i": 0}

    def on_stage(name: str) -> None:
        now = time.perf_counter()
        if state["name"] is not None and not quiet:
            print(f"      done in {now - state['t']:.2f} s", file=sys.stderr)
        state["i"] += 1
        state.update(name=name, t=now)
        if not quiet:
            print(f"[{state['i']}] {name} ...", file=sys.stderr)

    def finish() -> None:
        on_stage("finished")

    return on_stage, finish


def generate_cmd(
    image: Optional[Path] = typer.Argument(None, help="Input photo (JPEG/PNG). Omit with --example."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: new or empty, or an earlier see3d output with --overwrite; written atomically when the job succeeds."),
    example: Optional[str] = typer.Option(None, "--example", help="Run on a bundled example instead of IMAGE: 'motorcycle' (real Middlebury photo with true depth)."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Metric depth map of IMAGE (.npy metres, or 16-bit PNG with --depth-scale)."),
    depth_scale: Optional[float] = typer.Option(None, "--depth-scale", help="Units per metre of a 16-bit depth PNG (1000 = mm, 256 = KITTI)."),
    depth_model: str = typer.Option("auto", "--depth-model", help="Depth model used when no --depth is given: auto (the best downloaded published model, else the bundled 'tiny' with a warning; `see3d weights list`), a published model name, tiny, or a path (see `see3d depth --help`)."),
    fx: Optional[float] = typer.Option(None, "--fx", help="Focal length x in pixels."),
    fy: Optional[float] = typer.Option(None, "--fy", help="Focal length y in pixels (default: fx)."),
    cx: Optional[float] = typer.Option(None, "--cx", help="Principal point x in pixels (default: image centre)."),
    cy: Optional[float] = typer.Option(None, "--cy", help="Principal point y in pixels (default: image centre)."),
    fov: Optional[float] = typer.Option(None, "--fov", help=f"Field of view in degrees across the longer side (used when no --fx; default guess {60:g})."),
    trajectory: str = typer.Option("orbit", "--trajectory", "-t", help="orbit | dolly | pan | spiral | a pose file (.json list of 4x4 OpenCV c2w, .npy, .txt, or transforms.json); the file's first pose is the input camera."),
    frames: int = typer.Option(12, "--frames", "-n", min=1, max=2000, help="Number of views (the first is the input camera)."),
    fill: str = typer.Option("mvd", "--fill", help="Hole filler: mvd (the multi-view diffusion model, on a CUDA GPU when PyTorch sees one; 17-20 s for the 12-view example on 2 CPU cores) | telea | ns (OpenCV inpainting: a second or two) | auto (= mvd)."),
    fill_model: Optional[str] = typer.Option(None, "--fill-model", help="--fill mvd weights: auto (the default: the See3D release when downloaded and PyTorch sees a CUDA GPU, else the bundled model) | bundled | see3d-single, see3d-sparse, see3d (the release, forced) | a weights folder."),
    fill_max_side: Optional[int] = typer.Option(None, "--fill-max-side", min=16, help="--fill mvd: the model works at most at this many pixels on the longer side (default: the model's, 384 for the bundled one); smaller is faster but loses detail (Middlebury: 256 px -0.16 dB), known pixels keep full resolution."),
    group: Optional[int] = typer.Option(None, "--group", help="--fill mvd: generate this many views at a time, each group warped from the input and the views generated before it (autoregressive, as published); 0 = every view from the input alone. Default: 4 with the See3D release, 0 with the bundled model (1.0 dB better end to end, docs/end_to_end.md)."),
    gaussians: bool = typer.Option(True, "--gaussians/--no-gaussians", help="Fit 3D Gaussian Splatting to the views: scene.ply (open in SuperSplat or `see3d view`), scene.splat, splats.mp4. --no-gaussians skips it."),
    max_size: int = typer.Option(1024, "--max-size", min=16, help="Work at most at this many pixels on the longer side (image, depth and intrinsics are scaled together)."),
    gs_iterations: int = typer.Option(200, "--gs-iterations", min=1, help="Optimisation steps of the 3DGS fit (more = sharper splats, slower; `see3d reconstruct OUT` refits at will)."),
    gs_max_gaussians: int = typer.Option(30_000, "--gs-max-gaussians", min=1, help="Upper limit on the Gaussians of the quick fit (`see3d reconstruct OUT` refits with more)."),
    gs_max_size: int = typer.Option(256, "--gs-max-size", min=16, help="The 3DGS fit works on the views downscaled to at most this many pixels per side (the splat video renders at full size)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text to 3D: make the input photo from this text with a text-to-image model (--t2i), then run the single-image path on it; OUT/input.png keeps the picture."),
    t2i: Optional[str] = typer.Option(None, "--t2i", help="--prompt: text-to-image model, a diffusers pipeline folder or a cached published model (`see3d weights get tiny-sd`; the default name)."),
    t2i_steps: int = typer.Option(25, "--t2i-steps", min=1, max=1000, help="--prompt: denoising steps of the text-to-image model."),
    t2i_size: int = typer.Option(512, "--t2i-size", min=8, max=4096, help="--prompt: side of the square picture, pixels (a multiple of 8)."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="Run every job of a JSON-lines file (one object per line: input | example | prompt, and any option of this command by name) into `OUT/<name>/`; OUT/results.jsonl records each job's status, time and error; a rerun skips finished jobs. Options given beside --batch are every job's defaults."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Turn one photo into novel views along a camera path.

    Writes `OUT/views/*.png`, `masks/*.png` (255 = seen in the input), `depth/*.npy`,
    transforms.json, video.mp4, points.ply and a 3D Gaussian Splatting scene
    (scene.ply, scene.splat, splats.mp4; --no-gaussians skips the fit).

    Example: see3d generate --example motorcycle -o out/
    """
    if batch is not None:
        from see3d.pipeline.batch import batch_from_cli

        return batch_from_cli(batch, out, overwrite, quiet)
    from see3d.camera import Intrinsics
    from see3d.pipeline import GenerateConfig, generate
    from see3d.pipeline.examples import load_example

    # ---- gather and validate all inputs before anything is written
    from see3d.io import check_output

    builtin = ("orbit", "dolly", "pan", "spiral")
    fill_path = Path(fill_model) if fill_model and Path(fill_model).exists() else None
    real_out = check_output(out, inputs=[image, depth, fill_path, None if trajectory in builtin else trajectory], overwrite=overwrite)
    if group is not None and group < 0:
        raise See3DError(f"--group must be >= 0 (0 = every view from the input alone), got {group}")
    if example is not None and image is not None:
        raise See3DError("give either IMAGE or --example, not both")
    if prompt is not None and (image is not None or example is not None or depth is not None):
        raise See3DError("--prompt makes its own input picture; drop IMAGE / --example / --depth")
    source: dict = {}
    keep_images: dict = {}
    if example is not None:
        ex = load_example(example)
        img, true_depth, intr = ex.image, ex.depth, ex.intrinsics
        source = {"example": example, "description": ex.description}
        if depth is not None:
            from see3d.io import load_depth

            true_depth = load_depth(depth, depth_scale)
    elif prompt is not None:
        from see3d.pipeline.text import check_prompt, resolve_diffusers_model, text_to_image

        text = check_prompt(prompt)
        t2i_model = resolve_diffusers_model(t2i, "text-to-image", "--t2i")
        if not quiet:
            print(f"text to image: {text!r} with {t2i_model.path} (seed {seed}, {t2i_steps} steps)", file=sys.stderr)
        img = text_to_image(text, t2i_model, seed=seed, size=t2i_size, steps=t2i_steps, progress=not quiet)
        keep_images["input.png"] = img
        source = {"prompt": text, "t2i": t2i_model.record, "seed": seed, "t2i_steps": t2i_steps, "t2i_size": t2i_size}
        true_depth, intr = None, None
    else:
        if image is None:
            raise See3DError("no input: give IMAGE, --example motorcycle or --prompt TEXT")
        from see3d.io import load_image

        img = load_image(image)
        source = {"image": str(image)}
        true_depth = None
        if depth is not None:
            from see3d.io import load_depth

            true_depth = load_depth(depth, depth_scale)
        intr = None
    H, W = img.shape[:2]
    if fx is not None or fov is not None or intr is None:
        if fx is not None:
            intr = Intrinsics(fx, fy if fy is not None else fx, cx if cx is not None else (W - 1) / 2, cy if cy is not None else (H - 1) / 2, W, H)
        else:
            guess = fov if fov is not None else 60.0
            intr = Intrinsics.from_fov(guess, W, H)
            if cx is not None or cy is not None:
                intr = Intrinsics(intr.fx, intr.fy, cx if cx is not None else intr.cx, cy if cy is not None else intr.cy, W, H)
            if not quiet:
                how = "given" if fov is not None else "GUESSED (no --fx/--fov given)"
                print(f"intrinsics: field of view {guess:g} deg {how} -> focal {intr.fx:.1f} px for {W}x{H}", file=sys.stderr)
    intr.check_principal_point()
    from see3d.pipeline.single_view import fit_size

    if true_depth is not None and true_depth.shape != (H, W):
        raise See3DError(f"depth map size {true_depth.shape[1]}x{true_depth.shape[0]} does not match the image {W}x{H}")
    img, true_depth, intr = fit_size(img, true_depth, intr, max_size)
    H, W = img.shape[:2]
    # ---- models: published ones come from the local cache only (`see3d weights get` downloads)
    from see3d.fill import resolve_fill
    from see3d.weights import resolve_depth, resolve_fill_model

    models: dict = {"depth": {"given": str(depth) if depth is not None else f"example {example}"}} if true_depth is not None else {}
    fill_choice = resolve_fill_model(fill_model) if resolve_fill(fill)[0] == "mvd" else None
    if fill_choice is not None:
        models["fill"] = fill_choice.record
        if not quiet and fill_choice.note:
            print(f"fill model: {fill_choice.note}", file=sys.stderr)
    if true_depth is None:
        from see3d.depth import load_backend, predict_metric_depth

        choice = resolve_depth(depth_model)
        if choice.warning:  # on every run, also with --quiet
            print(choice.warning, file=sys.stderr)
        if not quiet:
            print(f"depth: predicting metric depth with model {choice.record.get('name')!r}", file=sys.stderr)
        true_depth = predict_metric_depth(img, intr, load_backend(choice.spec, **choice.kwargs))
        models["depth"] = choice.record
    if true_depth.shape != (H, W):
        raise See3DError(f"depth map size {true_depth.shape[1]}x{true_depth.shape[0]} does not match the image {W}x{H}")
    cfg = GenerateConfig(
        trajectory=trajectory,
        frames=frames,
        fill=fill,
        fill_model=fill_choice.model if fill_choice is not None else None,
        fill_max_side=fill_max_side,
        group=group,
        seed=seed,
        gaussians=gaussians,
        gs_iterations=gs_iterations,
        gs_max_size=gs_max_size,
        gs_max_gaussians=gs_max_gaussians,
    )
    on_stage, finish = _stage_printer(quiet)
    t0 = time.perf_counter()
    result = generate(img, true_depth, intr, real_out, cfg, on_stage=on_stage, progress=not quiet, source=source, models=models, keep_images=keep_images)
    finish()
    if not quiet:
        print(f"wrote {out} ({len(result.views)} views) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def register(app: typer.Typer, groups: dict) -> None:
    app.command("generate")(generate_cmd)
