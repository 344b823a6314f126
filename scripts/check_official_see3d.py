#!/usr/bin/env python
"""Run the published See3D pipeline and see3d on the same tiny release replica and compare.

    python scripts/check_official_see3d.py --official /path/to/See3D [--steps 5] [--size 64] [--seed 0]

``--official``: a checkout of https://github.com/baaivision/See3D (52594ef was checked). Its
``mv_unet.py`` and ``pipeline_mvd_warp_mix_classifier.py`` are imported from there (nothing of it
is vendored here); they need ``einops`` (``pip install einops``, e.g. with ``--target DIR`` and
``PYTHONPATH=DIR``). Its ``xformers`` attention is replaced by plain softmax attention and its
unused ``kiui`` import by a stand-in, when those packages are not installed.

Both run on the CPU in fp32 from one tiny replica of the release folder
(:func:`see3d.mvd.replica.make_tiny_release`, written to ``--replica`` or a temporary folder) on the
same random reference / warps / masks. The published call gets ``torch.manual_seed(seed)`` (it draws
everything from the global RNG); see3d draws the same noise in the same order from its own seeded
generator. Printed: the largest absolute difference of the target latents and of the decoded
images, for see3d's reference attention and its sdpa attention. Exit status 1 when the latents
differ by more than ``--tol`` (default 1e-4).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import types
from pathlib import Path


def _install_stand_ins() -> list[str]:
    """``xformers.ops.memory_efficient_attention`` as plain softmax attention; ``kiui.cam`` stand-in."""
    import torch

    done = []
    try:
        import xformers.ops  # noqa: F401
    except ImportError:
        def memory_efficient_attention(q, k, v, attn_bias=None, op=None):
            w = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            return w.softmax(dim=-1) @ v

        xf = types.ModuleType("xformers")
        ops = types.ModuleType("xformers.ops")
        ops.memory_efficient_attention = memory_efficient_attention
        xf.ops = ops
        sys.modules["xformers"], sys.modules["xformers.ops"] = xf, ops
        done.append("xformers -> softmax attention")
    try:
        import kiui.cam  # noqa: F401
    except ImportError:
        kiui = types.ModuleType("kiui")
        cam = types.ModuleType("kiui.cam")

        def orbit_camera(*a, **k):  # only the camera-conditioned MVDream path uses it; See3D passes camera=None
            raise RuntimeError("kiui.cam.orbit_camera stand-in")

        cam.orbit_camera = orbit_camera
        kiui.cam = cam
        sys.modules["kiui"], sys.modules["kiui.cam"] = kiui, cam
        done.append("kiui.cam stand-in")
    del torch
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", required=True, type=Path, help="checkout of baaivision/See3D")
    ap.add_argument("--replica", type=Path, default=None, help="tiny release folder to use or create (default: a temporary one)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--size", type=int, default=64, help="image side (multiple of 16)")
    ap.add_argument("--refs", type=int, default=1)
    ap.add_argument("--targets", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="single", choices=["single", "sparse", "SR"],
                    help="which UNet of the replica; SR runs pipeline_mvd_warp_mix_classifier_SR.py (clean condition)")
    ap.add_argument("--guidance", type=float, default=None, help="default: 2.0, SR 1.0 (the published calls)")
    ap.add_argument("--prediction-type", default="v_prediction", choices=["v_prediction", "epsilon", "sample"])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--next-timestep-rule", action="store_true",
                    help="run see3d with its own DDIM rule (to the next listed timestep, final alpha_bar 1) to see what the published rule changes")
    args = ap.parse_args(argv)

    official = args.official.resolve()
    for f in ("mv_unet.py", "pipeline_mvd_warp_mix_classifier.py", "pipeline_mvd_warp_mix_classifier_SR.py"):
        if not (official / f).is_file():
            print(f"error: {official} is not a See3D checkout (no {f})", file=sys.stderr)
            return 2
    import torch

    torch.set_grad_enabled(False)
    from diffusers import AutoencoderKL, DDIMScheduler  # before the stand-ins: diffusers probes for xformers
    from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

    stand_ins = _install_stand_ins()
    sys.path.insert(0, str(official))
    from mv_unet import MultiViewUNetModel

    if args.variant == "SR":
        from pipeline_mvd_warp_mix_classifier_SR import MVDreamPipeline
    else:
        from pipeline_mvd_warp_mix_classifier import MVDreamPipeline
    if args.guidance is None:
        args.guidance = 1.0 if args.variant == "SR" else 2.0

    from see3d.mvd.release import CLIP_FOLDER, generate_views_published, load_release
    from see3d.mvd.replica import make_tiny_release
    from see3d.mvd.unet import set_attention_impl

    tmp = None
    root = args.replica
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name) / "release"
    if not (root / "unet").is_dir():
        make_tiny_release(root, seed=args.seed, prediction_type=args.prediction_type)
    print(f"replica: {root}; stand-ins: {', '.join(stand_ins) or 'none'}")

    # ---- inputs: references, warps with black holes, masks (1 = visible)
    g = torch.Generator().manual_seed(1234)
    s, t, n = args.refs, args.targets, args.size
    refs = torch.rand(s, 3, n, n, generator=g) * 2 - 1
    warps = torch.rand(t, 3, n, n, generator=g) * 2 - 1
    masks = torch.ones(t, 1, n, n)
    masks[:, :, n // 4 : n // 2, n // 8 : (3 * n) // 4] = 0
    warps = torch.where(masks > 0, warps, torch.full_like(warps, -1.0))

    # ---- the published pipeline, built as mv_diffusion.py builds it (fp32, CPU)
    unet = MultiViewUNetModel.from_pretrained(str(root / "unet" / args.variant / "ema-checkpoint")).eval()
    sched = DDIMScheduler.from_pretrained(str(root / "scheduler"))
    pipe = MVDreamPipeline(
        vae=AutoencoderKL.from_pretrained(str(root / "vae")).eval(),
        unet=unet,
        tokenizer=CLIPTokenizer.from_pretrained(str(root / "tokenizer")),
        text_encoder=CLIPTextModel.from_pretrained(str(root / "text_encoder")).eval(),
        scheduler=sched,
        feature_extractor=CLIPImageProcessor.from_pretrained(str(root / CLIP_FOLDER)),
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(str(root / CLIP_FOLDER)).eval(),
    )
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, timestep_scaling="trailing", rescale_betas_zero_snr=True)
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    seen = {}

    def keep_latents(i, t_, latents):  # the pipeline's per-step callback: the last call has the final latents
        seen["latents"] = latents.clone()

    torch.manual_seed(args.seed)
    # output_type="latent" stops at a NameError in the published __call__ (image_warp); "numpy" decodes
    img_off, _ = pipe(
        prompt=[""], image=torch.cat([refs, warps])[None], masks=torch.cat([torch.ones(s, 1, n, n), masks])[None],
        height=n, width=n, guidance_scale=args.guidance, num_inference_steps=args.steps, guidance_rescale=0.0,
        elevation=0, num_frames=s + t, condition_num_frames=s, gt_frame=None, output_type="numpy", device=torch.device("cpu"),
        callback=keep_latents, callback_steps=1,
    )
    lat_off = seen["latents"][s:].float()
    img_off = img_off[s:]  # [T, H, W, 3] in [0, 1]

    # ---- see3d on the same folder
    model = load_release(root, args.variant, device="cpu", dtype="fp32", guidance_scale=args.guidance)
    if args.next_timestep_rule:
        model.config.ddim_rule = "next"
        model.schedule.final_alpha_cumprod = 1.0
    report = {}
    for impl in ("reference", "sdpa"):
        set_attention_impl(impl)
        lat = generate_views_published(model, refs, warps, masks, seed=args.seed, steps=args.steps, return_latents=True)
        img = model.decode(lat).permute(0, 2, 3, 1).numpy()
        report[impl] = (float((lat - lat_off).abs().max()), float(abs(img - img_off).max()), float(lat_off.abs().max()))
    set_attention_impl("sdpa")
    ts = model.schedule.timesteps(args.steps, model.config.timestep_spacing)
    print(f"prediction type {model.config.prediction_type}, {args.steps} steps -> {len(ts)} timesteps {ts[:3]}...{ts[-1]}, "
          f"guidance {args.guidance}, {args.variant} UNet, {s} reference(s) + {t} target(s) at {n}x{n}, fp32 CPU")
    ok = True
    if not bool(torch.isfinite(lat_off).all()):
        print("the published latents are not finite (an epsilon output at t = 999 with zero terminal SNR divides by "
              f"alpha_bar = 0); see3d's are {'finite' if bool(torch.isfinite(lat).all()) else 'not finite either'}")
    for impl, (dl, di, scale) in report.items():
        print(f"see3d ({impl} attention) vs published: largest |latent difference| {dl:.3g} (latents up to {scale:.3g}), "
              f"largest |image difference| {di:.3g}")
        ok &= dl <= args.tol
    if tmp is not None:
        tmp.cleanup()
    print("PASS" if ok else f"FAIL: above {args.tol:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
