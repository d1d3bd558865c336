#!/usr/bin/env bash
# The quality runs behind the figures in benchmarks/RESULTS.md. Each is an ordinary
# `rnnlab` command with the task's defaults unless a flag says otherwise; the figures come
# from each run folder's summary.json (or the JSON the command prints). About 5 hours on
# 2 CPU cores, run one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RNNLAB:-.venv/bin/rnnlab}
O=${OUT:-runs/targets}

# --- foundation (issue 2) ---
$R train mnist1d --model gru --out "$O/mnist1d-gru" --overwrite --quiet
$R train mnist1d --model gru --bidirectional --out "$O/mnist1d-bigru" --overwrite --quiet
$R train adding --model lstm --T 200 --out "$O/adding-lstm" --overwrite --quiet
for model in elman lstm gru; do
  $R train copy --model "$model" --T 100 --out "$O/copy100-$model" --overwrite --quiet
done
$R bench

# --- vanishing gradients, orthogonal and unitary RNNs (issue 4), 120 s of training each ---
$R train copy --model exprnn --T 200 --max-time 120 --out "$O/copy200-exprnn" --overwrite --quiet
$R train copy --model lstm --hidden 90 --T 200 --max-time 120 --out "$O/copy200-lstm" --overwrite --quiet
$R train copy --model elman --hidden 190 --T 200 --max-time 120 --out "$O/copy200-elman" --overwrite --quiet
$R diagnose gradflow --models elman,lstm,exprnn --task copy --T 200 --out "$O/gradflow-init"
$R diagnose gradflow --run "$O/copy200-elman" --run "$O/copy200-lstm" --run "$O/copy200-exprnn" \
  --out "$O/gradflow-trained"
for T in 400 1000; do $R eval "$O/copy200-exprnn" --T "$T" --splits test --json; done
$R train adding --model exprnn --T 400 --max-time 600 --out "$O/adding400-exprnn" --overwrite --quiet
$R train copy --model exprnn --T 1000 --max-time 480 --eval-every 25 --out "$O/copy1000-exprnn" \
  --overwrite --quiet

# --- multiscale (issue 5), the same 120 s budget ---
$R train copy --model clockwork --T 200 --max-time 120 --out "$O/copy200-clockwork" --overwrite --quiet
$R train copy --model dilated --cell gru --layers 4 --T 200 --max-time 120 \
  --out "$O/copy200-dilated-gru" --overwrite --quiet
$R train copy --model gru --T 200 --max-time 120 --out "$O/copy200-gru" --overwrite --quiet
$R diagnose gradflow --models elman,clockwork --task copy --T 200 --hidden 128 \
  --out "$O/gradflow-clockwork"

# --- multiscale and multiplicative (issue 5), 2026-11-27: the same 1000-step budget ---
for model in elman clockwork gru; do
  $R train adding --model "$model" --T 400 --hidden 128 --steps 1000 --eval-every 250 \
    --out "$O/add400-$model" --overwrite --quiet
done
$R train adding --model dilated --cell gru --dilations 1,2,4,8,16,32 --hidden 39 --T 400 \
  --steps 1000 --eval-every 250 --out "$O/add400-dilated-gru" --overwrite --quiet
$R diagnose gradflow --models elman,clockwork,dilated --cell elman --hidden 128,128,32 \
  --dilations 1,2,4,8 --task copy --T 200 --out "$O/gradflow-multiscale"
if [ -f ../shared/data/tinyshakespeare.txt ]; then
  OUT="$O/charlm-compare" BUDGET=240 bash benchmarks/charlm_compare.sh
  $R diagnose boundaries --run "$O/charlm-compare/hmrnn" \
    --text "First Citizen: Before we proceed any further, hear me speak." --out "$O/boundaries"
  SH=(shakespeare --data ../shared/data/tinyshakespeare.txt --model lstm --layers 1 --hidden 512
      --T 64 --batch-size 32 --lr 4e-3 --warmup 30 --dropout 0 --overwrite --quiet)
  $R train "${SH[@]}" --max-time 106 --steps 450 --out "$O/shk106"
  $R train "${SH[@]}" --max-time 600 --steps 2400 --out "$O/shk600"
  $R sample "$O/shk600" --prompt "ROMEO:" --length 400 --temperature 0.8 --seed 0
  TEXT_STEPS=500 OUT="$O/exposure-text" bash benchmarks/exposure.sh text
fi
$R train mnist1d-gen --out "$O/mnist1d-gen" --overwrite --quiet

# --- encoder-decoders (issue 6), 2026-11-27 ---
$R train reverse --out "$O/reverse-att" --overwrite --quiet
$R train reverse --attention none --out "$O/reverse-none" --overwrite --quiet
$R diagnose length --run "$O/reverse-att" --run "$O/reverse-none" --out "$O/reverse-length"
$R train dates --out "$O/dates" --overwrite --quiet

# --- exposure bias on a known distribution (issue 3) ---
$R train hmm --model lstm --out "$O/hmm-tf" --overwrite --quiet
$R train hmm --model lstm --scheduled-sampling inverse_sigmoid --ss-k 300 --out "$O/hmm-ss" \
  --overwrite --quiet
$R train hmm --model lstm --professor-forcing --pf-weight 0.1 --pf-g-min-acc 0 --out "$O/hmm-pf" \
  --overwrite --quiet
$R diagnose exposure --run "$O/hmm-tf" --run "$O/hmm-ss" --run "$O/hmm-pf" --rows 1024 \
  --out "$O/exposure"

# --- translation (issue 6): Multi30k en->de (45 min of training), Tatoeba en->fr (short) ---
T6=../shared/data/translation
if [ -d "$T6/multi30k" ]; then
  $R bench --select beam_batched --data "$T6/multi30k"   # k=5 over Multi30k's val set
  $R train translate --data "$T6/multi30k" --src en --tgt de --steps 5000 \
    --max-time 2700 --out "$O/multi30k-en-de" --overwrite --quiet
fi
if [ -f "$T6/eng-fra.txt.gz" ]; then
  $R train translate --data "$T6/eng-fra.txt.gz" --short \
    --steps 2000 --eval-every 500 --max-time 600 --out "$O/tatoeba-en-fr-short" --overwrite --quiet
fi
