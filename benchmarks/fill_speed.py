"""Wall time of `see3d generate`'s warp + fill stages on the bundled example, fillers side by side.

The in-memory job of ``see3d generate --example motorcycle`` (``generate_views``: trajectory, warp,
fill; no 3DGS, nothing written) with Telea, the bundled diffusion model as shipped (windowed
inference, ``tile`` in its ``config.json``) and, with ``--whole``, the same model over whole views
(``tile = 0``: the 3D attention spans every pixel of every view of a group; minutes on a CPU).
A 2-view run of Telea and of the model warms up the kernels and caches first; every variant then
runs ``--repeats`` times and the best time is printed, with its ratio to Telea's.

    python benchmarks/fill_speed.py [--frames 12] [--repeats 1] [--whole] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--whole", action="store_true", help="also time the model over whole views (tile = 0)")
    ap.add_argument("--model", default=None, help="MVD model folder (default: the bundled one)")
    args = ap.parse_args()

    import torch

    from see3d.mvd import default_model_path
    from see3d.pipeline.examples import load_example
    from see3d.pipeline.single_view import GenerateConfig, generate_views

    model = Path(args.model) if args.model else default_model_path()
    ex = load_example("motorcycle")
    variants = {"telea": dict(fill="telea"), "mvd (shipped)": dict(fill="mvd", fill_model=str(model))}
    tmp = Path(tempfile.mkdtemp(prefix="see3d-fill-speed-"))
    try:
        if args.whole:
            whole = tmp / "whole"
            shutil.copytree(model, whole)
            cfg = json.loads((whole / "config.json").read_text())
            cfg["tile"] = 0
            (whole / "config.json").write_text(json.dumps(cfg, indent=2))
            variants["mvd (whole views)"] = dict(fill="mvd", fill_model=str(whole))
        for kw in list(variants.values())[:2]:  # compile / load the kernels, load the model once
            generate_views(ex.image, ex.depth, ex.intrinsics, GenerateConfig(frames=2, **kw))
        print(f"# warp + fill of the motorcycle example, {args.frames} views, torch threads {torch.get_num_threads()}")
        print("| filler | seconds (best of runs) |")
        print("|---|---|")
        base = None
        for name, kw in variants.items():
            times = []
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                generate_views(ex.image, ex.depth, ex.intrinsics, GenerateConfig(frames=args.frames, **kw))
                times.append(time.perf_counter() - t0)
            best = min(times)
            base = best if base is None else base
            print(f"| {name} | {best:.1f} ({best / base:.1f}x Telea) |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
