"""Optional semantic filter: drop clips where people or animals dominate (REFERENCE.md section 4,
step 2; public ``s1_downsample.py`` counts Mask R-CNN person detections with score > 0.5 in the
first 21 frames and drops the video above 10).

Off by default: see3d ships no detector weights and downloads none. ``semantic="onnx:PATH"``
loads a detector from a local file, with the contract of torchvision's detection models
exported to ONNX: input ``[1, 3, H, W]`` float32 RGB in [0, 1]; outputs ``boxes [N, 4]``,
``labels [N]`` (COCO category ids: 1 = person, 16-25 = animals), ``scores [N]`` (the first
three outputs, in that order). Any Python callable ``detector(rgb) -> (boxes, labels, scores)``
can be passed to :func:`semantic_check` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.result import StepResult
from see3d.errors import See3DError

#: COCO category ids (torchvision numbering) that make a clip "dynamic by content"
PERSON = 1
ANIMALS = tuple(range(16, 26))  # bird cat dog horse sheep cow elephant bear zebra giraffe
LIVING = (PERSON, *ANIMALS)

Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


class OnnxDetector:
    """A detector from a local ONNX file (torchvision detection export contract)."""

    def __init__(self, path: str | Path, max_side: int = 640):
        path = Path(path)
        if not path.is_file():
            raise See3DError(f"detector model not found: {path}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise See3DError("the semantic filter needs onnxruntime: pip install 'see3d[onnx]'") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise See3DError(f"cannot load detector {path.name}: {str(e).splitlines()[0]}") from None
        self._input = self._sess.get_inputs()[0].name
        self.max_side = max_side

    def __call__(self, rgb: np.ndarray):
        import cv2

        h, w = rgb.shape[:2]
        k = min(1.0, self.max_side / max(h, w))
        img = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1 else rgb
        x = np.ascontiguousarray(img.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
        out = self._sess.run(None, {self._input: x})
        if len(out) < 3:
            raise See3DError(f"detector must return boxes, labels, scores; it returned {len(out)} output(s)")
        boxes, labels, scores = (np.asarray(o) for o in out[:3])
        return boxes.reshape(-1, 4) / k, labels.reshape(-1), scores.reshape(-1)


def make_detector(spec: str | None) -> Detector | None:
    if spec is None:
        return None
    if spec.startswith("onnx:"):
        return OnnxDetector(spec[5:])
    raise See3DError(f"unknown detector {spec!r}: use onnx:PATH")


def semantic_check(frames: Sequence[np.ndarray], detector: Detector | None, cfg: CurateConfig = CurateConfig()) -> StepResult:
    """Count person / animal detections (score > ``semantic_score``) in the first
    ``semantic_frames`` RGB frames; drop above ``semantic_max``. ``detector=None``: the step is
    off and says so."""
    if detector is None:
        return StepResult("semantic", {"off": True}, detail="off (no detector given)")
    count, area = 0, []
    for rgb in frames[: cfg.semantic_frames]:
        boxes, labels, scores = detector(rgb)
        keep = (np.asarray(scores) > cfg.semantic_score) & np.isin(np.asarray(labels).astype(int), LIVING)
        count += int(keep.sum())
        h, w = rgb.shape[:2]
        b = np.asarray(boxes, np.float64).reshape(-1, 4)[keep]
        cover = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in b:
            cover[max(0, int(y0)) : max(0, int(np.ceil(y1))), max(0, int(x0)) : max(0, int(np.ceil(x1)))] = True
        area.append(float(cover.mean()))
    r = StepResult("semantic", {"off": False, "detections": count, "mean_area": float(np.mean(area)) if area else 0.0})
    if count > cfg.semantic_max:
        r.drop, r.reason = True, "semantic"
        r.detail = f"{count} person/animal detections in the first {min(len(frames), cfg.semantic_frames)} frames > {cfg.semantic_max}"
    else:
        r.detail = f"{count} person/animal detections"
    return r
