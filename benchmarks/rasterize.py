"""Rasterizer benchmark: numba CPU kernels vs the dense PyTorch reference (same run).

    NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2 python benchmarks/rasterize.py   # 50k Gaussians, 256x256 and 512x512
    python benchmarks/rasterize.py --n 20000 --sizes 128 --dense full

Threads: the numba kernels use ``NUMBA_NUM_THREADS`` threads (lanes of tiles);
PyTorch's own ops (the loss, autograd bookkeeping, the dense reference) use
``--torch-threads`` (default 1, what ``see3d.gs.train`` uses during a fit). Unless
``OMP_WAIT_POLICY`` is already set, this script sets it to ``PASSIVE`` before importing
PyTorch: libgomp's idle threads otherwise spin after every parallel region (with the
former ``prange`` kernels, which ran on it, that doubled the CPU time of one
forward+backward on a busy 2-core machine).

The scene: Gaussians scattered through the view frustum 2-6 m in front of the camera,
sized for a median 3-sigma radius of about 6 px at 256x256, opacities sigmoid(N(0, 1)),
degree-3 SH. Timings are medians over ``--reps`` runs after one warm-up (so numba's
compile/cache load is excluded; it is reported separately). The dense reference is
timed on the full image (``--dense full``), or on a band of rows and scaled to the
full image (``--dense sample``, the default above 128x128, labelled "extrapolated"), or
skipped (``--dense off``). On a GPU with gsplat installed, gsplat is timed as well.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba load libgomp (see above)

import argparse
import platform
import resource
import statistics
import threading
import time

import numba
import numpy as np
import torch

from see3d.gs import _numba_kernels as _nk
from see3d.gs._project import depth_order, project_gaussians
from see3d.gs._reference import blend_weights, composite_dense
from see3d.gs.rasterize import gsplat_available, rasterize


def make_scene(n: int, size: int, seed: int = 0, device: str = "cpu", opacity_shift: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    f = 0.8 * size
    z = 2.0 + 4.0 * torch.rand(n, generator=g)
    half = 0.5 * size / f * 1.1
    x = (torch.rand(n, generator=g) * 2 - 1) * half * z
    y = (torch.rand(n, generator=g) * 2 - 1) * half * z
    means = torch.stack([x, y, z], -1)
    # sigma_px = f * s / z; median z = 4; s ~ 1.3 * 4 / (0.8 * 256) gives a median 3-sigma radius ~6 px at 256
    s = 1.3 * 4.0 / (0.8 * 256) * torch.exp(0.3 * torch.randn(n, 3, generator=g))
    params = dict(
        means=means,
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.log(s),
        opacity_logits=torch.randn(n, generator=g) + opacity_shift,
        sh=0.3 * torch.randn(n, 16, 3, generator=g),
    )
    params = {k: v.to(device).requires_grad_() for k, v in params.items()}
    viewmat = torch.eye(4, device=device)
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]], device=device)
    return params, viewmat, K


def _loss(out):
    return out.rgb.square().sum() + 0.01 * out.depth.sum() + out.alpha.sum()


def time_backend(params, viewmat, K, size, backend, reps, backward):
    """Median wall and process-CPU seconds (CPU time is the robust figure on a busy machine).

    Process CPU time counts every thread of the process (the numba workers included).
    """
    times = []
    cpus = []
    for i in range(reps + 1):
        for p in params.values():
            p.grad = None
        if backend == "gsplat":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        c0 = time.process_time()
        with torch.set_grad_enabled(backward):
            out = rasterize(**params, viewmat=viewmat, K=K, width=size, height=size, backend=backend)
            if backward:
                _loss(out).backward()
        if backend == "gsplat":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpus)


def time_dense(params, viewmat, K, size, rows, backward):
    """Dense reference on ``rows`` image rows (projection included): (wall, CPU) seconds."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    with torch.set_grad_enabled(backward):
        proj = project_gaussians(**params, viewmat=viewmat, K=K, width=size, height=size,
                                 sh_degree=3, near=0.01, far=1e4)
        idx = depth_order(proj)
        args = (proj.means2d[idx], proj.conics[idx], proj.colors[idx], proj.opacities[idx], proj.depths[idx])
        # A band of rows through the middle of the image (shift the pixel grid).
        off = (size - rows) // 2
        m2d = args[0] - torch.tensor([0.0, float(off)])
        rgb, accd, alpha = composite_dense(m2d, *args[1:], size, rows, pixel_chunk=256)
        if backward:
            (rgb.square().sum() + 0.01 * accd.sum() + alpha.sum()).backward()
    return time.perf_counter() - t0, time.process_time() - c0


def scene_stats(params, viewmat, K, size):
    with torch.no_grad():
        proj = project_gaussians(**params, viewmat=viewmat, K=K, width=size, height=size,
                                 sh_degree=3, near=0.01, far=1e4)
        idx = depth_order(proj)
        r = proj.radii[proj.visible].float()
        # Blended Gaussians per pixel, on 512 random pixels, with the reference maths.
        g = torch.Generator().manual_seed(1)
        pix = torch.rand(512, 2, generator=g) * (size - 1)
        pix = pix.round()
        counts = []
        for s in range(0, 512, 64):
            w, _ = blend_weights(pix[s : s + 64], proj.means2d[idx], proj.conics[idx], proj.opacities[idx])
            counts.append((w > 0).sum(1).float())
        boxes = proj.boxes.numpy()
        order = idx.numpy().astype(np.int32)
        tile_start, _ = _nk.bin_gaussians(order, boxes, size, size)
        return int(proj.visible.sum()), float(r.median()), float(torch.cat(counts).mean()), int(tile_start[-1])


_STAGES = ("project_forward", "sort_visible", "bin_gaussians", "composite_forward",
           "composite_backward", "reduce_slots", "project_backward")


def stage_breakdown(params, viewmat, K, size, reps):
    """Median per-pass (wall, process CPU) of each numba stage within forward+backward, and
    of everything else (tensor conversions, PyTorch ops, autograd, Python). A stage's lanes
    run concurrently on several threads: its time is the window from its first lane's
    start to its last lane's end."""
    rec: dict[str, list[tuple[float, float]]] = {k: [] for k in _STAGES}
    saved = {k: getattr(_nk, k) for k in _STAGES}
    window: dict[str, list[float]] = {}
    lock = threading.Lock()

    def timed(name, f):
        def w(*a):
            t0, c0 = time.perf_counter(), time.process_time()
            r = f(*a)
            t1, c1 = time.perf_counter(), time.process_time()
            with lock:
                win = window.setdefault(name, [t0, t1, c0, c1])
                win[0], win[1], win[2], win[3] = min(win[0], t0), max(win[1], t1), min(win[2], c0), max(win[3], c1)
            return r
        return w

    totals = []
    try:
        for k in _STAGES:
            setattr(_nk, k, timed(k, saved[k]))
        for i in range(reps + 1):
            window.clear()
            for p in params.values():
                p.grad = None
            t0, c0 = time.perf_counter(), time.process_time()
            out = rasterize(**params, viewmat=viewmat, K=K, width=size, height=size, backend="numba")
            _loss(out).backward()
            if i > 0:
                totals.append((time.perf_counter() - t0, time.process_time() - c0))
                for k, (a0, a1, b0, b1) in window.items():
                    rec[k].append((a1 - a0, b1 - b0))
    finally:
        for k in _STAGES:
            setattr(_nk, k, saved[k])
    rows = []
    kw = kc = 0.0
    for k in _STAGES:
        w = statistics.median(x[0] for x in rec[k]) if rec[k] else 0.0
        c = statistics.median(x[1] for x in rec[k]) if rec[k] else 0.0
        kw, kc = kw + w, kc + c
        rows.append((k, w, c))
    tw = statistics.median(x[0] for x in totals)
    tc = statistics.median(x[1] for x in totals)
    rows.append(("other (conversions, torch ops, autograd, Python)", tw - kw, tc - kc))
    rows.append(("total forward+backward", tw, tc))
    return rows


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dense", choices=["auto", "full", "sample", "off"], default="auto",
                    help="auto: full image at <= 128 px, a band of --sample-rows rows scaled up above")
    ap.add_argument("--sample-rows", type=int, default=32)
    ap.add_argument("--opacity-shift", type=float, default=0.0,
                    help="add to the opacity logits (e.g. -3: faint Gaussians, as early in training)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch intra-op threads (0: leave as is); the numba kernels use NUMBA_NUM_THREADS")
    ap.add_argument("--stages", action="store_true", help="also time each numba stage of forward+backward")
    args = ap.parse_args()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)

    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"machine: {_cpu_name()}, {os.cpu_count()} logical CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), numba {numba.__version__} "
          f"({numba.get_num_threads()} threads, layer set on first parallel call), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    t0 = time.perf_counter()
    params, viewmat, K = make_scene(64, 32)
    rasterize(**params, viewmat=viewmat, K=K, width=32, height=32, backend="numba")
    print(f"numba first call (compile or cache load): {time.perf_counter() - t0:.2f} s "
          f"(threading layer {numba.threading_layer()})")

    for size in args.sizes:
        params, viewmat, K = make_scene(args.n, size, opacity_shift=args.opacity_shift)
        vis, med_r, blended, pairs = scene_stats(params, viewmat, K, size)
        print(f"\n== {args.n} Gaussians at {size}x{size}: {vis} visible, median 3-sigma radius "
              f"{med_r:.1f} px, {blended:.1f} Gaussians blended per pixel (mean over 512 pixels)")
        ntiles = ((size + 15) // 16) ** 2
        kernel_mb = (pairs * (4 + 40) + size * size * (3 + 1 + 1 + 1) * 4 * 2) / 2**20
        print(f"tile-Gaussian pairs {pairs} ({pairs / ntiles:.0f} per tile); compositing buffers "
              f"~{kernel_mb:.1f} MB (lists + gradient slots + images), vs "
              f"{vis * size * size * 4 / 2**30:.1f} GiB for one dense pixels x Gaussians float32 tensor")
        rss0 = maxrss_mb()
        fwd, fwd_cpu = time_backend(params, viewmat, K, size, "numba", args.reps, backward=False)
        fb, fb_cpu = time_backend(params, viewmat, K, size, "numba", args.reps, backward=True)
        print(f"numba   forward {fwd:8.3f} s   forward+backward {fb:8.3f} s   "
              f"(CPU time {fwd_cpu:.3f} / {fb_cpu:.3f} s; peak RSS {maxrss_mb():.0f} MB, "
              f"+{maxrss_mb() - rss0:.0f} MB)")
        if args.stages:
            for name, w, c in stage_breakdown(params, viewmat, K, size, args.reps):
                print(f"    {name:50s} wall {w:7.4f} s   CPU {c:7.4f} s")
        if gsplat_available():  # pragma: no cover - GPU
            gp, gv, gk = make_scene(args.n, size, device="cuda", opacity_shift=args.opacity_shift)
            gf, _c = time_backend(gp, gv, gk, size, "gsplat", args.reps, backward=False)
            gfb, _c = time_backend(gp, gv, gk, size, "gsplat", args.reps, backward=True)
            print(f"gsplat  forward {gf:8.4f} s   forward+backward {gfb:8.4f} s   ({torch.cuda.get_device_name()})")
        mode = args.dense
        if mode == "auto":
            mode = "full" if size <= 128 else "sample"
        if mode == "off":
            continue
        rows = size if mode == "full" else min(args.sample_rows, size)
        scale = size / rows
        rss0 = maxrss_mb()
        # The reference is all PyTorch: give it as many threads as the numba kernels get.
        torch_before = torch.get_num_threads()
        torch.set_num_threads(numba.get_num_threads())
        try:
            dfwd, dfwd_cpu = (x * scale for x in time_dense(params, viewmat, K, size, rows, backward=False))
            dfb, dfb_cpu = (x * scale for x in time_dense(params, viewmat, K, size, rows, backward=True))
        finally:
            torch.set_num_threads(torch_before)
        label = "measured" if mode == "full" else f"extrapolated from {rows} rows"
        label += f", {numba.get_num_threads()} torch threads"
        print(f"dense   forward {dfwd:8.3f} s   forward+backward {dfb:8.3f} s   (CPU time {dfwd_cpu:.3f} / "
              f"{dfb_cpu:.3f} s; {label}; peak RSS {maxrss_mb():.0f} MB, +{maxrss_mb() - rss0:.0f} MB)")
        print(f"speed-up numba vs dense: forward {dfwd / fwd:.0f}x, forward+backward {dfb / fb:.0f}x "
              f"(by CPU time {dfwd_cpu / fwd_cpu:.0f}x, {dfb_cpu / fb_cpu:.0f}x)")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
