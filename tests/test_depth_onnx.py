"""The metric3d-onnx backend on ONNX files exported here with Metric3D's input/output signature.

Loading code for real weights is exercised on tiny models built here with the same input/output
signatures as the published ones; nothing is downloaded.
"""

import json
import warnings
from pathlib import Path

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
    assert b.convention_source.startswith("graph")  # the Sub of the ImageNet mean on the input
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
    assert b.normalized and b.convention_source == "input name 'pixel_values'"  # no config beside it, nothing in the graph
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




# ----------------------------------------------------------------------------- the published layouts
def published_canvas(rgb: np.ndarray, net_hw: tuple[int, int]) -> np.ndarray:
    """The padded canvas Metric3D's ``hubconf.py`` / ``onnx/test_onnx.py`` make, re-stated: uint8
    bilinear resize to ``int(w * s) x int(h * s)``, ``cv2.copyMakeBorder`` with the ImageNet mean
    (top/left: half the padding, rounded down); float32 CHW with a batch axis."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(net_hw[0] / h, net_hw[1] / w)
    small = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_LINEAR)
    dh, dw = net_hw[0] - small.shape[0], net_hw[1] - small.shape[1]
    canvas = cv2.copyMakeBorder(small, dh // 2, dh - dh // 2, dw // 2, dw - dw // 2, cv2.BORDER_CONSTANT, value=list(cano.IMAGENET_MEAN))
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x)
    return torch.div(t - torch.tensor(cano.IMAGENET_MEAN).float()[:, None, None], torch.tensor(cano.IMAGENET_STD).float()[:, None, None]).numpy()


class _CommunityLike(torch.nn.Module):
    """The onnx-community signature: input ``pixel_values`` (raw 0-255, normalised inside),
    outputs ``predicted_depth [1, H, W]``, ``predicted_normal [1, 3, H, W]``, ``normal_confidence [1, H, W]``."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.normal = torch.nn.Conv2d(3, 4, 1)
        self.register_buffer("mean", torch.tensor(cano.IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cano.IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, pixel_values):
        x = (pixel_values - self.mean) / self.std
        n = self.normal(x)
        return self.net(x)[:, 0], torch.nn.functional.normalize(n[:, :3], dim=1), torch.sigmoid(n[:, 3])


def _official_layout(tmp_path, net, hw) -> Path:
    """Metric3D's own export: ``metric3d_vit_small.onnx``, input ``image`` fixed size, output ``pred_depth``."""
    folder = tmp_path / "official"
    folder.mkdir()
    _export(_Metric3DLike(net), folder / "metric3d_vit_small.onnx", hw)
    return folder / "metric3d_vit_small.onnx"


def _community_layout(tmp_path, net, hw, preprocessor: dict | None = None) -> Path:
    """The onnx-community repository layout: ``onnx/model.onnx`` (dynamic size), ``config.json``,
    ``preprocessor_config.json`` (``do_rescale`` / ``do_normalize`` false: raw 0-255 pixels)."""
    pytest.importorskip("onnx")
    root = tmp_path / "metric3d-vit-small"
    (root / "onnx").mkdir(parents=True)
    torch.manual_seed(1)
    module = _CommunityLike(net).eval()
    outs = ["predicted_depth", "predicted_normal", "normal_confidence"]
    axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"}, **{o: {0: "batch"} for o in outs}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, 3, *hw),), str(root / "onnx" / "model.onnx"), input_names=["pixel_values"],
                          output_names=outs, dynamic_axes=axes, opset_version=17, dynamo=False)
    (root / "config.json").write_text(json.dumps({"model_type": "metric3d"}))
    pre = preprocessor or {"do_normalize": False, "do_rescale": False, "do_resize": False, "image_processor_type": "ImageProcessor"}
    (root / "preprocessor_config.json").write_text(json.dumps(pre))
    return root


def test_official_export_is_fed_the_published_canvas_bit_for_bit(tmp_path, tiny_model, image):
    pytest.importorskip("onnxruntime")
    hw = tiny_model.config.input_size
    path = _official_layout(tmp_path, tiny_model, hw)
    b = load_backend(path)
    assert not b.normalized and b.convention_source.startswith("graph") and b.input_size == hw
    intr = Intrinsics(750.0, 740.0, 34.5, 22.0, 70, 45)
    x, p = b.network_input(image, intr)
    ref = published_canvas(image, hw)
    assert x.dtype == np.float32 and np.array_equal(x, ref)  # raw 0-255: the padded uint8 canvas as float
    # the prediction is the published post-processing of the graph's output on that input
    with torch.no_grad():
        d_c = _Metric3DLike(tiny_model)(torch.from_numpy(ref))[0, 0]
    top, bottom, left, right = p.pad
    d_c = d_c[top : hw[0] - bottom, left : hw[1] - right]
    up = torch.nn.functional.interpolate(d_c[None, None], (45, 70), mode="bilinear")[0, 0]
    want = torch.clamp(up * (750.0 * p.scale / 1000.0), 0, 300)  # fx * s / 1000, as hubconf.py (not (fx + fy) / 2)
    np.testing.assert_allclose(b.predict(image, intr).depth, want.numpy(), rtol=1e-4, atol=1e-6)


def test_community_export_reads_raw_pixels_from_its_preprocessor_config(tmp_path, tiny_model, image):
    pytest.importorskip("onnxruntime")
    root = _community_layout(tmp_path, tiny_model, (64, 96))
    b = load_backend(root, input_size=(64, 96))  # the repository folder: onnx/model.onnx
    assert b.path == root / "onnx" / "model.onnx" and b.dynamic
    assert not b.normalized and b.convention_source.startswith("preprocessor_config.json")
    assert b.depth_output == "predicted_depth" and b.conf_output is None  # normal_confidence is not a depth confidence
    intr = Intrinsics(600.0, 600.0, 34.5, 22.0, 70, 45)
    x, p = b.network_input(image, intr)
    assert np.array_equal(x, published_canvas(image, (64, 96)))
    got = b.predict(image, intr)
    with torch.no_grad():
        d_c = _CommunityLike(tiny_model)(torch.from_numpy(x))[0][0].numpy()
    np.testing.assert_allclose(got.canonical, cano.unplace(d_c, p).numpy(), rtol=1e-4, atol=1e-6)
    ref = TinyDepthBackend(TinyDepthNet.from_pretrained(_save(tiny_model, tmp_path, (64, 96)))).predict(image, intr)
    np.testing.assert_allclose(got.depth, ref.depth, rtol=1e-4, atol=1e-5)
    # normalising a second time (see3d's old reading of pixel_values) is far off
    wrong = load_backend(root, input_size=(64, 96), normalized=True).predict(image, intr).depth
    assert np.median(np.abs(wrong / got.depth - 1)) > 0.05
    # an ONNX folder of another model (onnx-community hosts Depth Anything too) is not taken for Metric3D
    (root / "config.json").write_text(json.dumps({"model_type": "depth_anything"}))
    with pytest.raises(See3DError):
        load_backend(root)
    assert isinstance(load_backend(f"metric3d-onnx:{root}", input_size=(64, 96)), type(b))  # unless named so


def test_input_convention_evidence(tmp_path, tiny_model):
    pytest.importorskip("onnxruntime")
    from see3d.depth.onnx import input_convention

    hw = tiny_model.config.input_size
    imagenet = {"do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    # a graph without the normalisation inside + a config that normalises: normalised input
    plain = tmp_path / "plain"
    (plain / "onnx").mkdir(parents=True)
    _export(tiny_model, plain / "onnx" / "model.onnx", hw, input_name="pixel_values", dynamic=True)
    (plain / "preprocessor_config.json").write_text(json.dumps(imagenet))
    assert input_convention(plain / "onnx" / "model.onnx", "pixel_values")[0] is True
    # the config says normalise, the graph normalises too: refused, naming both
    root = _community_layout(tmp_path, tiny_model, hw, preprocessor=imagenet)
    with pytest.raises(See3DError, match="graph normalises"):
        load_backend(root, input_size=hw)
    assert load_backend(root, input_size=hw, normalized=False).convention_source == "argument normalized="
    # a preprocessing that is neither convention
    (root / "preprocessor_config.json").write_text(json.dumps({"do_rescale": True, "do_normalize": False}))
    with pytest.raises(See3DError, match="neither raw 0-255 nor ImageNet"):
        load_backend(root, input_size=hw)
    # no config: an unknown input name is read from the graph's normalisation
    odd = tmp_path / "odd.onnx"

    class Named(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, rgb_in):
            return self.inner(rgb_in)

    _export(Named(_Metric3DLike(tiny_model)), odd, hw, input_name="rgb_in")
    b = load_backend(odd)
    assert not b.normalized and b.convention_source.startswith("graph")
    # a folder with several exports must be told which one
    (root / "onnx" / "model.onnx").rename(root / "onnx" / "model_fp32.onnx")
    (root / "onnx" / "model_q.onnx").write_bytes((root / "onnx" / "model_fp32.onnx").read_bytes())
    with pytest.raises(See3DError, match="several ONNX files"):
        load_backend(root)
