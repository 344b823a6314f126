"""``hf``: Hugging Face transformers depth models from a local folder (no download).

Anything ``AutoModelForDepthEstimation`` loads works (Depth Anything V2 metric, ZoeDepth,
DPT, Depth Pro, ...). Pre- and post-processing come from the folder's image processor
(``preprocessor_config.json``; a DPT processor with the model's size is used when absent).

**Focal correction.** A metric model trained on one camera (e.g. NYU: 518.86 px at 640 px
width) reads depth from apparent size *relative to the image width*, because every image
is resized to the network's input. For an image of width ``W`` and focal ``fx`` the
prediction is rescaled by ``(fx / W) / (f_t / W_t)`` - the canonical-camera idea with the
training camera as the canonical one. State the training camera in the model's
``config.json`` as ``"see3d_training_focal": [f_t, W_t]`` or pass ``training_focal=(f_t, W_t)``;
without it no correction is applied (and the backend says so in ``focal_note``).

**Training camera at the network input.** Models trained on crops of images resized to a fixed
shorter side (Depth Anything V2 metric: lower-bound resize to 518 px, 518 x 518 crops) saw the
focal ``f_t * net_short_side / min(W_t, H_t)`` in network pixels. Given ``training_camera =
{focal_px, width, height, net_short_side}`` (the registry states it for the published models, or
``"see3d_training_camera"`` in ``config.json``), the prediction is rescaled by the focal the
network saw for this image (``fx`` times the processor's actual resize factor, the mean of x and
y) over that training focal: exact for any image size, including small images that the
processor enlarges.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from see3d.camera.intrinsics import Intrinsics
from see3d.depth.base import DepthPrediction
from see3d.errors import See3DError


def focal_correction(intr: Intrinsics, training_focal: tuple[float, float] | None) -> float:
    """Depth factor ``(fx / W) / (f_t / W_t)`` for a model trained at focal ``f_t`` on images ``W_t`` wide."""
    if training_focal is None:
        return 1.0
    f_t, w_t = float(training_focal[0]), float(training_focal[1])
    if not (f_t > 0 and w_t > 0):
        raise See3DError(f"training focal must be two positive numbers [focal_px, width_px], got {training_focal}")
    return (intr.fx / intr.width) / (f_t / w_t)


def net_focal_of(camera: dict) -> float:
    """Focal in network pixels during training: ``focal_px * net_short_side / min(width, height)``
    (``net_short_side`` absent: the training images went in at their own size)."""
    try:
        f, w, h = float(camera["focal_px"]), float(camera["width"]), float(camera["height"])
        short = float(camera.get("net_short_side") or min(w, h))
    except (KeyError, TypeError, ValueError):
        raise See3DError(f"training camera must give focal_px, width, height (and net_short_side), got {camera}") from None
    if not (f > 0 and w > 0 and h > 0 and short > 0):
        raise See3DError(f"training camera values must be positive, got {camera}")
    return f * short / min(w, h)


class HFDepthBackend:
    """Wrap a transformers depth-estimation model stored in a local folder."""

    name = "hf"

    def __init__(
        self,
        path: str | Path,
        training_focal: tuple[float, float] | None = None,
        device: str | torch.device = "cpu",
        max_depth: float = 300.0,
        training_camera: dict | None = None,
    ):
        path = Path(path)
        if not path.is_dir():
            raise See3DError(f"Hugging Face model folder not found: {path}")
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise See3DError(f"Hugging Face model folder {path} has no config.json")
        try:
            raw = json.loads(cfg_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise See3DError(f"{cfg_file} is not valid JSON: {e}") from None
        try:
            from transformers import AutoImageProcessor, AutoModelForDepthEstimation
        except ImportError:
            raise See3DError("the hf depth backend needs transformers (pip install transformers)") from None
        if raw.get("depth_estimation_type") == "relative":
            raise See3DError(
                f"model in {path} predicts relative depth (depth_estimation_type=relative), not metres; "
                "use a metric checkpoint"
            )
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(str(path), local_files_only=True, use_safetensors=None)
        except (OSError, ValueError, KeyError) as e:
            raise See3DError(f"cannot load a depth model from {path}: {str(e).splitlines()[0][:200]}") from None
        self.model.to(device).eval()
        self.device = torch.device(device)
        if (path / "preprocessor_config.json").is_file():
            try:
                self.processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
            except (OSError, ValueError, KeyError) as e:
                raise See3DError(f"cannot load the image processor of {path}: {str(e).splitlines()[0][:200]}") from None
        else:
            try:  # the PIL processor needs no torchvision
                from transformers import DPTImageProcessorPil as DPTImageProcessor
            except ImportError:
                from transformers import DPTImageProcessor

            size = int(getattr(getattr(self.model.config, "backbone_config", None), "image_size", 0) or 384)
            self.processor = DPTImageProcessor(size={"height": size, "width": size}, keep_aspect_ratio=True, ensure_multiple_of=14)
        if training_focal is None and "see3d_training_focal" in raw:
            training_focal = tuple(raw["see3d_training_focal"])
        if training_focal is not None and (len(training_focal) != 2):
            raise See3DError(f"see3d_training_focal must be [focal_px, width_px], got {training_focal}")
        self.training_focal = training_focal
        if training_camera is None and isinstance(raw.get("see3d_training_camera"), dict):
            training_camera = raw["see3d_training_camera"]
        self.training_camera = dict(training_camera) if training_camera else None
        self.training_net_focal = net_focal_of(self.training_camera) if self.training_camera else None
        self._net_hw: tuple[int, int] | None = None
        self.max_depth = max_depth
        if self.training_camera:
            c = self.training_camera
            self.focal_note = (
                f"focal correction for a model trained on {c.get('dataset', 'a')} camera "
                f"({c['focal_px']:g} px at {c['width']}x{c['height']}, {self.training_net_focal:.1f} px at the network input)"
            )
        elif training_focal:
            self.focal_note = f"focal correction for a model trained at {training_focal[0]:g} px / {training_focal[1]:g} px width"
        else:
            self.focal_note = "no training focal stated (see3d_training_focal): depth used as the model gives it"
        self.path = path

    @torch.no_grad()
    def raw_depth(self, image: np.ndarray) -> np.ndarray:
        """The model's own depth for ``image`` at the image's size, before any focal correction."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise See3DError(f"expected an RGB image [H, W, 3], got shape {img.shape}")
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        h, w = img.shape[:2]
        inputs = self.processor(images=img, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in inputs:
            self._net_hw = tuple(int(v) for v in inputs["pixel_values"].shape[-2:])
        out = self.model(**inputs)
        post = getattr(self.processor, "post_process_depth_estimation", None)
        depth = None
        if post is not None:
            try:
                depth = post(out, target_sizes=[(h, w)])[0]["predicted_depth"]
            except (TypeError, ValueError, KeyError):
                depth = None
        if depth is None:
            pd = out.predicted_depth
            pd = pd if pd.dim() == 4 else pd[:, None]
            depth = torch.nn.functional.interpolate(pd.float(), size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        return depth.float().cpu().numpy().reshape(h, w)

    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction:
        img = np.asarray(image)
        if (img.shape[0], img.shape[1]) != (intrinsics.height, intrinsics.width):
            raise See3DError(f"image is {img.shape[1]}x{img.shape[0]} but the intrinsics are for {intrinsics.width}x{intrinsics.height}")
        d = self.raw_depth(img)
        if self.training_net_focal is not None and self._net_hw is not None:
            nh, nw = self._net_hw
            seen = 0.5 * (intrinsics.fx * nw / intrinsics.width + intrinsics.fy * nh / intrinsics.height)
            d = d * (seen / self.training_net_focal)
        else:
            d = d * focal_correction(intrinsics, self.training_focal)
        d = np.where(np.isfinite(d) & (d > 0), np.minimum(d, self.max_depth), 0.0).astype(np.float32)
        return DepthPrediction(d)
