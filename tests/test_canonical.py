"""Metric3D's canonical camera transform: worked examples, inference order, training transforms."""

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics
from see3d.camera import canonical as cano
from see3d.errors import See3DError
from see3d.depth.train import DepthTrainConfig


def oracle_canvas(depth, p):
    """What a perfect canonical network outputs: the true depth placed in the canvas, in canonical units."""
    placed = cano.place_array(depth.astype(np.float32), p, 0.0)
    return cano.to_canonical(placed, p.focal_seen)


# ----------------------------------------------------------------------------- worked examples
def test_nyu_worked_example():
    intr = Intrinsics(518.8579, 519.46961, 325.58245, 253.73617, 640, 480)
    p = cano.fit_placement(intr, cano.VIT_INPUT)
    assert p.scale == pytest.approx(1.28333, abs=1e-5)
    assert (p.resized_w, p.resized_h) == (821, 616)
    assert p.pad == (0, 0, 121, 122)
    assert p.label_factor == pytest.approx(0.66587, abs=1e-5)
    # intrinsics scaled by s and shifted by the left pad
    assert p.intrinsics.fx == pytest.approx(518.8579 * p.scale)
    assert p.intrinsics.cx == pytest.approx(325.58245 * p.scale + 121)
    assert (p.intrinsics.width, p.intrinsics.height) == (1064, 616)


def test_kitti_worked_example():
    intr = Intrinsics(707.0493, 707.0493, 604.0814, 180.5066, 1242, 375)
    p = cano.fit_placement(intr, cano.VIT_INPUT)
    assert p.scale == pytest.approx(0.85668, abs=1e-5)
    assert (p.resized_w, p.resized_h) == (1064, 321)
    assert p.pad == (147, 148, 0, 0)
    assert p.label_factor == pytest.approx(0.60572, abs=1e-5)
    # the ViT decoder's 200 m canonical range expresses at most ~121 m here
    assert 200 * p.label_factor == pytest.approx(121.1, abs=0.1)


def test_scalar_maths_round_trip():
    d = np.array([0.5, 2.0, -1.0, 0.0], np.float32)
    c = cano.to_canonical(d, 500.0)
    np.testing.assert_allclose(c, [1.0, 4.0, -1.0, 0.0])  # invalid values are kept
    np.testing.assert_allclose(cano.from_canonical(c[:2], 500.0), d[:2])
    # the reference's example: f = 500, a canonical net reads 2 m, the truth is 1 m
    assert cano.from_canonical(2.0, 500.0) == pytest.approx(1.0)
    with pytest.raises(See3DError):
        cano.canonical_factor(0.0)
    with pytest.raises(See3DError):
        cano.canonical_factor(float("nan"))


# ----------------------------------------------------------------------------- inference order
def published_network_input(rgb: np.ndarray, net_hw: tuple[int, int]) -> torch.Tensor:
    """The network input of Metric3D's ``hubconf.py`` (YvanYin/Metric3D at eb5b6fa), re-stated
    from its description: fit-resize the *uint8* image with OpenCV's bilinear filter to
    ``int(w * s) x int(h * s)``, pad it to the input size with ``cv2.copyMakeBorder`` and the
    ImageNet mean as the border value (the top/left pad is the half rounded down), then
    ``(x - mean) / std`` in float32 on CHW."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(net_hw[0] / h, net_hw[1] / w)
    small = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_LINEAR)
    dh, dw = net_hw[0] - small.shape[0], net_hw[1] - small.shape[1]
    canvas = cv2.copyMakeBorder(small, dh // 2, dh - dh // 2, dw // 2, dw - dw // 2, cv2.BORDER_CONSTANT, value=list(cano.IMAGENET_MEAN))
    chw = torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1))).float()
    mean = torch.tensor(cano.IMAGENET_MEAN).float()[:, None, None]
    std = torch.tensor(cano.IMAGENET_STD).float()[:, None, None]
    return torch.div(chw - mean, std)[None]


def _assert_bit_identical(got: torch.Tensor, ref: torch.Tensor) -> None:
    assert got.dtype == ref.dtype == torch.float32 and got.shape == ref.shape
    # bit for bit, not within a tolerance
    assert torch.equal(got.view(torch.int32), ref.view(torch.int32)), f"max difference {(got - ref).abs().max():.3g}"


@pytest.mark.parametrize("hw", [(30, 80), (45, 70), (97, 61)])
def test_network_input_is_bit_identical_to_the_published_preprocessing(hw):
    """Generated images (always run): uint8 resize (not a float copy) and the rounded pad colour."""
    rng = np.random.default_rng(hw[0])
    h, w = hw
    # a smooth image plus noise: both the interpolation and the rounding matter
    v, u = np.mgrid[0:h, 0:w]
    base = np.stack([u * 255.0 / w, v * 255.0 / h, (u + v) * 127.0 / (h + w)], -1)
    img = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    intr = Intrinsics(100, 100, w / 2, h / 2, w, h)
    for net_hw in [(64, 96), (48, 64), (616, 1064)]:
        x, p = cano.prepare_input(img, intr, net_hw)
        _assert_bit_identical(x, published_network_input(img, net_hw))
        assert p.pad == (
            (net_hw[0] - p.resized_h) // 2, net_hw[0] - p.resized_h - (net_hw[0] - p.resized_h) // 2,
            (net_hw[1] - p.resized_w) // 2, net_hw[1] - p.resized_w - (net_hw[1] - p.resized_w) // 2,
        )


def test_canvas_is_the_8bit_resize_padded_with_the_rounded_mean():
    import cv2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 80, 3), dtype=np.uint8)
    intr = Intrinsics(100, 100, 40, 15, 80, 30)
    canvas, p = cano.prepare_canvas(img, intr, (64, 96))
    assert canvas.dtype == np.uint8 and canvas.shape == (64, 96, 3)
    # cv2.copyMakeBorder on uint8 writes the mean rounded: (124, 116, 104), not (123.675, 116.28, 103.53)
    assert cano.PAD_RGB == (124, 116, 104)
    border = cv2.copyMakeBorder(np.zeros((1, 1, 3), np.uint8), 1, 0, 0, 0, cv2.BORDER_CONSTANT, value=list(cano.IMAGENET_MEAN))
    assert tuple(border[0, 0]) == cano.PAD_RGB
    top, bottom, left, right = p.pad
    assert top > 0 and np.all(canvas[:top] == cano.PAD_RGB) and np.all(canvas[64 - bottom :] == cano.PAD_RGB)
    x, _ = cano.prepare_input(img, intr, (64, 96))
    pad_norm = (np.array(cano.PAD_RGB) - np.array(cano.IMAGENET_MEAN)) / np.array(cano.IMAGENET_STD)
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), pad_norm, rtol=1e-4)  # (0.0056, -0.0049, 0.0082): not 0
    # the image region: the uint8 resize (OpenCV's fixed-point filter), not a resized float copy
    r8 = cv2.resize(img, (p.resized_w, p.resized_h), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(canvas[top : top + p.resized_h, left : left + p.resized_w], r8)
    rf = cv2.resize(img.astype(np.float32), (p.resized_w, p.resized_h), interpolation=cv2.INTER_LINEAR)
    assert 0 < np.abs(rf - r8).max() < 1.0  # what see3d used to feed: up to ~0.8 grey levels off
    # float images are rounded to 8 bits first (the published code only ever reads 8-bit files)
    xf, _ = cano.prepare_input(img.astype(np.float32) / 255.0, intr, (64, 96))
    _assert_bit_identical(xf, x)


@pytest.mark.parametrize("index", [0, 1])
def test_network_input_is_bit_identical_on_real_frames(shared_data, index):
    """The KITTI and NYU frames of Metric3D's demo data, read as the published code reads them
    (``cv2.imread``, BGR -> RGB) and as see3d reads them (``load_image``): the same pixels, and
    the same network input bit for bit, at the ViT and the ConvNeXt input sizes."""
    import json

    import cv2

    from see3d.io.images import load_image

    root = shared_data / "metric3d_demo"
    ann = root / "test_annotations.json"
    if not ann.is_file():
        pytest.skip(f"Metric3D demo frames not found at {root}")
    entry = json.loads(ann.read_text())["files"][index]
    rgb_file = root / entry["rgb"]
    if not rgb_file.is_file():
        pytest.skip(f"frame {rgb_file} not found")
    published_rgb = cv2.imread(str(rgb_file))[:, :, ::-1]
    ours = load_image(rgb_file)
    np.testing.assert_array_equal(ours, published_rgb)  # same decoder result (PNG and this JPEG)
    fx, fy, cx, cy = entry["cam_in"]
    intr = Intrinsics(fx, fy, cx, cy, ours.shape[1], ours.shape[0])
    for net_hw in (cano.VIT_INPUT, cano.CONVNEXT_INPUT):
        x, p = cano.prepare_input(ours, intr, net_hw)
        _assert_bit_identical(x, published_network_input(published_rgb, net_hw))
        assert p.focal_seen == pytest.approx(fx * p.scale)  # hubconf: intrinsic[0] * scale, i.e. fx (not (fx+fy)/2)


@pytest.mark.parametrize("fx", [300.0, 1000.0, 2500.0])
def test_oracle_network_gives_back_metric_depth(fx):
    """A network that outputs the true canonical depth yields the true metric depth at any focal."""
    h, w = 60, 90
    v, u = np.mgrid[0:h, 0:w]
    depth = (2.0 + 0.02 * u + 0.01 * v).astype(np.float32)  # smooth, so resizing is nearly exact
    intr = Intrinsics(fx, fx, (w - 1) / 2, (h - 1) / 2, w, h)
    for net_hw in [(48, 96), (80, 64)]:
        p = cano.fit_placement(intr, net_hw)
        out = cano.restore_output(oracle_canvas(depth, p), p)
        assert out.shape == (h, w)
        inner = (slice(3, -3), slice(3, -3))
        np.testing.assert_allclose(out[inner], depth[inner], rtol=0.02)
        # the scale is exactly right on average (interpolation errors cancel)
        assert np.median(out[inner] / depth[inner]) == pytest.approx(1.0, abs=2e-3)


def test_label_and_image_variants_agree_for_an_oracle():
    h, w = 50, 70
    v, u = np.mgrid[0:h, 0:w]
    depth = (3.0 + 0.01 * u).astype(np.float32)
    intr = Intrinsics(500.0, 500.0, (w - 1) / 2, (h - 1) / 2, w, h)
    outs = {}
    for variant in ("label", "image"):
        p = cano.fit_placement(intr, (128, 160), variant)
        outs[variant] = cano.restore_output(oracle_canvas(depth, p), p)
    pi = cano.fit_placement(intr, (128, 160), "image")
    assert pi.focal_seen == pytest.approx(cano.CANONICAL_FOCAL)  # CSTM_image: the canvas is canonical
    assert pi.label_factor == pytest.approx(1.0)
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(outs["label"][inner], outs["image"][inner], rtol=0.02)
    np.testing.assert_allclose(outs["image"][inner], depth[inner], rtol=0.02)


def test_image_variant_crops_large_images_and_marks_them_invalid():
    intr = Intrinsics(200.0, 200.0, 49.5, 39.5, 100, 80)  # f_c / f = 5 -> 500x400, canvas 128x160
    depth = np.full((80, 100), 4.0, np.float32)
    p = cano.fit_placement(intr, (128, 160), "image")
    assert (p.resized_w, p.resized_h) == (500, 400)
    assert p.top < 0 and p.left < 0
    out = cano.restore_output(oracle_canvas(depth, p), p)
    assert out[0, 0] == 0 and out[40, 50] == pytest.approx(4.0, rel=1e-5)
    assert 0 < (out > 0).mean() < 0.5


def test_restore_clamps_and_rejects_wrong_shape():
    intr = Intrinsics(1000, 1000, 15.5, 9.5, 32, 20)
    p = cano.fit_placement(intr, (32, 32))
    pred = np.full((32, 32), 1e6, np.float32)
    out = cano.restore_output(pred, p, max_depth=300.0)
    assert out.max() == pytest.approx(300.0)
    with pytest.raises(See3DError, match="prediction is"):
        cano.restore_output(np.zeros((16, 16)), p)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(See3DError, match="positive"):
        Intrinsics(-5, 100, 10, 10, 20, 20)
    with pytest.raises(See3DError, match="absurd"):
        Intrinsics(1e6, 1e6, 10, 10, 64, 48)
    intr = Intrinsics(100, 100, 10, 10, 20, 20)
    with pytest.raises(See3DError, match="intrinsics are for"):
        cano.prepare_input(np.zeros((30, 20, 3), np.uint8), intr, (32, 32))
    with pytest.raises(See3DError, match="RGB"):
        cano.prepare_input(np.zeros((20, 20), np.uint8), intr, (32, 32))
    with pytest.raises(See3DError, match="NaN"):
        cano.prepare_input(np.full((20, 20, 3), np.nan, np.float32), intr, (32, 32))
    with pytest.raises(See3DError, match="variant"):
        cano.fit_placement(intr, (32, 32), "banana")


# ----------------------------------------------------------------------------- training transforms
def test_training_sample_label_scaling_resize_and_padding():
    rng = np.random.default_rng(3)
    h, w = 40, 60
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(1, 10, (h, w)).astype(np.float32)
    depth[5, 5] = 0  # invalid stays invalid
    intr = Intrinsics(400.0, 400.0, 29.5, 19.5, w, h)
    for seed in range(6):
        s = cano.training_sample(img, depth, intr, (48, 64), np.random.default_rng(seed), resize_range=(0.85, 1.15))
        p = s.placement
        r = p.scale / cano.fit_scale(h, w, (48, 64))
        assert 0.85 <= r <= 1.15
        lab = s.label.numpy()
        assert lab.shape == (48, 64) and s.image.shape == (3, 48, 64)
        # the label holds D * f_c / (fx * s_fit * r): canonical label times 1/r
        metric = cano.place_array(np.where(depth > 0, depth, -1), p, -1.0, nearest=True)
        valid = metric > 0
        np.testing.assert_allclose(lab[valid], metric[valid] * 1000.0 / (400.0 * p.scale), rtol=1e-5)
        # padding and invalid pixels are -1; padded image pixels are 0 after normalisation
        assert np.all(lab[~valid] == cano.INVALID_LABEL)
        top, bottom, left, right = p.pad
        if top:
            assert torch.all(s.image[:, :top] == 0) and np.all(lab[:top] == -1)
        if left:
            assert torch.all(s.image[:, :, :left] == 0)


def test_centred_training_sample_keeps_the_principal_point_at_the_canvas_centre():
    rng = np.random.default_rng(4)
    h, w = 40, 60
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(1, 10, (h, w)).astype(np.float32)
    intr = Intrinsics(400.0, 400.0, 29.5, 19.5, w, h)
    scales = set()
    for seed in range(8):
        s = cano.training_sample(img, depth, intr, (48, 64), np.random.default_rng(seed), resize_range=(0.8, 1.25), centred=True)
        p = s.placement
        scales.add(round(p.scale, 6))
        # crop or pad: the principal point within a pixel of the canvas centre, as at inference
        assert abs(p.intrinsics.cx - 31.5) <= 1.0 and abs(p.intrinsics.cy - 23.5) <= 1.0
        ref = cano.make_placement(intr, (48, 64), p.scale)  # inference's centring for this scale
        assert (p.top, p.left) == (ref.top, ref.left)
        lab = s.label.numpy()
        valid = lab > 0
        metric = cano.place_array(depth, p, -1.0, nearest=True)
        np.testing.assert_allclose(lab[valid], metric[valid] * 1000.0 / (400.0 * p.scale), rtol=1e-5)
    assert len(scales) == 8  # the resize is still random
    with pytest.raises(See3DError, match="resize_centred"):
        DepthTrainConfig(coord=True, resize_range=(0.9, 1.1))
    DepthTrainConfig(coord=True, resize_range=(0.9, 1.1), resize_centred=True)


def test_training_sample_without_canonical_keeps_metres_and_image_variant_is_canonical():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    depth = np.full((40, 60), 5.0, np.float32)
    intr = Intrinsics(400.0, 400.0, 29.5, 19.5, 60, 40)
    s = cano.training_sample(img, depth, intr, (48, 64), rng, variant=None, resize_range=None)
    lab = s.label.numpy()
    assert set(np.unique(lab)) <= {5.0, -1.0} and (lab == 5.0).any()
    s = cano.training_sample(img, depth, intr, (48, 64), rng, variant="image", resize_range=(1.0, 1.0))
    assert s.placement.focal_seen == pytest.approx(1000.0)
    lab = s.label.numpy()
    assert np.allclose(lab[lab > 0], 5.0)  # CSTM_image: labels resized, not rescaled
    with pytest.raises(See3DError, match="does not match|depth map is"):
        cano.training_sample(img, depth[:10], intr, (48, 64), rng)
