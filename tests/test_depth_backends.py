"""Depth backends behind one interface: tiny (own weights), Metric3D ONNX, transformers, file.

Loading code for real weights is exercised on tiny models built here with the same input/output
signatures as the published ones; nothing is downloaded.
"""

import json

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics
from see3d.camera import canonical as cano
from see3d.depth import DepthBackend, load_backend, predict_metric_depth
from see3d.depth.tiny import TinyDepthBackend, TinyDepthConfig, TinyDepthNet
from see3d.errors import See3DError

# fixtures `tiny_model` (TinyDepthNet, channels 8/16/32 at 48x64) and `image`: tests/conftest.py


def test_tiny_save_load_round_trip(tmp_path, tiny_model, image):
    tiny_model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["see3d_model"] == "tiny_depth"
    m2 = TinyDepthNet.from_pretrained(tmp_path / "m")
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    b = load_backend(tmp_path / "m")
    assert isinstance(b, DepthBackend) and b.name == "tiny"


def test_tiny_backend_follows_metric3d_order(tiny_model, image):
    intr = Intrinsics(600.0, 600.0, 34.5, 22.0, 70, 45)
    pred = TinyDepthBackend(tiny_model).predict(image, intr)
    # by hand: fit-resize + pad + normalise, run, un-pad, upsample, x fx*s/1000
    x, p = cano.prepare_input(image, intr, tiny_model.config.input_size)
    with torch.no_grad():
        out = tiny_model(x)[0, 0]
    t, b, l, r = p.pad
    crop = out[t : tiny_model.config.input_size[0] - b, l : tiny_model.config.input_size[1] - r]
    up = torch.nn.functional.interpolate(crop[None, None], size=(45, 70), mode="bilinear", align_corners=False)[0, 0]
    expected = up.numpy() * 600.0 * p.scale / 1000.0
    np.testing.assert_allclose(pred.depth, expected, rtol=1e-5)
    assert pred.depth.shape == (45, 70) and pred.depth.dtype == np.float32


def test_focal_scales_metric_depth_exactly(tiny_model, image):
    """Same pixels, twice the focal: the object is twice as far (CSTM_label)."""
    b = TinyDepthBackend(tiny_model)
    d1 = b.predict(image, Intrinsics(400.0, 400.0, 34.5, 22.0, 70, 45)).depth
    d2 = b.predict(image, Intrinsics(800.0, 800.0, 34.5, 22.0, 70, 45)).depth
    np.testing.assert_allclose(d2, 2 * d1, rtol=1e-5)


def test_no_canonical_model_ignores_focal(tiny_model, image, tmp_path):
    m = TinyDepthNet(TinyDepthConfig(channels=(8, 16, 32), input_size=(48, 64), variant=None))
    m.load_state_dict(tiny_model.state_dict())
    b = TinyDepthBackend(m)
    d1 = b.predict(image, Intrinsics(400.0, 400.0, 34.5, 22.0, 70, 45)).depth
    d2 = b.predict(image, Intrinsics(800.0, 800.0, 34.5, 22.0, 70, 45)).depth
    np.testing.assert_allclose(d1, d2)


def test_tiny_bad_weights(tmp_path, tiny_model):
    (tmp_path / "empty").mkdir()
    with pytest.raises(See3DError, match="no config.json"):
        load_backend(tmp_path / "empty")
    tiny_model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["channels"] = [8, 16, 64]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(See3DError, match="do not fit"):
        TinyDepthNet.from_pretrained(tmp_path / "m")
    with pytest.raises(See3DError, match="unknown depth model"):
        load_backend("no-such-model")


# ----------------------------------------------------------------------------- file
def test_file_backend(tmp_path, image):
    from see3d.io import save_depth_png

    depth = np.linspace(1, 5, 45 * 70, dtype=np.float32).reshape(45, 70)
    np.save(tmp_path / "d.npy", depth)
    save_depth_png(tmp_path / "d.png", depth, 1000.0)
    intr = Intrinsics(500, 500, 34.5, 22, 70, 45)
    np.testing.assert_array_equal(load_backend(tmp_path / "d.npy").predict(image, intr).depth, depth)
    np.testing.assert_allclose(load_backend(f"file:{tmp_path / 'd.png'}").predict(image, intr).depth, depth, atol=5e-4)
    np.testing.assert_array_equal(predict_metric_depth(image, intr, f"file:{tmp_path / 'd.npy'}"), depth)
    with pytest.raises(See3DError, match="does not match the image"):
        load_backend(tmp_path / "d.npy").predict(image[:40], Intrinsics(500, 500, 34.5, 20, 70, 40))
    bad = depth.copy()
    bad[3, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(See3DError, match="NaN/inf"):
        load_backend(tmp_path / "nan.npy")
