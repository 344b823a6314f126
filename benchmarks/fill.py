"""Hole filling: multi-view diffusion models vs OpenCV Telea / Navier-Stokes, same run, same holes.

Held-out ``synth`` scenes (seeds >= 1,000,000; training draws seeds < 100,000): one input view and
8 target views along an orbit, the input warped into every target with its true depth. Real data:
Middlebury motorcycle (left -> right with the true depth), scored against the real right image.

Scores on hole pixels: PSNR, SSIM (mean of the SSIM map over holes) and a texture score (mean
gradient magnitude of the filled holes / that of the truth; 1 = as detailed as the truth, Telea's
smooth fill is < 1). Whole-image PSNR for synth. Cross-view agreement (synth): each filled view
is warped into the next target with the true target depth; PSNR between that warp and the next
filled view on pixels that were holes in both (consistent generations agree).

    python benchmarks/fill.py --model mvd=src/see3d/assets/mvd_small [--model NAME=FOLDER[@key=value,...] ...]
        [--scenes 6] [--size 128] [--seed 0] [--samples 1] [--strength 0.6] [--steps 10] [--threads 1]

Every ``--model`` is run with the same holes and seeds; Telea and NS always run.

Training seeds: models named ``GROUP_s<seed>`` (e.g. ``visual_s1``, ``visual_s2``) are also summarised
per group as mean +- spread (sample standard deviation over the seeds, and the range);
``--compare A,B`` prints the per-seed difference of group A minus group B (seeds present in both).

Long trajectories (``--long-orbit FRAMES [--group 4] [--long-model FOLDER] [--only-long]``): ``see3d
generate``'s in-memory job (``generate_views``) from the first view of each held-out synth scene along
its orbit (+-15 deg, FRAMES views; sky, inf depth, is given as unknown depth 0, which ``generate`` takes), with Telea, the MVD model filling every view from the input
alone (``group 0``) and autoregressively (``group N``); the truth is rendered at the same cameras.
Scores on the pixels the input does not see, for the first group of targets and for the later ones,
and the share of pixels the filler had to invent there.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np


def psnr(a, b):
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse <= 1e-12 else 10 * np.log10(1.0 / mse)


def grad_mag(img):
    import cv2

    g = img.mean(-1).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def hole_scores(pred, truth, holes):
    from skimage.metrics import structural_similarity

    if holes.sum() < 10:
        return None
    _, smap = structural_similarity(truth, pred, channel_axis=-1, data_range=1.0, full=True, win_size=7)
    gp, gt = grad_mag(pred), grad_mag(truth)
    return {
        "psnr": psnr(pred[holes], truth[holes]),
        "ssim": float(smap.mean(-1)[holes].mean()),
        "texture": float(gp[holes].mean() / max(gt[holes].mean(), 1e-6)),
        "psnr_full": psnr(pred, truth),
    }


def synth_cases(n: int, size: int):
    from see3d.synth import render_clip
    from see3d.warp import warp_views

    kinds = ("room", "objects", "street")
    seed = 1_000_000
    cases = []
    while len(cases) < n:
        try:
            clip = render_clip(seed=seed, frames=9, size=size, kind=kinds[len(cases) % 3], trajectory="orbit")
        except Exception:  # a scene without a free orbit: next seed
            seed += 1
            continue
        seed += 1
        K = clip.intrinsics.K
        res = warp_views(clip.rgb[0], clip.depth[0], K, clip.poses[0], np.repeat(K[None], 8, 0), clip.poses[1:], size, size)
        masks = np.asarray(res.mask, np.float32)
        if (1 - masks).mean() < 0.01:
            continue
        cases.append({"ref": clip.rgb[:1], "warped": np.asarray(res.rgb, np.float32) * masks[..., None], "masks": masks,
                      "truth": clip.rgb[1:], "depth": clip.depth[1:], "K": K, "poses": clip.poses[1:]})
    return cases


def middlebury_case():
    from see3d.synth.middlebury import load_motorcycle
    from see3d.warp import warp_views

    p = load_motorcycle()
    left = p.left.astype(np.float32) / 255.0
    right = p.right.astype(np.float32) / 255.0
    h, w = left.shape[:2]
    res = warp_views(left, p.depth_left, p.intr_left.K, p.c2w_left, p.intr_right.K, p.c2w_right, w, h)
    masks = np.asarray(res.mask, np.float32)
    return {"ref": left[None], "warped": np.asarray(res.rgb, np.float32) * masks[..., None], "masks": masks, "truth": right[None]}


def agreement(filled, case):
    """PSNR between filled view i warped into view i+1 (true depth) and filled view i+1, on shared holes."""
    from see3d.warp import warp_views

    vals = []
    K = case["K"]
    size = filled.shape[1]
    for i in range(len(filled) - 1):
        r = warp_views(filled[i], case["depth"][i], K, case["poses"][i], K, case["poses"][i + 1], size, size)
        src_holes = warp_views(
            (1 - case["masks"][i])[..., None].repeat(3, -1), case["depth"][i], K, case["poses"][i], K, case["poses"][i + 1], size, size
        )
        m = np.asarray(r.mask[0]) & (np.asarray(src_holes.rgb[0])[..., 0] > 0.99) & (case["masks"][i + 1] < 0.5)
        if m.sum() >= 10:
            vals.append(psnr(np.asarray(r.rgb[0])[m], filled[i + 1][m]))
    return float(np.mean(vals)) if vals else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="NAME=FOLDER of an MVD model (repeatable)")
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--strength", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-middlebury", action="store_true")
    ap.add_argument("--long-orbit", type=int, default=0, help="also benchmark generate_views along an orbit of this many frames")
    ap.add_argument("--group", type=int, default=4, help="--long-orbit: autoregressive group size")
    ap.add_argument("--anchors", default="4", help="--long-orbit: comma list of max_anchors values (generated views kept as references)")
    ap.add_argument("--long-model", default=None, help="--long-orbit: MVD model folder (default: the bundled one)")
    ap.add_argument("--only-long", action="store_true", help="skip the hole-filling comparison")
    ap.add_argument("--compare", action="append", default=[], help="A,B: per-seed differences of group A minus group B")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from see3d.fill import ClassicalFiller
    from see3d.mvd.filler import MVDFiller
    from see3d.mvd.model import MVDConfig

    if args.long_orbit:
        long_trajectory(args.scenes, args.size, args.long_orbit, args.group, args.long_model, args.seed,
                        tuple(int(a) for a in args.anchors.split(",")))
        if args.only_long:
            return 0
    fillers = {"telea": ClassicalFiller("telea"), "ns": ClassicalFiller("ns")}
    over = {k: v for k, v in (("samples", args.samples), ("strength", args.strength), ("steps", args.steps), ("guidance_scale", args.guidance)) if v is not None}
    for spec in args.model:
        name, _, path = spec.partition("=")
        path, _, opts = path.partition("@")  # NAME=FOLDER@strength=0.3,samples=2: per-model settings
        mine = dict(over)
        for kv in filter(None, opts.split(",")):
            k, _, v = kv.partition("=")
            mine[k] = type(getattr(MVDConfig(), k))(v) if k != "guidance_scale" else float(v)
        fillers[name] = MVDFiller.from_pretrained(Path(path), **mine)
    t0 = time.perf_counter()
    cases = synth_cases(args.scenes, args.size)
    datasets = {"synth": cases}
    if not args.no_middlebury:
        datasets["middlebury"] = [middlebury_case()]
    print(f"# fill benchmark: {args.scenes} held-out synth scenes at {args.size} px (8 targets each), Middlebury motorcycle; "
          f"overrides {over or 'none'}; data {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for dname, cs in datasets.items():
        for fname, f in fillers.items():
            t1 = time.perf_counter()
            scores, agree = [], []
            for ci, c in enumerate(cs):
                out = f.fill(c["warped"], c["masks"], refs=c["ref"], seed=args.seed + ci)
                for i in range(len(out)):
                    s = hole_scores(out[i], c["truth"][i], c["masks"][i] < 0.5)
                    if s is not None:
                        scores.append(s)
                if dname == "synth":
                    agree.append(agreement(out, c))
            sec = time.perf_counter() - t1
            mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
            rows.append((dname, fname, mean, float(np.nanmean(agree)) if agree else float("nan"), sec, len(scores)))
            print(f"{dname:10s} {fname:14s} hole PSNR {mean['psnr']:6.2f}  SSIM {mean['ssim']:.3f}  texture {mean['texture']:.2f}  "
                  f"full PSNR {mean['psnr_full']:6.2f}  agreement {rows[-1][3]:6.2f}  ({len(scores)} views, {sec:.1f} s)", flush=True)
    print()
    print("| data | filler | hole PSNR | hole SSIM | texture (1 = truth) | full PSNR | cross-view agreement PSNR | views | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dname, fname, m, ag, sec, n in rows:
        print(f"| {dname} | {fname} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['texture']:.2f} | {m['psnr_full']:.2f} | "
              f"{'-' if np.isnan(ag) else f'{ag:.2f}'} | {n} | {sec:.1f} |")
    seed_summary(rows, args.compare)
    return 0


def long_trajectory(n_scenes: int, size: int, frames: int, group: int, model: str | None, seed: int, anchors=(4,)) -> None:
    """generate_views along an orbit: Telea vs MVD from the input alone vs MVD autoregressive
    (``anchors``: the ``max_anchors`` values to run, one variant each)."""
    from see3d.pipeline.single_view import GenerateConfig, generate_views
    from see3d.synth import render_clip, render_views

    kinds = ("room", "objects", "street")
    variants = {"telea": dict(fill="telea"), "mvd group 0": dict(fill="mvd", group=0)}
    for a in anchors:
        variants[f"mvd group {group}" + (f", {a} anchors" if len(anchors) > 1 else "")] = dict(fill="mvd", group=group, max_anchors=a)
    acc = {v: {"first": [], "later": [], "invent": [], "sec": 0.0} for v in variants}
    sd, done = 1_000_000, 0
    while done < n_scenes:
        try:
            clip = render_clip(seed=sd, frames=1, size=size, kind=kinds[done % 3], trajectory="orbit")
        except Exception:
            sd += 1
            continue
        sd += 1
        res = {}
        for name, kw in variants.items():
            t0 = time.perf_counter()
            res[name] = generate_views(clip.rgb[0], np.where(np.isfinite(clip.depth[0]), clip.depth[0], 0.0), clip.intrinsics,
                                       GenerateConfig(frames=frames, fill_model=model, seed=seed, **kw))
            acc[name]["sec"] += time.perf_counter() - t0
        r0 = res["telea"]
        truth = render_views(clip.scene, clip.intrinsics, clip.poses[0] @ r0.poses).rgb
        assert np.abs(truth[0] - clip.rgb[0]).max() < 1e-4  # frame 0 is the input camera
        targets = [i for i, p in enumerate(r0.poses) if not np.allclose(p, np.eye(4), atol=1e-9)]
        for name, r in res.items():
            for j, i in enumerate(targets):
                unseen = r0.masks[i] < 0.5
                if unseen.sum() < 10:
                    continue
                key = "first" if j < group else "later"
                acc[name][key].append(psnr(r.views[i][unseen], truth[i][unseen]))
                if key == "later":
                    acc[name]["invent"].append(float((r.fill_masks[i][unseen] < 0.5).mean()))
        done += 1
    print(f"# long trajectories: {n_scenes} held-out synth scenes at {size} px, orbit of {frames} frames (input = frame 0), "
          f"targets in groups of {group}; PSNR against the rendered truth on pixels the input does not see")
    print("| filler | unseen-pixel PSNR, first group | unseen-pixel PSNR, later groups | later groups: share of unseen pixels invented | seconds |")
    print("|---|---|---|---|---|")
    for name, a in acc.items():
        inv = f"{100 * np.mean(a['invent']):.1f}%"
        print(f"| {name} | {np.mean(a['first']):.2f} | {np.mean(a['later']):.2f} | {inv} | {a['sec']:.1f} |", flush=True)
    print()


SEEDED = re.compile(r"^(.+)_s(\d+)$")


def seed_summary(rows, compare=()):
    """Mean +- spread over training seeds of models named ``GROUP_s<seed>``; per-seed differences."""
    groups: dict[tuple[str, str], dict[int, tuple[dict, float]]] = {}
    for dname, fname, m, ag, _sec, _n in rows:
        hit = SEEDED.match(fname)
        if hit:
            groups.setdefault((dname, hit.group(1)), {})[int(hit.group(2))] = ({**m, "agreement": ag}, ag)
    if not groups:
        return
    keys = ("psnr", "ssim", "texture", "psnr_full", "agreement")
    digits = {"ssim": 3}
    print()
    print("| data | model | training seeds | hole PSNR (range) | hole SSIM | texture | full PSNR | agreement PSNR |")
    print("|---|---|---|---|---|---|---|---|")
    for (dname, g), by_seed in groups.items():
        cells = []
        for k in keys:
            v = np.array([by_seed[sd][0][k] for sd in sorted(by_seed)], np.float64)
            if np.isnan(v).all():
                cells.append("-")
                continue
            d = digits.get(k, 2)
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
            cell = f"{v.mean():.{d}f} +- {sd:.{d}f}" if len(v) > 1 else f"{v.mean():.{d}f}"
            if k == "psnr" and len(v) > 1:
                cell += f" ({v.min():.2f}-{v.max():.2f})"
            cells.append(cell)
        print(f"| {dname} | {g} | {','.join(map(str, sorted(by_seed)))} | " + " | ".join(cells) + " |")
    for spec in compare:
        a, _, b = spec.partition(",")
        for dname in dict.fromkeys(d for d, _ in groups):
            ga, gb = groups.get((dname, a), {}), groups.get((dname, b), {})
            common = sorted(set(ga) & set(gb))
            if not common:
                continue
            diff = np.array([ga[sd][0]["psnr"] - gb[sd][0]["psnr"] for sd in common])
            per = ", ".join(f"s{sd} {x:+.2f}" for sd, x in zip(common, diff))
            sd_txt = f" +- {np.std(diff, ddof=1):.2f}" if len(diff) > 1 else ""
            print(f"{dname}: hole PSNR {a} - {b}: {diff.mean():+.2f}{sd_txt} dB ({per})")


if __name__ == "__main__":
    sys.exit(main())
