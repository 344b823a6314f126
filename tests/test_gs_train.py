"""3DGS training: SSIM against scikit-image, densification policy, fits against ground truth."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics, look_at
from see3d.errors import See3DError
from see3d.gs import GaussianModel, GSTrainConfig, evaluate_views, fit_gaussians, render_views
from see3d.gs.metrics import psnr, ssim, ssim_map
from see3d.gs.train import DensifyStrategy, _Params


def _ring_poses(n: int, radius: float = 2.2, height: float = -0.6) -> np.ndarray:
    return np.stack([look_at(np.array([radius * math.sin(a), height, -radius * math.cos(a)]), np.zeros(3))
                     for a in np.linspace(0, 2 * math.pi, n, endpoint=False)])


def _gt_scene(n: int = 40, seed: int = 1) -> GaussianModel:
    """Ground truth: opaque, coloured, anisotropic Gaussians around the origin."""
    g = torch.Generator().manual_seed(seed)
    sh = torch.zeros(n, 1, 3)
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814
    return GaussianModel(
        means=(torch.rand(n, 3, generator=g) - 0.5) * 1.0,
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.04),
        opacity_logits=torch.full((n,), 3.0),
        sh=sh,
    )


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((37, 45, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ref = structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert abs(ssim(a, b) - ref) < 1e-10
    assert ssim(a, a) == pytest.approx(1.0)
    # the padded (training) form keeps the image size and agrees away from the border
    m = ssim_map(torch.tensor(a), torch.tensor(b), valid=False)
    v = ssim_map(torch.tensor(a), torch.tensor(b), valid=True)
    assert m.shape == (37, 45, 3) and v.shape == (27, 35, 3)
    torch.testing.assert_close(m[5:-5, 5:-5], v)
    assert psnr(a, a) == math.inf and abs(psnr(np.zeros(4), np.full(4, 0.1)) - 20.0) < 1e-9


def test_densify_clones_small_splits_large_prunes_transparent():
    cfg = GSTrainConfig(sh_degree=0, grad_threshold=1e-3, dense_fraction=0.01, prune_opacity=0.01, max_gaussians=100)
    sh = torch.zeros(4, 1, 3)
    m = GaussianModel(
        means=torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]),
        quats=torch.tensor([[1.0, 0, 0, 0]] * 4),
        log_scales=torch.log(torch.tensor([[0.005] * 3, [0.5, 0.1, 0.1], [0.005] * 3, [0.005] * 3])),
        opacity_logits=torch.tensor([0.0, 0.0, 0.0, -8.0]),  # the last one is nearly transparent
        sh=sh,
    )
    extent = 1.0
    params = _Params(m, cfg, extent, torch.device("cpu"))
    strat = DensifyStrategy(cfg, extent)
    strat.reset_stats(4, "cpu")
    # Gaussians 0 (small) and 1 (large) have large screen gradients, 2 does not
    strat.grad_accum = torch.tensor([1.0, 1.0, 1e-5, 0.0])
    strat.count = torch.tensor([10.0, 10.0, 10.0, 10.0])
    # give Adam some state so we can check it follows the rows
    params.p["means"].grad = torch.ones(4, 3)
    for p in params.p.values():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    params.opt.step()
    info = strat._densify_and_prune(params, torch.Generator().manual_seed(0))
    assert info == {"cloned": 1, "split": 1, "pruned": 1}
    means = params.p["means"].detach()
    scales = torch.exp(params.p["log_scales"].detach())
    # kept: 0 and 2; appended: the clone of 0, then the two children of 1
    assert len(params) == 5
    assert means[0].abs().max() < 1e-3  # one Adam step of lr 1.6e-4 moved it a little
    torch.testing.assert_close(means[2], means[0])  # the clone sits on its parent
    torch.testing.assert_close(scales[3], torch.tensor([0.5, 0.1, 0.1]) / 1.6)
    torch.testing.assert_close(scales[4], torch.tensor([0.5, 0.1, 0.1]) / 1.6)
    assert (means[3:, 0] - 1.0).abs().max() < 2.0  # sampled from the parent's Gaussian
    st = params.opt.state[params.p["means"]]
    assert st["exp_avg"].shape == (5, 3)
    assert bool((st["exp_avg"][:2] != 0).all()) and bool((st["exp_avg"][2:] == 0).all())


def test_densify_respects_the_gaussian_budget():
    cfg = GSTrainConfig(sh_degree=0, grad_threshold=1e-3, max_gaussians=12)
    m = GaussianModel.from_points(np.random.default_rng(0).random((10, 3)), sh_degree=0, opacity=0.5)
    params = _Params(m, cfg, 1.0, torch.device("cpu"))
    strat = DensifyStrategy(cfg, 1.0)
    strat.reset_stats(10, "cpu")
    strat.grad_accum = torch.linspace(1, 2, 10)
    strat.count = torch.ones(10)
    strat._densify_and_prune(params, torch.Generator().manual_seed(0))
    assert len(params) <= 12


def test_fit_recovers_a_gaussian_scene_on_held_out_views():
    """Views of known Gaussians; the fit starts from noisy grey points and must reproduce unseen views."""
    torch.manual_seed(0)
    gt = _gt_scene()
    intr = Intrinsics.from_fov(50.0, 40, 40)
    poses = _ring_poses(16)
    imgs = render_views(gt, intr, poses)
    train, test = [i for i in range(16) if i % 4], [i for i in range(16) if i % 4 == 0]
    rng = np.random.default_rng(0)
    init = gt.means.numpy()[rng.integers(0, len(gt), 200)] + rng.normal(0, 0.06, (200, 3))
    cfg = GSTrainConfig.for_iterations(250, sh_degree=0, densify_from=40, densify_every=40)
    before = evaluate_views(GaussianModel.from_points(init, None, 0), imgs[test], intr, poses[test])
    calls = []
    t0 = time.perf_counter()
    model = fit_gaussians(imgs[train], intr, poses[train], init_points=init, config=cfg, callback=lambda s, st: calls.append((s, st)))
    assert time.perf_counter() - t0 < 120
    after = evaluate_views(model, imgs[test], intr, poses[test])
    assert after["psnr"] > 25.0, after  # measured 27.1 dB
    assert after["psnr"] > before["psnr"] + 6.0  # the initial points give 19.2 dB
    assert after["ssim"] > 0.85
    assert calls and calls[-1][0] == 250 and set(calls[-1][1]) >= {"loss", "psnr", "num_gaussians", "elapsed_s"}
    assert all(math.isfinite(t.abs().sum().item()) for t in model.tensors().values())


def test_perceptual_term_is_used():
    """A perceptual loss (LPIPS-like: distances of features from a small conv net) is called and trains."""
    gt = _gt_scene(20)
    intr = Intrinsics.from_fov(50.0, 24, 24)
    poses = _ring_poses(4)
    imgs = render_views(gt, intr, poses)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1))
    calls = []

    def feat_dist(pred, target):
        calls.append(pred.requires_grad)
        f = net(pred.permute(2, 0, 1)[None])
        g = net(target.permute(2, 0, 1)[None])
        return (f - g).pow(2).mean()

    cfg = GSTrainConfig(iterations=30, sh_degree=0, ssim_weight=0.0, perceptual_weight=1.0, densify_until=0)
    init = gt.means.numpy() + 0.03
    model = fit_gaussians(imgs, intr, poses, init_points=init, config=cfg, perceptual_loss=feat_dist)
    assert len(calls) == 30 and all(calls)
    assert evaluate_views(model, imgs, intr, poses)["psnr"] > evaluate_views(GaussianModel.from_points(init, None, 0), imgs, intr, poses)["psnr"]


def test_fit_input_errors():
    intr = Intrinsics.from_fov(50.0, 16, 12)
    poses = _ring_poses(2)
    imgs = np.zeros((2, 12, 16, 3), np.float32)
    cfg = GSTrainConfig(iterations=1)
    with pytest.raises(See3DError, match="zero views"):
        fit_gaussians(np.zeros((0, 12, 16, 3)), intr, poses[:0], config=cfg)
    with pytest.raises(See3DError, match="zero views"):
        fit_gaussians([], intr, poses[:0], config=cfg)
    with pytest.raises(See3DError, match="mismatched image sizes"):
        fit_gaussians([imgs[0], np.zeros((10, 16, 3), np.float32)], intr, poses, config=cfg)
    with pytest.raises(See3DError, match="intrinsics are for 20x12"):
        fit_gaussians(imgs, Intrinsics.from_fov(50.0, 20, 12), poses, config=cfg)
    with pytest.raises(See3DError, match="got 1 poses for 2 views"):
        fit_gaussians(imgs, intr, poses[:1], config=cfg)
    bad = imgs.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(See3DError, match="NaN"):
        fit_gaussians(bad, intr, poses, config=cfg)
    with pytest.raises(See3DError, match="NaN"):
        fit_gaussians(imgs, intr, poses, init_points=np.array([[0.0, 0.0, np.nan]]), config=cfg)
    with pytest.raises(See3DError, match="iterations"):
        fit_gaussians(imgs, intr, poses, config=GSTrainConfig(iterations=0))


@pytest.mark.slow
def test_synth_scene_30_views_reaches_28db_held_out():
    """The acceptance check: synthetic scene, 30 posed 256x256 views, CPU fit, held-out PSNR >= 28 dB."""
    from see3d.gs.reconstruct import fuse_point_cloud, holdout_split
    from see3d.synth import render_clip

    clip = render_clip(seed=0, frames=30, size=256, kind="objects", trajectory="orbit")
    imgs = clip.rgb.astype(np.float32)
    train, test = holdout_split(30, 5)
    depth = np.where(np.isfinite(clip.depth), clip.depth, 0.0)
    pts, cols = fuse_point_cloud(imgs[train], depth[train], clip.intrinsics, clip.poses[train], max_points=SYNTH_INIT_POINTS)
    cfg = GSTrainConfig.for_iterations(SYNTH_ITERATIONS, sh_degree=0, max_gaussians=100_000)
    t0 = time.perf_counter()
    model = fit_gaussians(imgs[train], clip.intrinsics, clip.poses[train], pts, cols, cfg)
    took = time.perf_counter() - t0
    ev = evaluate_views(model, imgs[test], clip.intrinsics, clip.poses[test])
    assert ev["psnr"] >= 28.0, ev
    assert took < 600, took


# measured (shared 2-core CPU, load ~10): 450 steps -> 30.6 dB in 309 s; 600 steps -> 34.5 dB in 637 s
SYNTH_ITERATIONS = 500
SYNTH_INIT_POINTS = 60_000
