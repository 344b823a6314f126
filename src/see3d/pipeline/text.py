"""Text -> image with a diffusers pipeline: the first view of ``see3d generate --prompt``.

The model is a local diffusers folder (``model_index.json``, weights as safetensors) or a
text-to-image entry of the weights cache (``see3d weights get tiny-sd``). The image is seeded
(``torch.Generator``), so the same prompt, model, seed and size give the same picture; the
single-image path then runs on it and ``input.png`` is kept in the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from see3d.errors import See3DError

#: The weights-cache entry ``--t2i`` / ``--inpaint`` fall back to when no model is named.
DEFAULT_T2I = "tiny-sd"


@dataclass
class DiffusersModel:
    path: Path
    record: dict  #: what ran (name / path), for run.json


def check_prompt(prompt: str | None, what: str = "--prompt") -> str:
    if prompt is None or not str(prompt).strip():
        raise See3DError(f"{what} is empty; describe the scene in words")
    return str(prompt).strip()


def resolve_diffusers_model(spec: str | None, task: str, option: str) -> DiffusersModel:
    """A diffusers pipeline folder for ``spec``: an existing folder, or a cached weights entry of ``task``.

    ``spec=None`` takes :data:`DEFAULT_T2I` from the cache. One-line errors name what to do.
    """
    name = DEFAULT_T2I if spec is None else str(spec)
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir() or not (p / "model_index.json").is_file():
            raise See3DError(f"{option} {name}: not a diffusers pipeline folder (no model_index.json)")
        return DiffusersModel(p, {"path": str(p)})
    try:
        from see3d import weights
        from see3d.weights.registry import is_registered
    except ImportError:  # a build without the weights cache
        raise See3DError(f"{option} {name}: no such folder (give a diffusers pipeline folder)") from None
    if not is_registered(name):
        hint = "" if spec is not None else f" (none given: {DEFAULT_T2I} from the weights cache was tried)"
        raise See3DError(f"{option} {name}: no such folder and no published model of that name{hint}")
    entry = weights.get_entry(name)
    if entry.task != task:
        raise See3DError(f"{option} {name} is a {entry.task} model, not an {task} model" if task[0] in "aeiou" else f"{option} {name} is a {entry.task} model, not a {task} model")
    path = weights.path(name)  # one-line error naming `see3d weights get NAME` when not cached
    return DiffusersModel(Path(path), {"name": name, "path": str(path)})


class _quiet_loading:
    """Silence diffusers' and transformers' loading bars and notices unless progress is wanted."""

    def __init__(self, progress: bool):
        self.progress = progress

    def __enter__(self):
        if self.progress:
            return self
        from diffusers.utils import logging as dlog
        from transformers.utils import logging as tlog

        self.saved = (dlog.get_verbosity(), tlog.get_verbosity())
        dlog.set_verbosity_error()
        tlog.set_verbosity_error()
        dlog.disable_progress_bar()
        tlog.disable_progress_bar()
        return self

    def __exit__(self, *exc):
        if self.progress:
            return False
        from diffusers.utils import logging as dlog
        from transformers.utils import logging as tlog

        dlog.set_verbosity(self.saved[0])
        tlog.set_verbosity(self.saved[1])
        dlog.enable_progress_bar()
        tlog.enable_progress_bar()
        return False


def _torch_device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_to_image(prompt: str, model: DiffusersModel, seed: int = 0, size: int = 512, steps: int = 25,
                  guidance: float = 7.5, progress: bool = False) -> np.ndarray:
    """``prompt`` -> uint8 ``[size, size, 3]`` with ``AutoPipelineForText2Image`` (seeded)."""
    import torch
    from diffusers import AutoPipelineForText2Image

    prompt = check_prompt(prompt)
    if size < 8 or size % 8:
        raise See3DError(f"--t2i-size must be a multiple of 8 pixels, got {size}")
    if steps < 1:
        raise See3DError(f"--t2i-steps must be >= 1, got {steps}")
    pipe, gen = _load_pipeline(AutoPipelineForText2Image, model, "text-to-image", seed, progress)
    with torch.no_grad():
        out = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size,
                   generator=gen, output_type="np")
    img = np.asarray(out.images[0], np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _load_pipeline(pipeline_cls, model: DiffusersModel, what: str, seed: int, progress: bool):
    """A diffusers pipeline of ``model`` on see3d's device (one-line error when it does not load)
    and a generator seeded with ``seed`` on that device."""
    import torch

    try:
        with _quiet_loading(progress):
            pipe = pipeline_cls.from_pretrained(str(model.path), use_safetensors=True)
    except (OSError, ValueError, EnvironmentError) as e:
        raise See3DError(f"cannot load the {what} model {model.path}: {str(e).splitlines()[0]}") from None
    device = _torch_device()
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=not progress)
    return pipe, torch.Generator(device=device).manual_seed(int(seed))


def inpaint_image(image: np.ndarray, mask: np.ndarray, prompt: str, model: DiffusersModel, seed: int = 0,
                  steps: int = 25, guidance: float = 7.5, progress: bool = False) -> np.ndarray:
    """Repaint ``image`` (uint8 ``[H, W, 3]``) where ``mask`` is true with ``AutoPipelineForInpainting``.

    The model works at the image size rounded down to a multiple of 8 (at least 8); its output is
    resized back. Returns uint8 ``[H, W, 3]`` (only the masked pixels are meaningful).
    """
    import cv2
    import torch
    from diffusers import AutoPipelineForInpainting
    from PIL import Image

    prompt = check_prompt(prompt)
    H, W = image.shape[:2]
    w8, h8 = max(8, W // 8 * 8), max(8, H // 8 * 8)
    pipe, gen = _load_pipeline(AutoPipelineForInpainting, model, "inpainting", seed, progress)
    img = Image.fromarray(cv2.resize(image, (w8, h8), interpolation=cv2.INTER_AREA))
    m = Image.fromarray(cv2.resize(mask.astype(np.uint8) * 255, (w8, h8), interpolation=cv2.INTER_NEAREST))
    with torch.no_grad():
        out = pipe(prompt=prompt, image=img, mask_image=m, num_inference_steps=steps, guidance_scale=guidance,
                   height=h8, width=w8, generator=gen, output_type="np", strength=1.0)
    res = (np.clip(np.asarray(out.images[0], np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.resize(res, (W, H), interpolation=cv2.INTER_CUBIC) if (w8, h8) != (W, H) else res
