"""Tiny random Stable-Diffusion pipelines built from configs (no download): the text-to-image
and inpainting models' stand-ins in tests. A few hundred kB on disk, a second per image on CPU."""

from __future__ import annotations

import json
from pathlib import Path

# a byte-level BPE vocabulary of the printable ASCII characters (CLIP's layout: "x</w>" ends a word)
_CHARS = [chr(c) for c in range(33, 127)]


def _write_tokenizer(folder: Path) -> None:
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {}
    for tok in ["<|startoftext|>", "<|endoftext|>"] + _CHARS + [c + "</w>" for c in _CHARS] + ["th", "the</w>", "ca", "car</w>"]:
        vocab.setdefault(tok, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\nc a\nca r</w>\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    tok.save_pretrained(str(folder))


def build_tiny_pipeline(folder: str | Path, inpaint: bool = False, seed: int = 0) -> Path:
    """Write a tiny random text-to-image (or inpainting) Stable Diffusion pipeline to ``folder``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    _write_tokenizer(folder / "_tok")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "_tok"))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, hidden_size=16, intermediate_size=32, layer_norm_eps=1e-5,
            num_attention_heads=2, num_hidden_layers=2, pad_token_id=1, vocab_size=len(tokenizer), max_position_embeddings=16,
        )
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    import shutil

    shutil.rmtree(folder / "_tok")
    return folder
