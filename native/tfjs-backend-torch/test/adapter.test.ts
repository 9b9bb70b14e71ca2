// src/engine/torch.ts: registers 'torch' when the addon loads, and reports (never throws) when it does not.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../lib/addon.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const adapter = path.join(root, 'src', 'engine', 'torch.ts');

/** Calls loadTorchBackend in a fresh process (registration is once per process) and returns its result. */
function load(env: Record<string, string>, opts: string): { available: boolean; reason?: string; device?: string; threads?: number; version?: string } {
  const code = `const m = await import(${JSON.stringify(adapter)}); console.log(JSON.stringify(await m.loadTorchBackend(${opts})));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root, env: { ...process.env, ...env }, encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('loadTorchBackend', () => {
  it('reports the missing addon instead of throwing', () => {
    const r = load({ TFJS_TORCH_ADDON: '/nonexistent/tfjs_backend_torch.node' }, '{}');
    expect(r.available).toBe(false);
    expect(r.reason).toMatch(/addon not built.*build:native/);
  });

  it.runIf(existsSync(ADDON_PATH))('registers torch on cpu and honours the thread count', () => {
    const r = load({}, "{ device: 'cpu', threads: 1 }");
    expect(r).toMatchObject({ available: true, device: 'cpu', threads: 1 });
    expect(r.version).toMatch(/^\d+\.\d+/);
  });

  it.runIf(existsSync(ADDON_PATH))('reports a cuda request the build or machine cannot serve', () => {
    const r = load({}, "{ device: 'cuda' }");
    if (r.available) expect(r.device).toBe('cuda');
    else expect(r.reason).toMatch(/cuda/);
  });
});
