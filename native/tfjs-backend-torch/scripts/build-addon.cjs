#!/usr/bin/env node
// Builds build/Release/tfjs_backend_torch.node.
// Default: node-gyp with the headers of the running node (no download). `--direct` (or no node-gyp
// installed) compiles with g++ straight from torch-config.cjs flags; NODE_API_HEADERS=<dir> points at a
// folder holding node_api.h when node's own include/node is missing (see prepare-device.cjs).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const pkgDir = path.resolve(__dirname, '..');
const config = (flag) => execFileSync(process.execPath, [path.join(__dirname, 'torch-config.cjs'), flag], { encoding: 'utf8' }).trim();

function nodeIncludeDir() {
  const candidates = [
    process.env.NODE_API_HEADERS,
    path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node'),
    path.join(pkgDir, 'build', 'device', 'node-headers'),
  ].filter(Boolean);
  return candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
}

function addonApiDir() {
  try {
    return path.dirname(require.resolve('node-addon-api/package.json', { paths: [pkgDir, process.cwd()] }));
  } catch {
    const local = path.join(pkgDir, 'build', 'device', 'node-headers');
    if (fs.existsSync(path.join(local, 'napi.h'))) return local;
    throw new Error('build-addon: node-addon-api not found (run npm ci at the repository root)');
  }
}

function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [pkgDir, process.cwd()] });
  } catch {
    return undefined;
  }
}

function run(cmd, args, env) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: pkgDir, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`build-addon: ${path.basename(cmd)} exited with ${r.status}`);
}

function buildDirect() {
  const nodeInc = nodeIncludeDir();
  if (!nodeInc) throw new Error('build-addon: node_api.h not found; set NODE_API_HEADERS to a folder containing it');
  const out = path.join(pkgDir, 'build', 'Release');
  fs.mkdirSync(out, { recursive: true });
  const defines = ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'BUILDING_NODE_EXTENSION', ...config('--defines').split(/\s+/)];
  const args = [
    '-std=c++17',
    '-O2',
    '-fPIC',
    '-shared',
    '-fexceptions',
    '-frtti',
    '-Wno-deprecated-declarations',
    ...defines.map((d) => `-D${d}`),
    `-I${nodeInc}`,
    `-I${addonApiDir()}`,
    ...config('--include')
      .split(/\s+/)
      .map((d) => `-I${d}`),
    path.join(pkgDir, 'src', 'addon.cc'),
    '-o',
    path.join(out, 'tfjs_backend_torch.node'),
    ...config('--libs').split(/\s+/),
    ...config('--ldflags').split(/\s+/),
  ];
  run(process.env.CXX || 'g++', args);
}

function main() {
  console.log(`libtorch: ${config('--describe')}`);
  const gyp = findNodeGyp();
  const nodeInc = nodeIncludeDir();
  if (process.argv.includes('--direct') || !gyp) {
    buildDirect();
    return;
  }
  // node-gyp's --nodedir wants <prefix>/include/node/common.gypi; use the running node's own headers
  // when present so nothing is downloaded.
  const prefix = path.dirname(path.dirname(process.execPath));
  const hasLocal = nodeInc === path.join(prefix, 'include', 'node') && fs.existsSync(path.join(nodeInc, 'common.gypi'));
  const args = [gyp, 'rebuild', '-j', 'max', ...(hasLocal ? [`--nodedir=${prefix}`] : [])];
  run(process.execPath, args);
}

try {
  main();
} catch (err) {
  console.error(String(err && err.message ? err.message : err));
  process.exit(1);
}
