"""One interface for every metric depth backend.

``backend.predict(image, intrinsics) -> DepthPrediction`` with ``depth [H, W]`` in metres
(camera z) for the given image and, where the model has one, a ``confidence [H, W]``.
Backends are chosen by name or path with :func:`load_backend`:

* ``"tiny"`` - the bundled canonical-space network (``see3d/assets/depth_tiny.safetensors``),
* a folder holding ``config.json`` + ``model.safetensors`` of that network,
* ``"metric3d-onnx:PATH"``, a ``.onnx`` file or a folder of them (``onnx/model.onnx``) - Metric3D ONNX exports,
* ``"hf:DIR"`` or a folder with a transformers ``config.json`` - Hugging Face depth models,
* ``"file:PATH"`` or a ``.npy`` / 16-bit ``.png`` file - a given depth map,
* the name of a published model that ``see3d weights get NAME`` downloaded (``see3d weights
  list``), with the registry's facts (training camera, input convention) as arguments,
* ``"auto"`` - the best downloaded published model, else ``tiny`` with a warning
  (:func:`see3d.weights.resolve_depth`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from see3d.camera.intrinsics import Intrinsics
from see3d.errors import See3DError

#: Focal length assumed when the caller gives no intrinsics (Metric3D's default), in pixels.
DEFAULT_FOCAL = 1000.0


@dataclass
class DepthPrediction:
    """Metric depth of one image."""

    depth: np.ndarray  #: float32 [H, W] metres, 0 = invalid
    confidence: np.ndarray | None = None  #: float32 [H, W] in [0, 1] (higher = more reliable), if any
    canonical: np.ndarray | None = None  #: network output before the de-canonical step, if any


@runtime_checkable
class DepthBackend(Protocol):
    """``predict(image uint8 [H, W, 3], intrinsics) -> DepthPrediction`` (metres)."""

    name: str

    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction: ...


def default_intrinsics(width: int, height: int, focal: float = DEFAULT_FOCAL) -> Intrinsics:
    """Square pixels, centred principal point, ``focal`` px (Metric3D's no-intrinsics default)."""
    return Intrinsics(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def _is_hf_dir(path: Path) -> bool:
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "model_type" in data and data.get("see3d_model") != "tiny_depth"


def _is_onnx_dir(path: Path) -> bool:
    """A folder of Metric3D ONNX exports: ``*.onnx`` or ``onnx/*.onnx``, no PyTorch weights, and a
    ``config.json``, if any, whose ``model_type`` names metric3d (as the onnx-community ones do)."""
    if any(f for pat in ("*.safetensors", "*.bin", "*.pth") for f in path.glob(pat)):
        return False
    if not (any(path.glob("*.onnx")) or any(path.glob("onnx/*.onnx"))):
        return False
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False
        if isinstance(data, dict) and "model_type" in data:
            return "metric3d" in str(data["model_type"]).lower()
    return True


def _is_published_name(name: str) -> bool:
    from see3d.weights.registry import is_registered

    return is_registered(name)


def load_backend(spec: str | Path, **kwargs) -> DepthBackend:
    """Build a backend from a name or path (see the module docstring).

    Keyword arguments go to the backend's constructor (e.g. ``device``, ``input_size``,
    ``training_focal``).
    """
    s = str(spec)
    if s == "auto" or (not Path(s).exists() and _is_published_name(s)):
        import warnings

        from see3d.weights import resolve_depth

        choice = resolve_depth(s)
        if choice.warning:
            warnings.warn(choice.warning, stacklevel=2)
        backend = load_backend(choice.spec, **{**choice.kwargs, **kwargs})
        backend.model_record = choice.record
        return backend
    if ":" in s and s.split(":", 1)[0] in ("tiny", "metric3d-onnx", "onnx", "hf", "file"):
        kind, arg = s.split(":", 1)
    elif s == "tiny":
        kind, arg = "tiny", ""
    else:
        p = Path(s)
        if not p.exists():
            raise See3DError(
                f"unknown depth model {s!r}: use 'auto', 'tiny', a published model name (see3d weights list), "
                "'metric3d-onnx:FILE.onnx', 'hf:DIR', 'file:DEPTH.npy' or an existing path"
            )
        if p.is_file() and p.suffix.lower() == ".onnx":
            kind, arg = "metric3d-onnx", s
        elif p.is_file() and p.suffix.lower() in (".npy", ".png", ".tif", ".tiff"):
            kind, arg = "file", s
        elif p.is_dir():
            if _is_onnx_dir(p):  # e.g. an onnx-community repository: onnx/model.onnx (+ a config.json)
                kind, arg = "metric3d-onnx", s
            elif (p / "config.json").is_file() and not _is_hf_dir(p):
                kind, arg = "tiny", s
            elif (p / "config.json").is_file():
                kind, arg = "hf", s
            else:
                raise See3DError(f"model folder {p} has no config.json")
        else:
            raise See3DError(f"cannot tell which depth backend reads {p} (expected .onnx, .npy, .png or a model folder)")
    if kind == "tiny":
        from see3d.depth.tiny import TinyDepthBackend

        return TinyDepthBackend.load(arg or None, **kwargs)
    if kind in ("metric3d-onnx", "onnx"):
        from see3d.depth.onnx import Metric3DOnnxBackend

        return Metric3DOnnxBackend(arg, **kwargs)
    if kind == "hf":
        from see3d.depth.hf import HFDepthBackend

        return HFDepthBackend(arg, **kwargs)
    from see3d.depth.file import FileDepthBackend

    return FileDepthBackend(arg, **kwargs)


def predict_metric_depth(image: np.ndarray, intrinsics: Intrinsics | None, model: str | Path | DepthBackend = "tiny") -> np.ndarray:
    """Metric depth ``float32 [H, W]`` of ``image`` (assumes ``fx = fy = 1000`` when ``intrinsics`` is None)."""
    backend = model if isinstance(model, DepthBackend) else load_backend(model)
    if intrinsics is None:
        intrinsics = default_intrinsics(image.shape[1], image.shape[0])
    return backend.predict(image, intrinsics).depth
