"""Does the canonical camera transform make metric depth work across focal lengths?

Trains two copies of the same tiny depth network (see3d.depth.tiny) on the same synth data
(focal lengths log-uniform in 300-2000 px): one with Metric3D's CSTM_label (labels scaled by
f_c / f, prediction by f / f_c), one without (metric labels). Then evaluates both on held-out
synth scenes rendered at focal lengths seen in training (400, 1000, 1600 px) and not seen
(250, 2500 px; 150 and 4000 px as a further stress test), printing AbsRel and delta1 per focal.

Goal (from the issue): with the transform, AbsRel at unseen focals within 1.5x of the
seen-focal AbsRel; without it, AbsRel at unseen focals >= 3x worse than with it.

    python benchmarks/canonical_depth.py --runs runs/canonical_level               # train both + eval
    python benchmarks/canonical_depth.py --runs runs/canonical_level --eval-only
    python benchmarks/canonical_depth.py --world closeup --runs runs/canonical_v2  # the 2026-11-25 recipe
    python benchmarks/canonical_depth.py --world closeup --runs runs/canonical_v3 --recipe '{"norm": "batch"}'
    python benchmarks/canonical_depth.py --runs runs/canonical_v2 --probe         # image-statistics probe
    python benchmarks/canonical_depth.py --runs runs/canonical_level_absrel --recipe '{"loss": "log_l1+abs_rel"}'
    python benchmarks/canonical_depth.py --runs runs/canonical_level_side --recipe '{"side_objects": 0.5}'  # training views only

Both copies use the recipe of ``--world`` (``level``: fixed-height near-horizontal cameras in
outdoor scenes, CoordConv input; ``closeup``: the close-up views of 2026-11-25, random resize, a global
scale head; see docs/depth.md); the held-out scenes are placed the same way (the same camera
poses at every focal). The two trainings run as two processes side by side (``--threads`` each) and
resume from their checkpoints if interrupted. The bundled ``tiny`` weights are NOT this
recipe (they are the ``see3d train depth`` defaults of 2026-11-25, see docs/depth.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

import numpy as np

#: The recipe of 2026-11-25 (``--world closeup``): hand-held camera paths, half of the views moved to
#: 0.3 m - 1x of their distance to the surface they look at, so the canonical depths of the unseen
#: focals are inside the training range; Metric3D's random resize; output bias started at the
#: median label; a global scale head.
CLOSEUP_RECIPE = dict(close_up=0.5, near=0.3, resize_range=(0.85, 1.15), init_from_data=True, global_scale=True, scenes=600, steps=2400)

#: The recipe of 2026-11-26 (``--world level``, the default): a consistent metric world like a car's
#: camera - outdoor scenes (objects on a ground plane, streets), every view at one eye height
#: (1.65 m, KITTI's) with pitch and roll within +-1 degree, the ground reaching the horizon; the
#: network gets CoordConv channels (where each pixel is relative to the principal point). The
#: ground at row offset y then has canonical depth 1000 * 1.65 / y at every focal; its metric
#: depth f * 1.65 / y needs the focal, which the image barely shows.
LEVEL_RECIPE = dict(kinds=("street", "objects"), camera="level", eye_height=1.65, tilt_deg=0.5, plain_ground=True, coord=True, init_from_data=True, scenes=600, steps=2000)

WORLDS = {"level": LEVEL_RECIPE, "closeup": CLOSEUP_RECIPE}
RECIPE = dict(LEVEL_RECIPE)

SEEN = [400.0, 1000.0, 1600.0]
UNSEEN = [250.0, 2500.0]
STRESS = [150.0, 4000.0]
#: The ends of the training range, paired with the unseen focal just outside each: the step out of
#: the range (250 / 300 px, 2500 / 2000 px), which the seen mean above mixes with how hard the views
#: of a focal are (wide views hold more near objects; see docs/depth.md).
EDGE = [300.0, 2000.0]


def _train(variant, run, steps, threads, recipe):
    import torch

    from see3d.depth.train import DepthTrainConfig, train_depth

    torch.set_num_threads(threads)
    cfg = DepthTrainConfig(variant=variant, threads=threads, **{**recipe, **({"steps": steps} if steps else {})})
    train_depth(cfg, run)


def probe(data_path: Path, n_test: int = 300) -> str:
    """How much of the per-image depth scale hand-made image statistics explain (no network).

    Per image (fit-resized into the 96x128 canvas, as the networks see it): log mean |Laplacian|
    and |gradient| of the grey image at 4 pyramid levels, their ratios, contrast and mean colour.
    Target: log of the image's median label, canonical (CSTM_label) or metric. Ridge regression on
    the statistics and their squares, fit on the first images, tested on the last ``n_test``;
    RMS log error against the spread of the target (what one constant achieves).
    """
    import torch

    from see3d.camera import canonical as cano
    from see3d.depth.train import SynthDepthSet

    with np.load(data_path) as z:
        data = SynthDepthSet(z["rgb"], z["depth"], z["focal"], list(z["kind"]))
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
    feats, y_c, y_m = [], [], []
    for i in range(len(data)):
        k = data.intrinsics(i)
        s = cano.training_sample(data.rgb[i], data.depth[i].astype(np.float32), k, (96, 128), np.random.default_rng(i), "label", None)
        g = s.image.mean(0)[None, None]
        f = []
        for _ in range(4):
            a = torch.nn.functional.conv2d(g, lap).abs().mean().item()
            gx, gy = (g[..., 1:, :] - g[..., :-1, :]).abs().mean().item(), (g[..., :, 1:] - g[..., :, :-1]).abs().mean().item()
            f += [np.log(a + 1e-4), np.log(gx + gy + 1e-4)]
            g = torch.nn.functional.avg_pool2d(g, 2)
        f += [f[0] - f[2], f[2] - f[4], f[4] - f[6], float(s.image.std()), *s.image.mean(dim=(1, 2)).tolist()]
        lab = s.label[s.label > 0].numpy()
        if lab.size < 100:  # (nearly) all sky
            continue
        feats.append(f)
        y_c.append(np.log(np.median(lab)))
        y_m.append(np.log(np.median(lab) * s.placement.focal_seen / 1000.0))
    X = np.asarray(feats)
    X = (X - X[:-n_test].mean(0)) / (X[:-n_test].std(0) + 1e-9)
    X = np.concatenate([X, X**2, np.ones((len(X), 1))], axis=1)
    lines = []
    for name, y in (("canonical (CSTM_label)", np.asarray(y_c)), ("metric (no CSTM)", np.asarray(y_m))):
        A, b = X[:-n_test], y[:-n_test]
        w = np.linalg.solve(A.T @ A + 1.0 * np.eye(A.shape[1]), A.T @ b)
        err = X[-n_test:] @ w - y[-n_test:]
        const = y[-n_test:] - np.median(y[:-n_test])
        lines.append(
            f"{name:24s} per-image log-scale RMS error: statistics {np.sqrt(np.mean(err**2)):.3f}, one constant {np.sqrt(np.mean(const**2)):.3f} "
            f"(R^2 {1 - np.mean(err**2) / np.var(y[-n_test:]):.2f})"
        )
    return "\n".join(lines)


def per_image_abs_rel(runs: Path, recipe: dict, focals: list[float], scenes: int, seed: int = 9999) -> dict[str, np.ndarray]:
    """AbsRel per held-out image ``{copy: [len(focals), n]}`` on the benchmark's held-out views."""
    from see3d.depth import load_backend
    from see3d.depth.train import DepthTrainConfig, level_options, render_depth_set
    from see3d.eval.depth import depth_metrics

    cfg = DepthTrainConfig(**recipe)
    backends = {"cstm_label": load_backend(runs / "cstm_label" / "model"), "no_cstm": load_backend(runs / "no_cstm" / "model")}
    out = {k: [] for k in backends}
    for f in focals:
        data = render_depth_set(scenes, 1, cfg.render_size, focals=[f], kinds=cfg.kinds, seed=seed, close_up=cfg.close_up, near=cfg.near, level=level_options(cfg))
        rows = {k: [] for k in backends}
        for i in range(len(data)):
            gt = data.depth[i].astype(np.float32)
            mask = (gt > 0.1) & (gt < 200.0)
            for k, b in backends.items():
                rows[k].append(depth_metrics(b.predict(data.rgb[i], data.intrinsics(i)).depth, gt, mask)["abs_rel"] if mask.sum() >= 10 else np.nan)
        for k in backends:
            out[k].append(rows[k])
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def bootstrap(runs: Path, recipe: dict, scenes: int, n: int = 2000, seed: int = 9999) -> str:
    """Confidence intervals of the two goal ratios: resample the held-out scenes (the same scenes at
    every focal, so paired), recompute CSTM unseen/seen and no-CSTM/CSTM at unseen focals."""
    focals = SEEN + UNSEEN + EDGE
    a = per_image_abs_rel(runs, recipe, focals, scenes, seed)
    s, u = [focals.index(f) for f in SEEN], [focals.index(f) for f in UNSEEN]

    def ratios(c, m):
        cu = np.nanmean(np.nanmean(c[u], axis=1))
        return cu / np.nanmean(np.nanmean(c[s], axis=1)), np.nanmean(np.nanmean(m[u], axis=1)) / cu

    def steps_out(c):
        m = np.nanmean(c, axis=1)
        return [m[focals.index(o)] / m[focals.index(i)] for o, i in ((250.0, 300.0), (2500.0, 2000.0))]

    r0 = ratios(a["cstm_label"], a["no_cstm"])
    e0 = steps_out(a["cstm_label"])
    rng = np.random.default_rng(0)
    rs, es = [], []
    for _ in range(n):
        idx = rng.integers(0, a["cstm_label"].shape[1], a["cstm_label"].shape[1])
        rs.append(ratios(a["cstm_label"][:, idx], a["no_cstm"][:, idx]))
        es.append(steps_out(a["cstm_label"][:, idx]))
    rs, es = np.asarray(rs), np.asarray(es)
    ci = [np.percentile(es[:, j], [2.5, 97.5]) for j in range(2)]
    lo0, hi0 = np.percentile(rs[:, 0], [2.5, 97.5])
    lo1, hi1 = np.percentile(rs[:, 1], [2.5, 97.5])
    per_focal = "  ".join(f"{f:g}: {np.nanmean(a['cstm_label'][j]):.3f} / {np.nanmean(a['no_cstm'][j]):.3f}" for j, f in enumerate(focals))
    return (
        f"{a['cstm_label'].shape[1]} held-out scenes, {n} paired bootstrap resamples:\n"
        f"AbsRel CSTM / no-CSTM per focal px: {per_focal}\n"
        f"CSTM unseen/seen {r0[0]:.2f} (95% interval {lo0:.2f}-{hi0:.2f}, P(<= 1.5) {np.mean(rs[:, 0] <= 1.5):.2f})\n"
        f"no-CSTM / CSTM at unseen focals {r0[1]:.2f}x (95% interval {lo1:.2f}-{hi1:.2f}, P(>= 3) {np.mean(rs[:, 1] >= 3):.2f})\n"
        f"CSTM step out of the training range: AbsRel 250 / 300 px {e0[0]:.2f} ({ci[0][0]:.2f}-{ci[0][1]:.2f}), "
        f"2500 / 2000 px {e0[1]:.2f} ({ci[1][0]:.2f}-{ci[1][1]:.2f})"
    )


def breakdown(runs: Path, recipe: dict, focal: float, scenes: int, seed: int = 9999) -> str:
    """Where the CSTM copy's AbsRel comes from at one focal: ground pixels (depth within 3% of the
    level-camera ground depth ``f * h / y``; approximate under the +-0.5 deg tilt) and the rest,
    by true depth band; each band's share of the pixels, its AbsRel and median pred / truth."""
    from see3d.depth import load_backend
    from see3d.depth.train import DepthTrainConfig, level_options, render_depth_set

    cfg = DepthTrainConfig(**recipe)
    b = load_backend(runs / "cstm_label" / "model")
    data = render_depth_set(scenes, 1, cfg.render_size, focals=[focal], kinds=cfg.kinds, seed=seed, close_up=cfg.close_up, near=cfg.near, level=level_options(cfg))
    h, w = cfg.render_size
    y = (np.arange(h) - (h - 1) / 2.0)[:, None] * np.ones((1, w))
    acc: dict[tuple, list] = {}
    for i in range(len(data)):
        gt = data.depth[i].astype(np.float32)
        m = (gt > 0.1) & (gt < 200.0)
        rel = b.predict(data.rgb[i], data.intrinsics(i)).depth / np.where(m, gt, 1.0)
        ground = m & (np.abs(gt * np.maximum(y, 1e-9) / (focal * cfg.eye_height) - 1) < 0.03)
        for name, sel in (("ground", ground), ("other", m & ~ground)):
            for lo, hi in ((0.1, 5.0), (5.0, 15.0), (15.0, 40.0), (40.0, 200.0)):
                q = sel & (gt >= lo) & (gt < hi)
                if q.any():
                    acc.setdefault((name, lo, hi), []).append(rel[q])
    total = sum(len(r) for v in acc.values() for r in v)
    lines = [f"CSTM copy at {focal:g} px, {len(data)} held-out views: band, share of pixels, AbsRel, median pred/truth, AbsRel share"]
    all_err = sum(np.abs(r - 1).sum() for v in acc.values() for r in v)
    for (name, lo, hi), v in sorted(acc.items()):
        r = np.concatenate(v)
        lines.append(f"  {name:6s} {lo:5.1f}-{hi:5.1f} m  {len(r) / total:5.2f}  {np.abs(r - 1).mean():6.3f}  {np.median(r):5.2f}  {np.abs(r - 1).sum() / all_err:5.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/canonical_bench"))
    ap.add_argument("--steps", type=int, default=0, help="training steps (0 = the see3d train depth default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--scenes", type=int, default=30, help="held-out scenes per focal")
    ap.add_argument("--no-stress", action="store_true", help="skip the 150 / 4000 px stress focals")
    ap.add_argument("--world", choices=sorted(WORLDS), default="level", help="training/test recipe (default: level)")
    ap.add_argument("--recipe", type=json.loads, default={}, help='JSON changes to the recipe, e.g. \'{"norm": "batch"}\'')
    ap.add_argument("--test-seed", type=int, default=9999, help="seed of the held-out scenes (9999: the set every recorded figure used; any other: a fresh check)")
    ap.add_argument("--test-close-up", type=float, default=None, help="close-up fraction of the held-out views (default: the training recipe's)")
    ap.add_argument("--probe", action="store_true", help="only the image-statistics probe on the training data cache")
    ap.add_argument("--breakdown", type=float, default=None, metavar="FOCAL", help="only: where the CSTM copy's error comes from at this focal")
    ap.add_argument("--bootstrap", action="store_true", help="only confidence intervals of the goal ratios (trained copies, held-out scenes)")
    args = ap.parse_args(argv)
    RECIPE.clear()
    RECIPE.update(WORLDS[args.world])
    RECIPE.update(args.recipe)
    if args.probe:
        print(probe(args.runs / "cstm_label" / "data.npz"))
        return 0
    if args.breakdown is not None:
        print(breakdown(args.runs, RECIPE, args.breakdown, args.scenes, args.test_seed))
        return 0
    if args.bootstrap:
        print(bootstrap(args.runs, RECIPE, args.scenes, seed=args.test_seed))
        return 0

    from see3d.depth.train import DepthTrainConfig, _load_or_render, level_options

    runs = {"label": args.runs / "cstm_label", None: args.runs / "no_cstm"}
    t0 = time.perf_counter()
    if not args.eval_only:
        # render the shared data once, then give both runs the same cache
        first = runs["label"]
        first.mkdir(parents=True, exist_ok=True)
        _load_or_render(DepthTrainConfig(**RECIPE), first, print)
        for run in runs.values():
            run.mkdir(parents=True, exist_ok=True)
            if run != first and not (run / "data.npz").exists():
                shutil.copyfile(first / "data.npz", run / "data.npz")
        procs = [mp.get_context("spawn").Process(target=_train, args=(v, r, args.steps, args.threads, RECIPE)) for v, r in runs.items()]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode:
                print(f"training process failed with exit code {p.exitcode}", file=sys.stderr)
                return 1
        print(f"trained both copies in {(time.perf_counter() - t0) / 60:.1f} min")

    import torch

    from see3d.depth import load_backend
    from see3d.depth.train import evaluate_on_synth

    torch.set_num_threads(2)
    focals = sorted(SEEN + UNSEEN + EDGE + ([] if args.no_stress else STRESS))
    t1 = time.perf_counter()
    backends = {("cstm_label" if v else "no_cstm"): load_backend(run / "model") for v, run in runs.items()}
    const = float(backends["no_cstm"].model.config.init_depth)  # median metric training label (init_from_data)
    predictors = {k: (lambda im, K, b=b: b.predict(im, K).depth) for k, b in backends.items()}
    predictors["constant"] = lambda im, K: np.full(im.shape[:2], const, np.float32)
    cfg = DepthTrainConfig(**RECIPE)
    results = evaluate_on_synth(
        predictors,
        focals,
        scenes=args.scenes,
        image_size=cfg.render_size,
        kinds=cfg.kinds,
        close_up=cfg.close_up if args.test_close_up is None else args.test_close_up,
        near=cfg.near,
        level=level_options(cfg),
        seed=args.test_seed,
    )
    print(f"evaluated both copies in {time.perf_counter() - t1:.0f} s")

    def mean_over(res, fs, key):
        return float(np.mean([res[f][key] for f in fs]))

    lines = [f"{'focal px':>9} {'seen':>6} | {'AbsRel CSTM':>11} {'d1 CSTM':>8} | {'AbsRel none':>11} {'d1 none':>8}"]
    for f in focals:
        a, b = results["cstm_label"][f], results["no_cstm"][f]
        tag = "yes" if f in SEEN else ("no" if f in UNSEEN else ("edge" if f in EDGE else "far"))
        lines.append(f"{f:9.0f} {tag:>6} | {a['abs_rel']:11.3f} {a['delta1']:8.3f} | {b['abs_rel']:11.3f} {b['delta1']:8.3f}")
    c_seen = mean_over(results["cstm_label"], SEEN, "abs_rel")
    c_unseen = mean_over(results["cstm_label"], UNSEEN, "abs_rel")
    n_unseen = mean_over(results["no_cstm"], UNSEEN, "abs_rel")
    n_seen = mean_over(results["no_cstm"], SEEN, "abs_rel")
    lines.append("")
    lines.append(f"CSTM_label: AbsRel seen {c_seen:.3f}, unseen (250, 2500) {c_unseen:.3f} -> ratio {c_unseen / c_seen:.2f} (goal <= 1.5)")
    lines.append(f"no CSTM:    AbsRel seen {n_seen:.3f}, unseen {n_unseen:.3f} -> unseen vs CSTM unseen {n_unseen / c_unseen:.2f}x (goal >= 3)")
    e = results["cstm_label"]
    lines.append(
        f"step out of the training range (CSTM): AbsRel 250 / 300 px {e[250.0]['abs_rel'] / e[300.0]['abs_rel']:.2f}, "
        f"2500 / 2000 px {e[2500.0]['abs_rel'] / e[2000.0]['abs_rel']:.2f}"
    )
    k_seen, k_unseen = mean_over(results["constant"], SEEN, "abs_rel"), mean_over(results["constant"], UNSEEN, "abs_rel")
    lines.append(f"reference:  one constant depth ({const:.2f} m, median training label) AbsRel seen {k_seen:.3f}, unseen {k_unseen:.3f}")
    text = "\n".join(lines)
    print(text)
    name = "results" + ("" if args.test_close_up is None else f"_closeup{args.test_close_up:g}") + ("" if args.scenes == 30 else f"_scenes{args.scenes}") + ("" if args.test_seed == 9999 else f"_seed{args.test_seed}")
    out = args.runs / f"{name}.json"
    out.write_text(json.dumps({"results": {k: {str(f): v for f, v in r.items()} for k, r in results.items()}, "table": text}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
