#!/usr/bin/env bash
# npm run setup: everything the fast path needs, in one command. Installs libtorch + OpenBLAS with the system's package
# manager where it can (Debian/Ubuntu, as root or with sudo), or builds against a CUDA PyTorch when python3 has one;
# then `npm ci` and the native torch backend. Says what it did and what it could not do, with the commands that would.
# Downloads nothing but OS and npm packages.
#   --dry-run            print the commands without running them
#   --require-native     exit 1 when the native backend could not be built (CI)
# Environment: SVGAP_SETUP_EXTRA_PACKAGES (more apt packages, e.g. CI's fonts-dejavu-core sentencepiece),
# SVGAP_SETUP_PACKAGE_MANAGER=none (act as on a machine without apt-get), PYTHON (a python with torch to prefer),
# SVGAP_SETUP_PYTHONS (the pythons to look for a CUDA PyTorch in; default: $PYTHON python3 /usr/bin/python3).
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=0
require_native=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --require-native) require_native=1 ;;
    *) echo "setup: unknown option $arg (use --dry-run, --require-native)" >&2; exit 2 ;;
  esac
done

did=()
could_not=()
run() {
  echo "+ $*"
  [ "$dry_run" = 1 ] || "$@"
}

# A CUDA build of PyTorch (torch.version.cuda set): build the addon against its libtorch, which brings its own BLAS.
cuda_torch=""
for py in ${SVGAP_SETUP_PYTHONS:-${PYTHON:-} python3 /usr/bin/python3}; do
  command -v "$py" >/dev/null 2>&1 || continue
  cuda_torch=$(timeout 120 "$py" -c 'import os, torch; print(os.path.dirname(torch.__file__) if torch.version.cuda else "")' 2>/dev/null) || cuda_torch=""
  [ -n "$cuda_torch" ] && break
done

packages=()
if [ -z "$cuda_torch" ]; then
  for pkg in libtorch-dev libopenblas0-openmp; do
    dpkg -s "$pkg" >/dev/null 2>&1 || packages+=("$pkg") # OpenBLAS: without it libtorch uses the ~20x slower reference BLAS
  done
fi
for pkg in ${SVGAP_SETUP_EXTRA_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || packages+=("$pkg")
done

have_apt=0
if [ "${SVGAP_SETUP_PACKAGE_MANAGER:-apt}" != none ] && command -v apt-get >/dev/null 2>&1; then have_apt=1; fi
apt_get=""
if [ "$have_apt" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then apt_get="sudo apt-get"
  fi
fi

if [ -n "$cuda_torch" ]; then
  export LIBTORCH_DIR="$cuda_torch"
  did+=("found a CUDA PyTorch: building against its libtorch ($cuda_torch)")
elif [ ${#packages[@]} -eq 0 ]; then
  did+=("system packages already installed (libtorch-dev libopenblas0-openmp ${SVGAP_SETUP_EXTRA_PACKAGES:-})")
fi
if [ ${#packages[@]} -gt 0 ]; then
  if [ -n "$apt_get" ]; then
    export DEBIAN_FRONTEND=noninteractive
    if run $apt_get update -qq && run $apt_get install -y -qq --no-install-recommends "${packages[@]}"; then
      did+=("installed ${packages[*]}")
    else
      could_not+=("install ${packages[*]}: apt-get failed (run: sudo apt-get update && sudo apt-get install -y ${packages[*]})")
    fi
  elif [ "$have_apt" = 1 ]; then
    could_not+=("install ${packages[*]}: needs root (run: sudo apt-get update && sudo apt-get install -y ${packages[*]}, then npm run setup again)")
  else
    could_not+=("install libtorch: no apt-get here. Either install PyTorch for python3 (pip install torch) or unpack a libtorch zip from pytorch.org and run: LIBTORCH_DIR=/path/to/libtorch npm run setup")
  fi
fi

if run npm ci --no-audit --no-fund; then
  did+=("npm ci")
else
  could_not+=("npm ci failed (see above); nothing runs without it")
  require_native=1
fi

native_ok=0
if run npm run build:native; then
  source=""
  [ "$dry_run" = 1 ] || source=$(node native/tfjs-backend-torch/scripts/torch-config.cjs --describe 2>/dev/null | sed -n 's/.*"source": "\(.*\)".*/: libtorch from \1/p')
  did+=("built the native torch backend$source")
  native_ok=1
else
  could_not+=("build the native torch backend: runs fall back to wasm (~11x slower) or cpu (~76x). Fix the above, then: npm run build:native")
fi

echo
echo "setup: done:"
for line in "${did[@]}"; do echo "  - $line"; done
if [ ${#could_not[@]} -gt 0 ]; then
  echo "setup: could not:"
  for line in "${could_not[@]}"; do echo "  - $line"; done
fi
[ "$dry_run" = 1 ] && echo "setup: dry run: nothing was installed or built"
if [ "$require_native" = 1 ] && [ "$native_ok" = 0 ] && [ "$dry_run" = 0 ]; then exit 1; fi
exit 0
