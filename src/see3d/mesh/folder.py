"""Mesh a see3d folder: ``see3d generate`` / ``see3d synth`` outputs, or any posed views with depth.

A folder holds ``transforms.json`` (its frames' images), and depth maps ``depth/<image stem>.npy``
(camera z, metres, 0 = unknown); ``masks/<stem>.png`` (255 = seen in the input photo) when
present down-weights the generated pixels. With ``depth_from="gaussians"`` the depths are
rendered from the folder's 3DGS scene (``scene.ply``) at the same cameras instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from see3d.camera import Intrinsics
from see3d.errors import See3DError

DEPTH_SOURCES = ("auto", "views", "gaussians")


@dataclass
class FolderViews:
    images: np.ndarray  #: float32 [N, H, W, 3]
    depths: np.ndarray  #: float32 [N, H, W]
    intrinsics: list[Intrinsics]
    poses: np.ndarray  #: [N, 4, 4] OpenCV camera-to-world
    weights: np.ndarray  #: float32 [N, H, W]
    source: str  #: ``views`` or ``gaussians``


def load_folder_views(folder: str | Path, depth_from: str = "auto", generated_weight: float = 0.5, min_alpha: float = 0.5) -> FolderViews:
    """Read the posed views of ``folder`` and their depths (see the module docstring)."""
    from see3d.io import load_image, read_transforms_json

    folder = Path(folder)
    if depth_from not in DEPTH_SOURCES:
        raise See3DError(f"unknown depth source {depth_from!r}; choose one of {', '.join(DEPTH_SOURCES)}")
    if not 0 <= generated_weight <= 1:
        raise See3DError(f"the weight of generated pixels must be in [0, 1], got {generated_weight}")
    if not folder.is_dir():
        raise See3DError(f"{folder} is not a folder (give a see3d output folder with transforms.json)")
    if not (folder / "transforms.json").is_file():
        raise See3DError(f"{folder} has no transforms.json (give a see3d generate / synth output folder)")
    cams = read_transforms_json(folder / "transforms.json")
    missing = [p for p in cams.image_paths if not Path(p).is_file()]
    if missing:
        raise See3DError(f"{folder}: {len(missing)} view image(s) of transforms.json are missing, e.g. {missing[0]}")
    images = np.stack([load_image(p) for p in cams.image_paths]).astype(np.float32)
    images = images / 255.0 if images.max() > 1.0 else images
    n, H, W = images.shape[:3]
    for i, k in enumerate(cams.intrinsics):
        if (k.width, k.height) != (W, H):
            raise See3DError(f"{folder}: view {i} is {W}x{H} but transforms.json says {k.width}x{k.height}")
    scene = folder / "scene.ply"
    depth_files = [folder / "depth" / f"{Path(p).stem}.npy" for p in cams.image_paths]
    have_depth = all(f.is_file() for f in depth_files)
    if depth_from == "auto":
        depth_from = "views" if have_depth else "gaussians"
    weights = np.ones((n, H, W), np.float32)
    if depth_from == "views":
        if not have_depth:
            miss = next(f for f in depth_files if not f.is_file())
            raise See3DError(f"{folder}: depth map {miss.relative_to(folder)} is missing (or use --depth-from gaussians)")
        depths = np.stack([_load_depth_npy(f, (H, W)) for f in depth_files])
        for i, p in enumerate(cams.image_paths):
            m = folder / "masks" / f"{Path(p).stem}.png"
            if m.is_file():
                mask = load_image(m)[..., 0]
                if mask.shape == (H, W):
                    weights[i] = np.where(mask > 127, 1.0, generated_weight)
    else:
        if not scene.is_file():
            raise See3DError(f"{folder} has no depth maps and no scene.ply to render depths from")
        depths, weights = _render_gaussian_depths(scene, cams.intrinsics, cams.poses, min_alpha)
    return FolderViews(images, depths.astype(np.float32), list(cams.intrinsics), np.asarray(cams.poses), weights, depth_from)


def _load_depth_npy(path: Path, shape) -> np.ndarray:
    try:
        d = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise See3DError(f"cannot read depth map {path}: {str(e).splitlines()[0]}") from None
    d = np.asarray(d, np.float32)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.shape != tuple(shape):
        raise See3DError(f"depth map {path.name} is {d.shape[-1]}x{d.shape[0]} but its view is {shape[1]}x{shape[0]}")
    return np.where(np.isfinite(d) & (d > 0), d, 0.0)


def _render_gaussian_depths(scene: Path, intrinsics, poses, min_alpha: float):
    import torch

    from see3d.gs import load_ply
    from see3d.gs.train import render, torch_threads

    model = load_ply(scene).validate()
    depths, weights = [], []
    with torch.no_grad(), torch_threads(1):
        for k, c2w in zip(intrinsics, poses):
            out = render(model, k, c2w)
            a = out.alpha.cpu().numpy()
            d = out.depth.cpu().numpy()
            ok = a >= min_alpha
            depths.append(np.where(ok, d, 0.0).astype(np.float32))
            weights.append(np.where(ok, a, 0.0).astype(np.float32))
    return np.stack(depths), np.stack(weights)
