"""Metric3D's canonical camera space: one focal length for the network, any camera outside.

A depth network trained on many cameras cannot tell a near object seen with a short
focal length from a far one seen with a long focal length: the image is the same.
Metric3D removes that ambiguity by predicting depth for a *canonical* camera of focal
``f_c`` (1000 px). For pixels of an image seen by the network at focal ``f`` (pixels
of the image the network actually saw) the metric depth is::

    D = D_c * f / f_c                      (de-canonical)
    D_c = D * f_c / f                      (canonical label)

Two variants (REFERENCE.md section 5):

* ``"label"`` (CSTM_label, the released weights): the image keeps its own focal; the
  *labels* are scaled by ``f_c / f`` in training and the prediction by ``f / f_c`` at
  inference.
* ``"image"`` (CSTM_image): the *image* is resized by ``f_c / f`` so it looks as if shot
  with the canonical focal; labels are resized but keep their values.

Both variants are one code path here. A :class:`Placement` says how an image is put
into the network's input canvas: resized by ``scale`` and shifted by an offset (positive
= padding, negative = cropping). The focal the network sees is ``fx * scale`` and the
label factor is always :func:`canonical_factor` of it; in the ``"image"`` variant
``scale = f_c / fx`` makes that factor 1.

Inference (:func:`prepare_input`, :func:`restore_output`) follows Metric3D's order:
fit-resize keeping aspect ratio, scale the intrinsics, centre-pad with the mean colour,
normalise, (predict), remove the padding, bilinear upsample, ``D = D_c * (fx * s) / f_c``,
clamp. The network input is bit-identical to the one the published code
(``hubconf.py`` of YvanYin/Metric3D) makes: the *8-bit* image is resized (OpenCV's
fixed-point ``INTER_LINEAR`` on uint8, not a float copy) and padded as
``cv2.copyMakeBorder`` pads a uint8 image with the mean colour, i.e. with the rounded
:data:`PAD_RGB` = (124, 116, 104), not the exact mean (:func:`prepare_canvas`).
Training (:func:`training_sample`) follows: label to canonical, random resize ``r``
(labels x ``1/r``), random crop / pad (label pad ``-1`` = invalid).

Shapes: images ``uint8 [H, W, 3]`` RGB, depth ``float32 [H, W]`` metres (``<= 0`` invalid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from see3d.camera.intrinsics import Intrinsics
from see3d.errors import See3DError

#: Focal length of the canonical camera, in pixels.
CANONICAL_FOCAL = 1000.0
#: ImageNet mean and std of RGB in 0-255 (Metric3D's normalisation; padding uses the mean).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: The padding colour of the network canvas: the ImageNet mean as ``cv2.copyMakeBorder`` writes it
#: into a uint8 image (``saturate_cast``, round to nearest): (124, 116, 104). After normalisation the
#: padding is therefore (0.0056, -0.0049, 0.0082), not 0, exactly as in Metric3D's ``hubconf.py``.
PAD_RGB = tuple(int(v) for v in np.clip(np.rint(IMAGENET_MEAN), 0, 255))
#: Largest metric depth a prediction is clamped to, metres.
MAX_DEPTH = 300.0
#: Label value of invalid pixels after crop/pad in training.
INVALID_LABEL = -1.0
#: Metric3D input sizes (height, width).
VIT_INPUT = (616, 1064)
CONVNEXT_INPUT = (544, 1216)

Variant = Literal["label", "image"]


# ----------------------------------------------------------------------------- scalar maths
def canonical_factor(focal_seen: float, canonical_focal: float = CANONICAL_FOCAL) -> float:
    """Metric depth per unit of canonical depth for an image seen at ``focal_seen`` px: ``f / f_c``."""
    if not (math.isfinite(focal_seen) and focal_seen > 0):
        raise See3DError(f"focal length must be a positive finite number, got {focal_seen}")
    if not (math.isfinite(canonical_focal) and canonical_focal > 0):
        raise See3DError(f"canonical focal length must be positive, got {canonical_focal}")
    return float(focal_seen) / float(canonical_focal)


def to_canonical(depth, focal_seen: float, canonical_focal: float = CANONICAL_FOCAL):
    """CSTM_label: metric depth -> canonical depth ``D * f_c / f``; invalid (``<= 0``) values kept."""
    k = 1.0 / canonical_factor(focal_seen, canonical_focal)
    if isinstance(depth, torch.Tensor):
        return torch.where(depth > 0, depth * k, depth)
    d = np.asarray(depth, dtype=np.float32)
    return np.where(d > 0, d * np.float32(k), d).astype(np.float32)


def from_canonical(depth_c, focal_seen: float, canonical_focal: float = CANONICAL_FOCAL):
    """De-canonical: canonical depth -> metric ``D_c * f / f_c`` (works on arrays and tensors)."""
    return depth_c * canonical_factor(focal_seen, canonical_focal)


def fit_scale(height: int, width: int, net_hw: tuple[int, int]) -> float:
    """Metric3D's fit-resize factor ``s = min(H_in / h, W_in / w)``."""
    return min(net_hw[0] / height, net_hw[1] / width)


# ----------------------------------------------------------------------------- placement
@dataclass(frozen=True)
class Placement:
    """How an ``height x width`` image is placed in a ``net_h x net_w`` canvas.

    The image is resized by ``scale`` to ``resized_h x resized_w`` (Metric3D truncates:
    ``int(h * s)``), then its top-left corner goes to canvas pixel ``(top, left)``;
    negative offsets crop. ``intrinsics`` are those of the canvas.
    """

    height: int
    width: int
    net_h: int
    net_w: int
    scale: float
    resized_h: int
    resized_w: int
    top: int
    left: int
    intrinsics: Intrinsics
    canonical_focal: float = CANONICAL_FOCAL

    @property
    def focal_seen(self) -> float:
        """The focal length (x) the network sees: ``fx * scale``."""
        return self.intrinsics.fx

    @property
    def label_factor(self) -> float:
        """Metric depth per unit of network output: ``fx * scale / f_c``."""
        return canonical_factor(self.focal_seen, self.canonical_focal)

    @property
    def pad(self) -> tuple[int, int, int, int]:
        """Padding ``(top, bottom, left, right)`` (zero where the image is cropped)."""
        return (
            max(self.top, 0),
            max(self.net_h - self.top - self.resized_h, 0),
            max(self.left, 0),
            max(self.net_w - self.left - self.resized_w, 0),
        )

    def valid_window(self) -> tuple[slice, slice, slice, slice]:
        """``(canvas_rows, canvas_cols, resized_rows, resized_cols)`` slices of the overlap."""
        y0, x0 = max(self.top, 0), max(self.left, 0)
        y1 = min(self.top + self.resized_h, self.net_h)
        x1 = min(self.left + self.resized_w, self.net_w)
        return (
            slice(y0, y1),
            slice(x0, x1),
            slice(y0 - self.top, y1 - self.top),
            slice(x0 - self.left, x1 - self.left),
        )


def make_placement(
    intr: Intrinsics,
    net_hw: tuple[int, int],
    scale: float,
    offset: tuple[int, int] | None = None,
    canonical_focal: float = CANONICAL_FOCAL,
) -> Placement:
    """Placement of an image with intrinsics ``intr`` resized by ``scale``; centred unless ``offset``.

    Centring puts ``(net - resized) // 2`` on the top/left side, as Metric3D does
    (so the KITTI example pads 147 top / 148 bottom).
    """
    net_h, net_w = int(net_hw[0]), int(net_hw[1])
    if net_h <= 0 or net_w <= 0:
        raise See3DError(f"network input size must be positive, got {net_w}x{net_h}")
    if not (math.isfinite(scale) and scale > 0):
        raise See3DError(f"resize factor must be positive, got {scale}")
    rh = max(1, int(intr.height * scale))
    rw = max(1, int(intr.width * scale))
    if offset is None:
        top, left = (net_h - rh) // 2, (net_w - rw) // 2
    else:
        top, left = int(offset[0]), int(offset[1])
    # Metric3D scales all four intrinsics by the nominal s (not by rw / w) - keep that.
    canvas = Intrinsics(
        intr.fx * scale, intr.fy * scale, intr.cx * scale + left, intr.cy * scale + top, net_w, net_h
    )
    return Placement(intr.height, intr.width, net_h, net_w, float(scale), rh, rw, top, left, canvas, canonical_focal)


def fit_placement(intr: Intrinsics, net_hw: tuple[int, int], variant: Variant = "label", canonical_focal: float = CANONICAL_FOCAL) -> Placement:
    """Inference placement: ``"label"`` fit-resizes and centre-pads; ``"image"`` resizes by ``f_c / fx`` and centres."""
    if variant == "label":
        s = fit_scale(intr.height, intr.width, net_hw)
    elif variant == "image":
        s = canonical_focal / intr.fx
    else:
        raise See3DError(f"unknown canonical variant {variant!r} (use 'label' or 'image')")
    return make_placement(intr, net_hw, s, None, canonical_focal)


def _resize(arr: np.ndarray, rh: int, rw: int, nearest: bool) -> np.ndarray:
    import cv2

    if arr.shape[0] == rh and arr.shape[1] == rw:
        return arr
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(arr, (rw, rh), interpolation=interp)


def place_array(arr: np.ndarray, p: Placement, fill, nearest: bool = False) -> np.ndarray:
    """Resize ``arr [H, W(, C)]`` by the placement and put it in a canvas filled with ``fill``."""
    if arr.shape[:2] != (p.height, p.width):
        raise See3DError(f"array is {arr.shape[1]}x{arr.shape[0]} but the placement expects {p.width}x{p.height}")
    r = _resize(arr, p.resized_h, p.resized_w, nearest)
    out = np.empty((p.net_h, p.net_w) + arr.shape[2:], dtype=r.dtype)
    out[...] = np.asarray(fill, dtype=r.dtype)
    cy, cx, ry, rx = p.valid_window()
    out[cy, cx] = r[ry, rx]
    return out


def normalize_image(img: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``uint8/float 0-255 [..., H, W, 3]`` RGB -> normalised ``float32 [..., 3, H, W]``."""
    t = torch.as_tensor(np.asarray(img) if not isinstance(img, torch.Tensor) else img).float()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)
    t = (t - mean) / std
    return t.movedim(-1, -3).contiguous()


# ----------------------------------------------------------------------------- inference
def prepare_canvas(
    image: np.ndarray,
    intr: Intrinsics,
    net_hw: tuple[int, int],
    variant: Variant = "label",
    canonical_focal: float = CANONICAL_FOCAL,
) -> tuple[np.ndarray, Placement]:
    """Image -> the network canvas ``uint8 [net_h, net_w, 3]`` (RGB, not normalised) and its :class:`Placement`.

    What the published code does before normalising: the 8-bit image is resized with
    ``cv2.resize(..., INTER_LINEAR)`` (uint8 in, uint8 out) to ``int(w * s) x int(h * s)`` and
    centre-padded with :data:`PAD_RGB` (the rounded mean ``cv2.copyMakeBorder`` writes into a
    uint8 image). Float images (in [0, 1] or 0-255) are first rounded to 8 bits, the only input
    the published code ever sees (it reads image files with ``cv2.imread``).
    """
    img8 = to_uint8(image, intr)
    p = fit_placement(intr, net_hw, variant, canonical_focal)
    return place_array(img8, p, PAD_RGB), p


def prepare_input(
    image: np.ndarray,
    intr: Intrinsics,
    net_hw: tuple[int, int],
    variant: Variant = "label",
    canonical_focal: float = CANONICAL_FOCAL,
) -> tuple[torch.Tensor, Placement]:
    """Image -> normalised network input ``float32 [1, 3, net_h, net_w]`` and its :class:`Placement`.

    :func:`prepare_canvas` (8-bit resize, padding with the rounded mean), then
    ``(canvas - mean) / std`` in float32 - bit for bit the tensor Metric3D's ``hubconf.py``
    feeds its network (``tests/test_canonical.py`` re-states the published steps and compares).
    """
    canvas, p = prepare_canvas(image, intr, net_hw, variant, canonical_focal)
    return normalize_image(canvas)[None], p


def unplace(pred: np.ndarray | torch.Tensor, p: Placement) -> torch.Tensor:
    """Network-canvas map ``[net_h, net_w]`` -> original image size: remove padding, bilinear upsample.

    Pixels of the original image that were cropped away get 0 (invalid).
    """
    t = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).float()
    t = t.reshape(t.shape[-2:])
    if t.shape != (p.net_h, p.net_w):
        raise See3DError(f"prediction is {t.shape[1]}x{t.shape[0]} but the network input was {p.net_w}x{p.net_h}")
    cy, cx, ry, rx = p.valid_window()
    resized = torch.zeros(p.resized_h, p.resized_w)
    resized[ry, rx] = t[cy, cx]
    out = torch.nn.functional.interpolate(resized[None, None], size=(p.height, p.width), mode="bilinear", align_corners=False)[0, 0]
    if (ry.stop - ry.start, rx.stop - rx.start) != (p.resized_h, p.resized_w):
        covered = torch.zeros(p.resized_h, p.resized_w)
        covered[ry, rx] = 1
        cov = torch.nn.functional.interpolate(covered[None, None], size=(p.height, p.width), mode="nearest")[0, 0]
        out = out * cov
    return out


def restore_output(
    pred_canonical: np.ndarray | torch.Tensor,
    p: Placement,
    max_depth: float = MAX_DEPTH,
) -> np.ndarray:
    """Canonical prediction on the canvas -> metric depth ``float32 [H, W]`` of the original image.

    Removes the padding, upsamples bilinearly, applies ``D = D_c * (fx * s) / f_c`` and clamps to
    ``(0, max_depth]`` (pixels cropped away in the ``"image"`` variant are 0 = invalid).
    """
    d = unplace(pred_canonical, p)
    d = from_canonical(d, p.focal_seen, p.canonical_focal)
    d = torch.where(d > 0, d.clamp(max=max_depth), torch.zeros_like(d))
    return d.numpy().astype(np.float32)


def check_image(image: np.ndarray, intr: Intrinsics | None = None) -> np.ndarray:
    """Validate an RGB image ``[H, W, 3]`` (uint8, or float in [0, 1]) -> float 0-255 array."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise See3DError(f"expected an RGB image [H, W, 3], got shape {a.shape}")
    if intr is not None and (a.shape[0], a.shape[1]) != (intr.height, intr.width):
        raise See3DError(f"image is {a.shape[1]}x{a.shape[0]} but the intrinsics are for {intr.width}x{intr.height}")
    if a.dtype == np.uint8:
        return a.astype(np.float32)
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise See3DError("image has NaN/inf values")
    return a * 255.0 if a.max() <= 1.0 + 1e-6 else a


def to_uint8(image: np.ndarray, intr: Intrinsics | None = None) -> np.ndarray:
    """Validate an RGB image ``[H, W, 3]`` -> ``uint8`` (uint8 as it is; floats rounded to 8 bits and clipped)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        return np.clip(np.rint(check_image(a, intr)), 0, 255).astype(np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise See3DError(f"expected an RGB image [H, W, 3], got shape {a.shape}")
    if intr is not None and (a.shape[0], a.shape[1]) != (intr.height, intr.width):
        raise See3DError(f"image is {a.shape[1]}x{a.shape[0]} but the intrinsics are for {intr.width}x{intr.height}")
    return a


# ----------------------------------------------------------------------------- training
@dataclass
class TrainingSample:
    """One training example in canonical space: normalised image, canonical label, placement."""

    image: torch.Tensor  #: float32 [3, net_h, net_w], normalised
    label: torch.Tensor  #: float32 [net_h, net_w] canonical depth; -1 = invalid / padding
    placement: Placement


def training_sample(
    image: np.ndarray,
    depth: np.ndarray,
    intr: Intrinsics,
    net_hw: tuple[int, int],
    rng: np.random.Generator,
    variant: Variant | None = "label",
    resize_range: tuple[float, float] = (0.85, 1.15),
    base_scale: float | None = None,
    canonical_focal: float = CANONICAL_FOCAL,
    centred: bool = False,
) -> TrainingSample:
    """Metric3D's training transform: canonical label, random resize ``r``, random crop/pad
    (``centred``: the resized image is centred on the canvas as at inference, so the principal
    point stays at the canvas centre - what CoordConv channels assume).

    ``base_scale`` (default: the fit-resize factor, ``"image"``: ``f_c / fx``) times a random
    ``r`` in ``resize_range`` is the resize; labels then hold ``D * f_c / (fx * base * r)``
    (the canonical label of step 1 times the ``1 / r`` of step 2). ``variant=None`` trains
    *without* the canonical transform (labels stay metric) - the ablation baseline.
    Canvas pixels outside the image get the mean colour and label -1.
    """
    if variant not in ("label", "image", None):
        raise See3DError(f"unknown canonical variant {variant!r} (use 'label', 'image' or None)")
    img = check_image(image, intr)
    d = np.asarray(depth, dtype=np.float32)
    if d.shape != img.shape[:2]:
        raise See3DError(f"depth map is {d.shape[1]}x{d.shape[0]} but the image is {img.shape[1]}x{img.shape[0]}")
    if base_scale is None:
        base_scale = canonical_focal / intr.fx if variant == "image" else fit_scale(intr.height, intr.width, net_hw)
    r = float(rng.uniform(*resize_range)) if resize_range is not None else 1.0
    s = base_scale * r
    rh, rw = max(1, int(intr.height * s)), max(1, int(intr.width * s))
    offset = None if centred else (_random_offset(net_hw[0], rh, rng), _random_offset(net_hw[1], rw, rng))
    p = make_placement(intr, net_hw, s, offset, canonical_focal)
    canvas = place_array(img, p, IMAGENET_MEAN)
    d = np.where(np.isfinite(d) & (d > 0), d, INVALID_LABEL).astype(np.float32)
    lab = place_array(d, p, INVALID_LABEL, nearest=True)
    if variant is not None:
        # one formula for both variants: in "image" the focal seen is f_c * r, so only 1/r remains
        lab = to_canonical(lab, p.focal_seen, canonical_focal)
    return TrainingSample(normalize_image(canvas), torch.from_numpy(np.ascontiguousarray(lab)), p)


def _random_offset(net: int, size: int, rng: np.random.Generator) -> int:
    """Top/left offset: random crop when the image is larger, random pad when it is smaller."""
    if size >= net:
        return -int(rng.integers(0, size - net + 1))
    return int(rng.integers(0, net - size + 1))
