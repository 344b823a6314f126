"""Reading curated shards for training: a streamed, shuffled, resumable clip source.

``see3d train mvd --data DATASET/`` reads ``DATASET/shards/*.tar`` (or any folder of WebDataset
tars whose samples hold ``NNN.jpg`` frames) through :class:`CuratedClips`:

* **streamed**: shards are read sequentially as tar streams (nothing is extracted or indexed;
  the same bytes ``webdataset.WebDataset`` reads);
* **shuffled** in two levels, as WebDataset does: every epoch visits the shards in a new order,
  and the clips inside each window of ``buffer`` consecutive clips of that stream in a new order;
* **deterministic per (seed, step, rank)**: sample ``index`` of rank ``r`` is a pure function of
  ``(seed, r, index)`` (epoch, shard order and window permutation are all computed from it), so a
  resumed run draws exactly the clips an uninterrupted one would, without saving loader state.
  Each rank streams its own shuffled order of all shards.

Only the window being read is held in memory, decoded at the training size (uint8).
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from see3d.errors import See3DError


@dataclass
class _Shard:
    path: Path
    clips: int


def list_shards(root: str | Path) -> list[_Shard]:
    """Shards of a curated dataset (from its manifest) or of a plain folder of ``.tar`` files."""
    root = Path(root)
    man = root / "manifest.jsonl"
    shards: list[_Shard] = []
    if man.is_file():
        for line in man.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break
            if rec.get("file") and rec.get("clips"):
                shards.append(_Shard(root / rec["file"], int(rec["clips"])))
    else:
        folder = root / "shards" if (root / "shards").is_dir() else root
        for p in sorted(folder.glob("*.tar")):
            n = len(_keys(p))
            if n:
                shards.append(_Shard(p, n))
    return shards


def _keys(path: Path) -> list[str]:
    keys: list[str] = []
    with tarfile.open(path, "r|") as tf:
        for m in tf:
            k = m.name.split("/")[-1].split(".", 1)[0]
            if not keys or keys[-1] != k:
                keys.append(k)
    return keys


def iter_samples(path: Path):
    """``(key, {ext: bytes})`` of a WebDataset tar, streamed in file order."""
    cur, files = None, {}
    with tarfile.open(path, "r|") as tf:
        for m in tf:
            if not m.isfile():
                continue
            base = m.name.split("/")[-1]
            key, _, ext = base.partition(".")
            if cur is not None and key != cur:
                yield cur, files
                files = {}
            cur = key
            files[ext] = tf.extractfile(m).read()
    if cur is not None:
        yield cur, files


def _square(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return cv2.resize(rgb[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)


def decode_clip(files: dict[str, bytes], size: int, max_frames: int = 64) -> np.ndarray:
    """The frames of one sample as uint8 ``[N, size, size, 3]`` (centre square, resized)."""
    names = sorted(k for k in files if k.endswith(".jpg") and k.split(".")[0].isdigit())[:max_frames]
    out = []
    for n in names:
        bgr = cv2.imdecode(np.frombuffer(files[n], np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise See3DError(f"undecodable frame {n} in a training shard")
        out.append(_square(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


class CuratedClips:
    """Clip source for :func:`see3d.mvd.data.make_sample` over curated WebDataset shards.

    ``draw(rng, index)`` returns the clip of stream position ``index`` (the trainer passes
    ``step * batch + b``); ``rng`` is not used for the choice (the stream is positional).
    """

    positional = True

    def __init__(self, root: str | Path, size: int, seed: int = 0, rank: int = 0, buffer: int = 64, max_frames: int = 64):
        self.root = Path(root)
        self.shards = list_shards(self.root)
        if not self.shards:
            raise See3DError(f"no curated clips in {self.root} (no shards with kept clips)")
        self.size, self.seed, self.rank, self.max_frames = int(size), int(seed), int(rank), int(max_frames)
        self.total = sum(s.clips for s in self.shards)
        self.buffer = max(1, min(int(buffer), self.total))
        self._window: tuple[int, int] | None = None  # (epoch, window index) held in _clips
        self._clips: dict[int, np.ndarray] = {}
        self._stream = None  # (epoch, next stream position, iterator over (shard order pos, samples))
        self.keys_read: list[str] = []  # keys in the order they were read (tests)

    # ---------------------------------------------------------------- positions
    def order(self, epoch: int) -> np.ndarray:
        """Shard order of an epoch for this rank."""
        return np.random.default_rng([self.seed, self.rank, epoch, 1]).permutation(len(self.shards))

    def locate(self, index: int) -> tuple[int, int, int]:
        """``(epoch, window, position in the epoch's stream)`` of sample ``index``."""
        epoch, off = divmod(int(index), self.total)
        w, j = divmod(off, self.buffer)
        start = w * self.buffer
        n = min(self.buffer, self.total - start)
        perm = np.random.default_rng([self.seed, self.rank, epoch, 2, w]).permutation(n)
        return epoch, w, start + int(perm[j])

    # ---------------------------------------------------------------- streaming
    def _samples(self, epoch: int, start: int):
        """Stream the epoch's clips from stream position ``start`` on: ``(position, key, files)``."""
        pos = 0
        for k in self.order(epoch):
            sh = self.shards[k]
            if pos + sh.clips <= start:
                pos += sh.clips  # the whole shard is before start: skipped without reading it
                continue
            for key, files in iter_samples(sh.path):
                if pos >= start:
                    yield pos, key, files
                pos += 1

    def _load_window(self, epoch: int, w: int) -> None:
        start = w * self.buffer
        stop = min(start + self.buffer, self.total)
        if self._stream is None or self._stream[0] != epoch or self._stream[1] != start:
            self._stream = [epoch, start, self._samples(epoch, start)]
        self._clips = {}
        it = self._stream[2]
        while self._stream[1] < stop:
            pos, key, files = next(it)
            self._clips[pos] = decode_clip(files, self.size, self.max_frames)
            self.keys_read.append(key)
            self._stream[1] = pos + 1
        self._window = (epoch, w)

    def draw(self, rng: np.random.Generator | None = None, index: int = 0):
        from see3d.mvd.data import Clip

        epoch, w, pos = self.locate(index)
        if self._window != (epoch, w):
            self._load_window(epoch, w)
        rgb = self._clips[pos]
        return Clip(rgb.astype(np.float32) / 255.0)
