#!/usr/bin/env bash
# Prepares, here, what scripts/device_check.sh needs on a GPU machine that has PyTorch but no node and no npm packages.
# All of it is git-ignored, so the `run` call must carry it:
#   devbundle/                                   the train, pretrain and bench CLIs bundled (scripts/device/bundle.cjs)
#   native/tfjs-backend-torch/build/device/      device-run.mjs (conformance, fused ops, model equivalence) + Node-API headers
#   .device/node-<version>-linux-x64.tar.xz      this machine's node binary (`which node`)
# and checks the 64 MiB the device tree may carry (tracked + untracked files + the carried folders).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
node_bin="$(command -v node)"
version="$(node --version)"
node scripts/device/bundle.cjs
node native/tfjs-backend-torch/scripts/prepare-device.cjs
mkdir -p .device
pack=".device/node-$version-linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/').tar.xz"
if [ ! -f "$pack" ]; then
  rm -f .device/node-*.tar.xz
  tar -C "$(dirname "$(dirname "$(readlink -f "$node_bin")")")" -cJf "$pack.tmp" bin/node && mv "$pack.tmp" "$pack"
fi
mib() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {printf "%.1f", s / 1048576}'; }
tree=$( (git ls-files; git ls-files --others --exclude-standard) | tr '\n' '\0' | xargs -0 du -cb 2>/dev/null | tail -1 | awk '{printf "%.1f", $1 / 1048576}')
carried=$(mib devbundle native/tfjs-backend-torch/build/device .device)
echo "device pack: node $version ($(mib "$pack") MiB), bundles $(mib devbundle) MiB, device-run $(mib native/tfjs-backend-torch/build/device) MiB;" \
  "tree $tree MiB + carried $carried MiB of 64 MiB"
awk -v a="$tree" -v b="$carried" 'BEGIN { exit (a + b > 62) }' || { echo "device pack: over the 64 MiB the run tool carries" >&2; exit 1; }
