"""Training the multi-view diffusion model (``see3d train mvd``).

Loss (REFERENCE.md section 1): MSE of the network output against the target of the configured
prediction type (epsilon for the published model), on target views only; references are clean in
both input slots; the condition is dropped for classifier-free guidance with p = 0.1.

AdamW, linear warm-up, EMA of the weights, gradient clipping, bf16 autocast on CUDA. Multi-GPU /
multi-node through ``accelerate`` (DDP; launch with ``accelerate launch``). Checkpoints are folders
written atomically (``checkpoints/step_0001234``: weights, EMA, optimizer state, ``state.json``);
``resume`` continues from the newest one *exactly*: every random draw of step ``k`` comes from
generators seeded with ``(seed, k, rank)``, so a killed and resumed run reproduces the loss curve of
an uninterrupted one. ``OUT/model`` always holds the latest EMA weights as an :class:`MVDModel` folder.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from see3d.errors import See3DError
from see3d.io.config import check_fields, read_config_file
from see3d.mvd.condition import build_condition
from see3d.mvd.data import make_sample, make_source
from see3d.mvd.model import MVDConfig, MVDModel, prefill_telea


@dataclass
class TrainConfig:
    model: MVDConfig = field(default_factory=MVDConfig)
    data: str = "synth"
    size: int = 64  #: clip resolution (square)
    crop: int = 0  #: > 0: train on a random crop of this size (same window in every view)
    clip_frames: int = 8
    views: int = 4  #: views per sample (references + targets)
    refs_min: int = 1
    refs_max: int = 2
    batch: int = 2  #: samples per step and process
    steps: int = 1000
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup: int = 100
    #: > 0: from this step on the learning rate falls linearly, to 0 at ``steps`` (a
    #: warmup-stable-decay schedule); 0 = constant after the warmup
    decay_from: int = 0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    cfg_dropout: float = 0.1
    mask: str = "mixed"  #: random masks: strokes | warp | mixed
    p_warp: float = 0.7  #: synth clips: probability of a real depth warp as the target condition
    jitter: float = 0.05  #: brightness / colour difference between views
    disp_noise: float = 0.03  #: relative disparity noise of the warp depth
    hole_weight: float = 1.0  #: loss weight of hole pixels relative to known ones
    t_max: int = 1000  #: timesteps drawn from [0, t_max); < 1000 trains only for partial-noise sampling
    #: probability that a sample's noised state ``x_t`` of the target views is built from the
    #: (pre-filled) condition instead of the truth: what a partial-noise sampler (strength < 1)
    #: starts from. 0 = plain diffusion training. With it the model learns to *correct* the
    #: classical pre-fill at low noise instead of trusting it (see docs/mvd.md).
    xt_from_cond: float = 0.0
    seed: int = 0
    data_seed_offset: int = 0  #: synth scenes: seeds start here (benchmarks hold out others)
    ckpt_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    bf16: bool = True  #: autocast on CUDA
    vae: str | None = None  #: latent-space models: folder of a diffusers AutoencoderKL

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = MVDConfig.from_dict(self.model)
        if self.views < 2:
            raise See3DError("train config: views must be >= 2")
        if not 1 <= self.refs_min <= self.refs_max < self.views:
            raise See3DError("train config: need 1 <= refs_min <= refs_max < views")
        if self.batch < 1 or self.steps < 1:
            raise See3DError("train config: batch and steps must be >= 1")
        m = self.model.unet.downsample_factor * (1 if self.model.space == "pixel" else 8)
        if (self.crop or self.size) % m:
            raise See3DError(f"train config: training size {self.crop or self.size} must be a multiple of {m}")
        if not 1 <= self.t_max <= 1000:
            raise See3DError(f"train config: t_max must be in [1, 1000], got {self.t_max}")
        if self.t_max < 1000 and self.model.strength > self.t_max / 1000:
            raise See3DError(f"train config: a model trained on t < {self.t_max} must sample with strength <= {self.t_max / 1000}")
        if not 0.0 <= self.xt_from_cond <= 1.0:
            raise See3DError(f"train config: xt_from_cond must be in [0, 1], got {self.xt_from_cond}")
        if self.decay_from and not 0 < self.decay_from < self.steps:
            raise See3DError(f"train config: decay_from {self.decay_from} must be between 0 and steps ({self.steps})")
        if self.crop > self.size:
            raise See3DError(f"train config: crop {self.crop} is larger than size {self.size}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        check_fields(cls, d, "train config")
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_config_file(path, "train config"))


# ----------------------------------------------------------------------------------------------
# checkpoints


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, meta = {}, {"param_groups": sd["param_groups"], "scalars": {}}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{pid}.{k}"] = v.detach().contiguous().cpu()
            else:
                meta["scalars"][f"{pid}.{k}"] = v
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def list_checkpoints(out: Path) -> list[Path]:
    d = out / "checkpoints"
    return sorted(p for p in d.glob("step_*") if p.is_dir() and (p / "state.json").is_file()) if d.is_dir() else []


def save_checkpoint(out: Path, step: int, unet, ema, opt, cfg: TrainConfig, keep: int, processes: int = 1) -> Path:
    from safetensors.torch import save_file

    from see3d.io.atomic import atomic_output_dir

    path = out / "checkpoints" / f"step_{step:07d}"
    with atomic_output_dir(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in unet.state_dict().items()}, str(tmp / "model.safetensors"))
        save_file({k: v.detach().contiguous().cpu() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
        ot, meta = _flatten_optimizer(opt)
        save_file(ot, str(tmp / "optimizer.safetensors"))
        state = {"step": step, "processes": processes, "optimizer": meta, "config": cfg.to_dict()}
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    MVDModel(cfg.model, unet=ema).save_pretrained(out / "model")
    return path


def load_checkpoint(path: Path, unet, ema, opt) -> int:
    from safetensors.torch import load_file

    try:
        st = json.loads((path / "state.json").read_text())
        unet.load_state_dict(load_file(str(path / "model.safetensors")))
        ema.load_state_dict(load_file(str(path / "ema.safetensors")))
        opt.load_state_dict(_unflatten_optimizer(load_file(str(path / "optimizer.safetensors")), st["optimizer"]))
    except (RuntimeError, KeyError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise See3DError(f"cannot resume from {path}: it does not fit this model ({first[:160]})") from None
    return int(st["step"])


#: Config fields that may change when a run resumes (the step budget and cadence of checkpoints/logs).
RESUMABLE_CHANGES = ("steps", "ckpt_every", "keep_checkpoints", "log_every")


def check_run_folder(out: Path) -> list[Path]:
    """``out`` must be new, empty, or a ``train mvd`` run folder; returns its checkpoints."""
    if out.exists() and not out.is_dir():
        raise See3DError(f"run folder {out} is a file")
    ckpts = list_checkpoints(out)
    if ckpts or not out.is_dir() or not any(out.iterdir()):
        return ckpts
    cfg_file = out / "train_config.json"
    try:
        own = cfg_file.is_file() and "clip_frames" in json.loads(cfg_file.read_text())
    except (OSError, ValueError):
        own = False
    if not own:
        raise See3DError(f"{out} is not a `see3d train mvd` run folder (no checkpoints/ or train_config.json of its kind); choose a new or empty folder")
    return ckpts


def _flat(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = json.loads(json.dumps(v))  # tuples -> lists, as stored
    return flat


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """``{field: (old, new)}`` of the fields (dotted for the model's) that differ, resumable ones excluded;
    fields a checkpoint predates count as changed only when the new value differs from the default."""
    defaults = _flat(TrainConfig().to_dict())
    a, b = _flat(old), _flat(new)
    out = {}
    for k in sorted(set(a) | set(b)):
        if k in RESUMABLE_CHANGES:
            continue
        va, vb = a.get(k, defaults.get(k)), b.get(k, defaults.get(k))
        if va != vb:
            out[k] = (va, vb)
    return out


def _check_resume_config(out: Path, ckpt: Path, cfg: TrainConfig, allow: bool) -> None:
    try:
        old = json.loads((ckpt / "state.json").read_text()).get("config")
    except (OSError, ValueError):
        raise See3DError(f"cannot read {ckpt / 'state.json'}; remove the checkpoint to continue from an earlier one") from None
    if not isinstance(old, dict):
        return  # a checkpoint without its config: nothing to compare with
    changes = config_changes(old, cfg.to_dict())
    if not changes:
        return
    arch = [k for k in changes if k.startswith("model.")]
    if arch:
        raise See3DError(
            f"{ckpt} was trained with another model ({', '.join(arch[:4])} differ); resume with its config or use a new --out"
        )
    desc = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
    if not allow:
        raise See3DError(f"resuming {ckpt.name} with a different config ({desc}); pass --allow-config-change to continue with the new values")
    import os
    import sys

    if int(os.environ.get("RANK", "0")) > 0:  # one warning and one log line per multi-process run
        return
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} resumed {ckpt.name} with {desc}"
    print(f"warning: {line}", file=sys.stderr)
    with open(out / "config_changes.log", "a") as fh:
        fh.write(line + "\n")


# ----------------------------------------------------------------------------------------------
# one batch


def make_batch(cfg: TrainConfig, source, step: int, rank: int, model: MVDModel, device) -> dict[str, torch.Tensor]:
    """The batch of ``step`` on process ``rank``, a pure function of ``(seed, step, rank)``."""
    return encode_batch(batch_views(cfg, source, step, rank, model), model, device)


def batch_views(cfg: TrainConfig, source, step: int, rank: int, model: MVDModel) -> tuple[torch.Tensor, ...]:
    """The views of a batch in [0, 1] on the CPU: ``x0, cond`` ``[B, F, 3, H, W]`` (the condition
    pre-filled when the model asks for it), ``masks [B, F, 1, H, W]``, ``ref [B, F]`` (no model
    weights involved: the trainer builds the next batch in a thread while the current one trains)."""
    xs, cs, ms, rs = [], [], [], []
    for b in range(cfg.batch):
        rng = np.random.default_rng([cfg.seed, step, rank, b])
        s = make_sample(source, rng, cfg.views, (cfg.refs_min, cfg.refs_max), cfg.mask, cfg.p_warp, cfg.jitter, cfg.disp_noise, index=step * cfg.batch + b)
        win = (slice(None), slice(None))
        if cfg.crop and cfg.crop < cfg.size:
            y, x = (int(v) for v in rng.integers(0, cfg.size - cfg.crop + 1, 2))
            win = (slice(y, y + cfg.crop), slice(x, x + cfg.crop))
        xs.append(s.x0[:, win[0], win[1]])
        cs.append(s.cond[:, win[0], win[1]])
        ms.append(s.masks[:, win[0], win[1]])
        rs.append(s.ref)
    # [B, F, 3, H, W], contiguous (a channels-last input would run the UNet in channels-last layout)
    x0 = torch.from_numpy(np.stack(xs)).permute(0, 1, 4, 2, 3).contiguous()
    cond = torch.from_numpy(np.stack(cs)).permute(0, 1, 4, 2, 3).contiguous()
    masks = torch.from_numpy(np.stack(ms))[:, :, None]
    b, f = x0.shape[:2]
    flat = lambda t: t.reshape(b * f, *t.shape[2:])  # noqa: E731
    if model.config.prefill == "telea":
        cond = prefill_telea(flat(cond), flat(masks)).reshape(cond.shape)
    return x0, cond, masks, torch.from_numpy(np.stack(rs))


def encode_batch(views: tuple[torch.Tensor, ...], model: MVDModel, device) -> dict[str, torch.Tensor]:
    """:func:`batch_views` in model space on ``device`` (the VAE for a latent model)."""
    x0, cond, masks, ref = views
    b, f = x0.shape[:2]
    flat = lambda t: t.reshape(b * f, *t.shape[2:])  # noqa: E731
    z0 = model.encode(flat(x0).to(device)).reshape(b, f, -1, *model.encode_mask(flat(masks)).shape[-2:])
    zc = model.encode(flat(cond).to(device)).reshape(z0.shape)
    zm = model.encode_mask(flat(masks)).reshape(b, f, 1, *z0.shape[-2:]).to(device)
    return {"x0": z0, "cond": zc, "masks": zm, "ref": ref.to(device)}


def loss_fn(model: MVDModel, unet, batch: dict, gen: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """The training loss of one batch (all randomness from ``gen``)."""
    x0, cond, masks, ref = batch["x0"], batch["cond"], batch["masks"], batch["ref"]
    b, f = x0.shape[:2]
    dev = x0.device
    sched = model.schedule
    t = torch.randint(0, min(cfg.t_max, sched.num_train_timesteps), (b,), generator=gen).to(dev)
    noise = torch.randn(x0.shape, generator=gen).to(dev)
    noise_c = torch.randn(x0.shape, generator=gen).to(dev)
    drop = (torch.rand(b, generator=gen) < cfg.cfg_dropout).to(dev)
    t_v = t[:, None].expand(b, f).reshape(-1)
    start = x0
    if cfg.xt_from_cond > 0:  # the sampler's starting state: noised pre-filled condition on targets
        use = (torch.rand(b, generator=gen) < cfg.xt_from_cond).to(dev)[:, None] & ~ref
        start = torch.where(use[:, :, None, None, None], cond, x0)
    x_t = sched.add_noise(start.reshape(b * f, *x0.shape[2:]), noise.reshape(b * f, *x0.shape[2:]), t_v).reshape(x0.shape)
    inp = build_condition(x_t, cond, masks, ref, x0, t, noise_c, sched.add_noise, drop=drop, mask_only=model.config.mask_only)
    # references carry no loss: with the same number in every sample they go first and the UNet
    # drops them after its last cross-view attention (same loss and gradients; 1.1-1.3x per step,
    # benchmarks/train_step.py)
    keep = None  # views the UNet returns per sample (None: all)
    sel = _targets_last(ref)
    if sel is not None:
        order, keep = sel
        inp, x0, noise, masks, ref = (_gather_views(v, order) for v in (inp, x0, noise, masks, ref))
    n_out = f if keep is None else keep
    ctx = None
    if model.config.unet.context_dim is not None:  # text / image embeddings are outside this trainer
        ctx = torch.zeros(b * f, 1, model.config.unet.context_dim, device=dev)
    out = unet(inp.reshape(b * f, *inp.shape[2:]), t_v, ctx, num_frames=f, out_frames=keep)
    out = out.reshape(b, n_out, *x0.shape[2:]).float()
    x0, noise, masks, ref = (v[:, f - n_out :] for v in (x0, noise, masks, ref))
    t_o = t[:, None].expand(b, n_out).reshape(-1)
    flat = lambda v: v.reshape(b * n_out, *v.shape[2:])  # noqa: E731
    target = sched.target(flat(x0), flat(noise), t_o, model.config.prediction_type).reshape(out.shape)
    w = 1.0 + (cfg.hole_weight - 1.0) * (1.0 - masks)
    w = w * (~ref)[:, :, None, None, None].float()
    err = (out - target) ** 2 * w
    return err.sum() / (w.sum() * x0.shape[2]).clamp_min(1.0)


def _targets_last(ref: torch.Tensor) -> tuple[torch.Tensor, int] | None:
    """``(order, targets)`` putting every sample's references first (stable), when all samples have
    the same number of references and at least one target; else ``None`` (run every view)."""
    n = ref.sum(1)
    r = int(n[0])
    if not (bool((n == r).all()) and 0 < r < ref.shape[1]):
        return None
    return torch.argsort((~ref).to(torch.int8), dim=1, stable=True), ref.shape[1] - r


def _gather_views(v: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``v[i, order[i]]`` for every sample ``i`` (``v`` is ``[B, F, ...]``)."""
    idx = order.reshape(*order.shape, *([1] * (v.ndim - 2))).expand_as(v)
    return torch.gather(v, 1, idx)


# ----------------------------------------------------------------------------------------------
# the loop


def _lr(cfg: TrainConfig, step: int) -> float:
    lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))
    if cfg.decay_from and step >= cfg.decay_from:
        lr *= (cfg.steps - step) / (cfg.steps - cfg.decay_from)
    return lr


def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = True,
    max_steps: int | None = None,
    callback: Callable[[int, float], None] | None = None,
    allow_config_change: bool = False,
) -> list[tuple[int, float]]:
    """Train (or continue) into ``out``; returns the ``(step, loss)`` pairs of this run.

    ``max_steps`` stops early after that many steps of this call without a final checkpoint
    (what a kill does; tests use it). Resuming with a config that differs from the checkpoint's
    (other than the step budget and checkpoint/log cadence) is refused unless
    ``allow_config_change``; then the change is logged in ``out/config_changes.log``. Another
    architecture is always refused.
    """
    out = Path(out)
    ckpts = check_run_folder(out)
    if resume and ckpts:
        _check_resume_config(out, ckpts[-1], cfg, allow_config_change)
    elif ckpts and not resume:
        raise See3DError(f"{out} already has checkpoints; resume, or choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    acc = _accelerator(cfg)
    device = acc.device if acc is not None else torch.device("cpu")
    rank = acc.process_index if acc is not None else 0
    main = acc.is_main_process if acc is not None else True
    torch.manual_seed(cfg.seed)
    model = MVDModel(cfg.model)
    if cfg.model.space == "latent":
        if cfg.vae is None:
            raise See3DError("train config: a latent-space model needs vae = <diffusers AutoencoderKL folder>")
        model.load_vae(cfg.vae)
        model.vae.to(device)
    unet = model.unet.to(device)
    ema = MVDModel(cfg.model).unet.to(device)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume and ckpts:
        start = load_checkpoint(ckpts[-1], unet, ema, opt)
    if main:
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    log_file = out / "loss.csv"
    if main:
        _truncate_log(log_file, start)
    source = make_source(cfg.data, cfg.size, cfg.clip_frames, cfg.data_seed_offset, seed=cfg.seed, rank=rank)
    wrapped = unet
    if acc is not None:
        wrapped, opt = acc.prepare(unet, opt)
    history: list[tuple[int, float]] = []
    end = cfg.steps if max_steps is None else min(cfg.steps, start + max_steps)
    t0 = time.perf_counter()
    # the next batch's views are made in a thread while this step trains (synth rendering, warps and
    # inpainting release the GIL; each batch is a pure function of (seed, step, rank): the same batches)
    pool = ThreadPoolExecutor(1, thread_name_prefix="see3d-batch")
    views = pool.submit(batch_views, cfg, source, start, rank, model) if start < end else None
    try:
        for step in range(start, end):
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step)
            batch = encode_batch(views.result(), model, device)
            if step + 1 < end:
                views = pool.submit(batch_views, cfg, source, step + 1, rank, model)
            gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + step) * 64 + rank)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.bf16):
                loss = loss_fn(model, wrapped, batch, gen, cfg)
            opt.zero_grad(set_to_none=True)
            if acc is not None:
                acc.backward(loss)
                acc.clip_grad_norm_(wrapped.parameters(), cfg.grad_clip)
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(unet.parameters(), cfg.grad_clip)
            opt.step()
            with torch.no_grad():
                d = min(cfg.ema_decay, (1 + step) / (10 + step))
                for pe, p in zip(ema.parameters(), unet.parameters()):
                    pe.mul_(d).add_(p.detach(), alpha=1 - d)
            lv = float(loss.detach())
            if acc is not None and acc.num_processes > 1:
                lv = float(acc.reduce(loss.detach(), reduction="mean"))
            history.append((step + 1, lv))
            if main:
                with open(log_file, "a") as fh:
                    fh.write(f"{step + 1},{lv:.8f},{_lr(cfg, step):.3e},{time.perf_counter() - t0:.2f}\n")
            if callback is not None:
                callback(step + 1, lv)
            if main and ((step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps):
                save_checkpoint(
                    out, step + 1, unet, ema, opt if acc is None else opt.optimizer, cfg, cfg.keep_checkpoints,
                    processes=1 if acc is None else acc.num_processes,
                )
                plot_loss(log_file, out / "loss.png")
            if acc is not None:
                acc.wait_for_everyone()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return history


def _accelerator(cfg: TrainConfig):
    """An ``accelerate.Accelerator`` when running under ``accelerate launch`` or on CUDA, else None."""
    import os

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 or "ACCELERATE_MIXED_PRECISION" in os.environ
    if not (launched or torch.cuda.is_available()):
        return None
    try:
        from accelerate import Accelerator
    except ImportError:
        if launched:
            raise See3DError("multi-process training needs accelerate: pip install accelerate") from None
        return None
    return Accelerator(cpu=not torch.cuda.is_available())


def _truncate_log(path: Path, step: int) -> None:
    """Keep the loss log consistent with the resumed step (drop rows written after the checkpoint)."""
    if not path.is_file():
        if step == 0:
            path.write_text("")
        return
    rows = [r for r in path.read_text().splitlines() if r and int(r.split(",")[0]) <= step]
    path.write_text("".join(r + "\n" for r in rows))


def read_loss_log(path: str | Path) -> np.ndarray:
    rows = [r.split(",") for r in Path(path).read_text().splitlines() if r]
    return np.array([[float(r[0]), float(r[1])] for r in rows]) if rows else np.zeros((0, 2))


def plot_loss(log: Path, png: Path, width: int = 640, height: int = 360) -> None:
    """Loss curve (raw and smoothed, log scale) as a PNG, drawn with Pillow."""
    from PIL import Image, ImageDraw

    data = read_loss_log(log)
    if len(data) < 2:
        return
    steps, loss = data[:, 0], np.log10(np.maximum(data[:, 1], 1e-8))
    k = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    lo, hi = float(loss.min()), float(loss.max())
    hi = hi if hi > lo else lo + 1
    pad = 40
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)

    def xy(s, v):
        return pad + (s - steps[0]) / max(1.0, steps[-1] - steps[0]) * (width - 2 * pad), height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)

    d.line([xy(s, v) for s, v in zip(steps, loss)], fill=(180, 200, 240), width=1)
    d.line([xy(s, v) for s, v in zip(steps[k - 1 :], smooth)], fill=(20, 60, 160), width=2)
    d.rectangle([pad, pad, width - pad, height - pad], outline="black")
    d.text((pad, 8), f"training loss (log10), steps {int(steps[0])}-{int(steps[-1])}", fill="black")
    d.text((4, pad), f"{10**hi:.3g}", fill="black")
    d.text((4, height - pad - 10), f"{10**lo:.3g}", fill="black")
    from see3d.io.atomic import atomic_file

    with atomic_file(png) as tmp:
        img.save(tmp, format="PNG")
