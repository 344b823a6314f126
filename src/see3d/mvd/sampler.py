"""DDIM sampling with the See3D visual condition (REFERENCE.md section 2).

Every step rebuilds ``C_t`` from the condition images with fresh noise at ``t // 5``, mixes it with
the current ``x_t`` by ``W(t')``, re-inserts the clean references, runs the UNet on the conditional
and (with guidance) unconditional input in one batch, and applies
``out = (1 + g) * out_cond - g * out_uncond``. Targets beyond ``max_views - S`` per network call are
processed in chunks, each with all references (memory-aware; attention is scaled-dot-product).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from see3d.errors import See3DError
from see3d.mvd.condition import build_condition
from see3d.mvd.model import MVDModel


def _check_inputs(refs: torch.Tensor, cond: torch.Tensor, masks: torch.Tensor) -> None:
    if refs.ndim != 4 or refs.shape[0] == 0:
        raise See3DError(f"sampler: expected references [S, C, H, W] with S >= 1, got {tuple(refs.shape)}")
    if cond.ndim != 4 or cond.shape[0] == 0:
        raise See3DError(f"sampler: expected target condition images [T, C, H, W] with T >= 1, got {tuple(cond.shape)}")
    if refs.shape[1:] != cond.shape[1:]:
        raise See3DError(f"sampler: reference size {tuple(refs.shape[1:])} differs from target size {tuple(cond.shape[1:])}")
    if masks.shape != (cond.shape[0], 1, *cond.shape[2:]):
        raise See3DError(f"sampler: mask shape {tuple(masks.shape)} does not match targets {(cond.shape[0], 1, *cond.shape[2:])}")


@torch.no_grad()
def sample_views(
    model: MVDModel,
    refs: torch.Tensor,
    cond: torch.Tensor,
    masks: torch.Tensor,
    seed: int = 0,
    steps: int | None = None,
    guidance_scale: float | None = None,
    strength: float | None = None,
    context: torch.Tensor | None = None,
    max_views: int | None = None,
    progress: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Generate the targets of one scene in model space.

    Args:
        refs: clean reference views ``[S, C, h, w]`` (model space).
        cond: condition images of the targets ``[T, C, h, w]`` (model space; encode the warped views,
            or their pre-filled version, with :meth:`MVDModel.encode`).
        masks: ``[T, 1, h, w]``, 1 = known, at model resolution.
        seed: all randomness (initial noise, condition noise) comes from ``torch.Generator(seed)``.
        context: ``[L, context_dim]`` cross-attention context (models with ``context_dim``).
        max_views: views per network call (default ``model.config.max_views``).
        callback: ``callback(step_index, total_steps)`` after every step (for progress bars).

    Returns ``[T, C, h, w]`` clean estimates of the targets (model space).
    """
    _check_inputs(refs, cond, masks)
    cfg = model.config
    steps = cfg.steps if steps is None else steps
    g = cfg.guidance_scale if guidance_scale is None else guidance_scale
    strength = cfg.strength if strength is None else strength
    max_views = cfg.max_views if max_views is None else max_views
    s, t_count = refs.shape[0], cond.shape[0]
    if max_views <= s:
        raise See3DError(f"sampler: max_views={max_views} leaves no room for targets beside {s} references")
    if cfg.unet.context_dim is not None and context is None:
        raise See3DError("sampler: this model needs a context tensor (e.g. the OpenCLIP/CLIP embeddings of the full model)")
    device = next(model.unet.parameters()).device
    dtype = next(model.unet.parameters()).dtype
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    sched = model.schedule
    ts = sched.timesteps(steps, cfg.timestep_spacing, strength)
    per = max_views - s
    chunks = [(i, min(i + per, t_count)) for i in range(0, t_count, per)]
    total = len(chunks) * len(ts)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="mvd sampling", unit="step")
    outs = []
    done = 0
    try:
        for a, b in chunks:
            outs.append(_sample_group(model, refs, cond[a:b], masks[a:b], ts, g, strength, context, gen, device, dtype))
            done += len(ts)
            if bar is not None:
                bar.update(len(ts))
            if callback is not None:
                callback(done, total)
    finally:
        if bar is not None:
            bar.close()
    return torch.cat(outs)


def _sample_group(model, refs, cond, masks, ts, g, strength, context, gen, device, dtype):
    cfg = model.config
    sched = model.schedule
    s, t_n = refs.shape[0], cond.shape[0]
    f = s + t_n
    shape = (1, f, *refs.shape[1:])
    ref_flags = torch.zeros(1, f, dtype=torch.bool)
    ref_flags[0, :s] = True
    ref_clean = torch.cat([refs, torch.zeros_like(cond)])[None].to(device, dtype)
    cond_all = torch.cat([refs, cond])[None].to(device, dtype)
    m_all = torch.cat([torch.ones(s, 1, *masks.shape[2:]), masks.float().cpu()])[None].to(device, dtype)
    noise0 = torch.randn(shape, generator=gen).to(device, dtype)
    if strength < 1.0:
        x = sched.add_noise(cond_all[0], noise0[0], torch.full((f,), ts[0]))[None]
    else:
        x = noise0
    ctx = None
    if context is not None:
        ctx = context.to(device, dtype)[None].expand(f, *context.shape)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        noise_c = torch.randn(shape, generator=gen).to(device, dtype)
        tt = torch.tensor([t])
        inp = build_condition(x, cond_all, m_all, ref_flags, ref_clean, tt, noise_c, sched.add_noise, mask_only=cfg.mask_only)
        batch = [inp]
        if g != 0.0:
            batch.append(
                build_condition(
                    x, cond_all, m_all, ref_flags, ref_clean, tt, noise_c, sched.add_noise, drop=torch.tensor([True]), mask_only=cfg.mask_only
                )
            )
        inp_b = torch.cat(batch).reshape(len(batch) * f, *inp.shape[2:])
        t_in = torch.full((len(batch) * f,), t, device=device)
        c_in = None if ctx is None else ctx.repeat(len(batch), 1, 1)
        out = model.unet(inp_b, t_in, c_in, num_frames=f).reshape(len(batch), f, *refs.shape[1:])
        o = out[0] if g == 0.0 else (1.0 + g) * out[0] - g * out[1]
        x = torch.where(ref_flags[0, :, None, None, None].to(device), ref_clean[0], x[0])
        x = sched.ddim_step(o, t, t_prev, x, cfg.prediction_type)[None]
    return x[0, s:].float().cpu()
