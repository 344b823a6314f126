"""The hf backend on a tiny random Depth Anything model saved here (no download).

Loading code for real weights is exercised on tiny models built here with the same input/output
signatures as the published ones; nothing is downloaded.
"""

import json

import numpy as np
import pytest
import torch

from see3d.camera import Intrinsics
from see3d.depth import load_backend
from see3d.errors import See3DError


# ----------------------------------------------------------------------------- transformers
@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    try:
        from transformers import DPTImageProcessorPil as Proc
    except ImportError:  # older transformers
        from transformers import DPTImageProcessor as Proc
    bb = Dinov2Config(
        image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, out_features=["stage1", "stage2"], reshape_hidden_states=False,
    )
    cfg = DepthAnythingConfig(
        backbone_config=bb, reassemble_hidden_size=32, neck_hidden_sizes=[16, 32], reassemble_factors=[2, 1],
        fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric", max_depth=20,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(cfg).eval()
    with torch.no_grad():  # spread the random output so it is not a constant map
        for p in model.head.parameters():
            p.mul_(4.0)
    d = tmp_path_factory.mktemp("hf") / "tiny-depth-anything"
    model.save_pretrained(d)
    Proc(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14).save_pretrained(d)
    cfg_json = json.loads((d / "config.json").read_text())
    cfg_json["see3d_training_focal"] = [518.8579, 640]  # "trained on NYU"
    (d / "config.json").write_text(json.dumps(cfg_json))
    return d, transformers


def test_hf_backend_runs_model_and_corrects_focal(hf_dir, image):
    d, transformers = hf_dir
    b = load_backend(d)
    assert b.name == "hf" and b.training_focal == (518.8579, 640)
    intr = Intrinsics(518.8579 * 70 / 640, 518.8579 * 70 / 640, 34.5, 22.0, 70, 45)  # same FOV as training
    base = b.raw_depth(image)
    # raw depth = the model's output upsampled to the image size
    inputs = b.processor(images=image, return_tensors="pt")
    with torch.no_grad():
        out = b.model(**inputs).predicted_depth
    assert base.shape == (45, 70) and np.ptp(base) > 0
    assert base.min() >= out.min().item() - 1e-4 and base.max() <= out.max().item() + 1e-4
    np.testing.assert_allclose(b.predict(image, intr).depth, base, rtol=1e-5)
    # a camera with twice the (width-relative) focal sees objects twice as far
    intr2 = Intrinsics(2 * intr.fx, 2 * intr.fy, 34.5, 22.0, 70, 45)
    np.testing.assert_allclose(b.predict(image, intr2).depth, 2 * base, rtol=1e-5)


def test_hf_backend_errors(tmp_path, hf_dir):
    (tmp_path / "noconf").mkdir()
    (tmp_path / "noconf" / "model.safetensors").write_bytes(b"")
    with pytest.raises(See3DError, match="no config.json"):
        load_backend(f"hf:{tmp_path / 'noconf'}")
    d, _ = hf_dir
    rel = tmp_path / "relative"
    rel.mkdir()
    cfg = json.loads((d / "config.json").read_text())
    cfg["depth_estimation_type"] = "relative"
    (rel / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(See3DError, match="relative depth"):
        load_backend(f"hf:{rel}")


