#!/bin/sh
# Throughput of data-parallel training: 1 process against 2 (torchrun, gloo), one thread
# each, at equal global batch, on mnist1d with the README's GRU (2x128). Take both CPU
# lanes so both cores are free:
#   flock /tmp/rnnlab-long.lock flock /tmp/rnnlab-cpu.lock sh benchmarks/ddp_throughput.sh
# (the long lane first: waiting for it does not hold up the short lane)
# Prints steps/s = steps / wall_time_s (training time only, rank 0's, from summary.json).
set -e
PY=${PYTHON:-python}
OUT=${OUT:-/tmp/rnnlab-ddp-throughput}
rm -rf "$OUT"
uptime
for spec in "64 300" "256 100"; do
  set -- $spec
  B=$1 STEPS=$2
  ARGS="train mnist1d --model gru --batch-size $B --steps $STEPS --eval-every 100000 --quiet"
  OMP_NUM_THREADS=1 $PY -m rnnlab $ARGS --out "$OUT/one-$B" > /dev/null
  OMP_NUM_THREADS=1 $PY -m torch.distributed.run --standalone --nproc_per_node=2 \
    -m rnnlab $ARGS --out "$OUT/two-$B" > /dev/null 2>&1
  $PY - "$OUT" "$B" <<'PYEOF'
import json, sys
out, b = sys.argv[1], sys.argv[2]
r = {n: json.load(open(f"{out}/{n}-{b}/summary.json")) for n in ("one", "two")}
s = {n: r[n]["steps"] / r[n]["wall_time_s"] for n in r}
print(f"mnist1d gru B={b}: 1 process {s['one']:.1f} steps/s, 2 processes {s['two']:.1f} "
      f"steps/s, speed-up x{s['two'] / s['one']:.2f}")
PYEOF
done
uptime
