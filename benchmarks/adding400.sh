#!/usr/bin/env bash
# Multiscale RNNs against the plain cells they are built from (issue 5), on the adding
# problem at T=400 with the same training time each: the clockwork RNN (128 tanh units, 8
# modules, periods 1..128) against the Elman tanh RNN of 128 units, and the dilated GRU
# (dilations 1, 2, ..., 32, its hidden size matched to the GRU's parameter count by
# `rnnlab params --target`) against the GRU of 128 units. The adding task's other defaults
# (Adam 1e-3, batch 64, clip 1, chrono initialisation of the GRU gates for T); the time
# budget ends every run. Then the gradient flow of the four trained models (per layer and
# per module) and of the same kinds at initialisation on copy T=200 (elman, clockwork and
# a 4-layer dilated Elman stack of 4 x 32 = 128 units). Prints the test MSE of each
# (baseline 0.167, the variance of the sum; solved: below ~0.01).
#
# About 4 x BUDGET seconds of training plus evaluations: ~45 minutes with the default
# 600 s on 2 CPU cores.
#
#   BUDGET=600 DEVICE=cpu benchmarks/adding400.sh
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RNNLAB:-.venv/bin/rnnlab}
O=${OUT:-runs/adding400}
BUDGET=${BUDGET:-600} # seconds of training per model
DEVICE=${DEVICE:-cpu}
DILATIONS=${DILATIONS:-1,2,4,8,16,32}

COMMON=(--T 400 --max-time "$BUDGET" --steps 1000000 --device "$DEVICE" --overwrite --quiet)
number() { tr -d '\n ' | sed -nE "s/.*\"$1\":([0-9.eE+-]+).*/\1/p"; }

GRU=$($R params adding --model gru --hidden 128 --json | number params)
DH=$($R params adding --model dilated --cell gru --dilations "$DILATIONS" --target "$GRU" --json \
  | number hidden_size)

$R train adding --model elman --hidden 128 "${COMMON[@]}" --out "$O/elman"
$R train adding --model clockwork --hidden 128 "${COMMON[@]}" --out "$O/clockwork"
$R train adding --model gru --hidden 128 "${COMMON[@]}" --out "$O/gru"
$R train adding --model dilated --cell gru --dilations "$DILATIONS" --hidden "$DH" "${COMMON[@]}" \
  --out "$O/dilated-gru"

$R diagnose gradflow --run "$O/elman" --run "$O/clockwork" --run "$O/gru" --run "$O/dilated-gru" \
  --out "$O/gradflow-trained"
$R diagnose gradflow --models elman,clockwork,dilated --cell elman --hidden 128,128,32 \
  --dilations 1,2,4,8 --task copy --T 200 --out "$O/gradflow-init"

echo
printf '%-12s %7s %7s %7s %9s\n' model hidden params steps "test mse"
for run in elman clockwork gru dilated-gru; do
  s="$O/$run/summary.json"
  hidden=$(number hidden_size <"$O/$run/config.json")
  test_mse=$(tr -d '\n ' <"$s" | sed -nE 's/.*"test":\{[^}]*"mse":([0-9.eE+-]+).*/\1/p')
  printf '%-12s %7s %7s %7s %9.4f\n' "$run" "$hidden" "$(number params <"$s")" \
    "$(number steps <"$s")" "$test_mse"
done
