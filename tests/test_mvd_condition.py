"""The See3D visual condition: published weight table, arithmetic, dropout, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from see3d.errors import See3DError
from see3d.mvd.condition import (
    build_condition,
    build_condition_reference,
    condition_timestep,
    condition_weight,
    condition_weight_scalar,
    make_mask,
    random_layered_depth,
    sample_references,
    stroke_mask,
    warp_hole_mask,
)
from see3d.mvd.schedule import NoiseSchedule

# REFERENCE.md section 1: t -> W(t // 5)
TABLE = {999: 0.999, 500: 0.857, 300: 0.80, 250: 0.378, 100: 0.04, 0: 0.009}


@pytest.mark.parametrize("t,w", sorted(TABLE.items()))
def test_weight_matches_published_table(t, w):
    tc = condition_timestep(t)
    assert tc == t // 5
    got = float(condition_weight(torch.tensor(float(tc))))
    assert round(got, 3) == pytest.approx(w, abs=1e-9) or abs(got - w) < 1.5e-3
    assert condition_weight_scalar(tc) == pytest.approx(got, abs=1e-6)


def test_weight_vectorised_equals_scalar_twin_and_is_monotone():
    t = torch.arange(1000)
    w = condition_weight(condition_timestep(t))
    ref = torch.tensor([condition_weight_scalar(int(x) // 5) for x in t])
    assert torch.allclose(w, ref.float(), atol=1e-6)
    assert (w[1:] >= w[:-1] - 1e-7).all() and (w >= 0).all() and (w <= 1).all()
    # continuity at the seam t' = 60 (both branches give 0.8)
    assert condition_weight(torch.tensor(60.0)) == pytest.approx(0.8)
    assert condition_weight(torch.tensor(59.999)) == pytest.approx(0.8, abs=1e-4)


def _sched():
    s = NoiseSchedule()
    return s, s.add_noise


def test_condition_hand_computed_values():
    sched, add_noise = _sched()
    # 1 sample, 2 views: view 0 reference, view 1 target; 1 channel, 1x2 pixels
    x_t = torch.tensor([[[[[9.0, 9.0]]], [[[0.3, -0.2]]]]])
    cond = torch.tensor([[[[[7.0, 7.0]]], [[[0.5, 0.0]]]]])
    masks = torch.tensor([[[[[0.0, 0.0]]], [[[1.0, 0.0]]]]])
    ref = torch.tensor([[True, False]])
    clean = torch.tensor([[[[[0.25, 0.75]]], [[[0.0, 0.0]]]]])
    noise = torch.tensor([[[[[1.0, 1.0]]], [[[1.0, -1.0]]]]])
    t = torch.tensor([500])
    out = build_condition(x_t, cond, masks, ref, clean, t, noise, add_noise)
    assert out.shape == (1, 2, 3, 1, 2)
    a = float(sched.alphas_cumprod[100])  # t' = 500 // 5
    w = 1 - 0.2 * (200 - 100) / 140
    c = [math.sqrt(a) * 0.5 + math.sqrt(1 - a) * 1.0, math.sqrt(a) * 0.0 - math.sqrt(1 - a)]
    v = [w * c[0] + (1 - w) * 0.3, w * c[1] + (1 - w) * -0.2]
    assert out[0, 1, 0, 0].tolist() == pytest.approx([0.3, -0.2])  # x_t of the target
    assert out[0, 1, 1, 0].tolist() == pytest.approx(v, abs=1e-6)  # V_t
    assert out[0, 1, 2, 0].tolist() == [1.0, 0.0]  # its mask
    # the reference: clean in both slots, mask 1 (whatever x_t / mask said)
    assert out[0, 0, 0, 0].tolist() == [0.25, 0.75]
    assert out[0, 0, 1, 0].tolist() == [0.25, 0.75]
    assert out[0, 0, 2, 0].tolist() == [1.0, 1.0]


def test_condition_fast_equals_reference_loop_with_dropout_and_ablation():
    sched, add_noise = _sched()
    g = torch.Generator().manual_seed(0)
    b, f, c, h, w = 3, 4, 3, 5, 6
    x_t, cond, clean, noise = (torch.randn(b, f, c, h, w, generator=g) for _ in range(4))
    masks = (torch.rand(b, f, 1, h, w, generator=g) > 0.4).float()
    ref = torch.tensor([[True, False, False, False], [False, True, True, False], [False, False, False, True]])
    t = torch.tensor([999, 250, 3])
    drop = torch.tensor([False, True, False])
    for mask_only in (False, True):
        fast = build_condition(x_t, cond, masks, ref, clean, t, noise, add_noise, drop=drop, mask_only=mask_only)
        slow = build_condition_reference(x_t, cond, masks, ref, clean, t, noise, sched.alphas_cumprod, drop=drop, mask_only=mask_only)
        assert torch.allclose(fast, slow, atol=1e-5)
    # dropped sample: targets carry zero condition and zero mask, references stay clean
    out = build_condition(x_t, cond, masks, ref, clean, t, noise, add_noise, drop=drop)
    assert (out[1, [0, 3], c:] == 0).all()
    assert torch.equal(out[1, 1, c : 2 * c], clean[1, 1]) and (out[1, 1, -1] == 1).all()
    # the ablation: condition slot of targets is exactly x_t
    abl = build_condition(x_t, cond, masks, ref, clean, t, noise, add_noise, mask_only=True)
    assert torch.equal(abl[0, 1:, c : 2 * c], x_t[0, 1:])


def test_condition_bad_inputs():
    _, add_noise = _sched()
    x = torch.zeros(1, 2, 3, 4, 4)
    with pytest.raises(See3DError, match="zero references"):
        build_condition(x, x, torch.ones(1, 2, 1, 4, 4), torch.tensor([[False, False]]), x, torch.tensor([10]), x, add_noise)
    with pytest.raises(See3DError, match="mask shape"):
        build_condition(x, x, torch.ones(1, 2, 1, 4, 5), torch.tensor([[True, False]]), x, torch.tensor([10]), x, add_noise)
    with pytest.raises(See3DError, match="at least 2 views"):
        sample_references(np.random.default_rng(0), 1)


def test_reference_sampling_counts():
    rng = np.random.default_rng(0)
    counts = [int(sample_references(rng, 5, 1, 2).sum()) for _ in range(200)]
    assert set(counts) == {1, 2}


def test_stroke_mask_widths_follow_published_range():
    rng = np.random.default_rng(1)
    m = stroke_mask(512, 512, rng, strokes=(1, 1))
    assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    holes = (m == 0).astype(np.uint8)
    assert 0 < holes.mean() < 0.9
    # the thickest inscribed disc of a stroke is half its width (20-150 px at 512), up to
    # sqrt(2) more where two segments of a polyline meet at an angle
    import cv2

    r = cv2.distanceTransform(holes, cv2.DIST_L2, 5).max()
    assert 8 <= r <= 75 * 1.42


def test_warp_hole_mask_opens_holes_at_depth_edges():
    rng = np.random.default_rng(3)
    h, w = 64, 96
    depth = np.full((h, w), 6.0, np.float32)
    depth[20:44, 30:60] = 2.0  # a near box in front of a far wall
    fractions = []
    near_edge = 0
    total = 0
    for _ in range(20):
        m = warp_hole_mask(h, w, rng, depth=depth, invalid_blobs=False)
        holes = m == 0
        fractions.append(holes.mean())
        # holes away from the image border must lie near the box (disocclusions), not in the wall
        inner = holes.copy()
        inner[:8], inner[-8:], inner[:, :12], inner[:, -12:] = False, False, False, False
        ys, xs = np.nonzero(inner)
        total += len(ys)
        near_edge += int(((ys >= 10) & (ys < 54) & (xs >= 18) & (xs < 72)).sum())
    assert 0.005 < np.mean(fractions) < 0.6
    assert total > 0 and near_edge / total > 0.95
    # a flat wall seen straight on leaves holes only at the border
    flat = np.full((h, w), 6.0, np.float32)
    m = warp_hole_mask(h, w, np.random.default_rng(4), depth=flat, invalid_blobs=False)
    assert (m[10:-10, 14:-14] == 1).all()


def test_make_mask_kinds():
    rng = np.random.default_rng(0)
    for kind in ("strokes", "warp", "mixed"):
        m = make_mask(kind, 48, 64, rng)
        assert m.shape == (48, 64) and 0 < m.mean() < 1
    assert random_layered_depth(16, 16, rng).min() > 0
    with pytest.raises(See3DError, match="unknown mask generator"):
        make_mask("blobs", 8, 8, rng)
