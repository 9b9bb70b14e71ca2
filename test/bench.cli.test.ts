// `npm run bench -- --smoke --json` end to end (one worker process per backend), and its errors. No speed is asserted.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { THROUGHPUT_STAGES, BREAKDOWN_PARTS, formatReport, type BenchReport } from '../src/bench/index.js';
import { tfjsNodeLoads } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');

function bench(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/bench.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
}

describe('npm run bench', () => {
  it('--smoke --json prints {machine, model, results} with every documented key', () => {
    const run = bench(['--smoke', '--json', '--backend', 'cpu,tensorflow']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as BenchReport;
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.loadAverage.start).toHaveLength(3);
    expect(report.model.spec).toBe('micro');
    expect(report.model.parameters).toBeGreaterThan(0);
    // tfjs-node is an optional dependency: measured where its binding loads, else skipped with the reason, not fatal
    const withTensorflow = tfjsNodeLoads();
    expect(report.results.map((x) => x.backend).sort()).toEqual(withTensorflow ? ['cpu', 'tensorflow'] : ['cpu']);
    if (!withTensorflow) expect(report.skipped.map((s) => s.backend)).toContain('tensorflow');
    const r = report.results.find((x) => x.backend === 'cpu')!;
    expect(r.threads).toBe(1);
    for (const key of [
      'trainTokensPerSecond',
      'trainLoraTokensPerSecond',
      'sampleTokensPerSecond',
      'scoreTokensPerSecond',
      'verifyTokensPerSecond',
      'roundSeconds',
      'peakRssBytes',
    ] as const) {
      expect(r[key], key).toBeGreaterThan(0);
    }
    // the cpu backend computes in fp32 and has no device allocator: peak device bytes are its live tensors'
    expect([r.device, r.precision, r.peakDeviceBytesSource]).toEqual([
      'cpu',
      'fp32',
      'live tfjs tensors (no device allocator on CPU; process RSS is peakRssBytes)',
    ]);
    expect(r.peakDeviceBytes).toBe(Math.max(...THROUGHPUT_STAGES.map((stage) => r.breakdown[stage].peakBytes)));
    for (const stage of ['sample', 'train', 'score'] as const) expect(r.kernelLaunchesPerToken[stage], stage).toBeGreaterThan(0);
    // the micro smoke run samples 4 rows × 4 tokens: launches per token = the profiled sampling call's kernels / 16
    expect(r.kernelLaunchesPerToken.sample).toBeCloseTo(r.breakdown.sample.kernels / 16, 10);
    expect(Object.keys(r.stageShare).sort()).toEqual(['eval', 'sample', 'score', 'train', 'verify']);
    expect(Object.values(r.stageShare).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
    for (const stage of THROUGHPUT_STAGES) {
      expect(r.mfu[stage], stage).toBeGreaterThan(0);
      expect(BREAKDOWN_PARTS).toContain(r.breakdown[stage].dominant);
      expect(r.breakdown[stage].kernels).toBeGreaterThan(0);
    }
    const text = formatReport(report);
    for (const heading of ['Throughput', 'kernel calls per token', 'Model FLOPs utilisation', 'One round', 'What dominates'])
      expect(text).toContain(heading);
  });

  it('bad flags name themselves', () => {
    expect(bench(['--backend', 'gpu']).stderr).toMatch(/--backend: unknown backend 'gpu'/);
    expect(bench(['--samples', '0', '--backend', 'cpu']).stderr).toMatch(/--samples: must be a positive integer/);
    expect(bench(['--model', 'nope', '--backend', 'cpu']).stderr).toMatch(/--model nope: not a preset/);
    expect(bench(['--precision', 'fp16', '--backend', 'cpu']).stderr).toMatch(/precision.*fp16|fp16.*precision/i);
  });
});
