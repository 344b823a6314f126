"""The bundled small model: loads from the package, fills holes, keeps a quality floor."""

from __future__ import annotations

import numpy as np
import pytest

from see3d.mvd import default_model_path


@pytest.fixture(scope="module")
def bundled():
    if not (default_model_path() / "model.safetensors").is_file():
        pytest.skip("no bundled MVD weights in this checkout")
    from see3d.mvd.filler import MVDFiller

    return MVDFiller.from_pretrained()


def test_bundled_model_fills_held_out_synth_views(bundled):
    from see3d.fill import get_filler
    from see3d.synth import render_clip
    from see3d.warp import warp_views

    assert bundled.model.unet.config.in_channels == 7 and bundled.model.config.space == "pixel"
    clip = render_clip(seed=1_000_003, frames=3, size=64, kind="objects", trajectory="orbit")  # training seeds < 100,000
    K = clip.intrinsics.K
    res = warp_views(clip.rgb[0], clip.depth[0], K, clip.poses[0], np.repeat(K[None], 2, 0), clip.poses[1:], 64, 64)
    masks = np.asarray(res.mask, np.float32)
    warped = np.asarray(res.rgb, np.float32) * masks[..., None]
    holes = masks < 0.5
    assert holes.mean() > 0.01
    out = get_filler("mvd").fill(warped, masks, refs=clip.rgb[:1], seed=0)
    tel = get_filler("telea").fill(warped, masks)
    assert np.array_equal(out[~holes], warped[~holes])

    def psnr(a):
        return 10 * np.log10(1.0 / np.mean((a[holes] - clip.rgb[1:][holes]) ** 2))

    # floor, not a win: this under-trained model is ~2-3 dB behind Telea on synth holes (docs/mvd.md)
    assert psnr(out) > 11.0 and psnr(out) > psnr(tel) - 5.0
