// `npm run bench`: one worker process per backend (src/bench/worker.ts), the scaling sweep, the PyTorch reference,
// and the report {machine, model, results: [...]} the tables and `--json` are made from.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { entryBeside, runInChild } from '../child.js';
import type { DeviceChoice } from '../engine/index.js';
import type { ModelConfig } from '../model/config.js';
import { countParameters, parameterShapes, LORA_TARGETS } from '../model/model.js';
import { MODELS_DIR } from '../model/index.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { VERIFIER_TEMPLATES } from '../loop/prompts.js';
import {
  type BackendResult,
  type BenchBackend,
  type BenchSizes,
  type BenchTiming,
  type SweepPoint,
  type SweepResult,
  type WorkerSpec,
} from './backend.js';
import { loraWeights } from './flops.js';
import { type MachineInfo, loadAverage, machineInfo } from './machine.js';
import { resolveBenchModel } from './model.js';
import { type TorchComparison, COMPARED_KEYS, ratios, runTorchReference } from './torch.js';
import { requireNonNegativeInteger, requirePositiveInteger } from '../flags.js';

export const BENCH_BACKENDS: readonly BenchBackend[] = ['torch', 'wasm', 'cpu', 'tensorflow'];

export interface BenchOptions {
  model: string;
  backends: BenchBackend[];
  threads?: number;
  device?: DeviceChoice;
  seed: number;
  sizes: BenchSizes;
  timing: BenchTiming;
  sweep: boolean;
  compareTorch: boolean;
  python?: string;
}

// The round is `npm run train`'s default round scaled down: 16 of its 256 questions, eval and test questions in the
// same proportion (64 and 200 per 256), N = 4 of 16, 32 of 64 new tokens; --sweep shows how it grows.
export const BENCH_SIZES: BenchSizes = {
  batch: 16,
  sampleBatch: 32,
  promptLength: 16,
  newTokens: 32,
  samples: 4,
  poolSize: 16,
  evalSize: 4,
  testSize: 12,
  evalsPerRound: 2,
  loraRank: 8,
  loraAlpha: 16,
};
export const BENCH_TIMING: BenchTiming = { warmup: 1, reps: 5, maxSeconds: 20, roundReps: 1, matmulMaxSize: 2048 };

/** `--smoke`: the micro model at micro sizes, one timed run of everything; seconds per backend. */
export const SMOKE_SIZES: BenchSizes = {
  batch: 2,
  sampleBatch: 4,
  promptLength: 8,
  newTokens: 4,
  samples: 2,
  poolSize: 2,
  evalSize: 1,
  testSize: 1,
  evalsPerRound: 1,
  loraRank: 2,
  loraAlpha: 4,
};
export const SMOKE_TIMING: BenchTiming = { warmup: 1, reps: 1, maxSeconds: 1, roundReps: 1, matmulMaxSize: 128 };

export interface BenchReport {
  machine: MachineInfo;
  model: { spec: string; source: string; config: ModelConfig; parameters: number; loraParameters: number };
  settings: { sizes: BenchSizes; timing: BenchTiming; seed: number; verifier: 'tf'; trainSeqLength: number; verifyLength: number };
  results: BackendResult[];
  skipped: { backend: string; reason: string }[];
  torch?: TorchComparison;
  sweep?: { backend: string; points: SweepResult[] } | { error: string };
}

/** `--backend`: all, or a comma list of torch, wasm, cpu, tensorflow. */
export function parseBackends(spec: string): BenchBackend[] {
  if (spec === 'all') return [...BENCH_BACKENDS];
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!(BENCH_BACKENDS as readonly string[]).includes(name))
      throw new Error(`--backend: unknown backend '${name}'; choose all or from ${BENCH_BACKENDS.join(', ')}`);
  }
  if (names.length === 0) throw new Error('--backend: no backend named');
  return [...new Set(names)] as BenchBackend[];
}

export function validateBenchOptions(options: BenchOptions): void {
  const s = options.sizes;
  requirePositiveInteger('batch', s.batch);
  requirePositiveInteger('sample-batch', s.sampleBatch);
  requirePositiveInteger('prompt-length', s.promptLength);
  requirePositiveInteger('new-tokens', s.newTokens);
  requirePositiveInteger('samples', s.samples);
  requirePositiveInteger('pool-size', s.poolSize);
  requirePositiveInteger('eval-size', s.evalSize);
  requirePositiveInteger('lora-rank', s.loraRank);
  requirePositiveInteger('reps', options.timing.reps);
  requirePositiveInteger('round-reps', options.timing.roundReps);
  requireNonNegativeInteger('test-size', s.testSize);
  requireNonNegativeInteger('evals-per-round', s.evalsPerRound);
  requireNonNegativeInteger('warmup', options.timing.warmup);
  if (!(options.timing.maxSeconds > 0)) throw new Error(`--max-seconds: must be positive (got ${options.timing.maxSeconds})`);
  if (options.threads !== undefined) requirePositiveInteger('threads', options.threads);
}

/** Round sizes of the --sweep: the base point first, then N halved and doubled, the pool halved and doubled, tiny vs small. */
export function sweepPoints(model: string, samples: number, poolSize: number): SweepPoint[] {
  const points: SweepPoint[] = [];
  const add = (p: SweepPoint) => {
    if (!points.some((q) => q.model === p.model && q.samples === p.samples && q.poolSize === p.poolSize)) points.push(p);
  };
  for (const n of [samples, Math.max(1, Math.floor(samples / 2)), 2 * samples]) add({ model, samples: n, poolSize });
  for (const q of [Math.max(1, Math.floor(poolSize / 2)), 2 * poolSize]) add({ model, samples, poolSize: q });
  if (model === 'tiny' || model === 'small') for (const m of ['tiny', 'small']) add({ model: m, samples, poolSize });
  return points;
}

const require = createRequire(import.meta.url);

type WorkerReply<T> = { ok: true; result: T } | { ok: false; error: string };

/** Runs one worker process (src/bench/worker.ts through src/child.ts); its log lines go to `log`. */
export function runWorker<T>(spec: WorkerSpec, log: (line: string) => void): Promise<WorkerReply<T>> {
  const env = { ...process.env, ...(spec.threads !== undefined ? { OMP_NUM_THREADS: String(spec.threads) } : {}) };
  return runInChild<T>(entryBeside(import.meta.url, 'worker'), spec, { env, log: (line) => log(`  ${line}`) }).then(
    (result) => ({ ok: true as const, result }),
    (error: Error) => ({ ok: false as const, error: error.message }),
  );
}

/** Why a backend cannot run here, when that is known without starting it (tfjs-node installs without its native binding when its download fails). */
function unavailableReason(backend: BenchBackend): string | undefined {
  if (backend !== 'tensorflow') return undefined;
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      const lib = join(dirname(require.resolve(`${pkg}/package.json`)), 'lib');
      if (existsSync(lib) && readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')))) return undefined;
    } catch {
      // not installed: try the next
    }
  }
  return '@tensorflow/tfjs-node(-gpu) is not installed with its native binding (lib/napi-v*/tfjs_binding.node)';
}

export async function runBench(options: BenchOptions, log: (line: string) => void = () => {}): Promise<BenchReport> {
  validateBenchOptions(options);
  const machine = machineInfo();
  const tokenizer = await loadTokenizer();
  const model = resolveBenchModel(options.model, tokenizer.vocabSize, MODELS_DIR);
  const verifyLength = options.sizes.promptLength + options.sizes.newTokens + tokenizer.encode(VERIFIER_TEMPLATES.tf).length;
  const report: BenchReport = {
    machine,
    model: {
      spec: model.spec,
      source: model.source,
      config: model.config,
      parameters: countParameters(parameterShapes(model.config)),
      loraParameters: loraWeights(model.config, { rank: options.sizes.loraRank, targets: [...LORA_TARGETS] }),
    },
    settings: {
      sizes: options.sizes,
      timing: options.timing,
      seed: options.seed,
      verifier: 'tf',
      trainSeqLength: options.sizes.promptLength + options.sizes.newTokens - 1,
      verifyLength,
    },
    results: [],
    skipped: [],
  };
  const base = {
    threads: options.threads,
    device: options.device,
    model: options.model,
    seed: options.seed,
    sizes: options.sizes,
    timing: options.timing,
  };
  for (const backend of options.backends) {
    const reason = unavailableReason(backend);
    if (reason) {
      report.skipped.push({ backend, reason });
      log(`${backend}: skipped (${reason})`);
      continue;
    }
    log(`${backend}: measuring (load average ${loadAverage().join(' ')})`);
    const reply = await runWorker<BackendResult>({ ...base, backend }, log);
    if (reply.ok) report.results.push(reply.result);
    else {
      report.skipped.push({ backend, reason: reply.error });
      log(`${backend}: skipped (${reply.error})`);
    }
  }

  if (options.compareTorch) report.torch = await compareTorch(report, options, log);
  if (options.sweep) {
    // on the backend with the shortest round: the one a user would size a run with
    const fastest = [...report.results].sort((a, b) => a.roundSeconds - b.roundSeconds)[0];
    if (!fastest) report.sweep = { error: 'no backend ran' };
    else {
      const points = sweepPoints(options.model, options.sizes.samples, options.sizes.poolSize);
      log(`sweep on ${fastest.backend}: ${points.length} rounds`);
      const reply = await runWorker<SweepResult[]>({ ...base, backend: fastest.backend as BenchBackend, sweep: points }, log);
      report.sweep = reply.ok ? { backend: fastest.backend, points: reply.result } : { error: reply.error };
    }
  }
  machine.loadAverage.end = loadAverage();
  return report;
}

async function compareTorch(report: BenchReport, options: BenchOptions, log: (line: string) => void): Promise<TorchComparison> {
  const s = options.sizes;
  const threads = options.threads ?? report.results.find((r) => r.backend === 'torch')?.threads ?? report.machine.cores;
  log(`PyTorch reference (${threads} threads)`);
  try {
    const reference = await runTorchReference(
      {
        preset: options.model,
        vocab: report.model.config.vocab_size,
        batch: s.batch,
        seq: report.settings.trainSeqLength,
        sampleBatch: s.sampleBatch,
        prompt: s.promptLength,
        newTokens: s.newTokens,
        verifyLength: report.settings.verifyLength,
        loraRank: s.loraRank,
        loraAlpha: s.loraAlpha,
        topP: 1,
        threads,
        steps: options.timing.reps,
        warmup: Math.max(1, options.timing.warmup),
      },
      { python: options.python },
    );
    const comparison: TorchComparison = { reference, ratios: [] };
    for (const result of report.results) {
      const ours = Object.fromEntries(COMPARED_KEYS.map((k) => [k, result[k]]));
      comparison.ratios.push({ backend: result.backend, ratios: ratios(ours, reference.values) });
    }
    return comparison;
  } catch (error) {
    log(`PyTorch reference: ${(error as Error).message}`);
    return { error: (error as Error).message, ratios: [] };
  }
}
