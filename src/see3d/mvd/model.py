"""The multi-view diffusion model: UNet + diffusion settings + image <-> model-space codec.

``MVDModel`` bundles a :class:`~see3d.mvd.unet.MultiViewUNet` with what sampling and training need
to agree on: pixel or latent space, prediction type, schedule, guidance scale, whether the condition
holes are pre-filled with the classical fill, and the W = 0 (mask-only) ablation switch.

On disk (``save_pretrained`` / ``from_pretrained``): a folder with ``config.json`` and
``model.safetensors``. ``from_pretrained`` also takes a bare UNet folder (ours, or a public See3D
``unet/<single|sparse>/ema-checkpoint`` folder, loaded strictly as a latent-space epsilon model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from see3d.errors import See3DError
from see3d.mvd.schedule import BETA_SCHEDULES, DDIM_RULES, PREDICTION_TYPES, SPACINGS, NoiseSchedule
from see3d.mvd.unet import (
    WEIGHTS_NAME,
    MultiViewUNet,
    MultiViewUNetConfig,
    _read_weights,
    load_state_dict_checked,
    read_folder_config,
    write_model_folder,
)

SPACES = ("pixel", "latent")
PREFILLS = ("none", "telea")
CONDITIONS = ("mix", "clean")


@dataclass
class MVDConfig:
    """Everything but the weights. Defaults: the published See3D model (SD latent space, epsilon)."""

    unet: MultiViewUNetConfig = field(default_factory=MultiViewUNetConfig)
    space: str = "latent"  #: "pixel": images in [-1, 1]; "latent": SD VAE latents x scaling factor
    prediction_type: str = "epsilon"
    zero_snr: bool = True
    timestep_spacing: str = "trailing"
    steps: int = 20
    guidance_scale: float = 2.0  #: eps = (1 + g) eps_cond - g eps_uncond; 0 disables CFG
    prefill: str = "none"  #: "telea": holes of the condition image pre-filled (mask still 0 there)
    mask_only: bool = False  #: ablation: W = 0, the network sees only x_t and the mask
    strength: float = 1.0  #: < 1: start from the noised (pre-filled) condition at t = strength * T
    samples: int = 1  #: samples averaged per fill
    fill_scale: float = 1.0  #: the filler runs the model at this fraction of the input resolution
    max_side: int = 512  #: ... and at most this many pixels on the long side
    max_views: int = 16  #: views per network call (references + targets); more targets are chunked
    tile: int = 0  #: > 0: run the network on overlapping tile x tile windows (model-space cells) of every view
    tile_overlap: int = 8  #: ... overlapping by at least this many cells, blended (see3d.mvd.sampler)
    tile_min_holes: int = 1  #: a target is run in a window with at least this many unknown cells (fewer keep the pre-fill)
    compose: str = "replace"  #: filler: "replace" holes by the upsampled output, or "residual": full-res
    #: Telea fill + upsampled (output - low-res Telea fill) (models with prefill="telea")
    # ---- schedule (a See3D release folder sets these from scheduler/scheduler_config.json)
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    set_alpha_to_one: bool = True  #: False: the last DDIM step ends at alphas_cumprod[0]
    steps_offset: int = 0  #: added to "leading" timesteps
    ddim_rule: str = "next"  #: "published": each step goes to t - T // steps (the See3D pipeline)
    # ---- how the published pipeline differs (a See3D release folder turns these on)
    vae_sample: bool = False  #: latents = a sample of the VAE posterior (seeded) instead of its mode
    published_rng: bool = False  #: draw the noise in the published pipeline's order (see sampler)
    condition: str = "mix"  #: "clean": the condition slot carries the clean condition (the SR stage)

    def __post_init__(self) -> None:
        if isinstance(self.unet, dict):
            self.unet = MultiViewUNetConfig.from_dict(self.unet)
        checks = [
            (self.space in SPACES, f"space must be one of {SPACES}, got {self.space!r}"),
            (self.prediction_type in PREDICTION_TYPES, f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}"),
            (self.timestep_spacing in SPACINGS, f"timestep_spacing must be one of {SPACINGS}"),
            (self.prefill in PREFILLS, f"prefill must be one of {PREFILLS}, got {self.prefill!r}"),
            (self.steps >= 1, "steps must be >= 1"),
            (0.0 < self.strength <= 1.0, "strength must be in (0, 1]"),
            (self.samples >= 1, "samples must be >= 1"),
            (0.0 < self.fill_scale <= 1.0, "fill_scale must be in (0, 1]"),
            (self.max_views >= 2, "max_views must be >= 2"),
            (self.compose in ("replace", "residual"), f"compose must be replace or residual, got {self.compose!r}"),
            (self.compose == "replace" or self.prefill == "telea", "compose='residual' needs prefill='telea'"),
            (self.tile >= 0 and self.tile % self.unet.downsample_factor == 0, f"tile must be 0 or a positive multiple of {self.unet.downsample_factor}, got {self.tile}"),
            (self.tile == 0 or 0 <= self.tile_overlap < self.tile, f"tile_overlap must be in [0, tile), got {self.tile_overlap}"),
            (self.tile_min_holes >= 1, f"tile_min_holes must be >= 1, got {self.tile_min_holes}"),
            (self.beta_schedule in BETA_SCHEDULES, f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}"),
            (self.ddim_rule in DDIM_RULES, f"ddim_rule must be one of {DDIM_RULES}, got {self.ddim_rule!r}"),
            (self.condition in CONDITIONS, f"condition must be one of {CONDITIONS}, got {self.condition!r}"),
            (self.num_train_timesteps >= 2, "num_train_timesteps must be >= 2"),
        ]
        for ok, msg in checks:
            if not ok:
                raise See3DError(f"mvd config: {msg}")
        u = self.unet
        c = self.image_channels
        if u.in_channels != 2 * c + 1 or u.out_channels != c:
            raise See3DError(
                f"mvd config: a {self.space}-space model needs unet in_channels={2 * c + 1} and out_channels={c}, "
                f"got {u.in_channels}/{u.out_channels}"
            )

    @property
    def image_channels(self) -> int:
        return 3 if self.space == "pixel" else 4

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unet"] = self.unet.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MVDConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"_class_name"})
        if unknown:
            raise See3DError(f"mvd config: unknown fields {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names})


class MVDModel(torch.nn.Module):
    """UNet + settings + codec. ``encode``/``decode`` map images ``[N, 3, H, W]`` in [0, 1] to model space."""

    def __init__(self, config: MVDConfig, unet: MultiViewUNet | None = None, vae=None):
        super().__init__()
        self.config = config
        self.unet = unet if unet is not None else MultiViewUNet(config.unet)
        self.schedule = make_schedule(config)
        self.vae = vae
        if config.space == "latent" and vae is None:
            self.vae = None  # set with load_vae(); encode/decode raise until then
        #: where the networks run when they are offloaded to the CPU between calls (None: where their weights are)
        self.offload_device: torch.device | None = None

    @property
    def execution_device(self) -> torch.device:
        if self.offload_device is not None:
            return self.offload_device
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    # ------------------------------------------------------------------ codec

    @property
    def downscale(self) -> int:
        """Pixels per model-space cell (1 in pixel space, 8 for the SD VAE)."""
        if self.config.space == "pixel":
            return 1
        if self.vae is not None:
            return 2 ** (len(self.vae.config.block_out_channels) - 1)
        return 8

    def load_vae(self, path: str | Path) -> None:
        """Attach a diffusers ``AutoencoderKL`` from a local folder (latent-space models)."""
        try:
            from diffusers import AutoencoderKL
        except ImportError:
            raise See3DError("latent-space models need diffusers: pip install diffusers") from None
        if not Path(path).is_dir():
            raise See3DError(f"VAE folder not found: {path}")
        self.vae = AutoencoderKL.from_pretrained(str(path)).eval()

    def encode(self, img01: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] -> model space. Latent space: the VAE posterior's mode x scaling factor,
        or (``config.vae_sample``) a sample of it drawn from ``generator`` (required then)."""
        return self.encode_pm1(img01 * 2.0 - 1.0, generator)

    def encode_pm1(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] -> model space (see :meth:`encode`)."""
        if self.config.space == "pixel":
            return x
        if self.vae is None:
            raise See3DError("latent-space model without a VAE: call load_vae(path) (a diffusers AutoencoderKL folder)")
        vae_dtype = next(self.vae.parameters()).dtype
        with torch.no_grad():
            dist = self.vae.encode(x.to(self.execution_device, vae_dtype)).latent_dist
            if self.config.vae_sample:
                if generator is None:
                    raise See3DError("this model samples its VAE latents: pass a seeded torch.Generator")
                # drawn on the generator's device (the CPU) so a seed gives the same latents everywhere
                eps = torch.randn(dist.mean.shape, generator=generator, device=generator.device, dtype=torch.float32)
                z = dist.mean + dist.std * eps.to(dist.mean.device, dist.mean.dtype)
            else:
                z = dist.mode()
            return z * self.vae.config.scaling_factor

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.space == "pixel":
            return ((z + 1.0) / 2.0).clamp(0.0, 1.0)
        if self.vae is None:
            raise See3DError("latent-space model without a VAE: call load_vae(path) (a diffusers AutoencoderKL folder)")
        vae_dtype = next(self.vae.parameters()).dtype
        with torch.no_grad():
            img = self.vae.decode((z / self.vae.config.scaling_factor).to(self.execution_device, vae_dtype)).sample
            return ((img.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def encode_mask(self, masks: torch.Tensor) -> torch.Tensor:
        """Masks ``[N, 1, H, W]`` -> model resolution (nearest, as the public pipeline does)."""
        if self.downscale == 1:
            return masks
        h, w = masks.shape[-2] // self.downscale, masks.shape[-1] // self.downscale
        return F.interpolate(masks, size=(h, w), mode="nearest")

    def prepare_condition(self, img01: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """The condition image in [0, 1]: ``M * X`` (holes black) or holes pre-filled with Telea."""
        if self.config.prefill == "telea":
            return prefill_telea(img01, masks)
        return img01 * masks

    # ------------------------------------------------------------------ persistence

    def save_pretrained(self, path: str | Path) -> None:
        write_model_folder(path, "MVDModel", self.config.to_dict(), self.unet)

    @classmethod
    def from_pretrained(cls, path: str | Path, strict: bool = True, vae_path: str | Path | None = None, **overrides) -> "MVDModel":
        """Load a model folder; ``overrides`` replace sampling settings (steps, guidance_scale, ...)."""
        path = Path(path)
        d = read_folder_config(path, "model folder")
        if d.get("_class_name") == "MVDModel":
            d = {**d, **overrides}
            config = MVDConfig.from_dict(d)
            with torch.device("meta"):
                unet = MultiViewUNet(config.unet)
            load_state_dict_checked(unet, _read_weights(path / WEIGHTS_NAME), strict=strict)
            unet = unet.eval()
        else:  # a bare UNet folder (ours or the public See3D layout)
            unet = MultiViewUNet.from_pretrained(path, strict=strict)
            config = MVDConfig(unet=unet.config, **overrides)
        model = cls(config, unet=unet)
        if vae_path is not None:
            model.load_vae(vae_path)
        return model.eval()


def make_schedule(config: MVDConfig) -> NoiseSchedule:
    """The noise schedule a model config states."""
    return NoiseSchedule(
        num_train_timesteps=config.num_train_timesteps,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        zero_snr=config.zero_snr,
        beta_schedule=config.beta_schedule,
        set_alpha_to_one=config.set_alpha_to_one,
        steps_offset=config.steps_offset,
    )


def prefill_telea(img01: torch.Tensor, masks: torch.Tensor, radius: float = 3.0) -> torch.Tensor:
    """Telea-inpaint the holes (mask < 0.5) of ``[N, 3, H, W]`` images in [0, 1]; known pixels unchanged."""
    out = img01.clone()
    imgs = (img01.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    holes = (masks[:, 0] < 0.5).cpu().numpy()
    for i in range(imgs.shape[0]):
        h = holes[i]
        if not h.any():
            continue
        if h.all():
            out[i] = 0.5
            continue
        f = cv2.inpaint(np.ascontiguousarray(imgs[i]), h.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
        ft = torch.from_numpy(f).to(img01.dtype).permute(2, 0, 1) / 255.0
        hm = torch.from_numpy(h)[None].expand_as(ft)
        out[i] = torch.where(hm, ft, img01[i])
    return out
