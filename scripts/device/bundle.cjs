#!/usr/bin/env node
// Bundles the pretrain and train CLIs into devbundle/cli/*.mjs (esbuild), for a GPU machine that has no npm packages.
// The bundle sits two levels below the repository root, like src/cli/, so models/ and package.json resolve the same.
// The torch addon is built there (native/tfjs-backend-torch/scripts/device-check.sh) and found via TFJS_TORCH_ADDON.
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..', '..');
const torchLib = path.join(root, 'native', 'tfjs-backend-torch', 'lib', 'index.ts');

// src/engine/torch.ts imports the torch package by computed specifiers (it is optional), which a bundle cannot follow:
// here it is replaced by a static import of the package's sources, registered the same way
const staticTorch = {
  name: 'static-torch',
  setup(build) {
    build.onLoad({ filter: /src[\\/]engine[\\/]torch\.ts$/ }, () => ({
      loader: 'ts',
      resolveDir: path.dirname(torchLib),
      contents: `import { registerTorchBackend } from ${JSON.stringify(torchLib)};
export async function loadTorchBackend(opts = {}) {
  try {
    const r = registerTorchBackend({ device: opts.device ?? 'cpu', threads: opts.threads });
    return r.available ? { available: true, ...r.info } : { available: false, reason: r.reason };
  } catch (error) { return { available: false, reason: error.message }; }
}`,
    }));
  },
};

esbuild
  .build({
    entryPoints: ['pretrain', 'train'].map((name) => path.join(root, 'src', 'cli', `${name}.ts`)),
    outdir: path.join(root, 'devbundle', 'cli'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    logLevel: 'warning',
    plugins: [staticTorch],
    external: ['@resvg/resvg-js', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '*.node'],
    logOverride: { 'ignored-bare-import': 'silent' },
    // CommonJS packages inside an ESM bundle call require() for built-ins, and sentencepiece-js's emscripten code reads __filename
    banner: {
      js:
        "import { createRequire as __createRequire } from 'node:module'; import { fileURLToPath as __fileURLToPath } from 'node:url'; " +
        "const require = __createRequire(import.meta.url); const __filename = __fileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    },
  })
  .then(() => console.log(`bundled into ${path.join(root, 'devbundle', 'cli')}`));
