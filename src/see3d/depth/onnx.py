"""``metric3d-onnx``: Metric3D ONNX exports run with onnxruntime, with the de-canonical step done right.

The published exports output *canonical* depth (focal 1000 px) for a padded, fit-resized
canvas; turning that into metres needs the focal length of the canvas (``fx * s``), which
many users forget. Two input conventions exist and both are read:

* input ``image`` (the Metric3D repository's ``onnx/metric3d_onnx_export.py``): float RGB
  0-255 ``[1, 3, H, W]``, normalisation inside the graph;
* input ``pixel_values`` (community exports): ImageNet-normalised ``[1, 3, H, W]``.

Output: the first output whose name contains ``depth`` (else the first output), shape
``[1, 1, H, W]``, ``[1, H, W]`` or ``[H, W]``; an output whose name contains ``conf`` is
returned as confidence. A fixed input size is read from the graph; a dynamic one uses
``input_size`` (default: the ViT size 616 x 1064).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from see3d.camera import canonical as cano
from see3d.camera.intrinsics import Intrinsics
from see3d.depth.base import DepthPrediction
from see3d.errors import See3DError

#: Input names and whether that export expects normalised pixels.
INPUT_CONVENTIONS = {"image": False, "input": False, "pixel_values": True}


class Metric3DOnnxBackend:
    """Run a Metric3D ONNX export on CPU (onnxruntime) and return metric depth."""

    name = "metric3d-onnx"

    def __init__(
        self,
        path: str | Path,
        input_size: tuple[int, int] | None = None,
        normalized: bool | None = None,
        canonical_focal: float = cano.CANONICAL_FOCAL,
        max_depth: float = cano.MAX_DEPTH,
        threads: int | None = None,
    ):
        path = Path(path)
        if not path.is_file():
            raise See3DError(f"ONNX model not found: {path}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise See3DError("the metric3d-onnx backend needs onnxruntime (pip install onnxruntime)") from None
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise See3DError(f"cannot load ONNX model {path.name}: {str(e).splitlines()[0][:200]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise See3DError(f"ONNX model {path.name} has {len(inputs)} inputs ({names}); expected one image input [1, 3, H, W]")
        inp = inputs[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise See3DError(f"ONNX model {path.name}: input {inp.name!r} has shape {shape}; expected [1, 3, H, W]")
        if "float" not in inp.type:
            raise See3DError(f"ONNX model {path.name}: input {inp.name!r} is {inp.type}; expected a float tensor")
        if normalized is None:
            if inp.name not in INPUT_CONVENTIONS:
                raise See3DError(
                    f"ONNX model {path.name}: unexpected input name {inp.name!r} (known: "
                    f"{', '.join(INPUT_CONVENTIONS)}); pass normalized=True/False to say how it reads pixels"
                )
            normalized = INPUT_CONVENTIONS[inp.name]
        self.normalized = bool(normalized)
        self.input_name = inp.name
        fixed = all(isinstance(d, int) and d > 0 for d in shape[2:])
        if fixed:
            if input_size is not None and tuple(input_size) != tuple(shape[2:]):
                raise See3DError(f"ONNX model {path.name} has a fixed input {shape[3]}x{shape[2]}; cannot run it at {input_size[1]}x{input_size[0]}")
            self.input_size = (int(shape[2]), int(shape[3]))
        else:
            self.input_size = tuple(input_size) if input_size is not None else cano.VIT_INPUT
        self.dynamic = not fixed
        outs = self.session.get_outputs()
        if not outs:
            raise See3DError(f"ONNX model {path.name} has no outputs")
        depth_outs = [o.name for o in outs if "depth" in o.name.lower()]
        self.depth_output = depth_outs[0] if depth_outs else outs[0].name
        conf = [o.name for o in outs if "conf" in o.name.lower()]
        self.conf_output = conf[0] if conf else None
        self.canonical_focal = canonical_focal
        self.max_depth = max_depth
        self.path = path

    def run_canvas(self, x_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the graph on a normalised canvas ``[1, 3, H, W]``; returns ``(depth, confidence)`` maps ``[H, W]``."""
        x = x_norm if self.normalized else x_norm * np.asarray(cano.IMAGENET_STD, np.float32)[:, None, None] + np.asarray(cano.IMAGENET_MEAN, np.float32)[:, None, None]
        names = [self.depth_output] + ([self.conf_output] if self.conf_output else [])
        try:
            res = self.session.run(names, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        except Exception as e:
            raise See3DError(f"ONNX model {self.path.name} failed to run: {str(e).splitlines()[0][:200]}") from None
        depth = _as_map(res[0], self.input_size, self.path.name, "depth")
        conf = _as_map(res[1], self.input_size, self.path.name, "confidence") if self.conf_output else None
        return depth, conf

    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction:
        x, p = cano.prepare_input(image, intrinsics, self.input_size, "label", self.canonical_focal)
        d_c, conf = self.run_canvas(x.numpy())
        depth = cano.restore_output(d_c, p, self.max_depth)
        c = None
        if conf is not None:
            c = np.clip(cano.unplace(conf, p).numpy(), 0.0, 1.0).astype(np.float32)
        return DepthPrediction(depth, confidence=c, canonical=cano.unplace(d_c, p).numpy())


def _as_map(arr: np.ndarray, hw: tuple[int, int], name: str, what: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.shape != tuple(hw):
        raise See3DError(f"ONNX model {name}: {what} output has shape {np.shape(arr)}; expected [1, 1, {hw[0]}, {hw[1]}]")
    return a
