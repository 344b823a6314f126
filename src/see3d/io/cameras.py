"""Camera files: ``transforms.json`` (instant-ngp / nerfstudio) and Metric3D annotations.

``transforms.json`` stores OpenGL camera-to-world matrices; see3d converts them to
its OpenCV convention on read and back on write (:mod:`see3d.camera.pose`).
Global intrinsics (``fl_x, fl_y, cx, cy, w, h``) may be overridden per frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import as_pose, opencv_to_opengl, opengl_to_opencv
from see3d.errors import See3DError

_DIST_KEYS = ("k1", "k2", "p1", "p2", "k3", "k4")


@dataclass
class CameraSet:
    """Posed views: ``poses [N, 4, 4]`` (OpenCV c2w), one :class:`Intrinsics` and file path per view."""

    poses: np.ndarray
    intrinsics: list[Intrinsics]
    image_paths: list[Path]
    #: OpenCV distortion coefficients ``(k1, k2, p1, p2[, k3])`` per view (zeros if none).
    distortion: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.poses)


def _num(d: dict, key: str, where: str) -> float:
    v = d[key]
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        raise See3DError(f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def _intrinsics_from(d: dict, base: dict, where: str) -> Intrinsics:
    m = {**base, **{k: v for k, v in d.items() if k in ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y")}}
    if "w" not in m or "h" not in m:
        raise See3DError(f"{where}: image size (w, h) missing")
    w, h = int(m["w"]), int(m["h"])
    if "fl_x" in m:
        fx = _num(m, "fl_x", where)
    elif "camera_angle_x" in m:
        fx = 0.5 * w / math.tan(0.5 * _num(m, "camera_angle_x", where))
    else:
        raise See3DError(f"{where}: no focal length (fl_x or camera_angle_x)")
    if "fl_y" in m:
        fy = _num(m, "fl_y", where)
    elif "camera_angle_y" in m:
        fy = 0.5 * h / math.tan(0.5 * _num(m, "camera_angle_y", where))
    else:
        fy = fx
    # transforms.json uses the pixel-corner convention for cx (cx = w/2 at the centre); see3d uses
    # pixel centres, so shift by half a pixel.
    cx = _num(m, "cx", where) - 0.5 if "cx" in m else (w - 1) / 2.0
    cy = _num(m, "cy", where) - 0.5 if "cy" in m else (h - 1) / 2.0
    return Intrinsics(fx, fy, cx, cy, w, h)


def read_transforms_json(path: str | Path, probe_image_size: bool = True) -> CameraSet:
    """Read an instant-ngp / nerfstudio ``transforms.json`` (poses converted to OpenCV)."""
    path = Path(path)
    if path.is_dir():
        path = path / "transforms.json"
    if not path.is_file():
        raise See3DError(f"camera file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise See3DError(f"camera file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise See3DError(f"camera file {path}: no 'frames' list")
    if not data["frames"]:
        raise See3DError(f"camera file {path}: 'frames' is empty (zero views)")
    poses, intrs, paths, dists = [], [], [], []
    for i, fr in enumerate(data["frames"]):
        where = f"{path.name} frame {i}"
        if not isinstance(fr, dict) or "transform_matrix" not in fr or "file_path" not in fr:
            raise See3DError(f"{where}: needs 'file_path' and 'transform_matrix'")
        try:
            m = np.asarray(fr["transform_matrix"], dtype=np.float64)
        except (TypeError, ValueError):
            raise See3DError(f"{where}: transform_matrix is not a numeric 4x4 matrix") from None
        poses.append(opengl_to_opencv(as_pose(m, where)))
        img = (path.parent / fr["file_path"]).resolve()
        if img.suffix == "" and not img.exists():
            for ext in (".png", ".jpg", ".jpeg"):
                if img.with_suffix(ext).exists():
                    img = img.with_suffix(ext)
                    break
        paths.append(img)
        base = dict(data)
        if ("w" not in base or "h" not in base) and "w" not in fr and probe_image_size and img.exists():
            from PIL import Image

            with Image.open(img) as im:
                base["w"], base["h"] = im.size
        intrs.append(_intrinsics_from(fr, base, where))
        dist = [float(fr.get(k, data.get(k, 0.0))) for k in _DIST_KEYS[:5]]
        dists.append(np.asarray(dist, dtype=np.float64))
    return CameraSet(np.stack(poses), intrs, paths, dists)


def transforms_dict(poses: np.ndarray, intrinsics: list[Intrinsics] | Intrinsics, file_paths: list[str]) -> dict:
    """Build a ``transforms.json`` dict (OpenGL c2w) from OpenCV poses."""
    if isinstance(intrinsics, Intrinsics):
        intrinsics = [intrinsics] * len(poses)
    if not (len(poses) == len(intrinsics) == len(file_paths)):
        raise See3DError("transforms.json: poses, intrinsics and file paths differ in number")
    k0 = intrinsics[0]
    shared = all(k == k0 for k in intrinsics)

    def cam(k: Intrinsics) -> dict:
        return {
            "fl_x": k.fx,
            "fl_y": k.fy,
            "cx": k.cx + 0.5,
            "cy": k.cy + 0.5,
            "w": k.width,
            "h": k.height,
            "camera_angle_x": 2 * math.atan(k.width / (2 * k.fx)),
            "camera_angle_y": 2 * math.atan(k.height / (2 * k.fy)),
        }

    out: dict = {"camera_model": "OPENCV"}
    if shared:
        out.update(cam(k0))
    frames = []
    for p, k, f in zip(poses, intrinsics, file_paths):
        fr = {"file_path": f, "transform_matrix": opencv_to_opengl(p).tolist()}
        if not shared:
            fr.update(cam(k))
        frames.append(fr)
    out["frames"] = frames
    return out


def write_transforms_json(path: str | Path, poses: np.ndarray, intrinsics, file_paths: list[str], extra: dict | None = None) -> None:
    d = transforms_dict(poses, intrinsics, file_paths)
    if extra:
        d.update(extra)
    Path(path).write_text(json.dumps(d, indent=2))


@dataclass
class DepthAnnotation:
    """One entry of Metric3D's annotation format."""

    rgb: Path
    depth: Path | None
    cam_in: tuple[float, float, float, float]
    depth_scale: float


def read_metric3d_annotations(path: str | Path) -> list[DepthAnnotation]:
    """Metric3D ``{"files": [{"rgb", "depth", "cam_in": [fx, fy, cx, cy], "depth_scale"}]}``.

    Paths are absolute or relative to the annotation file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise See3DError(f"annotation file {path} is not valid JSON: {e}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not files:
        raise See3DError(f"annotation file {path}: needs a non-empty 'files' list")
    out = []
    for i, e in enumerate(files):
        where = f"{path.name} entry {i}"
        if not isinstance(e, dict) or "rgb" not in e or "cam_in" not in e:
            raise See3DError(f"{where}: needs 'rgb' and 'cam_in'")
        cam = e["cam_in"]
        if not (isinstance(cam, list) and len(cam) == 4 and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in cam)):
            raise See3DError(f"{where}: cam_in must be [fx, fy, cx, cy]")
        if cam[0] <= 0 or cam[1] <= 0:
            raise See3DError(f"{where}: focal length must be positive, got fx={cam[0]}, fy={cam[1]}")
        if not isinstance(e["rgb"], str) or not e["rgb"]:
            raise See3DError(f"{where}: rgb must be an image path, got {e['rgb']!r}")
        rgb = Path(e["rgb"])
        rgb = rgb if rgb.is_absolute() else path.parent / rgb
        dep = e.get("depth")
        if dep is not None and (not isinstance(dep, str) or not dep):
            raise See3DError(f"{where}: depth must be a depth-map path or null, got {dep!r}")
        dep = None if dep is None else (Path(dep) if Path(dep).is_absolute() else path.parent / dep)
        scale = e.get("depth_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise See3DError(f"{where}: depth_scale must be a positive number, got {scale!r}")
        scale = float(scale)
        out.append(DepthAnnotation(rgb, dep, tuple(float(c) for c in cam), scale))
    return out
