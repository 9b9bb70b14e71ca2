#!/usr/bin/env node
// Prepares build/device/ for scripts/device-check.sh on a machine without npm packages (a GPU box):
//   device-run.mjs   scripts/device-run.ts bundled with tfjs and the project's model (esbuild; the addon stays external)
//   node-headers/    node_api.h & co. plus node-addon-api's napi.h, so the addon compiles there with g++ alone
//   node.xz          (with --with-node) this node binary, xz-compressed, for machines without node
// Run from anywhere: node native/tfjs-backend-torch/scripts/prepare-device.cjs [--with-node]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const pkgDir = path.resolve(__dirname, '..');
const out = path.join(pkgDir, 'build', 'device');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'node-headers'), { recursive: true });

const esbuild = require(require.resolve('esbuild', { paths: [pkgDir, process.cwd()] }));
esbuild.buildSync({
  entryPoints: [path.join(pkgDir, 'scripts', 'device-run.ts')],
  outfile: path.join(out, 'device-run.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  logLevel: 'warning',
  // lib/index.ts's bare import of tfjs-backend-cpu registers its kernels; the bundle keeps them through the union package
  logOverride: { 'ignored-bare-import': 'silent' },
  // CommonJS packages inside an ESM bundle still call require() for node built-ins
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});

const nodeInclude = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
for (const h of ['node_api.h', 'node_api_types.h', 'js_native_api.h', 'js_native_api_types.h']) {
  fs.copyFileSync(path.join(nodeInclude, h), path.join(out, 'node-headers', h));
}
const addonApi = path.dirname(require.resolve('node-addon-api/package.json', { paths: [pkgDir, process.cwd()] }));
for (const f of fs.readdirSync(addonApi).filter((f) => f.endsWith('.h'))) {
  fs.copyFileSync(path.join(addonApi, f), path.join(out, 'node-headers', f));
}

if (process.argv.includes('--with-node')) {
  execFileSync('sh', ['-c', `xz -T0 -6 -c "${process.execPath}" > "${path.join(out, 'node.xz')}"`], { stdio: 'inherit' });
}
const size = (p) => (fs.statSync(p).size / 1e6).toFixed(1) + ' MB';
console.log(
  `prepared ${out}: device-run.mjs ${size(path.join(out, 'device-run.mjs'))}` +
    (fs.existsSync(path.join(out, 'node.xz')) ? `, node.xz ${size(path.join(out, 'node.xz'))}` : ''),
);
