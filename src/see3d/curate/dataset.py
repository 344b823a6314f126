"""The curated dataset folder: resumable, idempotent, written by one driver process.

Layout of ``DATASET/``::

    curate.json          marker: settings, their digest, the ordered list of inputs
    manifest.jsonl       one line per closed shard: inputs [first, last], clips, report size
    shards/shard-000000.tar ...   WebDataset shards of kept clips (000.jpg, 001.jpg, ..., json)
    report.jsonl         one line per clip and per input (scores, decision, reason)
    summary.md           counts per reason, throughput, a thumbnail strip per kept clip
    thumbs/KEY.jpg       the strips
    parts/00000012.tar|.jsonl     results of finished inputs not yet packed into a shard

How a kill -9 is survived: a worker's result for input ``i`` is written to ``parts/i.tar`` and
then ``parts/i.jsonl`` (each under a temporary name, renamed); the ``.jsonl`` marks ``i`` done.
Parts are packed into shards strictly in input order: a shard is written under a temporary
name, renamed, and only then recorded in ``manifest.jsonl`` (with the size ``report.jsonl`` has
at that point) and its parts deleted. A run that starts again truncates ``report.jsonl`` to the
last recorded size, removes temporaries, and re-packs from the parts that remain, so every kept
clip ends in exactly one shard, whatever the engine and the order in which inputs finished (the
shards are byte-identical to an uninterrupted run's).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from see3d.curate.config import CurateConfig
from see3d.curate.pipeline import InputResult
from see3d.errors import See3DError

MARKER = "curate.json"
FORMAT = 1


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    """A member header that depends only on the name and size (byte-identical shards)."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = size, 0, 0o644, 0, 0, "", ""
    return ti


def samples_to_tar(samples: list[tuple[str, dict[str, bytes]]]) -> bytes:
    """WebDataset tar bytes of ``(key, {ext: bytes})`` samples (members ``key.ext``, in order)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for key, files in samples:
            for ext, data in files.items():
                tf.addfile(_tarinfo(f"{key}.{ext}", len(data)), io.BytesIO(data))
    return buf.getvalue()


def is_dataset(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


@dataclass
class PackState:
    packed: int = 0  #: inputs [0, packed) are in closed shards
    next_shard: int = 0
    report_bytes: int = 0


class CurateDataset:
    """Open (or create) ``root`` for a run with ``cfg`` over ``inputs`` (absolute paths)."""

    def __init__(self, root: str | Path, cfg: CurateConfig, inputs: list[str]):
        self.root = Path(root)
        self.cfg = cfg
        if self.root.exists() and not self.root.is_dir():
            raise See3DError(f"output {self.root} is a file; -o takes a folder")
        if self.root.is_dir() and any(self.root.iterdir()) and not is_dataset(self.root):
            raise See3DError(f"output {self.root} is a non-empty folder that is not a curate dataset; choose a new or empty folder")
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("shards", "parts", "thumbs"):
            (self.root / sub).mkdir(exist_ok=True)
        marker = self.root / MARKER
        if marker.is_file():
            try:
                meta = json.loads(marker.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise See3DError(f"{marker} is unreadable ({e}); this is not a dataset see3d can resume") from None
            if meta.get("digest") != cfg.digest():
                old = CurateConfig.from_dict(meta["config"]).to_dict() if "config" in meta else {}
                diff = [k for k, v in cfg.to_dict().items() if old.get(k) != v]
                raise See3DError(f"{self.root} was curated with other settings ({', '.join(diff) or 'unknown'}); use a new folder")
            known = list(meta.get("inputs", []))
        else:
            known = []
        seen = set(known)
        self.new_inputs = [s for s in inputs if s not in seen]
        self.inputs = known + self.new_inputs
        self.meta = {"see3d_curate": FORMAT, "digest": cfg.digest(), "config": cfg.to_dict(), "inputs": self.inputs}
        if self.new_inputs or not marker.is_file():
            _atomic_write(marker, json.dumps(self.meta, indent=1).encode())
        self.state = self._recover()
        self._open_shard: list[int] = []  # inputs in the shard being filled
        self._open_bytes = 0
        self._open_clips = 0
        self._open_tar: tarfile.TarFile | None = None
        self._open_tmp: Path | None = None

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> PackState:
        st = PackState()
        man = self.root / "manifest.jsonl"
        if man.is_file():
            good = []
            for line in man.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break  # a torn last line (killed mid-write): everything after it is redone
                good.append(line)
                st.packed, st.next_shard, st.report_bytes = rec["last"] + 1, rec["shard"] + 1, rec["report_bytes"]
            _atomic_write(man, "".join(g + "\n" for g in good).encode())
        rep = self.root / "report.jsonl"
        if rep.is_file() and rep.stat().st_size != st.report_bytes:
            with open(rep, "r+b") as fh:
                fh.truncate(st.report_bytes)
        elif not rep.is_file():
            rep.write_bytes(b"")
        for d in ("shards", "parts", "thumbs"):
            for p in (self.root / d).iterdir():
                if p.name.startswith("."):  # temporaries of a killed run
                    p.unlink(missing_ok=True)
        for p in (self.root / "shards").glob("shard-*.tar"):
            if int(p.stem.split("-")[1]) >= st.next_shard:
                p.unlink()  # renamed but never recorded: it is rebuilt from its parts
        for p in (self.root / "parts").iterdir():
            if p.stem.isdigit() and int(p.stem) < st.packed:
                p.unlink()  # packed before the kill, deletion not finished
        return st

    # ------------------------------------------------------------------ parts
    def _part(self, i: int, ext: str) -> Path:
        return self.root / "parts" / f"{i:08d}.{ext}"

    def is_done(self, i: int) -> bool:
        return i < self.state.packed or self._part(i, "jsonl").is_file()

    def todo(self) -> list[int]:
        return [i for i in range(self.state.packed, len(self.inputs)) if not self._part(i, "jsonl").is_file()]

    def add(self, res: InputResult) -> None:
        """Store one input's result (any order), then pack what has become contiguous."""
        i = res.index
        if self.is_done(i):
            return
        for key, jpg in res.thumbs.items():
            _atomic_write(self.root / "thumbs" / f"{key}.jpg", jpg)
        _atomic_write(self._part(i, "tar"), samples_to_tar(res.samples))
        _atomic_write(self._part(i, "jsonl"), "".join(json.dumps(r, sort_keys=True) + "\n" for r in res.records).encode())
        self.pack()

    # ------------------------------------------------------------------ packing
    def pack(self, final: bool = False) -> None:
        """Move finished parts, in input order, into shards; ``final`` closes the last one."""
        nxt = self.state.packed + len(self._open_shard)
        while nxt < len(self.inputs) and self._part(nxt, "jsonl").is_file():
            self._append(nxt)
            nxt += 1
            if self._open_bytes >= self.cfg.shard_bytes:
                self._close()
        if final and nxt == len(self.inputs) and self._open_shard:
            self._close()

    def _append(self, i: int) -> None:
        if self._open_tar is None:
            self._open_tmp = self.root / "shards" / f".shard-{self.state.next_shard:06d}.tar.tmp-{os.getpid()}"
            self._open_tar = tarfile.open(self._open_tmp, "w", format=tarfile.USTAR_FORMAT)
        assert self._open_tar is not None
        with tarfile.open(self._part(i, "tar"), "r") as src:
            keys = set()
            for m in src:
                data = src.extractfile(m).read()
                self._open_tar.addfile(_tarinfo(m.name, len(data)), io.BytesIO(data))
                self._open_bytes += len(data) + 512
                keys.add(m.name.split(".", 1)[0])
        self._open_clips += len(keys)
        with open(self.root / "report.jsonl", "ab") as fh:
            fh.write(self._part(i, "jsonl").read_bytes())
        self._open_shard.append(i)

    def _close(self) -> None:
        assert self._open_tar is not None and self._open_tmp is not None
        self._open_tar.close()
        k = self.state.next_shard
        name = None
        if self._open_clips:
            with open(self._open_tmp, "rb") as fh:
                os.fsync(fh.fileno())
            name = f"shards/shard-{k:06d}.tar"
            os.replace(self._open_tmp, self.root / name)
        else:
            self._open_tmp.unlink(missing_ok=True)
        rep = (self.root / "report.jsonl").stat().st_size
        first, last = self._open_shard[0], self._open_shard[-1]
        line = {"shard": k, "file": name, "first": first, "last": last, "clips": self._open_clips, "report_bytes": rep}
        with open(self.root / "manifest.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        for i in self._open_shard:
            self._part(i, "tar").unlink(missing_ok=True)
            self._part(i, "jsonl").unlink(missing_ok=True)
        self.state = PackState(last + 1, k + 1, rep)
        self._open_shard, self._open_bytes, self._open_clips = [], 0, 0
        self._open_tar = self._open_tmp = None

    def abandon(self) -> None:
        """Drop the shard being filled (an interrupted run; the parts stay for the next one)."""
        if self._open_tar is not None:
            self._open_tar.close()
            self._open_tmp.unlink(missing_ok=True)
        self._open_tar = self._open_tmp = None
        self._open_shard, self._open_bytes, self._open_clips = [], 0, 0
        rep = self.root / "report.jsonl"
        with open(rep, "r+b") as fh:
            fh.truncate(self.state.report_bytes)

    @property
    def complete(self) -> bool:
        return self.state.packed == len(self.inputs)

    def shards(self) -> list[Path]:
        return sorted((self.root / "shards").glob("shard-*.tar"))

    # ------------------------------------------------------------------ summary
    def write_summary(self, run: dict | None = None, max_thumbs: int = 500) -> dict:
        """Write ``summary.md`` from ``report.jsonl``; returns the counts."""
        recs = [json.loads(ln) for ln in (self.root / "report.jsonl").read_text().splitlines() if ln.strip()]
        clips = [r for r in recs if r["type"] == "clip"]
        ins = [r for r in recs if r["type"] == "input"]
        kept = [r for r in clips if r["decision"] == "keep"]
        reasons = Counter(r["reason"] for r in clips if r["decision"] == "drop")
        in_drop = Counter(r["reason"] for r in ins if r["decision"] == "drop")
        frames = sum(r["frames_analysed"] for r in ins)
        cpu = sum(r["seconds"]["cpu"] for r in ins)
        dec = sum(r["seconds"]["decode"] for r in ins)
        flt = sum(r["seconds"]["filters"] for r in ins)
        semantic = sorted({r.get("semantic", "off") for r in ins}) or ["off"]
        lines = [
            "# Curation summary",
            "",
            f"Inputs: {len(ins)} of {len(self.inputs)} processed ({sum(r['decision'] == 'drop' for r in ins)} unusable); "
            f"clips: {len(clips)}, kept **{len(kept)}** ({len(kept) / max(1, len(clips)):.0%}), dropped {len(clips) - len(kept)}. "
            f"Shards: {len(self.shards())}. Settings digest `{self.cfg.digest()}`.",
            f"Semantic filter: {', '.join(semantic)}" + (" (no detector given: people/animals are not checked)" if semantic == ["off"] else "") + ".",
            "",
            "| decision | reason | clips |",
            "|---|---|---|",
            f"| keep | | {len(kept)} |",
        ]
        lines += [f"| drop | {k} | {v} |" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])]
        if in_drop:
            lines += ["", "| unusable input | reason | inputs |", "|---|---|---|"]
            lines += [f"| drop | {k} | {v} |" for k, v in sorted(in_drop.items(), key=lambda kv: -kv[1])]
        lines += [
            "",
            "## Throughput",
            "",
            f"Frames analysed: {frames}; CPU time {cpu:.1f} s (decode {dec:.1f} s wall, filters {flt:.1f} s wall): "
            f"**{frames / cpu if cpu > 0 else 0:.1f} frames per CPU-second**.",
        ]
        if run:
            lines.append(
                f"This run: {run['inputs']} input(s) with {run['workers']} worker(s) on engine `{run['engine']}`, "
                f"{run['wall']:.1f} s wall ({run['frames'] / run['wall'] if run['wall'] > 0 else 0:.1f} frames/s)."
            )
        lines += ["", "## Kept clips", ""]
        for r in kept[:max_thumbs]:
            if r["time_unit"] == "s":
                span = f"{r['start']:.1f}-{r['end']:.1f} s"
            else:  # a photo walk: image numbers
                span = f"images {int(r['start'])}-{int(r['end'])}"
            lines.append(f"- `{r['clip']}` {Path(r['source']).name}, {span}, {r['frames']} frames")
            lines.append(f"  ![{r['clip']}](thumbs/{r['clip']}.jpg)")
        if len(kept) > max_thumbs:
            lines.append(f"- ... and {len(kept) - max_thumbs} more (thumbs/)")
        _atomic_write(self.root / "summary.md", ("\n".join(lines) + "\n").encode())
        return {"inputs": len(ins), "clips": len(clips), "kept": len(kept), "reasons": dict(reasons), "unusable": dict(in_drop),
                "frames": frames, "cpu": cpu, "shards": len(self.shards()), "time": time.time()}  # fmt: skip
