#!/usr/bin/env bash
# Exposure bias: teacher forcing vs scheduled sampling vs professor forcing.
#
#   bash benchmarks/exposure.sh [hmm|text|all]     (default all)
#
# hmm  - the known-distribution task (random hidden Markov process, 32 states, 16 symbols,
#        T=64): three LSTM 64 trained with the task's defaults and the same budget (STEPS
#        batches of 64 sequences each, the same batches for all three), then the exact
#        per-position KL(P_true || Q_model) along free-running and teacher-forced prefixes.
#        Professor forcing runs with --pf-g-min-acc 0 (the adversarial term always on): with
#        the paper's gate (75%) it never opens on this task, the discriminator staying near
#        52% accuracy, and the run would equal teacher forcing step for step. Its weight is
#        PF_WEIGHT (0.1): in 300-step trials w=1 cost 0.15 bits/symbol of val bpc against
#        teacher forcing (3.076 vs 2.921), w=0.1 about 0.005.
#        About 20-25 minutes on 2 busy CPU cores (teacher forcing ~0.08 s/step, scheduled
#        sampling ~0.25, professor forcing ~0.35-0.5).
# text - Tiny Shakespeare (DATA): three 1-layer LSTM 256 (T=64, batch 32, no dropout),
#        TEXT_STEPS steps each, then predictive entropy along free-running vs teacher-forced
#        continuations of 256 validation prefixes and the bigram divergence of the generated
#        text (see rnnlab.diagnostics.exposure_text). Professor forcing: weight PF_WEIGHT,
#        the paper's accuracy gates (the discriminator does separate the runs on text).
#        About 35 minutes (~0.24, 0.84 and 0.8 s/step).
#
# Each part writes exposure.json and exposure.png into its own folder under OUT; the
# figures' legends name each run's training mode (read from its config.json).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RNNLAB:-.venv/bin/rnnlab}
O=${OUT:-runs/exposure}
STEPS=${STEPS:-1500}
TEXT_STEPS=${TEXT_STEPS:-1000}
PF_WEIGHT=${PF_WEIGHT:-0.1}
DATA=${DATA:-../shared/data/tinyshakespeare.txt}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # small recurrent nets: one thread is fastest
part=${1:-all}

if [[ $part == hmm || $part == all ]]; then
  H=(hmm --model lstm --steps "$STEPS" --overwrite --quiet)
  $R train "${H[@]}" --out "$O/hmm-tf"
  $R train "${H[@]}" --scheduled-sampling inverse_sigmoid --ss-k 300 --out "$O/hmm-ss"
  $R train "${H[@]}" --professor-forcing --pf-weight "$PF_WEIGHT" --pf-g-min-acc 0 \
    --out "$O/hmm-pf"
  $R diagnose exposure --run "$O/hmm-tf" --run "$O/hmm-ss" --run "$O/hmm-pf" --rows 1024 \
    --out "$O/hmm"
fi

if [[ $part == text || $part == all ]]; then
  S=(shakespeare --data "$DATA" --model lstm --layers 1 --hidden 256 --T 64 --batch-size 32
     --dropout 0 --steps "$TEXT_STEPS" --eval-every 250 --overwrite --quiet)
  $R train "${S[@]}" --out "$O/shakespeare-tf"
  $R train "${S[@]}" --scheduled-sampling inverse_sigmoid --ss-k 300 --out "$O/shakespeare-ss"
  $R train "${S[@]}" --professor-forcing --pf-weight "$PF_WEIGHT" --out "$O/shakespeare-pf"
  $R diagnose exposure --run "$O/shakespeare-tf" --run "$O/shakespeare-ss" \
    --run "$O/shakespeare-pf" --rows 256 --length 256 --context 128 --out "$O/text"
fi
