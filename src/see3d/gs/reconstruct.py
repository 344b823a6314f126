"""Posed photos -> 3D Gaussian Splatting, with held-out-view evaluation (``see3d reconstruct``).

Inputs: a folder with ``transforms.json`` (instant-ngp / nerfstudio; OpenGL poses, optional
``k1 k2 p1 p2 [k3]`` distortion) or a COLMAP text model (``cameras.txt``, ``images.txt`` and
optionally ``points3D.txt``, found in the folder, ``sparse/`` or ``sparse/0/``; images in
``images/`` or beside the model). A folder of photos without either (in the folder or its
``images/``) gets its poses from pycolmap (:func:`see3d.pipeline.sparse.estimate_poses`).
Distorted images are undistorted first (same pinhole intrinsics), then downscaled so the longer
side is at most ``max_size`` pixels.

Evaluation protocol: with ``eval_every = k``, views ``0, k, 2k, ...`` (in file order) are held out
and never seen by the fit; with explicit training views (``train_idx``, ``--train-views``) every
other view is held out. PSNR / SSIM (:mod:`see3d.gs.metrics`) of the renders of the held-out
views are reported and written to ``metrics.json``. Generated views (``--densify``,
:mod:`see3d.pipeline.sparse`) join the training views with lower weights and are written to
``generated/``.

Output folder (written under a temporary name and renamed at the end)::

    scene.ply        standard 3DGS .ply (SuperSplat, antimatter15, nerfstudio)
    scene.splat      antimatter15 .splat
    points.ply       coloured point cloud of the Gaussian centres
    transforms.json  cameras of all views, as used (undistorted, downscaled)
    metrics.json     held-out PSNR / SSIM (per view and mean), counts, timings, peak memory
    heldout/NAME.png render | photo pairs of the held-out views
    generated/       with densification: views/NNNN.png, masks/NNNN.png (255 = warped from an
                     input, 0 = generated), transforms.json of the novel cameras
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from see3d.camera import Intrinsics
from see3d.camera.pose import as_pose, invert
from see3d.errors import See3DError


@dataclass
class PosedViews:
    """Images (float32 ``[N, H, W, 3]``), pinhole intrinsics, OpenCV c2w poses and names."""

    images: np.ndarray
    intrinsics: list[Intrinsics]
    poses: np.ndarray
    names: list[str]
    points: np.ndarray | None = None  #: sparse points (COLMAP points3D) for initialisation
    colors: np.ndarray | None = None
    source: str = ""
    undistorted: bool = False

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx) -> "PosedViews":
        idx = list(idx)
        return PosedViews(self.images[idx], [self.intrinsics[i] for i in idx], self.poses[idx], [self.names[i] for i in idx], self.points, self.colors, self.source, self.undistorted)


# --------------------------------------------------------------------------- COLMAP text model
#: COLMAP camera model -> (parameter names); distortion maps to OpenCV (k1, k2, p1, p2, k3).
COLMAP_MODELS = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fx", "fy", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k1"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
    "OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2"),
}


def _qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _data_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def find_colmap_model(folder: Path) -> Path | None:
    for d in (folder, folder / "sparse" / "0", folder / "sparse"):
        if (d / "cameras.txt").is_file() and (d / "images.txt").is_file():
            return d
    return None


def read_colmap_text(model_dir: str | Path, image_dir: str | Path | None = None):
    """Read a COLMAP text model -> ``(poses [N,4,4] OpenCV c2w, intrinsics, image paths, distortion, points, colors)``.

    COLMAP's pixel coordinates put the centre of the top-left pixel at ``(0.5, 0.5)``; see3d puts it
    at ``(0, 0)``, so the principal point is shifted by half a pixel.
    """
    model_dir = Path(model_dir)
    cams: dict[int, tuple[Intrinsics, np.ndarray]] = {}
    for i, ln in enumerate(_data_lines(model_dir / "cameras.txt")):
        tok = ln.split()
        where = f"cameras.txt line {i + 1}"
        if len(tok) < 5:
            raise See3DError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...'")
        model = tok[1]
        if model not in COLMAP_MODELS:
            raise See3DError(f"{where}: camera model {model} is not supported (use one of {', '.join(COLMAP_MODELS)})")
        names = COLMAP_MODELS[model]
        try:
            cid, w, h = int(tok[0]), int(tok[2]), int(tok[3])
            vals = [float(t) for t in tok[4:]]
        except ValueError:
            raise See3DError(f"{where}: non-numeric camera values") from None
        if len(vals) != len(names):
            raise See3DError(f"{where}: {model} needs {len(names)} parameters, got {len(vals)}")
        p = dict(zip(names, vals))
        fx = p.get("fx", p.get("f"))
        fy = p.get("fy", p.get("f"))
        intr = Intrinsics(fx, fy, p["cx"] - 0.5, p["cy"] - 0.5, w, h)
        dist = np.array([p.get("k1", 0.0), p.get("k2", 0.0), p.get("p1", 0.0), p.get("p2", 0.0), 0.0])
        cams[cid] = (intr, dist)
    if not cams:
        raise See3DError(f"{model_dir / 'cameras.txt'} lists no cameras")
    # images.txt alternates a pose line and a 2D-points line (which may be empty)
    raw = [ln.strip() for ln in (model_dir / "images.txt").read_text().splitlines() if not ln.lstrip().startswith("#")]
    if image_dir is None:
        for cand in (model_dir / "images", model_dir.parent / "images", model_dir.parent.parent / "images", model_dir):
            if cand.is_dir():
                image_dir = cand
                break
    image_dir = Path(image_dir)
    poses, intrs, paths, dists = [], [], [], []
    i = 0
    while i < len(raw):
        if not raw[i]:
            i += 1
            continue
        tok = raw[i].split()
        where = f"images.txt entry {len(poses) + 1}"
        if len(tok) < 10:
            raise See3DError(f"{where}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'")
        try:
            vals = [float(t) for t in tok[1:8]]
            cid = int(tok[8])
        except ValueError:
            raise See3DError(f"{where}: non-numeric pose values") from None
        if cid not in cams:
            raise See3DError(f"{where}: image {tok[9]} uses unknown camera {cid}")
        if not np.all(np.isfinite(vals)) or np.linalg.norm(vals[:4]) < 1e-12:
            raise See3DError(f"{where}: invalid quaternion or translation")
        R = _qvec_to_rotmat(np.array(vals[:4]))
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = R, vals[4:7]
        poses.append(invert(w2c))
        intrs.append(cams[cid][0])
        dists.append(cams[cid][1])
        paths.append(image_dir / " ".join(tok[9:]))
        # the 2D-points line that follows may be empty, or (by some writers) left out entirely
        i += 2 if i + 1 < len(raw) and _is_points2d_line(raw[i + 1]) else 1
    if not poses:
        raise See3DError(f"{model_dir / 'images.txt'} lists no images (zero views)")
    pts = cols = None
    p3 = model_dir / "points3D.txt"
    if p3.is_file():
        rows = []
        for k, ln in enumerate(_data_lines(p3)):
            tok = ln.split()
            try:
                row = [float(t) for t in tok[1:7]]
            except ValueError:
                row = []
            if len(tok) < 8 or len(row) != 6 or not np.all(np.isfinite(row)):
                raise See3DError(f"points3D.txt point {k + 1}: expected 'POINT3D_ID X Y Z R G B ERROR TRACK...' with numbers")
            rows.append(row)
        if rows:
            arr = np.asarray(rows, dtype=np.float64)
            pts, cols = arr[:, :3], np.clip(arr[:, 3:6], 0, 255).astype(np.uint8)
    order = np.argsort([str(p.name) for p in paths], kind="stable")
    return (
        np.stack([poses[i] for i in order]),
        [intrs[i] for i in order],
        [paths[i] for i in order],
        [dists[i] for i in order],
        pts,
        cols,
    )


def _is_points2d_line(line: str) -> bool:
    """COLMAP's POINTS2D line: empty, or triples ``X Y POINT3D_ID`` (all numbers)."""
    tok = line.split()
    if len(tok) % 3:
        return False
    try:
        [float(t) for t in tok]
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- loading
def undistort_image(img: np.ndarray, intr: Intrinsics, dist: np.ndarray) -> np.ndarray:
    """Remove radial-tangential distortion, keeping the same pinhole intrinsics (OpenCV model)."""
    import cv2

    d = np.asarray(dist, dtype=np.float64)
    if not np.any(d):
        return img
    return cv2.undistort(np.ascontiguousarray(img), intr.K, d, None, intr.K)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def find_photos(folder: Path) -> list[Path]:
    """Image files of a camera-less folder (or of its ``images/``), sorted by name."""
    for d in (folder / "images", folder):
        if d.is_dir():
            files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                return files
    return []


def load_posed_views(
    folder: str | Path,
    max_size: int | None = 512,
    progress: bool = False,
    estimate_poses: bool = True,
    on_note: Callable[[str], None] | None = None,
) -> PosedViews:
    """Read posed photos (``transforms.json`` or a COLMAP text model), undistort and downscale them.

    Without either, and with ``estimate_poses``, the photos of the folder (or of its ``images/``)
    are posed with pycolmap; ``on_note`` gets a line saying so.
    """
    import cv2

    from see3d.io import load_image, read_transforms_json, to_float

    folder = Path(folder)
    if not folder.exists():
        raise See3DError(f"views folder not found: {folder}")
    if folder.is_file() and folder.name.endswith(".json"):
        tj, folder = folder, folder.parent
    else:
        tj = folder / "transforms.json"
    pts = cols = None
    if tj.is_file():
        cs = read_transforms_json(tj)
        poses, intrs, paths, dists = cs.poses, cs.intrinsics, cs.image_paths, cs.distortion
        source = str(tj)
    else:
        model = find_colmap_model(folder) if folder.is_dir() else None
        photos = find_photos(folder) if folder.is_dir() and model is None else []
        if model is not None:
            poses, intrs, paths, dists, pts, cols = read_colmap_text(model)
            source = str(model)
        elif photos and estimate_poses:
            from see3d.pipeline.sparse import estimate_poses as _estimate

            if on_note is not None:
                on_note(
                    f"{folder} has no transforms.json or COLMAP model: estimating the poses of its {len(photos)} photos "
                    "with pycolmap (SIFT, exhaustive matching, incremental mapping)"
                )
            poses, intrs, paths, dists, pts, cols = _estimate(photos)
            source = f"pycolmap ({len(poses)} of {len(photos)} photos posed)"
            if len(poses) < len(photos) and on_note is not None:
                missing = sorted({p.name for p in photos} - {Path(q).name for q in paths})
                on_note(f"pycolmap could not pose {len(missing)} photos (left out): {', '.join(missing[:5])}")
        else:
            raise See3DError(f"{folder} has neither transforms.json nor a COLMAP text model (cameras.txt + images.txt)")
    if len(poses) == 0:
        raise See3DError(f"{source}: zero views")
    if max_size is not None and max_size < 8:
        raise See3DError(f"max_size must be at least 8 pixels, got {max_size}")
    images, out_intr, names = [], [], []
    undistorted = False
    it = range(len(paths))
    if progress:
        from see3d._progress import progress_bar

        it = progress_bar(it, desc="load views", unit="img")
    for i in it:
        p = Path(paths[i])
        if not p.is_file():
            raise See3DError(f"image of view {i} not found: {p}")
        img = load_image(p)
        k = intrs[i]
        h, w = img.shape[:2]
        if (w, h) != (k.width, k.height):
            if abs(w / h - k.width / k.height) > 0.01:
                raise See3DError(f"{p.name} is {w}x{h} but its camera is {k.width}x{k.height} (different aspect ratio)")
            k = k.resize(w, h)
        d = np.asarray(dists[i] if i < len(dists) else np.zeros(5), dtype=np.float64)
        if np.any(d):
            img = undistort_image(img, k, d)
            undistorted = True
        if max_size is not None and max(w, h) > max_size:
            s = max_size / max(w, h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            k = k.resize(nw, nh)
        images.append(to_float(img))
        out_intr.append(k)
        names.append(p.stem)
    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise See3DError(f"views have mismatched image sizes after loading ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(sizes))})")
    return PosedViews(np.stack(images).astype(np.float32), out_intr, np.asarray(poses, dtype=np.float64), names, pts, cols, source, undistorted)


def fuse_point_cloud(
    images: np.ndarray,
    depths: np.ndarray,
    intrinsics: Intrinsics | list[Intrinsics],
    poses: np.ndarray,
    max_points: int = 100_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Back-project every view's depth into one coloured world point cloud (subsampled to ``max_points``)."""
    from see3d.camera import unproject_depth

    imgs = np.asarray(images)
    n = len(imgs)
    intr = [intrinsics] * n if isinstance(intrinsics, Intrinsics) else list(intrinsics)
    if len(intr) != n or len(depths) != n or len(poses) != n:
        raise See3DError("fuse_point_cloud: images, depths, intrinsics and poses differ in number")
    pts, cols = [], []
    for img, d, k, c2w in zip(imgs, depths, intr, poses):
        d = np.asarray(d, dtype=np.float64)
        if d.shape != img.shape[:2]:
            raise See3DError(f"depth map {d.shape[1]}x{d.shape[0]} does not match its image {img.shape[1]}x{img.shape[0]}")
        ok = np.isfinite(d) & (d > 0)
        P = unproject_depth(np.where(ok, d, 1.0), k, as_pose(c2w))
        pts.append(P[ok])
        c = img[ok]
        cols.append(c.astype(np.float64) / 255.0 if c.dtype == np.uint8 else c.astype(np.float64))
    P = np.concatenate(pts)
    C = np.concatenate(cols)
    if len(P) == 0:
        raise See3DError("fuse_point_cloud: no valid depth in any view")
    if len(P) > max_points:
        sel = np.random.default_rng(seed).choice(len(P), max_points, replace=False)
        P, C = P[sel], C[sel]
    return P, C


def parse_view_indices(text: str, n: int) -> list[int]:
    """``"0,12,24"`` -> ``[0, 12, 24]``, each an index of the ``n`` loaded views (one-line errors)."""
    try:
        idx = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise See3DError(f"--train-views must be comma-separated view indices like 0,12,24, got {text!r}") from None
    if not idx:
        raise See3DError("--train-views lists no view")
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise See3DError(f"--train-views: unknown view index {bad[0]} (the folder has {n} views, 0-{n - 1})")
    if len(set(idx)) != len(idx):
        raise See3DError(f"--train-views lists a view twice: {text}")
    return idx


def holdout_split(n: int, eval_every: int) -> tuple[list[int], list[int]]:
    """``(train, test)`` indices: views ``0, k, 2k, ...`` are held out (none when ``k`` is 0)."""
    if n == 0:
        raise See3DError("zero views")
    if eval_every < 0:
        raise See3DError(f"--eval-every must be >= 0, got {eval_every}")
    if eval_every == 0:
        return list(range(n)), []
    if eval_every == 1:
        raise See3DError("--eval-every 1 would hold out every view; use 2 or more (or 0 for none)")
    test = list(range(0, n, eval_every))
    train = [i for i in range(n) if i % eval_every]
    if not train:
        raise See3DError(f"no training views left with --eval-every {eval_every} and {n} views")
    return train, test


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


@dataclass
class ReconstructResult:
    metrics: dict
    out: Path
    model: object = field(repr=False, default=None)


def reconstruct(
    views: PosedViews,
    out: str | Path,
    config=None,
    eval_every: int = 0,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    train_idx: list[int] | None = None,
    generated=None,
    init_points: np.ndarray | None = None,
    init_colors: np.ndarray | None = None,
    extra_metrics: dict | None = None,
) -> ReconstructResult:
    """Fit 3DGS to ``views`` (holding out every ``eval_every``-th), evaluate and write the outputs.

    ``train_idx``: the training views by index (every other view is held out; excludes
    ``eval_every``). ``generated``: a :class:`see3d.pipeline.sparse.GeneratedViews` whose views
    join the fit with their view weight and per-pixel weights. ``init_points`` / ``init_colors``
    replace the views' sparse points as the initial Gaussians.
    """
    from see3d.gs.export import save_ply, save_point_cloud, save_splat
    from see3d.gs.train import GSTrainConfig, evaluate_views, fit_gaussians, render_views
    from see3d.io import atomic_output_dir, save_image, write_transforms_json

    cfg = config or GSTrainConfig()
    stage = on_stage or (lambda s: None)
    if train_idx is not None:
        if eval_every:
            raise See3DError("give either --train-views or --eval-every, not both")
        train_idx = list(train_idx)
        test_idx = [i for i in range(len(views)) if i not in set(train_idx)]
    else:
        train_idx, test_idx = holdout_split(len(views), eval_every)
    tr = views.subset(train_idx)
    images, intrs, poses = tr.images, list(tr.intrinsics), tr.poses
    vw = pw = None
    if generated is not None and len(generated.images):
        if generated.images.shape[1:] != tr.images.shape[1:]:
            raise See3DError("generated views differ in size from the training views")
        images = np.concatenate([images, generated.images])
        intrs += list(generated.intrinsics)
        poses = np.concatenate([poses, generated.poses])
        vw = np.concatenate([np.ones(len(tr)), np.full(len(generated.images), generated.view_weight)])
        pw = np.concatenate([np.ones(tr.images.shape[:3], np.float32), generated.pixel_weights])
    pts, cols = (init_points, init_colors) if init_points is not None else (views.points, views.colors)
    n_gen = 0 if generated is None else len(generated.images)
    stage(f"fit ({len(train_idx)} training views{f' + {n_gen} generated' if n_gen else ''}, {len(test_idx)} held out)")
    t0 = time.perf_counter()
    model = fit_gaussians(images, intrs, poses, init_points=pts, init_colors=cols, config=cfg, progress=progress,
                          callback=callback, view_weights=vw, pixel_weights=pw)
    fit_s = time.perf_counter() - t0
    metrics: dict = {
        "views": len(views),
        "train_views": len(train_idx),
        "train_view_names": [views.names[i] for i in train_idx],
        "heldout_views": len(test_idx),
        "generated_views": n_gen,
        "eval_every": eval_every,
        "image_size": [int(views.images.shape[2]), int(views.images.shape[1])],
        "num_gaussians": len(model),
        "fit_seconds": fit_s,
        "undistorted": views.undistorted,
        "source": views.source,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        **(extra_metrics or {}),
    }
    stage("evaluate")
    heldout_renders = None
    if test_idx:
        te = views.subset(test_idx)
        ev = evaluate_views(model, te.images, te.intrinsics, te.poses, cfg.background)
        metrics["heldout"] = {"psnr": ev["psnr"], "ssim": ev["ssim"], "per_view": [{"name": nm, "psnr": p, "ssim": s} for nm, p, s in zip(te.names, ev["psnr_per_view"], ev["ssim_per_view"])]}
        heldout_renders = render_views(model, te.intrinsics, te.poses, cfg.background)
    ev_tr = evaluate_views(model, tr.images, tr.intrinsics, tr.poses, cfg.background)
    metrics["train"] = {"psnr": ev_tr["psnr"], "ssim": ev_tr["ssim"]}
    metrics["peak_memory_mib"] = peak_rss_mib()
    for k in ("psnr", "ssim"):
        for part in ("train", "heldout"):
            v = metrics.get(part, {}).get(k)
            if v is not None and not math.isfinite(v) and v != math.inf:
                raise See3DError(f"{part} {k} is not finite: the fit produced NaNs")
    stage("write")
    with atomic_output_dir(out, marker="reconstruct") as tmp:
        save_ply(model, tmp / "scene.ply")
        save_splat(model, tmp / "scene.splat")
        save_point_cloud(model, tmp / "points.ply")
        write_transforms_json(
            tmp / "transforms.json", views.poses, views.intrinsics, [f"{nm}" for nm in views.names],
            extra={"heldout": [views.names[i] for i in test_idx]},
        )
        if heldout_renders is not None:
            (tmp / "heldout").mkdir()
            for nm, r, g in zip(te.names, heldout_renders, te.images):
                save_image(tmp / "heldout" / f"{nm}.png", np.concatenate([r, g], axis=1))
        if n_gen:
            gdir = tmp / "generated"
            (gdir / "views").mkdir(parents=True)
            (gdir / "masks").mkdir()
            names = []
            for i, (v, m) in enumerate(zip(generated.images, generated.masks)):
                save_image(gdir / "views" / f"{i:04d}.png", v)
                save_image(gdir / "masks" / f"{i:04d}.png", (m > 0.5).astype(np.uint8) * 255)
                names.append(f"views/{i:04d}.png")
            write_transforms_json(gdir / "transforms.json", generated.poses, generated.intrinsics, names)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return ReconstructResult(metrics, Path(out), model)
