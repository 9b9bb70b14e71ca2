// Training and sampling throughput of the project's model on tfjs backends (torch, wasm, cpu), for the same
// config and batch as scripts/bench_torch.py (the PyTorch reference), so the figures read side by side.
//   npx tsx scripts/bench_backend.ts --preset tiny,small --backends torch,wasm,cpu --threads 1
// For torch it also reports kernels and cpu fallbacks per step, and the share of the step spent inside
// libtorch (native) versus in JS (tfjs engine dispatch, gradient tape, model code).
import { writeFileSync, renameSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import * as tf from '@tensorflow/tfjs-core';
import {
  DEFAULT_OPTIMIZER,
  PRESET_NAMES,
  Rng,
  disposeAdamW,
  disposeModel,
  initAdamW,
  initModel,
  presetConfig,
  sample,
  trainStep,
} from '../src/model/index.js';
import type { PresetName, TrainBatch } from '../src/model/index.js';
import type { BackendChoice } from '../src/engine/index.js';
import { fallbackCounts, nativeTimer, resetFallbackCounts } from '../native/tfjs-backend-torch/lib/index.js';

export interface BenchRow {
  backend: string;
  device: string;
  preset: string;
  threads: number;
  train_ms_per_step: number;
  /** CPU time of the whole process per step (all threads): less sensitive than wall time to other processes */
  train_cpu_ms_per_step: number;
  train_tokens_per_s: number;
  sample_tokens_per_s: number;
  kernels_per_step?: number;
  fallbacks_per_step?: number;
  fallback_kernels?: string[];
  native_ms_per_step?: number;
  native_calls_per_step?: number;
  steps: number;
  batch: number;
  seq: number;
  vocab: number;
}

export interface BenchArgs {
  preset: string;
  backends: string;
  vocab: number;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  maxSeconds: number; // time budget for the timed training steps
  sampleBatch: number;
  prompt: number;
  newTokens: number;
  sampleRuns: number;
  threads?: number;
  device: 'cpu' | 'cuda' | 'auto';
  json?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function randomRows(rng: Rng, rows: number, cols: number, vocab: number, from = 0): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => from + Math.floor(rng.next() * (vocab - from))));
}

/** Measures the active tfjs backend (`info` describes it): training steps, then sampling. */
export async function benchModel(
  preset: PresetName,
  args: BenchArgs,
  info: { name: string; device: string; threads: number; embedMode: 'gather' | 'onehot' },
): Promise<BenchRow> {
  const model = initModel(presetConfig(preset, args.vocab), 1, info.embedMode);
  const state = initAdamW(model.params);
  const rng = new Rng(3);
  const batch: TrainBatch = {
    inputs: randomRows(rng, args.batch, args.seq, args.vocab),
    targets: randomRows(rng, args.batch, args.seq, args.vocab),
    weights: Array.from({ length: args.batch }, () => Array<number>(args.seq).fill(1)),
  };
  const optimizer = { ...DEFAULT_OPTIMIZER, warmupSteps: 0 };
  // warm-up (JIT, allocator): at least one step, at most --warmup, within --max-seconds
  const w0 = performance.now();
  for (let i = 0; i < args.warmup && (i === 0 || performance.now() - w0 < args.maxSeconds * 1000); i++)
    trainStep(model, state, optimizer, batch);

  // timed steps, stopping early on slow backends once maxSeconds is spent (at least one step); the median step
  // time is reported, so a step slowed by other processes on a shared machine does not skew the figure
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (times.length < args.steps && (times.length === 0 || performance.now() - t0 < args.maxSeconds * 1000)) {
    const s0 = performance.now();
    trainStep(model, state, optimizer, batch);
    times.push(performance.now() - s0);
  }
  const stepMs = median(times);
  const steps = times.length;
  const cpu = process.cpuUsage(cpu0);

  const row: BenchRow = {
    backend: info.name,
    device: info.device,
    preset,
    threads: info.threads,
    train_ms_per_step: stepMs,
    train_cpu_ms_per_step: (cpu.user + cpu.system) / 1000 / steps,
    train_tokens_per_s: (args.batch * args.seq * 1000) / stepMs,
    sample_tokens_per_s: 0,
    steps,
    batch: args.batch,
    seq: args.seq,
    vocab: args.vocab,
  };

  if (info.name === 'torch') {
    // one extra step under the kernel profiler, one under the native timer (each perturbs timing, so neither is in stepMs)
    resetFallbackCounts();
    const profile = await tf.profile(() => void trainStep(model, state, optimizer, batch));
    row.kernels_per_step = profile.kernels.length;
    const fallbacks = fallbackCounts();
    row.fallbacks_per_step = Object.values(fallbacks).reduce((a, b) => a + b, 0);
    row.fallback_kernels = Object.keys(fallbacks);
    const timer = nativeTimer();
    timer.start();
    trainStep(model, state, optimizer, batch);
    timer.stop();
    row.native_ms_per_step = timer.read().ms;
    row.native_calls_per_step = timer.read().calls;
  }

  const prompts = randomRows(rng, args.sampleBatch, args.prompt, args.vocab, 1);
  const options = { temperature: 1, topP: 0.9, eosId: -1, padId: 0 };
  sample(model, prompts, { ...options, maxNewTokens: 2, rng: new Rng(5) });
  const sampleTimes: number[] = [];
  for (let i = 0; i < args.sampleRuns; i++) {
    const s0 = performance.now();
    sample(model, prompts, { ...options, maxNewTokens: args.newTokens, rng: new Rng(5) });
    sampleTimes.push(performance.now() - s0);
    if (performance.now() - s0 > args.maxSeconds * 1000) break;
  }
  row.sample_tokens_per_s = (args.sampleBatch * args.newTokens * 1000) / median(sampleTimes);
  disposeAdamW(state);
  disposeModel(model);
  return row;
}

export function formatRow(r: BenchRow): string {
  const extra =
    r.kernels_per_step === undefined
      ? ''
      : `  kernels/step ${r.kernels_per_step}, fallbacks/step ${r.fallbacks_per_step}${r.fallback_kernels?.length ? ` (${r.fallback_kernels.join(', ')})` : ''}, ` +
        `native ${r.native_ms_per_step!.toFixed(1)} ms in ${r.native_calls_per_step} calls`;
  return (
    `${`${r.backend}-${r.device}`.padEnd(14)} ${r.preset.padEnd(6)} ${String(r.threads).padStart(7)} ${r.train_ms_per_step.toFixed(1).padStart(9)} ` +
    `${r.train_cpu_ms_per_step.toFixed(1).padStart(9)} ` +
    `${r.train_tokens_per_s.toFixed(0).padStart(12)} ${r.sample_tokens_per_s.toFixed(0).padStart(13)}${extra}`
  );
}

async function main(): Promise<void> {
  const { initBackend, preferredEmbedMode } = await import('../src/engine/index.js');
  const args = (await yargs(hideBin(process.argv))
    .usage('$0 [options]: tokens/s of a training step and of sampling, per tfjs backend')
    .option('preset', { type: 'string', default: 'tiny', describe: `model presets, comma separated (${PRESET_NAMES.join(', ')})` })
    .option('backends', { type: 'string', default: 'torch,wasm,cpu', describe: 'tfjs backends, comma separated' })
    .option('vocab', { type: 'number', default: 512 })
    .option('batch', { type: 'number', default: 16 })
    .option('seq', { type: 'number', default: 64 })
    .option('steps', { type: 'number', default: 20, describe: 'timed training steps, median reported (fewer if --max-seconds runs out)' })
    .option('warmup', { type: 'number', default: 5 })
    .option('max-seconds', { type: 'number', default: 30, describe: 'time budget for the timed steps of one backend' })
    .option('sample-batch', { type: 'number', default: 8 })
    .option('prompt', { type: 'number', default: 16 })
    .option('new-tokens', { type: 'number', default: 32 })
    .option('sample-runs', { type: 'number', default: 3, describe: 'timed sampling runs (median reported)' })
    .option('threads', { type: 'number', describe: 'intra-op threads (default: OMP_NUM_THREADS, else all cores)' })
    .option('device', { choices: ['cpu', 'cuda', 'auto'] as const, default: 'cpu' as const, describe: 'torch device' })
    .option('json', { type: 'string', describe: 'also write the rows here as JSON' })
    .strict()
    .parse()) as unknown as BenchArgs;
  const presets = args.preset.split(',');
  for (const p of presets) {
    if (!(PRESET_NAMES as readonly string[]).includes(p)) throw new Error(`--preset: unknown preset '${p}' (${PRESET_NAMES.join(', ')})`);
  }
  const rows: BenchRow[] = [];
  console.log(
    `${'backend'.padEnd(14)} ${'preset'.padEnd(6)} ${'threads'.padStart(7)} ${'ms/step'.padStart(9)} ${'cpu ms'.padStart(9)} ${'train tok/s'.padStart(12)} ${'sample tok/s'.padStart(13)}`,
  );
  for (const preset of presets) {
    for (const backend of args.backends.split(',')) {
      const info = await initBackend({ backend: backend as BackendChoice, threads: args.threads, device: args.device });
      await tf.setBackend(info.name);
      const row = await benchModel(preset as PresetName, args, { ...info, embedMode: preferredEmbedMode() });
      rows.push(row);
      console.log(formatRow(row));
    }
  }
  if (args.json) {
    writeFileSync(`${args.json}.tmp`, JSON.stringify(rows, null, 2));
    renameSync(`${args.json}.tmp`, args.json);
  }
}

// run as a script (the device check bundles benchModel without running the CLI)
if (/bench_backend\.[jt]s$/.test(process.argv[1] ?? '')) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
