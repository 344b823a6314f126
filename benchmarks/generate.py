"""Wall time of the README's first command, ``see3d generate --example motorcycle``, per stage.

Runs, in one process tree and one sitting on the machine: a small warm-up (numba compiles the warp
and rasterizer kernels into its disk cache once per install), then the default job (12 views, the
bundled diffusion filler, the 3DGS preview) and the same job with ``--fill telea`` as the baseline;
``--repeats`` alternates them. Prints each run's wall time and its stages (``run.json``) and the
ratio default / telea (ratios are stable across machines, absolute times are not).

    python benchmarks/generate.py [--repeats 2] [--frames 12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(out: Path, *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "see3d", "generate", "--example", "motorcycle", "-q", "-o", str(out), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "run.json").read_text())["timings_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--frames", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(tmp / "warm", "--frames", "2", "--fill", "telea", "--max-size", "128", "--gs-iterations", "2")
        rows = {"default": [], "telea": []}
        for r in range(args.repeats):
            for name, extra in (("default", ()), ("telea", ("--fill", "telea"))):
                wall, stages = run(tmp / f"{name}{r}", "--frames", str(args.frames), *extra)
                rows[name].append(wall)
                st = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                print(f"{name:8s} run {r}: {wall:6.1f} s wall ({st})", flush=True)
    best = {k: min(v) for k, v in rows.items()}
    print(f"\nbest of {args.repeats}: default {best['default']:.1f} s, --fill telea {best['telea']:.1f} s, ratio {best['default'] / best['telea']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
