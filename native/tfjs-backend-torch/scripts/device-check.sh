#!/usr/bin/env bash
# One-shot GPU check of tfjs-backend-torch (finishes in a few minutes):
#   1. builds the addon with g++ against the Python torch found here (TORCH_DIR from python),
#   2. runs the kernel conformance suite and the model train/sample/score equivalence on TORCH_DEVICE (default cuda),
#   3. benches the model on that device, and the PyTorch reference (scripts/bench_torch.py) on the same device.
# Needs build/device/ from prepare-device.cjs (carried along), python3 with torch, g++, and node (PATH, $NODE,
# .nodebin/, or build/device/node.xz). Writes logs and JSON to $OUT (default ./device-out).
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"           # native/tfjs-backend-torch
root="$(cd "$here/../.." && pwd)"
dev="$here/build/device"
out="${OUT:-$root/device-out}"
mkdir -p "$out"
device="${TORCH_DEVICE:-cuda}"
log() { echo "[device-check] $*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

[ -f "$dev/device-run.mjs" ] || { log "missing $dev/device-run.mjs: run node native/tfjs-backend-torch/scripts/prepare-device.cjs first and carry native/tfjs-backend-torch/build/device"; exit 2; }

# --- python torch: where libtorch lives
py="${PYTHON:-python3}"
tinfo="$("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI));print(torch.__version__);print(torch.version.cuda);print(torch.cuda.is_available())' 2>"$out/python-torch.err")" \
  || { log "no importable torch for $py: $(tail -1 "$out/python-torch.err")"; exit 2; }
torch_dir="$(echo "$tinfo" | sed -n 1p)"; abi="$(echo "$tinfo" | sed -n 2p)"
log "torch $(echo "$tinfo" | sed -n 3p) (cuda $(echo "$tinfo" | sed -n 4p), available $(echo "$tinfo" | sed -n 5p)) at $torch_dir, cxx11 abi $abi"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/summary.txt"

# --- build the addon (g++ only; same flags as scripts/torch-config.cjs)
libs="-ltorch -ltorch_cpu -lc10"
cuda_build=0
if [ -f "$torch_dir/lib/libtorch_cuda.so" ]; then
  cuda_build=1
  libs="$libs -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed"
fi
addon="$here/build/Release/tfjs_backend_torch.node"
mkdir -p "$(dirname "$addon")"
rm -f "$addon"  # never leave a stale addon from an earlier session in place
start=$(date +%s)
build() {  # $1: C++ standard (libtorch 2.x headers need at least C++17; a later one may want C++20)
  ${CXX:-g++} -std="$1" -O2 -fPIC -shared -fexceptions -frtti -Wno-deprecated-declarations \
    -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION -D_GLIBCXX_USE_CXX11_ABI="$abi" -DTORCH_BUILT_WITH_CUDA=$cuda_build \
    -I"$dev/node-headers" -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" \
    "$here/src/addon.cc" -o "$addon" -L"$torch_dir/lib" $libs -Wl,-rpath,"$torch_dir/lib" >> "$out/build.log" 2>&1
}
: > "$out/build.log"
command -v "${CXX:-g++}" >/dev/null || { log "no C++ compiler (${CXX:-g++}) on this machine"; exit 3; }
if ! build c++17 && ! build c++20; then
  log "addon build FAILED (see build.log):"; grep -m 20 -E 'error|Error' "$out/build.log" | tee -a "$out/summary.txt"; exit 3
fi
log "addon built in $(( $(date +%s) - start ))s (cuda build: $cuda_build)"

# --- node
node_bin="${NODE:-$(command -v node || true)}"
for cand in "$root/.nodebin/node" "$root/.nodebin/bin/node"; do [ -z "$node_bin" ] && [ -x "$cand" ] && node_bin="$cand"; done
if [ -z "$node_bin" ] && [ -f "$dev/node.xz" ]; then
  xz -dc "$dev/node.xz" > /tmp/node-device && chmod +x /tmp/node-device && node_bin=/tmp/node-device
fi

# --- PyTorch reference on the same device (runs even without node)
pydev="$device"; [ "$device" = auto ] && pydev=cuda
log "PyTorch reference ($pydev):"
timeout 100 "$py" "$root/scripts/bench_torch.py" --device "$pydev" --preset tiny,small --steps 20 --json "$out/pytorch.json" 2>&1 | tee -a "$out/summary.txt"

if [ -z "$node_bin" ]; then
  log "no node found (PATH, \$NODE, .nodebin/, build/device/node.xz): conformance and tfjs bench skipped"; exit 4
fi
log "node $("$node_bin" --version): conformance, model equivalence and bench on torch ($device)"
OUT="$out" TORCH_DEVICE="$device" TFJS_TORCH_ADDON="$addon" timeout 170 "$node_bin" "$dev/device-run.mjs" 2>&1 | tee "$out/device-run.log" | grep -v '^\s*$' | tee -a "$out/summary.txt"
status=${PIPESTATUS[0]}
log "device-run exit status $status"
exit "$status"
