"""Multi-view UNet: published key layout, 3D attention, persistence, strict loading."""

from __future__ import annotations

import json

import pytest
import torch

from see3d.errors import See3DError
from see3d.mvd.unet import (
    MultiViewUNet,
    MultiViewUNetConfig,
    count_parameters,
    set_attention_impl,
)

#: Parameter count of the published See3D UNet (SD-2.1 UNet with 9 input channels): the SD-2.1
#: UNet has 865,910,724 parameters; 5 more input channels add 5 * 320 * 3 * 3 = 14,400.
SEE3D_PARAMS = 865_925_124
SEE3D_TENSORS = 686


def tiny_config(**kw) -> MultiViewUNetConfig:
    base = dict(
        in_channels=7, out_channels=3, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
        attention_resolutions=(1, 2), num_head_channels=8, context_dim=12, norm_groups=4,
    )
    base.update(kw)
    return MultiViewUNetConfig(**base)


def randomised(cfg: MultiViewUNetConfig, seed: int = 0) -> MultiViewUNet:
    torch.manual_seed(seed)
    m = MultiViewUNet(cfg)
    with torch.no_grad():
        for p in m.parameters():  # zero-initialised output layers would hide everything
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


def test_full_config_key_layout_and_parameter_count():
    with torch.device("meta"):
        m = MultiViewUNet(MultiViewUNetConfig())
    sd = m.state_dict()
    assert count_parameters(m) == SEE3D_PARAMS
    assert len(sd) == SEE3D_TENSORS
    # names and shapes of the ldm / MVDream layout used by the public See3D checkpoints
    expect = {
        "time_embed.0.weight": (1280, 320),
        "time_embed.2.weight": (1280, 1280),
        "input_blocks.0.0.weight": (320, 9, 3, 3),
        "input_blocks.1.0.in_layers.2.weight": (320, 320, 3, 3),
        "input_blocks.1.0.emb_layers.1.weight": (320, 1280),
        "input_blocks.1.1.proj_in.weight": (320, 320),
        "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight": (320, 320),
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight": (2560, 320),
        "input_blocks.1.1.transformer_blocks.0.ff.net.2.weight": (320, 1280),
        "input_blocks.3.0.op.weight": (320, 320, 3, 3),
        "input_blocks.4.0.skip_connection.weight": (640, 320, 1, 1),
        "input_blocks.10.0.in_layers.2.weight": (1280, 1280, 3, 3),
        "middle_block.1.transformer_blocks.0.attn1.to_out.0.weight": (1280, 1280),
        "middle_block.2.out_layers.3.weight": (1280, 1280, 3, 3),
        "output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
        "output_blocks.5.2.conv.weight": (1280, 1280, 3, 3),
        "output_blocks.11.1.proj_out.weight": (320, 320),
        "out.0.weight": (320,),
        "out.2.weight": (4, 320, 3, 3),
    }
    for k, shape in expect.items():
        assert tuple(sd[k].shape) == shape, k
    assert not any(k.startswith("input_blocks.12") or k.startswith("output_blocks.12") for k in sd)
    assert not any("to_q.bias" in k for k in sd)  # q/k/v without bias
    # no transformer at the coarsest level (attention at the 3 finest levels only)
    assert not any(k.startswith(("input_blocks.10.1", "input_blocks.11.1", "output_blocks.0.1", "output_blocks.1.1")) for k in sd)


@pytest.mark.slow  # importing diffusers takes ~10-20 s on a loaded 2-core machine
def test_full_config_matches_diffusers_sd21_unet_size():
    diffusers = pytest.importorskip("diffusers")
    with torch.device("meta"):
        d = diffusers.UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=1024,
            attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
        )
        ours4 = MultiViewUNet(MultiViewUNetConfig(in_channels=4))
    assert count_parameters(ours4) == count_parameters(d) == SEE3D_PARAMS - 5 * 320 * 9
    assert len(ours4.state_dict()) == len(d.state_dict())


def test_shapes_and_3d_attention_permutation():
    m = randomised(tiny_config())
    b, f = 2, 3
    x = torch.randn(b * f, 7, 8, 8)
    t = torch.tensor([10, 10, 10, 700, 700, 700])
    ctx = torch.randn(b * f, 5, 12)
    with torch.no_grad():
        y = m(x, t, ctx, num_frames=f)
        assert y.shape == (b * f, 3, 8, 8)
        perm = torch.tensor([2, 0, 1, 5, 3, 4])  # permute views inside each sample
        yp = m(x[perm], t[perm], ctx[perm], num_frames=f)
        assert torch.allclose(yp, y[perm], atol=1e-5)
        # views talk to each other within a sample (3D attention), never across samples
        x2 = x.clone()
        x2[0] += 1.0
        y2 = m(x2, t, ctx, num_frames=f)
        assert (y2[1] - y[1]).abs().max() > 1e-4
        assert torch.allclose(y2[3:], y[3:], atol=1e-6)
        # with num_frames=1 every view is on its own
        y1 = m(x, t, ctx, num_frames=1)
        y1b = m(x2, t, ctx, num_frames=1)
        assert torch.allclose(y1[1:], y1b[1:], atol=1e-6)


def test_sdpa_matches_reference_attention():
    m = randomised(tiny_config(), seed=1)
    x = torch.randn(4, 7, 8, 8)
    t = torch.tensor([5, 5, 900, 900])
    ctx = torch.randn(4, 3, 12)
    with torch.no_grad():
        fast = m(x, t, ctx, num_frames=2)
        set_attention_impl("reference")
        try:
            ref = m(x, t, ctx, num_frames=2)
        finally:
            set_attention_impl("sdpa")
    assert torch.allclose(fast, ref, atol=1e-5)


def test_save_load_bit_exact_and_strict_errors(tmp_path):
    m = randomised(tiny_config(context_dim=None), seed=2)
    x = torch.randn(2, 7, 8, 8)
    t = torch.tensor([3, 400])
    with torch.no_grad():
        y = m(x, t, None, num_frames=2)
    m.save_pretrained(tmp_path / "u")
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == ["config.json", "model.safetensors"]
    m2 = MultiViewUNet.from_pretrained(tmp_path / "u")
    with torch.no_grad():
        assert torch.equal(m2(x, t, None, num_frames=2), y)
    # a file with an extra key (e.g. a camera embedding) fails strictly and names the key
    from safetensors.torch import load_file, save_file

    sd = load_file(str(tmp_path / "u" / "model.safetensors"))
    sd["camera_embed.0.weight"] = torch.zeros(64, 16)
    del sd["out.2.bias"]
    save_file(sd, str(tmp_path / "u" / "model.safetensors"))
    with pytest.raises(See3DError, match=r"1 missing \(out.2.bias\), 1 unexpected \(camera_embed.0.weight\)"):
        MultiViewUNet.from_pretrained(tmp_path / "u")
    with pytest.raises(See3DError, match="not found"):
        MultiViewUNet.from_pretrained(tmp_path / "nope")


def test_loads_public_diffusers_style_folder(tmp_path):
    """A See3D-style ``unet/single/ema-checkpoint`` folder: ldm config.json + diffusion_pytorch_model.*"""
    from safetensors.torch import save_file

    cfg = tiny_config(context_dim=12, camera_dim=16)
    m = randomised(cfg, seed=3)
    folder = tmp_path / "unet" / "single" / "ema-checkpoint"
    folder.mkdir(parents=True)
    ldm = {
        "_class_name": "MultiViewUNetModel", "image_size": 32, "in_channels": 7, "out_channels": 3,
        "model_channels": 16, "attention_resolutions": [1, 2], "num_res_blocks": 1, "channel_mult": [1, 2],
        "num_head_channels": 8, "use_linear_in_transformer": True, "transformer_depth": 1,
        "context_dim": 12, "camera_dim": 16, "norm_groups": 4,
    }
    (folder / "config.json").write_text(json.dumps(ldm))
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(folder / "diffusion_pytorch_model.safetensors"))
    m2 = MultiViewUNet.from_pretrained(folder)
    x = torch.randn(2, 7, 8, 8)
    t = torch.tensor([1, 2])
    ctx = torch.randn(2, 4, 12)
    cam = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(m2(x, t, ctx, 2, camera=cam), m(x, t, ctx, 2, camera=cam))


def test_bad_inputs():
    m = randomised(tiny_config())
    with pytest.raises(See3DError, match="expected input"):
        m(torch.zeros(2, 5, 8, 8), torch.zeros(2), torch.zeros(2, 1, 12), 2)
    with pytest.raises(See3DError, match="multiple of num_frames"):
        m(torch.zeros(3, 7, 8, 8), torch.zeros(3), torch.zeros(3, 1, 12), 2)
    with pytest.raises(See3DError, match="multiples of 2"):
        m(torch.zeros(2, 7, 7, 8), torch.zeros(2), torch.zeros(2, 1, 12), 2)
    with pytest.raises(See3DError, match="needs a context"):
        m(torch.zeros(2, 7, 8, 8), torch.zeros(2), None, 2)
    with pytest.raises(See3DError, match="not divisible"):
        MultiViewUNetConfig(model_channels=20)
