// src/engine/torch.ts: registers 'torch' when the addon loads, and reports (never throws) when it does not.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../lib/addon.js';
import { BUILD_NATIVE, requireOrSkip } from '../../../test/helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const adapter = path.join(root, 'src', 'engine', 'torch.ts');

/** Calls loadTorchBackend in a fresh process (registration is once per process) and returns its result. */
function load(
  env: Record<string, string>,
  opts: string,
): { available: boolean; reason?: string; device?: string; threads?: number; version?: string } {
  return runModule(
    `const m = await import(${JSON.stringify(adapter)}); console.log(JSON.stringify(await m.loadTorchBackend(${opts})));`,
    env,
  );
}

function runModule<T>(code: string, env: Record<string, string> = {}): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

const HAVE_ADDON = requireOrSkip('the native torch addon', existsSync(ADDON_PATH), BUILD_NATIVE);

describe('loadTorchBackend', () => {
  it('reports the missing addon instead of throwing', () => {
    const r = load({ TFJS_TORCH_ADDON: '/nonexistent/tfjs_backend_torch.node' }, '{}');
    expect(r.available).toBe(false);
    expect(r.reason).toMatch(/addon not built.*build:native/);
  });

  it.runIf(HAVE_ADDON)('registers torch on cpu and honours the thread count', () => {
    const r = load({}, "{ device: 'cpu', threads: 1 }");
    expect(r).toMatchObject({ available: true, device: 'cpu', threads: 1 });
    expect(r.version).toMatch(/^\d+\.\d+/);
  });

  it.runIf(HAVE_ADDON)('serves cuda exactly when libtorch has CUDA and sees a GPU, and otherwise says which is missing', () => {
    // what this machine can do, asked of the addon itself on cpu (not through the adapter under test)
    const lib = JSON.stringify(path.join(root, 'native', 'tfjs-backend-torch', 'lib', 'index.ts'));
    const machine = runModule<{ builtWithCuda: boolean; cudaAvailable: boolean }>(
      `const m = await import(${lib}); const r = m.registerTorchBackend({ device: 'cpu' }); console.log(JSON.stringify(r.info));`,
    );
    const r = load({}, "{ device: 'cuda' }");
    if (machine.cudaAvailable) expect(r).toMatchObject({ available: true, device: 'cuda' });
    else if (machine.builtWithCuda)
      expect(r).toMatchObject({ available: false, reason: expect.stringMatching(/no CUDA device is visible/) });
    else expect(r).toMatchObject({ available: false, reason: expect.stringMatching(/CPU-only libtorch/) });
  });
});
