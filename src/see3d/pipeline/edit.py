"""3D editing of a ``see3d generate`` output: change a region of the input view, regenerate what
the change reaches in every other view, refit the 3D Gaussians.

Steps (``see3d edit OUT --mask MASK.png (--image R.png | --prompt TEXT --inpaint MODEL) -o OUT2``):

1. The edited input: the replacement pasted into the mask (or a diffusers inpainting model's
   repaint of the masked pixels); pixels outside the mask keep their exact values.
2. Reach: the masked input pixels are forward-warped (their depth, nearest splat) into every
   view. A view the edit does not reach (its projection is empty: out of frame or hidden) is
   copied byte for byte. In a reached view the affected region is that projection, dilated by
   ``margin`` pixels, plus the generated (hole) regions it touches (they were filled from the
   old neighbourhood).
3. Each reached view's condition is its old pixels outside the affected region, the edited
   input warped into it inside the region, and unknown where the warp leaves holes; the
   multi-view filler (the folder's own, by default) fills those with the edited input as the
   clean reference. Pixels outside the affected region are the old ones, unchanged.
4. The geometry is kept (depth maps and masks are the source's: the edit changes appearance);
   the 3D Gaussians are refitted to the new views when the source had them, and the video and
   point cloud are rewritten.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from see3d.errors import See3DError


@dataclass
class EditSource:
    folder: Path
    views: np.ndarray  #: uint8 [N, H, W, 3]
    depths: np.ndarray  #: float32 [N, H, W]
    seen: np.ndarray  #: float32 [N, H, W], 1 = seen in the input photo (masks/*.png)
    poses: np.ndarray  #: [N, 4, 4] OpenCV c2w
    intrinsics: list
    names: list[str]  #: file stems of the views ("0000", ...)
    input_index: int
    run: dict = field(default_factory=dict)  #: the source's run.json (config)


def load_source(folder: str | Path) -> EditSource:
    """Read a ``see3d generate`` output folder (views/, depth/, masks/, transforms.json)."""
    from see3d.io import load_image, read_transforms_json

    folder = Path(folder)
    if not folder.is_dir():
        raise See3DError(f"{folder} is not a folder (give a see3d generate output folder)")
    for need in ("transforms.json", "views", "depth"):
        if not (folder / need).exists():
            raise See3DError(f"{folder} is not a see3d generate output: {need} is missing")
    cams = read_transforms_json(folder / "transforms.json")
    names = [Path(p).stem for p in cams.image_paths]
    views, depths, seen = [], [], []
    for p, n in zip(cams.image_paths, names):
        views.append(load_image(p))
        dp = folder / "depth" / f"{n}.npy"
        if not dp.is_file():
            raise See3DError(f"{folder}: depth map depth/{n}.npy is missing")
        depths.append(np.asarray(np.load(dp, allow_pickle=False), np.float32))
        mp = folder / "masks" / f"{n}.png"
        seen.append((load_image(mp)[..., 0] > 127).astype(np.float32) if mp.is_file() else np.ones(views[-1].shape[:2], np.float32))
    shapes = {v.shape for v in views} | {d.shape + (3,) for d in depths}
    if len(shapes) != 1:
        raise See3DError(f"{folder}: views and depth maps differ in size")
    poses = np.asarray(cams.poses)
    at_input = [i for i, p in enumerate(poses) if np.allclose(p, np.eye(4), atol=1e-9)]
    if not at_input:
        raise See3DError(f"{folder}: no view at the input camera (identity pose); is it a see3d generate output?")
    run = {}
    if (folder / "run.json").is_file():
        try:
            run = json.loads((folder / "run.json").read_text())
        except json.JSONDecodeError:
            run = {}
    return EditSource(folder, np.stack(views), np.stack(depths), np.stack(seen), poses, list(cams.intrinsics), names, at_input[0], run)


def load_mask(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """The edit mask (white = change) as bool ``[H, W]``; one-line errors for unreadable files, a
    size other than the views' ``(W, H)`` and an empty mask."""
    from see3d.io import load_image

    m = load_image(path)
    W, H = size
    if m.shape[:2] != (H, W):
        raise See3DError(f"mask {Path(path).name} is {m.shape[1]}x{m.shape[0]} but the views are {W}x{H}")
    mask = m.max(axis=2) > 127
    if not mask.any():
        raise See3DError(f"mask {Path(path).name} selects no pixel (white = the region to change)")
    return mask


def edit_reach(src: EditSource, mask: np.ndarray, margin: int = 2) -> list[np.ndarray]:
    """Per view, the bool region the edit affects (empty = the edit cannot reach the view)."""
    import cv2
    from scipy import ndimage

    from see3d.warp import warp_views

    i0 = src.input_index
    d0 = np.where(mask, src.depths[i0], 0.0).astype(np.float32)  # only the edited pixels are splatted
    K0 = src.intrinsics[i0].K.astype(np.float32)
    Kt = np.stack([k.K for k in src.intrinsics]).astype(np.float32)
    H, W = mask.shape
    res = warp_views(np.ones((1, H, W, 3), np.float32), d0[None], K0, src.poses[i0][None], Kt, src.poses, W, H, splat="nearest")
    hit = np.asarray(res.mask) > 0.5
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)) if margin > 0 else None
    regions = []
    for j in range(len(src.poses)):
        if j == i0:
            regions.append(mask.copy())
            continue
        a = hit[j]
        if not a.any():
            regions.append(a)
            continue
        if kernel is not None:
            a = cv2.dilate(a.astype(np.uint8), kernel) > 0
        holes = src.seen[j] < 0.5
        lab, n = ndimage.label(holes)
        if n:
            touched = np.unique(lab[a & holes])
            touched = touched[touched > 0]
            if len(touched):
                a = a | np.isin(lab, touched)
        regions.append(a)
    return regions


@dataclass
class EditResult:
    views: np.ndarray  #: uint8 [N, H, W, 3]
    regions: list[np.ndarray]  #: per view, the regenerated region (empty = unchanged)
    edited_input: np.ndarray  #: uint8 [H, W, 3]
    timings: dict


def apply_edit(
    src: EditSource,
    mask: np.ndarray,
    replacement: np.ndarray,
    fill: str | None = None,
    fill_model: str | None = None,
    seed: int = 0,
    margin: int = 2,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> EditResult:
    """Edit the input view (``replacement`` where ``mask``) and regenerate the views it reaches."""
    from see3d.fill import get_filler
    from see3d.warp import warp_views

    stage = on_stage or (lambda s: None)
    timings = {}
    t0 = time.perf_counter()
    i0 = src.input_index
    H, W = mask.shape
    if replacement.shape != (H, W, 3):
        raise See3DError(f"the replacement is {replacement.shape[1]}x{replacement.shape[0]} but the views are {W}x{H}")
    edited = np.where(mask[..., None], replacement, src.views[i0]).astype(np.uint8)
    stage("reach")
    regions = edit_reach(src, mask, margin)
    targets = [j for j, r in enumerate(regions) if j != i0 and r.any()]
    timings["reach"] = time.perf_counter() - t0
    views = src.views.copy()
    views[i0] = edited
    if targets:
        t0 = time.perf_counter()
        stage(f"warp the edited input into {len(targets)} view(s)")
        img = edited.astype(np.float32) / 255.0
        K0 = src.intrinsics[i0].K.astype(np.float32)
        Kt = np.stack([src.intrinsics[j].K for j in targets]).astype(np.float32)
        d0 = np.where(np.isfinite(src.depths[i0]) & (src.depths[i0] > 0), src.depths[i0], 0.0).astype(np.float32)
        res = warp_views(img[None], d0[None], K0, src.poses[i0][None], Kt, src.poses[targets], W, H)
        wrgb, wmask = np.asarray(res.rgb, np.float32), np.asarray(res.mask) > 0.5
        cond = np.stack([src.views[j].astype(np.float32) / 255.0 for j in targets])
        known = np.ones((len(targets), H, W), np.float32)
        for t, j in enumerate(targets):
            r = regions[j]
            cond[t][r] = np.where(wmask[t][r][:, None], wrgb[t][r], 0.0)
            known[t][r] = wmask[t][r].astype(np.float32)
        timings["warp"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fill = fill or src.run.get("config", {}).get("fill") or "mvd"
        fill_model = fill_model if fill_model is not None else src.run.get("config", {}).get("fill_model")
        stage(f"fill ({fill})")
        filler = get_filler(fill, fill_model)
        filled = np.asarray(filler.fill(cond, known, refs=img[None], seed=seed, progress=progress), np.float32)
        for t, j in enumerate(targets):
            r = regions[j]
            new = np.where(known[t][..., None] > 0.5, cond[t], filled[t])
            views[j][r] = (np.clip(new[r], 0, 1) * 255 + 0.5).astype(np.uint8)
        timings["fill"] = time.perf_counter() - t0
    return EditResult(views, regions, edited, timings)


def write_edit(
    src: EditSource,
    result: EditResult,
    out_real: Path,
    gaussians: bool | None = None,
    record: dict | None = None,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> None:
    """Write the edited folder atomically: unchanged views and every depth / mask file copied byte
    for byte, changed views written, video, point cloud and (when asked or the source had one)
    the 3DGS scene redone."""
    from see3d.io import atomic_output_dir, save_image, write_video

    stage = on_stage or (lambda s: None)
    folder = src.folder
    if gaussians is None:
        gaussians = (folder / "scene.ply").is_file()
    with atomic_output_dir(out_real, marker="edit") as tmp:
        t0 = time.perf_counter()
        stage("write")
        for sub in ("views", "masks", "depth"):
            (tmp / sub).mkdir()
        changed = []
        for j, n in enumerate(src.names):
            if result.regions[j].any():
                save_image(tmp / "views" / f"{n}.png", result.views[j])
                changed.append(n)
            else:
                shutil.copyfile(folder / "views" / f"{n}.png", tmp / "views" / f"{n}.png")
            shutil.copyfile(folder / "depth" / f"{n}.npy", tmp / "depth" / f"{n}.npy")
            if (folder / "masks" / f"{n}.png").is_file():
                shutil.copyfile(folder / "masks" / f"{n}.png", tmp / "masks" / f"{n}.png")
        shutil.copyfile(folder / "transforms.json", tmp / "transforms.json")
        if (folder / "input.png").is_file():
            save_image(tmp / "input.png", result.edited_input)
        fps = float(src.run.get("config", {}).get("fps", 12.0))
        write_video(tmp / "video.mp4", iter(result.views), fps=fps)
        from see3d.io import write_point_ply
        from see3d.pipeline.single_view import _input_point_cloud

        i0 = src.input_index
        pts, cols = _input_point_cloud(result.edited_input.astype(np.float32) / 255.0, src.depths[i0], src.intrinsics[i0], 400_000, 0)
        write_point_ply(tmp / "points.ply", pts, cols)
        result.timings["write"] = time.perf_counter() - t0
        if gaussians:
            t0 = time.perf_counter()
            stage("3D Gaussian splatting")
            _refit(src, result, tmp, progress)
            result.timings["gaussians"] = time.perf_counter() - t0
        (tmp / "run.json").write_text(json.dumps({
            "edit": {**(record or {}), "source": str(Path(folder).resolve()), "changed_views": changed,
                     "changed_pixels": {n: int(result.regions[j].sum()) for j, n in enumerate(src.names) if result.regions[j].any()}},
            "timings_s": result.timings,
            "config": src.run.get("config", {}),
        }, indent=2))


def _refit(src: EditSource, result: EditResult, tmp: Path, progress: bool) -> None:
    from see3d.pipeline.single_view import GenerateConfig, GenerateResult, _fit_gaussians

    cfg_src = src.run.get("config", {})
    keys = ("gs_iterations", "gs_max_size", "gs_max_gaussians", "seed", "fps")
    cfg = GenerateConfig(**{k: cfg_src[k] for k in keys if k in cfg_src})
    n, H, W = result.views.shape[:3]
    intr = src.intrinsics[src.input_index]
    gen = GenerateResult(result.views.astype(np.float32) / 255.0, src.seen, src.depths, src.poses, intr, {})
    _fit_gaussians(gen, tmp, cfg, progress)
