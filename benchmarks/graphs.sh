#!/usr/bin/env bash
# GGNN against an LSTM over the edge list on the generated graph tasks (one thread).
# Usage: bash benchmarks/graphs.sh [OUT_DIR]  (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
R="${R:-.venv/bin/rnnlab}"
OUT="${1:-runs/graphs}"
COMMON=(--quiet --overwrite --steps 3000 --eval-every 500)
$R train graph-path --model ggnn "${COMMON[@]}" --out "$OUT/path-ggnn"
$R train graph-path --model edge_rnn "${COMMON[@]}" --out "$OUT/path-lstm"
$R train graph-reach --model ggnn "${COMMON[@]}" --out "$OUT/reach-ggnn"
$R train graph-reach --model edge_rnn "${COMMON[@]}" --out "$OUT/reach-lstm"
