#!/usr/bin/env bash
# The paper's Figure 4 (Sun et al., arXiv 2507.00075; Phi-4-mini on GSM8K and MATH, TF and QE self-verifiers):
# one self-improvement run per panel, then one figure per panel (the run beside the paper's digitised points, both
# with the shared-rate fit) and the table of R² and fitted limits next to the paper's.
#
#   scripts/reproduce_paper.sh [--data-dir DIR] [--out DIR] [MODEL]
#
# MODEL: a Hugging Face checkpoint directory, or phi-mini (default) for models/phi-mini (microsoft/Phi-4-mini-instruct).
# Data: --data-dir, else $SVGAP_DATA, else ../shared/datasets (gsm8k/, math/, paper-fig4/). Output: --out, else $OUT,
# else checkpoints/paper: runs/<panel>/ (each a train run directory) and figures/ (paper-<panel>.svg/.png, index.html,
# paper-table.md, paper-table.json). Running it again continues unfinished runs (--resume) and skips finished ones.
# Sizes (environment; defaults: the paper's N = 16 samples, LoRA, 10 epochs as 10 rounds of one epoch, two evaluations
# per epoch; issue #16's paper-scale round of 500 questions × 300 tokens; train's own EVAL_SIZE, TEST_SIZE, TEST_SAMPLES):
#   POOL=500 SAMPLES=16 ROUNDS=10 EPOCHS_PER_ROUND=1 EVALS_PER_EPOCH=2 MAX_NEW_TOKENS=300 EVAL_SIZE=64 TEST_SIZE=200
#   TEST_SAMPLES=4 SEED=1 PANELS="gsm8k_tf gsm8k_qe math_tf math_qe"; TRAIN_ARGS="..." is passed to every run as is
#   (e.g. "--logit-chunk 512 --micro-batch 1 --backend torch --device cuda"). A resumed run must get the same values.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }
DATA_DIR=${SVGAP_DATA:-}
OUT=${OUT:-checkpoints/paper}
MODEL=phi-mini
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) DATA_DIR=${2:?--data-dir needs a directory}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "reproduce_paper.sh: unknown flag $1" >&2; usage 2 ;;
    *) MODEL=$1; shift ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA_DIR=$(cd "${DATA_DIR:-$ROOT/../shared/datasets}" 2>/dev/null && pwd) || {
  echo "reproduce_paper.sh: no data directory ${DATA_DIR:-$ROOT/../shared/datasets}: pass --data-dir DIR or set SVGAP_DATA" >&2; exit 2; }
FIG4="$DATA_DIR/paper-fig4/phi4_figure4_digitized.csv"
[ -f "$FIG4" ] || { echo "reproduce_paper.sh: $FIG4 not found (the paper's digitised Figure 4)" >&2; exit 2; }
if [ "$MODEL" = phi-mini ]; then MODEL="$ROOT/models/phi-mini"; fi
[ -f "$MODEL/config.json" ] || {
  echo "reproduce_paper.sh: $MODEL holds no config.json: put a Hugging Face checkpoint there (config.json, safetensors, tokenizer.json)" \
    "or pass its directory as MODEL" >&2; exit 2; }
MODEL=$(cd "$MODEL" && pwd)

ROUNDS=${ROUNDS:-10}
PANELS=${PANELS:-gsm8k_tf gsm8k_qe math_tf math_qe}
for panel in $PANELS; do
  case "$panel" in gsm8k_tf|gsm8k_qe|math_tf|math_qe) ;; *) echo "reproduce_paper.sh: PANELS: unknown panel $panel (gsm8k_tf gsm8k_qe math_tf math_qe)" >&2; exit 2 ;; esac
done
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
cd "$ROOT"
for panel in $PANELS; do
  run="$OUT/runs/$panel"
  status=$(npm run --silent paper -- status "$run" --rounds "$ROUNDS")
  echo "== $panel: $status ($run)"
  [ "$status" = done ] && continue
  resume=(); [ "$status" = resume ] && resume=(--resume)
  # shellcheck disable=SC2086 # TRAIN_ARGS is a list of flags
  npm run --silent train -- "${resume[@]}" --out "$run" --model "$MODEL" --data-dir "$DATA_DIR" \
    --dataset "${panel%_*}" --verifier "${panel#*_}" --rounds "$ROUNDS" --seed "${SEED:-1}" \
    --pool-size "${POOL:-500}" --samples "${SAMPLES:-16}" --max-new-tokens "${MAX_NEW_TOKENS:-300}" \
    --epochs-per-round "${EPOCHS_PER_ROUND:-1}" --evals-per-epoch "${EVALS_PER_EPOCH:-2}" \
    --eval-size "${EVAL_SIZE:-64}" --test-size "${TEST_SIZE:-200}" --test-samples "${TEST_SAMPLES:-4}" ${TRAIN_ARGS:-}
done

npm run --silent paper -- figures "$OUT/runs" --paper-fig4 "$FIG4" --panels "$(echo $PANELS | tr ' ' ',')" --out "$OUT/figures"
