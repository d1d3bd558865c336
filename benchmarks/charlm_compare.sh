#!/usr/bin/env bash
# Character language models on Tiny Shakespeare at equal training time (issue 5): LSTM
# against the multiplicative mLSTM and mRNN and the hierarchical multiscale HM-RNN at about
# the LSTM's parameter count (hidden sizes from `rnnlab params --target`), and the
# layer-normalised LSTM and the LSTM with variational recurrent dropout (p = 0.25) at the
# LSTM's hidden size. One layer each, the charlm task's other defaults (AdamW 2e-3,
# dropout 0.1 on embeddings and outputs, T = 128, batch 32), a constant learning rate after
# warm-up since the time budget, not the step count, ends every run. Prints the val bits
# per character of each; the figures are also in "$O/<model>/summary.json".
#
# About 6 x BUDGET seconds of training plus the evaluations (not counted in the budget):
# ~35 minutes with the defaults on 2 CPU cores. On a GPU, equal time favours the LSTM,
# whose unroll is cuDNN's fused kernel, over the cells that run rnnlab's step loop (all the
# others); on one CPU thread the fused LSTM and the step loop cost about the same (B=32,
# T=128, H=256). The default HIDDEN=256 gives about 0.56M parameters per model; on a GPU,
# DEVICE=cuda HIDDEN=512 (2.2M).
#
#   BUDGET=300 HIDDEN=256 DEVICE=cpu DATA=../shared/data benchmarks/charlm_compare.sh
#   rnnlab diagnose boundaries --run "$O/hmrnn" --text "..." --out "$O/boundaries"  # figure
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RNNLAB:-.venv/bin/rnnlab}
O=${OUT:-runs/charlm-compare}
DATA=${DATA:-../shared/data}  # a folder holding tinyshakespeare.txt, or the file itself
BUDGET=${BUDGET:-300}         # seconds of training per model
HIDDEN=${HIDDEN:-256}         # the LSTM's hidden size; the others are matched to its count
DEVICE=${DEVICE:-cpu}

TASK=(shakespeare --data "$DATA")
COMMON=(--layers 1 --max-time "$BUDGET" --steps 1000000 --schedule constant --device "$DEVICE"
  --overwrite --quiet)

# a number of the JSON on stdin: `field KEY` (a top-level key), `field val.bpc`
field() {
  local json
  json=$(tr -d '\n ')
  case $1 in
    val.bpc) sed -nE 's/.*"val":\{[^}]*"bpc":([0-9.eE+-]+).*/\1/p' <<<"$json" ;;
    *) sed -nE "s/.*\"$1\":([0-9.eE+-]+).*/\1/p" <<<"$json" ;;
  esac
}
PARAMS=$($R params "${TASK[@]}" --model lstm --hidden "$HIDDEN" --layers 1 --json | field params)
matched() {
  $R params "${TASK[@]}" --model "$1" --layers 1 --target "$PARAMS" --json | field hidden_size
}

declare -A SIZE=([lstm]=$HIDDEN [ln_lstm]=$HIDDEN [vd_lstm]=$HIDDEN)
for model in mlstm mrnn hmrnn; do SIZE[$model]=$(matched "$model"); done
MODELS=(lstm mlstm mrnn ln_lstm vd_lstm hmrnn)
echo "LSTM hidden $HIDDEN: $PARAMS parameters; hidden sizes:"
for model in "${MODELS[@]}"; do echo "  $model ${SIZE[$model]}"; done

for model in "${MODELS[@]}"; do
  $R train "${TASK[@]}" --model "$model" --hidden "${SIZE[$model]}" "${COMMON[@]}" --out "$O/$model"
done

echo
printf '%-8s %7s %10s %7s %9s\n' model hidden params steps "val bpc"
for model in "${MODELS[@]}"; do
  s="$O/$model/summary.json"
  printf '%-8s %7s %10s %7s %9.4f\n' "$model" "${SIZE[$model]}" "$(field params <"$s")" \
    "$(field steps <"$s")" "$(field val.bpc <"$s")"
done
