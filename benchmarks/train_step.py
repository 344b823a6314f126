"""Time of one `see3d train mvd` step (loss forward + backward) with and without dropping references.

References carry no loss, so the trainer puts them first and asks the UNet for the targets only
(``out_frames``): their views leave after the last cross-view attention block, and the
high-resolution decoder levels run on the targets alone (same loss and gradients; tested in
``tests/test_mvd_train.py::test_loss_drops_references_exactly``). This benchmark builds the real
batches of a training config and times the two paths alternately in the same process, so load
changes hit both; it prints the best per-step CPU and wall times and their ratio.

With ``--loop`` it also times whole steps of ``see3d.mvd.train.train`` (batch, loss, backward, AdamW,
EMA; no checkpoints) with the next batch made in a thread (as shipped) and made inline, alternately.

    OMP_NUM_THREADS=1 python benchmarks/train_step.py [--config src/see3d/mvd/configs/mvd_small_ft.toml]
        [--steps 8] [--repeats 3] [--threads 1] [--loop]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="src/see3d/mvd/configs/mvd_small_ft.toml")
    ap.add_argument("--steps", type=int, default=8, help="batches per timed round")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per path (best is printed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--loop", action="store_true", help="also time train() steps: batches in a thread vs inline")
    args = ap.parse_args()

    import numpy as np
    import torch

    from see3d.mvd import train as tr
    from see3d.mvd.model import MVDModel

    torch.set_num_threads(args.threads)
    cfg = tr.TrainConfig.from_file(args.config)
    model = MVDModel(cfg.model)
    unet = model.unet
    source = tr.make_source(cfg.data, cfg.size, cfg.clip_frames, cfg.data_seed_offset)
    batches = [tr.make_batch(cfg, source, s, 0, model, torch.device("cpu")) for s in range(args.steps)]
    drop = tr._targets_last
    paths = {"all views": lambda ref: None, "references dropped": drop}

    def step_round(select) -> tuple[float, float]:
        tr._targets_last = select
        c, w = time.process_time(), time.perf_counter()
        for i, batch in enumerate(batches):
            unet.zero_grad(set_to_none=True)
            tr.loss_fn(model, unet, batch, torch.Generator().manual_seed(i), cfg).backward()
        return (time.process_time() - c) / len(batches), (time.perf_counter() - w) / len(batches)

    for select in paths.values():  # warm-up
        step_round(select)
    best = {name: np.full(2, np.inf) for name in paths}
    for _ in range(args.repeats):
        for name, select in paths.items():
            best[name] = np.minimum(best[name], step_round(select))
    tr._targets_last = drop
    print(f"# {args.config}: batch {cfg.batch} x {cfg.views} views ({cfg.refs_min}-{cfg.refs_max} references), "
          f"{cfg.crop or cfg.size} px, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print_table("path", best, args.repeats, args.steps)
    if args.loop:
        loop_study(cfg, args)
    return 0


def loop_study(cfg, args) -> None:
    """Whole training steps with the next batch made in a thread (shipped) and inline."""
    import dataclasses
    import tempfile
    from concurrent.futures import Future

    import numpy as np

    from see3d.mvd import train as tr

    class Inline:  # the executor's interface, running each job at once
        def __init__(self, *a, **k):
            pass

        def submit(self, fn, *a):
            fut = Future()
            fut.set_result(fn(*a))
            return fut

        def shutdown(self, **k):
            pass

    cfg = dataclasses.replace(cfg, ckpt_every=10**9)  # no checkpoint inside the timed steps
    shipped = tr.ThreadPoolExecutor
    paths = {"batches made inline": Inline, "next batch in a thread": shipped}
    best = {name: np.full(2, np.inf) for name in paths}
    n = 3 * args.steps
    for _ in range(args.repeats):
        for name, executor in paths.items():
            tr.ThreadPoolExecutor = executor
            with tempfile.TemporaryDirectory() as d:
                tr.train(cfg, d, max_steps=2)  # warm-up: clips, kernels (no checkpoint is written)
                c, w = time.process_time(), time.perf_counter()
                tr.train(cfg, d, max_steps=n)
                best[name] = np.minimum(best[name], ((time.process_time() - c) / n, (time.perf_counter() - w) / n))
    tr.ThreadPoolExecutor = shipped
    print()
    print_table("train() loop", best, args.repeats, n)


def print_table(what: str, best: dict, repeats: int, steps: int) -> None:
    """Best per-step CPU and wall times of each path (the first is the baseline), and the speed-up."""
    print(f"| {what} | CPU ms / step | wall ms / step |")
    print("|---|---|---|")
    for name, (cpu, wall) in best.items():
        print(f"| {name} | {1000 * cpu:.0f} | {1000 * wall:.0f} |")
    base, new = list(best.values())[0], list(best.values())[-1]
    print(f"speed-up: {base[0] / new[0]:.2f}x CPU, {base[1] / new[1]:.2f}x wall (best of {repeats} rounds of {steps} steps)")


if __name__ == "__main__":
    raise SystemExit(main())
