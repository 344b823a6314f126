"""Schedule (against diffusers), DDIM exactness with an oracle network, sampler determinism, filler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from see3d.errors import See3DError
from see3d.mvd import MVDConfig, MVDModel, MultiViewUNetConfig, NoiseSchedule, sample_views
from see3d.mvd.filler import MVDFiller


def tiny_model(prediction_type="sample", prefill="none", seed=0, **kw) -> MVDModel:
    u = MultiViewUNetConfig(
        in_channels=7, out_channels=3, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(2,), num_head_channels=8, context_dim=None, norm_groups=4,
    )
    torch.manual_seed(seed)
    m = MVDModel(MVDConfig(unet=u, space="pixel", prediction_type=prediction_type, prefill=prefill, steps=3, **kw))
    with torch.no_grad():
        for p in m.unet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


def test_schedule_matches_diffusers_ddim():
    diffusers = pytest.importorskip("diffusers")
    ours = NoiseSchedule()
    for pred in ("epsilon", "v_prediction", "sample"):
        ref = diffusers.DDIMScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True,
            timestep_spacing="trailing", set_alpha_to_one=True, prediction_type=pred, clip_sample=False,
        )
        assert torch.allclose(ours.alphas_cumprod, ref.alphas_cumprod, atol=1e-6)
        assert float(ours.alphas_cumprod[-1]) == pytest.approx(0.0, abs=1e-9)  # zero terminal SNR
        ref.set_timesteps(20)
        ts = ours.timesteps(20)
        assert ts == ref.timesteps.tolist() and ts[0] == 999 and ts[1] == 949
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 3, 4, 4, generator=g)
        out = torch.randn(2, 3, 4, 4, generator=g)
        for i, t in enumerate(ts[1:], start=1):  # t = 999 is singular for epsilon (alpha_bar = 0)
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            a = ours.ddim_step(out, t, t_prev, x, pred)
            b = ref.step(out, t, x).prev_sample
            assert torch.allclose(a, b, atol=1e-4), (pred, t)
        x0 = torch.randn(2, 3, 4, 4, generator=g)
        tt = torch.tensor([5, 700])
        assert torch.allclose(ours.add_noise(x0, out, tt), ref.add_noise(x0, out, tt), atol=1e-6)
    # the public script's spacing: 999, 980, ... with step 999 // 50 = 19
    assert ours.timesteps(50, "see3d")[:3] == [999, 980, 961]


class Oracle(torch.nn.Module):
    """A perfect network: knows the clean targets and answers in the model's prediction type."""

    def __init__(self, x0, sched, pred, f):
        super().__init__()
        self.x0, self.sched, self.pred, self.f = x0, sched, pred, f
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, inp, t, ctx, num_frames, out_frames=None):
        self.calls += 1
        c = self.x0.shape[1]
        x_t = inp[:, :c]
        x0 = self.x0.repeat(inp.shape[0] // self.x0.shape[0], 1, 1, 1)
        ab = self.sched.alphas_cumprod[t.long()].reshape(-1, 1, 1, 1)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).clamp_min(1e-12).sqrt()
        if out_frames is not None:  # the network's contract: only the last out_frames views of each sample
            keep = lambda a: a.reshape(-1, num_frames, *a.shape[1:])[:, num_frames - out_frames :].reshape(-1, *a.shape[1:])  # noqa: E731
            x0, eps, ab = keep(x0), keep(eps), keep(ab)
        if self.pred == "sample":
            return x0
        if self.pred == "epsilon":
            return eps
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0


@pytest.mark.parametrize("pred", ["sample", "v_prediction", "epsilon"])
def test_ddim_with_oracle_recovers_ground_truth(pred):
    m = tiny_model(pred)
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1  # 1 reference + 2 targets
    m.unet = Oracle(truth, m.schedule, pred, 3)
    masks = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    out = sample_views(m, truth[:1], truth[1:] * masks, masks, seed=3, steps=5, guidance_scale=2.0)
    tol = 2e-3 if pred == "epsilon" else 1e-5  # epsilon: x0 at alpha_bar(999) = 0 uses the floor
    assert torch.allclose(out, truth[1:], atol=tol)
    assert m.unet.calls == 5  # conditional + unconditional in one batch per step


def test_sampler_determinism_chunking_and_references():
    m = tiny_model()
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(1, 3, 8, 8, generator=g)
    cond = torch.rand(4, 3, 8, 8, generator=g)
    masks = (torch.rand(4, 1, 8, 8, generator=g) > 0.3).float()
    a = sample_views(m, refs, cond, masks, seed=7)
    b = sample_views(m, refs, cond, masks, seed=7)
    c = sample_views(m, refs, cond, masks, seed=8)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == (4, 3, 8, 8)
    ticks = []
    d = sample_views(m, refs, cond, masks, seed=7, max_views=3, callback=lambda i, n: ticks.append((i, n)))
    assert d.shape == a.shape and ticks[-1] == (6, 6)  # 2 chunks x 3 steps
    assert torch.equal(d, sample_views(m, refs, cond, masks, seed=7, max_views=3))


def test_sampler_bad_inputs():
    m = tiny_model()
    z = torch.zeros(2, 3, 8, 8)
    with pytest.raises(See3DError, match="S >= 1"):
        sample_views(m, torch.zeros(0, 3, 8, 8), z, torch.ones(2, 1, 8, 8))
    with pytest.raises(See3DError, match="mask shape"):
        sample_views(m, z[:1], z, torch.ones(2, 1, 8, 4))
    with pytest.raises(See3DError, match="differs from target size"):
        sample_views(m, torch.zeros(1, 3, 4, 4), z, torch.ones(2, 1, 8, 8))
    with pytest.raises(See3DError, match="strength"):
        sample_views(m, z[:1], z, torch.ones(2, 1, 8, 8), strength=0.0)


def test_saved_model_reproduces_outputs_bit_for_bit(tmp_path):
    m = tiny_model(prefill="telea", strength=0.5)
    g = torch.Generator().manual_seed(0)
    refs, cond = torch.rand(1, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    masks = (torch.rand(2, 1, 8, 8, generator=g) > 0.3).float()
    a = sample_views(m, refs, cond, masks, seed=1)
    m.save_pretrained(tmp_path / "m")
    m2 = MVDModel.from_pretrained(tmp_path / "m")
    assert m2.config == m.config
    assert torch.equal(sample_views(m2, refs, cond, masks, seed=1), a)


def test_filler_keeps_known_pixels_and_fills_holes(tmp_path):
    m = tiny_model(prefill="telea", strength=0.5, fill_scale=0.5)
    m.save_pretrained(tmp_path / "m")
    filler = MVDFiller.from_pretrained(tmp_path / "m")
    rng = np.random.default_rng(0)
    refs = rng.random((1, 20, 28, 3)).astype(np.float32)
    warped = rng.random((2, 20, 28, 3)).astype(np.float32)
    masks = np.ones((2, 20, 28), np.float32)
    masks[:, 5:12, 8:20] = 0
    warped[masks == 0] = 0
    out = filler.fill(warped, masks, refs=refs, seed=0)
    assert out.shape == warped.shape and out.dtype == np.float32
    assert np.array_equal(out[masks == 1], warped[masks == 1])  # full-resolution known pixels
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert out[masks == 0].std() > 0.01  # holes got content, not zeros
    assert filler.working_size(20, 28) == (10, 14)  # half size, multiples of 2
    with pytest.raises(See3DError, match="reference"):
        filler.fill(warped, masks, refs=None)
    with pytest.raises(See3DError, match="masks shape"):
        filler.fill(warped, masks[:, :10], refs=refs)
    with pytest.raises(See3DError, match="zero views"):
        filler.fill(warped, masks, refs=refs[:0])
    with pytest.raises(See3DError, match="no multi-view diffusion weights"):
        MVDFiller.from_pretrained(tmp_path / "empty")
    # residual composition: full-resolution Telea + the model's low-resolution correction
    res = MVDFiller.from_pretrained(tmp_path / "m", compose="residual").fill(warped, masks, refs=refs, seed=0)
    assert np.array_equal(res[masks == 1], warped[masks == 1])
    from see3d.fill import fill_telea

    tel = np.stack([fill_telea(w, m) for w, m in zip(warped, masks)])
    corr = res - tel
    assert 0 < np.abs(corr[masks == 0]).mean() < 0.5 and np.all(corr[masks == 1] == 0)
    with pytest.raises(See3DError, match="compose"):
        MVDFiller.from_pretrained(tmp_path / "m", compose="blend")


def test_autoregressive_groups_use_generated_anchors():
    """A camera panning over a wide image: each group is warped (shifted) from the newest anchors."""
    from see3d.fill import ClassicalFiller
    from see3d.mvd.autoregressive import fill_autoregressive

    rng = np.random.default_rng(0)
    world = rng.random((16, 16 + 4 * 7, 3)).astype(np.float32)  # view k sees columns 4k .. 4k+16
    view = lambda k: world[:, 4 * k : 4 * k + 16]  # noqa: E731
    calls = []

    def warp_group(anchors, anchor_ids, ids):
        calls.append((list(anchor_ids), list(ids)))
        src_id = anchor_ids[-1]  # the newest anchor
        src = anchors[-1]
        k_src = 0 if src_id < 0 else src_id + 1
        warped, masks = [], []
        for i in ids:
            shift = 4 * ((i + 1) - k_src)
            w = np.zeros_like(src)
            m = np.zeros(src.shape[:2], np.float32)
            if shift < 16:
                w[:, : 16 - shift] = src[:, shift:]
                m[:, : 16 - shift] = 1
            warped.append(w)
            masks.append(m)
        return np.stack(warped), np.stack(masks)

    out = fill_autoregressive(ClassicalFiller("telea"), view(0)[None], 6, warp_group, group=2, max_anchors=2)
    assert out.shape == (6, 16, 16, 3)
    assert calls == [([-1], [0, 1]), ([-1, 0, 1], [2, 3]), ([-1, 2, 3], [4, 5])]
    # known pixels are exact copies of the true view (the warp of a true anchor / earlier known pixels)
    assert np.allclose(out[0][:, :12], view(1)[:, :12])
    assert np.allclose(out[2][:, :4], view(3)[:, :4])
    # view 3 was warped from the *generated* view 2: it carries view 2's filled pixels as known
    assert np.array_equal(out[2][:, 4:12], out[1][:, 8:16])
    assert not np.allclose(out[1][:, 8:16], view(2)[:, 8:16])
    with pytest.raises(See3DError, match="S >= 1"):
        fill_autoregressive(ClassicalFiller("telea"), np.zeros((0, 4, 4, 3)), 2, warp_group)


@pytest.mark.slow  # importing diffusers takes 10-20 s on a loaded 2-core machine
def test_latent_space_model_with_local_vae_folder(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )
    vae.save_pretrained(tmp_path / "vae")
    u = MultiViewUNetConfig(
        in_channels=9, out_channels=4, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(2,), num_head_channels=8, context_dim=None, norm_groups=4,
    )
    m = MVDModel(MVDConfig(unet=u, space="latent", steps=2, fill_scale=1.0))
    with pytest.raises(See3DError, match="without a VAE"):
        m.encode(torch.zeros(1, 3, 8, 8))
    m.save_pretrained(tmp_path / "m")
    filler = MVDFiller.from_pretrained(tmp_path / "m")
    filler.model.load_vae(tmp_path / "vae")
    assert filler.model.downscale == 2 and filler.working_size(16, 24) == (16, 24)
    rng = np.random.default_rng(0)
    warped = rng.random((2, 16, 24, 3)).astype(np.float32)
    masks = np.ones((2, 16, 24), np.float32)
    masks[:, 4:10, 6:14] = 0
    out = filler.fill(warped, masks, refs=warped[:1], seed=0)
    assert out.shape == warped.shape and np.array_equal(out[masks == 1], warped[masks == 1])


def test_filler_device_choice(tmp_path, monkeypatch):
    """The filler runs where it is told (default: CUDA if PyTorch sees it, else the CPU) and
    gives the same result for the same seed; asking for CUDA without one is a clear error."""
    m = tiny_model(prefill="telea", strength=0.5)
    m.save_pretrained(tmp_path / "m")
    rng = np.random.default_rng(1)
    refs = rng.random((1, 16, 16, 3)).astype(np.float32)
    warped = rng.random((2, 16, 16, 3)).astype(np.float32)
    masks = np.ones((2, 16, 16), np.float32)
    masks[:, 4:10, 4:12] = 0
    auto = MVDFiller.from_pretrained(tmp_path / "m")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    cpu = MVDFiller.from_pretrained(tmp_path / "m", device="cpu")
    assert next(cpu.model.parameters()).device.type == "cpu"
    a = cpu.fill(warped, masks, refs=refs, seed=3)
    assert np.array_equal(a, MVDFiller.from_pretrained(tmp_path / "m", device="cpu").fill(warped, masks, refs=refs, seed=3))
    if torch.cuda.is_available():  # the noise comes from a CPU generator: same samples up to float rounding
        g = MVDFiller.from_pretrained(tmp_path / "m", device="cuda").fill(warped, masks, refs=refs, seed=3)
        assert np.abs(g - a).max() < 1e-3
    else:
        with pytest.raises(See3DError, match="no CUDA device"):
            MVDFiller.from_pretrained(tmp_path / "m", device="cuda")


class Pointwise(torch.nn.Module):
    """A network whose output at a pixel depends only on its input at that pixel (1x1 maps):
    windowed evaluation must then reproduce the whole-image output exactly. Counts the views it sees."""

    def __init__(self, c_in=7, c_out=3):
        super().__init__()
        torch.manual_seed(5)
        self.lin = torch.nn.Conv2d(c_in, c_out, 1)
        self.views = 0

    def forward(self, inp, t, ctx, num_frames, out_frames=None):
        self.views += inp.shape[0]
        o = torch.tanh(self.lin(inp)) + 1e-3 * t.float()[:, None, None, None]
        if out_frames is not None:
            o = o.reshape(-1, num_frames, *o.shape[1:])[:, num_frames - out_frames :].reshape(-1, *o.shape[1:])
        return o


@pytest.mark.parametrize("pred", ["sample", "v_prediction"])
def test_windowed_sampling_reproduces_the_whole_image(pred):
    """Windows (with guidance, 2 references, windows of 4 overlapping by 2 on 12 x 16 views) blend
    back to the whole-image result exactly for a per-pixel network; a target known everywhere is
    never run and comes back as its condition; windows without holes are skipped."""
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(2, 3, 12, 16, generator=g) * 2 - 1
    cond = torch.rand(3, 3, 12, 16, generator=g) * 2 - 1
    masks = (torch.rand(3, 1, 12, 16, generator=g) > 0.4).float()
    masks[1] = 1.0  # a target with no hole
    masks[2, :, :, 8:] = 1.0  # holes only in the left half
    kw = dict(seed=3, steps=4, strength=0.5, guidance_scale=1.5)
    whole = tiny_model(pred)
    whole.unet = Pointwise()
    a = sample_views(whole, refs, cond, masks, **kw)
    tiled = tiny_model(pred, tile=4, tile_overlap=2)
    tiled.unet = Pointwise()
    b = sample_views(tiled, refs, cond, masks, **kw)
    assert torch.allclose(a[0], b[0], atol=1e-5)
    # target 2 runs in the windows with a hole (column starts 0..6, so columns 0-9); further right it
    # is known in every window and is predicted as its condition, as target 1 everywhere
    assert torch.allclose(a[2, ..., :10], b[2, ..., :10], atol=1e-5) and not torch.allclose(a[2], b[2], atol=1e-3)
    assert torch.allclose(b[2, ..., 10:], cond[2, ..., 10:], atol=1e-5)
    assert torch.allclose(b[1], cond[1], atol=1e-5)
    # views the network ran: whole image 2 x (2 refs + 3 targets) per step; windows: only targets
    # with a hole in the window (target 0 in every window, target 2 in the left ones), with the refs
    n_steps = len(whole.schedule.timesteps(4, "trailing", 0.5))
    assert whole.unet.views == n_steps * 2 * 5
    # window starts 0,2,4,6,8 (rows) x 0,2,...,12 (columns): 35 windows; target 0 has a hole in every
    # one, target 2 in those of columns 0-6 (20); each also runs the 2 references
    assert tiled.unet.views == n_steps * 2 * (15 * (2 + 1) + 20 * (2 + 2))


def test_windowed_sampling_with_one_window_equals_the_whole_image():
    """A window as large as the views: the real (attention) network gives the same result."""
    g = torch.Generator().manual_seed(1)
    refs, cond = torch.rand(1, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    masks = (torch.rand(2, 1, 8, 8, generator=g) > 0.3).float()
    a = sample_views(tiny_model(), refs, cond, masks, seed=2)
    b = sample_views(tiny_model(tile=8, tile_overlap=2), refs, cond, masks, seed=2)
    assert torch.allclose(a, b, atol=1e-5)


def test_unet_out_frames_returns_the_same_target_outputs():
    """Dropping the references after the last attention block does not change the targets' outputs."""
    u = tiny_model().unet
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2 * 4, 7, 8, 8, generator=g)  # 2 samples x (2 references + 2 targets)
    t = torch.tensor([9] * 8)
    with torch.no_grad():
        full = u(x, t, None, num_frames=4).reshape(2, 4, 3, 8, 8)
        part = u(x, t, None, num_frames=4, out_frames=2)
    assert part.shape == (4, 3, 8, 8)
    assert torch.allclose(part, full[:, 2:].reshape(4, 3, 8, 8), atol=1e-6)
    with pytest.raises(See3DError, match="out_frames"):
        u(x, t, None, num_frames=4, out_frames=5)


def test_window_options_are_checked():
    from see3d.mvd.sampler import tile_starts, tile_weight

    with pytest.raises(See3DError, match="tile must be"):
        tiny_model(tile=5, tile_overlap=2)  # not a multiple of the downsampling factor 2
    with pytest.raises(See3DError, match="tile_overlap"):
        tiny_model(tile=8, tile_overlap=8)
    with pytest.raises(See3DError, match="tile_min_holes"):
        tiny_model(tile=8, tile_overlap=2, tile_min_holes=0)
    assert tile_starts(12, 4, 2) == [0, 2, 4, 6, 8] and tile_starts(10, 4, 1) == [0, 3, 6] and tile_starts(4, 8, 2) == [0]
    w = tile_weight(4, 6, 2)
    assert w.min() > 0 and w.max() == 1.0 and torch.equal(w, w.flip(0)) and torch.equal(w, w.flip(1))
