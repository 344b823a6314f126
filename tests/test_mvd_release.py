"""The See3D release folder end to end, on a tiny replica in the real layout (no download).

The published pipeline's loop is re-stated from scratch here (VAE sample, noise order, condition,
guidance, DDIM rule) and compared with see3d's sampler; ``scripts/check_official_see3d.py`` runs
the published code itself against see3d when a checkout of it is at hand.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from see3d.cli import main  # noqa: E402
from see3d.errors import See3DError  # noqa: E402
from see3d.mvd.condition import build_condition  # noqa: E402
from see3d.mvd.model import MVDConfig, make_schedule  # noqa: E402
from see3d.mvd.release import (  # noqa: E402
    CLIP_FOLDER,
    generate_views_published,
    is_release_root,
    load_release,
    read_published_inputs,
    release_parts,
    resolve_dtype,
    scheduler_settings,
    super_resolve,
    to_pil,
)
from see3d.mvd.replica import make_tiny_release, scheduler_config  # noqa: E402


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    # attention at the half-resolution level only: the published-I/O run at 512 x 512 stays fast
    return make_tiny_release(tmp_path_factory.mktemp("see3d") / "release", seed=0, unet_overrides={"attention_resolutions": [2]})


@pytest.fixture(scope="module")
def model(replica):
    return load_release(replica, "single", device="cpu", dtype="fp32")


def _scene(root, size=(40, 56), n=2, seed=0):
    rng = np.random.default_rng(seed)
    (root / "reference_images").mkdir(parents=True)
    (root / "warp_images").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "reference_images" / "ref.png")
    warps, masks = [], []
    for i in range(n):
        w = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        m = np.full(size, 255, np.uint8)
        m[8:24, 10 + 4 * i : 30 + 4 * i] = 0
        w[m == 0] = 0
        Image.fromarray(w).save(root / "warp_images" / f"warp_{i:03d}.png")
        Image.fromarray(m).save(root / "warp_images" / f"mask_{i:03d}.png")
        warps.append(w)
        masks.append(m)
    return warps, masks


def _args(root, out, model_root, *extra):
    return ["mvd", "--refs", str(root / "reference_images"), "--warps", str(root / "warp_images"), "-o", str(out),
            "--model", str(model_root), "-q", *extra]


# ------------------------------------------------------------------------------------------------
# layout and settings (no networks)


def test_release_layout_is_checked_part_by_part(tmp_path, capsys):
    root = tmp_path / "rel"
    for d in ("unet/single/ema-checkpoint", "vae", "scheduler", "text_encoder", "tokenizer", CLIP_FOLDER):
        (root / d).mkdir(parents=True)
    for d in ("unet/single/ema-checkpoint", "vae", "text_encoder", CLIP_FOLDER):
        (root / d / "config.json").write_text("{}")
    (root / "tokenizer" / "vocab.json").write_text("{}")
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler_config()))
    assert is_release_root(root) and not is_release_root(root / "vae")
    assert release_parts(root, "single")["unet"] == root / "unet" / "single" / "ema-checkpoint"
    with pytest.raises(See3DError, match=r"lacks the sparse UNet \(unet/sparse/ema-checkpoint/"):
        release_parts(root, "sparse")
    cases = [
        ("vae/config.json", r"lacks the VAE \(vae/"),
        ("scheduler/scheduler_config.json", r"lacks the scheduler settings \(scheduler/scheduler_config.json\)"),
        ("tokenizer/vocab.json", r"lacks the tokenizer \(tokenizer/\)"),
        (f"{CLIP_FOLDER}/config.json", rf"lacks the CLIP image encoder \({CLIP_FOLDER}/"),
        ("text_encoder/config.json", r"lacks the text encoder \(text_encoder/"),
    ]
    for rel, msg in cases:
        f = root / rel
        text = f.read_text()
        f.unlink()
        with pytest.raises(See3DError, match=msg):
            release_parts(root, "single")
        f.write_text(text)
    # through the CLI: one line naming the folder, exit 2, nothing written
    (root / "vae" / "config.json").unlink()
    _scene(tmp_path / "s")
    rc = main(_args(tmp_path / "s", tmp_path / "o", root))
    err = capsys.readouterr().err
    assert rc == 2 and "lacks the VAE (vae/ with config.json)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_sharded_unet_is_loaded_strictly(replica, tmp_path):
    import shutil

    from see3d.mvd.unet import MultiViewUNet

    src = replica / "unet" / "single" / "ema-checkpoint"
    index = json.loads((src / "diffusion_pytorch_model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 2  # the replica is sharded like the release
    unet = MultiViewUNet.from_pretrained(src)
    assert len(unet.state_dict()) == len(index["weight_map"])
    bad = tmp_path / "u"
    shutil.copytree(src, bad)
    shard = sorted(set(index["weight_map"].values()))[1]
    (bad / shard).unlink()
    with pytest.raises(See3DError, match=f"lacks the shard {shard}"):
        MultiViewUNet.from_pretrained(bad)


def test_scheduler_config_and_the_published_ddim_rule(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    f = tmp_path / "scheduler_config.json"
    for pred, one in (("v_prediction", False), ("epsilon", False), ("sample", True)):
        f.write_text(json.dumps(scheduler_config(pred, set_alpha_to_one=one)))
        st = scheduler_settings(f)
        assert st["prediction_type"] == pred and st["set_alpha_to_one"] is one and st["timestep_spacing"] == "see3d"
        cfg = MVDConfig(**st)
        sched = make_schedule(cfg)
        assert sched.final_alpha_cumprod == (1.0 if one else pytest.approx(float(sched.alphas_cumprod[0])))
        ts50 = sched.timesteps(50, cfg.timestep_spacing)
        assert len(ts50) == 53 and ts50[:2] == [999, 980] and ts50[-1] == 11  # arange(999, 0, -(999 // 50))
        # the published update, re-stated from scratch: t -> t - 1000 // steps, the last one to alphas_cumprod[0]
        steps = 5
        ts = sched.timesteps(steps, cfg.timestep_spacing)
        assert ts == [999, 800, 601, 402, 203, 4]
        ref = diffusers.DDIMScheduler.from_config(json.loads(f.read_text()), rescale_betas_zero_snr=True)
        ref.set_timesteps(steps)
        ac = sched.alphas_cumprod.double()
        g = torch.Generator().manual_seed(0)
        x, out = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
        for i, t in enumerate(ts):
            prev = t - 1000 // steps
            ab, ab_prev = ac[t], (ac[prev] if prev >= 0 else (1.0 if one else ac[0]))
            if pred == "v_prediction":
                x0, eps = ab.sqrt() * x - (1 - ab).sqrt() * out, ab.sqrt() * out + (1 - ab).sqrt() * x
            elif pred == "sample":
                x0, eps = out, (x - ab.sqrt() * out) / (1 - ab).sqrt()
            else:
                if t == 999:  # alpha_bar = 0: the published (diffusers) step is not finite, see3d's is
                    assert not torch.isfinite(ref.step(out, t, x).prev_sample).all()
                    assert torch.isfinite(sched.ddim_step(out, t, sched.prev_timestep(ts, i, steps, "published"), x, pred)).all()
                    continue
                x0, eps = (x - (1 - ab).sqrt() * out) / ab.sqrt(), out
            want = (ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * eps).float()
            got = sched.ddim_step(out, t, sched.prev_timestep(ts, i, steps, "published"), x, pred)
            assert torch.allclose(got, want, atol=1e-4), (pred, t)
            assert torch.allclose(got, ref.step(out, t, x).prev_sample, atol=1e-4), (pred, t)
    # a config without "timestep_scaling": "trailing" takes diffusers' timesteps by its spacing
    f.write_text(json.dumps(scheduler_config(timestep_scaling="none")))
    st = scheduler_settings(f)
    ref = diffusers.DDIMScheduler.from_config(json.loads(f.read_text()), rescale_betas_zero_snr=True)
    ref.set_timesteps(50)
    assert make_schedule(MVDConfig(**st)).timesteps(50, st["timestep_spacing"]) == ref.timesteps.tolist()


# ------------------------------------------------------------------------------------------------
# context, VAE, sampling against a re-statement of the published loop


def test_context_is_empty_prompt_plus_image_embedding(model, replica):
    from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

    ref = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ctx = model.context_encoder(ref)
    tok = CLIPTokenizer.from_pretrained(str(replica / "tokenizer"))
    ids = tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, 0] == tok.bos_token_id and ids[0, 1] == tok.eos_token_id
    text = CLIPTextModel.from_pretrained(str(replica / "text_encoder")).eval()(ids)[0][0]
    pix = CLIPImageProcessor.from_pretrained(str(replica / CLIP_FOLDER))((ref + 1) / 2, return_tensors="pt", do_rescale=False).pixel_values
    assert pix.shape == (1, 3, 224, 224)
    img = CLIPVisionModelWithProjection.from_pretrained(str(replica / CLIP_FOLDER)).eval()(pix).image_embeds[0]
    assert ctx.shape == (77, 32)
    assert torch.allclose(ctx, text + 0.2 * img[None], atol=1e-5)
    # the same vector is added to every token
    d = ctx - text
    assert torch.allclose(d, d[:1].expand_as(d), atol=1e-5)


def test_vae_latents_are_seeded_posterior_samples(model):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    z1 = model.encode(x, generator=torch.Generator().manual_seed(3))
    z2 = model.encode(x, generator=torch.Generator().manual_seed(3))
    z3 = model.encode(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(z1, z2) and not torch.allclose(z1, z3)
    dist = model.vae.encode(x * 2 - 1).latent_dist
    sf = model.vae.config.scaling_factor
    eps = torch.randn(dist.mean.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z1, (dist.mean + dist.std * eps) * sf, atol=1e-5)
    with pytest.raises(See3DError, match="seeded torch.Generator"):
        model.encode(x)


def _restated_published_loop(model, refs, warps, masks, seed, steps, g):
    """The published pipeline call (pipeline_mvd_warp_mix_classifier.py), re-stated step by step."""
    s, t = refs.shape[0], warps.shape[0]
    f = s + t
    gen = torch.Generator().manual_seed(seed)
    dist = model.vae.encode(torch.cat([refs, warps])).latent_dist  # VAE sample first, all views at once
    lat = (dist.mean + dist.std * torch.randn(dist.mean.shape, generator=gen)) * model.vae.config.scaling_factor
    noise = torch.randn(lat.shape, generator=gen)  # initial latents
    torch.randn(lat.shape, generator=gen)  # the condition noise drawn before the loop (unused)
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    sq = torch.cumprod(1 - betas, 0).sqrt()
    sq = (sq - sq[-1]) * sq[0] / (sq[0] - sq[-1])  # zero terminal SNR
    ac = sq**2
    m = F.interpolate(torch.cat([torch.ones(s, 1, *masks.shape[2:]), masks]), size=lat.shape[-2:])
    ctx = model.context_encoder(refs[:1])
    x = torch.cat([lat[:s], noise[s:]])
    for tt in range(999, 0, -(999 // steps)):
        x = torch.cat([lat[:s], x[s:]])
        tc = tt // 5
        nc = torch.randn(lat.shape, generator=gen)
        cw = ac[tc].sqrt().float() * lat + (1 - ac[tc]).sqrt().float() * nc
        w = 1 - 0.2 * (200 - tc) / 140 if tc >= 60 else 0.8 * math.exp(-0.075 * (60 - tc))
        w = min(max(w, 0.0), 1.0)
        mix = torch.cat([lat[:s], (w * cw + (1 - w) * x)[s:]])
        cond = torch.cat([x, mix, m], 1)
        unc = torch.cat([x, torch.cat([lat[:s], torch.zeros_like(lat[s:])]), torch.cat([m[:s], torch.zeros_like(m[s:])])], 1)
        out = model.unet(torch.cat([cond, unc]), torch.full((2 * f,), tt), ctx[None].expand(2 * f, *ctx.shape), num_frames=f)
        o = (1 + g) * out[:f] - g * out[f:]
        ab = ac[tt].float()
        prev = tt - 1000 // steps
        ab_prev = (ac[prev] if prev >= 0 else ac[0]).float()  # set_alpha_to_one = False
        x0, eps = ab.sqrt() * x - (1 - ab).sqrt() * o, ab.sqrt() * o + (1 - ab).sqrt() * x  # v-prediction
        x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
    return x[s:]


def test_sampling_matches_the_published_loop_restated(model):
    g = torch.Generator().manual_seed(5)
    refs = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    warps = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    masks = torch.ones(2, 1, 32, 32)
    masks[:, :, 8:24, 4:20] = 0
    assert model.config.prediction_type == "v_prediction" and model.config.guidance_scale == 2.0
    # 4 steps: timesteps 999, 750, 501, 252, 3 (999 // 4 apart), each step to t - 250 (1000 // 4)
    want = _restated_published_loop(model, refs, warps, masks, seed=7, steps=4, g=2.0)
    got = generate_views_published(model, refs, warps, masks, seed=7, steps=4, return_latents=True)
    assert got.shape == want.shape == (2, 4, 4, 4)
    assert (got - want).abs().max() < 1e-4
    # see3d's own rule (next timestep, final alpha_bar 1) is a different sampler: it must not agree
    model.config.ddim_rule = "next"
    try:
        other = generate_views_published(model, refs, warps, masks, seed=7, steps=4, return_latents=True)
    finally:
        model.config.ddim_rule = "published"
    assert (other - want).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------------
# the command line


def test_cli_kept_mode_keeps_visible_pixels_and_is_deterministic(replica, tmp_path):
    warps, masks = _scene(tmp_path / "s")
    outs = {}
    for name, extra in (("a", []), ("b", []), ("c", ["--seed", "1"])):
        rc = main(_args(tmp_path / "s", tmp_path / name, replica, "--steps", "2", *extra))
        assert rc == 0
        assert sorted(p.name for p in (tmp_path / name).glob("predict_*")) == ["predict_000.png", "predict_001.png"]
        outs[name] = [np.asarray(Image.open(tmp_path / name / f"predict_{i:03d}.png")) for i in range(2)]
    for i, (w, m) in enumerate(zip(warps, masks)):
        vis = m > 0.9 * 255
        assert outs["a"][i].shape == w.shape  # aspect ratio and size kept
        assert np.array_equal(outs["a"][i][vis], w[vis])  # visible pixels pasted back exactly
        assert np.array_equal(outs["a"][i], outs["b"][i])  # same seed, same result
        assert not np.array_equal(outs["a"][i][~vis], outs["c"][i][~vis])  # another seed, other holes
        assert outs["a"][i][~vis].std() > 1.0  # the holes were generated, not left black


@pytest.mark.slow  # one sampling step at 512 x 512: ~5-10 s on 2 cores
def test_cli_published_mode_files_and_sizes(replica, tmp_path):
    _scene(tmp_path / "s")
    out = tmp_path / "p"
    rc = main(_args(tmp_path / "s", out, replica, "--io", "published", "--steps", "1"))
    assert rc == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["predict_warp_000.png.jpg", "predict_warp_001.png.jpg"]
    inp = read_published_inputs(tmp_path / "s" / "reference_images", tmp_path / "s" / "warp_images")
    assert inp.warps.shape == (2, 3, 512, 512) and inp.out_size == (56, 40)
    # masks resized to 512, then > 0.9
    m = np.asarray(Image.open(tmp_path / "s" / "warp_images" / "mask_000.png").convert("L").resize((512, 512)), np.float32) / 255
    assert torch.equal(inp.masks[0, 0], torch.from_numpy((m > 0.9).astype(np.float32)))
    # the whole generated image, 8-bit, resized back to the first reference's size (all views in one group)
    imgs = to_pil(generate_views_published(model_for(replica), inp.refs, inp.warps, inp.masks, seed=0, steps=1))
    for im, name in zip(imgs, names):
        got = Image.open(out / name)
        assert got.size == (56, 40) and got.format == "JPEG"
        buf = io.BytesIO()
        im.resize((56, 40)).save(buf, format="JPEG")  # Pillow's default quality, as published
        assert np.array_equal(np.asarray(got), np.asarray(Image.open(buf)))
    rc = main(_args(tmp_path / "s", tmp_path / "bad", tmp_path / "s" / "reference_images", "--io", "published"))
    assert rc == 2


_MODELS: dict = {}


def model_for(root):
    if root not in _MODELS:
        _MODELS[root] = load_release(root, "single", device="cpu")
    return _MODELS[root]


def test_sr_stage_uses_the_clean_base_output(replica, tmp_path):
    sr = load_release(replica, "SR", device="cpu")
    c = sr.config
    assert (c.condition, c.guidance_scale, c.steps, c.max_side) == ("clean", 1.0, 30, 1024)
    # the condition slot of a target carries its clean latent, unmixed, in the conditional half
    x = torch.randn(1, 3, 4, 4, 4)
    cond = torch.randn(1, 3, 4, 4, 4)
    flags = torch.tensor([[True, False, False]])
    inp = build_condition(x, cond, torch.ones(1, 3, 1, 4, 4), flags, cond, torch.tensor([999]), torch.randn_like(x), sr.schedule.add_noise, clean=True)
    assert torch.equal(inp[0, 1:, 4:8], cond[0, 1:])
    _scene(tmp_path / "s")
    inp = read_published_inputs(tmp_path / "s" / "reference_images", tmp_path / "s" / "warp_images", size=64)
    base = to_pil((inp.warps + 1) / 2)
    out = super_resolve(sr, inp, base, seed=0, steps=1, size=64)
    assert len(out) == 2 and out[0].size == (64, 64)


def test_precision_tiling_and_offload_options_are_wired(replica):
    m = load_release(replica, "single", device="cpu", dtype="bf16", vae_slicing=False, vae_tiling=True)
    assert next(m.unet.parameters()).dtype == torch.bfloat16
    assert next(m.vae.parameters()).dtype == torch.bfloat16
    assert next(m.context_encoder.text_encoder.parameters()).dtype == torch.bfloat16
    assert next(m.context_encoder.image_encoder.parameters()).dtype == torch.float32  # as published
    assert (m.vae.use_slicing, m.vae.use_tiling) == (False, True)
    with pytest.raises(See3DError, match="fp16 needs a CUDA device"):
        resolve_dtype("fp16", "cpu")
    assert resolve_dtype("auto", "cpu") == torch.float32 and resolve_dtype("auto", "cuda") == torch.float16
    pytest.importorskip("accelerate")
    o = load_release(replica, "single", device="cpu", offload=True)
    assert o.offload_device == torch.device("cpu") and o.execution_device == torch.device("cpu")
    for net in (o.unet, o.vae, o.context_encoder.text_encoder, o.context_encoder.image_encoder):
        assert hasattr(net, "_hf_hook")  # accelerate's offload hooks, chained as diffusers chains them
    ref = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.allclose(o.context_encoder(ref), model_for(replica).context_encoder(ref), atol=1e-6)


@pytest.mark.slow
def test_generate_with_the_release_as_fill_model(replica, tmp_path, monkeypatch):
    import see3d.mvd.release as rel

    monkeypatch.setattr(rel, "BASE_SAMPLING", (2, 2.0))  # generate has no steps option; 53 timesteps are slow here
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    np.save(tmp_path / "depth.npy", np.full((48, 64), 2.0, np.float32))
    out = tmp_path / "gen"
    rc = main(["generate", str(tmp_path / "photo.png"), "--depth", str(tmp_path / "depth.npy"), "-o", str(out), "--frames", "3",
               "--no-gaussians", "--fill", "mvd", "--fill-model", str(replica), "--group", "0", "-q"])  # fmt: skip
    assert rc == 0
    views = sorted((out / "views").glob("*.png"))
    masks = sorted((out / "masks").glob("*.png"))
    assert len(views) == 3 and len(masks) == 3
    for v, m in zip(views[1:], masks[1:]):
        a, k = np.asarray(Image.open(v)), np.asarray(Image.open(m)) > 127
        assert a.shape == (48, 64, 3) and (~k).any() and k.any()
        assert a[~k].std() > 1.0  # holes filled by the model, not left black


@pytest.mark.slow
def test_against_the_published_code_when_a_checkout_is_given(tmp_path):
    """``SEE3D_OFFICIAL=/path/to/See3D`` (a baaivision/See3D checkout; einops importable) runs
    scripts/check_official_see3d.py: the published pipeline and see3d agree to 1e-4 over 5 steps."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    checkout = os.environ.get("SEE3D_OFFICIAL")
    if not checkout:
        pytest.skip("set SEE3D_OFFICIAL to a checkout of baaivision/See3D to compare with the published code")
    pytest.importorskip("einops")
    script = Path(__file__).resolve().parents[1] / "scripts" / "check_official_see3d.py"
    r = subprocess.run([sys.executable, str(script), "--official", checkout, "--replica", str(tmp_path / "rep")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "PASS" in r.stdout


def test_a_root_with_only_the_sparse_variant_loads_it(tmp_path):
    """A release fetched with one variant (``see3d weights get see3d-sparse``) is usable as is."""
    from see3d.mvd.release import available_variant, load_release
    from see3d.mvd.replica import make_tiny_release

    root = make_tiny_release(tmp_path / "r", variants=("sparse",))
    assert available_variant(root) == "sparse"
    assert load_release(root, device="cpu").release["variant"] == "sparse"
    with pytest.raises(See3DError, match="single UNet"):
        load_release(root, "single", device="cpu")
