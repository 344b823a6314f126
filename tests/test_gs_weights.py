"""3DGS fits with per-view weights and per-pixel masks (generated views count less; holes not at all)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics, look_at
from see3d.errors import See3DError
from see3d.gs import GaussianModel, GSTrainConfig, fit_gaussians, render_views
from see3d.gs.metrics import psnr


def _ring_poses(n: int, radius: float = 2.2, height: float = -0.6) -> np.ndarray:
    return np.stack([look_at(np.array([radius * math.sin(a), height, -radius * math.cos(a)]), np.zeros(3))
                     for a in np.linspace(0, 2 * math.pi, n, endpoint=False)])


def _gt_scene(n: int = 40, seed: int = 1) -> GaussianModel:
    g = torch.Generator().manual_seed(seed)
    sh = torch.zeros(n, 1, 3)
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814
    return GaussianModel((torch.rand(n, 3, generator=g) - 0.5), torch.randn(n, 4, generator=g),
                         torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.04), torch.full((n,), 3.0), sh)


@pytest.fixture(scope="module")
def corrupted_views():
    """8 true views of a Gaussian scene plus 8 extra copies of view 0's camera whose centre is painted magenta."""
    gt = _gt_scene()
    intr = Intrinsics.from_fov(50.0, 32, 32)
    poses = _ring_poses(8)
    imgs = render_views(gt, intr, poses)
    bad = imgs[0].copy()
    box = np.zeros((32, 32), bool)
    box[8:24, 8:24] = True
    bad[box] = (1.0, 0.0, 1.0)
    all_imgs = np.concatenate([imgs, np.repeat(bad[None], 8, 0)])
    all_poses = np.concatenate([poses, np.repeat(poses[:1], 8, 0)])
    rng = np.random.default_rng(0)
    init = gt.means.numpy()[rng.integers(0, len(gt), 300)] + rng.normal(0, 0.05, (300, 3))
    return gt, intr, imgs, all_imgs, all_poses, box, init


def _fit(v, **kw):
    gt, intr, imgs, all_imgs, all_poses, box, init = v
    cfg = GSTrainConfig.for_iterations(160, sh_degree=0, densify_from=40, densify_every=40, opacity_reset_every=0)
    model = fit_gaussians(all_imgs, intr, all_poses, init_points=init, config=cfg, **kw)
    r = render_views(model, intr, all_poses[:1])[0]
    return psnr(r[box], imgs[0][box])


def test_view_weights_and_pixel_masks_keep_corrupted_content_out(corrupted_views):
    box = corrupted_views[5]
    plain = _fit(corrupted_views)
    # the 8 corrupted copies outnumber the true view: without weights the box turns towards magenta
    down = _fit(corrupted_views, view_weights=[1.0] * 8 + [0.02] * 8)
    pw = np.ones((16, 32, 32), np.float32)
    pw[8:, box] = 0.0  # the painted pixels are "holes" of those views
    masked = _fit(corrupted_views, pixel_weights=pw)
    assert plain < 15.5, plain  # measured 13.9 dB
    assert down > plain + 3.5, (down, plain)  # measured 18.5 dB
    assert masked > plain + 3.5, (masked, plain)  # measured 18.2 dB


def test_weight_inputs_are_checked(corrupted_views):
    gt, intr, imgs, all_imgs, all_poses, box, init = corrupted_views
    cfg = GSTrainConfig.for_iterations(2, sh_degree=0)
    with pytest.raises(See3DError, match="view_weights: got 3 weights for 16 views"):
        fit_gaussians(all_imgs, intr, all_poses, init_points=init, config=cfg, view_weights=[1, 1, 1])
    with pytest.raises(See3DError, match="not all 0"):
        fit_gaussians(all_imgs, intr, all_poses, init_points=init, config=cfg, view_weights=[0.0] * 16)
    with pytest.raises(See3DError, match=r"pixel_weights must be \[N, H, W\]"):
        fit_gaussians(all_imgs, intr, all_poses, init_points=init, config=cfg, pixel_weights=np.ones((16, 16, 16)))
    with pytest.raises(See3DError, match=r"in \[0, 1\]"):
        fit_gaussians(all_imgs, intr, all_poses, init_points=init, config=cfg, pixel_weights=np.full((16, 32, 32), 2.0))
