"""Single image -> novel views along a trajectory (+ 3D), the ``see3d generate`` job.

Stages: depth (given or predicted) -> trajectory sized by the scene depth ->
forward warp of the input into every target camera -> hole filling (diffusion
model or classical) -> outputs.  The output folder is written under a temporary
name and renamed at the end, so a failure never leaves a partial folder.

Output layout::

    OUT/views/0000.png ...     generated views in trajectory order (0000 = the input camera)
    OUT/masks/0000.png ...     255 = seen in the input (warped), 0 = generated
    OUT/depth/0000.npy ...     metric depth (camera z, metres) of each view
    OUT/transforms.json        poses + intrinsics (instant-ngp / nerfstudio convention)
    OUT/video.mp4              fly-through of the views
    OUT/points.ply             coloured metric point cloud of the input view
    OUT/scene.ply, scene.splat, splats.mp4   3D Gaussian Splatting fit (when enabled)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from see3d.camera import Intrinsics, TrajectoryConfig, make_trajectory, scene_depth_of, unproject_depth
from see3d.errors import See3DError
from see3d.io import (
    atomic_output_dir,
    save_depth_npy,
    save_image,
    to_float,
    to_uint8,
    validate_depth,
    write_point_ply,
    write_transforms_json,
    write_video,
)

#: Field of view assumed when the user gives no intrinsics (printed loudly).
DEFAULT_FOV_DEG = 60.0


@dataclass
class GenerateConfig:
    """Options of :func:`generate` (the CLI maps its flags onto these)."""

    trajectory: str = "orbit"
    frames: int = 12
    fill: str = "mvd"  #: ``mvd`` (the multi-view diffusion model), ``telea`` / ``ns`` (OpenCV); ``auto`` = ``mvd``
    fill_model: str | None = None  #: path of MVD weights (``fill="mvd"``); None = bundled
    fill_max_side: int | None = None  #: ``fill="mvd"``: the model's working size (longer side, px); None = its config's
    #: ``fill="mvd"``: views generated per autoregressive group (0 = every view from the input
    #: alone); None = :func:`default_group` (0 for the bundled model, 4 for the See3D release)
    group: int | None = None
    max_anchors: int = 4  #: ... anchors of a group: the input + this many most recent generated views
    seed: int = 0
    fps: float = 12.0
    max_points: int = 400_000
    gaussians: bool = True  #: fit 3D Gaussian Splatting to the views (scene.ply, scene.splat, splats.mp4)
    gs_iterations: int = 200
    gs_max_size: int = 256  #: the 3DGS fit works on views downscaled to at most this many pixels per side
    gs_max_gaussians: int = 30_000  #: cap of the quick fit (``see3d reconstruct OUT`` refits bigger)
    trajectory_config: TrajectoryConfig = field(default_factory=TrajectoryConfig)


@dataclass
class GenerateResult:
    views: np.ndarray  #: float32 [N, H, W, 3]
    masks: np.ndarray  #: float32 [N, H, W], 1 = seen in the input
    depths: np.ndarray  #: float32 [N, H, W]
    poses: np.ndarray  #: [N, 4, 4] OpenCV camera-to-world
    intrinsics: Intrinsics
    timings: dict[str, float]
    #: float32 [N, H, W], 1 = pixel the filler was given (the input's warp; in autoregressive mode
    #: also what the anchors of the view's group cover)
    fill_masks: np.ndarray | None = None
    fill: str = ""  #: the filler that ran (``auto`` resolved)


def fit_size(
    image: np.ndarray, depth: np.ndarray | None, intrinsics: Intrinsics, max_size: int
) -> tuple[np.ndarray, np.ndarray | None, Intrinsics]:
    """Downscale image, depth and intrinsics together so the longer side is at most ``max_size``."""
    H, W = image.shape[:2]
    if max(H, W) <= max_size:
        return image, depth, intrinsics
    s = max_size / max(H, W)
    w, h = max(1, round(W * s)), max(1, round(H * s))
    img = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    d = None if depth is None else cv2.resize(np.asarray(depth, np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    return img, d, intrinsics.resize(w, h)


def fill_depth_holes(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill depth where ``mask`` is 0 with the farther of the nearest known depths around the hole.

    Disocclusion holes show what lies *behind* the occluder, so each hole pixel takes
    the depth of its nearest known pixel, then the maximum over a small window (the
    background side of the hole edge).  ``+inf`` (sky) counts as known and far.
    """
    from scipy import ndimage

    d = np.asarray(depth, dtype=np.float32)
    known = (mask > 0.5) & (d > 0) & ~np.isnan(d)
    if known.all():
        return d
    if not known.any():
        raise See3DError("no pixel of this view has known depth; the camera moved out of the scene")
    idx = ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True)
    nearest = d[idx[0], idx[1]]
    far = ndimage.maximum_filter(nearest, size=5)
    out = d.copy()
    out[~known] = far[~known]
    return out


def generate_views(
    image: np.ndarray,
    depth: np.ndarray,
    intrinsics: Intrinsics,
    config: GenerateConfig = GenerateConfig(),
    on_stage: Callable[[str], None] | None = None,
    progress: bool = False,
) -> GenerateResult:
    """The in-memory part of :func:`generate`: warp ``image`` along the trajectory and fill holes."""
    from see3d.fill import get_filler, resolve_fill
    from see3d.warp import warp_views

    stage = on_stage or (lambda s: None)
    img = to_float(image)
    H, W = img.shape[:2]
    if (intrinsics.width, intrinsics.height) != (W, H):
        raise See3DError(
            f"intrinsics are for a {intrinsics.width}x{intrinsics.height} image but the image is {W}x{H}"
        )
    depth = validate_depth(depth, (H, W))
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    stage("trajectory")
    tcfg = TrajectoryConfig(**{**asdict(config.trajectory_config), "frames": config.frames})
    poses = make_trajectory(config.trajectory, scene_depth_of(depth), tcfg)
    timings["trajectory"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    stage("warp")
    K = intrinsics.K[None].astype(np.float32)
    res = warp_views(
        img[None],
        depth[None],
        K,
        np.eye(4)[None],
        np.repeat(K, len(poses), axis=0),
        poses,
        W,
        H,
    )
    warped, masks, wdepth = np.asarray(res.rgb), np.asarray(res.mask, dtype=np.float32), np.asarray(res.depth)
    timings["warp"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fill, why = resolve_fill(config.fill)
    stage(f"fill ({fill}; {why})" if config.fill == "auto" else f"fill ({fill})")
    group = default_group(config.fill_model) if config.group is None else config.group
    if group < 0 or config.max_anchors < 0:
        raise See3DError(f"group and max_anchors must be >= 0, got {group} / {config.max_anchors}")
    if config.fill_max_side is not None and config.fill_max_side < 16:
        raise See3DError(f"fill_max_side must be >= 16 pixels, got {config.fill_max_side}")
    if config.gaussians and (config.gs_max_size < 16 or config.gs_max_gaussians < 1 or config.gs_iterations < 1):
        raise See3DError(
            "gs_max_size must be >= 16, gs_max_gaussians and gs_iterations >= 1; got "
            f"{config.gs_max_size} / {config.gs_max_gaussians} / {config.gs_iterations}"
        )
    mvd_opts = {"max_side": config.fill_max_side} if fill == "mvd" and config.fill_max_side else {}
    filler = get_filler(fill, config.fill_model, **mvd_opts)
    at_input = [bool(np.allclose(p, np.eye(4), atol=1e-9)) for p in poses]
    targets = [i for i, a in enumerate(at_input) if not a]
    fill_masks, ar_depths = masks.copy(), None
    if fill == "mvd" and group > 0 and len(targets) > group:
        views, fill_masks, ar_depths = _fill_mvd_autoregressive(filler, img, depth, intrinsics, poses, targets, warped, replace(config, group=group), progress)
    else:
        views = filler.fill(warped, masks, refs=img[None], seed=config.seed, progress=progress)
    views = np.asarray(views, dtype=np.float32)
    # a view at the input camera is the input photo itself (also where its depth is unknown)
    for i, a in enumerate(at_input):
        if a:
            views[i], masks[i], fill_masks[i] = img, 1.0, 1.0
            known = (depth > 0) & np.isfinite(depth)
            wdepth[i] = np.where(known, depth, 0.0)
    depths = np.stack([fill_depth_holes(d, m) for d, m in zip(wdepth, masks)])
    if ar_depths is not None:  # the depth the generated views were warped with (anchors included)
        depths[targets] = ar_depths[targets]
    timings["fill"] = time.perf_counter() - t0
    return GenerateResult(views, masks, depths, poses, intrinsics, timings, fill_masks, fill)


def default_group(fill_model: str | Path | None) -> int:
    """``group`` when none is given. The See3D release: 4 (autoregressive, as published). The
    bundled model and other folders: 0, every view filled from the input alone - with the bundled
    model that scored 1.0 dB higher end to end than groups of 4 (4 held-out synth scenes, 12-view
    orbits, 3DGS scored at other cameras: docs/end_to_end.md) and 0.15 dB higher on the unseen
    pixels of 16-view orbits (docs/mvd.md); the anchors' generated depth is only approximate."""
    if fill_model is None:
        return 0
    from see3d.mvd.release import is_release_root

    return 4 if is_release_root(fill_model) else 0


def _fill_mvd_autoregressive(filler, img, depth, intrinsics, poses, targets, warped, config, progress):
    """Long trajectories (REFERENCE.md section 3.4): fill the targets ``config.group`` at a time.

    Each group is warped from its anchors: the input view (its depth) and the ``max_anchors`` most
    recently generated views, each with the depth it was generated with (the anchors' warped depth,
    holes filled with the background depth of their edge). Returns ``(views, fill_masks, depths)``,
    each ``[N, ...]`` over all poses; only the ``targets`` rows are meaningful.
    """
    from see3d.mvd.autoregressive import fill_autoregressive
    from see3d.warp import warp_views

    H, W = img.shape[:2]
    K = intrinsics.K.astype(np.float32)
    tposes = poses[targets]
    n = len(targets)
    t_mask = np.zeros((n, H, W), np.float32)
    t_depth = np.zeros((n, H, W), np.float32)

    def warp_group(anchors, anchor_ids, ids):
        src_d = np.stack([depth if a < 0 else t_depth[a] for a in anchor_ids]).astype(np.float32)
        src_p = np.stack([np.eye(4) if a < 0 else tposes[a] for a in anchor_ids])
        res = warp_views(anchors, src_d, K, src_p, K, tposes[ids], W, H)
        rgb, m, d = np.asarray(res.rgb, np.float32), np.asarray(res.mask, np.float32), np.asarray(res.depth, np.float32)
        for j, k in enumerate(ids):
            t_mask[k] = m[j]
            t_depth[k] = fill_depth_holes(d[j], m[j])
        return rgb, m

    out = fill_autoregressive(
        filler, img[None], n, warp_group, group=config.group, max_anchors=config.max_anchors, seed=config.seed, progress=progress
    )
    views = np.asarray(warped, np.float32).copy()
    fill_masks = np.zeros((len(poses), H, W), np.float32)
    depths = np.zeros((len(poses), H, W), np.float32)
    views[targets], fill_masks[targets], depths[targets] = out, t_mask, t_depth
    return views, fill_masks, depths


def generate(
    image: np.ndarray,
    depth: np.ndarray,
    intrinsics: Intrinsics,
    out_dir: str | Path,
    config: GenerateConfig = GenerateConfig(),
    on_stage: Callable[[str], None] | None = None,
    progress: bool = False,
    source: dict | None = None,
    models: dict | None = None,
    keep_images: dict[str, np.ndarray] | None = None,
) -> GenerateResult:
    """Run the whole job and write the output folder atomically (see the module docstring).

    ``keep_images``: images written into the folder by name (the ``input.png`` of a prompt).
    ``models`` (which depth / fill models ran, with their revisions) goes into run.json."""
    stage = on_stage or (lambda s: None)
    warm = None
    if config.gaussians:  # first run of a fresh install: compile the rasterizer while warping
        from see3d.gs.train import prewarm_kernels

        warm = prewarm_kernels()
    try:
        return _generate(image, depth, intrinsics, out_dir, config, stage, progress, source, warm, models, keep_images=keep_images)
    finally:
        if warm is not None:
            warm.cancel()


def _generate(image, depth, intrinsics, out_dir, config, stage, progress, source, warm, models=None, keep_images=None) -> GenerateResult:
    if config.group is None:  # run.json records the group that ran
        config = replace(config, group=default_group(config.fill_model))
    with atomic_output_dir(out_dir, marker="generate") as tmp:
        result = generate_views(image, depth, intrinsics, config, stage, progress)
        t0 = time.perf_counter()
        stage("write")
        for sub in ("views", "masks", "depth"):
            (tmp / sub).mkdir()
        names = []
        for i, (v, m, d) in enumerate(zip(result.views, result.masks, result.depths)):
            name = f"{i:04d}"
            save_image(tmp / "views" / f"{name}.png", v)
            save_image(tmp / "masks" / f"{name}.png", (m > 0.5).astype(np.uint8) * 255)
            save_depth_npy(tmp / "depth" / f"{name}.npy", d)
            names.append(f"views/{name}.png")
        write_transforms_json(
            tmp / "transforms.json",
            result.poses,
            intrinsics,
            names,
            extra={"see3d": {"trajectory": config.trajectory, "fill": result.fill, "source": source or {}}},
        )
        n = write_video(tmp / "video.mp4", (to_uint8(v) for v in result.views), fps=config.fps)
        pts, cols = _input_point_cloud(to_float(image), result.depths[0], intrinsics, config.max_points, config.seed)
        write_point_ply(tmp / "points.ply", pts, cols)
        for name, im in (keep_images or {}).items():
            save_image(tmp / name, im)
        result.timings["write"] = time.perf_counter() - t0
        if config.gaussians:
            t0 = time.perf_counter()
            stage("3D Gaussian splatting")
            if warm is not None:
                warm.wait()
            _fit_gaussians(result, tmp, config, progress)
            result.timings["gaussians"] = time.perf_counter() - t0
        (tmp / "run.json").write_text(
            json.dumps({"frames": n, "timings_s": result.timings, "config": _jsonable(asdict(config)),
                        "models": _jsonable({**(models or {}), "filler": result.fill})}, indent=2)
        )
    return result


def _jsonable(d):
    return json.loads(json.dumps(d, default=str))


def _input_point_cloud(img: np.ndarray, depth: np.ndarray, intr: Intrinsics, max_points: int, seed: int):
    pts = unproject_depth(depth, intr).reshape(-1, 3)
    cols = img.reshape(-1, 3)
    ok = np.isfinite(pts).all(1) & (pts[:, 2] > 0)
    pts, cols = pts[ok], cols[ok]
    if len(pts) > max_points:
        idx = np.random.default_rng(seed).choice(len(pts), max_points, replace=False)
        pts, cols = pts[idx], cols[idx]
    return pts, cols


def _fit_gaussians(result: GenerateResult, tmp: Path, config: GenerateConfig, progress: bool) -> None:
    from see3d.gs import GSTrainConfig, fit_gaussians, render_views, save_ply, save_splat
    from see3d.gs.reconstruct import fuse_point_cloud

    # fit on smaller views (area-averaged colours, nearest depth); the video renders at full size
    small = [fit_size(v, d, result.intrinsics, config.gs_max_size) for v, d in zip(result.views, result.depths)]
    views, depths, intr = np.stack([v for v, _, _ in small]), np.stack([d for _, d, _ in small]), small[0][2]
    # start from every view's (warped or filled) depth, not only the input's
    n_init = max(1, config.gs_max_gaussians // 2)
    pts, cols = fuse_point_cloud(views, depths, intr, result.poses, max_points=n_init, seed=config.seed)
    model = fit_gaussians(
        views,
        intr,
        result.poses,
        init_points=pts,
        init_colors=cols,
        # no opacity reset: the fit starts from every view's depth (no random points to prune) and a
        # short fit has no time to recover from one (200 steps on the example's views, 3 of 12 held
        # out: 25.29 dB with the reset at step 80, 25.99 dB without; 400 steps 27.91 vs 28.14 dB)
        config=GSTrainConfig.for_iterations(
            config.gs_iterations, sh_degree=0, seed=config.seed, max_gaussians=config.gs_max_gaussians,
            opacity_reset_every=0,
        ),
        progress=progress,
    )
    save_ply(model, tmp / "scene.ply")
    save_splat(model, tmp / "scene.splat")
    frames = render_views(model, result.intrinsics, result.poses)
    write_video(tmp / "splats.mp4", (to_uint8(f) for f in frames), fps=config.fps)
