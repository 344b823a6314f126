"""One clip through every filter (:func:`analyse_clip`), one input through every step
(:func:`process_input`): decode -> shots -> clips -> quality -> semantic -> static -> dynamic ->
small viewpoint -> kept clips as WebDataset samples.

:func:`process_input` is the unit of work of both engines (a local process pool and Ray tasks):
a pure function of ``(index, path, config)`` that never raises for a bad input (it is reported),
and returns everything the driver writes. The same input gives the same bytes on any engine.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from see3d.curate.config import CurateConfig
from see3d.curate.decode import DecodeError, DecodeStats, iter_frames_folder, iter_video
from see3d.curate.dynamic import dynamic_check
from see3d.curate.flow import make_flow
from see3d.curate.quality import quality_check
from see3d.curate.result import StepResult, clean
from see3d.curate.semantic import make_detector, semantic_check
from see3d.curate.shots import ShotDetector, halve_to, split_clips
from see3d.curate.static import edge_check, flow_check
from see3d.curate.viewpoint import viewpoint_check

#: order in which the filters run (and in which the report lists them)
STEPS = ("quality", "semantic", "static", "dynamic", "viewpoint")


@dataclass
class ClipVerdict:
    keep: bool
    reason: str | None
    detail: str
    steps: dict[str, StepResult]
    seconds: dict[str, float] = field(default_factory=dict)

    def scores(self) -> dict:
        """Every step's scores and decision (``None`` for a step that did not run)."""
        return {s: (self.steps[s].to_dict() if s in self.steps else None) for s in STEPS}


def _resize_short(img: np.ndarray, short: int) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) <= short:
        return img
    k = short / min(h, w)
    return cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def clip_flows(greys: Sequence[np.ndarray], flow, pairs: Sequence[int], backward: bool = False) -> tuple[list, list | None]:
    """Forward flows of the pairs ``(i, i + 1)`` for ``i`` in ``pairs`` (and the backward ones)."""
    fwd = [flow(greys[i], greys[i + 1]) for i in pairs]
    bwd = [flow(greys[i + 1], greys[i]) for i in pairs] if backward else None
    return fwd, bwd


def analyse_clip(
    rgbs: Sequence[np.ndarray],
    cfg: CurateConfig = CurateConfig(),
    flow=None,
    detector=None,
    seed: int = 0,
    pair_step: int | None = None,
) -> ClipVerdict:
    """Run the filters on one clip of RGB uint8 frames (the analysis size) and decide.

    Filters run in :data:`STEPS` order and stop at the first that drops the clip, unless
    ``cfg.all_scores``. ``flow``: a flow backend (default :func:`make_flow(cfg.flow)`);
    ``detector``: a semantic detector or ``None`` (step off). ``seed`` fixes the random draws
    (correspondences, circle hypotheses); ``pair_step`` overrides ``cfg.pair_step`` (1 for photo
    walks: few frames, large steps between them). Flow, the dynamic filter and the tracks work at
    ``cfg.flow_size`` (240 px: the size the public scripts worked at for 720p-1080p sources);
    quality at the analysis size."""
    flow = flow if flow is not None else make_flow(cfg.flow)
    rng = np.random.default_rng(seed)
    steps: dict[str, StepResult] = {}
    secs: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        secs[name] = secs.get(name, 0.0) + now - t
        t = now

    def first_drop() -> StepResult | None:
        return next((steps[s] for s in STEPS if s in steps and steps[s].drop), None)

    def go_on() -> bool:
        return cfg.all_scores or first_drop() is None

    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgbs]
    steps["quality"] = quality_check(greys, cfg)
    lap("quality")
    if go_on() and len(greys) >= 2:
        steps["semantic"] = semantic_check(rgbs, detector, cfg)
        lap("semantic")
    fg: list[np.ndarray] | None = None
    if go_on() and len(greys) >= 2:
        fg = [_resize_short(g, cfg.flow_size) for g in greys]
        lap("resize")
        steps["static"] = edge_check(fg, cfg)
        lap("static")
    if go_on() and fg is not None:
        to_ref = cfg.ref_size / min(fg[0].shape[:2])
        pairs = list(range(0, len(fg) - 1, cfg.pair_step if pair_step is None else pair_step))
        early = [i for i in pairs if i < cfg.static_frames - 1] or pairs[:1]
        fwd, bwd = clip_flows(fg, flow, early, backward=cfg.fb_check)
        lap("flow")
        steps["static"] = flow_check(fwd, to_ref, cfg, steps["static"])
        lap("static")
        if go_on():
            f2, b2 = clip_flows(fg, flow, pairs[len(early) :], backward=cfg.fb_check)
            fwd += f2
            if bwd is not None:
                bwd += b2
            lap("flow")
            steps["dynamic"] = dynamic_check(fwd, bwd, to_ref, cfg, rng, [(fg[i], fg[i + 1]) for i in pairs])
            lap("dynamic")
        if go_on():
            steps["viewpoint"] = viewpoint_check(fg, cfg, rng)
            lap("viewpoint")
    drop = first_drop()
    if drop is not None:
        return ClipVerdict(False, drop.reason, f"{drop.step}: {drop.detail}", steps, secs)
    if "viewpoint" not in steps:  # fewer than 2 frames: quality already dropped it
        return ClipVerdict(False, "too_few_frames", "quality: too few frames", steps, secs)
    return ClipVerdict(True, None, "kept: " + "; ".join(f"{s}: {steps[s].detail}" for s in ("static", "dynamic", "viewpoint")), steps, secs)


# ----------------------------------------------------------------------------------------------
# one input


@dataclass
class InputResult:
    """What :func:`process_input` hands back to the driver (picklable, engine-independent)."""

    index: int
    source: str
    records: list[dict]  #: report lines: one per clip, then one for the input
    samples: list[tuple[str, dict[str, bytes]]]  #: kept clips as WebDataset samples (key, {ext: bytes})
    thumbs: dict[str, bytes]  #: key -> JPEG thumbnail strip
    stats: dict


def input_uid(source: str) -> str:
    """12 hex digits naming an input (from its path as given to the run)."""
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "little")


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def thumbnail_strip(rgbs: Sequence[np.ndarray], n: int = 6, height: int = 64) -> np.ndarray:
    """``n`` evenly spaced frames side by side, ``height`` pixels high."""
    idx = np.linspace(0, len(rgbs) - 1, min(n, len(rgbs))).round().astype(int)
    tiles = []
    for i in idx:
        small = halve_to(rgbs[i], height)  # 2x reductions first: a direct one costs ~10x more
        h, w = small.shape[:2]
        tiles.append(cv2.resize(small, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA))
    return np.hstack(tiles)


def process_input(index: int, source: str, cfg: CurateConfig = CurateConfig(), threads: int = 1, write: bool = True) -> InputResult:
    """Curate one input (a video file or a folder of ordered frames). Never raises for bad data:
    an unreadable input becomes a report line with ``decision: drop``.

    ``write=False``: decide only; kept clips are not encoded (no samples, no thumbnails; the
    benchmark's filter-stack rate).

    ``threads``: OpenCV and decoder threads (1 in pool workers: parallelism is over inputs)."""
    cv2.setNumThreads(int(threads))
    t_start, c_start = time.perf_counter(), time.process_time()
    uid = input_uid(source)
    path = Path(source)
    stats = DecodeStats()
    records: list[dict] = []
    samples: list[tuple[str, dict[str, bytes]]] = []
    thumbs: dict[str, bytes] = {}
    secs = {"decode": 0.0, "filters": 0.0, "write": 0.0}
    base = {"input": index, "source": source}
    drop_reason = error = None
    n_clips = 0
    try:
        flow = make_flow(cfg.flow)
        detector = make_detector(cfg.semantic)
        if path.is_dir():
            frames = iter_frames_folder(path, cfg.analysis_size, cfg.folder_stride, stats=stats)
        else:
            frames = iter_video(path, cfg.analysis_size, cfg.stride, cfg.max_seconds, stats, threads=threads)
        frames = _timed(frames, secs, "decode")
        cut = cfg.shot_threshold if (not path.is_dir() or cfg.folder_shots) else 0.0
        shots = ShotDetector(cut, cfg.shot_min_frames, (stats.fps or 30.0) / cfg.stride)
        for clip in split_clips(frames, shots, cfg.clip_frames, cfg.min_clip_frames):
            t0 = time.perf_counter()
            key = f"{uid}_{clip.shot:04d}_{clip.index:03d}"
            clip.frames = trim_black(clip.frames, cfg.black_luma)
            rgbs = [f.rgb for f in clip.frames]
            v = analyse_clip(rgbs, cfg, flow, detector, seed=_seed(key), pair_step=1 if stats.kind == "frames" else None)
            n_clips += 1
            t1 = time.perf_counter()
            secs["filters"] += t1 - t0
            unit = "s" if stats.kind == "video" else "frame"
            rec = {
                "type": "clip", **base, "clip": key, "shot": clip.shot, "index": clip.index,
                "start": clean(clip.frames[0].time), "end": clean(clip.frames[-1].time), "time_unit": unit,
                "frames": len(clip), "decision": "keep" if v.keep else "drop", "reason": v.reason, "detail": v.detail,
                "scores": v.scores(), "seconds": clean(v.seconds, 4),
            }  # fmt: skip
            records.append(rec)
            if v.keep and write:
                samples.append((key, _sample(key, rec, clip.frames, stats, cfg)))
                thumbs[key] = encode_jpeg(thumbnail_strip(rgbs, cfg.thumb_frames, cfg.thumb_height), 85)
            secs["write"] += time.perf_counter() - t1
    except DecodeError as e:
        drop_reason, error = "unreadable", str(e)
    except Exception as e:  # noqa: BLE001 - one broken input must never stop a run
        drop_reason, error = "error", f"{type(e).__name__}: {e}"
        tb = traceback.format_exc(limit=-3)
        stats.notes.append(tb.strip().splitlines()[-3] if tb else "")
    if drop_reason is None and n_clips == 0:
        drop_reason, error = "no_clips", "no frames to analyse"
    kept = sum(r["decision"] == "keep" for r in records)
    wall, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    info = {
        "type": "input", **base, "kind": stats.kind, "decision": "drop" if drop_reason else "ok", "reason": drop_reason,
        "error": error, "frames_decoded": stats.decoded, "frames_analysed": stats.analysed, "clips": n_clips, "kept": kept,
        "bad_packets": stats.bad_packets, "truncated": stats.truncated, "fps": clean(stats.fps),
        "source_size": list(stats.source_size) if stats.source_size else None, "size": list(stats.size) if stats.size else None,
        "semantic": "on" if cfg.semantic else "off", "notes": stats.notes[:5],
        "seconds": clean({**secs, "wall": wall, "cpu": cpu}, 4),
    }  # fmt: skip
    records.append(info)
    return InputResult(index, source, records, samples, thumbs, {"wall": wall, "cpu": cpu, **secs, "analysed": stats.analysed, "decoded": stats.decoded})


def trim_black(frames: list, black_luma: float) -> list:
    """``frames`` without the black ones at its start and end (a video opening on a black frame,
    a fade to black before a cut): such a frame is no view of the scene, and as the first frame
    of a clip it leaves the tracks nothing to follow, so a clip of a camera that barely moves
    would pass the small-viewpoint filter. An all-black clip is left whole (quality drops it)."""

    def dark(f) -> bool:
        r, g, b = cv2.mean(f.rgb)[:3]
        return 0.299 * r + 0.587 * g + 0.114 * b < black_luma

    lo, hi = 0, len(frames)
    while lo < hi and dark(frames[lo]):
        lo += 1
    while hi > lo and dark(frames[hi - 1]):
        hi -= 1
    return frames[lo:hi] if hi > lo else frames


def _timed(it, secs: dict, name: str):
    """Pass an iterator through, adding the time spent inside it to ``secs[name]``."""
    it = iter(it)
    while True:
        t = time.perf_counter()
        try:
            x = next(it)
        except StopIteration:
            secs[name] += time.perf_counter() - t
            return
        secs[name] += time.perf_counter() - t
        yield x


def _sample(key: str, rec: dict, frames, stats: DecodeStats, cfg: CurateConfig) -> dict[str, bytes]:
    """A kept clip as a WebDataset sample: ``000.jpg`` ... and ``json``."""
    out: dict[str, bytes] = {}
    size = None
    for i, f in enumerate(frames):
        rgb = _resize_short(f.rgb, cfg.output_size)
        size = [rgb.shape[1], rgb.shape[0]]
        out[f"{i:03d}.jpg"] = encode_jpeg(rgb, cfg.jpeg_quality)
    meta = {
        "key": key, "source": rec["source"], "shot": rec["shot"], "index": rec["index"],
        "start": rec["start"], "end": rec["end"], "time_unit": rec["time_unit"], "frames": len(frames),
        "source_frames": [int(f.source_index) for f in frames], "size": size,
        "names": [f.name for f in frames] if stats.kind == "frames" else None,
        "fps": clean(stats.fps), "stride": cfg.stride if stats.kind == "video" else cfg.folder_stride,
        "scores": rec["scores"], "config": cfg.digest(),
    }  # fmt: skip
    out["json"] = json.dumps(meta, sort_keys=True).encode()
    return out
