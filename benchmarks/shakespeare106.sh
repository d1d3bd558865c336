#!/usr/bin/env bash
# Tiny Shakespeare at equal training time (106 s), one torch thread (rnnlab's default),
# three seeds per recipe: the default 2x512 LSTM, the 1x512 recipe of RESULTS.md, and the
# plain script's size (2x256). Usage: bash benchmarks/shakespeare106.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
R=".venv/bin/rnnlab"
DATA="${DATA:-../shared/data/tinyshakespeare.txt}"
OUT="${1:-runs/shk106}"
COMMON=(train shakespeare --data "$DATA" --max-time 106 --quiet --overwrite)
for seed in 0 1 2; do
  $R "${COMMON[@]}" --seed "$seed" --out "$OUT/default-s$seed"
  $R "${COMMON[@]}" --seed "$seed" --layers 1 --hidden 512 --T 64 --lr 4e-3 --warmup 30 \
    --dropout 0 --out "$OUT/1x512-s$seed"
  $R "${COMMON[@]}" --seed "$seed" --hidden 256 --optimizer adamw --lr 3e-3 --dropout 0 \
    --out "$OUT/2x256-s$seed"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
for recipe in ("default", "1x512", "2x256"):
    runs = [json.loads((out / f"{recipe}-s{s}" / "summary.json").read_text()) for s in range(3)]
    nats = [r["metrics"]["val"]["loss"] for r in runs]
    steps = [r["steps"] for r in runs]
    print(f"{recipe:8s} val nats/char {statistics.mean(nats):.3f} (min {min(nats):.3f}, "
          f"max {max(nats):.3f}), steps {steps}, params {runs[0]['params']}")
PY
