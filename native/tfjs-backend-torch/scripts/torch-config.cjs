#!/usr/bin/env node
// Finds a libtorch to build against and prints compiler/linker flags for binding.gyp.
// Search order: LIBTORCH_DIR / TORCH_DIR, then a Python `torch` install (PYTHON, python3, /usr/bin/python3),
// then Debian's libtorch-dev paths. Usage: torch-config.cjs --include|--defines|--libs|--ldflags|--describe
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function exists(p) {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

// A libtorch root is a folder with include/torch/csrc/api/include and lib/libtorch*.so (zip, pip wheel, conda).
function fromRoot(root, source) {
  const api = path.join(root, 'include', 'torch', 'csrc', 'api', 'include');
  const libDir = path.join(root, 'lib');
  if (!exists(api)) return { error: `${source}: ${api} not found` };
  if (!exists(path.join(libDir, 'libtorch_cpu.so')) && !exists(path.join(libDir, 'libtorch.so'))) {
    return { error: `${source}: no libtorch.so / libtorch_cpu.so in ${libDir}` };
  }
  return {
    source,
    root,
    includeDirs: [path.join(root, 'include'), api],
    libDir,
    cmakeConfig: path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'),
  };
}

function pythonTorchDir(python) {
  try {
    const out = execFileSync(
      python,
      ['-c', 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 60_000,
      },
    );
    const [dir, abi] = out.trim().split('\n');
    return { dir, abi: abi === '1' || abi === '0' ? abi : undefined };
  } catch {
    return undefined;
  }
}

function debianMultiarch() {
  for (const d of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']) {
    if (exists(path.join(d, 'libtorch_cpu.so')) || exists(path.join(d, 'libtorch.so'))) return d;
  }
  return undefined;
}

function findTorch() {
  const tried = [];
  for (const name of ['LIBTORCH_DIR', 'TORCH_DIR']) {
    const root = process.env[name];
    if (!root) continue;
    const found = fromRoot(path.resolve(root), name);
    if (!found.error) return found;
    // An explicit setting that does not work is an error, not something to silently skip.
    throw new Error(`torch-config: ${name}=${root} is not a libtorch folder (${found.error})`);
  }
  const pythons = [process.env.PYTHON, 'python3', '/usr/bin/python3', 'python'].filter(Boolean);
  for (const py of [...new Set(pythons)]) {
    const t = pythonTorchDir(py);
    if (!t) {
      tried.push(`${py}: no importable torch`);
      continue;
    }
    const found = fromRoot(t.dir, `python (${py})`);
    if (!found.error) return { ...found, pythonAbi: t.abi };
    tried.push(found.error);
  }
  const libDir = debianMultiarch();
  if (exists('/usr/include/torch/csrc/api/include') && libDir) {
    return {
      source: 'debian',
      root: '/usr',
      includeDirs: ['/usr/include', '/usr/include/torch/csrc/api/include'],
      libDir,
      cmakeConfig: path.join(libDir, 'cmake', 'Torch', 'TorchConfig.cmake'),
    };
  }
  tried.push('debian: /usr/include/torch/csrc/api/include or libtorch_cpu.so missing (apt-get install libtorch-dev)');
  throw new Error(
    `torch-config: no libtorch found. Set LIBTORCH_DIR, install torch for python3, or apt-get install libtorch-dev.\n  ${tried.join('\n  ')}`,
  );
}

// libtorch must be compiled against with the same libstdc++ ABI it was built with.
function cxx11Abi(t) {
  if (exists(t.cmakeConfig)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(t.cmakeConfig, 'utf8'));
    if (m) return m[1];
  }
  if (t.pythonAbi) return t.pythonAbi;
  return '1';
}

function hasCuda(t) {
  return exists(path.join(t.libDir, 'libtorch_cuda.so'));
}

function main() {
  const what = process.argv[2] || '--describe';
  const t = findTorch();
  const cuda = hasCuda(t);
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
  // --no-as-needed keeps libtorch_cuda loaded although no symbol of it is referenced directly,
  // otherwise the CUDA backend never registers and torch::cuda::is_available() is false.
  if (cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
  switch (what) {
    case '--include':
      console.log(t.includeDirs.join(' '));
      break;
    case '--defines':
      console.log([`_GLIBCXX_USE_CXX11_ABI=${cxx11Abi(t)}`, `TORCH_BUILT_WITH_CUDA=${cuda ? 1 : 0}`].join(' '));
      break;
    case '--libs':
      console.log([`-L${t.libDir}`, ...libs].join(' '));
      break;
    case '--ldflags':
      console.log(`-Wl,-rpath,${t.libDir}`);
      break;
    case '--describe':
      console.log(
        JSON.stringify(
          { source: t.source, root: t.root, includeDirs: t.includeDirs, libDir: t.libDir, cxx11Abi: cxx11Abi(t), cuda },
          null,
          2,
        ),
      );
      break;
    default:
      throw new Error(`torch-config: unknown flag ${what} (use --include, --defines, --libs, --ldflags, --describe)`);
  }
}

try {
  main();
} catch (err) {
  console.error(String(err && err.message ? err.message : err));
  process.exit(1);
}
