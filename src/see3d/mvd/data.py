"""Training samples for the multi-view diffusion model: pose-free clips -> (views, references, conditions).

Clip sources:

* ``synth`` (or ``synth:room,objects``): :func:`see3d.synth.render_clip` clips rendered on the fly.
  Their depth and cameras are used only to *build the condition* (a real depth warp of the
  references into each target, with disparity noise and invalid-depth blobs, as real captures
  have); the network never sees poses or depth.
* a folder: clips as sub-folders of frames, video files, or ``.npz`` shards (``rgb`` or ``frames``
  ``[N, H, W, 3]``; optional ``depth [N, H, W]``, ``K [3, 3]``, ``poses [N, 4, 4]``).

Every sample is generated from ``numpy.random.default_rng([seed, step, rank, index])`` so training
is reproducible and resumable without saving any data-loader state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from see3d.errors import See3DError
from see3d.mvd.condition import make_mask, sample_references

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass
class Clip:
    rgb: np.ndarray  #: [N, H, W, 3] float32 in [0, 1]
    depth: np.ndarray | None = None  #: [N, H, W] metres (inf = sky)
    K: np.ndarray | None = None  #: [3, 3]
    poses: np.ndarray | None = None  #: [N, 4, 4] OpenCV camera-to-world


@dataclass
class Sample:
    x0: np.ndarray  #: [F, H, W, 3] the views (float [0, 1])
    cond: np.ndarray  #: [F, H, W, 3] condition images (known pixels; holes 0)
    masks: np.ndarray  #: [F, H, W] 1 = known (references all 1)
    ref: np.ndarray  #: [F] bool


class SynthSource:
    """Clips from :func:`see3d.synth.render_clip` (a pool of ``pool`` scenes, rendered lazily)."""

    def __init__(self, size: int, frames: int = 8, kinds: tuple[str, ...] = ("room", "objects", "street"), pool: int = 100000, seed_offset: int = 0):
        self.size, self.frames, self.kinds, self.pool, self.seed_offset = size, frames, tuple(kinds), pool, seed_offset

    def draw(self, rng: np.random.Generator) -> Clip:
        for _ in range(20):  # a few scenes have no collision-free camera path: draw another
            i = int(rng.integers(0, self.pool))
            try:
                return self._render(i)
            except See3DError:
                continue
        raise See3DError("synth: could not render a training clip in 20 tries")

    @lru_cache(maxsize=64)
    def _render(self, i: int) -> Clip:
        from see3d.synth import render_clip

        kind = self.kinds[i % len(self.kinds)]
        c = render_clip(seed=self.seed_offset + i, frames=self.frames, size=self.size, kind=kind)
        return Clip(c.rgb.astype(np.float32), c.depth.astype(np.float32), c.intrinsics.K, c.poses)


class FolderSource:
    """Clips from a folder (sub-folders of frames, videos, ``.npz`` shards), resized to ``size``."""

    def __init__(self, root: str | Path, size: int, max_frames: int = 64):
        self.root = Path(root)
        if not self.root.is_dir():
            raise See3DError(f"training data folder not found: {self.root}")
        items = []
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and (p.suffix.lower() in VIDEO_SUFFIXES or p.suffix == ".npz"):
                items.append(p)
            elif p.is_dir() and any(q.suffix.lower() in (".png", ".jpg", ".jpeg") for q in p.iterdir()):
                items.append(p)
        if not items:
            raise See3DError(f"no clips in {self.root} (expected sub-folders of frames, videos or .npz shards)")
        self.items, self.size, self.max_frames = items, size, max_frames

    def draw(self, rng: np.random.Generator) -> Clip:
        return self._load(int(rng.integers(0, len(self.items))))

    @lru_cache(maxsize=32)
    def _load(self, i: int) -> Clip:
        p = self.items[i]
        depth = K = poses = None
        if p.suffix == ".npz":
            with np.load(p) as z:
                key = "rgb" if "rgb" in z else "frames" if "frames" in z else None
                if key is None:
                    raise See3DError(f"shard {p.name} has no 'rgb' or 'frames' array")
                frames = list(z[key][: self.max_frames])
                if "depth" in z and "K" in z and "poses" in z:
                    depth, K, poses = z["depth"][: self.max_frames], z["K"], z["poses"][: self.max_frames]
        elif p.is_dir():
            from see3d.io import list_images, load_image

            frames = [load_image(f) for f in list_images(p)[: self.max_frames]]
        else:
            from see3d.io import read_video

            frames, _ = read_video(p, max_frames=self.max_frames)
        if len(frames) < 2:
            raise See3DError(f"clip {p.name} has fewer than 2 frames")
        rgb = np.stack([_square(np.asarray(f), self.size) for f in frames])
        if depth is not None:
            h, w = np.asarray(frames[0]).shape[:2]
            s = self.size / min(h, w)
            depth = np.stack([_square(d, self.size, nearest=True) for d in depth])
            K = np.asarray(K, np.float64).copy()
            K[:2] *= s
            K[0, 2] -= (w * s - self.size) / 2
            K[1, 2] -= (h * s - self.size) / 2
        return Clip(rgb.astype(np.float32), depth, K, poses)


def _square(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Centre-crop to a square and resize to ``size`` (uint8 -> float [0, 1])."""
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = img[y0 : y0 + s, x0 : x0 + s]
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    return out.astype(np.float32) / 255.0 if img.dtype == np.uint8 else out.astype(np.float32)


def make_source(data: str, size: int, frames: int = 8, seed_offset: int = 0, seed: int = 0, rank: int = 0):
    """``synth``, ``synth:<kind,...>``, a ``see3d curate`` dataset (its WebDataset shards, streamed
    and shuffled per ``(seed, rank)``: :class:`see3d.curate.shards.CuratedClips`) or a folder path."""
    if data == "synth" or data.startswith("synth:"):
        kinds = tuple(data.split(":", 1)[1].split(",")) if ":" in data else ("room", "objects", "street")
        return SynthSource(size, frames=frames, kinds=kinds, seed_offset=seed_offset)
    root = Path(data)
    if (root / "curate.json").is_file() or (root.is_dir() and any(root.glob("*.tar"))):
        from see3d.curate.shards import CuratedClips

        return CuratedClips(root, size, seed=seed, rank=rank)
    return FolderSource(data, size)


def _noisy_depth(depth: np.ndarray, rng: np.random.Generator, disp_noise: float, blobs: bool) -> np.ndarray:
    """Depth as a monocular model would give it: smooth relative disparity error + invalid blobs."""
    h, w = depth.shape
    d = depth.copy()
    if disp_noise > 0:
        low = rng.normal(0, 1, (4, 4)).astype(np.float32)
        field = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
        finite = np.isfinite(d)
        d[finite] = d[finite] / np.maximum(1.0 + disp_noise * field[finite], 0.2)
    if blobs and rng.random() < 0.5:
        yy, xx = np.ogrid[0:h, 0:w]
        for _ in range(int(rng.integers(1, 4))):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.08) * min(h, w)
            d[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 0.0  # invalid: not splatted
    return d


def _jitter(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Slight brightness / colour change (views of a real capture differ in exposure and white balance)."""
    if amount <= 0:
        return img
    gain = 1.0 + rng.uniform(-amount, amount) + rng.uniform(-amount / 2, amount / 2, 3)
    return np.clip(img * gain.astype(np.float32), 0.0, 1.0)


def make_sample(
    source,
    rng: np.random.Generator,
    views: int,
    refs: tuple[int, int] = (1, 2),
    mask_kind: str = "mixed",
    p_warp: float = 0.7,
    jitter: float = 0.05,
    disp_noise: float = 0.03,
    index: int = 0,
) -> Sample:
    """One training sample: ``views`` frames of a clip (shuffled), S references, a condition per target.

    Targets get, with probability ``p_warp`` when the clip has geometry, the real forward warp of the
    references with a noisy depth (holes = what the warp leaves); otherwise a random mask
    (``mask_kind``) on the target itself, as in the paper. ``index``: the sample's position in
    the run, for sources that stream (``positional``); the others draw the clip from ``rng``.
    """
    clip = source.draw(rng, index) if getattr(source, "positional", False) else source.draw(rng)
    n = clip.rgb.shape[0]
    if n < views:
        raise See3DError(f"clip has {n} frames, fewer than the {views} views a sample needs")
    idx = rng.choice(n, size=views, replace=False)  # an unordered set: no frame order reaches the model
    x0 = clip.rgb[idx]
    ref = sample_references(rng, views, *refs)
    h, w = x0.shape[1:3]
    cond = np.zeros_like(x0)
    masks = np.ones((views, h, w), np.float32)
    geo = clip.depth is not None and clip.poses is not None and clip.K is not None
    r_idx = np.nonzero(ref)[0]
    for j in range(views):
        if ref[j]:
            cond[j] = x0[j]
            continue
        if geo and rng.random() < p_warp:
            from see3d.warp import warp_views

            src = idx[r_idx]
            dep = np.stack([_noisy_depth(clip.depth[s], rng, disp_noise, True) for s in src])
            rgb_src = np.stack([_jitter(clip.rgb[s], rng, jitter) for s in src])
            res = warp_views(rgb_src, dep, clip.K, clip.poses[src], clip.K, clip.poses[idx[j]], w, h)
            m = np.asarray(res.mask[0], np.float32)
            if m.mean() > 0.98:  # barely any hole: add a stroke so the sample teaches something
                m = m * make_mask("strokes", h, w, rng)
            cond[j] = np.asarray(res.rgb[0], np.float32) * m[..., None]
            masks[j] = m
        else:
            m = make_mask(mask_kind, h, w, rng, depth=None)
            cond[j] = _jitter(x0[j], rng, jitter) * m[..., None]
            masks[j] = m
    return Sample(x0.astype(np.float32), cond.astype(np.float32), masks, ref)
