"""A tiny replica of the See3D release folder, in the real layout, with random weights.

For tests and for checking see3d against the published code without the real weights
(``scripts/check_official_see3d.py``): every part is the class the release uses, only small
(a 2-level MV-UNet in the ldm ``config.json`` form with sharded safetensors, an 8x ``AutoencoderKL``,
2-layer CLIP text and vision models, a CLIP tokenizer built from a 58-entry vocabulary, the
scheduler config). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from see3d.mvd.release import CLIP_FOLDER

#: ldm arguments of the tiny UNet (the release's config.json form; 9 in / 4 out like the real one)
TINY_UNET_LDM = {
    "_class_name": "MultiViewUNetModel",
    "_diffusers_version": "0.27.2",
    "image_size": 32,
    "in_channels": 9,
    "out_channels": 4,
    "model_channels": 32,
    "attention_resolutions": [1, 2],
    "num_res_blocks": 1,
    "channel_mult": [1, 2],
    "num_head_channels": 16,
    "use_linear_in_transformer": True,
    "transformer_depth": 1,
    "context_dim": 32,
}
CONTEXT = 32


def scheduler_config(prediction_type: str = "v_prediction", set_alpha_to_one: bool = False, timestep_scaling: str | None = "trailing") -> dict:
    d = {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.27.2",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": prediction_type,
        "rescale_betas_zero_snr": True,
        "set_alpha_to_one": set_alpha_to_one,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "trained_betas": None,
    }
    if timestep_scaling is not None:
        d["timestep_scaling"] = timestep_scaling
    return d


def _tokenizer_files(folder: Path) -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"!": 0, '"': 1}
    for c in letters:
        vocab[c] = len(vocab)
    for c in letters:
        vocab[c + "</w>"] = len(vocab)
    vocab["th"] = len(vocab)
    vocab["the</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "!",
    }))
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "!",
    }))


def _randomise(module: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():  # zero-initialised layers would hide everything
            p.add_(torch.randn(p.shape, generator=g) * scale)


def write_unet(folder: Path, ldm: dict, seed: int, shards: int = 2) -> None:
    """A random MV-UNet as ``config.json`` (ldm form) + sharded ``diffusion_pytorch_model`` safetensors."""
    from safetensors.torch import save_file

    from see3d.mvd.unet import MultiViewUNet, MultiViewUNetConfig

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = MultiViewUNet(MultiViewUNetConfig.from_ldm_config(ldm))
    _randomise(unet, seed)
    sd = {k: v.contiguous() for k, v in unet.state_dict().items()}
    keys = sorted(sd)
    (folder / "config.json").write_text(json.dumps(ldm, indent=2))
    weight_map = {}
    for i in range(shards):
        name = f"diffusion_pytorch_model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: sd[k] for k in keys[i::shards]}
        save_file(part, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    total = sum(v.numel() * v.element_size() for v in sd.values())
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )


def make_tiny_release(
    root: str | Path,
    seed: int = 0,
    prediction_type: str = "v_prediction",
    set_alpha_to_one: bool = False,
    variants: tuple[str, ...] = ("single", "sparse", "SR"),
    timestep_scaling: str | None = "trailing",
    unet_overrides: dict | None = None,
) -> Path:
    """Write a tiny release folder at ``root`` (random weights, real layout and classes).

    ``unet_overrides``: changes to :data:`TINY_UNET_LDM` (e.g. ``{"attention_resolutions": [2]}``
    for a faster UNet at 512 x 512)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(variants):
        write_unet(root / "unet" / v / "ema-checkpoint", {**TINY_UNET_LDM, **(unet_overrides or {})}, seed + 10 * i + 1)
    torch.manual_seed(seed + 100)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=4, sample_size=1024,
    )
    vae.save_pretrained(str(root / "vae"), safe_serialization=True)
    _tokenizer_files(root / "tokenizer")
    torch.manual_seed(seed + 200)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=58, hidden_size=CONTEXT, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=CONTEXT, bos_token_id=56, eos_token_id=57, pad_token_id=0, hidden_act="gelu",
    ))
    text.save_pretrained(str(root / "text_encoder"), safe_serialization=True)
    torch.manual_seed(seed + 300)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=224, patch_size=32,
        projection_dim=CONTEXT, hidden_act="gelu",
    ))
    vision.save_pretrained(str(root / CLIP_FOLDER), safe_serialization=True)
    CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True, crop_size={"height": 224, "width": 224},
        do_normalize=True, image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    ).save_pretrained(str(root / CLIP_FOLDER))
    (root / "scheduler").mkdir(exist_ok=True)
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(scheduler_config(prediction_type, set_alpha_to_one, timestep_scaling), indent=2)
    )
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "MVDreamPipeline", "_diffusers_version": "0.27.2",
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"],
        "unet": ["mv_unet", "MultiViewUNetModel"], "feature_extractor": [None, None], "image_encoder": [None, None],
    }, indent=2))
    return root
