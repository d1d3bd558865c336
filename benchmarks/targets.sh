#!/usr/bin/env bash
# Quality runs behind the figures reported for the foundation issue (see benchmarks/RESULTS.md).
# Each is an ordinary `rnnlab train` with the task's defaults unless a flag says otherwise;
# the figures come from each run folder's summary.json. About 45 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RNNLAB=${RNNLAB:-.venv/bin/rnnlab}
OUT=${OUT:-runs/targets}

# MNIST-1D, GRU with the task's defaults (target: test accuracy >= 0.98 in <= 5 minutes)
$RNNLAB train mnist1d --model gru --out "$OUT/mnist1d-gru" --overwrite --quiet
# MNIST-1D, the best recurrent model we found (aim: >= 0.99)
$RNNLAB train mnist1d --model gru --bidirectional --out "$OUT/mnist1d-bigru" --overwrite --quiet
# Adding problem T=200, LSTM with the task's defaults (target: test MSE < 0.01 in <= 20 minutes)
$RNNLAB train adding --model lstm --T 200 --out "$OUT/adding-lstm" --overwrite --quiet
# Copy task T=100 with each plain cell, the task's defaults (baseline 0.1733)
for model in elman lstm gru; do
  $RNNLAB train copy --model "$model" --T 100 --out "$OUT/copy-$model" --overwrite --quiet
done
# Speed ratios against torch.nn (targets: generic <= 1.2, fast <= 1.05)
$RNNLAB bench
