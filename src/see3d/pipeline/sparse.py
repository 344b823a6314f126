"""A few posed photos -> more views -> 3DGS (``see3d reconstruct VIEWS --densify N``).

Stages of :func:`densify_views`:

1. **Depth** of every input view: a metric depth model (:func:`see3d.depth.load_backend`, the
   bundled ``tiny`` by default), then the **cross-view scale alignment against the poses**
   (:func:`align_depths_to_poses`): SIFT matches between every pair of inputs are triangulated
   with the known cameras, and each view's predicted depth is fitted to the depths of those
   points (a robust global scale, then the dense scale/shift maps of :mod:`see3d.depth.align`
   where there are enough points). The depths then share the poses' scale, whatever unit the
   poses are in (COLMAP's arbitrary one included).
2. **Novel cameras** (:func:`place_novel_cameras`): ``N`` cameras between neighbouring inputs
   and around the outer ones (ordered by azimuth about the point they look at; positions and
   rotations interpolated on the arc between two inputs, extrapolated past the ends).
3. **Warp** every input into every novel camera (one z-buffer: the nearest surface wins).
4. **Fill** the holes with the multi-view model, all inputs as clean references at once
   (:func:`load_sparse_filler`: the See3D release's ``sparse`` variant when it is installed, else
   the bundled model), ``telea`` / ``ns``, or ``none`` (holes stay and are masked out of the fit).
5. The 3DGS fit (:func:`see3d.gs.reconstruct.reconstruct`) takes inputs and generated views;
   generated views count ``generated_weight`` of a photo, and their generated (hole) pixels a
   further ``hole_weight`` (0 with ``fill="none"``).

Pose estimation for folders without cameras (:func:`estimate_poses`) uses pycolmap (optional
extra ``sfm``): SIFT features, exhaustive matching, incremental mapping.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from see3d.camera import Intrinsics, invert
from see3d.errors import See3DError

FILLS = ("mvd", "telea", "ns", "none")


@dataclass
class SparseConfig:
    """Options of :func:`densify_views`."""

    densify: int = 8  #: number of novel cameras
    fill: str = "mvd"  #: ``mvd`` | ``telea`` | ``ns`` | ``none``
    fill_model: str | None = None  #: MVD weights folder (None: the release's sparse variant, else bundled)
    depth_model: str = "tiny"  #: metric depth backend (see :func:`see3d.depth.load_backend`)
    dense_alignment: bool = True  #: dense scale/shift maps where >= ``min_dense_pairs`` points
    min_dense_pairs: int = 60
    group: int = 4  #: novel views per multi-view model call
    extend: float = 0.5  #: cameras past the outer inputs reach this fraction of the neighbouring gap
    generated_weight: float = 0.5  #: loss weight of a generated view (a photo counts 1)
    hole_weight: float = 0.5  #: extra factor on generated pixels (warped pixels of a generated view count 1)
    seed: int = 0

    def validate(self) -> "SparseConfig":
        if self.densify < 1:
            raise See3DError(f"--densify must be at least 1 novel view, got {self.densify}")
        if self.fill not in FILLS:
            raise See3DError(f"unknown fill {self.fill!r}: use one of {', '.join(FILLS)}")
        if not (0 < self.generated_weight <= 1) or not (0 <= self.hole_weight <= 1):
            raise See3DError("generated_weight must be in (0, 1] and hole_weight in [0, 1]")
        if self.group < 1:
            raise See3DError(f"group must be >= 1, got {self.group}")
        return self


@dataclass
class GeneratedViews:
    """Novel views made from the inputs (all arrays over the ``N`` novel cameras)."""

    images: np.ndarray  #: float32 [N, H, W, 3]
    masks: np.ndarray  #: float32 [N, H, W], 1 = warped from an input, 0 = generated (hole)
    depths: np.ndarray  #: float32 [N, H, W] warped depth, holes filled from their background edge
    poses: np.ndarray  #: [N, 4, 4] OpenCV camera-to-world
    intrinsics: list[Intrinsics]
    pixel_weights: np.ndarray  #: float32 [N, H, W] weights of the 3DGS loss (before the view weight)
    view_weight: float
    input_depths: np.ndarray  #: float32 [S, H, W] the inputs' aligned depth
    info: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f"gen_{i:04d}" for i in range(len(self.images))]


# --------------------------------------------------------------------------- depth alignment
def _triangulate(uv_a, uv_b, K_a, K_b, c2w_a, c2w_b) -> np.ndarray:
    """Linear (DLT) triangulation of matched pixels -> world points ``[M, 3]``."""
    import cv2

    P_a = K_a @ invert(c2w_a)[:3]
    P_b = K_b @ invert(c2w_b)[:3]
    X = cv2.triangulatePoints(P_a, P_b, uv_a.T.astype(np.float64), uv_b.T.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (X[:3] / X[3]).T


def _project(X: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w2c = invert(c2w)
    pc = X @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (pc @ K.T)[:, :2] / z[:, None]
    return uv, z


def triangulated_depth_pairs(
    images: np.ndarray, intrinsics: list[Intrinsics], poses: np.ndarray, max_reproj_px: float = 2.0, min_angle_deg: float = 2.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per view ``(uv [M, 2], z [M])``: pixels with the camera depth of points triangulated from
    SIFT matches with every other view and the given poses (reprojection error below
    ``max_reproj_px`` in both views, triangulation angle above ``min_angle_deg``)."""
    from see3d.depth.align import match_keypoints

    import cv2

    n = len(images)
    # SIFT finds few keypoints in small images: match on upscaled copies (>= 320 px), then scale back
    H, W = np.asarray(images[0]).shape[:2]
    up = max(1, math.ceil(320 / max(H, W)))
    if up > 1:
        images = [cv2.resize(np.asarray(im), (W * up, H * up), interpolation=cv2.INTER_CUBIC).clip(0, 1) for im in images]
    out_uv: list[list[np.ndarray]] = [[] for _ in range(n)]
    out_z: list[list[np.ndarray]] = [[] for _ in range(n)]
    for a in range(n):
        for b in range(a + 1, n):
            uv_a, uv_b = match_keypoints(images[a], images[b])
            if len(uv_a) < 8:
                continue
            # pixel centres: x_small = (x_big + 0.5) / up - 0.5
            uv_a, uv_b = (uv_a + 0.5) / up - 0.5, (uv_b + 0.5) / up - 0.5
            Ka, Kb = intrinsics[a].K, intrinsics[b].K
            X = _triangulate(uv_a, uv_b, Ka, Kb, poses[a], poses[b])
            pa, za = _project(X, Ka, poses[a])
            pb, zb = _project(X, Kb, poses[b])
            ea = np.linalg.norm(pa - uv_a, axis=1)
            eb = np.linalg.norm(pb - uv_b, axis=1)
            ra = X - poses[a][:3, 3]
            rb = X - poses[b][:3, 3]
            cosang = np.sum(ra * rb, 1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1) + 1e-300)
            ok = np.isfinite(X).all(1) & (za > 0) & (zb > 0) & (ea < max_reproj_px) & (eb < max_reproj_px)
            ok &= cosang < math.cos(math.radians(min_angle_deg))
            out_uv[a].append(uv_a[ok])
            out_z[a].append(za[ok])
            out_uv[b].append(uv_b[ok])
            out_z[b].append(zb[ok])
    return [
        (np.concatenate(u) if u else np.zeros((0, 2)), np.concatenate(z) if z else np.zeros(0)) for u, z in zip(out_uv, out_z)
    ]


def align_depths_to_poses(
    images: np.ndarray,
    depths: np.ndarray,
    intrinsics: list[Intrinsics],
    poses: np.ndarray,
    dense: bool = True,
    min_dense_pairs: int = 60,
) -> tuple[np.ndarray, dict]:
    """Scale each view's (metric) depth to the poses' scale with triangulated keypoints.

    Returns ``(aligned [S, H, W], info)``; ``info["scales"]`` holds each view's global scale and
    ``info["pairs"]`` the number of triangulated points it was fitted to. A view without enough
    points takes the median scale of the others; no points in any view is an error.
    """
    from see3d.depth.align import DepthPairs, align_dense, fit_scale_shift

    pairs = triangulated_depth_pairs(images, intrinsics, poses)
    scales: list[float | None] = []
    n_pairs = []
    prepared = []
    for d, (uv, z) in zip(depths, pairs):
        d = np.asarray(d, np.float64)
        h, w = d.shape
        ui = np.clip(np.round(uv[:, 0]).astype(int), 0, w - 1) if len(uv) else np.zeros(0, int)
        vi = np.clip(np.round(uv[:, 1]).astype(int), 0, h - 1) if len(uv) else np.zeros(0, int)
        x = d[vi, ui] if len(uv) else np.zeros(0)
        ok = np.isfinite(x) & (x > 0) & np.isfinite(z) & (z > 0)
        dp = DepthPairs(uv[ok].astype(np.float64), x[ok], z[ok])
        prepared.append(dp)
        n_pairs.append(len(dp))
        if len(dp) >= 3:
            s, _, inl = fit_scale_shift(dp.x, dp.y, shift=False, inlier_rel=0.1)
            scales.append(s)
            # keep the inliers of the global fit for the dense maps
            prepared[-1] = DepthPairs(dp.uv[inl], dp.x[inl], dp.y[inl])
        else:
            scales.append(None)
    known = [s for s in scales if s is not None]
    info: dict = {"pairs": n_pairs}
    if not known:
        # no view matches another (wide baselines, small images): cameras that look at one point
        # (an object-centred capture) still give a scale - each view's central depth is its
        # distance to that point
        known = _look_at_scales(depths, poses)
        if known is None:
            raise See3DError(
                "too few keypoint matches between the input views to align their depths with the poses "
                "(no view has 3 triangulated points, and the cameras do not look at a common point)"
            )
        scales = list(known)
        info["fallback"] = "look-at point"
    fallback = float(np.median([s for s in scales if s is not None]))
    out = []
    for d, s, dp in zip(depths, scales, prepared):
        d = np.asarray(d, np.float64)
        valid = np.isfinite(d) & (d > 0)
        if s is None:
            a = np.where(valid, fallback * d, 0.0)
        elif dense and len(dp) >= min_dense_pairs:
            a = align_dense(np.where(valid, d, 0.0), dp)
            # keep sky / far values finite-positive where the dense maps went non-positive
            a = np.where(valid & (a <= 0), s * d, a)
        else:
            a = np.where(valid, s * d, 0.0)
        a = np.where(np.isposinf(np.asarray(d)), np.inf, a)
        out.append(a.astype(np.float32))
    info["scales"] = [None if s is None else float(s) for s in scales]
    return np.stack(out), info


def _look_at_scales(depths: np.ndarray, poses: np.ndarray) -> list[float] | None:
    """Per view: distance to the point closest to all optical axes / median depth of the central
    ninth of the image; None when that point is not in front of every camera."""
    from see3d.gs.train import look_at_center

    P = np.asarray(poses, np.float64)
    c = look_at_center(P)
    out = []
    for d, p in zip(depths, P):
        z = float(np.dot(c - p[:3, 3], p[:3, 2]))
        h, w = d.shape
        mid = np.asarray(d)[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
        v = mid[np.isfinite(mid) & (mid > 0)]
        if z <= 0 or v.size == 0:
            return None
        out.append(z / float(np.median(v)))
    return out


def estimate_depths(images: np.ndarray, intrinsics: list[Intrinsics], model: str = "tiny") -> np.ndarray:
    """Metric depth of every view with the backend ``model`` -> ``[S, H, W]`` float32."""
    from see3d.depth import load_backend
    from see3d.io import to_uint8

    backend = load_backend(model)
    return np.stack([np.asarray(backend.predict(to_uint8(im), k).depth, np.float32) for im, k in zip(images, intrinsics)])


# --------------------------------------------------------------------------- novel cameras
def _rotvec_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation vector turning direction ``a`` onto ``b`` (shortest arc)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    ang = math.atan2(s, float(np.dot(a, b)))
    if s < 1e-12:
        return np.zeros(3)
    return axis / s * ang


def _interp_pose(A: np.ndarray, B: np.ndarray, focus: np.ndarray, s: float) -> np.ndarray:
    """Pose at ``s`` on the arc from ``A`` (s=0) to ``B`` (s=1) about ``focus``; extrapolates."""
    from scipy.spatial.transform import Rotation

    a, b = A[:3, 3] - focus, B[:3, 3] - focus
    ra, rb = np.linalg.norm(a), np.linalg.norm(b)
    turn = Rotation.from_rotvec(s * _rotvec_between(a, b))
    r = math.exp((1 - s) * math.log(max(ra, 1e-12)) + s * math.log(max(rb, 1e-12)))
    pos = focus + turn.apply(a / max(ra, 1e-12)) * r
    rel = Rotation.from_matrix(B[:3, :3] @ A[:3, :3].T).as_rotvec()
    R = Rotation.from_rotvec(s * rel).as_matrix() @ A[:3, :3]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, pos
    return T


def scene_focus(poses: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Mean of the points each camera sees at its median depth along its optical axis."""
    pts = []
    for p, d in zip(poses, depths):
        v = d[np.isfinite(d) & (d > 0)]
        med = float(np.median(v)) if v.size else 1.0
        pts.append(p[:3, 3] + med * p[:3, 2])
    return np.mean(pts, axis=0)


def place_novel_cameras(poses: np.ndarray, focus: np.ndarray, n: int, extend: float = 0.5) -> np.ndarray:
    """``n`` cameras between and around the input ``poses [S, 4, 4]`` (OpenCV c2w).

    Inputs are ordered by azimuth about ``focus`` around the cameras' mean up axis. When they
    surround the focus (no gap between neighbours above 180 degrees) the ring is closed and
    every gap gets cameras in proportion to its angle; otherwise the chain is open and also
    extends past both ends by ``extend`` times the neighbouring gap ("around"). Cameras sit at
    evenly spaced fractions of each gap, never on an input.
    """
    P = np.asarray(poses, np.float64)
    S = len(P)
    if S < 2:
        raise See3DError("densification needs at least 2 input views (one photo: use `see3d generate`)")
    if n < 1:
        raise See3DError(f"--densify must be at least 1, got {n}")
    up = -P[:, :3, 1].mean(0)
    up /= max(np.linalg.norm(up), 1e-12)
    ref = P[0][:3, 3] - focus
    ref -= up * np.dot(ref, up)
    if np.linalg.norm(ref) < 1e-9:
        ref = P[0][:3, 0] - up * np.dot(P[0][:3, 0], up)
    ref /= np.linalg.norm(ref)
    ortho = np.cross(up, ref)
    az = []
    for p in P:
        v = p[:3, 3] - focus
        az.append(math.atan2(float(np.dot(v, ortho)), float(np.dot(v, ref))) % (2 * math.pi))
    order = list(np.argsort(az))
    azs = np.array(az)[order]
    gaps = np.diff(np.concatenate([azs, [azs[0] + 2 * math.pi]]))  # gap after each input (circular)
    segs: list[tuple[int, int, float, float, float]] = []  # (from, to, s0, s1, angle)
    if gaps.max() <= math.pi:  # closed ring
        for k in range(S):
            segs.append((order[k], order[(k + 1) % S], 0.0, 1.0, float(gaps[k])))
    else:  # open chain starting after the largest gap
        start = (int(np.argmax(gaps)) + 1) % S
        chain = [order[(start + k) % S] for k in range(S)]
        inner = [float(gaps[(start + k) % S]) for k in range(S - 1)]
        segs.append((chain[0], chain[1], -extend, 0.0, extend * inner[0]))
        for k in range(S - 1):
            segs.append((chain[k], chain[k + 1], 0.0, 1.0, inner[k]))
        segs.append((chain[-2], chain[-1], 1.0, 1.0 + extend, extend * inner[-1]))
    angles = np.array([max(s[4], 1e-9) for s in segs])
    # split n over the segments in proportion to their angle (largest remainders)
    share = angles / angles.sum() * n
    counts = np.floor(share).astype(int)
    for k in np.argsort(-(share - counts))[: n - counts.sum()]:
        counts[k] += 1
    out = []
    for (a, b, s0, s1, _), c in zip(segs, counts):
        if c == 0:
            continue
        inner_seg = s0 == 0.0 and s1 == 1.0
        if inner_seg:
            fr = [(j + 1) / (c + 1) for j in range(c)]
        elif s0 < 0:  # before the first input: ends at it, never on it
            fr = [s0 + (s1 - s0) * j / c for j in range(c)]
        else:  # after the last input
            fr = [s0 + (s1 - s0) * (j + 1) / c for j in range(c)]
        out.extend(_interp_pose(P[a], P[b], focus, s) for s in fr)
    return np.stack(out)


# --------------------------------------------------------------------------- filling
def load_sparse_filler(fill: str, model: str | None = None):
    """The filler of the densification. ``mvd``: ``model`` when given (a weights folder, or a See3D
    release root, run with its ``sparse`` UNet); else the release's ``sparse`` variant when it is
    in the weights cache (``see3d weights get see3d-sparse``) and PyTorch sees a GPU (the same rule
    as ``--fill-model auto`` of ``see3d generate``: 50 steps of a 512-px latent UNet are not a CPU
    job); else the bundled model. Returns ``(filler, description)``; ``fill="none"`` returns
    ``(None, ...)``."""
    from see3d.fill import get_filler

    if fill == "none":
        return None, "none (holes masked out of the fit)"
    if fill in ("telea", "ns"):
        return get_filler(fill), fill
    from see3d.mvd.filler import MVDFiller
    from see3d.mvd.release import is_release_root

    if model is not None:
        if is_release_root(model):
            return MVDFiller.from_pretrained(model, variant="sparse"), f"See3D release {model} (sparse variant)"
        return get_filler("mvd", model), f"mvd ({model})"
    release = _cached_sparse_release()
    if release is not None:
        name, root = release
        return MVDFiller.from_pretrained(root, variant="sparse"), f"See3D release ({name}, sparse variant)"
    return get_filler("mvd"), "mvd (bundled model)"


def _cached_sparse_release() -> tuple[str, str] | None:
    """``(entry name, root)`` of a cached release with ``unet/sparse`` when a GPU is present, else None."""
    from see3d import weights

    if not weights.cuda_available():
        return None
    for name in ("see3d-sparse", "see3d"):
        try:
            st = weights.status(name, deep=False)
        except See3DError:
            continue
        if st.ok:
            return name, weights.release_fill_model(weights.path(name))
    return None


def _fill_groups(filler, warped, masks, refs, group: int, seed: int, progress: bool) -> np.ndarray:
    out = []
    for g0 in range(0, len(warped), group):
        sl = slice(g0, g0 + group)
        out.append(np.asarray(filler.fill(warped[sl], masks[sl], refs=refs, seed=seed + g0, progress=progress), np.float32))
    return np.concatenate(out)


# --------------------------------------------------------------------------- the stage
def densify_views(
    images: np.ndarray,
    intrinsics: list[Intrinsics],
    poses: np.ndarray,
    config: SparseConfig = SparseConfig(),
    depths: np.ndarray | None = None,
    on_stage: Callable[[str], None] | None = None,
    progress: bool = False,
) -> GeneratedViews:
    """Make ``config.densify`` novel views from the input views (see the module docstring).

    ``depths [S, H, W]``: given depths in the poses' units (skips estimation and alignment).
    """
    from see3d.pipeline.single_view import fill_depth_holes
    from see3d.warp import warp_views

    cfg = config.validate()
    stage = on_stage or (lambda s: None)
    imgs = np.asarray(images, np.float32)
    S, H, W = imgs.shape[:3]
    P = np.asarray(poses, np.float64)
    info: dict = {}
    if depths is None:
        stage(f"depth ({cfg.depth_model}) + alignment to the poses")
        raw = estimate_depths(imgs, intrinsics, cfg.depth_model)
        dep, ainfo = align_depths_to_poses(imgs, raw, intrinsics, P, cfg.dense_alignment, cfg.min_dense_pairs)
        info["alignment"] = ainfo
        info["depth"] = cfg.depth_model
    else:
        dep = np.asarray(depths, np.float32)
        if dep.shape != (S, H, W):
            raise See3DError(f"depths must be [S, H, W] = {[S, H, W]}, got {list(dep.shape)}")
        info["depth"] = "given"
    focus = scene_focus(P, dep)
    novel = place_novel_cameras(P, focus, cfg.densify, cfg.extend)
    stage(f"warp {S} inputs into {len(novel)} novel cameras")
    K0 = intrinsics[0]
    Ks = np.stack([k.K for k in intrinsics]).astype(np.float32)
    res = warp_views(imgs, dep, Ks, P, K0.K[None].astype(np.float32), novel, W, H)
    warped = np.asarray(res.rgb, np.float32)
    masks = np.asarray(res.mask, np.float32)
    wdepth = np.asarray(res.depth, np.float32)
    filler, desc = load_sparse_filler(cfg.fill, cfg.fill_model)
    stage(f"fill ({desc})")
    info["fill"] = desc
    if filler is None:
        views = warped
    elif getattr(filler, "name", "") == "mvd" or cfg.fill == "mvd":
        views = _fill_groups(filler, warped, masks, imgs, cfg.group, cfg.seed, progress)
    else:
        views = np.asarray(filler.fill(warped, masks, refs=imgs, seed=cfg.seed), np.float32)
    hole_w = 0.0 if filler is None else cfg.hole_weight
    pw = np.where(masks > 0.5, 1.0, hole_w).astype(np.float32)
    gd = []
    for d, m in zip(wdepth, masks):
        try:
            gd.append(fill_depth_holes(d, m))
        except See3DError:  # the camera sees nothing the inputs saw
            gd.append(np.zeros_like(d))
    info["coverage"] = [float(m.mean()) for m in masks]
    return GeneratedViews(
        np.clip(views, 0, 1), masks, np.stack(gd).astype(np.float32), novel, [K0] * len(novel), pw, cfg.generated_weight, dep, info
    )


# --------------------------------------------------------------------------- pose estimation
def estimate_poses(image_paths: list[Path], max_image_size: int = 1024, seed: int = 0, workdir: str | Path | None = None):
    """Camera poses of photos with pycolmap (SIFT, exhaustive matching, incremental mapping).

    Returns ``(poses [M, 4, 4], intrinsics, paths, distortion, points, colors)`` like
    :func:`see3d.gs.reconstruct.read_colmap_text`, for the ``M`` registered photos (sorted by
    name). Raises a one-line :class:`See3DError` when pycolmap is missing or too few photos match.
    """
    try:
        import pycolmap
    except ImportError:
        raise See3DError("no camera file (transforms.json / COLMAP) and pycolmap is not installed: pip install 'see3d[sfm]'") from None

    paths = [Path(p).resolve() for p in image_paths]
    if len(paths) < 2:
        raise See3DError(f"pose estimation needs at least 2 photos, got {len(paths)}")
    root = Path(*_common_parts(paths))
    names = [str(p.relative_to(root)) for p in paths]
    from PIL import Image

    sizes = set()
    for p in paths:
        with Image.open(p) as im:
            sizes.add(im.size)
    level = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 3  # COLMAP logs every step; a failure is reported as one See3DError line
    try:
        return _estimate_poses(pycolmap, paths, root, names, sizes, max_image_size, seed, workdir)
    finally:
        pycolmap.logging.minloglevel = level


def _estimate_poses(pycolmap, paths, root, names, sizes, max_image_size, seed, workdir):
    from see3d.gs.reconstruct import read_colmap_text

    with tempfile.TemporaryDirectory(dir=workdir) as td:
        td = Path(td)
        db = td / "database.db"
        ex = pycolmap.FeatureExtractionOptions()
        ex.max_image_size = int(max_image_size)
        ex.sift.max_num_features = 8192
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "SIMPLE_RADIAL"
        mode = pycolmap.CameraMode.SINGLE if len(sizes) == 1 else pycolmap.CameraMode.PER_IMAGE
        pycolmap.extract_features(db, root, image_names=names, camera_mode=mode, reader_options=reader,
                                  extraction_options=ex, device=pycolmap.Device.cpu)
        pycolmap.match_exhaustive(db, device=pycolmap.Device.cpu)
        opts = pycolmap.IncrementalPipelineOptions()
        opts.random_seed = int(seed)
        opts.multiple_models = False
        (td / "sparse").mkdir()
        recs = pycolmap.incremental_mapping(db, root, td / "sparse", opts)
        best = max(recs.values(), key=lambda r: r.num_reg_images()) if recs else None
        n_reg = best.num_reg_images() if best is not None else 0
        if n_reg < 2:
            raise See3DError(
                f"pose estimation failed: too few feature matches between the {len(paths)} photos "
                f"(COLMAP registered {n_reg}); provide transforms.json or a COLMAP model"
            )
        (td / "text").mkdir()
        best.write_text(td / "text")
        return read_colmap_text(td / "text", root)


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    parts = [p.parent.parts for p in paths]
    common = []
    for xs in zip(*parts):
        if all(x == xs[0] for x in xs):
            common.append(xs[0])
        else:
            break
    return tuple(common) or ("/",)


# --------------------------------------------------------------------------- the whole job
def depth_init_points(
    images: np.ndarray, depths: np.ndarray, intrinsics: list[Intrinsics], poses: np.ndarray,
    generated: GeneratedViews | None = None, max_points: int = 30_000, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial Gaussians: the inputs' (aligned) depth back-projected, plus the generated pixels of
    the novel views at their hole-filled depth (when filled)."""
    from see3d.gs.reconstruct import fuse_point_cloud

    imgs, deps, intr, P = list(images), list(depths), list(intrinsics), list(poses)
    if generated is not None and generated.view_weight > 0 and generated.pixel_weights.size:
        for v, d, m, w, k, p in zip(generated.images, generated.depths, generated.masks, generated.pixel_weights,
                                    generated.intrinsics, generated.poses):
            if (w[m < 0.5] > 0).any():
                imgs.append(v)
                deps.append(np.where(m < 0.5, d, 0.0))
                intr.append(k)
                P.append(p)
    # sky (+inf) becomes a backdrop at twice the farthest finite depth, so it gets Gaussians too
    fin = np.concatenate([d[np.isfinite(d) & (d > 0)] for d in deps])
    far = 2.0 * float(np.percentile(fin, 99)) if fin.size else 1.0
    deps = [np.where(np.isposinf(d), far, np.where(np.isfinite(d), d, 0.0)) for d in deps]
    return fuse_point_cloud(np.stack(imgs), np.stack(deps), intr, np.stack(P), max_points=max_points, seed=seed)


def reconstruct_sparse(
    views,
    out: str | Path,
    gs_config,
    train_idx: list[int],
    config: SparseConfig | None = None,
    depths: np.ndarray | None = None,
    depth_init: bool | None = None,
    depth_model: str = "tiny",
    on_stage: Callable[[str], None] | None = None,
    progress: bool = False,
):
    """Sparse-view reconstruction: ``views`` (:class:`see3d.gs.reconstruct.PosedViews`) with the
    inputs ``train_idx``; with ``config`` the inputs are densified (:func:`densify_views`) before
    the fit, every other view is held out and scored. ``depths [S, H, W]``: the inputs' depths
    (skips estimation; else ``depth_model``). ``depth_init`` (default: with densification) starts the fit from the
    inputs' depth instead of the views' sparse points / random points. Returns the
    :class:`see3d.gs.reconstruct.ReconstructResult`."""
    from see3d.gs.reconstruct import reconstruct

    stage = on_stage or (lambda s: None)
    tr = views.subset(train_idx)
    gen = None
    extra: dict = {}
    dep = depths
    t0 = time.perf_counter()
    if config is not None:
        gen = densify_views(tr.images, tr.intrinsics, tr.poses, config, depths=depths, on_stage=stage, progress=progress)
        dep = gen.input_depths
        extra["densify"] = {
            "novel_views": len(gen.images), "fill": gen.info.get("fill"), "depth": gen.info.get("depth"),
            "alignment": gen.info.get("alignment"), "coverage": gen.info.get("coverage"),
            "generated_weight": config.generated_weight, "hole_weight": 0.0 if config.fill == "none" else config.hole_weight,
            "seconds": time.perf_counter() - t0,
        }
    if depth_init is None:
        depth_init = config is not None
    pts = cols = None
    if depth_init:
        if dep is None:
            stage(f"depth ({depth_model}) + alignment to the poses")
            raw = estimate_depths(tr.images, tr.intrinsics, depth_model)
            dep, ainfo = align_depths_to_poses(tr.images, raw, tr.intrinsics, tr.poses)
            extra["alignment"] = ainfo
        # no opacity reset: the fit starts from the views' depth, not from random points to prune
        # (the reason generate's quick fit has none, docs/gs.md)
        gs_config = dataclasses.replace(gs_config, opacity_reset_every=0)
        pts, cols = depth_init_points(tr.images, dep, tr.intrinsics, tr.poses, gen,
                                      max_points=max(1, min(gs_config.max_gaussians // 2, 30_000)), seed=gs_config.seed)
    extra["init"] = "depth" if depth_init else ("sparse points" if views.points is not None else "random")
    return reconstruct(views, out, gs_config, train_idx=train_idx, generated=gen, init_points=pts, init_colors=cols,
                       on_stage=on_stage, progress=progress, extra_metrics=extra)
