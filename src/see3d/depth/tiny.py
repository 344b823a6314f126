"""The bundled tiny depth network: a small UNet that predicts depth in canonical camera space.

It reads an image placed in its input canvas by :mod:`see3d.camera.canonical` (fit-resize,
centre-pad with the mean colour, normalise) and outputs canonical depth, which the backend
turns into metres with ``D = D_c * (fx * s) / f_c``. A config with ``variant=None`` is the
ablation: the same network trained to output metres directly.

Weights: ``config.json`` + ``model.safetensors`` in a folder (:meth:`TinyDepthNet.save_pretrained`),
or the bundled single file ``see3d/assets/depth_tiny.safetensors`` whose config lives in
``depth_tiny.json`` beside it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from see3d.camera import canonical as cano
from see3d.camera.intrinsics import Intrinsics
from see3d.depth.base import DepthPrediction
from see3d.errors import See3DError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED_WEIGHTS = ASSETS / "depth_tiny.safetensors"
BUNDLED_CONFIG = ASSETS / "depth_tiny.json"


@dataclass
class TinyDepthConfig:
    """Architecture and camera convention of :class:`TinyDepthNet`."""

    channels: tuple[int, ...] = (16, 32, 64, 96, 128)
    input_size: tuple[int, int] = (96, 128)  #: network canvas (height, width)
    variant: str | None = "label"  #: "label" / "image" canonical transform, None = metric output
    canonical_focal: float = cano.CANONICAL_FOCAL
    init_depth: float = 3.0  #: output bias (depth of a blank input), metres (canonical)
    max_depth: float = cano.MAX_DEPTH
    #: add a per-image log-scale from the globally pooled features of every encoder level
    #: (texture statistics at every scale: a direct path for "how many metres per pixel")
    global_scale: bool = False
    #: "group" (GroupNorm) or "batch" (BatchNorm: keeps each image's feature energy, i.e. how much
    #: fine texture it shows - a scale cue that per-image normalisation removes)
    norm: str = "group"
    #: CoordConv: two extra input channels holding each canvas pixel's row / column offset from
    #: the canvas centre (= the principal point after Metric3D's centre pad of a centred image),
    #: in canvas pixels / ``coord_scale``. A small zero-padded CNN barely knows where a pixel is;
    #: a level camera's ground depth is a function of the row (``D_c = f_c * h / y``).
    coord: bool = False
    coord_scale: float = 64.0
    training: dict = field(default_factory=dict)  #: how the weights were made (free-form record)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if len(self.channels) < 2 or any(c <= 0 or c % 4 for c in self.channels):
            raise See3DError(f"tiny depth config: channels must be >= 2 positive multiples of 4, got {self.channels}")
        f = 2 ** len(self.channels)
        if self.input_size[0] % f or self.input_size[1] % f:
            raise See3DError(f"tiny depth config: input size {self.input_size} must be divisible by {f}")
        if self.norm not in ("group", "batch"):
            raise See3DError(f"tiny depth config: norm must be 'group' or 'batch', got {self.norm!r}")
        if not self.coord_scale > 0:
            raise See3DError(f"tiny depth config: coord_scale must be positive, got {self.coord_scale}")
        if self.variant not in ("label", "image", None):
            raise See3DError(f"tiny depth config: variant must be 'label', 'image' or null, got {self.variant!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["input_size"] = list(self.input_size)
        d["see3d_model"] = "tiny_depth"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TinyDepthConfig":
        if not isinstance(d, dict):
            raise See3DError("tiny depth config must be a JSON object")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as e:
            raise See3DError(f"tiny depth config is malformed: {e}") from None


def _norm(c: int, kind: str = "group") -> nn.Module:
    return nn.BatchNorm2d(c) if kind == "batch" else nn.GroupNorm(min(8, c // 4), c)


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1, norm: str = "group"):
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            _norm(cout, norm),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            _norm(cout, norm),
            nn.SiLU(),
        )


class TinyDepthNet(nn.Module):
    """UNet: ``[B, 3, H, W]`` normalised image -> ``[B, 1, H, W]`` positive depth (canonical or metric).

    The bottleneck adds a globally pooled feature so the network can judge the scale of
    the whole scene, not only local texture.
    """

    def __init__(self, config: TinyDepthConfig | None = None):
        super().__init__()
        self.config = config or TinyDepthConfig()
        ch = self.config.channels
        nk = self.config.norm
        self.stem = _Block(3 + 2 * bool(self.config.coord), ch[0], stride=2, norm=nk)  # work at half resolution; the head upsamples
        self.down = nn.ModuleList(_Block(ch[i], ch[i + 1], stride=2, norm=nk) for i in range(len(ch) - 1))
        self.glob = nn.Sequential(nn.Linear(ch[-1], ch[-1]), nn.SiLU())
        self.up = nn.ModuleList(_Block(ch[i + 1] + ch[i], ch[i], norm=nk) for i in reversed(range(len(ch) - 1)))
        self.head = nn.Conv2d(ch[0], 1, 1)
        if self.config.global_scale:
            self.scale = nn.Sequential(nn.Linear(sum(ch), 64), nn.SiLU(), nn.Linear(64, 1))
            nn.init.zeros_(self.scale[2].weight)
            nn.init.zeros_(self.scale[2].bias)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, math.log(self.config.init_depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_depth(x))

    def log_depth(self, x: torch.Tensor) -> torch.Tensor:
        """Natural log of the predicted depth, ``[B, 1, H, W]`` (clamped to a sane range)."""
        if self.config.coord:
            x = torch.cat([x, self.coord_channels(x)], dim=1)
        feats = [self.stem(x)]
        for blk in self.down:
            feats.append(blk(feats[-1]))
        h = feats[-1]
        h = h + self.glob(h.mean(dim=(2, 3)))[:, :, None, None]
        for blk, skip in zip(self.up, reversed(feats[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = blk(torch.cat([h, skip], dim=1))
        out = F.interpolate(self.head(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.config.global_scale:
            pooled = torch.cat([f.mean(dim=(2, 3)) for f in feats], dim=1)
            out = out + self.scale(pooled)[:, :, None, None]
        return out.clamp(math.log(1e-3), math.log(self.config.max_depth * 10))

    def coord_channels(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 2, H, W]``: row and column offsets of each pixel from the canvas centre
        ``((H-1)/2, (W-1)/2)``, in pixels / ``coord_scale`` (the same for every image)."""
        B, _, H, W = x.shape
        s = float(self.config.coord_scale)
        rows = (torch.arange(H, dtype=x.dtype, device=x.device) - (H - 1) / 2.0) / s
        cols = (torch.arange(W, dtype=x.dtype, device=x.device) - (W - 1) / 2.0) / s
        grid = torch.stack([rows[:, None].expand(H, W), cols[None, :].expand(H, W)])
        return grid[None].expand(B, 2, H, W)

    # ------------------------------------------------------------------ weights
    def save_pretrained(self, path: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into folder ``path`` (atomically)."""
        from safetensors.torch import save_file

        from see3d.io.atomic import atomic_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_file(path / "model.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(tmp))
        with atomic_file(path / "config.json") as tmp:
            tmp.write_text(json.dumps(self.config.to_dict(), indent=2))
        for f in ("model.safetensors", "config.json"):
            (path / f).chmod(0o644)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "TinyDepthNet":
        """Load from a folder (``config.json`` + ``model.safetensors``), a ``.safetensors`` file
        with a ``.json`` config beside it, or ``None`` for the bundled weights."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if path is None:
            weights, cfg_path = BUNDLED_WEIGHTS, BUNDLED_CONFIG
            if not weights.is_file():
                raise See3DError(
                    f"bundled tiny depth weights missing ({weights}); reinstall see3d or run `see3d train depth`"
                )
        else:
            path = Path(path)
            if path.is_dir():
                weights, cfg_path = path / "model.safetensors", path / "config.json"
            else:
                weights, cfg_path = path, path.with_suffix(".json")
        if not cfg_path.is_file():
            raise See3DError(f"tiny depth model: config not found ({cfg_path})")
        if not weights.is_file():
            raise See3DError(f"tiny depth model: weights not found ({weights})")
        try:
            cfg = TinyDepthConfig.from_dict(json.loads(cfg_path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise See3DError(f"tiny depth config {cfg_path} is not valid JSON: {e}") from None
        model = cls(cfg)
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as e:
            raise See3DError(f"cannot read weights {weights}: {str(e).splitlines()[0]}") from None
        own = model.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
        if missing or unexpected or wrong:
            raise See3DError(
                f"weights {weights.name} do not fit the config ({len(missing)} missing, {len(unexpected)} unexpected, "
                f"{len(wrong)} wrongly shaped tensors)"
            )
        model.load_state_dict(state)
        return model.eval()


class TinyDepthBackend:
    """:class:`~see3d.depth.base.DepthBackend` around :class:`TinyDepthNet` (CPU by default)."""

    name = "tiny"

    def __init__(self, model: TinyDepthNet, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "TinyDepthBackend":
        return cls(TinyDepthNet.from_pretrained(path), device)

    @torch.no_grad()
    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction:
        cfg = self.model.config
        x, p = cano.prepare_input(image, intrinsics, cfg.input_size, cfg.variant or "label", cfg.canonical_focal)
        out = self.model(x.to(self.device))[0, 0].cpu()
        if cfg.variant is None:
            # metric output: only undo the placement (no de-canonical step)
            d = cano.unplace(out, p)
            d = torch.where(d > 0, d.clamp(max=cfg.max_depth), torch.zeros_like(d)).numpy()
            return DepthPrediction(d.astype(np.float32))
        d = cano.restore_output(out, p, cfg.max_depth)
        return DepthPrediction(d, canonical=cano.unplace(out, p).numpy())
