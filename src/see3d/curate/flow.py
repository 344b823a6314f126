"""Dense optical flow for the static and dynamic filters.

``dis`` (default): OpenCV's DIS flow on grey images (preset ``fast``; ``dis:ultrafast``,
``dis:medium`` choose another), ~1-3 ms per 427 x 240 pair on one core.
``onnx:PATH``: a learned flow model from local weights run with onnxruntime (RAFT-style
contract: inputs ``image1``, ``image2`` ``[1, 3, H, W]`` float32 RGB in 0-255 (the first two
inputs, whatever their names), last output the flow ``[1, 2, H, W]`` in pixels; H and W are
padded to a multiple of 8). Nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from see3d.errors import See3DError


class DISFlow:
    """OpenCV DIS optical flow (``preset``: ``ultrafast`` | ``fast`` | ``medium``)."""

    name = "dis"

    def __init__(self, preset: str = "fast"):
        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}  # fmt: skip
        if preset not in presets:
            raise See3DError(f"DIS preset must be one of {', '.join(presets)}, got {preset!r}")
        self._dis = cv2.DISOpticalFlow_create(presets[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow ``[H, W, 2]`` (float32 pixels) from image ``a`` to ``b`` (uint8 grey or RGB)."""
        return self._dis.calc(_grey(a), _grey(b), None)


class OnnxFlow:
    """A learned flow model (e.g. RAFT exported to ONNX) from a local file."""

    name = "onnx"

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise See3DError(f"flow model not found: {path}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise See3DError("the onnx flow backend needs onnxruntime: pip install 'see3d[onnx]'") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise See3DError(f"cannot load flow model {path.name}: {str(e).splitlines()[0]}") from None
        ins = self._sess.get_inputs()
        if len(ins) < 2:
            raise See3DError(f"flow model {path.name} must take two images, it has {len(ins)} input(s)")
        self._inputs = [ins[0].name, ins[1].name]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        ph, pw = (-h) % 8, (-w) % 8

        def prep(x: np.ndarray) -> np.ndarray:
            x = _rgb(x).astype(np.float32)
            if ph or pw:
                x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge")
            return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

        out = self._sess.run(None, {self._inputs[0]: prep(a), self._inputs[1]: prep(b)})[-1]
        out = np.asarray(out, np.float32)
        if out.ndim != 4 or out.shape[:2] != (1, 2):
            raise See3DError(f"flow model output must be [1, 2, H, W], got {list(out.shape)}")
        return np.ascontiguousarray(out[0, :, :h, :w].transpose(1, 2, 0))


def make_flow(spec: str = "dis"):
    """The flow backend named by ``spec`` (``dis``, ``dis:fast``, ``onnx:PATH``)."""
    if spec == "dis" or spec.startswith("dis:"):
        return DISFlow(spec.split(":", 1)[1] if ":" in spec else "fast")
    if spec.startswith("onnx:"):
        return OnnxFlow(spec[5:])
    raise See3DError(f"unknown flow backend {spec!r}: use dis or onnx:PATH")


def _grey(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 2 else cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)


def _rgb(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_GRAY2RGB) if x.ndim == 2 else x


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


def flow_map(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x + u, y + v)`` as two float32 maps for ``cv2.remap``."""
    gx, gy = _grid(*flow.shape[:2])
    return gx + flow[..., 0], gy + flow[..., 1]


def warp_back(field: np.ndarray, flow: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``field`` (defined on image b) sampled at ``x + flow(x)`` for every pixel x of image a."""
    mx, my = maps if maps is not None else flow_map(flow)
    return cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def fb_consistent(fwd: np.ndarray, bwd: np.ndarray, alpha: float = 0.5, beta: float = 0.5, maps=None, fwd_mag: np.ndarray | None = None) -> np.ndarray:
    """Pixels of image a whose forward flow is undone by the backward flow (published test:
    ``|f + b(x + f)| < alpha (|f| + |b(x + f)|) + beta``, published alpha = beta = 0.5).
    ``fwd_mag``: ``|f|`` when the caller has it already."""
    mx, my = maps if maps is not None else flow_map(fwd)
    fu, fv = cv2.split(fwd)
    bu, bv = cv2.split(bwd)
    bu = cv2.remap(bu, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bv = cv2.remap(bv, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = cv2.magnitude(fu + bu, fv + bv)
    fm = fwd_mag if fwd_mag is not None else cv2.magnitude(fu, fv)
    return err < alpha * (fm + cv2.magnitude(bu, bv)) + beta
