#!/usr/bin/env bash
# The whole GPU check in one go (issue 16), each step under `timeout`, a failing step never stopping the next; everything
# lands in $OUT (summary.txt first). Prepare here with `bash scripts/device_pack.sh`, then on the device machine:
#   bash scripts/device_check.sh
# Steps: 1 build the addon against the device's PyTorch (LIBTORCH_DIR / TORCH_DIR override it); 2 kernel conformance,
# fused-op conformance and model equivalence on CUDA (device-run.mjs); 3 the embedded default run (one round) on CUDA;
# 4 `npm run bench` on CUDA for tiny, small, phi4mini-shape and the full-size Phi-4-mini shape (random weights), every
# precision, next to scripts/bench_torch.py on the same device and precision; 5 a paper-scale round (N=16, 300 new
# tokens) on the full-size shape, timed stage by stage, with peak device memory per stage.
# The steps run in order of importance within DEVICE_CHECK_BUDGET seconds (default 540, inside one 600 s `run`): a step
# gets at most what is left, and once the budget is spent the rest are logged as skipped.
# DEVICE_CHECK_QUICK=1: the same steps on the cpu device at micro sizes (a dry run here, seconds to minutes), keeping the
# built addon unless DEVICE_CHECK_BUILD=1; DEVICE_CHECK_ADDON=PATH builds/uses the addon there.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$root/device-out}"
mkdir -p "$out"
quick="${DEVICE_CHECK_QUICK:-0}"
device=cuda; [ "$quick" = 1 ] && device=cpu
py="${PYTHON:-python3}"
start_all=$(date +%s)
budget="${DEVICE_CHECK_BUDGET:-540}"
log() { echo "[device_check $(date -u +%T) +$(( $(date +%s) - start_all ))s] $*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"
# step NAME SECONDS CMD...: runs CMD under timeout (SECONDS, or what is left of the budget) with its output in
# $OUT/NAME.log, and logs its status and wall time
step() {
  local name="$1" limit="$2"; shift 2
  local left=$(( budget - ($(date +%s) - start_all) - 5 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then log "$name: skipped (the ${budget}s budget is spent)"; return 125; fi
  local t0; t0=$(date +%s)
  if declare -F "$1" > /dev/null; then  # a shell function: run it in a bash that has the functions (variables exported)
    timeout --kill-after=10 "$limit" bash -c "$(declare -f); $*" > "$out/$name.log" 2>&1
  else
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
  fi
  local rc=$?
  log "$name: exit $rc in $(( $(date +%s) - t0 ))s$([ $rc = 124 ] && echo " (timed out at ${limit}s)")"
  return $rc
}

# --- machine
log "quick=$quick device=$device root=$root"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/summary.txt"
"$py" -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tee -a "$out/summary.txt"

# --- node: PATH, else the one scripts/device_pack.sh carried in .device/
node_bin="${NODE:-$(command -v node || true)}"
if [ -z "$node_bin" ]; then
  pack="$(ls "$root"/.device/node-*-linux-x64.tar.xz 2>/dev/null | head -1)"
  if [ -n "$pack" ]; then  # tar needs xz; Python's lzma module does without
    mkdir -p /tmp/svgap-node
    { tar -C /tmp/svgap-node -xJf "$pack" 2>/dev/null || "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$pack" /tmp/svgap-node; } \
      && node_bin=/tmp/svgap-node/bin/node
  fi
fi
[ -n "$node_bin" ] || { log "no node (PATH, \$NODE or .device/node-*.tar.xz from scripts/device_pack.sh): only the PyTorch reference can run"; }
[ -n "$node_bin" ] && log "node $("$node_bin" --version) at $node_bin"

# --- 1. the addon: g++ against the device's torch (native/tfjs-backend-torch/scripts/device-check.sh's build, reused)
addon="${DEVICE_CHECK_ADDON:-$root/native/tfjs-backend-torch/build/Release/tfjs_backend_torch.node}"
if [ "$quick" = 1 ] && [ -f "$addon" ] && [ "${DEVICE_CHECK_BUILD:-0}" != 1 ]; then
  log "build: quick mode keeps this machine's addon ($addon)"
else
  torch_dir="${LIBTORCH_DIR:-${TORCH_DIR:-$("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null)}}"
  abi="$("$py" -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)"
  hdr="$root/native/tfjs-backend-torch/build/device/node-headers"
  cuda_libs=""; cuda_build=0
  [ -f "$torch_dir/lib/libtorch_cuda.so" ] && { cuda_build=1; cuda_libs="-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed"; }
  mkdir -p "$(dirname "$addon")"; rm -f "$addon"
  # $1: C++ standard; $2: extra defines (a libtorch whose API moved: no CUDA allocator stats, no TF32 switches)
  build() {
    ${CXX:-g++} -std="$1" -O2 -fPIC -shared -fexceptions -frtti -Wno-deprecated-declarations $2 \
      -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION -D_GLIBCXX_USE_CXX11_ABI="$abi" -DTORCH_BUILT_WITH_CUDA=$cuda_build \
      -I"$hdr" -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" "$root/native/tfjs-backend-torch/src/addon.cc" \
      -o "$addon" -L"$torch_dir/lib" -ltorch -ltorch_cpu -lc10 $cuda_libs -Wl,-rpath,"$torch_dir/lib"
  }
  build_any() { build c++17 "" || build c++20 "" || build c++17 "-DSVGAP_NO_CUDA_STATS -DSVGAP_NO_TF32_API" || build c++20 "-DSVGAP_NO_CUDA_STATS -DSVGAP_NO_TF32_API"; }
  export torch_dir abi hdr cuda_libs cuda_build addon root
  log "build: torch at $torch_dir (cxx11 abi $abi, cuda build $cuda_build)"
  step build 240 build_any || grep -m 15 -E 'error' "$out/build.log" | tee -a "$out/summary.txt"
fi
export TFJS_TORCH_ADDON="$addon"
node_ok=0; [ -n "$node_bin" ] && [ -f "$addon" ] && node_ok=1
cd "$root"

# --- 2. conformance (every native kernel, the fused ops with gradients) and model equivalence vs cpu, on the device
if [ $node_ok = 1 ]; then
  OUT="$out" TORCH_DEVICE=$device BENCH_PRESETS= step conformance 150 "$node_bin" native/tfjs-backend-torch/build/device/device-run.mjs
  grep -E "conformance:|fused ops:|FAIL|ok  " "$out/conformance.log" | head -30 | tee -a "$out/summary.txt"
fi

# --- 3-5 in order of importance: the Phi-4-mini shape against PyTorch, the paper-scale round, the default run, the rest
bench() { # model precision seconds [extra flags]: our torch backend and PyTorch (bench_torch.py) on the same config, device and precision
  local model="$1" precision="$2" limit="$3"; shift 3
  step "bench-$model-$precision" "$limit" "$node_bin" devbundle/cli/bench.mjs --model "$model" --backend torch --device $device --precision "$precision" \
    --compare-torch --python "$py" --threads 8 --out "$out/bench-$model-$precision.json" "$@"
  grep -E "^PyTorch .*tokens/s|^torch / PyTorch" "$out/bench-$model-$precision.log" | sed "s/^/  $model $precision: /" | tee -a "$out/summary.txt"
}
default_run() { # the embedded default (`npm run train` with no flags) for one round: wall time, metrics.jsonl as on CPU
  local extra=""; [ "$quick" = 1 ] && extra="--pool-size 4 --samples 2 --max-new-tokens 8 --eval-size 2 --test-size 2"
  step default-run "$1" "$node_bin" devbundle/cli/train.mjs --backend torch --device $device --rounds 1 --no-report --out "$out/default-run" $extra
  tail -3 "$out/default-run.log" | tee -a "$out/summary.txt"
}
paper_round() { # N = 16 samples of up to 300 new tokens per question, SFT on the picks, stage by stage (bf16, full-size shape)
  local pool="${DEVICE_CHECK_POOL:-32}" # the paper's pool is 500; the stages of a 32-question round scale linearly with it
  # 16 rows per pass: a tfjs tidy holds every layer's activations of a forward pass (~6 MB per token at this size), so
  # scoring 16 × 340 tokens peaks near 31 GB beside 15 GB of weights and 30 GB of AdamW moments
  step "round-phi4mini-tok-pool$pool" "$1" "$node_bin" devbundle/cli/bench.mjs --model phi4mini-tok --backend torch --device $device --precision bf16 \
    --pool-size "$pool" --samples 16 --new-tokens 300 --sample-batch 16 --batch 4 --eval-size 8 --test-size 8 --evals-per-round 1 \
    --reps 1 --warmup 0 --max-seconds 5 --matmul-max 256 --out "$out/round-phi4mini-tok-pool$pool.json"
  grep -E "round 1/1|skipped" "$out/round-phi4mini-tok-pool$pool.log" | tee -a "$out/summary.txt"
}
if [ $node_ok = 1 ] && [ "$quick" = 1 ]; then
  micro="--reps 1 --warmup 1 --pool-size 2 --samples 2 --new-tokens 4 --batch 2 --sample-batch 4 --matmul-max 128 --round-reps 1"
  bench phi4mini-shape fp32 120 $micro
  default_run 120
  for precision in tf32 bf16; do bench tiny $precision 120 $micro; done
elif [ $node_ok = 1 ]; then
  # full size (3.8B weights, vocab 200064): throughput only; its round cannot decode ids beyond the tokenizer's vocab
  full="--reps 2 --warmup 1 --max-seconds 10 --batch 8 --sample-batch 16 --matmul-max 8192"
  bench phi4mini tf32 130 $full
  paper_round 200
  bench phi4mini bf16 130 $full
  default_run 75
  small="--reps 3 --warmup 1 --max-seconds 5 --matmul-max 4096"
  for precision in tf32 bf16 fp32; do for model in tiny phi4mini-shape small; do bench $model $precision 45 $small; done; done
  bench phi4mini fp32 130 $full
fi

log "done in $(( $(date +%s) - start_all ))s; files: $(ls "$out" | tr '\n' ' ')"
