// Standalone check of the torch backend on one device (no vitest): kernel conformance against tfjs-backend-cpu,
// the model's train step / sampler / scorer against cpu, and the model bench. Bundled by prepare-device.cjs for
// GPU machines; here: TORCH_DEVICE=cpu npx tsx native/tfjs-backend-torch/scripts/device-run.ts
// Env: TORCH_DEVICE (cuda|cpu|auto, default cuda), OUT (folder for device-report.json), BENCH_PRESETS (tiny,small).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fallbackCounts, nativeKernelNames, registerTorchBackend, resetFallbackCounts } from '../lib/index.js';
import { cases, compare, runOn } from '../test/cases.js';
import { compareRuns, runModel } from '../test/model-harness.js';
import { benchModel, formatRow } from '../../../scripts/bench_backend.js';
import type { BenchArgs, BenchRow } from '../../../scripts/bench_backend.js';
import type { PresetName } from '../../../src/model/index.js';

interface CaseResult {
  name: string;
  ok: boolean;
  detail: string;
  maxAbs: number;
  maxRel: number;
}

async function conformance(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const [index, c] of cases.entries()) {
    const seed = 1000 + index;
    try {
      await tf.setBackend('cpu');
      (tf.backend() as unknown as { firstUse: boolean }).firstUse = false; // no tfjs-node banner
      const expected = runOn(c, seed, true);
      await tf.setBackend('torch');
      resetFallbackCounts();
      const actual = runOn(c, seed, false);
      let result: CaseResult = { name: c.name, ok: actual.length === expected.length, detail: 'ok', maxAbs: 0, maxRel: 0 };
      actual.forEach((out, i) => {
        const cmp = compare(out, expected[i], c.tol ?? { abs: 1e-6, rel: 1e-5 });
        result.maxAbs = Math.max(result.maxAbs, cmp.maxAbs);
        result.maxRel = Math.max(result.maxRel, cmp.maxRel);
        if (!cmp.ok && result.ok) result = { ...result, ok: false, detail: `output ${i}: ${cmp.message}` };
      });
      const fell = Object.keys(fallbackCounts());
      if (fell.length > 0 && !c.name.includes('falls back') && result.ok)
        result = { ...result, ok: false, detail: `fell back: ${fell.join(', ')}` };
      results.push(result);
    } catch (error) {
      results.push({ name: c.name, ok: false, detail: `threw: ${(error as Error).message}`, maxAbs: Infinity, maxRel: Infinity });
    }
  }
  return results;
}

async function main(): Promise<void> {
  const device = (process.env.TORCH_DEVICE ?? 'cuda') as 'cpu' | 'cuda' | 'auto';
  const outDir = process.env.OUT;
  const report: Record<string, unknown> = { device, node: process.version, started: new Date().toISOString() };
  const save = () => {
    if (!outDir) return;
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, 'device-report.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(report, null, 2));
    renameSync(`${file}.tmp`, file);
  };
  const registration = registerTorchBackend({ device });
  report.registration = registration;
  console.log(`registration: ${JSON.stringify(registration)}`);
  if (!registration.available) {
    save();
    process.exit(1);
  }
  report.nativeKernels = nativeKernelNames();

  const results = await conformance();
  const failed = results.filter((r) => !r.ok);
  report.conformance = { passed: results.length - failed.length, failed: failed.length, results };
  console.log(`conformance: ${results.length - failed.length}/${results.length} cases agree with cpu`);
  for (const f of failed) console.log(`  FAIL ${f.name}: ${f.detail}`);
  save();

  const cpuRun = await runModel('cpu');
  resetFallbackCounts();
  const torchRun = await runModel('torch');
  const checks = compareRuns(torchRun, cpuRun);
  report.model = { checks, kernels: torchRun.kernels, fallbacks: fallbackCounts() };
  console.log(`model (train step, sampler, scorer) vs cpu; fallbacks ${JSON.stringify(fallbackCounts())}`);
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  save();

  await tf.setBackend('torch');
  const args: BenchArgs = {
    preset: process.env.BENCH_PRESETS ?? 'tiny,small',
    backends: 'torch',
    vocab: 512,
    batch: 16,
    seq: 64,
    steps: 20,
    warmup: 5,
    maxSeconds: 30,
    sampleBatch: 8,
    prompt: 16,
    newTokens: 32,
    sampleRuns: 3,
    device,
  };
  const rows: BenchRow[] = [];
  const info = { name: 'torch', device: registration.info.device, threads: registration.info.threads, embedMode: 'gather' as const };
  for (const preset of args.preset.split(',')) {
    rows.push(await benchModel(preset as PresetName, args, info));
    console.log(formatRow(rows[rows.length - 1]));
    report.bench = rows;
    save();
  }
  const ok = failed.length === 0 && checks.every((c) => c.ok);
  report.ok = ok;
  save();
  process.exit(ok ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
