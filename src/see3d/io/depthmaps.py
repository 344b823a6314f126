"""Depth maps on disk: ``.npy`` (float metres) and 16-bit PNG with a scale.

A 16-bit PNG stores ``round(depth * scale)``; 0 means invalid.  The scale is
written into the PNG's text metadata (key ``depth_scale``) and, by convention,
into the file name (``name.depth_scale1000.png``) so tools that drop metadata
still know it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from see3d.errors import See3DError

_SCALE_RE = re.compile(r"depth_scale(\d+(?:\.\d+)?)")
#: Plausible median depth (metres) of a scene: outside it, the units are almost surely wrong.
PLAUSIBLE_MEDIAN_M = (1e-3, 1e5)


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)) or not np.isfinite(scale) or scale <= 0:
        raise See3DError(f"depth scale must be a positive number, got {scale!r}")
    return float(scale)


def validate_depth(depth: np.ndarray, shape: tuple[int, int] | None = None, name: str = "depth") -> np.ndarray:
    """Check a depth map: 2-D, matching ``shape`` if given, no NaN/inf, some valid pixels.

    Invalid pixels must be encoded as 0 (or negative); NaN and inf are rejected
    because they usually mean a broken upstream step.
    """
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise See3DError(f"{name}: expected a 2-D depth map, got shape {d.shape}")
    if shape is not None and d.shape != tuple(shape):
        raise See3DError(f"{name}: size {d.shape[1]}x{d.shape[0]} does not match the image {shape[1]}x{shape[0]}")
    d = d.astype(np.float32)
    if not np.all(np.isfinite(d)):
        n = int((~np.isfinite(d)).sum())
        raise See3DError(f"{name}: {n} NaN/inf values (mark invalid pixels with 0 instead)")
    if not np.any(d > 0):
        raise See3DError(f"{name}: no valid (positive) depth values")
    med = float(np.median(d[d > 0]))
    lo, hi = PLAUSIBLE_MEDIAN_M
    if not lo <= med <= hi:
        raise See3DError(f"{name}: implausible median depth {med:.3g} m (expected metres between {lo:g} and {hi:g}; wrong depth scale?)")
    return d


def load_depth(path: str | Path, scale: float | None = None) -> np.ndarray:
    """Read ``.npy`` (metres) or a 16-bit PNG (``value / scale`` metres; scale from metadata/name)."""
    path = Path(path)
    if not path.is_file():
        raise See3DError(f"depth file not found: {path}")
    if path.suffix == ".npy":
        try:
            d = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise See3DError(f"cannot read depth file {path}: {str(e).splitlines()[0]}") from None
        if d.dtype.kind not in "fiu":
            raise See3DError(f"depth {path.name}: dtype {d.dtype} is not a depth map (expected float metres, or integers with a depth scale)")
        if d.dtype.kind in "iu" and scale is None:
            raise See3DError(
                f"depth {path.name} holds integers ({d.dtype}); pass the depth scale (units per metre, e.g. --depth-scale 1000 for millimetres)"
            )
        d = d.astype(np.float64)
        if scale is not None:
            d = d / _check_scale(scale)
        return validate_depth(d, name=f"depth {path.name}")
    if path.suffix.lower() in (".png", ".tif", ".tiff"):
        try:
            with Image.open(path) as im:
                info = dict(im.info)
                arr = np.asarray(im)
        except OSError as e:
            raise See3DError(f"cannot read depth file {path}: {str(e).splitlines()[0]}") from None
        if scale is None:
            if "depth_scale" in info:
                try:
                    scale = float(info["depth_scale"])
                except ValueError:
                    raise See3DError(f"depth PNG {path.name}: its depth_scale metadata {info['depth_scale']!r} is not a number") from None
            else:
                m = _SCALE_RE.search(path.name)
                if m is None:
                    raise See3DError(
                        f"depth PNG {path.name} has no depth_scale (metadata or name); pass the scale "
                        "(e.g. 1000 for millimetres, 256 for KITTI)"
                    )
                scale = float(m.group(1))
        scale = _check_scale(scale)
        return validate_depth(arr.astype(np.float32) / scale, name=f"depth {path.name}")
    raise See3DError(f"unsupported depth file type {path.suffix!r} (use .npy or 16-bit .png)")


def save_depth_npy(path: str | Path, depth: np.ndarray) -> None:
    np.save(path, np.asarray(depth, dtype=np.float32))


def save_depth_png(path: str | Path, depth: np.ndarray, scale: float = 1000.0) -> None:
    """16-bit PNG of ``round(depth * scale)`` (clipped to 65535; invalid -> 0) with the scale in metadata."""
    d = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    v = np.clip(np.round(d * scale), 0, 65535).astype(np.uint16)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("depth_scale", repr(float(scale)))
    Image.fromarray(v).save(path, pnginfo=meta)


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Colour preview (uint8 RGB, near = bright) of a depth map, by inverse depth percentiles."""
    import cv2

    d = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(d) & (d > 0)
    out = np.zeros(d.shape + (3,), np.uint8)
    if not valid.any():
        return out
    inv = np.zeros_like(d)
    inv[valid] = 1.0 / d[valid]
    lo, hi = np.percentile(inv[valid], [2, 98])
    x = np.clip((inv - lo) / max(hi - lo, 1e-12), 0, 1)
    col = cv2.applyColorMap((x * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    out[valid] = col[valid]
    return out
