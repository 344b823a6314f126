"""Fit 3D Gaussians to posed views: Adam, L1 + D-SSIM, and the standard 3DGS densification.

:func:`fit_gaussians` is the library entry point; it takes images, intrinsics and OpenCV
camera-to-world poses (see :mod:`see3d.camera.pose`) and returns a :class:`GaussianModel`.
The densification policy (:class:`DensifyStrategy`) is a small object with hooks, separate from
the optimisation loop, following the original 3DGS recipe:

- accumulate, per Gaussian, the norm of the gradient of its projected centre (in NDC units:
  pixel gradient times ``(W / 2, H / 2)``) over the views where it is visible;
- every ``densify_every`` steps between ``densify_from`` and ``densify_until``: Gaussians whose
  mean gradient exceeds ``grad_threshold`` are cloned (if small: largest scale <=
  ``dense_fraction * extent``) or split in two samples with scales / 1.6 (if large);
  Gaussians with opacity < ``prune_opacity`` (or, after the first opacity reset, larger than
  ``prune_scale * extent`` in the world) are removed; the total never exceeds ``max_gaussians``;
- densification and resets stop at ``densify_until`` or 80% of the iterations, whichever is first;
- every ``opacity_reset_every`` steps (while densifying) opacities are clamped to
  ``2 * prune_opacity`` so that floaters must earn their opacity back.

``extent`` is 1.1 x the largest distance of a camera centre from their mean (as in 3DGS),
floored at 5% of the median camera-to-point distance when initial points are given (so small
camera baselines still get sensible position learning rates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from see3d.camera import Intrinsics
from see3d.camera.pose import as_pose, invert
from see3d.errors import See3DError
from see3d.gs.metrics import psnr, ssim, ssim_map
from see3d.gs.model import GaussianModel


@dataclass
class GSTrainConfig:
    """Options of :func:`fit_gaussians`; the defaults finish in minutes on 2 CPU cores at 256 px."""

    iterations: int = 1500
    sh_degree: int = 1  #: final SH degree (raised by one every ``sh_increase_every`` steps)
    sh_increase_every: int = 400
    # learning rates (Adam, one group per parameter)
    lr_means: float = 1.6e-4  #: times the scene extent; decays exponentially to ``lr_means_final``
    lr_means_final: float = 1.6e-6
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh_dc: float = 2.5e-3
    lr_sh_rest: float = 2.5e-3 / 20
    # loss
    ssim_weight: float = 0.2  #: loss = (1 - w) L1 + w (1 - SSIM)
    #: weight of the optional perceptual term (``perceptual_loss`` of :func:`fit_gaussians`, e.g. LPIPS
    #: with a locally available backbone); 0 = off
    perceptual_weight: float = 0.1
    # densification (standard 3DGS strategy)
    densify_from: int = 100
    densify_until: int = 1000
    densify_every: int = 100
    grad_threshold: float = 2e-4
    dense_fraction: float = 0.01
    prune_opacity: float = 0.005
    prune_scale: float = 0.1
    opacity_reset_every: int = 600
    max_gaussians: int = 200_000
    # initialisation when no points are given
    random_init_points: int = 20_000
    init_opacity: float = 0.1
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10  #: steps between callback calls / progress updates
    #: torch intra-op threads during the fit (0 = leave as is). The rasterizer's heavy loops are
    #: numba kernels; torch's own per-step ops are small and, on a busy CPU, run several times
    #: faster on one thread than on several that wait for each other.
    torch_threads: int = 1

    @classmethod
    def for_iterations(cls, iterations: int, **overrides) -> "GSTrainConfig":
        """Defaults with the densification / SH / reset schedule scaled to ``iterations`` steps."""
        f = iterations / cls.iterations
        sched = {
            "iterations": iterations,
            "densify_from": max(1, round(cls.densify_from * min(f, 1.0))),
            "densify_until": max(2, round(cls.densify_until * f)),
            "densify_every": max(1, round(cls.densify_every * min(f, 1.0))),
            "opacity_reset_every": max(1, round(cls.opacity_reset_every * f)),
            "sh_increase_every": max(1, round(cls.sh_increase_every * f)),
        }
        sched.update(overrides)
        return cls(**sched)

    def validate(self) -> "GSTrainConfig":
        if self.iterations < 1:
            raise See3DError(f"iterations must be >= 1, got {self.iterations}")
        if not 0 <= self.sh_degree <= 3:
            raise See3DError(f"sh_degree must be 0..3, got {self.sh_degree}")
        if self.max_gaussians < 1:
            raise See3DError(f"max_gaussians must be >= 1, got {self.max_gaussians}")
        if not 0.0 <= self.ssim_weight <= 1.0:
            raise See3DError(f"ssim_weight must be in [0, 1], got {self.ssim_weight}")
        if len(self.background) != 3:
            raise See3DError("background must be an RGB triple")
        return self


# --------------------------------------------------------------------------- rendering
@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch intra-op threads (0: unchanged), restoring the count after."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _viewmat(c2w: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    return torch.as_tensor(invert(as_pose(c2w)), dtype=torch.float32, device=device)


def render(
    model: GaussianModel,
    intrinsics: Intrinsics,
    c2w: np.ndarray,
    background: Sequence[float] | torch.Tensor | None = None,
    sh_degree: int | None = None,
):
    """Rasterize one view; returns the rasterizer's ``RasterOutput`` (differentiable)."""
    from see3d.gs.rasterize import rasterize

    dev = model.means.device
    bg = None if background is None else torch.as_tensor(background, dtype=torch.float32, device=dev)
    return rasterize(
        model.means,
        model.quats,
        model.log_scales,
        model.opacity_logits,
        model.sh,
        _viewmat(c2w, dev),
        torch.as_tensor(intrinsics.K, dtype=torch.float32, device=dev),
        intrinsics.width,
        intrinsics.height,
        sh_degree=sh_degree,
        background=bg,
    )


def _intrinsics_list(intrinsics: Intrinsics | Sequence[Intrinsics], n: int) -> list[Intrinsics]:
    if isinstance(intrinsics, Intrinsics):
        return [intrinsics] * n
    intr = list(intrinsics)
    if len(intr) != n:
        raise See3DError(f"got {len(intr)} intrinsics for {n} views")
    for k in intr:
        if not isinstance(k, Intrinsics):
            raise See3DError(f"intrinsics must be see3d.camera.Intrinsics, got {type(k).__name__}")
    return intr


def _poses_array(poses, n: int | None = None) -> np.ndarray:
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] not in ((4, 4), (3, 4)):
        raise See3DError(f"poses must be [N, 4, 4] camera-to-world matrices, got shape {list(p.shape)}")
    if n is not None and len(p) != n:
        raise See3DError(f"got {len(p)} poses for {n} views")
    return np.stack([as_pose(m, f"pose {i}") for i, m in enumerate(p)]) if len(p) else p


def render_views(
    model: GaussianModel,
    intrinsics: Intrinsics | Sequence[Intrinsics],
    poses: np.ndarray,
    background: Sequence[float] = (0.0, 0.0, 0.0),
    progress: bool = False,
) -> np.ndarray:
    """Render ``poses [N, 4, 4]`` (OpenCV c2w) -> float32 images ``[N, H, W, 3]`` in [0, 1]."""
    model = model.validate()
    p = _poses_array(poses)
    intr = _intrinsics_list(intrinsics, len(p))
    if len({(k.width, k.height) for k in intr}) > 1:
        raise See3DError("render_views: all views must have the same image size")
    it = range(len(p))
    if progress:
        from see3d._progress import progress_bar

        it = progress_bar(it, desc="render", unit="view")
    out = []
    with torch.no_grad(), torch_threads(1):
        for i in it:
            rgb = render(model, intr[i], p[i], background=background).rgb
            out.append(rgb.clamp(0, 1).cpu().numpy().astype(np.float32))
    if not out:
        raise See3DError("render_views: zero poses")
    return np.stack(out)


def evaluate_views(
    model: GaussianModel,
    images: np.ndarray,
    intrinsics: Intrinsics | Sequence[Intrinsics],
    poses: np.ndarray,
    background: Sequence[float] = (0.0, 0.0, 0.0),
) -> dict:
    """PSNR and SSIM of renders against ``images [N, H, W, 3]``: per view and the mean."""
    imgs = _images_array(images)
    renders = render_views(model, intrinsics, poses, background)
    if renders.shape != imgs.shape:
        raise See3DError(f"evaluation images are {list(imgs.shape)} but renders are {list(renders.shape)}")
    ps = [psnr(r, g) for r, g in zip(renders, imgs)]
    with torch_threads(1):
        ss = [ssim(r, g) for r, g in zip(renders, imgs)]
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)), "psnr_per_view": ps, "ssim_per_view": ss, "views": len(ps)}


# --------------------------------------------------------------------------- inputs
def _images_array(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise See3DError("zero views: need at least one image to fit")
        sizes = {np.asarray(im).shape for im in images}
        if len(sizes) > 1:
            desc = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(sizes)[:4] if len(s) >= 2)
            raise See3DError(f"views have mismatched image sizes ({desc}); resize them to one size")
        images = np.stack([np.asarray(im) for im in images])
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise See3DError(f"images must be [N, H, W, 3], got shape {list(arr.shape)}")
    if arr.shape[0] == 0:
        raise See3DError("zero views: need at least one image to fit")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise See3DError("images contain NaN or infinite values")
    if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise See3DError(f"float images must be in [0, 1], got range [{arr.min():g}, {arr.max():g}]")
    return np.clip(arr, 0.0, 1.0)


def _view_weights(weights, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n,):
        raise See3DError(f"view_weights: got {w.size} weights for {n} views")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise See3DError("view_weights must be finite, >= 0 and not all 0")
    return w


def _pixel_weights(weights, n: int, H: int, W: int) -> torch.Tensor | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (n, H, W):
        raise See3DError(f"pixel_weights must be [N, H, W] = {[n, H, W]}, got {list(w.shape)}")
    if not np.all(np.isfinite(w)) or w.min() < 0 or w.max() > 1:
        raise See3DError("pixel_weights must be finite and in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(w))


def camera_extent(poses: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre of the camera centres and 1.1 x their largest distance from it (3DGS's extent)."""
    centres = poses[:, :3, 3]
    c = centres.mean(axis=0)
    return c, 1.1 * float(np.linalg.norm(centres - c, axis=1).max())


def look_at_center(poses: np.ndarray) -> np.ndarray:
    """Least-squares point closest to all optical axes (falls back to 1 unit ahead of the mean camera)."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for p in poses:
        d = p[:3, 2] / np.linalg.norm(p[:3, 2])
        M = np.eye(3) - np.outer(d, d)
        A += M
        b += M @ p[:3, 3]
    if np.linalg.cond(A) < 1e6:
        return np.linalg.solve(A, b)
    return poses[:, :3, 3].mean(axis=0) + poses[:, :3, 2].mean(axis=0)


def random_init_in_frusta(
    images: np.ndarray,
    intrinsics: list[Intrinsics],
    poses: np.ndarray,
    n: int,
    seed: int = 0,
    min_views_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Random points seen by at least ``min_views_fraction`` of the views, coloured by the mean pixel.

    Candidates are drawn uniformly in a ball about :func:`look_at_center` whose radius is the
    median camera distance to it; those inside enough view frusta are kept (a coarse visual hull).
    """
    rng = np.random.default_rng(seed)
    center = look_at_center(poses)
    dist = np.linalg.norm(poses[:, :3, 3] - center, axis=1)
    radius = float(np.median(dist)) if np.median(dist) > 0 else 1.0
    kept_p, kept_c = [], []
    total = 0
    for _ in range(20):
        m = max(4 * n, 1000)
        d = rng.normal(size=(m, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
        pts = center + d * (radius * rng.random(m) ** (1 / 3))[:, None]
        hits = np.zeros(m, dtype=np.int32)
        col = np.zeros((m, 3))
        for img, k, c2w in zip(images, intrinsics, poses):
            w2c = invert(c2w)
            pc = pts @ w2c[:3, :3].T + w2c[:3, 3]
            z = pc[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = k.fx * pc[:, 0] / z + k.cx
                v = k.fy * pc[:, 1] / z + k.cy
            ok = (z > 1e-6) & (u >= -0.5) & (u < k.width - 0.5) & (v >= -0.5) & (v < k.height - 0.5)
            hits += ok
            ui = np.clip(np.round(u[ok]).astype(int), 0, k.width - 1)
            vi = np.clip(np.round(v[ok]).astype(int), 0, k.height - 1)
            col[ok] += img[vi, ui]
        good = hits >= max(1, int(math.ceil(min_views_fraction * len(poses))))
        kept_p.append(pts[good])
        kept_c.append(col[good] / hits[good, None])
        total += int(good.sum())
        if total >= n:
            break
    pts = np.concatenate(kept_p)[:n]
    cols = np.concatenate(kept_c)[:n]
    if len(pts) == 0:
        raise See3DError("random initialisation: no point is seen by enough views (do the cameras look at a common scene?)")
    return pts, cols


# --------------------------------------------------------------------------- optimiser bookkeeping
_LR_KEYS = {
    "means": "lr_means",
    "quats": "lr_quats",
    "log_scales": "lr_scales",
    "opacity_logits": "lr_opacities",
    "sh_dc": "lr_sh_dc",
    "sh_rest": "lr_sh_rest",
}


class _Params:
    """Trainable tensors + one Adam optimiser with a group per tensor; rows can be pruned/appended."""

    def __init__(self, model: GaussianModel, cfg: GSTrainConfig, extent: float, device: torch.device):
        m = model.detach()
        k = (cfg.sh_degree + 1) ** 2
        sh = m.sh
        if sh.shape[1] < k:
            sh = torch.cat([sh, sh.new_zeros(len(m), k - sh.shape[1], 3)], dim=1)
        sh = sh[:, :k]
        t = {
            "means": m.means,
            "quats": m.quats,
            "log_scales": m.log_scales,
            "opacity_logits": m.opacity_logits,
            "sh_dc": sh[:, :1].contiguous(),
            "sh_rest": sh[:, 1:].contiguous(),
        }
        self.p = {name: torch.nn.Parameter(v.to(device).clone()) for name, v in t.items()}
        lrs = {name: getattr(cfg, key) for name, key in _LR_KEYS.items()}
        lrs["means"] *= extent
        self.opt = torch.optim.Adam(
            [{"params": [self.p[n]], "lr": lrs[n], "name": n} for n in self.p], eps=1e-15
        )

    def model(self) -> GaussianModel:
        sh = torch.cat([self.p["sh_dc"], self.p["sh_rest"]], dim=1)
        m = GaussianModel.__new__(GaussianModel)
        m.means, m.quats, m.log_scales, m.opacity_logits, m.sh = (
            self.p["means"], self.p["quats"], self.p["log_scales"], self.p["opacity_logits"], sh,
        )
        return m

    def __len__(self) -> int:
        return int(self.p["means"].shape[0])

    def set_lr(self, name: str, lr: float) -> None:
        for g in self.opt.param_groups:
            if g["name"] == name:
                g["lr"] = lr

    def update(self, keep: torch.Tensor | None, new_rows: dict[str, torch.Tensor] | None) -> None:
        """Keep the rows where ``keep`` holds, then append ``new_rows`` (Adam moments of new rows = 0)."""
        for g in self.opt.param_groups:
            name = g["name"]
            old = g["params"][0]
            state = self.opt.state.pop(old, None)

            def edit(t: torch.Tensor, fill_new: torch.Tensor | None) -> torch.Tensor:
                if keep is not None:
                    t = t[keep]
                if new_rows is not None:
                    add = fill_new if fill_new is not None else torch.zeros_like(new_rows[name])
                    t = torch.cat([t, add.to(t.dtype)], dim=0)
                return t

            new = torch.nn.Parameter(edit(old.detach(), new_rows[name] if new_rows is not None else None))
            if state is not None:
                for key in ("exp_avg", "exp_avg_sq"):
                    state[key] = edit(state[key], None)
                self.opt.state[new] = state
            g["params"][0] = new
            self.p[name] = new


@dataclass
class DensifyStrategy:
    """The 3DGS densify / prune / opacity-reset policy (see the module docstring)."""

    cfg: GSTrainConfig
    extent: float
    grad_accum: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    count: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    resets_done: int = 0

    @property
    def until(self) -> int:
        """Last densification step: ``densify_until``, but never in the final 20% of the run
        (new and reset Gaussians need steps to settle)."""
        n = self.cfg.iterations
        return min(self.cfg.densify_until, n - max(1, n // 5))

    def reset_stats(self, n: int, device) -> None:
        self.grad_accum = torch.zeros(n, device=device)
        self.count = torch.zeros(n, device=device)

    def after_backward(self, step: int, means2d: torch.Tensor, radii: torch.Tensor, width: int, height: int) -> None:
        """Accumulate screen-space gradient norms of the visible Gaussians."""
        if step >= self.until or means2d.grad is None:
            return
        g = means2d.grad.detach().clone()
        g[:, 0] *= width / 2.0
        g[:, 1] *= height / 2.0
        vis = radii > 0
        self.grad_accum[vis] += g[vis].norm(dim=-1)
        self.count[vis] += 1

    def step(self, step: int, params: _Params, rng: torch.Generator) -> dict:
        """Run densification / pruning / reset when due; returns counts of what changed."""
        cfg = self.cfg
        info = {}
        s = step + 1
        if cfg.densify_from <= s < self.until and s % cfg.densify_every == 0:
            info = self._densify_and_prune(params, rng)
            self.reset_stats(len(params), params.p["means"].device)
        if cfg.opacity_reset_every > 0 and s < self.until and s % cfg.opacity_reset_every == 0:
            with torch.no_grad():
                cap = math.log(2 * cfg.prune_opacity / (1 - 2 * cfg.prune_opacity))
                params.p["opacity_logits"].clamp_(max=cap)
            st = params.opt.state.get(params.p["opacity_logits"])
            if st:
                st["exp_avg"].zero_()
                st["exp_avg_sq"].zero_()
            self.resets_done += 1
            info["opacity_reset"] = True
        return info

    def _densify_and_prune(self, params: _Params, rng: torch.Generator) -> dict:
        cfg = self.cfg
        p = params.p
        n = len(params)
        with torch.no_grad():
            avg = self.grad_accum / self.count.clamp_min(1)
            high = avg >= cfg.grad_threshold
            max_scale = torch.exp(p["log_scales"]).max(dim=1).values
            small = max_scale <= cfg.dense_fraction * self.extent
            clone = high & small
            split = high & ~small
            # respect the Gaussian budget: the highest gradients first
            budget = cfg.max_gaussians - n
            n_new = int(clone.sum()) + int(split.sum())  # a split adds 2 and removes 1
            if n_new > max(budget, 0):
                cand = torch.nonzero(clone | split).squeeze(1)
                order = cand[torch.argsort(avg[cand], descending=True)]
                take = order[: max(budget, 0)]
                sel = torch.zeros(n, dtype=torch.bool, device=avg.device)
                sel[take] = True
                clone &= sel
                split &= sel
            new: dict[str, list[torch.Tensor]] = {k: [] for k in p}
            if clone.any():
                for k in p:
                    new[k].append(p[k][clone].detach().clone())
            if split.any():
                idx = torch.nonzero(split).squeeze(1).repeat(2)
                scales = torch.exp(p["log_scales"][idx])
                from see3d.gs._project import quat_to_rotmat

                R = quat_to_rotmat(p["quats"][idx])
                z = torch.randn(len(idx), 3, generator=rng, device=scales.device) * scales
                new["means"].append(p["means"][idx] + (R @ z[:, :, None])[:, :, 0])
                new["log_scales"].append(torch.log(scales / 1.6))
                for k in ("quats", "opacity_logits", "sh_dc", "sh_rest"):
                    new[k].append(p[k][idx].detach().clone())
            rows = {k: torch.cat(v, dim=0) for k, v in new.items()} if new["means"] else None
            # prune: low opacity, and (after a reset) huge Gaussians; split originals go too
            op = torch.sigmoid(p["opacity_logits"])
            prune = op < cfg.prune_opacity
            if self.resets_done > 0:
                prune |= max_scale > cfg.prune_scale * self.extent
            prune |= split
            if bool(prune.all()) and rows is None:
                prune[torch.argmax(op)] = False  # never prune everything
            keep = ~prune
        params.update(keep, rows)
        return {"cloned": int(clone.sum()), "split": int(split.sum()), "pruned": int((~keep).sum()) - int(split.sum())}


# --------------------------------------------------------------------------- training loop
def compile_kernels() -> None:
    """Compile (or load from numba's disk cache) every rasterizer kernel a fit calls: a
    3-step fit of 500 Gaussians on two 32x32 views. Run by :func:`prewarm_kernels`'s child."""
    rng = np.random.default_rng(0)
    K = Intrinsics(fx=30.0, fy=30.0, cx=16.0, cy=16.0, width=32, height=32)
    poses = np.stack([np.eye(4), np.eye(4)])
    poses[1, 0, 3] = 0.1
    pts = rng.random((500, 3)) * 0.5 + np.array([0.0, 0.0, 2.0])
    imgs = rng.random((2, 32, 32, 3)).astype(np.float32)
    fit_gaussians(imgs, K, poses, pts, rng.random((500, 3)), GSTrainConfig.for_iterations(3))


def prewarm_kernels():
    """Start compiling the rasterizer kernels in a background process if numba's cache lacks
    them (see :mod:`see3d._jit`); call ``.wait()`` on the result before the fit."""
    import numba

    from see3d._jit import prewarm
    from see3d.gs import _numba_kernels as _nk

    kernels = [v for v in vars(_nk).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    return prewarm("see3d.gs.train:compile_kernels", kernels)


def fit_gaussians(
    images,
    intrinsics: Intrinsics | Sequence[Intrinsics],
    poses: np.ndarray,
    init_points: np.ndarray | None = None,
    init_colors: np.ndarray | None = None,
    config: GSTrainConfig | None = None,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    init_model: GaussianModel | None = None,
    perceptual_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    view_weights: Sequence[float] | np.ndarray | None = None,
    pixel_weights: np.ndarray | None = None,
) -> GaussianModel:
    """Optimise 3D Gaussians so their renders match ``images [N, H, W, 3]`` (float [0, 1] or uint8).

    ``intrinsics``: one :class:`Intrinsics` for all views or one per view (sizes must match the
    images); ``poses [N, 4, 4]``: OpenCV camera-to-world. Initialisation: ``init_model`` if
    given, else ``init_points [M, 3]`` (+ ``init_colors [M, 3]``), else random points inside the
    views' common frusta. ``callback(step, stats)`` is called every ``config.log_every`` steps with
    ``loss``, ``psnr`` (of that step's view), ``num_gaussians`` and ``elapsed_s``.
    ``perceptual_loss(pred, target)`` (images ``[H, W, 3]`` in [0, 1] -> scalar), when given, is
    added with weight ``config.perceptual_weight`` (the See3D recipe uses LPIPS; see3d ships no
    LPIPS weights, so pass one built from a backbone you have).

    ``view_weights [N]`` (>= 0, default 1) scale each view's loss (e.g. generated views lower than
    photos); ``pixel_weights [N, H, W]`` in [0, 1] weight each pixel's L1 and D-SSIM terms (0 =
    ignored, e.g. the holes of an unfilled warp). Both weighted terms are means over *all* pixels,
    so a weight of 1 everywhere is the unweighted loss and a half-masked view counts half.
    """
    cfg = (config or GSTrainConfig()).validate()
    imgs = _images_array(images)
    n, H, W = imgs.shape[:3]
    vw = _view_weights(view_weights, n)
    pw = _pixel_weights(pixel_weights, n, H, W)
    intr = _intrinsics_list(intrinsics, n)
    for i, k in enumerate(intr):
        if (k.width, k.height) != (W, H):
            raise See3DError(f"view {i}: intrinsics are for {k.width}x{k.height} but the image is {W}x{H}")
    P = _poses_array(poses, n)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = torch.Generator(device=device).manual_seed(cfg.seed)

    if init_model is not None:
        model = init_model.detach().validate()
    elif init_points is not None:
        model = GaussianModel.from_points(init_points, init_colors, cfg.sh_degree, opacity=cfg.init_opacity)
    else:
        pts, cols = random_init_in_frusta(imgs, intr, P, cfg.random_init_points, seed=cfg.seed)
        model = GaussianModel.from_points(pts, cols, cfg.sh_degree, opacity=cfg.init_opacity)
    if len(model) > cfg.max_gaussians:
        sel = torch.randperm(len(model), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.max_gaussians]
        model = GaussianModel(*(t[sel] for t in model.tensors().values()))

    _, extent = camera_extent(P)
    sample = model.means.numpy()[:: max(1, len(model) // 5000)]
    d = np.linalg.norm(sample[None, :, :] - P[:, None, :3, 3], axis=-1)
    extent = max(extent, 0.05 * float(np.median(d)))
    extent = max(extent, 1e-6)

    params = _Params(model, cfg, extent, device)
    strategy = DensifyStrategy(cfg, extent)
    strategy.reset_stats(len(params), device)
    gt = torch.as_tensor(imgs, device=device)
    if pw is not None:
        pw = pw.to(device)
    bg = torch.tensor(cfg.background, dtype=torch.float32, device=device)
    Ks = [torch.as_tensor(k.K, dtype=torch.float32, device=device) for k in intr]
    viewmats = [_viewmat(p, device) for p in P]

    from see3d.gs.rasterize import rasterize

    bar = None
    if progress:
        from see3d._progress import progress_bar

        bar = progress_bar(total=cfg.iterations, desc="3DGS fit", unit="step")
    threads = torch_threads(cfg.torch_threads)
    threads.__enter__()
    perm: list[int] = []
    gen = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    lr0 = cfg.lr_means * extent
    lr1 = cfg.lr_means_final * extent
    loss_ema = None
    try:
        for step in range(cfg.iterations):
            frac = step / max(cfg.iterations - 1, 1)
            params.set_lr("means", math.exp((1 - frac) * math.log(lr0) + frac * math.log(lr1)))
            if not perm:
                perm = list(gen.permutation(n))
            i = perm.pop()
            degree = min(cfg.sh_degree, step // max(cfg.sh_increase_every, 1))
            m = params.model()
            out = rasterize(
                m.means, m.quats, m.log_scales, m.opacity_logits, m.sh,
                viewmats[i], Ks[i], W, H, sh_degree=degree, background=bg,
            )
            pred = out.rgb
            target = gt[i]
            wmap = None if pw is None else pw[i][..., None]  # [H, W, 1]
            err = (pred - target).abs()
            l1 = err.mean() if wmap is None else (err * wmap).mean()
            if cfg.ssim_weight > 0:
                smap = ssim_map(pred, target, valid=False)
                d_ssim = (1 - smap).mean() if wmap is None else ((1 - smap) * wmap).mean()
                loss = (1 - cfg.ssim_weight) * l1 + cfg.ssim_weight * d_ssim
            else:
                loss = l1
            if perceptual_loss is not None and cfg.perceptual_weight > 0:
                loss = loss + cfg.perceptual_weight * perceptual_loss(pred, target)
            if vw is not None:
                loss = loss * float(vw[i])
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise See3DError(f"3DGS fit diverged at step {step} (loss is {lv})")
            params.opt.zero_grad(set_to_none=True)
            loss.backward()
            strategy.after_backward(step, out.means2d, out.radii, W, H)
            params.opt.step()
            strategy.step(step, params, rng)
            loss_ema = lv if loss_ema is None else 0.9 * loss_ema + 0.1 * lv
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.iterations:
                with torch.no_grad():
                    ps = psnr(pred.detach().clamp(0, 1), target)
                stats = {"loss": lv, "psnr": ps, "num_gaussians": len(params), "elapsed_s": time.perf_counter() - t0}
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_ema:.4f}", psnr=f"{ps:.2f}", n=len(params))
                if callback is not None:
                    callback(step + 1, stats)
            if bar is not None:
                bar.update(1)
    finally:
        threads.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    result = params.model().detach()
    # store at the configured degree even if training stopped before reaching it
    return result.with_sh_degree(cfg.sh_degree)
