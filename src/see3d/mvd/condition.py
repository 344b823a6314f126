"""The See3D visual condition (training and sampling).

Notation (REFERENCE.md section 1). A sample is a set of ``F`` views of one scene; ``S`` of them are
references (kept clean), the others are targets. For every view:

* ``M``: mask, 1 = known (visible) pixel, 0 = to fill. References have ``M = 1``.
* ``t' = t // 5``: the smaller timestep at which the condition is noised.
* ``C_t = add_noise(M * X0, eps', t')``: the known part of the view, noised at ``t'``.
* ``W(t')``: the published time-dependent weight (:func:`condition_weight`).
* ``V_t = [W * C_t + (1 - W) * x_t ; M]``: the condition concatenated to ``x_t`` along channels.

References carry their clean latent in both the ``x_t`` and the condition slot. Classifier-free
guidance drops the *target* condition and mask (zeros) with probability 0.1; references stay.

All tensors are ``[B, F, C, H, W]`` (``B`` samples of ``F`` views) unless a docstring says otherwise.
Mask generators (numpy, ``[H, W]`` float32, 1 = known) live at the bottom of this module.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from see3d.errors import See3DError

#: ``t' = t // CONDITION_TIME_RATIO`` (beta = 0.2 in the paper).
CONDITION_TIME_RATIO = 5
#: Probability of dropping the target condition for classifier-free guidance.
CFG_DROPOUT = 0.1
#: Published guidance scale: ``eps = (1 + g) * eps_cond - g * eps_uncond``.
GUIDANCE_SCALE = 2.0


# ----------------------------------------------------------------------------------------------
# time-dependent weight


def condition_timestep(t: torch.Tensor | int) -> torch.Tensor | int:
    """``t' = t // 5``: the timestep at which the condition is noised."""
    if isinstance(t, torch.Tensor):
        return torch.div(t, CONDITION_TIME_RATIO, rounding_mode="floor")
    return int(t) // CONDITION_TIME_RATIO


def condition_weight(tc: torch.Tensor | float) -> torch.Tensor:
    """The published weight ``W(t')`` of the noised condition, ``t'`` in ``[0, 200)``.

    ``W = 1 - 0.2 * (200 - t') / 140`` for ``t' >= 60``, else ``0.8 * exp(-0.075 * (60 - t'))``,
    clamped to ``[0, 1]``. Vectorised over a tensor of ``t'``.
    """
    tc = torch.as_tensor(tc)
    if not tc.is_floating_point():
        tc = tc.to(torch.float32)
    slow = 1.0 - 0.2 * (200.0 - tc) / 140.0
    fast = 0.8 * torch.exp(-0.075 * (60.0 - tc))
    return torch.where(tc >= 60, slow, fast).clamp(0.0, 1.0)


def condition_weight_scalar(tc: float) -> float:
    """Readable scalar twin of :func:`condition_weight` (the specification)."""
    if tc >= 60:
        w = 1.0 - (1.0 - 0.8) * (200.0 - tc) / (200.0 - 60.0)
    else:
        w = 0.8 * math.exp(-0.075 * (60.0 - tc))
    return min(max(w, 0.0), 1.0)


# ----------------------------------------------------------------------------------------------
# the condition


def check_views(x: torch.Tensor, masks: torch.Tensor, ref: torch.Tensor) -> None:
    """Shape checks shared by training and sampling (``See3DError`` on mismatch)."""
    if x.ndim != 5:
        raise See3DError(f"condition: expected views [B, F, C, H, W], got shape {tuple(x.shape)}")
    b, f, _, h, w = x.shape
    if masks.shape != (b, f, 1, h, w):
        raise See3DError(f"condition: mask shape {tuple(masks.shape)} does not match views {(b, f, 1, h, w)}")
    if ref.shape != (b, f):
        raise See3DError(f"condition: reference flags shape {tuple(ref.shape)}, expected {(b, f)}")
    if not bool(ref.any(dim=1).all()):
        raise See3DError("condition: every sample needs at least one reference view (zero references given)")


def build_condition(
    x_t: torch.Tensor,
    cond_image: torch.Tensor,
    masks: torch.Tensor,
    ref: torch.Tensor,
    ref_clean: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    add_noise,
    drop: torch.Tensor | None = None,
    mask_only: bool = False,
    clean: bool = False,
) -> torch.Tensor:
    """The network input ``[x_t ; V_t ; M]`` of every view, ``[B, F, 2C + 1, H, W]``.

    Args:
        x_t: current noisy views ``[B, F, C, H, W]`` (reference slots are replaced by ``ref_clean``).
        cond_image: the condition image of every view (``M * X0`` or the warped view, holes optionally
            pre-filled) ``[B, F, C, H, W]``, already in model space.
        masks: ``[B, F, 1, H, W]``, 1 = known. Reference masks are forced to 1.
        ref: ``[B, F]`` bool, True = reference view.
        ref_clean: clean reference views ``[B, F, C, H, W]`` (only reference slots are read).
        t: ``[B]`` integer diffusion timestep of each sample.
        noise: fresh noise ``eps'`` for ``C_t``, like ``cond_image``.
        add_noise: ``add_noise(x0, eps, t_flat)`` of the schedule, ``t_flat`` one per view.
        drop: ``[B]`` bool, True = classifier-free-guidance drop (target condition and mask -> 0).
        mask_only: the W = 0 ablation: the condition slot carries ``x_t`` (no visual condition).
        clean: the condition slot carries ``cond_image`` itself (no noise, no mixing with ``x_t``):
            the super-resolution stage of the See3D release.
    """
    check_views(x_t, masks, ref)
    b, f = x_t.shape[:2]
    # flags and timesteps may come from the CPU (the sampler's); the views may be on CUDA
    dev = x_t.device
    ref, t = ref.to(dev), t.to(dev)
    drop = None if drop is None else drop.to(dev)
    r5 = ref[:, :, None, None, None]
    x_t = torch.where(r5, ref_clean, x_t)
    tc = condition_timestep(t.long())  # [B]
    tc_v = tc[:, None].expand(b, f).reshape(-1)
    c_t = add_noise(cond_image.reshape(b * f, *cond_image.shape[2:]), noise.reshape(b * f, *noise.shape[2:]), tc_v)
    c_t = c_t.reshape(cond_image.shape)
    if mask_only:
        w = torch.zeros(b, dtype=x_t.dtype, device=x_t.device)
    else:
        w = condition_weight(tc).to(x_t.dtype)
    w = w[:, None, None, None, None]
    v = cond_image if clean else w * c_t + (1.0 - w) * x_t
    v = torch.where(r5, ref_clean, v)
    m = torch.where(r5, torch.ones_like(masks), masks)
    if drop is not None:
        d5 = (drop[:, None] & ~ref)[:, :, None, None, None]
        v = torch.where(d5, torch.zeros_like(v), v)
        m = torch.where(d5, torch.zeros_like(m), m)
    return torch.cat([x_t, v, m], dim=2)


def build_condition_reference(x_t, cond_image, masks, ref, ref_clean, t, noise, alphas_cumprod, drop=None, mask_only=False):
    """Readable per-view loop twin of :func:`build_condition` (the specification; slow)."""
    b, f = x_t.shape[:2]
    out = []
    for i in range(b):
        views = []
        tc = int(t[i]) // 5
        w = 0.0 if mask_only else condition_weight_scalar(tc)
        a = float(alphas_cumprod[tc])
        for j in range(f):
            if bool(ref[i, j]):
                xt = ref_clean[i, j]
                v = ref_clean[i, j]
                m = torch.ones_like(masks[i, j])
            else:
                xt = x_t[i, j]
                c = math.sqrt(a) * cond_image[i, j] + math.sqrt(1.0 - a) * noise[i, j]
                v = w * c + (1.0 - w) * xt
                m = masks[i, j]
                if drop is not None and bool(drop[i]):
                    v = torch.zeros_like(v)
                    m = torch.zeros_like(m)
            views.append(torch.cat([xt, v, m], dim=0))
        out.append(torch.stack(views))
    return torch.stack(out)


def sample_references(rng: np.random.Generator, views: int, s_min: int = 1, s_max: int = 2) -> np.ndarray:
    """Random reference flags ``[F]`` (S of N views clean, S uniform in ``[s_min, s_max]``)."""
    if views < 2:
        raise See3DError(f"a training sample needs at least 2 views (1 reference + 1 target), got {views}")
    s = int(rng.integers(s_min, min(s_max, views - 1) + 1))
    flags = np.zeros(views, bool)
    flags[rng.choice(views, size=s, replace=False)] = True
    return flags


# ----------------------------------------------------------------------------------------------
# mask generators (numpy, [H, W] float32, 1 = known)


def stroke_mask(h: int, w: int, rng: np.random.Generator, strokes: tuple[int, int] = (1, 5), width_frac=(20 / 512, 150 / 512)) -> np.ndarray:
    """Thick random strokes (the published generator: 20-150 px wide at 512 px, scaled to ``h, w``)."""
    m = np.ones((h, w), np.uint8)
    size = min(h, w)
    for _ in range(int(rng.integers(strokes[0], strokes[1] + 1))):
        n = int(rng.integers(2, 6))
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h)))]
        for _ in range(n - 1):
            ang = rng.uniform(0, 2 * np.pi)
            ln = rng.uniform(0.1, 0.5) * size
            x = int(np.clip(pts[-1][0] + ln * np.cos(ang), 0, w - 1))
            y = int(np.clip(pts[-1][1] + ln * np.sin(ang), 0, h - 1))
            pts.append((x, y))
        thick = max(1, int(round(rng.uniform(*width_frac) * size)))
        for p, q in zip(pts[:-1], pts[1:]):
            cv2.line(m, p, q, 0, thick)
    return m.astype(np.float32)


def random_layered_depth(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random depth map with depth edges: a tilted background plane plus a few nearer blobs/boxes."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(3.0, 8.0)
    d = base * (1.0 + rng.uniform(-0.3, 0.3) * (yy / h - 0.5) + rng.uniform(-0.3, 0.3) * (xx / w - 0.5))
    for _ in range(int(rng.integers(1, 6))):
        near = rng.uniform(0.3, 0.8) * base
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.3) * w, rng.uniform(0.05, 0.3) * h
        if rng.random() < 0.5:
            inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        else:
            inside = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
        d = np.where(inside, np.minimum(d, near), d)
    return d.astype(np.float32)


def warp_hole_mask(
    h: int,
    w: int,
    rng: np.random.Generator,
    depth: np.ndarray | None = None,
    max_shift: float = 0.12,
    invalid_blobs: bool = True,
) -> np.ndarray:
    """Holes that a forward depth warp leaves: disocclusions behind depth edges and uncovered borders.

    A depth map (given, or :func:`random_layered_depth`) is unprojected with a pinhole camera
    (focal = image width), moved by a random translation (up to ``max_shift`` x the median depth)
    and a small rotation, and splatted into the target; target pixels that no source pixel lands
    on are holes. Optional invalid-depth blobs (pixels with no depth, as real sensors/models give)
    add holes of their own after the warp.
    """
    if depth is None:
        depth = random_layered_depth(h, w, rng)
    depth = np.asarray(depth, np.float32)
    if depth.shape != (h, w):
        depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
    valid = np.isfinite(depth) & (depth > 0)
    if invalid_blobs and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.02, 0.08) * min(h, w)
            yy, xx = np.ogrid[0:h, 0:w]
            valid &= (xx - cx) ** 2 + (yy - cy) ** 2 > r * r
    med = float(np.median(depth[valid])) if valid.any() else 1.0
    f = float(w)
    cx0, cy0 = (w - 1) / 2.0, (h - 1) / 2.0
    ys, xs = np.nonzero(valid)
    z = depth[ys, xs]
    pts = np.stack([(xs - cx0) / f * z, (ys - cy0) / f * z, z], 1)
    shift = rng.uniform(-1, 1, 3) * max_shift * med
    shift[2] *= 0.5
    a = rng.uniform(-0.03, 0.03, 3)
    rot = cv2.Rodrigues(a.astype(np.float64))[0]
    p = pts @ rot.T - shift
    front = p[:, 2] > 1e-3
    p = p[front]
    u = np.round(p[:, 0] / p[:, 2] * f + cx0).astype(np.int64)
    v = np.round(p[:, 1] / p[:, 2] * f + cy0).astype(np.int64)
    inb = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    cov = np.zeros((h, w), np.uint8)
    cov[v[inb], u[inb]] = 1
    # close 1-px cracks from resampling (a real splat with footprint covers them)
    cov = cv2.morphologyEx(cov, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return cov.astype(np.float32)


def mixed_mask(h: int, w: int, rng: np.random.Generator, depth: np.ndarray | None = None, p_warp: float = 0.7) -> np.ndarray:
    """Warp-hole masks with probability ``p_warp``, thick strokes otherwise (sometimes both)."""
    if rng.random() < p_warp:
        m = warp_hole_mask(h, w, rng, depth)
        if rng.random() < 0.15:
            m = m * stroke_mask(h, w, rng, strokes=(1, 2))
    else:
        m = stroke_mask(h, w, rng)
    if m.mean() > 0.97:  # nearly nothing to learn: add a stroke
        m = m * stroke_mask(h, w, rng, strokes=(1, 2))
    return m


MASK_GENERATORS = {"strokes": stroke_mask, "warp": warp_hole_mask, "mixed": mixed_mask}


def make_mask(kind: str, h: int, w: int, rng: np.random.Generator, depth: np.ndarray | None = None) -> np.ndarray:
    """A training mask of the named kind (``strokes``, ``warp`` or ``mixed``)."""
    if kind == "strokes":
        return stroke_mask(h, w, rng)
    if kind == "warp":
        return warp_hole_mask(h, w, rng, depth)
    if kind == "mixed":
        return mixed_mask(h, w, rng, depth)
    raise See3DError(f"unknown mask generator {kind!r}: use one of {', '.join(MASK_GENERATORS)}")
