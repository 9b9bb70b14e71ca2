#!/usr/bin/env bash
# Cross-improvement on the embedded default (issue 7): tiny-arith on arith with the train defaults (6 rounds, pool 256,
# 16 samples, tf verifier, σ 0.5, LoRA), an oracle budget of M = 26 questions per run (≈ 10 % of one round's pool of 256),
# arms none, early (13 + 13 in rounds 1–2), uniform (5,5,4,4,4,4), late (13 + 13 in rounds 5–6), seeds 1, 2, 3.
# 12 runs; resumable: re-running this script skips finished arms and resumes unfinished ones.
# Extra flags pass through, e.g.  scripts/cross_default.sh --backend torch --device cuda
# Output: checkpoints/cross-default/{none,early,uniform,late}-seed{1,2,3}/, summary.json, report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npm run cross -- --model tiny-arith --dataset arith --external-verifier oracle --budget 26 --arms none,early,uniform,late --seeds 3 \
  --out checkpoints/cross-default "$@"
