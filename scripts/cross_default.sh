#!/usr/bin/env bash
# Cross-improvement on the embedded default (issue 7): tiny-arith on arith with the train defaults (6 rounds, a fixed
# pool of 256, 16 samples, the majority self-verifier, σ 0.5, LoRA), an oracle budget of M = 26 questions per run
# (10 % of one round's pool): arms none, early (13 + 13 in rounds 1–2), uniform (5,5,4,4,4,4), late (13 + 13 in rounds
# 5–6), seeds 1–5, test accuracy on 1,000 arith test questions at every evaluation and on 10,000 for the final model.
# 20 runs, two at a time (--jobs 2, one thread each): about 75 minutes on 2 cores. The README's cross-improvement table
# is its output.
# Resumable: re-running this script skips finished arms and resumes unfinished ones.
# JOBS, SEEDS and BUDGET override the defaults (JOBS=8 scripts/cross_default.sh); SELECT=doubt sends the external
# verifier the questions the self-verifier is least sure of (output in checkpoints/cross-doubt); other flags pass
# through (--device cuda).
# The README's 10x-budget table: BUDGET=256 SEEDS=3 scripts/cross_default.sh (output in checkpoints/cross-budget256;
# its none runs equal the default experiment's, since none spends no budget).
# Output: checkpoints/cross-default/{none,early,uniform,late}-seed{1..5}/, summary.json, report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=checkpoints/cross-default
[ "${BUDGET:-26}" = 26 ] || OUT="checkpoints/cross-budget${BUDGET}"
[ "${SELECT:-random}" = random ] || OUT="${OUT/cross-default/cross}-${SELECT}"
exec npm run --silent cross -- --model tiny-arith --dataset arith --external-verifier oracle --budget "${BUDGET:-26}" --arms none,early,uniform,late \
  --external-select "${SELECT:-random}" \
  --seeds "${SEEDS:-5}" --test-size 1000 --final-test-size 10000 --threads 1 --jobs "${JOBS:-2}" --out "$OUT" "$@"
