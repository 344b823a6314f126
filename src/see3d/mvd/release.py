"""The published See3D release folder (``bruiiii/See3D``), run as its published code runs it.

Layout of a release root (what :func:`release_parts` checks, one-line errors naming the part)::

    ROOT/unet/<single|sparse|SR>/ema-checkpoint/   config.json (ldm arguments) + diffusion_pytorch_model
                                                   .safetensors (or sharded, with *.index.json)
    ROOT/vae/                                      diffusers AutoencoderKL folder
    ROOT/scheduler/scheduler_config.json           DDIM settings
    ROOT/text_encoder/, ROOT/tokenizer/            transformers CLIPTextModel + CLIPTokenizer
    ROOT/CLIP-ViT-H-14-laion2B-s32B-b79K/          transformers CLIPVisionModelWithProjection + preprocessor

What the published pipeline does and see3d does the same way (REFERENCE.md section 2; facts read
from baaivision/See3D at 52594ef):

* schedule from ``scheduler_config.json`` (betas, prediction type, ``set_alpha_to_one``), with zero
  terminal SNR forced on and ``clip_sample`` off, as the published pipeline forces them;
* timesteps ``arange(999, 0, -(999 // steps))`` (53 for 50 steps) when the config says
  ``"timestep_scaling": "trailing"`` (the key the published pipeline reads; without it the
  published code stops with an AttributeError, and see3d takes the same timesteps), otherwise
  diffusers' ``set_timesteps`` by ``timestep_spacing``; each DDIM step goes to ``t - 1000 // steps``,
  the last one to ``alphas_cumprod[0]`` when ``set_alpha_to_one`` is false;
* guidance ``(1 + g) out_cond - g out_uncond`` with g = 2.0 (1.0 and 30 steps for the SR stage);
* the cross-attention context: the text encoder's output for the empty prompt ``[77, D]`` plus
  0.2 x the CLIP image embedding of the first reference (input ``(x + 1) / 2`` without rescaling,
  the CLIP 224 preprocessing of the folder's ``preprocessor_config.json``) on every token, the same
  for every view and both guidance halves, computed once per scene (:class:`ContextEncoder`);
* VAE latents: a sample of the posterior x scaling factor. The published script draws it from the
  global RNG; see3d draws it, and every other noise, from one seeded CPU generator in the
  published order, so the run is reproducible (and equals the published call run after
  ``torch.manual_seed(seed)`` on the CPU, ``scripts/check_official_see3d.py``).

The published file contract (:func:`read_published_inputs`, :func:`write_published_outputs`):
every image resized to 512 x 512 (aspect not kept), masks resized then ``> 0.9``, all views in one
group, the whole generated image as the output, resized back to the first reference's size and
saved as ``predict_<warp file name>.jpg``. The SR stage (:func:`super_resolve`) runs ``unet/SR`` at
1024 x 1024 with the clean latent of the base output as the condition.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from see3d.errors import See3DError
from see3d.mvd.model import MVDConfig, MVDModel
from see3d.mvd.unet import MultiViewUNet

VARIANTS = ("single", "sparse", "SR")
CLIP_FOLDER = "CLIP-ViT-H-14-laion2B-s32B-b79K"
#: weight of the CLIP image embedding added to every context token
IMAGE_EMBED_WEIGHT = 0.2
PUBLISHED_SIZE = 512
SR_SIZE = 1024
#: a mask pixel is visible when its resized value / 255 is above this
MASK_THRESHOLD = 0.9
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: sampling settings of the published calls: (steps, guidance)
BASE_SAMPLING = (50, 2.0)
SR_SAMPLING = (30, 1.0)


def is_release_root(path: str | Path | None) -> bool:
    """True for a folder laid out as the See3D release (a ``unet/`` folder, no top-level ``config.json``)."""
    if path is None:
        return False
    p = Path(path)
    return p.is_dir() and (p / "unet").is_dir() and not (p / "config.json").is_file()


def release_parts(root: str | Path, variant: str = "single") -> dict[str, Path]:
    """Paths of the parts a variant needs; :class:`See3DError` naming the first one missing."""
    root = Path(root)
    if variant not in VARIANTS:
        raise See3DError(f"unknown See3D variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if not root.is_dir():
        raise See3DError(f"See3D release folder not found: {root}")
    parts = {
        "unet": root / "unet" / variant / "ema-checkpoint",
        "vae": root / "vae",
        "scheduler": root / "scheduler" / "scheduler_config.json",
        "text_encoder": root / "text_encoder",
        "tokenizer": root / "tokenizer",
        "clip": root / CLIP_FOLDER,
    }
    what = {
        "unet": f"the {variant} UNet (unet/{variant}/ema-checkpoint/ with config.json and weights)",
        "vae": "the VAE (vae/ with config.json)",
        "scheduler": "the scheduler settings (scheduler/scheduler_config.json)",
        "text_encoder": "the text encoder (text_encoder/ with config.json)",
        "tokenizer": "the tokenizer (tokenizer/)",
        "clip": f"the CLIP image encoder ({CLIP_FOLDER}/ with config.json)",
    }
    for name, p in parts.items():
        need_config = name in ("unet", "vae", "text_encoder", "clip")
        ok = p.is_file() if name == "scheduler" else p.is_dir() and (not need_config or (p / "config.json").is_file())
        if ok and name == "tokenizer":
            ok = any((p / f).is_file() for f in ("vocab.json", "tokenizer.json"))
        if not ok:
            raise See3DError(f"See3D release {root} lacks {what[name]}: {p} is missing or incomplete")
    return parts


def scheduler_settings(file: str | Path) -> dict:
    """``MVDConfig`` fields from ``scheduler_config.json``, as the published pipeline uses them."""
    file = Path(file)
    try:
        d = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise See3DError(f"{file} is not valid JSON: {e.msg}") from None
    if not isinstance(d, dict):
        raise See3DError(f"{file} is not a JSON object")
    if d.get("trained_betas") is not None:
        raise See3DError(f"{file}: trained_betas are not supported (only linear / scaled_linear beta schedules)")
    pred = d.get("prediction_type", "epsilon")
    if pred not in ("epsilon", "v_prediction", "sample"):
        raise See3DError(f"{file}: unknown prediction_type {pred!r}")
    schedule = d.get("beta_schedule", "linear")
    if schedule not in ("linear", "scaled_linear"):
        raise See3DError(f"{file}: beta_schedule {schedule!r} is not supported (linear / scaled_linear)")
    scaling = d.get("timestep_scaling", "trailing")
    spacing = "see3d" if scaling == "trailing" else d.get("timestep_spacing", "leading")
    if spacing not in ("see3d", "leading", "linspace", "trailing"):
        raise See3DError(f"{file}: timestep_spacing {spacing!r} is not supported")
    return dict(
        prediction_type=pred,
        num_train_timesteps=int(d.get("num_train_timesteps", 1000)),
        beta_start=float(d.get("beta_start", 0.0001)),
        beta_end=float(d.get("beta_end", 0.02)),
        beta_schedule=schedule,
        set_alpha_to_one=bool(d.get("set_alpha_to_one", True)),
        zero_snr=True,  # the published pipeline passes rescale_betas_zero_snr=True whatever the file says
        steps_offset=1,  # ... and sets steps_offset to 1 (used by "leading" timesteps only)
        timestep_spacing=spacing,
        ddim_rule="published",
    )


class ContextEncoder(torch.nn.Module):
    """The cross-attention context of a scene: empty-prompt text embedding + 0.2 x CLIP image embedding."""

    def __init__(self, tokenizer, text_encoder, feature_extractor, image_encoder, image_weight: float = IMAGE_EMBED_WEIGHT):
        super().__init__()
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.image_weight = image_weight

    @torch.no_grad()
    def text_embedding(self, prompt: str = "") -> torch.Tensor:
        """``[1, L, D]``: the text encoder's last hidden state for ``prompt`` padded to its max length."""
        tok = self.tokenizer([prompt], padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt")
        dev = _module_device(self.text_encoder)
        mask = tok.attention_mask.to(dev) if getattr(self.text_encoder.config, "use_attention_mask", False) else None
        return self.text_encoder(tok.input_ids.to(dev), attention_mask=mask)[0]

    @torch.no_grad()
    def image_embedding(self, images_pm1: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` projected CLIP embeddings of images in [-1, 1] (fed as ``(x + 1) / 2``, no rescaling)."""
        pix = self.feature_extractor((images_pm1.float().cpu() + 1.0) / 2.0, return_tensors="pt", do_rescale=False).pixel_values
        # the published pipeline casts the pixels to the text encoder's dtype; the image encoder itself stays fp32
        pix = pix.to(next(self.text_encoder.parameters()).dtype).to(next(self.image_encoder.parameters()).dtype)
        return self.image_encoder(pix.to(_module_device(self.image_encoder))).image_embeds

    @torch.no_grad()
    def forward(self, first_ref_pm1: torch.Tensor) -> torch.Tensor:
        """``[L, D]`` context from the first reference ``[1, 3, H, W]`` (or ``[3, H, W]``) in [-1, 1]."""
        if first_ref_pm1.ndim == 3:
            first_ref_pm1 = first_ref_pm1[None]
        text = self.text_embedding("")
        img = self.image_embedding(first_ref_pm1[:1]).to(text.device, text.dtype)
        return text[0] + self.image_weight * img[0][None, :]


def _module_device(m: torch.nn.Module) -> torch.device:
    hook = getattr(m, "_hf_hook", None)
    if hook is not None and getattr(hook, "execution_device", None) is not None:
        return torch.device(hook.execution_device)
    return next(m.parameters()).device


def resolve_dtype(name: str, device: torch.device | str) -> torch.dtype:
    """``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` (CUDA only), ``bf16``."""
    device = torch.device(device)
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise See3DError(f"unknown dtype {name!r}: use auto, {', '.join(DTYPES)}")
    if name == "fp16" and device.type != "cuda":
        raise See3DError("fp16 needs a CUDA device; use fp32 (or bf16) on the CPU")
    return DTYPES[name]


def available_variant(root: str | Path) -> str:
    """The base variant a release folder holds: ``single`` when present, else ``sparse`` (a root
    fetched with one variant only); ``single`` when neither is there (the error then names it)."""
    for v in ("single", "sparse"):
        if (Path(root) / "unet" / v / "ema-checkpoint").is_dir():
            return v
    return "single"


def load_release(
    root: str | Path,
    variant: str | None = None,
    device: str | torch.device | None = None,
    dtype: str = "auto",
    offload: bool = False,
    vae_slicing: bool = True,
    vae_tiling: bool = True,
    **overrides,
) -> MVDModel:
    """An :class:`MVDModel` with the release's UNet, VAE, schedule and context encoder.

    ``variant``: ``single`` | ``sparse`` | ``SR`` (default: :func:`available_variant`).
    ``dtype``: the UNet, VAE and text encoder run in it; the CLIP image encoder stays in fp32, as
    in the published code (it loads it without a dtype). ``offload``: model CPU offload as diffusers
    does it (each network moves to the device when called, the previous one back to the CPU;
    accelerate hooks). ``vae_slicing`` / ``vae_tiling``: diffusers' ``enable_slicing`` /
    ``enable_tiling`` on the VAE (the published code turns both on). ``overrides``: ``MVDConfig``
    fields (``steps``, ``guidance_scale``, ...).
    """
    try:
        from diffusers import AutoencoderKL
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise See3DError("the See3D release needs diffusers and transformers: pip install 'see3d[diffusers,hf]'") from None
    # transformers' notes on image-processor backends and unused config keys, and its per-model
    # loading bars, add nothing to see3d's own output
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if variant is None:
        variant = available_variant(root)
    try:
        return _load_release(root, variant, device, dtype, offload, vae_slicing, vae_tiling, overrides, AutoencoderKL)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _load_release(root, variant, device, dtype, offload, vae_slicing, vae_tiling, overrides, AutoencoderKL) -> MVDModel:
    from transformers import CLIPImageProcessor, CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

    parts = release_parts(root, variant)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise See3DError(f"device {device} requested but PyTorch sees no CUDA device")
    dt = resolve_dtype(dtype, device)
    steps, guidance = SR_SAMPLING if variant == "SR" else BASE_SAMPLING
    settings = scheduler_settings(parts["scheduler"])
    unet = MultiViewUNet.from_pretrained(parts["unet"])
    if unet.config.context_dim is None:
        raise See3DError(f"{parts['unet']}: the See3D UNet has cross-attention (context_dim), this config has none")
    cfg = dict(
        space="latent",
        steps=steps,
        guidance_scale=guidance,
        max_side=PUBLISHED_SIZE * (2 if variant == "SR" else 1),
        max_views=100_000,  # all views in one group, as published
        vae_sample=True,
        published_rng=True,
        condition="clean" if variant == "SR" else "mix",
        **settings,
    )
    cfg.update(overrides)
    model = MVDModel(MVDConfig(unet=unet.config, **cfg), unet=unet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            vae = AutoencoderKL.from_pretrained(str(parts["vae"]), torch_dtype=dt)
            text_encoder = CLIPTextModel.from_pretrained(str(parts["text_encoder"]))
            tokenizer = CLIPTokenizer.from_pretrained(str(parts["tokenizer"]))
            image_encoder = CLIPVisionModelWithProjection.from_pretrained(str(parts["clip"]))
            feature_extractor = CLIPImageProcessor.from_pretrained(str(parts["clip"]))
        except (OSError, ValueError) as e:
            raise See3DError(f"cannot load the See3D release {root}: {str(e).splitlines()[0]}") from None
    if text_encoder.config.hidden_size != unet.config.context_dim:
        raise See3DError(
            f"See3D release {root}: the text encoder's width {text_encoder.config.hidden_size} is not the UNet's context width {unet.config.context_dim}"
        )
    model.vae = vae.eval()
    model.context_encoder = ContextEncoder(tokenizer, text_encoder.eval(), feature_extractor, image_encoder.eval())
    if dt != torch.float32:
        model.unet.to(dt)
        text_encoder.to(dt)
    if vae_slicing:
        model.vae.enable_slicing()
    if vae_tiling:
        model.vae.enable_tiling()
    if offload:
        enable_model_cpu_offload(model, device)
    else:
        model.to(device)
    model.release = {"root": str(Path(root)), "variant": variant, "dtype": str(dt).replace("torch.", ""), "offload": bool(offload)}
    return model.eval()


def enable_model_cpu_offload(model: MVDModel, device: str | torch.device) -> None:
    """Keep every network on the CPU and move it to ``device`` only while it runs (accelerate hooks,
    chained text encoder -> image encoder -> UNet -> VAE as diffusers' ``enable_model_cpu_offload``)."""
    try:
        from accelerate import cpu_offload_with_hook
    except ImportError:
        raise See3DError("model CPU offload needs accelerate: pip install 'see3d[dist]'") from None
    device = torch.device(device)
    model.to("cpu")
    hook = None
    chain = [model.context_encoder.text_encoder, model.context_encoder.image_encoder, model.unet, model.vae]
    for m in chain:
        _, hook = cpu_offload_with_hook(m, device, prev_module_hook=hook)
    model.offload_device = device
    model.final_offload_hook = hook


# ----------------------------------------------------------------------------------------------
# running a scene


def generate_views_published(
    model: MVDModel,
    refs_pm1: torch.Tensor,
    warps_pm1: torch.Tensor,
    masks: torch.Tensor,
    seed: int = 0,
    steps: int | None = None,
    guidance_scale: float | None = None,
    progress: bool = False,
    return_latents: bool = False,
) -> torch.Tensor:
    """One group of views as the published pipeline call generates it.

    ``refs_pm1 [S, 3, H, W]`` and ``warps_pm1 [T, 3, H, W]`` in [-1, 1] (the warps as they are:
    their holes are whatever the files hold), ``masks [T, 1, H, W]`` (1 = visible). Returns the
    decoded targets ``[T, 3, H, W]`` in [0, 1] (or their latents with ``return_latents``).
    """
    from see3d.mvd.sampler import sample_views

    s, t = refs_pm1.shape[0], warps_pm1.shape[0]
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    z = model.encode_pm1(torch.cat([refs_pm1, warps_pm1]).float(), generator=gen)  # one draw for all views, as published
    context = model.context_encoder(refs_pm1[:1]) if getattr(model, "context_encoder", None) is not None else None
    mz = model.encode_mask(masks.float())
    out = sample_views(
        model, z[:s], z[s:], mz.cpu(), steps=steps, guidance_scale=guidance_scale, context=context,
        max_views=s + t + 1, progress=progress, generator=gen,
    )
    if return_latents:
        return out
    return model.decode(out).float().cpu()


@dataclass
class PublishedInputs:
    refs: torch.Tensor  #: [S, 3, size, size] in [-1, 1]
    warps: torch.Tensor  #: [T, 3, size, size] in [-1, 1]
    masks: torch.Tensor  #: [T, 1, size, size], 1 = visible
    warp_names: list[str]  #: file names of the warps (outputs are predict_<name>.jpg)
    mask_files: list[Path]
    ref_files: list[Path]
    out_size: tuple[int, int]  #: (width, height) of the first reference


def _to_pm1(img, size: int) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB").resize((size, size)), dtype=np.float32)  # PIL's default (bicubic) filter
    return torch.from_numpy(arr / 127.5 - 1.0).permute(2, 0, 1)


def _mask(img, size: int) -> torch.Tensor:
    arr = np.asarray(img.convert("L").resize((size, size)), dtype=np.float32) / 255.0
    return torch.from_numpy((arr > MASK_THRESHOLD).astype(np.float32))[None]


def read_published_inputs(refs_dir: str | Path, warps_dir: str | Path, size: int = PUBLISHED_SIZE) -> PublishedInputs:
    """``reference_images/*`` and ``warp_images/warp_*`` + ``mask_*`` as the published script reads them.

    Differences, on purpose: references are taken in name order (the published script takes the
    order the file system lists them, so its "first reference" is not defined) and every image is
    converted to RGB first.
    """
    from PIL import Image

    from see3d.io import list_images

    refs_dir, warps_dir = Path(refs_dir), Path(warps_dir)
    if not refs_dir.is_dir():
        raise See3DError(f"reference folder not found: {refs_dir}")
    if not warps_dir.is_dir():
        raise See3DError(f"warp folder not found: {warps_dir}")
    ref_files = list_images(refs_dir)
    warp_files = sorted(p for p in warps_dir.iterdir() if p.is_file() and p.name.startswith("warp_"))
    if not warp_files:
        raise See3DError(f"no warp_* files in {warps_dir}")
    refs, warps, masks, mask_files = [], [], [], []
    with Image.open(ref_files[0]) as im:
        out_size = im.size
    for rf in ref_files:
        with Image.open(rf) as im:
            refs.append(_to_pm1(im, size))
    for wf in warp_files:
        mf = warps_dir / wf.name.replace("warp", "mask")
        if not mf.is_file():
            raise See3DError(f"{wf.name} has no matching {mf.name} in {warps_dir}")
        with Image.open(wf) as im:
            warps.append(_to_pm1(im, size))
        with Image.open(mf) as im:
            masks.append(_mask(im, size))
        mask_files.append(mf)
    return PublishedInputs(torch.stack(refs), torch.stack(warps), torch.stack(masks), [w.name for w in warp_files], mask_files, ref_files, out_size)


def to_pil(images01: torch.Tensor) -> list:
    """``[N, 3, H, W]`` in [0, 1] -> PIL images (round to 8 bits as diffusers' ``numpy_to_pil``)."""
    from PIL import Image

    arr = (images01.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arr]


def write_published_outputs(folder: Path, images, names: list[str], out_size: tuple[int, int], prefix: str = "predict_") -> list[Path]:
    """Save PIL images resized to ``out_size`` as ``<prefix><name>.jpg`` (Pillow's default JPEG quality)."""
    paths = []
    for im, name in zip(images, names):
        p = folder / f"{prefix}{name}.jpg"
        im.resize(out_size).save(p)
        paths.append(p)
    return paths


def super_resolve(
    sr_model: MVDModel,
    inputs: PublishedInputs,
    base_images: list,
    seed: int = 0,
    steps: int | None = None,
    guidance_scale: float | None = None,
    progress: bool = False,
    size: int = SR_SIZE,
) -> list:
    """The SR stage: ``unet/SR`` at 1024 x 1024, condition = the clean latent of the base outputs.

    References: the reference files resized to 1024; targets: the 8-bit base outputs (PIL, 512)
    resized to 1024, with their own warp masks. The published script runs this in groups of
    ``(n + 3) // 2`` views with anchors from the previous group and pairs the i-th output with the
    i-th mask of its list, which starts with the references' all-visible masks; see3d runs all views
    in one group with each view's own mask.
    """
    from PIL import Image

    refs = []
    for rf in inputs.ref_files:
        with Image.open(rf) as im:
            refs.append(_to_pm1(im, size))
    warps = torch.stack([_to_pm1(im, size) for im in base_images])
    masks = []
    for mf in inputs.mask_files:
        with Image.open(mf) as im:
            masks.append(_mask(im, size))
    out = generate_views_published(
        sr_model, torch.stack(refs), warps, torch.stack(masks), seed=seed, steps=steps, guidance_scale=guidance_scale, progress=progress
    )
    return to_pil(out)


def default_variant(n_refs: int) -> str:
    """``single`` for one reference, ``sparse`` for more (the published script's two modes)."""
    return "single" if n_refs <= 1 else "sparse"

