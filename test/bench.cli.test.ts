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
    expect(Object.keys(r.stageShare).sort()).toEqual(['eval', 'sample', 'score', 'train', 'verify']);
    expect(Object.values(r.stageShare).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
    for (const stage of THROUGHPUT_STAGES) {
      expect(r.mfu[stage], stage).toBeGreaterThan(0);
      expect(BREAKDOWN_PARTS).toContain(r.breakdown[stage].dominant);
      expect(r.breakdown[stage].kernels).toBeGreaterThan(0);
    }
    const text = formatReport(report);
    for (const heading of ['Throughput', 'Model FLOPs utilisation', 'One round', 'What dominates']) expect(text).toContain(heading);
  });

  it('bad flags name themselves', () => {
    expect(bench(['--backend', 'gpu']).stderr).toMatch(/--backend: unknown backend 'gpu'/);
    expect(bench(['--samples', '0', '--backend', 'cpu']).stderr).toMatch(/--samples: must be a positive integer/);
    expect(bench(['--model', 'nope', '--backend', 'cpu']).stderr).toMatch(/--model nope: not a preset/);
  });
});
