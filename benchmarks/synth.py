"""Synthetic clip rendering: numba kernels vs the NumPy reference (same run, one thread).

    python benchmarks/synth.py                       # 20-frame 256x256 clips, all scene kinds
    python benchmarks/synth.py --size 512 --frames 10 --seeds 3 --reference-frames 2

For each scene kind and seed: the time of ``render_clip`` (scene + trajectory + render of
every frame, fast path), split into ray casting and shading, and the NumPy reference
(``render(..., reference=True)``) timed on ``--reference-frames`` frames of the same clip and
scaled to the clip length (labelled "extrap.").  Wall time is printed for the fast clip;
everything else is process CPU time (a fair figure on a busy shared machine), and the speed-up
compares CPU times.  Times are medians over seeds after a
warm-up (numba compile / cache load and the texture bank are reported separately).
Both run with one thread (``torch.set_num_threads(1)``, ``numba.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--kinds", default="room,objects,street")
    ap.add_argument("--reference-frames", type=int, default=2, help="frames rendered with the NumPy reference")
    args = ap.parse_args()

    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)

    t0 = time.perf_counter()
    from see3d.synth import render, render_clip
    from see3d.synth.raycast import cast_rays
    from see3d.synth.render import shade
    from see3d.synth.textures import texture_bank

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    texture_bank()
    t_bank = time.perf_counter() - t0
    t0 = time.perf_counter()
    render_clip(0, frames=2, size=16)
    t_warm = time.perf_counter() - t0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread used")
    print(f"import {t_import:.2f} s, texture bank {t_bank:.2f} s, numba compile/cache load {t_warm:.2f} s (once per process)")
    print(f"clip: {args.frames} frames at {args.size}x{args.size}, medians over {args.seeds} seeds")
    print("times: wall and CPU for the whole fast clip; CPU time for the rest (fair on a busy machine)")
    print(f"{'kind':8s} {'prims':>5s} {'clip wall':>10s} {'clip CPU':>9s} {'cast/frame':>11s} {'shade/frame':>12s} {'reference clip CPU':>26s} {'speed-up':>9s}")
    for kind in args.kinds.split(","):
        fast, fast_cpu, cast_t, shade_t, ref, prims = [], [], [], [], [], []
        for seed in range(args.seeds):
            t0, c0 = time.perf_counter(), time.process_time()
            clip = render_clip(seed, frames=args.frames, size=args.size, kind=kind)
            fast.append(time.perf_counter() - t0)
            fast_cpu.append(time.process_time() - c0)
            scene = clip.scene
            prims.append(scene.n_primitives)
            intr = clip.intrinsics
            c, s = 0.0, 0.0
            for p in clip.poses:
                t0 = time.process_time()
                hit = cast_rays(scene, intr, p)
                t1 = time.process_time()
                shade(scene, intr, p, *hit)
                s += time.process_time() - t1
                c += t1 - t0
            cast_t.append(c / len(clip))
            shade_t.append(s / len(clip))
            k = max(1, min(args.reference_frames, len(clip)))
            t0 = time.process_time()
            for p in clip.poses[:k]:
                fr = render(scene, intr, p, reference=True)
            ref.append((time.process_time() - t0) / k * len(clip))
            np.testing.assert_allclose(fr.depth, clip.depth[k - 1], rtol=1e-6)
        f, r = float(np.median(fast_cpu)), float(np.median(ref))
        label = "" if args.reference_frames >= args.frames else " (extrap.)"
        print(
            f"{kind:8s} {int(np.median(prims)):5d} {f:10.2f} s {np.median(fast_cpu):7.2f} s {1e3 * np.median(cast_t):8.1f} ms "
            f"{1e3 * np.median(shade_t):9.1f} ms {r:10.2f} s{label:>11s} {r / f:8.1f}x"
        )


if __name__ == "__main__":
    main()
