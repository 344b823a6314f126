"""Pinhole intrinsics that stay correct under resize, crop and pad.

Pixel convention (OpenCV): pixel ``(u, v)`` has its *centre* at continuous image
coordinates ``(u, v)``; the image spans ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
A camera-frame point ``(x, y, z)`` (x right, y down, z forward) projects to
``u = fx * x / z + cx``, ``v = fy * y / z + cy``.

Under a resize by ``s`` the image edges map to edges, so ``fx' = s * fx`` and
``cx' = s * (cx + 0.5) - 0.5``.  Crop and pad shift the principal point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from see3d.errors import See3DError

#: A focal length larger than this many times the image size is rejected as absurd.
MAX_FOCAL_FACTOR = 100.0
#: ... and one shorter than this many times the image size (a field of view of more than about
#: 169 degrees across the longer side: no pinhole camera sees that).
MIN_FOCAL_FACTOR = 0.05


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera intrinsics in pixels, for an image of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            v = getattr(self, name)
            if not math.isfinite(float(v)):
                raise See3DError(f"intrinsics: {name} is not a finite number ({v})")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise See3DError(f"intrinsics: image size must be positive, got {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise See3DError(f"intrinsics: focal length must be positive, got fx={self.fx}, fy={self.fy}")
        size = max(self.width, self.height)
        if min(self.fx, self.fy) < MIN_FOCAL_FACTOR * size:
            raise See3DError(
                f"intrinsics: focal length {min(self.fx, self.fy):.3g} px is too short for a {self.width}x{self.height} "
                f"image (< {MIN_FOCAL_FACTOR:g}x the image size: a field of view over "
                f"{2 * math.degrees(math.atan(0.5 / MIN_FOCAL_FACTOR)):.0f} degrees)"
            )
        if max(self.fx, self.fy) > MAX_FOCAL_FACTOR * size:
            raise See3DError(
                f"intrinsics: focal length {max(self.fx, self.fy):g} px is absurd for a "
                f"{self.width}x{self.height} image (> {MAX_FOCAL_FACTOR:g}x the image size)"
            )
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def check_principal_point(self, what: str = "intrinsics") -> "Intrinsics":
        """User-given intrinsics: the principal point must lie within half an image of the image
        (a cx/cy far outside means swapped values, another image size or a wrong unit)."""
        w, h = self.width, self.height
        if not (-0.5 * w <= self.cx <= 1.5 * w and -0.5 * h <= self.cy <= 1.5 * h):
            raise See3DError(
                f"{what}: principal point ({self.cx:g}, {self.cy:g}) lies far outside the {w}x{h} image "
                "(cx, cy are pixels of this image, near its centre)"
            )
        return self

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_fov(cls, fov_deg: float, width: int, height: int, axis: str = "max") -> "Intrinsics":
        """Square pixels, centred principal point, ``fov_deg`` across the ``axis`` side.

        ``axis`` is ``"x"`` (width), ``"y"`` (height) or ``"max"`` (the longer side).
        """
        if not (0.0 < fov_deg < 180.0):
            raise See3DError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
        side = {"x": width, "y": height, "max": max(width, height)}[axis]
        f = 0.5 * side / math.tan(math.radians(fov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def from_matrix(cls, K: np.ndarray, width: int, height: int) -> "Intrinsics":
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise See3DError(f"intrinsic matrix must be 3x3, got shape {K.shape}")
        return cls(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height)

    # ------------------------------------------------------------------ accessors
    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def fov_deg(self) -> tuple[float, float]:
        """Horizontal and vertical field of view in degrees."""
        return (
            math.degrees(2 * math.atan(self.width / (2 * self.fx))),
            math.degrees(2 * math.atan(self.height / (2 * self.fy))),
        )

    def as_list(self) -> list[float]:
        """``[fx, fy, cx, cy]`` (Metric3D's ``cam_in``)."""
        return [self.fx, self.fy, self.cx, self.cy]

    # ------------------------------------------------------------------ transforms
    def resize(self, width: int, height: int) -> "Intrinsics":
        """Intrinsics of the same image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            width,
            height,
        )

    def scale(self, s: float) -> "Intrinsics":
        """Resize by a factor ``s`` (the new size is rounded to whole pixels)."""
        return self.resize(max(1, round(self.width * s)), max(1, round(self.height * s)))

    def crop(self, x0: int, y0: int, width: int, height: int) -> "Intrinsics":
        """Intrinsics of the sub-image ``[y0:y0+height, x0:x0+width]``."""
        return replace(self, cx=self.cx - x0, cy=self.cy - y0, width=width, height=height)

    def pad(self, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> "Intrinsics":
        """Intrinsics after padding the image by the given number of pixels per side."""
        return replace(
            self,
            cx=self.cx + left,
            cy=self.cy + top,
            width=self.width + left + right,
            height=self.height + top + bottom,
        )

    def pixel_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)`` float arrays of shape ``[H, W]`` with every pixel's centre."""
        u, v = np.meshgrid(
            np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64)
        )
        return u, v
