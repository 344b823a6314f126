"""Does the canonical camera transform make metric depth work across focal lengths?

Trains two copies of the same tiny depth network (see3d.depth.tiny) on the same synth data
(focal lengths log-uniform in 300-2000 px): one with Metric3D's CSTM_label (labels scaled by
f_c / f, prediction by f / f_c), one without (metric labels). Then evaluates both on held-out
synth scenes rendered at focal lengths seen in training (400, 1000, 1600 px) and not seen
(250, 2500 px; 150 and 4000 px as a further stress test), printing AbsRel and delta1 per focal.

Goal (from the issue): with the transform, AbsRel at unseen focals within 1.5x of the
seen-focal AbsRel; without it, AbsRel at unseen focals >= 3x worse than with it.

    python benchmarks/canonical_depth.py --runs runs/canonical_bench          # train both + eval
    python benchmarks/canonical_depth.py --runs runs/canonical_bench --eval-only

The two trainings run as two processes side by side (``--threads`` each) and resume from
their checkpoints if interrupted. The canonical copy is trained with exactly the defaults of
``see3d train depth`` (it is the bundled model).
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

#: The training recipe of both copies (on top of the DepthTrainConfig defaults): half of
#: the views moved to 0.3 m - 1x of their distance to the surface they look at, so the
#: canonical depths of the unseen focals are inside the training range; Metric3D's random
#: resize; output bias started at the median label.
RECIPE = dict(close_up=0.5, near=0.3, resize_range=(0.85, 1.15), init_from_data=True, global_scale=True, scenes=600, steps=2400)

SEEN = [400.0, 1000.0, 1600.0]
UNSEEN = [250.0, 2500.0]
STRESS = [150.0, 4000.0]


def _train(variant, run, steps, threads):
    import torch

    from see3d.depth.train import DepthTrainConfig, train_depth

    torch.set_num_threads(threads)
    cfg = DepthTrainConfig(variant=variant, threads=threads, **{**RECIPE, **({"steps": steps} if steps else {})})
    train_depth(cfg, run)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/canonical_bench"))
    ap.add_argument("--steps", type=int, default=0, help="training steps (0 = the see3d train depth default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--scenes", type=int, default=30, help="held-out scenes per focal")
    ap.add_argument("--no-stress", action="store_true", help="skip the 150 / 4000 px stress focals")
    args = ap.parse_args(argv)

    from see3d.depth.train import DepthTrainConfig, _load_or_render

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
        procs = [mp.get_context("spawn").Process(target=_train, args=(v, r, args.steps, args.threads)) for v, r in runs.items()]
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
    focals = sorted(SEEN + UNSEEN + ([] if args.no_stress else STRESS))
    t1 = time.perf_counter()
    backends = {("cstm_label" if v else "no_cstm"): load_backend(run / "model") for v, run in runs.items()}
    const = float(backends["no_cstm"].model.config.init_depth)  # median metric training label (init_from_data)
    predictors = {k: (lambda im, K, b=b: b.predict(im, K).depth) for k, b in backends.items()}
    predictors["constant"] = lambda im, K: np.full(im.shape[:2], const, np.float32)
    results = evaluate_on_synth(
        predictors,
        focals,
        scenes=args.scenes,
        image_size=DepthTrainConfig().render_size,
        close_up=RECIPE["close_up"],
        near=RECIPE["near"],
    )
    print(f"evaluated both copies in {time.perf_counter() - t1:.0f} s")

    def mean_over(res, fs, key):
        return float(np.mean([res[f][key] for f in fs]))

    lines = [f"{'focal px':>9} {'seen':>6} | {'AbsRel CSTM':>11} {'d1 CSTM':>8} | {'AbsRel none':>11} {'d1 none':>8}"]
    for f in focals:
        a, b = results["cstm_label"][f], results["no_cstm"][f]
        tag = "yes" if f in SEEN else ("no" if f in UNSEEN else "far")
        lines.append(f"{f:9.0f} {tag:>6} | {a['abs_rel']:11.3f} {a['delta1']:8.3f} | {b['abs_rel']:11.3f} {b['delta1']:8.3f}")
    c_seen = mean_over(results["cstm_label"], SEEN, "abs_rel")
    c_unseen = mean_over(results["cstm_label"], UNSEEN, "abs_rel")
    n_unseen = mean_over(results["no_cstm"], UNSEEN, "abs_rel")
    n_seen = mean_over(results["no_cstm"], SEEN, "abs_rel")
    lines.append("")
    lines.append(f"CSTM_label: AbsRel seen {c_seen:.3f}, unseen (250, 2500) {c_unseen:.3f} -> ratio {c_unseen / c_seen:.2f} (goal <= 1.5)")
    lines.append(f"no CSTM:    AbsRel seen {n_seen:.3f}, unseen {n_unseen:.3f} -> unseen vs CSTM unseen {n_unseen / c_unseen:.2f}x (goal >= 3)")
    k_seen, k_unseen = mean_over(results["constant"], SEEN, "abs_rel"), mean_over(results["constant"], UNSEEN, "abs_rel")
    lines.append(f"reference:  one constant depth ({const:.2f} m, median training label) AbsRel seen {k_seen:.3f}, unseen {k_unseen:.3f}")
    text = "\n".join(lines)
    print(text)
    (args.runs / "results.json").write_text(json.dumps({"results": {k: {str(f): v for f, v in r.items()} for k, r in results.items()}, "table": text}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
