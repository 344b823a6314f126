"""Public entry point: :func:`warp_views` (validation, conversion, backend choice)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import as_pose, invert
from see3d.errors import See3DError
from see3d.warp._common import SPLAT_MODES

BACKENDS = ("auto", "numba", "torch")


@dataclass
class WarpResult:
    """Warped views, one per target (NumPy arrays or torch tensors, like the input).

    - ``rgb [T, h, w, C]`` float32: blended colour of the front surface, 0 in holes;
    - ``depth [T, h, w]`` float32: target-camera z in metres, ``inf`` where sky landed,
      0 in holes;
    - ``mask [T, h, w]`` bool: True = known (covered by a source pixel), False = hole.
    """

    rgb: Any
    depth: Any
    mask: Any

    def __len__(self) -> int:
        return len(self.rgb)


def intrinsics_to_K(intr: Intrinsics) -> np.ndarray:
    """3x3 float64 intrinsic matrix of an :class:`~see3d.camera.Intrinsics`."""
    if not isinstance(intr, Intrinsics):
        raise See3DError(f"intrinsics_to_K expects an Intrinsics, got {type(intr).__name__}")
    return intr.K


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16 or x.dtype == torch.float16:
            x = x.float()
        return x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise See3DError(f"warp: {name} is not an array ({e})") from None


def _batched(a: np.ndarray, ndim: int, name: str, shape_hint: str) -> np.ndarray:
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise See3DError(f"warp: {name} must have shape {shape_hint}, got {tuple(a.shape)}")
    return a


def _check_K(K: np.ndarray, name: str) -> np.ndarray:
    """``[N, 3, 3]`` pinhole matrices -> ``[N, 4]`` (fx, fy, cx, cy)."""
    if K.shape[1:] != (3, 3):
        raise See3DError(f"warp: {name} must be [N, 3, 3] intrinsic matrices, got {tuple(K.shape)}")
    K = K.astype(np.float64)
    if not np.all(np.isfinite(K)):
        raise See3DError(f"warp: {name} has NaN or infinite entries")
    if np.any(K[:, 0, 0] <= 0) or np.any(K[:, 1, 1] <= 0):
        raise See3DError(f"warp: {name} has a non-positive focal length")
    if np.any(np.abs(K[:, 0, 1]) > 1e-9) or np.any(np.abs(K[:, 1, 0]) > 1e-9) or not np.allclose(K[:, 2], [0, 0, 1]):
        raise See3DError(f"warp: {name} must be a pinhole matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] (no skew)")
    return np.stack([K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]], axis=1)


def _prepare(rgb, depth, K_src, c2w_src, K_tgt, c2w_tgt, width, height, background_depth):
    rgb = _to_numpy(rgb, "rgb")
    depth = _to_numpy(depth, "depth")
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    if not (np.issubdtype(rgb.dtype, np.floating) or np.issubdtype(rgb.dtype, np.integer)):
        raise See3DError(f"warp: rgb must be a numeric array, got dtype {rgb.dtype}")
    rgb = _batched(rgb, 4, "rgb", "[S, H, W, C] or [H, W, C]").astype(np.float32)
    depth = _batched(depth, 3, "depth", "[S, H, W] or [H, W]").astype(np.float64)
    S, H, W, C = rgb.shape
    if depth.shape != (S, H, W):
        raise See3DError(f"warp: depth shape {tuple(depth.shape)} does not match rgb {(S, H, W)}")
    if S == 0 or H == 0 or W == 0 or C == 0:
        raise See3DError(f"warp: empty source images {tuple(rgb.shape)}")
    Ks = _check_K(_batched(_to_numpy(K_src, "K_src"), 3, "K_src", "[S, 3, 3]"), "K_src")
    Kt = _check_K(_batched(_to_numpy(K_tgt, "K_tgt"), 3, "K_tgt", "[T, 3, 3]"), "K_tgt")
    c2w_s = _batched(_to_numpy(c2w_src, "c2w_src"), 3, "c2w_src", "[S, 4, 4]")
    c2w_t = _batched(_to_numpy(c2w_tgt, "c2w_tgt"), 3, "c2w_tgt", "[T, 4, 4]")
    # one intrinsic matrix may serve every source / every target
    if len(Ks) == 1 and S > 1:
        Ks = np.repeat(Ks, S, 0)
    if len(Kt) == 1 and len(c2w_t) > 1:
        Kt = np.repeat(Kt, len(c2w_t), 0)
    if len(Ks) != S or len(c2w_s) != S:
        raise See3DError(f"warp: {S} source images but {len(Ks)} K_src and {len(c2w_s)} c2w_src")
    if len(Kt) != len(c2w_t) or len(Kt) == 0:
        raise See3DError(f"warp: {len(Kt)} K_tgt but {len(c2w_t)} c2w_tgt (need the same number, at least 1)")
    c2w_s = np.stack([as_pose(p, f"warp: c2w_src[{i}]") for i, p in enumerate(c2w_s)])
    c2w_t = np.stack([as_pose(p, f"warp: c2w_tgt[{i}]") for i, p in enumerate(c2w_t)])
    try:
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise See3DError(f"warp: target size must be integers, got {width}x{height}") from None
    if width <= 0 or height <= 0:
        raise See3DError(f"warp: target size must be positive, got {width}x{height}")
    if background_depth is not None:
        bg = float(background_depth)
        if not (math.isfinite(bg) and bg > 0):
            raise See3DError(f"warp: background_depth must be a positive finite number, got {background_depth}")
        depth = np.where(np.isposinf(depth), bg, depth)
    # source camera -> target camera: w2c_t @ c2w_s, [T, S, 3, 4]
    P = np.einsum("tij,sjk->tsik", invert(c2w_t), c2w_s)[:, :, :3, :]
    return rgb, depth, Ks, Kt, np.ascontiguousarray(P), width, height


def warp_views(
    rgb,
    depth,
    K_src,
    c2w_src,
    K_tgt,
    c2w_tgt,
    width: int,
    height: int,
    backend: str = "auto",
    splat: str = "bilinear",
    background_depth: float | None = None,
    edge_tol: float = 0.05,
    max_splat: float = 8.0,
) -> WarpResult:
    """Forward-splat ``S`` source views (colour + depth) into ``T`` target cameras.

    Shapes: ``rgb [S, H, W, C]`` (or ``[H, W, C]``; float, or uint8 read as /255),
    ``depth [S, H, W]`` camera z in metres, ``K_src [S, 3, 3]``, ``c2w_src [S, 4, 4]``,
    ``K_tgt [T, 3, 3]``, ``c2w_tgt [T, 4, 4]`` (OpenCV camera-to-world; a single
    matrix may drop the leading axis, and one ``K`` serves all sources / targets). All targets are ``width`` x ``height``.
    NumPy in -> NumPy out; a torch ``rgb`` -> torch tensors on its device.

    Depth rules: a finite positive depth is a surface point; ``0``, negative or
    NaN is invalid and not splatted; ``+inf`` is sky: it moves with the camera
    rotation only (a point at infinity), lands behind every surface and reports
    ``inf`` depth, unless ``background_depth`` is given, which replaces every
    ``+inf`` by that finite depth (a distant backdrop with parallax).

    All sources splat into one z-buffer: the nearest surface wins. Each source pixel
    covers the footprint of its projected pixel quad (at least one target pixel, at
    most ``max_splat`` pixels wide), so magnified or slanted surfaces do not crack;
    neighbours whose source depths differ by more than ``edge_tol`` (relative) are
    treated as different surfaces, which is what opens disocclusion holes.
    ``splat="bilinear"`` blends the front sample with its same-surface source
    neighbours on the pixel's side (tent weights of the footprint's size);
    ``"nearest"`` takes the front-most sample (hard z-buffer).

    ``backend``: ``"numba"`` (compiled CPU kernel), ``"torch"`` (vectorised
    reference, any device) or ``"auto"`` (torch for CUDA tensors, numba otherwise).
    """
    if backend not in BACKENDS:
        raise See3DError(f"warp: unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if splat not in SPLAT_MODES:
        raise See3DError(f"warp: unknown splat {splat!r}; use one of {', '.join(SPLAT_MODES)}")
    if not (math.isfinite(float(edge_tol)) and edge_tol >= 0):
        raise See3DError(f"warp: edge_tol must be a non-negative number, got {edge_tol}")
    if not (math.isfinite(float(max_splat)) and max_splat >= 1):
        raise See3DError(f"warp: max_splat must be at least 1 pixel, got {max_splat}")
    is_torch = isinstance(rgb, torch.Tensor)
    device = rgb.device if is_torch else torch.device("cpu")
    if backend == "auto":
        backend = "torch" if device.type != "cpu" else "numba"
    rgb_n, depth_n, Ks, Kt, P, width, height = _prepare(
        rgb, depth, K_src, c2w_src, K_tgt, c2w_tgt, width, height, background_depth
    )
    if backend == "numba":
        from see3d.warp.kernel import warp_numba

        o_rgb, o_depth, o_mask = warp_numba(
            rgb_n, depth_n, Ks, Kt, P, width, height, SPLAT_MODES[splat], edge_tol, max_splat
        )
        if is_torch:
            return WarpResult(
                torch.from_numpy(o_rgb).to(device), torch.from_numpy(o_depth).to(device), torch.from_numpy(o_mask).to(device)
            )
        return WarpResult(o_rgb, o_depth, o_mask)

    from see3d.warp.reference import warp_reference

    dt = torch.float64 if device.type == "cpu" else torch.float32
    t = lambda a: torch.as_tensor(a, device=device, dtype=dt)  # noqa: E731
    o_rgb, o_depth, o_mask = warp_reference(
        torch.as_tensor(rgb_n, device=device),
        t(depth_n),
        t(Ks),
        t(Kt),
        t(P),
        width,
        height,
        splat,
        edge_tol,
        max_splat,
    )
    o_rgb = o_rgb.float()
    if is_torch:
        return WarpResult(o_rgb, o_depth, o_mask)
    return WarpResult(o_rgb.cpu().numpy(), o_depth.cpu().numpy(), o_mask.cpu().numpy())


def warp_to_trajectory(
    rgb,
    depth,
    intr: Intrinsics,
    c2w,
    poses,
    **kwargs,
) -> WarpResult:
    """Warp one view (``rgb [H, W, C]``, ``depth [H, W]``, camera ``intr`` at pose ``c2w``;
    ``None`` = identity) into every pose of ``poses [T, 4, 4]`` with the same intrinsics.

    Extra keyword arguments go to :func:`warp_views`.
    """
    if not isinstance(intr, Intrinsics):
        raise See3DError(f"warp_to_trajectory expects Intrinsics, got {type(intr).__name__}")
    poses_n = _batched(_to_numpy(poses, "poses"), 3, "poses", "[T, 4, 4]")
    dshape = tuple(_to_numpy(depth, "depth").shape)
    if dshape != (intr.height, intr.width):
        raise See3DError(f"warp_to_trajectory: depth shape {dshape} does not match the intrinsics {intr.height}x{intr.width}")
    src = np.eye(4) if c2w is None else _to_numpy(c2w, "c2w")
    K = intr.K
    return warp_views(
        rgb, depth, K, src, np.repeat(K[None], len(poses_n), 0), poses_n, intr.width, intr.height, **kwargs
    )
