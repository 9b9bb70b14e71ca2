#!/usr/bin/env bash
# One device session: the CUDA check of tfjs-backend-torch (its device-check.sh, in the background) and, in parallel,
# a sweep of pre-training and self-improvement recipes for the embedded default. Everything lands in $OUT/all.tgz.
# Needs (carried): devbundle/ (scripts/device/bundle.cjs) and native/tfjs-backend-torch/build/device/ (prepare-device.cjs --with-node).
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$root/device-out}"
work=/tmp/sweep; mkdir -p "$work" "$out"
log() { echo "[sweep $(date +%T)] $*" | tee -a "$work/summary.txt"; }
addon="$root/native/tfjs-backend-torch/build/Release/tfjs_backend_torch.node"

OUT="$work/native" bash "$root/native/tfjs-backend-torch/scripts/device-check.sh" > "$work/device-check.log" 2>&1 &
check=$!
node_bin=/tmp/node-sweep
xz -dc "$root/native/tfjs-backend-torch/build/device/node.xz" > "$node_bin" && chmod +x "$node_bin"
for i in $(seq 1 60); do [ -f "$addon" ] && [ -z "$(pgrep -f 'g\+\+.*addon.cc')" ] && break; sleep 2; done
[ -f "$addon" ] || { log "addon was not built"; tail -20 "$work/device-check.log"; tar -C /tmp -czf "$out/all.tgz" sweep; exit 3; }
export TFJS_TORCH_ADDON="$addon"
cd "$root"
device=cuda
"$node_bin" devbundle/cli/pretrain.mjs --steps 2 --labelled 8 --test-size 2 --out "$work/probe" --backend torch --device cuda --threads 1 > "$work/probe.log" 2>&1 || device=cpu
log "device for the sweep: $device ($(grep -m1 backend: "$work/probe.log"))"

pre() { # name labelled steps
  timeout 170 "$node_bin" devbundle/cli/pretrain.mjs --labelled "$2" --steps "$3" --out "$work/models/$1" --backend torch --device $device --threads 1 > "$work/pre-$1.log" 2>&1
  log "pretrain $1: $(tail -1 "$work/pre-$1.log")"
}
pre A1 2000 3000 & pre A2 4000 3000 & pre A3 1000 1500 & pre A4 8000 4000 & pre A5 4000 6000 &
wait $(jobs -p | grep -v "^$check$") 2>/dev/null

run() { # name model [train flags]
  local name=$1 model=$2; shift 2
  [ -f "$work/models/$model/config.json" ] || { log "run $name: no model $model"; return; }
  timeout 230 "$node_bin" devbundle/cli/train.mjs --model "$work/models/$model" --out "$work/runs/$name" --backend torch --device $device --threads 1 --no-report "$@" > "$work/run-$name.log" 2>&1
  log "run $name ($model $*): $(grep -E '^(done|error|shared-rate)' "$work/run-$name.log" | tr '\n' ' ')"
}
run B1 A1 & run B2 A2 & run B3 A3 & run B4 A4 & run B5 A5 &
run B6 A1 --verifier majority & run B7 A2 --verifier majority & run B8 A2 --sigma 0.8 &
run B9 A2 --lr 5e-4 & run B10 A2 --epochs-per-round 2 --rounds 4 &
for j in $(jobs -p); do [ "$j" != "$check" ] && wait "$j"; done
wait $check; log "device-check exit $?"
rm -rf "$work/models"/*/optimizer.safetensors "$work/runs"/*/checkpoint
tar -C /tmp -czf "$out/all.tgz" sweep
cp "$work/summary.txt" "$out/summary.txt"
