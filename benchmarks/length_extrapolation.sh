#!/usr/bin/env bash
# Length extrapolation of the Transformer LM's position schemes on Tiny Shakespeare: one
# model per scheme trained at context 128 with no carried memory (--max-length 128), 60 s
# each under bfloat16 autocast, then evaluated on windows of 128, 256 and 512 characters.
# Usage: bash benchmarks/length_extrapolation.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
DATA="${DATA:-../shared/data/tinyshakespeare.txt}"
OUT="${1:-runs/length}"
for positions in rotary alibi sinusoidal learned; do
  $PY -m rnnlab.cli train shakespeare --data "$DATA" --model transformer --positions "$positions" \
    --T 128 --max-length 128 --batch-size 16 --bf16 --max-time 60 --quiet --overwrite \
    --out "$OUT/$positions"
done
$PY benchmarks/length_extrapolation.py "$OUT"/rotary "$OUT"/alibi "$OUT"/sinusoidal "$OUT"/learned
