"""Curation throughput: frames analysed per second per core at 480p, decode alone and the full
filter stack, in the same run.

    OMP_NUM_THREADS=1 python benchmarks/curate.py [--frames 240] [--video PATH ...] [--json out.json]

Inputs: a synthetic 854 x 480 video of a camera walking through a static room (rendered once
into a cache folder; every filter runs on it and 3 of its 4 clips are kept), encoded twice with
H.264: CRF 23 (x264's default, ~0.9 Mbit/s: about what video sites serve at 480p) and CRF 18
(~2.3 Mbit/s with the rendered sensor noise: a high bitrate, which costs the decoder more); and
``vtest.avi`` from the shared data when present (a real 768 x 576 MPEG-4 video, analysed at
640 x 480).

Per input, one process, one thread (OpenCV and the decoder):

* ``decode``: PyAV decode + every 2nd frame converted to RGB at 480p (what the pipeline reads);
* ``filters``: :func:`see3d.curate.process_input` with ``all_scores=True`` (every filter on every
  clip, no early exit: the worst case), decode and shots included, kept clips not encoded;
* ``+ writing``: the same, and the kept clips encoded as they are in a run (JPEG frames and
  thumbnails);
* ``default``: a run's cost on this input (default early exit, kept clips encoded).

Rates are analysed frames per CPU-second of the process (``time.process_time``), so a shared,
loaded machine changes them less than wall time would; wall time is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SEE3D_SHARED_DATA", ROOT.parent / "shared" / "data"))


def synthetic_videos(cache: Path, frames: int, crfs=(23, 18)) -> list[Path]:
    """A static room seen by a walking camera, 854 x 480, 30 fps, one H.264 file per CRF."""
    paths = [cache / f"room_walk_854x480_{frames}_crf{crf}.mp4" for crf in crfs]
    if all(p.is_file() for p in paths):
        return paths
    from see3d.curate.synthetic import camera_clip, write_clip_video

    cache.mkdir(parents=True, exist_ok=True)
    rgb = camera_clip("translate", seed=0, frames=frames, size=(480, 854), noise=1.0)
    for crf, p in zip(crfs, paths):
        write_clip_video(p, rgb, fps=30.0, crf=crf)
    return paths


def bench_decode(path: Path, size: int = 480, stride: int = 2) -> dict:
    from see3d.curate.decode import DecodeStats, iter_video

    st = DecodeStats()
    t, c = time.perf_counter(), time.process_time()
    n = sum(1 for _ in iter_video(path, size, stride, stats=st, threads=1))
    return {"frames": n, "decoded": st.decoded, "cpu": time.process_time() - c, "wall": time.perf_counter() - t, "size": st.size, "fps": st.fps}


def bench_stack(path: Path, all_scores: bool, write: bool = True) -> dict:
    from see3d.curate import CurateConfig, process_input

    cfg = CurateConfig(all_scores=all_scores)
    t, c = time.perf_counter(), time.process_time()
    res = process_input(0, str(path), cfg, threads=1, write=write)
    cpu, wall = time.process_time() - c, time.perf_counter() - t
    stages: dict[str, float] = {}
    for r in res.records:
        if r["type"] == "clip":
            for k, v in r["seconds"].items():
                stages[k] = stages.get(k, 0.0) + v
    info = res.records[-1]
    clips = [r for r in res.records if r["type"] == "clip"]
    return {
        "frames": info["frames_analysed"], "cpu": cpu, "wall": wall, "stages_wall": stages,
        "decode_wall": info["seconds"]["decode"], "write_wall": info["seconds"]["write"],
        "clips": len(clips), "kept": sum(r["decision"] == "keep" for r in clips),
        "reasons": sorted({r["reason"] for r in clips if r["reason"]}),
    }  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=240, help="frames of the synthetic video (every 2nd is analysed)")
    ap.add_argument("--video", action="append", default=[], help="more videos to measure")
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "bench_curate"), help="where the synthetic video is kept")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement (the fastest CPU time is kept)")
    ap.add_argument("--json", default=None, help="write the numbers here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    videos = synthetic_videos(Path(args.cache), args.frames)
    if (SHARED / "videos" / "vtest.avi").is_file():
        videos.append(SHARED / "videos" / "vtest.avi")
    videos += [Path(v) for v in args.video]
    out = {"load": os.getloadavg(), "cpu_count": os.cpu_count(), "videos": {}}
    print(f"load average {out['load'][0]:.1f} on {out['cpu_count']} CPUs; rates = analysed frames per CPU-second (1 thread)")
    print(f"{'video':34s} {'frames':>6s} {'decode':>7s} {'filters':>8s} {'+ writing':>10s} {'default':>8s}  (f/s)  filters: wall ms/frame by stage")
    for v in videos:
        bench_stack(v, False)  # warm the file cache, the libraries and the compiled kernels
        # interleaved repeats, the fastest of each kept: a busy machine slows all of them alike
        runs: dict[str, list] = {"decode": [], "filters": [], "writing": [], "default": []}
        for _ in range(args.repeat):
            runs["decode"].append(bench_decode(v))
            runs["filters"].append(bench_stack(v, True, write=False))
            runs["writing"].append(bench_stack(v, True))
            runs["default"].append(bench_stack(v, False))
        best = {k: min(r, key=lambda x: x["cpu"]) for k, r in runs.items()}
        fps = {k: r["frames"] / r["cpu"] for k, r in best.items()}
        filt = best["filters"]
        n = filt["frames"]
        stages = " ".join(f"{k} {1000 * s / n:.2f}" for k, s in sorted(filt["stages_wall"].items())) + f" decode {1000 * filt['decode_wall'] / n:.2f}"
        print(f"{v.name:34s} {n:6d} {fps['decode']:7.0f} {fps['filters']:8.1f} {fps['writing']:10.1f} {fps['default']:8.1f}  {stages}")
        d = best["default"]
        print(f"{'':34s} decoded at {best['decode']['size'][0]}x{best['decode']['size'][1]}, {v.stat().st_size * 8 / 1e6 / max(best['decode']['decoded'] / best['decode']['fps'], 1e-9):.2f} Mbit/s at {best['decode']['fps']:g} fps; "
              f"default run: {d['clips']} clips, {d['kept']} kept, dropped as {d['reasons'] or '-'}")  # fmt: skip
        out["videos"][v.name] = {**best, "fps": fps}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
