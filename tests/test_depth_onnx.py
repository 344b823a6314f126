"""The metric3d-onnx backend on ONNX files exported here with Metric3D's input/output signature.

Loading code for real weights is exercised on tiny models built here with the same input/output
signatures as the published ones; nothing is downloaded.
"""

import warnings

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics
from see3d.camera import canonical as cano
from see3d.depth import load_backend
from see3d.depth.tiny import TinyDepthBackend, TinyDepthConfig, TinyDepthNet
from see3d.errors import See3DError

# fixtures `tiny_model` (TinyDepthNet, channels 8/16/32 at 48x64) and `image`: tests/conftest.py


# ----------------------------------------------------------------------------- ONNX
class _Metric3DLike(torch.nn.Module):
    """Same signature as Metric3D's export: input 'image' (RGB 0-255, normalised inside),
    output 'pred_depth' [1, 1, H, W] canonical depth."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(cano.IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cano.IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image):
        return self.net((image - self.mean) / self.std)


def _export(module, path, hw, input_name="image", dynamic=False, extra_input=False):
    pytest.importorskip("onnx")
    args = (torch.zeros(1, 3, *hw),) + ((torch.zeros(1, 3, *hw),) if extra_input else ())
    names = [input_name] + (["other"] if extra_input else [])
    kw = {"dynamic_axes": {input_name: {2: "h", 3: "w"}, "pred_depth": {2: "h", 3: "w"}}} if dynamic else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=names, output_names=["pred_depth"], opset_version=17, dynamo=False, **kw)


@pytest.mark.parametrize("dynamic", [False, True])
def test_onnx_backend_matches_the_torch_model(tmp_path, tiny_model, image, dynamic):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "metric3d_like.onnx"
    _export(_Metric3DLike(tiny_model), path, tiny_model.config.input_size, dynamic=dynamic)
    kw = {"input_size": tiny_model.config.input_size} if dynamic else {}
    b = load_backend(f"metric3d-onnx:{path}", **kw)
    assert b.input_size == tiny_model.config.input_size and b.dynamic == dynamic and not b.normalized
    intr = Intrinsics(750.0, 750.0, 34.5, 22.0, 70, 45)
    got = b.predict(image, intr)
    ref = TinyDepthBackend(tiny_model).predict(image, intr)
    np.testing.assert_allclose(got.depth, ref.depth, rtol=1e-4, atol=1e-5)
    # the de-canonical step: canonical output x fx * s / 1000
    p = cano.fit_placement(intr, tiny_model.config.input_size)
    np.testing.assert_allclose(got.depth, got.canonical * 750.0 * p.scale / 1000.0, rtol=1e-5)


def test_onnx_dynamic_runs_at_another_size_and_pixel_values_convention(tmp_path, tiny_model, image):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "dyn.onnx"
    _export(tiny_model, path, tiny_model.config.input_size, input_name="pixel_values", dynamic=True)  # normalised input
    b = load_backend(path, input_size=(64, 96))
    assert b.normalized
    intr = Intrinsics(750.0, 750.0, 34.5, 22.0, 70, 45)
    ref = TinyDepthBackend(TinyDepthNet.from_pretrained(_save(tiny_model, tmp_path, (64, 96)))).predict(image, intr)
    np.testing.assert_allclose(b.predict(image, intr).depth, ref.depth, rtol=1e-4, atol=1e-5)


def _save(model, tmp_path, hw):
    cfg = TinyDepthConfig(channels=model.config.channels, input_size=hw)
    m = TinyDepthNet(cfg)
    m.load_state_dict(model.state_dict())
    m.save_pretrained(tmp_path / "resized")
    return tmp_path / "resized"


def test_onnx_unexpected_inputs_are_rejected(tmp_path, tiny_model):
    pytest.importorskip("onnxruntime")

    class Two(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, image, other):
            return self.net(image + other)

    _export(Two(tiny_model), tmp_path / "two.onnx", tiny_model.config.input_size, extra_input=True)
    with pytest.raises(See3DError, match="2 inputs"):
        load_backend(tmp_path / "two.onnx")
    _export(tiny_model, tmp_path / "odd.onnx", tiny_model.config.input_size, input_name="rgb_in")
    with pytest.raises(See3DError, match="unexpected input name"):
        load_backend(tmp_path / "odd.onnx")
    with pytest.raises(See3DError, match="fixed input"):
        load_backend(f"metric3d-onnx:{tmp_path / 'odd.onnx'}", input_size=(32, 32), normalized=True)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(See3DError, match="cannot load ONNX"):
        load_backend(tmp_path / "junk.onnx")


