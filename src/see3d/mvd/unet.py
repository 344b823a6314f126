"""A multi-view UNet in the SD-2.1 / MVDream family (the See3D backbone).

Layout and parameter names follow the "ldm" UNet that MVDream and the public See3D checkpoints use
(``time_embed``, ``input_blocks``, ``middle_block``, ``output_blocks``, ``out``; ResNet blocks with
``in_layers`` / ``emb_layers`` / ``out_layers`` / ``skip_connection``; transformer blocks with
``norm``, linear ``proj_in`` / ``proj_out`` and ``transformer_blocks.N.{attn1, attn2, ff, norm1-3}``),
so :meth:`MultiViewUNet.from_pretrained` loads a See3D ``unet/<single|sparse>/ema-checkpoint`` folder
strictly (missing and unexpected keys are listed in the error, never silently ignored).

"3D attention": the self-attention of each transformer block attends over the tokens of *all* views
of a sample jointly (``(b f) l c -> b (f l) c``); cross-attention to the context is per view.

Input ``x``: ``[B * F, C_in, H, W]`` (views of a sample consecutive), ``timesteps``: ``[B * F]``,
``context``: ``[B * F, L, context_dim]`` or None, ``num_frames = F``. Output ``[B * F, C_out, H, W]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from see3d.errors import See3DError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
#: File names of a diffusers-style folder (the public See3D checkpoints).
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


# ----------------------------------------------------------------------------------------------
# attention: fast path (scaled-dot-product attention) and its readable twin


_ATTENTION_IMPL = {"impl": "sdpa"}


def set_attention_impl(impl: str) -> None:
    """``"sdpa"`` (``F.scaled_dot_product_attention``, memory-efficient kernels) or ``"reference"``."""
    if impl not in ("sdpa", "reference"):
        raise See3DError(f"unknown attention implementation {impl!r}: use sdpa or reference")
    _ATTENTION_IMPL["impl"] = impl


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for ``[B, heads, L, d]`` tensors (the specification)."""
    w = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return (w.softmax(dim=-1) @ v.float()).to(q.dtype)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    if _ATTENTION_IMPL["impl"] == "reference":
        return attention_reference(q, k, v)
    return F.scaled_dot_product_attention(q, k, v)


class Attention(nn.Module):
    """Multi-head attention with ldm names: ``to_q``, ``to_k``, ``to_v`` (no bias), ``to_out.0``."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads, self.dim_head = heads, dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        b = x.shape[0]
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        q, k, v = (t.reshape(b, t.shape[1], self.heads, self.dim_head).transpose(1, 2) for t in (q, k, v))
        o = attention(q, k, v).transpose(1, 2).reshape(b, x.shape[1], self.heads * self.dim_head)
        return self.to_out(o)


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock3D(nn.Module):
    """Self-attention over all views of a sample, per-view cross-attention, GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None):
        super().__init__()
        self.attn1 = Attention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.has_context = context_dim is not None
        if self.has_context:
            self.attn2 = Attention(dim, context_dim, heads, dim_head)
            self.norm2 = nn.LayerNorm(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None, num_frames: int) -> torch.Tensor:
        bf, l, c = x.shape
        x = x.reshape(bf // num_frames, num_frames * l, c)  # (b f) l c -> b (f l) c
        x = self.attn1(self.norm1(x)) + x
        x = x.reshape(bf, l, c)
        if self.has_context:
            x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer3D(nn.Module):
    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int | None, depth: int, groups: int):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([TransformerBlock3D(inner, heads, dim_head, context_dim) for _ in range(depth)])
        self.proj_out = nn.Linear(inner, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None, num_frames: int) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x).flatten(2).transpose(1, 2)
        y = self.proj_in(y)
        for blk in self.transformer_blocks:
            y = blk(y, context, num_frames)
        y = self.proj_out(y).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(groups, out_channels), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out_layers[3].weight)
        nn.init.zeros_(self.out_layers[3].bias)
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class CondSequential(nn.Sequential):
    def forward(self, x, emb, context, num_frames):  # type: ignore[override]
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer3D):
                x = layer(x, context, num_frames)
            else:
                x = layer(x)
        return x


def _last_frames(t: torch.Tensor, num_frames: int, keep: int) -> torch.Tensor:
    """``[B * num_frames, ...]`` -> the last ``keep`` frames of every sample, ``[B * keep, ...]``."""
    return t.reshape(-1, num_frames, *t.shape[1:])[:, num_frames - keep :].reshape(-1, *t.shape[1:])


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos | sin]`` of (possibly fractional) timesteps, ``[N, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


# ----------------------------------------------------------------------------------------------
# config + model


@dataclass
class MultiViewUNetConfig:
    """Architecture of :class:`MultiViewUNet`. Defaults: the published See3D configuration."""

    in_channels: int = 9
    out_channels: int = 4
    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (4, 2, 1)  #: downsample factors with transformer blocks
    num_head_channels: int = 64
    transformer_depth: int = 1
    context_dim: int | None = 1024  #: None: no cross-attention (small models)
    camera_dim: int | None = None  #: MVDream's optional camera embedding (See3D is pose-free)
    norm_groups: int = 32
    use_middle_attention: bool = True

    def __post_init__(self) -> None:
        # TOML has no null: false / 0 mean "none"
        self.context_dim = int(self.context_dim) if self.context_dim else None
        self.camera_dim = int(self.camera_dim) if self.camera_dim else None
        self.channel_mult = tuple(int(c) for c in self.channel_mult)
        self.attention_resolutions = tuple(int(a) for a in self.attention_resolutions)
        chans = {self.model_channels * m for m in self.channel_mult}
        if self.in_channels < 1 or self.out_channels < 1 or self.model_channels < 1:
            raise See3DError("unet config: channel counts must be positive")
        for c in chans:
            if c % self.norm_groups:
                raise See3DError(f"unet config: width {c} is not divisible by norm_groups={self.norm_groups}")
            if c % self.num_head_channels:
                raise See3DError(f"unet config: width {c} is not divisible by num_head_channels={self.num_head_channels}")

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MultiViewUNetConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"_class_name"})
        if unknown:
            raise See3DError(f"unet config: unknown fields {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_ldm_config(cls, d: dict) -> "MultiViewUNetConfig":
        """From the ``config.json`` of an MVDream / See3D diffusers-style UNet folder."""
        try:
            heads_ch = int(d.get("num_head_channels", -1))
            if heads_ch <= 0:
                raise See3DError("unet config: only num_head_channels-style configs are supported")
            ar = d.get("attention_resolutions", [4, 2, 1])
            return cls(
                in_channels=int(d["in_channels"]),
                out_channels=int(d["out_channels"]),
                model_channels=int(d["model_channels"]),
                channel_mult=tuple(d.get("channel_mult", (1, 2, 4, 4))),
                num_res_blocks=int(d.get("num_res_blocks", 2)),
                attention_resolutions=tuple(ar),
                num_head_channels=heads_ch,
                transformer_depth=int(d.get("transformer_depth", 1)),
                context_dim=d.get("context_dim"),
                camera_dim=d.get("camera_dim"),
                norm_groups=int(d.get("norm_groups", 32)),
            )
        except KeyError as e:
            raise See3DError(f"unet config.json lacks the field {e.args[0]!r}") from None


class MultiViewUNet(nn.Module):
    """The multi-view UNet (see the module docstring for shapes)."""

    def __init__(self, config: MultiViewUNetConfig):
        super().__init__()
        self.config = cfg = config
        mc, g = cfg.model_channels, cfg.norm_groups
        emb = mc * 4
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        if cfg.camera_dim is not None:
            self.camera_embed = nn.Sequential(nn.Linear(cfg.camera_dim, emb), nn.SiLU(), nn.Linear(emb, emb))

        def transformer(ch: int) -> SpatialTransformer3D:
            return SpatialTransformer3D(ch, ch // cfg.num_head_channels, cfg.num_head_channels, cfg.context_dim, cfg.transformer_depth, g)

        self.input_blocks = nn.ModuleList([CondSequential(nn.Conv2d(cfg.in_channels, mc, 3, padding=1))])
        chans = [mc]
        ch, ds = mc, 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb, mult * mc, g)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers.append(transformer(ch))
                self.input_blocks.append(CondSequential(*layers))
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(CondSequential(Downsample(ch)))
                chans.append(ch)
                ds *= 2
        mid: list[nn.Module] = [ResBlock(ch, emb, ch, g)]
        if cfg.use_middle_attention:
            mid.append(transformer(ch))
        mid.append(ResBlock(ch, emb, ch, g))
        self.middle_block = CondSequential(*mid)
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb, mc * mult, g)]
                ch = mc * mult
                if ds in cfg.attention_resolutions:
                    layers.append(transformer(ch))
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(CondSequential(*layers))
        self.out = nn.Sequential(nn.GroupNorm(g, ch), nn.SiLU(), nn.Conv2d(mc, cfg.out_channels, 3, padding=1))
        #: ``forward(out_frames=...)`` drops views before this output block: the first after the last that attends
        self._drop_at = 1 + max((i for i, b in enumerate(self.output_blocks) if any(isinstance(m, SpatialTransformer3D) for m in b)), default=-1)
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        num_frames: int = 1,
        camera: torch.Tensor | None = None,
        out_frames: int | None = None,
    ) -> torch.Tensor:
        """``x [B * num_frames, C, H, W]`` -> ``[B * num_frames, C', H, W]``.

        ``out_frames``: return only the last ``out_frames`` views of every sample, ``[B * out_frames,
        C', H, W]`` (the targets, when the references come first). The other views are dropped
        after the last block that attends across views, so their high-resolution decoder layers are
        not run; the kept views' outputs are the same as without it (every later layer is per view).
        """
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise See3DError(f"unet: expected input [B*F, {cfg.in_channels}, H, W], got {tuple(x.shape)}")
        if x.shape[0] % num_frames:
            raise See3DError(f"unet: batch {x.shape[0]} is not a multiple of num_frames={num_frames}")
        f = cfg.downsample_factor
        if x.shape[2] % f or x.shape[3] % f:
            raise See3DError(f"unet: height and width must be multiples of {f}, got {x.shape[2]}x{x.shape[3]}")
        if cfg.context_dim is not None and context is None:
            raise See3DError("unet: this model needs a context (cross-attention) tensor")
        timesteps = torch.as_tensor(timesteps, device=x.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(timesteps, cfg.model_channels).to(x.dtype))
        if camera is not None:
            if cfg.camera_dim is None:
                raise See3DError("unet: a camera embedding was given but the model has none (camera_dim=None)")
            emb = emb + self.camera_embed(camera.to(x.dtype))
        ctx = context if cfg.context_dim is not None else None
        hs = []
        h = x
        for blk in self.input_blocks:
            h = blk(h, emb, ctx, num_frames)
            hs.append(h)
        h = self.middle_block(h, emb, ctx, num_frames)
        keep = num_frames if out_frames is None else int(out_frames)
        if not 1 <= keep <= num_frames:
            raise See3DError(f"unet: out_frames must be in [1, num_frames={num_frames}], got {out_frames}")
        for i, blk in enumerate(self.output_blocks):
            if keep < num_frames and i == self._drop_at:
                h, emb = _last_frames(h, num_frames, keep), _last_frames(emb, num_frames, keep)
                hs = [_last_frames(t, num_frames, keep) for t in hs]
                ctx = None if ctx is None else _last_frames(ctx, num_frames, keep)
                num_frames = keep
            h = blk(torch.cat([h, hs.pop()], dim=1), emb, ctx, num_frames)
        if keep < num_frames:  # the last output block attends: drop them before the output layer
            h = _last_frames(h, num_frames, keep)
        return self.out(h)

    # ------------------------------------------------------------------ persistence

    def save_pretrained(self, path: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path`` (atomically)."""
        write_model_folder(path, "MultiViewUNet", self.config.to_dict(), self)

    @classmethod
    def from_pretrained(cls, path: str | Path, strict: bool = True, device: str | torch.device = "cpu") -> "MultiViewUNet":
        """Load a folder written by :meth:`save_pretrained` or a diffusers-style See3D/MVDream UNet folder.

        With ``strict`` (default) any missing or unexpected parameter name raises :class:`See3DError`
        listing them; shape mismatches always raise.
        """
        path = Path(path)
        d = read_folder_config(path, "unet weights folder")
        if (path / WEIGHTS_NAME).is_file():
            config = MultiViewUNetConfig.from_dict(d)
            state = _read_weights(path / WEIGHTS_NAME)
        else:
            config = MultiViewUNetConfig.from_ldm_config(d)
            found = [path / n for n in DIFFUSERS_WEIGHTS if (path / n).is_file()]
            index = [path / f"{n}.index.json" for n in DIFFUSERS_WEIGHTS if (path / f"{n}.index.json").is_file()]
            if found:
                state = _read_weights(found[0])
            elif index:
                state = read_sharded_weights(index[0])
            else:
                raise See3DError(
                    f"{path} has no weights ({WEIGHTS_NAME}, {' / '.join(DIFFUSERS_WEIGHTS)} or a sharded *.index.json)"
                )
        with torch.device("meta"):
            model = cls(config)
        load_state_dict_checked(model, state, strict=strict)
        return model.to(device).eval()


def write_model_folder(path: str | Path, class_name: str, config: dict, module: nn.Module) -> None:
    """``config.json`` (with ``_class_name``) and ``model.safetensors`` of ``module``, written atomically."""
    from safetensors.torch import save_file

    from see3d.io.atomic import atomic_output_dir

    with atomic_output_dir(path) as tmp:
        (tmp / CONFIG_NAME).write_text(json.dumps({"_class_name": class_name, **config}, indent=2))
        sd = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        save_file(sd, str(tmp / WEIGHTS_NAME))


def read_folder_config(path: Path, what: str) -> dict:
    """The parsed ``config.json`` of the model folder ``path`` (one-line errors naming ``what``)."""
    if not path.is_dir():
        raise See3DError(f"{what} not found: {path}")
    cfg_file = path / CONFIG_NAME
    if not cfg_file.is_file():
        raise See3DError(f"{path} has no {CONFIG_NAME}")
    try:
        return json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise See3DError(f"{cfg_file} is not valid JSON: {e.msg}") from None


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(file))
        except Exception as e:  # corrupt / truncated file
            raise See3DError(f"cannot read weights {file}: {str(e).splitlines()[0]}") from None
    try:
        sd = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as e:
        raise See3DError(f"cannot read weights {file}: {str(e).splitlines()[0]}") from None
    return sd.get("state_dict", sd) if isinstance(sd, dict) else sd


def read_sharded_weights(index_file: Path) -> dict[str, torch.Tensor]:
    """All tensors of a sharded checkpoint: ``*.index.json`` (``weight_map``: name -> shard file)."""
    try:
        weight_map = json.loads(index_file.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise See3DError(f"{index_file} is not a weights index (a JSON object with a weight_map)") from None
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        file = index_file.parent / shard
        if not file.is_file():
            raise See3DError(f"{index_file.parent} lacks the shard {shard} that {index_file.name} lists")
        part = _read_weights(file)
        state.update(part)
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise See3DError(f"{index_file.name} lists {len(missing)} tensors its shards lack (e.g. {missing[0]})")
    return state


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> tuple[list[str], list[str]]:
    """Load ``state`` into ``model`` (which may live on the meta device); list problems, never hide them.

    Returns ``(missing, unexpected)``; with ``strict`` a non-empty list raises :class:`See3DError`.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if bad:
        raise See3DError(f"weights do not fit the model ({len(bad)} shape mismatches, e.g. {'; '.join(bad[:3])})")
    if strict and (missing or unexpected):
        raise See3DError(
            f"weights do not match the model: {len(missing)} missing ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}), "
            f"{len(unexpected)} unexpected ({', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''})"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False, assign=True)
    if missing:  # non-strict: materialise what the file did not have
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if p.is_meta:
                raise See3DError(f"weights lack {name} and the model was built on the meta device; load strictly")
    return missing, unexpected


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


#: The published See3D UNet (MVDream sd-v2-base backbone, 9 input channels).
SEE3D_UNET = MultiViewUNetConfig()
