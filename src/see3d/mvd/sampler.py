"""DDIM sampling with the See3D visual condition (REFERENCE.md section 2).

Every step rebuilds ``C_t`` from the condition images with fresh noise at ``t // 5``, mixes it with
the current ``x_t`` by ``W(t')``, re-inserts the clean references, runs the UNet on the conditional
and (with guidance) unconditional input in one batch, and applies
``out = (1 + g) * out_cond - g * out_uncond``. Targets beyond ``max_views - S`` per network call are
processed in chunks, each with all references (memory-aware; attention is scaled-dot-product).

With ``MVDConfig.tile > 0`` the network runs on overlapping ``tile x tile`` windows (the same window
in every view of the group, as in training on crops) instead of the whole views, and the window
outputs are blended with weights that fall off towards the window edges. The 3D attention then
spans ``views x tile**2 / 16`` tokens instead of ``views x h x w / 16``, so the cost grows linearly
with the image instead of quadratically. A window runs only the targets with holes in it (at least
``tile_min_holes`` unknown cells), beside the references, whose outputs are never needed and so leave
the network after its last attention block (``out_frames``); where no window ran a target, its
output is the one that predicts its clean condition (:func:`_known_output`).

Settings of a See3D release (``MVDConfig``): ``ddim_rule="published"`` (each step goes to
``t - T // steps``, the last one to ``final_alpha_cumprod``), ``published_rng`` (the noise is drawn
in the published pipeline's order: initial noise of every view, one condition noise that is never
used, then one condition noise per step; with the VAE sample drawn first from the same generator,
a seed reproduces the published pipeline run under ``torch.manual_seed`` of that seed on the CPU),
``condition="clean"`` (the SR stage: the condition slot carries the clean condition latent).
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
    generator: torch.Generator | None = None,
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
        generator: a CPU ``torch.Generator`` to draw from instead of a fresh one seeded with ``seed``
            (the release's filler draws the VAE latents from it first).

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
    device = model.execution_device
    dtype = model.dtype
    gen = generator if generator is not None else torch.Generator(device="cpu").manual_seed(int(seed))
    sched = model.schedule
    ts = sched.timesteps(steps, cfg.timestep_spacing, strength)
    per = max_views - s
    chunks = [(i, min(i + per, t_count)) for i in range(0, t_count, per)]
    total = len(chunks) * len(ts)
    bar = None
    if progress:
        from see3d._progress import progress_bar

        bar = progress_bar(total=total, desc="mvd sampling", unit="step")
    outs = []
    done = 0
    try:
        for a, b in chunks:
            outs.append(_sample_group(model, refs, cond[a:b], masks[a:b], ts, steps, g, strength, context, gen, device, dtype))
            done += len(ts)
            if bar is not None:
                bar.update(len(ts))
            if callback is not None:
                callback(done, total)
    finally:
        if bar is not None:
            bar.close()
    return torch.cat(outs)


def _sample_group(model, refs, cond, masks, ts, steps, g, strength, context, gen, device, dtype):
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
    if cfg.published_rng:  # the published pipeline draws a condition noise before its loop and never uses it
        torch.randn(shape, generator=gen)
    clean = cfg.condition == "clean"
    for i, t in enumerate(ts):
        t_prev = sched.prev_timestep(ts, i, steps, cfg.ddim_rule)
        noise_c = torch.randn(shape, generator=gen).to(device, dtype)
        tt = torch.tensor([t])
        inp = build_condition(x, cond_all, m_all, ref_flags, ref_clean, tt, noise_c, sched.add_noise, mask_only=cfg.mask_only, clean=clean)
        batch = [inp]
        if g != 0.0:
            batch.append(
                build_condition(
                    x, cond_all, m_all, ref_flags, ref_clean, tt, noise_c, sched.add_noise, drop=torch.tensor([True]), mask_only=cfg.mask_only,
                    clean=clean,
                )
            )
        inp_b = torch.cat(batch).reshape(len(batch) * f, *inp.shape[2:])
        t_in = torch.full((len(batch) * f,), t, device=device)
        c_in = None if ctx is None else ctx.repeat(len(batch), 1, 1)
        # the output for the references is discarded (they are re-inserted clean): the one that
        # predicts them clean stands in for it, and for windows where every target is known
        fallback = _known_output(sched, cond_all[0], x[0], t, cfg.prediction_type).repeat(len(batch), 1, 1, 1)
        if cfg.tile > 0:
            out = _unet_tiled(model.unet, inp_b, t_in, c_in, f, m_all[0, s:], fallback, cfg.tile, cfg.tile_overlap, cfg.tile_min_holes)
        else:
            out = fallback.reshape(len(batch), f, *fallback.shape[1:]).clone()
            out[:, s:] = model.unet(inp_b.contiguous(memory_format=torch.channels_last), t_in, c_in, num_frames=f, out_frames=t_n).reshape(len(batch), t_n, *fallback.shape[1:])
        out = out.reshape(len(batch), f, *refs.shape[1:])
        o = out[0] if g == 0.0 else (1.0 + g) * out[0] - g * out[1]
        x = torch.where(ref_flags[0, :, None, None, None].to(device), ref_clean[0], x[0])
        x = sched.ddim_step(o, t, t_prev, x, cfg.prediction_type)[None]
    return x[0, s:].float().cpu()


def _known_output(sched, x0: torch.Tensor, x_t: torch.Tensor, t: int, prediction_type: str) -> torch.Tensor:
    """The network output that predicts ``x0`` from ``x_t`` at ``t`` (for windows not run)."""
    tt = torch.full((x0.shape[0],), t, dtype=torch.long)
    _, eps = sched.predict_x0_eps(x0, x_t, tt, "sample")  # the noise that x0 implies in x_t
    return sched.target(x0, eps, tt, prediction_type)


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Window starts covering ``[0, n)`` with windows of ``tile`` overlapping by at least ``overlap``."""
    if tile >= n:
        return [0]
    stride = tile - overlap
    starts = list(range(0, n - tile, stride))
    return starts + [n - tile]


def tile_weight(th: int, tw: int, overlap: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Blend weight of a window ``[th, tw]``: 1 inside, falling linearly to ``1 / overlap`` at the edges."""
    ramp = max(overlap, 1)

    def one(n):
        i = torch.arange(n, device=device, dtype=dtype)
        return ((torch.minimum(i, n - 1 - i) + 1.0) / ramp).clamp(max=1.0)

    return one(th)[:, None] * one(tw)[None, :]


def _unet_tiled(unet, inp, t_in, ctx, f, target_masks, fallback, tile, overlap, min_holes: int = 1, views_per_call: int = 64):
    """``unet(inp)`` evaluated on overlapping windows and blended (see the module docstring).

    ``inp [B * f, C, h, w]``: B groups (guidance) of ``f`` views, the ``S = f - T`` references first;
    ``target_masks [T, 1, h, w]`` (1 = known); ``fallback [B * f, C', h, w]``: the output where no
    window ran. A window runs the references and the targets with at least ``min_holes`` unknown
    cells in it (a target (nearly) known there takes the fallback, as the references always do);
    windows with the same number of views share network calls of at most ``views_per_call`` views.
    """
    h, w = inp.shape[-2:]
    n_b, n_t = inp.shape[0] // f, target_masks.shape[0]
    n_s = f - n_t
    th, tw = min(tile, h), min(tile, w)
    unknown = target_masks[:, 0] < 0.5
    by_count: dict[int, list] = {}
    for y in tile_starts(h, th, overlap):
        for x in tile_starts(w, tw, overlap):
            need = [k for k in range(n_t) if int(unknown[k, y : y + th, x : x + tw].sum()) >= min_holes]
            if need:
                by_count.setdefault(len(need), []).append((y, x, need))
    out = fallback.clone()
    if not by_count:
        return out
    acc = torch.zeros_like(fallback)
    wsum = torch.zeros(n_b * f, 1, h, w, device=inp.device, dtype=fallback.dtype)
    wt = tile_weight(th, tw, overlap, inp.device, fallback.dtype)
    for k, wins in sorted(by_count.items()):
        fv = n_s + k  # views per window: the references, then the k targets with holes there
        per_call = max(1, views_per_call // (fv * n_b))
        for c in range(0, len(wins), per_call):
            # one item per (window, guidance branch): the rows of inp it takes, and where
            items = [([b * f + v for v in [*range(n_s), *(n_s + j for j in need)]], y, x) for y, x, need in wins[c : c + per_call] for b in range(n_b)]
            crops = torch.cat([inp[r, :, y : y + th, x : x + tw] for r, y, x in items]).contiguous(memory_format=torch.channels_last)
            n = len(items)
            c_in = None if ctx is None else ctx[:1].expand(n * fv, *ctx.shape[1:])  # the same context for every view
            # only the targets' outputs: the references leave the network after its last attention
            o = unet(crops, t_in[:1].repeat(n * fv), c_in, num_frames=fv, out_frames=k).reshape(n, k, fallback.shape[1], th, tw)
            for (r, y, x), oi in zip(items, o):
                acc[r[n_s:], :, y : y + th, x : x + tw] += oi * wt
                wsum[r[n_s:], :, y : y + th, x : x + tw] += wt
    covered = wsum > 0
    return torch.where(covered, acc / wsum.clamp_min(1e-12), out)

