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

    # one small scene, so only a loose floor here; the claim itself is checked on the benchmark's set below
    assert psnr(out) > 11.0 and psnr(out) > psnr(tel) - 2.0


def _fill_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fill.py"
    spec = importlib.util.spec_from_file_location("see3d_fill_benchmark", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_bundled_model_beats_telea_as_the_readme_says(bundled):
    """README: on the fill benchmark's fixed held-out set (6 synth scenes at 128 px, 8 targets each,
    and Middlebury motorcycle), the bundled model's hole PSNR is above OpenCV Telea's on both.
    Measured (2-core VM): synth 17.20 vs 17.04 dB, Middlebury 16.17 vs 16.01 dB (+0.16 each);
    the test asserts at least half of that margin."""
    import torch

    from see3d.fill import ClassicalFiller

    bench = _fill_benchmark()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the benchmark's setting (same arithmetic as the recorded figures)
    try:
        telea = ClassicalFiller("telea")
        for name, cases in (("synth", bench.synth_cases(6, 128)), ("middlebury", [bench.middlebury_case()])):
            score = {}
            for fname, f in (("telea", telea), ("bundled", bundled)):
                vals = []
                for ci, c in enumerate(cases):
                    out = f.fill(c["warped"], c["masks"], refs=c["ref"], seed=ci)
                    vals += [s["psnr"] for i in range(len(out)) if (s := bench.hole_scores(out[i], c["truth"][i], c["masks"][i] < 0.5))]
                score[fname] = float(np.mean(vals))
            print(f"{name}: bundled {score['bundled']:.2f} dB, Telea {score['telea']:.2f} dB")
            assert score["bundled"] > score["telea"] + 0.08, f"{name}: bundled {score['bundled']:.2f} dB vs Telea {score['telea']:.2f} dB"
    finally:
        torch.set_num_threads(threads)
