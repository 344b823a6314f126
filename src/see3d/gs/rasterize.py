"""Differentiable Gaussian-splatting rasterizer for one camera.

``rasterize`` projects 3D Gaussians (PyTorch autograd, O(N)), sorts them by depth,
bins them into 16x16 tiles and composites them front to back. Three backends share
one set of conventions and maths:

* ``"numba"``: CPU kernels run on parallel threads over lanes of tiles
  (``numba.get_num_threads()`` threads, e.g. ``NUMBA_NUM_THREADS=2``) for the projection, the per-pixel forward and
  a hand-written backward (:mod:`see3d.gs._numba_kernels`) behind ``torch.autograd.Function``s.
* ``"torch"``: the dense pure-PyTorch reference (:mod:`see3d.gs._reference`); every
  pixel meets every Gaussian, so small cases only. It is the specification the
  numba kernels are tested against.
* ``"gsplat"``: ``gsplat.rasterization`` on CUDA tensors (needs a GPU and gsplat).

``"auto"`` picks gsplat for CUDA tensors when gsplat imports, else numba.

Conventions: ``viewmat`` is world-to-camera, OpenCV axes (x right, y down, z forward);
``K`` holds pixel intrinsics with pixel ``(u, v)`` centred at ``(u, v)``
(:mod:`see3d.camera.intrinsics`); quaternions are ``(w, x, y, z)`` (any norm);
``sh`` is ``[N, K, 3]`` with ``K = (degree + 1) ** 2``, DC first, colour
``max(0, 0.5 + SH_C0 * dc + ...)``.

Outputs: ``depth`` is the *expected* camera z, ``sum(z_i w_i) / alpha`` (0 where
alpha is 0); ``alpha * depth`` is the accumulated depth. ``means2d`` keeps its
``.grad`` after ``backward()`` (``retain_grad`` is set for you when gradients are
on): ``out.means2d.grad.norm(dim=-1)`` is the per-Gaussian 2D positional gradient
magnitude in pixels, the usual densification signal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from see3d._lanes import num_threads, run_lanes
from see3d.errors import See3DError
from see3d.gs import _numba_kernels as _nk
from see3d.gs._project import Projected, depth_order, project_gaussians
from see3d.gs._reference import composite_dense
from see3d.gs.sh import degree_from_bases, num_sh_bases

BACKENDS = ("auto", "numba", "torch", "gsplat")


@dataclass
class RasterOutput:
    """Result of :func:`rasterize` for one camera."""

    rgb: torch.Tensor  # [H, W, 3], background composited
    depth: torch.Tensor  # [H, W] expected camera z (0 where alpha == 0)
    alpha: torch.Tensor  # [H, W] accumulated opacity, 1 - final transmittance
    radii: torch.Tensor  # [N] int32 3-sigma screen radius in pixels, 0 = culled
    means2d: torch.Tensor  # [N, 2] projected means (pixels); .grad after backward()

    @property
    def visible(self) -> torch.Tensor:
        """[N] bool: Gaussians that reached at least one tile of the image."""
        return self.radii > 0


def gsplat_available() -> bool:
    """True when gsplat imports and CUDA is usable."""
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


# --------------------------------------------------------------------------- numba backend
#: Below this many (tile, Gaussian) pairs the compositing runs in one lane (one thread).
_PARALLEL_MIN_PAIRS = 4096
#: Below this many Gaussians per thread the projection runs in one lane.
_PROJECT_MIN_PER_THREAD = 8192


def _tile_lanes(tile_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deal the tiles into one lane per numba thread, of about equal cost.

    Returns ``(tiles, lane_start)``: lane ``i`` is ``tiles[lane_start[i]:lane_start[i + 1]]``.
    Tiles are sorted by list length (the cost) and dealt in snake order, so every lane
    gets a similar mix of heavy and light tiles; each lane runs on its own thread
    (:func:`see3d._lanes.run_lanes`). Tiles write disjoint pixels and gradient slots: the result does
    not depend on the split (tested bit for bit).
    """
    ntiles = tile_start.shape[0] - 1
    nlanes = max(1, min(num_threads(), ntiles))
    if nlanes == 1 or int(tile_start[-1]) < _PARALLEL_MIN_PAIRS:
        return np.arange(ntiles, dtype=np.int64), np.array([0, ntiles], dtype=np.int64)
    by_cost = np.argsort(-np.diff(tile_start), kind="stable")
    lane = np.arange(ntiles) % (2 * nlanes)
    lane = np.where(lane < nlanes, lane, 2 * nlanes - 1 - lane)
    tiles = np.concatenate([np.sort(by_cost[lane == c]) for c in range(nlanes)]).astype(np.int64)
    lane_start = np.zeros(nlanes + 1, dtype=np.int64)
    lane_start[1:] = np.cumsum(np.bincount(lane, minlength=nlanes))
    return tiles, lane_start


def _range_lanes(n: int) -> list[tuple[int, int]]:
    """A few contiguous ranges ``(start, end)`` of ``0..n`` (one per numba thread, or one when small)."""
    nlanes = max(1, min(num_threads(), n // _PROJECT_MIN_PER_THREAD))
    b = np.linspace(0, n, nlanes + 1).astype(np.int64)
    return [(int(b[i]), int(b[i + 1])) for i in range(nlanes)]


class _NumbaComposite(torch.autograd.Function):
    """Composite depth-sorted Gaussians with the numba kernels (CPU, float32)."""

    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, depths, boxes, visible, width, height):
        arrs = [
            np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)
            for t in (means2d, conics, colors, opacities, depths)
        ]
        box = np.ascontiguousarray(boxes.cpu().numpy(), dtype=np.int32)
        vis = np.ascontiguousarray(visible.cpu().numpy(), dtype=np.bool_)
        order = _nk.sort_visible(arrs[4], vis)
        tile_start, tile_ids = _nk.bin_gaussians(order, box, width, height)
        rgb = np.zeros((height, width, 3), dtype=np.float32)
        accd = np.zeros((height, width), dtype=np.float32)
        tfin = np.ones((height, width), dtype=np.float32)
        ncon = np.zeros((height, width), dtype=np.int32)

        tiles, lanes = _tile_lanes(tile_start)
        run_lanes([
            functools.partial(_nk.composite_forward, *arrs, box, tile_start, tile_ids, tiles[a:b], width,
                              rgb, accd, tfin, ncon)
            for a, b in zip(lanes[:-1], lanes[1:])
        ])
        ctx.saved = (arrs, box, tile_start, tile_ids, tiles, lanes, width, height, tfin, ncon)
        ctx.device = means2d.device
        dev = means2d.device
        alpha = torch.from_numpy(1.0 - tfin)
        return torch.from_numpy(rgb).to(dev), torch.from_numpy(accd).to(dev), alpha.to(dev)

    @staticmethod
    def backward(ctx, grad_rgb, grad_accd, grad_alpha):
        arrs, box, tile_start, tile_ids, tiles, lanes, width, height, tfin, ncon = ctx.saved
        m = arrs[0].shape[0]

        def host(g, shape):
            if g is None:
                return np.zeros(shape, dtype=np.float32)
            return np.ascontiguousarray(g.detach().cpu().numpy(), dtype=np.float32)

        g_rgb = host(grad_rgb, (height, width, 3))
        g_accd = host(grad_accd, (height, width))
        g_alpha = host(grad_alpha, (height, width))
        slots = np.zeros((tile_ids.shape[0], _nk.N_GRAD), dtype=np.float32)

        run_lanes([
            functools.partial(_nk.composite_backward, *arrs, box, tile_start, tile_ids, tiles[a:b], width,
                              tfin, ncon, g_rgb, g_accd, g_alpha, slots)
            for a, b in zip(lanes[:-1], lanes[1:])
        ])
        g = torch.from_numpy(_nk.reduce_slots(slots, tile_ids, m)).to(ctx.device)
        return (
            g[:, _nk.G_MX : _nk.G_MY + 1],
            g[:, _nk.G_CA : _nk.G_CC + 1],
            g[:, _nk.G_R : _nk.G_B + 1],
            g[:, _nk.G_OP],
            g[:, _nk.G_Z],
            None,
            None,
            None,
            None,
        )


class _NumbaProject(torch.autograd.Function):
    """Projection (:func:`see3d.gs._project.project_gaussians`) with numba forward/backward."""

    @staticmethod
    def forward(ctx, means, quats, log_scales, opacity_logits, sh, viewmat, K, width, height, deg, near, far):
        f32 = np.float32
        host = [np.ascontiguousarray(t.detach().cpu().numpy(), dtype=f32)
                for t in (means, quats, log_scales, opacity_logits, sh, viewmat)]
        Kh = K.detach().cpu().double()
        cam = np.array([Kh[0, 0], Kh[1, 1], Kh[0, 2], Kh[1, 2]], dtype=f32)
        n = means.shape[0]
        means2d = np.zeros((n, 2), f32)
        conics = np.zeros((n, 3), f32)
        colors = np.zeros((n, 3), f32)
        opac = np.zeros(n, f32)
        depths = np.zeros(n, f32)
        radii = np.zeros(n, np.int32)
        boxes = np.zeros((n, 4), np.int32)
        visible = np.zeros(n, np.bool_)

        run_lanes([
            functools.partial(_nk.project_forward, a, b, *host[:5], deg, host[5], cam, width, height, f32(near),
                              f32(far), means2d, conics, colors, opac, depths, radii, boxes, visible)
            for a, b in _range_lanes(n)
        ])
        ctx.saved = (host, cam, width, height, deg, visible)
        ctx.meta = (means.device, [t.dtype for t in (means, quats, log_scales, opacity_logits, sh)])
        dev, dt = means.device, means.dtype
        outs = [torch.from_numpy(a).to(device=dev, dtype=dt) for a in (means2d, conics, colors, opac, depths)]
        extra = [torch.from_numpy(a).to(dev) for a in (radii, boxes, visible)]
        ctx.mark_non_differentiable(*extra)
        return (*outs, *extra)

    @staticmethod
    def backward(ctx, g_m2d, g_con, g_col, g_op, g_dep, *_):
        host, cam, width, height, deg, visible = ctx.saved
        device, dtypes = ctx.meta
        f32 = np.float32
        n = host[0].shape[0]

        def prep(g, shape):
            if g is None:
                return np.zeros(shape, f32)
            return np.ascontiguousarray(g.detach().cpu().numpy(), dtype=f32)

        gs = (prep(g_m2d, (n, 2)), prep(g_con, (n, 3)), prep(g_col, (n, 3)), prep(g_op, (n,)), prep(g_dep, (n,)))
        outs = [np.zeros_like(a) for a in host[:5]]

        run_lanes([
            functools.partial(_nk.project_backward, a, b, *host[:5], deg, host[5], cam, width, height, visible,
                              *gs, *outs)
            for a, b in _range_lanes(n)
        ])
        grads = [torch.from_numpy(a).to(device=device, dtype=dt) for a, dt in zip(outs, dtypes)]
        return (*grads, None, None, None, None, None, None, None)


def project_numba(means, quats, log_scales, opacity_logits, sh, viewmat, K, width, height,
                  sh_degree, near, far) -> Projected:
    """Fast twin of :func:`see3d.gs._project.project_gaussians` (no ``cov2d``; viewmat/K get no gradient)."""
    m2d, con, col, op, dep, radii, boxes, vis = _NumbaProject.apply(
        means, quats, log_scales, opacity_logits, sh, viewmat, K, int(width), int(height), int(sh_degree),
        float(near), float(far),
    )
    return Projected(means2d=m2d, conics=con, colors=col, opacities=op, depths=dep, cov2d=None,
                     radii=radii, visible=vis, boxes=boxes)


def composite_numba(
    means2d, conics, colors, opacities, depths, boxes, visible, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fast twin of :func:`see3d.gs._reference.composite_dense`.

    Takes all ``N`` Gaussians with their pixel boxes and visibility (it sorts the visible
    ones by depth itself); returns ``rgb [H, W, 3]`` (no background), ``acc_depth``, ``alpha``.
    """
    return _NumbaComposite.apply(
        means2d.float(), conics.float(), colors.float(), opacities.float(), depths.float(),
        boxes, visible, int(width), int(height),
    )


# --------------------------------------------------------------------------- gsplat backend
def _rasterize_gsplat(means, quats, log_scales, opacity_logits, sh, viewmat, K, width, height,
                      sh_degree, background, near, far) -> RasterOutput:  # pragma: no cover - GPU
    import gsplat

    # gsplat puts pixel centres at u + 0.5; ours are at u.
    Kg = K.clone()
    Kg[0, 2] = Kg[0, 2] + 0.5
    Kg[1, 2] = Kg[1, 2] + 0.5
    colors, alphas, meta = gsplat.rasterization(
        means=means,
        quats=quats,
        scales=torch.exp(log_scales),
        opacities=torch.sigmoid(opacity_logits),
        colors=sh[:, : num_sh_bases(sh_degree)],
        viewmats=viewmat[None],
        Ks=Kg[None],
        width=width,
        height=height,
        near_plane=near,
        far_plane=far,
        sh_degree=sh_degree,
        backgrounds=None if background is None else background[None],
        render_mode="RGB+ED",
        packed=False,
    )
    m2d_g = meta["means2d"]
    if torch.is_grad_enabled() and m2d_g.requires_grad:
        m2d_g.retain_grad()
    out_m2d = (m2d_g.detach()[0] - 0.5).requires_grad_(False)

    def _copy_grad(grad):
        out_m2d.grad = grad[0].detach()
        return grad

    if m2d_g.requires_grad:
        m2d_g.register_hook(_copy_grad)
    radii = meta["radii"][0]
    if radii.dim() == 2:  # newer gsplat: per-axis radii
        radii = radii.max(dim=-1).values
    alpha = alphas[0, ..., 0]
    return RasterOutput(
        rgb=colors[0, ..., :3],
        depth=torch.where(alpha > 0, colors[0, ..., 3], torch.zeros_like(alpha)),
        alpha=alpha,
        radii=radii.to(torch.int32),
        means2d=out_m2d,
    )


# --------------------------------------------------------------------------- public API
def _check_inputs(means, quats, log_scales, opacity_logits, sh, viewmat, K, width, height):
    if not isinstance(means, torch.Tensor) or means.dim() != 2 or means.shape[1] != 3:
        raise See3DError(f"means must be an [N, 3] tensor, got {tuple(getattr(means, 'shape', ()))}")
    n = means.shape[0]
    for name, t, shape in (
        ("quats", quats, (n, 4)),
        ("log_scales", log_scales, (n, 3)),
        ("opacity_logits", opacity_logits, (n,)),
        ("viewmat", viewmat, (4, 4)),
        ("K", K, (3, 3)),
    ):
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
            raise See3DError(f"{name} must be a tensor of shape {list(shape)}, got {tuple(getattr(t, 'shape', ()))}")
    if not isinstance(sh, torch.Tensor) or sh.dim() != 3 or sh.shape[0] != n or sh.shape[2] != 3:
        raise See3DError(f"sh must be an [N, K, 3] tensor with N={n}, got {tuple(getattr(sh, 'shape', ()))}")
    if int(width) <= 0 or int(height) <= 0:
        raise See3DError(f"image size must be positive, got {width}x{height}")
    for name, t in (("means", means), ("quats", quats), ("log_scales", log_scales),
                    ("opacity_logits", opacity_logits), ("sh", sh), ("viewmat", viewmat), ("K", K)):
        if not t.is_floating_point():
            raise See3DError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if not bool(torch.isfinite(viewmat).all()) or not bool(torch.isfinite(K).all()):
        raise See3DError("viewmat and K must be finite")
    if float(K[0, 0]) <= 0 or float(K[1, 1]) <= 0:
        raise See3DError(f"K must have positive focal lengths, got fx={float(K[0, 0])}, fy={float(K[1, 1])}")


def rasterize(
    means: torch.Tensor,
    quats: torch.Tensor,
    log_scales: torch.Tensor,
    opacity_logits: torch.Tensor,
    sh: torch.Tensor,
    viewmat: torch.Tensor,
    K: torch.Tensor,
    width: int,
    height: int,
    sh_degree: int | None = None,
    background: torch.Tensor | None = None,
    backend: str = "auto",
    near: float = 0.01,
    far: float = 1e4,
) -> RasterOutput:
    """Render Gaussians into one camera; differentiable wrt all Gaussian parameters.

    means [N, 3], quats [N, 4] (wxyz), log_scales [N, 3], opacity_logits [N],
    sh [N, K, 3]; viewmat [4, 4] world-to-camera (OpenCV); K [3, 3]; background [3]
    (black when None). ``sh_degree`` defaults to the degree ``sh`` holds; a lower one
    uses only the first ``(sh_degree + 1) ** 2`` coefficients. See the module
    docstring for backends and output conventions.
    """
    _check_inputs(means, quats, log_scales, opacity_logits, sh, viewmat, K, width, height)
    width, height = int(width), int(height)
    max_deg = degree_from_bases(sh.shape[1])
    if sh_degree is None:
        sh_degree = max_deg
    if not (0 <= int(sh_degree) <= max_deg):
        raise See3DError(f"sh_degree {sh_degree} is not in 0..{max_deg} (sh holds {sh.shape[1]} "
                         f"coefficients per channel)")
    sh_degree = int(sh_degree)
    if not (0 < near < far):
        raise See3DError(f"need 0 < near < far, got near={near}, far={far}")
    if background is not None:
        background = torch.as_tensor(background, dtype=means.dtype, device=means.device)
        if background.shape != (3,):
            raise See3DError(f"background must have shape [3], got {tuple(background.shape)}")
    if backend not in BACKENDS:
        raise See3DError(f"unknown rasterizer backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "gsplat" if means.is_cuda and gsplat_available() else "numba"
    if backend == "gsplat":
        if not gsplat_available():
            raise See3DError("backend 'gsplat' needs CUDA and the gsplat package")
        if not means.is_cuda:
            raise See3DError("backend 'gsplat' needs CUDA tensors")
        return _rasterize_gsplat(means, quats, log_scales, opacity_logits, sh, viewmat.to(means),
                                 K.to(means), width, height, sh_degree, background, near, far)

    viewmat = viewmat.to(device=means.device, dtype=means.dtype)
    K = K.to(device=means.device, dtype=means.dtype)
    if backend == "numba" and not (viewmat.requires_grad or K.requires_grad):
        proj = project_numba(means, quats, log_scales, opacity_logits, sh, viewmat, K,
                             width, height, sh_degree, near, far)
    else:  # the reference path, or camera gradients wanted (autograd through the projection)
        proj = project_gaussians(means, quats, log_scales, opacity_logits, sh, viewmat, K,
                                 width, height, sh_degree, near, far)
    return _composite_projected(proj, width, height, background, backend)


def _composite_projected(proj: Projected, width: int, height: int, background, backend: str) -> RasterOutput:
    if torch.is_grad_enabled() and proj.means2d.requires_grad:
        proj.means2d.retain_grad()
    if backend == "numba":
        rgb, accd, alpha = composite_numba(proj.means2d, proj.conics, proj.colors, proj.opacities,
                                           proj.depths, proj.boxes, proj.visible, width, height)
        dt = proj.means2d.dtype
        rgb, accd, alpha = rgb.to(dt), accd.to(dt), alpha.to(dt)
    else:
        idx = depth_order(proj)
        args = (proj.means2d[idx], proj.conics[idx], proj.colors[idx], proj.opacities[idx], proj.depths[idx])
        rgb, accd, alpha = composite_dense(*args, width, height, pixel_chunk=4096)
    if background is not None:
        rgb = rgb + (1.0 - alpha)[..., None] * background
    depth = torch.where(alpha > 0, accd / alpha.clamp_min(1e-10), torch.zeros_like(accd))
    return RasterOutput(rgb=rgb, depth=depth, alpha=alpha, radii=proj.radii, means2d=proj.means2d)


__all__ = ["BACKENDS", "RasterOutput", "composite_numba", "gsplat_available", "rasterize"]
