"""`see3d mvd`: drop-in for the public See3D file layout (reference_images/, warp_images/)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from see3d.cli import main
from see3d.mvd import MVDConfig, MVDModel, MultiViewUNetConfig


@pytest.fixture
def tiny_model_dir(tmp_path):
    u = MultiViewUNetConfig(
        in_channels=7, out_channels=3, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(2,), num_head_channels=8, context_dim=None, norm_groups=4,
    )
    torch.manual_seed(0)
    m = MVDModel(MVDConfig(unet=u, space="pixel", prediction_type="sample", prefill="telea", steps=2, strength=0.5, fill_scale=0.5))
    m.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def _layout(root, n=2, size=(24, 32), mask_size=None):
    rng = np.random.default_rng(0)
    (root / "reference_images").mkdir(parents=True)
    (root / "warp_images").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "reference_images" / "ref.png")
    warps, masks = [], []
    for i in range(n):
        w = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        m = np.full(mask_size or size, 255, np.uint8)
        m[4:12, 6:20] = 0
        m[14:16, 2:5] = 229  # <= 0.9 * 255 = 229.5: not visible (public threshold)
        m[18:20, 2:5] = 230  # > 229.5: visible
        Image.fromarray(w).save(root / "warp_images" / f"warp_{i:03d}.png")
        Image.fromarray(m).save(root / "warp_images" / f"mask_{i:03d}.png")
        warps.append(w)
        masks.append(m)
    return warps, masks


def test_dropin_writes_predictions_and_keeps_visible_pixels(tmp_path, tiny_model_dir):
    warps, masks = _layout(tmp_path)
    out = tmp_path / "predict"
    rc = main(["mvd", "--refs", str(tmp_path / "reference_images"), "--warps", str(tmp_path / "warp_images"),
               "--out", str(out), "--model", str(tiny_model_dir), "-q"])
    assert rc == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [".see3d.json", "predict_000.png", "predict_001.png"]  # the marker: a see3d output
    for i, (w, m) in enumerate(zip(warps, masks)):
        p = np.asarray(Image.open(out / f"predict_{i:03d}.png"))
        vis = m > 0.9 * 255
        assert p.shape == w.shape
        assert np.array_equal(p[vis], w[vis])  # visible pixels pass through untouched
        assert not np.array_equal(p[14:16, 2:5], w[14:16, 2:5])  # 229 counts as a hole


def test_dropin_bad_inputs(tmp_path, tiny_model_dir, capsys):
    _layout(tmp_path / "a", mask_size=(24, 30))
    rc = main(["mvd", "--refs", str(tmp_path / "a" / "reference_images"), "--warps", str(tmp_path / "a" / "warp_images"),
               "--model", str(tiny_model_dir), "--out", str(tmp_path / "o")])
    assert rc == 2 and "mask mask_000.png is 30x24 but warp_000.png is 32x24" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    rc = main(["mvd", "--refs", str(tmp_path / "a" / "reference_images"), "--warps", str(tmp_path / "empty"), "--model", str(tiny_model_dir)])
    assert rc == 2 and "no warp_*.png" in capsys.readouterr().err
    rc = main(["mvd", "--refs", str(tmp_path / "empty"), "--warps", str(tmp_path / "a" / "warp_images"), "--model", str(tiny_model_dir)])
    assert rc == 2 and "no images" in capsys.readouterr().err
    _layout(tmp_path / "b")
    (tmp_path / "b" / "warp_images" / "mask_001.png").unlink()
    rc = main(["mvd", "--refs", str(tmp_path / "b" / "reference_images"), "--warps", str(tmp_path / "b" / "warp_images"), "--model", str(tiny_model_dir)])
    assert rc == 2 and "no matching mask_001.png" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
