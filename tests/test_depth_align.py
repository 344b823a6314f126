"""Cross-view depth scale alignment on synth views with a known distortion of the depth."""

import numpy as np
import pytest

from see3d.depth.align import (
    DepthPairs,
    align_dense,
    align_global,
    dense_scale_shift,
    dense_scale_shift_reference,
    fit_scale_shift,
    keypoint_pairs,
    overlap_pairs,
)
from see3d.errors import See3DError
from see3d.io.images import to_uint8


@pytest.fixture(scope="module")
def views():
    """Two views of a textured synth room with exact depth (first and last frame of a short clip)."""
    from see3d.synth import render_clip

    clip = render_clip(seed=3, frames=4, size=(120, 160), focal=140.0, kind="room")
    assert np.all(np.isfinite(clip.depth))
    return clip


def smooth_field(h, w):
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return 1.25 + 0.3 * np.sin(u / 45.0 + 0.3) * np.cos(v / 35.0)


def rel_err(a, b):
    return float(np.mean(np.abs(a - b) / b))


def test_overlap_pairs_read_the_true_depth(views):
    d0, d1 = views.depth[0], views.depth[-1]
    K, P = views.intrinsics, views.poses
    pairs = overlap_pairs(d1 * 0.5, K, P[-1], d0, K, P[0])
    assert len(pairs) > 0.4 * d1.size
    ui, vi = pairs.uv[:, 0].astype(int), pairs.uv[:, 1].astype(int)
    truth = d1[vi, ui]
    np.testing.assert_allclose(pairs.x, 0.5 * truth)
    # the reference's surface lands on this view's pixels: z agrees with the truth for most pairs
    assert np.median(np.abs(pairs.y - truth) / truth) < 0.01


@pytest.mark.parametrize("frame", [1, 3])
def test_dense_alignment_undoes_a_smooth_scale_field(views, frame):
    """Depth distorted by a known smooth scale field; the reference view's true depth fixes it.

    Frame 1 overlaps frame 0 on ~90% of its pixels: the whole map must improve >= 5x. Frame 3 turned
    further (~50% overlap): where no reference pixel lands the field can only be extrapolated, so
    the >= 5x is required on the overlapping pixels.
    """
    d0, d1 = views.depth[0], views.depth[frame]
    K, P = views.intrinsics, views.poses
    field = smooth_field(*d1.shape)
    distorted = (d1 / field).astype(np.float32)
    pairs = overlap_pairs(distorted, K, P[frame], d0, K, P[0])
    covered = np.zeros(d1.shape, bool)
    covered[pairs.uv[:, 1].astype(int), pairs.uv[:, 0].astype(int)] = True
    where = slice(None) if frame == 1 else covered
    before = rel_err(distorted[where], d1[where])
    dense = align_dense(distorted, pairs)
    glob, s, _ = align_global(distorted, pairs)
    after_dense, after_global = rel_err(dense[where], d1[where]), rel_err(glob[where], d1[where])
    assert before > 0.15
    assert after_dense * 5 <= before, (before, after_dense)
    assert after_dense * 2 < after_global  # a single scale cannot follow the field
    assert s == pytest.approx(np.median(field), rel=0.15)


def test_keypoint_pairs_recover_a_global_scale():
    """SIFT/ORB matches between two synth views; this view's depth is off by a factor 0.6."""
    from see3d.synth import render_clip

    views = render_clip(seed=5, frames=2, size=(240, 320), focal=280.0, kind="objects")
    d0, d1 = views.depth[0], views.depth[1]
    K, P = views.intrinsics, views.poses
    img0, img1 = to_uint8(views.rgb[0]), to_uint8(views.rgb[1])
    scaled = np.where(np.isfinite(d1), d1 * 0.6, 0).astype(np.float32)
    ref = np.where(np.isfinite(d0), d0, 0)
    pairs = keypoint_pairs(img1, scaled, K, P[1], img0, ref, K, P[0], method="sift")
    assert len(pairs) >= 20
    s, t, inl = fit_scale_shift(pairs.x, pairs.y)
    assert s == pytest.approx(1 / 0.6, rel=0.01)
    assert inl.mean() > 0.8
    aligned, _, _ = align_global(scaled, pairs)
    valid = scaled > 0
    assert rel_err(aligned[valid], d1[valid]) < 0.01 < 0.3 < rel_err(scaled[valid], d1[valid])
    orb = keypoint_pairs(img1, scaled, K, P[1], img0, ref, K, P[0], method="orb")
    if len(orb) >= 10:  # ORB finds fewer corners on smooth textures
        assert fit_scale_shift(orb.x, orb.y)[0] == pytest.approx(1 / 0.6, rel=0.05)


def test_robust_global_fit_ignores_outliers(rng):
    x = rng.uniform(1, 10, 500)
    y = 1.7 * x + 0.4
    bad = rng.random(500) < 0.3
    y[bad] = rng.uniform(0.5, 30, bad.sum())
    s, t, inl = fit_scale_shift(x, y, shift=True)
    assert s == pytest.approx(1.7, rel=1e-3) and t == pytest.approx(0.4, abs=1e-2)
    assert inl[~bad].mean() > 0.99 and inl[bad].mean() < 0.2
    s_only, t0, _ = fit_scale_shift(x[~bad], 2.5 * x[~bad])
    assert s_only == pytest.approx(2.5) and t0 == 0.0
    with pytest.raises(See3DError, match="at least 3"):
        fit_scale_shift(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("shift", [True, False])
def test_dense_fast_path_matches_reference(rng, shift):
    h, w = 50, 70
    n = 400
    uv = np.stack([rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n)], 1)
    x = rng.uniform(1, 5, n)
    y = x * (1.2 + 0.2 * np.sin(uv[:, 0] / 10)) + 0.1
    pairs = DepthPairs(uv, x, y)
    S1, T1 = dense_scale_shift((h, w), pairs, bandwidth=8.0, step=5, shift=shift)
    S2, T2 = dense_scale_shift_reference((h, w), pairs, bandwidth=8.0, step=5, shift=shift)
    np.testing.assert_allclose(S1, S2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(T1, T2, rtol=1e-9, atol=1e-12)


def test_dense_far_from_data_falls_back_to_global_scale(rng):
    """Nodes with no pairs nearby take the global scale (the ridge pull), not garbage."""
    h, w = 60, 120
    uv = np.stack([rng.uniform(0, 20, 300), rng.uniform(0, h - 1, 300)], 1)  # data only on the left
    x = rng.uniform(1, 5, 300)
    pairs = DepthPairs(uv, x, 2.0 * x)
    S, T = dense_scale_shift((h, w), pairs, bandwidth=6.0, step=4)
    assert np.allclose(S[:, -10:], 2.0, rtol=1e-3) and np.allclose(T[:, -10:], 0.0, atol=1e-2)
