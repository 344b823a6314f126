"""Published models: a registry (``registry.toml``), the Hugging Face cache, and the default choice.

>>> from see3d import weights                                   # doctest: +SKIP
>>> weights.get("metric3d-vit-small")        # downloads (the only function that does)
>>> weights.path("metric3d-vit-small")       # the verified cached file; error naming the get command
>>> weights.resolve_depth("auto")            # best cached real depth model, else the bundled one

``--depth-model auto`` (the default of ``see3d generate`` and ``see3d depth``) takes the first
cached model of :func:`see3d.weights.registry.depth_auto_order` (``auto_rank`` in the registry):
Metric3D v2 ViT-Large, Depth Pro, Metric3D v2 ViT-Small, then Depth Anything V2 metric Large,
Base, Small (indoor before outdoor at each size). With none cached it uses the bundled ``tiny``
network and warns (:data:`TINY_WARNING`). ``--fill-model auto`` takes the See3D release when it
is cached and PyTorch sees a CUDA GPU, else the bundled ``mvd_small``; naming a release entry
(``--fill-model see3d-single``) forces it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

from see3d.errors import See3DError
from see3d.weights import cache as _cache
from see3d.weights.cache import CacheStatus, hub_cache_dir, offline
from see3d.weights.registry import ModelEntry, depth_auto_order, get_entry, is_registered, registry

#: Printed on every run that falls back to the bundled depth network.
TINY_WARNING = (
    "WARNING: no real depth model is downloaded, so the bundled 'tiny' network runs. It learned from "
    "procedural scenes only: on real KITTI/NYU frames it scores AbsRel 0.75 and delta1 0.01 (a "
    "published Metric3D v2 model: about 0.05-0.09), so a real photo comes out flat and wavy, at the "
    "wrong scale (a room becomes a 0.7-1.5 m box). Fetch a "
    "real model once and it is used from then on: see3d weights get metric3d-vit-small "
    "(151 MB; `see3d weights list` shows the others)"
)

#: Release entries, in the order ``--fill-model auto`` prefers them for one input photo.
RELEASE_ORDER = ("see3d-single", "see3d", "see3d-sparse")


def status(name: str, deep: bool = True) -> CacheStatus:
    """Where the model ``name`` stands in the local cache (no network)."""
    return _cache.status(get_entry(name), deep=deep)


def path(name: str) -> Path:
    """The verified cached file or folder of ``name`` (no network); a one-line error naming
    ``see3d weights get NAME`` when it is missing, partial or damaged."""
    return _cache.resolve(get_entry(name)).path


def get(name: str, progress: bool = True, say=None) -> CacheStatus:
    """Download ``name`` into the Hugging Face cache (resumable, verified)."""
    from see3d.weights.download import fetch

    return fetch(get_entry(name), progress=progress, say=say)


def remove(name: str) -> int:
    """Delete ``name`` from the cache; returns the bytes freed."""
    return _cache.remove(get_entry(name))


def best_cached_depth() -> CacheStatus | None:
    """The first cached (and intact) model of the documented auto order, or None."""
    for e in depth_auto_order():
        st = _cache.status(e)
        if st.ok:
            return st
    return None


# ----------------------------------------------------------------------------- depth
@dataclass
class DepthChoice:
    """What ``--depth-model SPEC`` stands for: a spec :func:`see3d.depth.load_backend` reads,
    keyword arguments for the backend, the run.json record and a warning to print (if any)."""

    spec: str
    kwargs: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    warning: str | None = None


def _backend_class(kind: str):
    if kind == "hf":
        from see3d.depth.hf import HFDepthBackend

        return HFDepthBackend
    if kind == "metric3d-onnx":
        from see3d.depth.onnx import Metric3DOnnxBackend

        return Metric3DOnnxBackend
    return None


def backend_kwargs(entry: ModelEntry) -> dict:
    """Registry facts as backend arguments (those the backend accepts): the training camera of
    a metric model (focal correction) and the entry's ``options``."""
    kw = dict(entry.options)
    if entry.camera:
        kw["training_camera"] = dict(entry.camera)
    cls = _backend_class(entry.backend)
    if cls is None:
        return kw
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return kw
    return {k: v for k, v in kw.items() if k in params}


def resolve_depth(spec: str = "auto") -> DepthChoice:
    """``auto``, a registry name (must be cached), or any other spec (passed through)."""
    s = str(spec)
    if s == "auto":
        st = best_cached_depth()
        if st is None:
            return DepthChoice("tiny", {}, {"name": "tiny", "bundled": True, "note": "learned from procedural scenes only"}, TINY_WARNING)
        return DepthChoice(str(st.path), backend_kwargs(st.entry), {**st.record(), "chosen": "auto"})
    if is_registered(s) and not Path(s).exists():
        e = get_entry(s)
        if e.task != "depth":
            raise See3DError(f"{s} is a {e.task} model, not a depth model")
        st = _cache.resolve(e)
        return DepthChoice(str(st.path), backend_kwargs(e), st.record())
    if s == "tiny":
        return DepthChoice("tiny", {}, {"name": "tiny", "bundled": True})
    return DepthChoice(s, {}, {"name": s})


# ----------------------------------------------------------------------------- fill model
def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install counts as none
        return False


def release_fill_model(root: str | Path) -> str:
    """Hand a See3D release root (the folder with ``unet/``, ``vae/``, ``scheduler/``, ...) to the
    ``--fill mvd`` filler: the value for :attr:`see3d.pipeline.GenerateConfig.fill_model`.

    The release loader reads that folder itself (which UNet variant is present, the scheduler
    config, the CLIP folder); this is the one place that decides what to give it.
    """
    return str(Path(root))


@dataclass
class FillChoice:
    model: str | None  #: GenerateConfig.fill_model (None = the bundled model)
    record: dict
    note: str = ""


def resolve_fill_model(spec: str | None = "auto", cuda: bool | None = None) -> FillChoice:
    """``auto`` (the release when cached and a GPU is present, else bundled), ``bundled``,
    a release entry name (forced, must be cached) or a weights folder."""
    s = "auto" if spec is None else str(spec)
    if s == "bundled":
        return FillChoice(None, {"name": "mvd_small", "bundled": True})
    if s == "auto":
        cached = [st for st in (_cache.status(get_entry(n), deep=False) for n in RELEASE_ORDER) if st.ok]
        gpu = cuda_available() if cuda is None else cuda
        if cached and gpu:
            st = _cache.resolve(cached[0].entry)  # full hash check before it runs
            return FillChoice(release_fill_model(st.path), {**st.record(), "chosen": "auto"}, f"the See3D release ({st.entry.name}) on the GPU")
        why = "no GPU for the See3D release" if cached else "See3D release not downloaded"
        return FillChoice(None, {"name": "mvd_small", "bundled": True, "chosen": "auto"}, f"the bundled mvd_small ({why})")
    if is_registered(s) and not Path(s).exists():
        e = get_entry(s)
        if e.task != "mvd":
            raise See3DError(f"{s} is a {e.task} model, not a multi-view diffusion model")
        st = _cache.resolve(e)
        return FillChoice(release_fill_model(st.path), st.record(), f"the See3D release ({e.name})")
    p = Path(s)
    if not p.exists():
        raise See3DError(f"--fill-model {s}: no such folder and no published model of that name (auto, bundled, {', '.join(RELEASE_ORDER)}, or a folder)")
    return FillChoice(str(p), {"name": str(p), "path": str(p)})


__all__ = [
    "CacheStatus",
    "DepthChoice",
    "FillChoice",
    "ModelEntry",
    "TINY_WARNING",
    "backend_kwargs",
    "best_cached_depth",
    "cuda_available",
    "depth_auto_order",
    "get",
    "get_entry",
    "hub_cache_dir",
    "offline",
    "path",
    "registry",
    "release_fill_model",
    "remove",
    "resolve_depth",
    "resolve_fill_model",
    "status",
]
