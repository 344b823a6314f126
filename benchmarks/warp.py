"""Benchmark: forward warping one source view into many target cameras.

Compares, single-threaded and in the same run:

- ``numpy-nearest``: the textbook warp written here as the baseline: project every
  source pixel, round to the nearest target pixel, hard z-buffer with
  ``np.minimum.at``, colour of the winning sample (no sub-pixel splatting, cracks
  under magnification);
- ``numba-plain``: the same nearest-pixel z-buffer compiled with numba, written here
  too: the cost floor of any forward splat (no footprints, no blending, cracks);
- ``numba``: :func:`see3d.warp.warp_views` with the compiled kernel, both splat modes
  (``bilinear``: footprint coverage + bilinear gather from the front sample's source cell; ``nearest``:
  footprint coverage + hard z-buffer);
- ``torch-ref``: the vectorised PyTorch reference on the CPU (float64).

Run: ``python benchmarks/warp.py`` (``--help`` for sizes, targets, repeats; ``--split``
adds the CPU time of each pass of the kernel; ``--agree`` instead compares the kernel
with the PyTorch reference on the Middlebury pair; ``--floor`` times variants of the
plain numba loop: results kept / dropped / caller-owned buffers).
Times are milliseconds per target (best of ``--repeats``), process CPU time by
default (``--wall`` for wall-clock); the numba kernel is compiled/loaded in a
warm-up call outside the timings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# single-threaded BLAS for the NumPy baseline (set before NumPy loads its BLAS)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def make_source(size: int, seed: int = 0):
    """A textured source view ``size x size``: slanted floor-like plane with bumps, 2-6 m deep."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64) / size
    depth = 2.0 + 3.0 * (1.0 - v) + 0.4 * np.sin(7 * u) * np.cos(5 * v)
    depth[int(0.3 * size) : int(0.6 * size), int(0.35 * size) : int(0.55 * size)] = 1.5  # a box in front
    freq = rng.uniform(3, 12, size=(3, 2))
    rgb = np.stack([0.5 + 0.4 * np.sin(freq[c, 0] * 6.28 * u + c) * np.cos(freq[c, 1] * 6.28 * v) for c in range(3)], -1)
    return rgb.astype(np.float32), depth.astype(np.float32)


def numpy_nearest_warp(rgb, depth, K, c2w_src, K_t, c2w_t, width, height):
    """Baseline: nearest-pixel forward warp with a hard z-buffer (``np.minimum.at``), one target."""
    H, W = depth.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    pc = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1).reshape(-1, 3)
    T = np.linalg.inv(c2w_t) @ c2w_src
    pt = pc @ T[:3, :3].T + T[:3, 3]
    z = pt[:, 2]
    ok = z > 1e-6
    ut = np.round(K_t[0, 0] * pt[:, 0] / np.where(ok, z, 1) + K_t[0, 2])
    vt = np.round(K_t[1, 1] * pt[:, 1] / np.where(ok, z, 1) + K_t[1, 2])
    ok &= (ut >= 0) & (ut < width) & (vt >= 0) & (vt < height)
    idx = (vt[ok] * width + ut[ok]).astype(np.int64)
    zs = z[ok]
    zbuf = np.full(width * height, np.inf)
    np.minimum.at(zbuf, idx, zs)
    win = zs == zbuf[idx]
    out = np.zeros((width * height, 3), np.float32)
    out[idx[win]] = rgb.reshape(-1, 3)[ok][win]
    mask = np.isfinite(zbuf)
    return out.reshape(height, width, 3), np.where(mask, zbuf, 0).reshape(height, width), mask.reshape(height, width)


def numba_plain_warp():
    """Compile a nearest-pixel z-buffer warp in numba (the cost floor of any forward splat)."""
    import math

    from numba import njit

    @njit(cache=True, error_model="numpy")
    def warp(rgb, depth, K, T, Kt, width, height):
        H, W = depth.shape
        zb = np.full((height, width), np.inf)
        out = np.zeros((height, width, 3), np.float32)
        for i in range(H):
            for j in range(W):
                d = depth[i, j]
                X = (j - K[0, 2]) / K[0, 0] * d
                Y = (i - K[1, 2]) / K[1, 1] * d
                Xt = T[0, 0] * X + T[0, 1] * Y + T[0, 2] * d + T[0, 3]
                Yt = T[1, 0] * X + T[1, 1] * Y + T[1, 2] * d + T[1, 3]
                Zt = T[2, 0] * X + T[2, 1] * Y + T[2, 2] * d + T[2, 3]
                if not Zt > 1e-6:
                    continue
                x = int(math.floor(Kt[0, 0] * Xt / Zt + Kt[0, 2] + 0.5))
                y = int(math.floor(Kt[1, 1] * Yt / Zt + Kt[1, 2] + 0.5))
                if 0 <= x < width and 0 <= y < height and Zt < zb[y, x]:
                    zb[y, x] = Zt
                    for c in range(3):
                        out[y, x, c] = rgb[i, j, c]
        return out, zb

    return warp


def numba_plain_reuse():
    """The plain nearest-pixel warp writing into caller-owned buffers (no allocation per call,
    one division per pixel): what such a loop costs on this machine without page faults."""
    import math

    from numba import njit

    @njit(cache=True, error_model="numpy")
    def warp(rgb, depth, K, T, Kt, width, height, zb, out):
        H, W = depth.shape
        zb[:] = np.inf
        ifx, ify = 1.0 / K[0, 0], 1.0 / K[1, 1]
        for i in range(H):
            for j in range(W):
                d = depth[i, j]
                X = (j - K[0, 2]) * ifx * d
                Y = (i - K[1, 2]) * ify * d
                Xt = T[0, 0] * X + T[0, 1] * Y + T[0, 2] * d + T[0, 3]
                Yt = T[1, 0] * X + T[1, 1] * Y + T[1, 2] * d + T[1, 3]
                Zt = T[2, 0] * X + T[2, 1] * Y + T[2, 2] * d + T[2, 3]
                if not Zt > 1e-6:
                    continue
                iz = 1.0 / Zt
                x = int(math.floor(Kt[0, 0] * Xt * iz + Kt[0, 2] + 0.5))
                y = int(math.floor(Kt[1, 1] * Yt * iz + Kt[1, 2] + 0.5))
                if 0 <= x < width and 0 <= y < height and Zt < zb[y, x]:
                    zb[y, x] = Zt
                    for c in range(3):
                        out[y, x, c] = rgb[i, j, c]

    return warp


def floor_study(sizes, targets: int, repeats: int, clock) -> None:
    """Why the plain numba loop costs what it costs: the benchmark's form (16 results kept
    alive, so every call faults in fresh pages), results dropped after each call (the
    allocator reuses the memory), and caller-owned buffers with one division per pixel."""
    from see3d.camera import Intrinsics, make_trajectory
    from see3d.camera.trajectory import TrajectoryConfig

    plain, reuse = numba_plain_warp(), numba_plain_reuse()
    print("\n| size | numba-plain, results kept | results dropped | caller buffers, 1 division |")
    print("|---|---|---|---|")
    for size in sizes:
        rgb, depth = make_source(size)
        d64 = depth.astype(np.float64)
        K = Intrinsics.from_fov(60.0, size, size).K
        poses = make_trajectory("orbit", 4.0, TrajectoryConfig(frames=targets, orbit_degrees=10.0))
        rel = [np.linalg.inv(p) for p in poses]
        zb, out = np.empty((size, size)), np.zeros((size, size, 3), np.float32)
        plain(rgb, d64, K, rel[0], K, size, size)
        reuse(rgb, d64, K, rel[0], K, size, size, zb, out)

        def dropped():
            for T in rel:
                plain(rgb, d64, K, T, K, size, size)

        def caller():
            for T in rel:
                reuse(rgb, d64, K, T, K, size, size, zb, out)

        t = [best_of(lambda: [plain(rgb, d64, K, T, K, size, size) for T in rel], repeats, clock),
             best_of(dropped, repeats, clock), best_of(caller, repeats, clock)]
        print(f"| {size}x{size} | " + " | ".join(f"{1000 * x / len(rel):.2f}" for x in t) + " |")
    print("(milliseconds per target, best of repeats)")


def best_of(fn, repeats: int, clock=time.process_time) -> float:
    """Smallest time of ``repeats`` calls. The default clock is this process's CPU time, which
    on a shared machine is far steadier than wall time (no waiting for other processes)."""
    best = np.inf
    for _ in range(repeats):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def kernel_split(rgb, depth, K, poses, size: int, repeats: int, clock) -> tuple[float, float]:
    """Per-target time of the kernel's two passes (project + footprint + coverage z-buffer,
    gather blend + outputs) on one thread, calling the kernel's internals one target at a time."""
    from see3d.warp import kernel as kn
    from see3d.warp.api import _prepare

    r, d, Ks, Kt, P, w, h = _prepare(rgb, depth, K, np.eye(4), K, poses, size, size, None)
    flags, dsrc = kn._source_flags(d, 0.05)
    S, H, W, C = r.shape
    bufs = kn._buffers(S * H * W, W, w, h)
    o_rgb, o_d, o_m = np.zeros((h, w, C), np.float32), np.zeros((h, w), np.float32), np.zeros((h, w), bool)
    best = np.full(2, np.inf)
    with kn.vectoriser_limits():  # the passes compile here as functions of their own
        kn._pass1(dsrc, flags, Ks, Kt[0], P[0], w, h, 8.0, bufs)
        kn._pass2(r, bufs, 0, o_rgb, o_d, o_m)
    for _ in range(repeats):
        tot = np.zeros(2)
        for t in range(len(poses)):
            c0 = clock()
            kn._pass1(dsrc, flags, Ks, Kt[t], P[t], w, h, 8.0, bufs)
            c1 = clock()
            kn._pass2(r, bufs, 0, o_rgb, o_d, o_m)
            c2 = clock()
            tot += (c1 - c0, c2 - c1)
        best = np.minimum(best, tot / len(poses))
    return tuple(best)


def compare_kernels(path: str, rgb, depth, K, poses, size: int, repeats: int, clock) -> str:
    """``warp_numba`` of this kernel and of the kernel file ``path`` on the same prepared
    arrays, alternating calls (so load changes hit both), best of ``repeats`` rounds."""
    import importlib.util

    from see3d.warp import kernel as kn
    from see3d.warp.api import _prepare

    spec = importlib.util.spec_from_file_location("warp_other_kernel", path)
    other = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = other  # numba's disk cache records (and re-imports) the module by name
    spec.loader.exec_module(other)
    r, d, Ks, Kt, P, w, h = _prepare(rgb, depth, K, np.eye(4), K, poses, size, size, None)
    other.warp_numba(r, d, Ks, Kt[:1], P[:1], w, h, 0)  # compile / load
    best = np.full(2, np.inf)
    for _ in range(max(repeats, 3)):
        for i, mod in enumerate((kn, other)):
            c0 = clock()
            mod.warp_numba(r, d, Ks, Kt, P, w, h, 0)
            best[i] = min(best[i], (clock() - c0) / len(poses))
    return f"| {size}x{size} | {1000 * best[0]:.2f} | {1000 * best[1]:.2f} | {best[1] / best[0]:.2f}x |"


def agreement() -> None:
    """Kernel vs PyTorch reference (float64 and float32) on the Middlebury motorcycle pair."""
    import torch

    from see3d.synth.middlebury import load_motorcycle
    from see3d.warp.api import _prepare
    from see3d.warp.kernel import warp_numba
    from see3d.warp.reference import warp_reference

    m = load_motorcycle()
    w, h = m.intr_right.width, m.intr_right.height
    r, d, Ks, Kt, P, w, h = _prepare(m.left, m.depth_left, m.intr_left.K, m.c2w_left, m.intr_right.K, m.c2w_right, w, h, None)
    print("\n| splat | reference | mask mismatch | max abs rgb diff | 99.99 % rgb | max rel depth diff | 99.99 % depth |")
    print("|---|---|---|---|---|---|---|")
    for splat, mode in (("bilinear", 0), ("nearest", 1)):
        a = warp_numba(r, d, Ks, Kt, P, w, h, mode)
        for dt in (torch.float64, torch.float32):
            t = lambda x: torch.as_tensor(x, dtype=dt)  # noqa: E731
            b = [x.numpy() for x in warp_reference(torch.as_tensor(r), t(d), t(Ks), t(Kt), t(P), w, h, splat)]
            both = a[2] & b[2]
            drgb = np.abs(a[0] - b[0])[both]
            rel = np.abs(a[1][both] - b[1][both]) / b[1][both]
            print(f"| {splat} | {str(dt).split('.')[-1]} | {(a[2] != b[2]).mean():.1e} | {drgb.max():.1e} | "
                  f"{np.quantile(drgb, 0.9999):.1e} | {rel.max():.1e} | {np.quantile(rel, 0.9999):.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--targets", type=int, default=16)
    ap.add_argument("--torch-targets", type=int, default=2, help="targets timed for the (slow) torch reference")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wall", action="store_true", help="time wall-clock instead of process CPU time")
    ap.add_argument("--split", action="store_true", help="also time the kernel's passes (bilinear)")
    ap.add_argument("--agree", action="store_true", help="only compare the kernel with the reference (Middlebury)")
    ap.add_argument("--floor", action="store_true", help="only time variants of the plain numba loop (allocation, divisions)")
    ap.add_argument("--against", metavar="KERNEL_PY", help="also time warp_numba of another kernel file, e.g. an "
                    "older see3d/warp/kernel.py from git show (same inputs, bilinear), interleaved with this one")
    args = ap.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    if args.agree:
        agreement()
        return
    if args.floor:
        import numba

        numba.set_num_threads(args.threads)
        print(f"# plain numba loop, {args.targets} targets, load average {os.getloadavg()[0]:.1f}")
        floor_study(args.sizes, args.targets, args.repeats, clock)
        return

    import numba
    import torch

    from see3d.camera import Intrinsics, make_trajectory
    from see3d.camera.trajectory import TrajectoryConfig
    from see3d.warp import warp_views

    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"# warp benchmark: 1 source -> {args.targets} targets, {args.threads} thread(s), "
          f"{'wall' if args.wall else 'process CPU'} time, cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}, numba {numba.__version__}, torch {torch.__version__}")
    plain = numba_plain_warp()
    header = ("size", "numpy-nearest", "numba-plain", "numba-bilinear", "numba-nearest", "torch-ref",
              "speedup (np/numba-bil)", "holes %")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    splits, against = [], []
    for size in args.sizes:
        rgb, depth = make_source(size)
        intr = Intrinsics.from_fov(60.0, size, size)
        K = intr.K
        poses = make_trajectory("orbit", 4.0, TrajectoryConfig(frames=args.targets, orbit_degrees=10.0))
        Kt = np.repeat(K[None], len(poses), 0)
        run = lambda splat, n=len(poses): warp_views(  # noqa: E731
            rgb, depth, K, np.eye(4), Kt[:n], poses[:n], size, size, backend="numba", splat=splat
        )
        run("bilinear", 1), run("nearest", 1)  # warm-up: load / compile the kernel
        t_bil = best_of(lambda: run("bilinear"), args.repeats, clock) / len(poses)
        t_near = best_of(lambda: run("nearest"), args.repeats, clock) / len(poses)
        t_np = best_of(
            lambda: [numpy_nearest_warp(rgb, depth, K, np.eye(4), K, p, size, size) for p in poses], args.repeats, clock
        ) / len(poses)
        rel = [np.linalg.inv(p) for p in poses]
        plain(rgb, depth.astype(np.float64), K, rel[0], K, size, size)  # warm-up
        t_plain = best_of(
            lambda: [plain(rgb, depth.astype(np.float64), K, T, K, size, size) for T in rel], args.repeats, clock
        ) / len(poses)
        nt = max(1, min(args.torch_targets, len(poses)))
        t_torch = best_of(
            lambda: warp_views(rgb, depth, K, np.eye(4), Kt[:nt], poses[:nt], size, size, backend="torch"), 1, clock
        ) / nt
        holes = 100.0 * (1.0 - run("bilinear").mask.mean())
        if args.against:
            against.append(compare_kernels(args.against, rgb, depth, K, poses, size, args.repeats, clock))
        ms = lambda t: f"{1000 * t:.2f}"  # noqa: E731
        print(f"| {size}x{size} | {ms(t_np)} | {ms(t_plain)} | {ms(t_bil)} | {ms(t_near)} | {ms(t_torch)} | {t_np / t_bil:.1f}x | {holes:.1f} |")
        if args.split:
            p1, p2 = kernel_split(rgb, depth, K, poses, size, args.repeats, clock)
            splits.append(f"| {size}x{size} | {ms(p1)} | {ms(p2)} |")
    print("(milliseconds per target, best of repeats; torch-ref timed on --torch-targets targets)")
    if against:
        print(f"\n| size | this kernel | {args.against} | ratio |")
        print("|---|---|---|---|")
        print("\n".join(against))
        print("(milliseconds per target, warp_numba bilinear on prepared arrays, best of repeats, interleaved)")
    if splits:
        print("\n| size | pass 1: project + footprint + coverage | pass 2: gather blend + outputs |")
        print("|---|---|---|")
        print("\n".join(splits))
        print("(milliseconds per target, best of repeats)")


if __name__ == "__main__":
    main()
