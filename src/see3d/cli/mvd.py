"""``see3d mvd`` (drop-in for the public See3D file layout) and ``see3d train mvd``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError

#: Public See3D contract: a mask pixel > 0.9 * 255 is visible.
MASK_VISIBLE = 0.9 * 255


def read_see3d_folders(refs: Path, warps: Path):
    """Read ``reference_images/*`` and ``warp_images/warp_*.png`` + ``mask_*.png``.

    Returns ``(refs [S, H, W, 3] float, warped [T, H, W, 3] float, masks [T, H, W], ids)``.
    """
    import numpy as np

    from see3d.io import list_images, load_image

    if not refs.is_dir():
        raise See3DError(f"reference folder not found: {refs}")
    if not warps.is_dir():
        raise See3DError(f"warp folder not found: {warps}")
    ref_files = list_images(refs)
    warp_files = sorted(p for p in warps.iterdir() if re.fullmatch(r"warp_(.+)\.(png|jpg|jpeg)", p.name, re.I))
    if not warp_files:
        raise See3DError(f"no warp_*.png files in {warps}")
    ids, ws, ms = [], [], []
    for wf in warp_files:
        key = re.fullmatch(r"warp_(.+)\.(png|jpg|jpeg)", wf.name, re.I).group(1)
        mf = next((warps / f"mask_{key}{s}" for s in (".png", ".jpg", ".jpeg") if (warps / f"mask_{key}{s}").is_file()), None)
        if mf is None:
            raise See3DError(f"{wf.name} has no matching mask_{key}.png in {warps}")
        w = load_image(wf)
        from PIL import Image

        with Image.open(mf) as im:
            m = np.asarray(im.convert("L"), dtype=np.float32)
        if m.shape != w.shape[:2]:
            raise See3DError(f"mask {mf.name} is {m.shape[1]}x{m.shape[0]} but {wf.name} is {w.shape[1]}x{w.shape[0]}")
        ids.append(key)
        ws.append(w.astype(np.float32) / 255.0)
        ms.append((m > MASK_VISIBLE).astype(np.float32))
    shape = ws[0].shape
    for key, w in zip(ids, ws):
        if w.shape != shape:
            raise See3DError(f"warp_{key} is {w.shape[1]}x{w.shape[0]}, the first warp is {shape[1]}x{shape[0]}: all must match")
    rs = []
    for rf in ref_files:
        r = load_image(rf).astype(np.float32) / 255.0
        if r.shape != shape:
            import cv2

            r = cv2.resize(r, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        rs.append(r)
    return np.stack(rs), np.stack(ws), np.stack(ms), ids


def _run_published(model, refs, warps, out, variant, sr, steps, guidance, seed, device, dtype, offload, vae_slicing, vae_tiling, quiet) -> None:
    """``--io published``: the published script's inputs, outputs and grouping (see3d.mvd.release)."""
    import gc

    from see3d.io import atomic_output_dir
    from see3d.mvd.release import (
        default_variant,
        generate_views_published,
        load_release,
        read_published_inputs,
        super_resolve,
        to_pil,
        write_published_outputs,
    )

    inp = read_published_inputs(refs, warps)
    variant = default_variant(len(inp.refs)) if variant == "auto" else variant
    opts = dict(device=device, dtype=dtype, offload=offload, vae_slicing=vae_slicing, vae_tiling=vae_tiling)
    if not quiet:
        print(f"mvd (See3D release, {variant}, published I/O): {len(inp.refs)} reference(s), {len(inp.warps)} warped view(s) at 512x512", file=sys.stderr)
    base = load_release(model, variant, **opts)
    images = to_pil(generate_views_published(base, inp.refs, inp.warps, inp.masks, seed=seed, steps=steps, guidance_scale=guidance, progress=not quiet))
    sr_images = None
    if sr:
        del base
        gc.collect()
        sr_model = load_release(model, "SR", **opts)
        sr_images = super_resolve(sr_model, inp, images, seed=seed, progress=not quiet)
    with atomic_output_dir(out, marker="mvd") as tmp:
        write_published_outputs(tmp, images, inp.warp_names, inp.out_size)
        if sr_images is not None:
            write_published_outputs(tmp, sr_images, inp.warp_names, inp.out_size, prefix="SR_predict_")
    if not quiet:
        print(f"wrote {len(images)} predict_*.jpg{' and SR_predict_*.jpg' if sr else ''} to {out}", file=sys.stderr)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("mvd")
    def mvd_cmd(
        refs: Path = typer.Option(..., "--refs", help="Folder of clean reference images (reference_images/)."),
        warps: Path = typer.Option(..., "--warps", help="Folder with `warp_*.png` and `mask_*.png` (mask > 0.9*255 = visible)."),
        out: Path = typer.Option(Path("predict"), "--out", "-o", help="Output folder for predict_*.png."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder (default: the bundled small model), or the root of the See3D release (unet/, vae/, scheduler/, text_encoder/, tokenizer/, CLIP-ViT-H-14-laion2B-s32B-b79K/)."),
        variant: str = typer.Option("auto", "--variant", help="See3D release: which UNet, single | sparse (auto: single for one reference, sparse for more)."),
        io: str = typer.Option("kept", "--io", help="kept: aspect ratio kept, visible pixels pasted back at full resolution, `predict_<id>.png` (default) | published: the published script's files (512x512, whole generated image, `predict_<warp file>.jpg`; See3D release only)."),
        sr: bool = typer.Option(False, "--sr", help="See3D release, --io published: also run the super-resolution stage (unet/SR at 1024x1024), `SR_predict_<warp file>.jpg`."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Sampling steps (default: the model's; the release: 50, SR 30)."),
        guidance: Optional[float] = typer.Option(None, "--guidance", help="Guidance scale g of (1+g) cond - g uncond (default: the model's; the release: 2.0, SR 1.0)."),
        samples: Optional[int] = typer.Option(None, "--samples", help="Samples averaged per view."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed (same seed, same predictions)."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N (default: CUDA when PyTorch sees it)."),
        dtype: str = typer.Option("auto", "--dtype", help="See3D release: auto (fp16 on CUDA, fp32 on the CPU) | fp32 | fp16 (CUDA only) | bf16."),
        offload: bool = typer.Option(False, "--offload", help="See3D release: model CPU offload (each network on the GPU only while it runs)."),
        vae_slicing: bool = typer.Option(True, "--vae-slicing/--no-vae-slicing", help="See3D release: decode/encode one image at a time (less memory; on by default, as published)."),
        vae_tiling: bool = typer.Option(True, "--vae-tiling/--no-vae-tiling", help="See3D release: tiled VAE for large images (on by default, as published)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
        overwrite: bool = overwrite_option(),
    ) -> None:
        """Fill warped views with the multi-view diffusion model (the public See3D file layout)."""
        from see3d.io import atomic_output_dir, check_output, save_image
        from see3d.mvd.filler import MVDFiller
        from see3d.mvd.release import is_release_root

        if io not in ("kept", "published"):
            raise See3DError(f"--io must be kept or published, got {io!r}")
        if variant not in ("auto", "single", "sparse"):
            raise See3DError(f"--variant must be auto, single or sparse, got {variant!r}")
        release = is_release_root(model)
        if not release and (io == "published" or sr or variant != "auto"):
            raise See3DError("--io published, --sr and --variant need the See3D release folder as --model")
        if sr and io != "published":
            raise See3DError("--sr runs on the published I/O: add --io published")
        real_out = check_output(out, inputs=[refs, warps, model], overwrite=overwrite)
        if io == "published":
            _run_published(model, refs, warps, real_out, variant, sr, steps, guidance, seed, device, dtype, offload, vae_slicing, vae_tiling, quiet)
            return
        r, w, m, ids = read_see3d_folders(refs, warps)
        overrides = {k: v for k, v in (("samples", samples), ("guidance_scale", guidance)) if v is not None}
        if release:
            from see3d.mvd.release import default_variant

            overrides.update(variant=default_variant(len(r)) if variant == "auto" else variant, dtype=dtype, offload=offload,
                             vae_slicing=vae_slicing, vae_tiling=vae_tiling)
        filler = MVDFiller.from_pretrained(model, device=device, **overrides)
        if not quiet:
            print(f"mvd: {len(r)} reference(s), {len(w)} warped view(s) {w.shape[2]}x{w.shape[1]}", file=sys.stderr)
        pred = filler.fill(w, m, refs=r, seed=seed, steps=steps, progress=not quiet)
        with atomic_output_dir(real_out, marker="mvd") as tmp:
            for key, p in zip(ids, pred):
                save_image(tmp / f"predict_{key}.png", p)
        if not quiet:
            print(f"wrote {len(ids)} predict_*.png to {out}", file=sys.stderr)

    @groups["train"].command("mvd")
    def train_mvd_cmd(
        config: Path = typer.Option(..., "--config", help="Training config (.toml or .json), e.g. src/see3d/mvd/configs/mvd_small.toml."),
        data: Optional[str] = typer.Option(None, "--data", help="'synth', 'synth:room,objects', a 'see3d curate' dataset folder (its shards, streamed and shuffled) or a folder of clips / shards (overrides the config)."),
        out: Path = typer.Option(Path("runs/mvd"), "--out", help="Run folder: checkpoints/, model/, loss.csv, loss.png."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Total steps (overrides the config)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Training seed (overrides the config)."),
        batch: Optional[int] = typer.Option(None, "--batch", help="Samples per step and process (overrides the config): with N processes a step sees N x batch samples, so halve it for 2 processes to keep the recipe's batch."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the newest checkpoint in --out."),
        allow_config_change: bool = typer.Option(False, "--allow-config-change", help="Resume even though the config differs from the checkpoint's (seed, lr, size, data...; e.g. the next phase of a recipe); the change is printed and logged in OUT/config_changes.log. Another architecture is always refused."),
        threads: int = typer.Option(0, "--threads", help="CPU threads for torch (0 = torch default)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ) -> None:
        """Train the multi-view diffusion model on pose-free clips (accelerate launch for multi-GPU)."""
        import dataclasses
        import os

        import torch

        from see3d.mvd.train import TrainConfig, list_checkpoints, train

        if threads > 0:
            torch.set_num_threads(threads)
        cfg = TrainConfig.from_file(config)
        changes = {k: v for k, v in (("data", data), ("steps", steps), ("seed", seed), ("batch", batch)) if v is not None}
        if changes:
            cfg = dataclasses.replace(cfg, **changes)
        start = 0
        ck = list_checkpoints(out)
        if resume and ck:
            start = int(ck[-1].name.split("_")[1])
        quiet = quiet or int(os.environ.get("RANK", "0")) > 0  # one bar and one report for a multi-process run
        bar = None
        if not quiet:
            from see3d._progress import progress_bar

            bar = progress_bar(total=cfg.steps, initial=start, desc="train mvd", unit="step")

        def cb(step: int, loss: float) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")

        try:
            train(cfg, out, resume=resume, callback=cb, allow_config_change=allow_config_change)
        finally:
            if bar is not None:
                bar.close()
        if not quiet:
            print(f"model (EMA weights): {out / 'model'}; loss curve: {out / 'loss.png'}", file=sys.stderr)
