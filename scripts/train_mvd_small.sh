#!/usr/bin/env bash
# The bundled multi-view diffusion model's whole training recipe (docs/mvd.md, "The bundled small model"):
#   phase 0  steps     1-400    mvd_small_phase0.toml  (t over [0, 1000), 48-px windows)
#   phase 1  steps   401-4100   mvd_small_phase1.toml  (t < 400, 48-px windows)
#   phase 2  steps  4101-9000   mvd_small_ft.toml      (t < 40, x_t from the pre-filled condition, 64 px)
# Usage: [NPROC=1|2] scripts/train_mvd_small.sh [OUT=runs/mvd_small_recipe] [SEED=0] (the shipped weights: SEED 1)
# Every phase resumes from OUT's newest checkpoint, so re-running the script after a crash or a
# kill continues where it stopped. The EMA weights end in OUT/ft/model (a model folder for
# `see3d generate --fill-model` / benchmarks/fill.py --model).
# NPROC (default: 2 on a machine with at least 2 cores) training processes of one thread each
# (torchrun, gloo), each with batch 2 / NPROC, so every step sees the recipe's 2 samples. On the
# 2-core dev VM: ~1 h with two processes, ~1.5x longer with one (docs/mvd.md).
set -euo pipefail
OUT=${1:-runs/mvd_small_recipe}
SEED=${2:-0}
NPROC=${NPROC:-$( [ "$(nproc)" -ge 2 ] && echo 2 || echo 1 )}
case "$NPROC" in 1 | 2) ;; *) echo "NPROC must be 1 or 2 (the recipe's batch of 2 split over the processes)" >&2; exit 2 ;; esac
CFG=$(python -c "import see3d, pathlib; print(pathlib.Path(see3d.__file__).parent / 'mvd' / 'configs')")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-1}
train() {
  if [ "$NPROC" -gt 1 ]; then
    python -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m see3d train mvd --batch $((2 / NPROC)) "$@"
  else
    see3d train mvd "$@"
  fi
}
last_step() { { ls "$1/checkpoints" 2>/dev/null || true; } | sed -n 's/^step_0*//p' | sort -n | tail -1; }
p1=$(last_step "$OUT/p1"); p1=${p1:-0}
if [ "$p1" -lt 400 ]; then
  train --data synth --config "$CFG/mvd_small_phase0.toml" --out "$OUT/p1" --steps 400 --threads 1 --seed "$SEED"
fi
train --data synth --config "$CFG/mvd_small_phase1.toml" --out "$OUT/p1" --steps 4100 --threads 1 --seed "$SEED" --allow-config-change
mkdir -p "$OUT/ft/checkpoints"
if [ -z "$(last_step "$OUT/ft")" ]; then
  cp -r "$OUT/p1/checkpoints/step_0004100" "$OUT/ft/checkpoints/"
fi
train --data synth --config "$CFG/mvd_small_ft.toml" --out "$OUT/ft" --steps 9000 --threads 1 --seed "$SEED" --allow-config-change
echo "model: $OUT/ft/model"
