"""``metric3d-onnx``: Metric3D ONNX exports run with onnxruntime, fed exactly as the published code feeds them.

The published exports output *canonical* depth (focal 1000 px) for a padded, fit-resized
canvas; turning that into metres needs the focal length of the canvas (``fx * s``), which
many users forget. The canvas is made by :func:`see3d.camera.canonical.prepare_canvas`: 8-bit
resize, padding with the rounded mean (124, 116, 104), so the network input is bit for bit the
one of Metric3D's ``hubconf.py``.

Two input conventions exist; which one a graph wants is decided from the files beside the model
and from the graph itself (:func:`input_convention`), never from the input name alone:

* **raw** RGB 0-255 floats ``[1, 3, H, W]``, normalised *inside* the graph: the official export
  (Metric3D's ``onnx/metric3d_onnx_export.py``, input ``image``, fixed 616 x 1064) and the
  onnx-community exports (input ``pixel_values``, dynamic size, outputs ``predicted_depth``,
  ``predicted_normal``, ``normal_confidence``; their ``preprocessor_config.json`` says
  ``do_rescale: false, do_normalize: false`` and transformers.js feeds raw 0-255). Normalising
  again for such a graph is off by 49-68 %.
* **normalised**: ``(rgb - mean) / std`` with the ImageNet mean/std in 0-255 units, for graphs
  without the normalisation inside.

Order of evidence: the ``normalized=`` argument; ``preprocessor_config.json`` next to the file
(or one folder up when the file is in ``onnx/``, the Hugging Face layout); the graph (a ``Sub``
of the ImageNet mean in 0-255 units applied to the input means "raw"); last, the input name
(``image`` / ``input``: raw; ``pixel_values``: normalised, the transformers default). When the
config and the graph disagree the model is refused with a message naming both.

Output: the first output whose name contains ``depth`` (else the first output), shape
``[1, 1, H, W]``, ``[1, H, W]`` or ``[H, W]``; an output whose name contains ``conf`` (and not
``normal``: ``normal_confidence`` belongs to the normals) is returned as confidence. A fixed input
size is read from the graph; a dynamic one uses ``input_size`` (default: the ViT size 616 x 1064).
A folder is accepted: its ``onnx/model.onnx``, ``model.onnx``, or its one ``.onnx`` file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from see3d.camera import canonical as cano
from see3d.camera.intrinsics import Intrinsics
from see3d.depth.base import DepthPrediction
from see3d.errors import See3DError

#: Input names and whether that export expects normalised pixels (the last resort of :func:`input_convention`).
INPUT_CONVENTIONS = {"image": False, "input": False, "pixel_values": True}
#: File names tried, in order, when the model is given as a folder.
FOLDER_CANDIDATES = ("onnx/model.onnx", "model.onnx")
PREPROCESSOR_CONFIG = "preprocessor_config.json"


def resolve_model_file(path: str | Path) -> Path:
    """The ``.onnx`` file of ``path`` (a file, or a folder: ``onnx/model.onnx``, ``model.onnx``, its one ``.onnx``)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise See3DError(f"ONNX model not found: {path}")
    for c in FOLDER_CANDIDATES:
        if (path / c).is_file():
            return path / c
    found = sorted(path.glob("*.onnx")) + sorted(path.glob("onnx/*.onnx"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise See3DError(f"no .onnx file in {path} (looked for {', '.join(FOLDER_CANDIDATES)} and *.onnx)")
    names = ", ".join(str(f.relative_to(path)) for f in found)
    raise See3DError(f"{path} holds several ONNX files ({names}); name the one to run")


def find_preprocessor_config(model_file: Path) -> Path | None:
    """``preprocessor_config.json`` beside ``model_file``, or one folder up when it lives in ``onnx/``."""
    here = model_file.parent / PREPROCESSOR_CONFIG
    if here.is_file():
        return here
    up = model_file.parent.parent / PREPROCESSOR_CONFIG
    if model_file.parent.name == "onnx" and up.is_file():
        return up
    return None


def convention_from_preprocessor(cfg_file: Path) -> bool:
    """Whether a ``preprocessor_config.json`` makes normalised inputs (True) or raw 0-255 ones (False).

    ``do_rescale`` and ``do_normalize`` default to true, as in transformers' image processors.
    Only the two conventions Metric3D graphs can take are accepted: both false (raw 0-255) or
    rescale by 1/255 and normalise with the ImageNet mean/std (the same as normalising in 0-255).
    """
    import json

    try:
        d = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise See3DError(f"cannot read {cfg_file}: {e}") from None
    if not isinstance(d, dict):
        raise See3DError(f"{cfg_file} is not a JSON object")
    rescale, normalize = bool(d.get("do_rescale", True)), bool(d.get("do_normalize", True))
    if not rescale and not normalize:
        return False
    if rescale and normalize:
        factor = float(d.get("rescale_factor", 1.0 / 255.0))
        mean, std = d.get("image_mean"), d.get("image_std")
        want_mean = [m / 255.0 for m in cano.IMAGENET_MEAN]
        want_std = [v / 255.0 for v in cano.IMAGENET_STD]
        if (
            abs(factor * 255.0 - 1.0) < 1e-6
            and isinstance(mean, list) and isinstance(std, list) and len(mean) == 3 and len(std) == 3
            and np.allclose(mean, want_mean, atol=1e-3) and np.allclose(std, want_std, atol=1e-3)
        ):
            return True
    raise See3DError(
        f"{cfg_file}: preprocessing do_rescale={rescale}, do_normalize={normalize} "
        f"(rescale_factor={d.get('rescale_factor')}, image_mean={d.get('image_mean')}, image_std={d.get('image_std')}) "
        "is neither raw 0-255 nor ImageNet-normalised; pass normalized=True/False"
    )


def graph_normalizes_input(model_file: Path, input_name: str) -> bool | None:
    """True when the graph subtracts the ImageNet mean (0-255 units) from its input itself; None when
    that cannot be told (no ``onnx`` package, or no such ``Sub``: the graph may still normalise
    some other way, so absence is not evidence)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception:
        return None
    g = model.graph
    consts: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL and int(np.prod(t.dims)) <= 16:
            consts[t.name] = numpy_helper.to_array(t)
    for n in g.node:
        if n.op_type == "Constant":
            for at in n.attribute:
                if at.name == "value" and int(np.prod(at.t.dims)) <= 16:
                    consts[n.output[0]] = numpy_helper.to_array(at.t)
    # follow the input through shape-preserving casts (e.g. a float16 model's Cast)
    names = {input_name}
    for n in g.node:
        if n.op_type in ("Cast", "Identity") and n.input and n.input[0] in names:
            names.update(n.output)
    mean = np.asarray(cano.IMAGENET_MEAN)
    for n in g.node:
        if n.op_type == "Sub" and len(n.input) == 2 and n.input[0] in names and n.input[1] in consts:
            c = np.asarray(consts[n.input[1]], dtype=np.float64).ravel()
            if c.size == 3 and np.allclose(c, mean, atol=1e-2):
                return True
    return None


def input_convention(model_file: Path, input_name: str) -> tuple[bool, str]:
    """``(normalized, evidence)``: whether the graph wants ImageNet-normalised input, and from what.

    See the module docstring for the order of evidence.
    """
    cfg = find_preprocessor_config(model_file)
    from_cfg = convention_from_preprocessor(cfg) if cfg is not None else None
    in_graph = graph_normalizes_input(model_file, input_name)
    if from_cfg is True and in_graph:
        raise See3DError(
            f"ONNX model {model_file.name}: {cfg.name} asks for normalised input but the graph normalises "
            "its input itself (subtracts the ImageNet mean); pass normalized=True/False to say which holds"
        )
    if from_cfg is not None:
        return from_cfg, f"{cfg.name} (do_rescale/do_normalize {'true' if from_cfg else 'false'})"
    if in_graph:
        return False, "graph (normalises its input: Sub of the ImageNet mean)"
    if input_name not in INPUT_CONVENTIONS:
        raise See3DError(
            f"ONNX model {model_file.name}: unexpected input name {input_name!r} (known: "
            f"{', '.join(INPUT_CONVENTIONS)}), no {PREPROCESSOR_CONFIG} beside it and no normalisation "
            "found in the graph; pass normalized=True/False to say how it reads pixels"
        )
    return INPUT_CONVENTIONS[input_name], f"input name {input_name!r}"


class Metric3DOnnxBackend:
    """Run a Metric3D ONNX export on CPU (onnxruntime) and return metric depth.

    Attributes after loading: ``normalized`` (the input convention), ``convention_source`` (the
    evidence it came from), ``input_size``, ``dynamic``, ``depth_output``, ``conf_output``, ``path``.
    """

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
        path = resolve_model_file(path)
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
        if inp.type not in ("tensor(float)", "tensor(float16)", "tensor(double)"):
            raise See3DError(f"ONNX model {path.name}: input {inp.name!r} is {inp.type}; expected a float tensor")
        self.input_dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}[inp.type]
        if normalized is None:
            normalized, source = input_convention(path, inp.name)
        else:
            source = "argument normalized="
        self.normalized = bool(normalized)
        self.convention_source = source
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
        conf = [o.name for o in outs if "conf" in o.name.lower() and "normal" not in o.name.lower()]
        self.conf_output = conf[0] if conf else None
        self.canonical_focal = canonical_focal
        self.max_depth = max_depth
        self.path = path

    def network_input(self, image: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, cano.Placement]:
        """The array fed to the graph ``[1, 3, H, W]`` (raw 0-255 or normalised, per :attr:`normalized`) and its placement."""
        canvas, p = cano.prepare_canvas(image, intrinsics, self.input_size, "label", self.canonical_focal)
        if self.normalized:
            x = cano.normalize_image(canvas)[None].numpy()
        else:  # what Metric3D's onnx/test_onnx.py feeds: the padded uint8 canvas as float, CHW
            x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        return np.ascontiguousarray(x, dtype=self.input_dtype), p

    def run_canvas(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the graph on a network input made by :meth:`network_input`; returns ``(depth, confidence)`` maps ``[H, W]``."""
        names = [self.depth_output] + ([self.conf_output] if self.conf_output else [])
        try:
            res = self.session.run(names, {self.input_name: np.ascontiguousarray(x, dtype=self.input_dtype)})
        except Exception as e:
            raise See3DError(f"ONNX model {self.path.name} failed to run: {str(e).splitlines()[0][:200]}") from None
        depth = _as_map(res[0], self.input_size, self.path.name, "depth")
        conf = _as_map(res[1], self.input_size, self.path.name, "confidence") if self.conf_output else None
        return depth, conf

    def predict(self, image: np.ndarray, intrinsics: Intrinsics) -> DepthPrediction:
        x, p = self.network_input(image, intrinsics)
        d_c, conf = self.run_canvas(x)
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
