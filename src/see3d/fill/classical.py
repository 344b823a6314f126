"""Classical inpainting baselines (OpenCV Telea and Navier-Stokes)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from see3d.errors import See3DError


def _check(rgb: np.ndarray, mask: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise See3DError(f"fill: expected an RGB image [H, W, 3], got shape {rgb.shape}")
    if mask.shape != rgb.shape[:2]:
        raise See3DError(f"fill: mask shape {mask.shape} does not match image {rgb.shape[:2]}")


def _inpaint(rgb: np.ndarray, mask: np.ndarray, method: int, radius: float) -> np.ndarray:
    rgb = np.asarray(rgb)
    mask = np.asarray(mask)
    _check(rgb, mask)
    is_float = rgb.dtype != np.uint8
    img8 = (np.clip(np.nan_to_num(rgb), 0, 1) * 255 + 0.5).astype(np.uint8) if is_float else rgb
    holes = (mask < 0.5).astype(np.uint8) * 255
    if not holes.any():
        return rgb.copy()
    if holes.all():
        # nothing known: return mid grey rather than garbage
        out8 = np.full_like(img8, 128)
    else:
        out8 = cv2.inpaint(np.ascontiguousarray(img8), holes, radius, method)
    if not is_float:
        return out8
    out = rgb.astype(np.float32).copy()
    h = holes > 0
    out[h] = out8[h].astype(np.float32) / 255.0
    return out


def fill_telea(rgb: np.ndarray, mask: np.ndarray, radius: float = 3.0) -> np.ndarray:
    """OpenCV Telea inpainting of the pixels where ``mask`` is 0 (1 = known)."""
    return _inpaint(rgb, mask, cv2.INPAINT_TELEA, radius)


def fill_navier_stokes(rgb: np.ndarray, mask: np.ndarray, radius: float = 3.0) -> np.ndarray:
    """OpenCV Navier-Stokes inpainting of the pixels where ``mask`` is 0 (1 = known)."""
    return _inpaint(rgb, mask, cv2.INPAINT_NS, radius)


@dataclass
class ClassicalFiller:
    """Filler interface over OpenCV inpainting; ``name`` is ``telea`` or ``ns``."""

    name: str = "telea"
    radius: float = 3.0

    def fill(self, warped: np.ndarray, masks: np.ndarray, refs: np.ndarray | None = None, seed: int = 0, progress: bool = False) -> np.ndarray:
        fn = fill_telea if self.name == "telea" else fill_navier_stokes
        warped = np.asarray(warped)
        masks = np.asarray(masks)
        if warped.ndim == 3:
            return fn(warped, masks, self.radius)
        if masks.shape != warped.shape[:3]:
            raise See3DError(f"fill: masks shape {masks.shape} does not match views {warped.shape[:3]}")
        return np.stack([fn(w, m, self.radius) for w, m in zip(warped, masks)])
