// The measurements of one backend, run inside its own process (src/bench/worker.ts): tfjs initialises one backend
// per process cleanly, and a process of its own gives each backend its own peak RSS.
import { type BackendChoice, type DeviceChoice, type PrecisionChoice, initBackend, preferredEmbedMode } from '../engine/index.js';
import { torchDeviceMemory } from '../engine/torch.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openaiEngine } from '../engine/blocking.js';
import { OPENAI_DEFAULTS } from '../engine/openai.js';
import { startServeProcess } from '../engine/serve.js';
import { publishAdapter } from '../engine/model-engine.js';
import type { LoopData } from '../loop/data.js';
import { PRESET_NAMES } from '../model/config.js';
import { loadLoopData } from '../loop/data.js';
import { VERIFIER_TEMPLATES } from '../loop/prompts.js';
import { type StageTimes, zeroTimes, zeroTokens } from '../loop/sampling.js';
import {
  type AdamWState,
  type LoraConfig,
  type Model,
  type OptimizerConfig,
  type TrainBatch,
  DEFAULT_OPTIMIZER,
  LORA_TARGETS,
  MODELS_DIR,
  Rng,
  addLora,
  disposeAdamW,
  disposeModel,
  initAdamW,
  initModel,
  loadCheckpoint,
  nextTokenLogProbs,
  sample,
  score,
  trainStep,
} from '../model/index.js';
import { type Tokenizer, loadTokenizer } from '../tokenizer/index.js';
import * as tf from '@tensorflow/tfjs-core';
import { type ModelConfig, countParameters, initialValue, parameterShapes } from '../model/index.js';
import { randomNormalOnDevice } from '../model/fused.js';
import { type Workload, forwardFlops, lastTokenWorkload, samplingWorkload, teacherForcedWorkload, trainFlops } from './flops.js';
import { loadAverage } from './machine.js';
import { resolveBenchModel } from './model.js';
import { type MatmulPeak, type StageBreakdown, breakdown, dispatchCost, matmulPeak, profileKernels } from './profile.js';
import { type RoundSizes, type RoundTiming, benchRound, stageShare } from './round.js';
import { type Timing, type TimingOptions, measure } from './stats.js';

export type BenchBackend = Exclude<BackendChoice, 'auto'>;

/** The worker's result line on stdout starts with this (libraries may print to stdout too). */

export interface BenchSizes extends RoundSizes {
  promptLength: number; // P of the throughput passes (random token ids)
  poolSize: number; // questions per round
  evalSize: number;
  testSize: number;
  loraRank: number;
  loraAlpha: number;
}

export interface BenchTiming extends TimingOptions {
  roundReps: number; // rounds timed (median)
  matmulMaxSize: number; // largest n of the n×n matmul peak probe
}

export interface SweepPoint {
  model: string;
  samples: number;
  poolSize: number;
}

export interface WorkerSpec {
  backend: BenchBackend;
  threads?: number;
  device?: DeviceChoice;
  precision?: PrecisionChoice;
  model: string;
  seed: number;
  sizes: BenchSizes;
  timing: BenchTiming;
  sweep?: SweepPoint[]; // set: time only rounds at these points (the --sweep table)
  enginePath?: boolean; // also time a round through --engine openai against `npm run serve` of the same model (torch only)
}

export const THROUGHPUT_STAGES = ['train', 'trainLora', 'sample', 'score', 'verify'] as const;
export type ThroughputStage = (typeof THROUGHPUT_STAGES)[number];

export interface BackendResult {
  backend: string;
  package: string;
  version: string;
  device: string;
  precision: PrecisionChoice; // matmul precision (torch: --precision; the tfjs backends: fp32)
  threads: number;
  kernelLaunchesPerToken: { sample: number; train: number; score: number }; // tfjs kernel calls (torch: addon calls) per generated / trained / scored token
  peakDeviceBytes: number; // most bytes allocated on the device in any throughput stage (source says how it was measured)
  peakDeviceBytesByStage: Record<ThroughputStage, number>;
  roundPeakDeviceBytes: number | null; // CUDA: the caching allocator's peak over the timed round(s); null on CPU
  peakDeviceBytesSource: 'cuda caching allocator' | 'live tfjs tensors (no device allocator on CPU; process RSS is peakRssBytes)';
  trainTokensPerSecond: number; // full fine-tuning SFT step, B rows × (P + M − 1) positions
  trainLoraTokensPerSecond: number;
  sampleTokensPerSecond: number; // new tokens, KV cache, sampleBatch rows
  scoreTokensPerSecond: number; // teacher-forced NLL, prompt + response tokens
  verifyTokensPerSecond: number; // verifier read-out (last position only), verification prompt tokens
  roundSeconds: number;
  engineRoundSeconds?: number; // --engine-path: the same round with sampling, scoring and verifying sent to `npm run serve` over HTTP
  engineOverheadShare?: number; // 1 − in-process round / engine round: what HTTP, JSON and the adapter hand-over add, as a share of the engine round
  stageShare: StageTimes;
  stageSeconds: StageTimes;
  roundTokensPerSecond: { sample: number; score: number; train: number }; // inside the round (LoRA attached, real prompts)
  peakRssBytes: number; // of this backend's process, before the matmul peak probe
  backendPeakBytes: number; // most bytes of live tfjs tensors in any profiled stage
  mfu: Record<ThroughputStage, number>; // model FLOP/s over the measured matmul peak
  matmulPeakFlopsPerSecond: number;
  matmulPeak: MatmulPeak;
  dispatchMicroseconds: number; // fixed cost per kernel call
  dispatchInsideKernelMicroseconds: number; // of which inside the kernel (the profiler's view)
  profilerMicroseconds: number; // what tf.profile adds per kernel call (taken out of the breakdown)
  breakdown: Record<ThroughputStage, StageBreakdown>;
  timings: Record<ThroughputStage, Timing>;
  modelFlops: Record<ThroughputStage, number>; // per timed call
  round: RoundTiming;
  cpuUtilisation: number; // process CPU seconds / wall seconds over the whole measurement (up to `threads`)
  loadAverage: { start: number[]; end: number[] };
  wallSeconds: number;
}

export interface SweepResult {
  backend: string;
  threads: number;
  model: string;
  parameters: number;
  samples: number;
  poolSize: number;
  roundSeconds: number;
  engineRoundSeconds?: number; // --engine-path: the same round with sampling, scoring and verifying sent to `npm run serve` over HTTP
  engineOverheadShare?: number; // 1 − in-process round / engine round: what HTTP, JSON and the adapter hand-over add, as a share of the engine round
  stageSeconds: StageTimes;
  meanResponseLength: number;
}

type Log = (line: string) => void;

function randomRows(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  // ids 4.. skip pad/bos/eos/sep, so no row ends early or looks like padding
  return Array.from({ length: rows }, () => Array.from({ length }, () => 4 + Math.floor(rng.next() * (vocab - 4))));
}

// above this many weights a preset's random init is drawn on the device (phi4mini: 3.8B normals take minutes in JS)
const DEVICE_INIT_PARAMETERS = 2e8;

/** Random weights drawn by the backend (torch: libtorch's generator on the device), in initModel's distribution. */
function initModelOnDevice(config: ModelConfig, seed: number): Model {
  const params: Record<string, tf.Variable> = {};
  Object.entries(parameterShapes(config)).forEach(([name, shape], i) => {
    const init = initialValue(config, name);
    params[name] = tf.tidy(() =>
      tf.variable('fill' in init ? tf.fill(shape, init.fill) : randomNormalOnDevice(shape, init.std, seed * 1000 + i)),
    );
  });
  return { config, params, embedMode: preferredEmbedMode() };
}

function loadModel(spec: string, tokenizer: Tokenizer, seed: number): Model {
  const resolved = resolveBenchModel(spec, tokenizer.vocabSize, MODELS_DIR);
  if (resolved.source === 'preset' && countParameters(parameterShapes(resolved.config)) > DEVICE_INIT_PARAMETERS)
    return initModelOnDevice(resolved.config, seed);
  if (resolved.source === 'preset') return initModel(resolved.config, seed, preferredEmbedMode());
  const loaded = loadCheckpoint(resolved.dir!, preferredEmbedMode());
  if (loaded.training) disposeAdamW(loaded.training.optimizer);
  return loaded.model;
}

function loraConfig(sizes: BenchSizes): LoraConfig {
  return { rank: sizes.loraRank, alpha: sizes.loraAlpha, targets: [...LORA_TARGETS] };
}

// a fixed, small learning rate: the benchmark trains on random tokens and must not diverge
const OPTIMIZER: OptimizerConfig = { ...DEFAULT_OPTIMIZER, lr: 1e-4, minLr: 1e-4, warmupSteps: 0 };

function loopData(spec: WorkerSpec, poolSize: number) {
  const { sizes, seed } = spec;
  return loadLoopData({
    dataset: 'arith',
    poolSize,
    freshPool: false,
    evalSize: Math.min(sizes.evalSize, poolSize),
    testSize: sizes.testSize,
    seed,
  });
}

/** The round whose wall time is the median (the lower middle one of an even count). */
function medianRound(rounds: RoundTiming[]): RoundTiming {
  const sorted = [...rounds].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Everything `npm run bench` reports for one backend. */
export async function benchBackend(spec: WorkerSpec, log: Log = () => {}): Promise<BackendResult> {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const loadStart = loadAverage();
  const info = await initBackend({ backend: spec.backend, threads: spec.threads, device: spec.device, precision: spec.precision });
  const tokenizer = await loadTokenizer();
  const { sizes, timing } = spec;
  const model = loadModel(spec.model, tokenizer, spec.seed);
  const config = model.config;
  const vocab = config.vocab_size;
  const rng = new Rng(spec.seed);
  const P = sizes.promptLength;
  const M = sizes.newTokens;
  const S = sizes.sampleBatch;
  const T = P + M - 1; // an SFT row of prompt + response, shifted by one
  const verifyLength = P + M + tokenizer.encode(VERIFIER_TEMPLATES.tf).length;
  if (verifyLength > config.max_position_embeddings) {
    throw new Error(
      `--prompt-length ${P} + --new-tokens ${M} + the verifier template exceed max_position_embeddings ${config.max_position_embeddings}`,
    );
  }

  const dispatch = await dispatchCost();
  log(
    `${info.name}: ${(dispatch.perCallSeconds * 1e6).toFixed(1)} µs per kernel call (${(dispatch.insideKernelSeconds * 1e6).toFixed(1)} inside the kernel, ` +
      `profiler adds ${(dispatch.profilerSeconds * 1e6).toFixed(1)})`,
  );

  const prompts = randomRows(rng, S, P, vocab);
  const responses = randomRows(rng, S, M, vocab);
  const verifyPrompts = randomRows(rng, S, verifyLength, vocab);
  const trainRows = randomRows(rng, sizes.batch, T + 1, vocab);
  const trainBatch: TrainBatch = {
    inputs: trainRows.map((r) => r.slice(0, -1)),
    targets: trainRows.map((r) => r.slice(1)),
    weights: trainRows.map(() => Array.from({ length: T }, (_, j) => (j >= P - 1 ? 1 : 0))), // SFT: loss on the response only
  };
  const lora = loraConfig(sizes);
  const work: Record<ThroughputStage, Workload> = {
    train: teacherForcedWorkload(sizes.batch, T),
    trainLora: teacherForcedWorkload(sizes.batch, T),
    sample: samplingWorkload(S, P, M),
    score: teacherForcedWorkload(S, T),
    verify: lastTokenWorkload(S, verifyLength),
  };
  const modelFlops: Record<ThroughputStage, number> = {
    train: trainFlops(config, work.train),
    trainLora: trainFlops(config, work.trainLora, lora),
    sample: forwardFlops(config, work.sample),
    score: forwardFlops(config, work.score),
    verify: forwardFlops(config, work.verify),
  };
  const tokensPerCall: Record<ThroughputStage, number> = {
    train: sizes.batch * T,
    trainLora: sizes.batch * T,
    sample: S * M,
    score: S * (P + M),
    verify: S * verifyLength,
  };

  let optimizer: AdamWState = initAdamW(model.params);
  const stages: Record<ThroughputStage, () => void> = {
    train: () => void trainStep(model, optimizer, OPTIMIZER, trainBatch),
    trainLora: () => void trainStep(model, optimizer, OPTIMIZER, trainBatch),
    sample: () =>
      void sample(model, prompts, { temperature: 1, topP: 1, maxNewTokens: M, eosId: -1, padId: tokenizer.padId, rng: new Rng(spec.seed) }),
    score: () => void score(model, prompts, responses, { padId: tokenizer.padId, batchSize: S }),
    verify: () => void nextTokenLogProbs(model, verifyPrompts, { padId: tokenizer.padId, batchSize: S }),
  };
  const timings = {} as Record<ThroughputStage, Timing>;
  const breakdowns = {} as Record<ThroughputStage, StageBreakdown>;
  const devicePeak = {} as Record<ThroughputStage, number>;
  // base model first (full fine-tuning, sampling, scoring, verifying: the PyTorch reference's setting), then LoRA
  for (const stage of ['train', 'sample', 'score', 'verify', 'trainLora'] as const) {
    if (stage === 'trainLora') {
      disposeAdamW(optimizer);
      addLora(model, lora, spec.seed);
      optimizer = initAdamW(model.lora!.params);
    }
    torchDeviceMemory(true);
    timings[stage] = measure(stages[stage], timing);
    const profiled = await profileKernels(stages[stage]);
    breakdowns[stage] = breakdown(profiled, timings[stage].medianSeconds, dispatch);
    devicePeak[stage] = torchDeviceMemory()?.peakBytes ?? profiled.peakBytes;
    log(
      `${info.name}: ${stage} ${(tokensPerCall[stage] / timings[stage].medianSeconds).toFixed(0)} tokens/s ` +
        `(median of ${timings[stage].reps}, ${breakdowns[stage].kernels} kernels, mostly ${breakdowns[stage].dominant})`,
    );
  }

  // one round with the adapters attached, as `npm run train` runs by default (LoRA)
  // (not when the model samples ids the tokenizer cannot decode: phi4mini's 200064-token vocab; phi4mini-tok rounds)
  const data = loopData(spec, sizes.poolSize);
  const rounds: RoundTiming[] = [];
  const roundReps = vocab > tokenizer.vocabSize ? 0 : timing.roundReps;
  torchDeviceMemory(true);
  if (roundReps === 0) log(`${info.name}: round skipped (the model's vocab ${vocab} exceeds the tokenizer's ${tokenizer.vocabSize})`);
  for (let r = 0; r < roundReps; r++) {
    rounds.push(benchRound(model, tokenizer, data, sizes, { optimizer, optimizerConfig: OPTIMIZER }, spec.seed + r));
    log(`${info.name}: round ${r + 1}/${roundReps} ${rounds[r].seconds.toFixed(2)} s (stages ${JSON.stringify(rounds[r].stages)})`);
  }
  const enginePath =
    spec.enginePath && rounds.length > 0 ? await timeEngineRound(spec, { model, tokenizer, data, optimizer }, log) : undefined;
  const roundPeakDeviceBytes = torchDeviceMemory()?.peakBytes ?? null;
  const round =
    rounds.length > 0
      ? medianRound(rounds)
      : { seconds: 0, stages: zeroTimes(), tokens: zeroTokens(), meanResponseLength: 0, trainSteps: 0 };
  disposeAdamW(optimizer);
  disposeModel(model);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;

  const peak = matmulPeak({ maxSize: timing.matmulMaxSize });
  log(`${info.name}: matmul peak ${(peak.flopsPerSecond / 1e9).toFixed(2)} GFLOP/s at n=${peak.size}`);
  const perSecond = (count: number, seconds: number) => (seconds > 0 ? count / seconds : 0);
  const rate = (stage: ThroughputStage) => perSecond(tokensPerCall[stage], timings[stage].medianSeconds);
  const mfu = Object.fromEntries(
    THROUGHPUT_STAGES.map((s) => [s, modelFlops[s] / timings[s].medianSeconds / peak.flopsPerSecond]),
  ) as Record<ThroughputStage, number>;
  const cpu = process.cpuUsage(cpuStart);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  return {
    backend: info.name,
    package: info.package,
    version: info.version,
    device: info.device,
    precision: info.precision ?? 'fp32',
    threads: info.threads,
    kernelLaunchesPerToken: {
      sample: breakdowns.sample.kernels / tokensPerCall.sample,
      train: breakdowns.train.kernels / tokensPerCall.train,
      score: breakdowns.score.kernels / tokensPerCall.score,
    },
    peakDeviceBytes: Math.max(...Object.values(devicePeak)),
    peakDeviceBytesByStage: devicePeak,
    roundPeakDeviceBytes,
    peakDeviceBytesSource: torchDeviceMemory()
      ? 'cuda caching allocator'
      : 'live tfjs tensors (no device allocator on CPU; process RSS is peakRssBytes)',
    trainTokensPerSecond: rate('train'),
    trainLoraTokensPerSecond: rate('trainLora'),
    sampleTokensPerSecond: rate('sample'),
    scoreTokensPerSecond: rate('score'),
    verifyTokensPerSecond: rate('verify'),
    roundSeconds: round.seconds,
    stageShare: stageShare(round),
    stageSeconds: round.stages,
    ...(enginePath
      ? { engineRoundSeconds: enginePath.seconds, engineOverheadShare: Math.max(0, 1 - round.seconds / enginePath.seconds) }
      : {}),
    roundTokensPerSecond: {
      sample: perSecond(round.tokens.sample, round.stages.sample),
      score: perSecond(round.tokens.score, round.stages.score),
      train: perSecond(round.tokens.train, round.stages.train),
    },
    peakRssBytes,
    backendPeakBytes: Math.max(...THROUGHPUT_STAGES.map((s) => breakdowns[s].peakBytes)),
    mfu,
    matmulPeakFlopsPerSecond: peak.flopsPerSecond,
    matmulPeak: peak,
    dispatchMicroseconds: dispatch.perCallSeconds * 1e6,
    dispatchInsideKernelMicroseconds: dispatch.insideKernelSeconds * 1e6,
    profilerMicroseconds: dispatch.profilerSeconds * 1e6,
    breakdown: breakdowns,
    timings,
    modelFlops,
    round,
    cpuUtilisation: (cpu.user + cpu.system) / 1e6 / wallSeconds,
    loadAverage: { start: loadStart, end: loadAverage() },
    wallSeconds,
  };
}

/** Round time at each sweep point (N, pool size, model), on one backend. */
export async function benchSweep(spec: WorkerSpec, log: Log = () => {}): Promise<SweepResult[]> {
  const info = await initBackend({ backend: spec.backend, threads: spec.threads, device: spec.device, precision: spec.precision });
  const tokenizer = await loadTokenizer();
  const out: SweepResult[] = [];
  let warmed = '';
  for (const point of spec.sweep ?? []) {
    const model = loadModel(point.model, tokenizer, spec.seed);
    addLora(model, loraConfig(spec.sizes), spec.seed);
    const optimizer = initAdamW(model.lora!.params);
    const sizes = { ...spec.sizes, samples: point.samples, poolSize: point.poolSize };
    const data = loopData(spec, point.poolSize);
    if (warmed !== point.model) {
      // a small untimed round first, so the first point of each model pays no first-call costs
      benchRound(
        model,
        tokenizer,
        loopData(spec, 1),
        { ...sizes, samples: 1, evalsPerRound: 0, newTokens: Math.min(4, sizes.newTokens) },
        { optimizer, optimizerConfig: OPTIMIZER },
        spec.seed,
      );
      warmed = point.model;
    }
    const round = medianRound(
      Array.from({ length: spec.timing.roundReps }, (_, r) =>
        benchRound(model, tokenizer, data, sizes, { optimizer, optimizerConfig: OPTIMIZER }, spec.seed + r),
      ),
    );
    const parameters = Object.values(model.params).reduce((s, v) => s + v.size, 0);
    disposeAdamW(optimizer);
    disposeModel(model);
    out.push({
      backend: info.name,
      threads: info.threads,
      model: point.model,
      parameters,
      samples: point.samples,
      poolSize: point.poolSize,
      roundSeconds: round.seconds,
      stageSeconds: round.stages,
      meanResponseLength: round.meanResponseLength,
    });
    log(`${info.name}: sweep ${point.model} N=${point.samples} pool=${point.poolSize}: ${round.seconds.toFixed(2)} s`);
  }
  return out;
}

/** One round with the engine path: sampling, scoring and verifying through HTTP to a server process, adapters published to it. */
async function timeEngineRound(
  spec: WorkerSpec,
  work: { model: Model; tokenizer: Tokenizer; data: LoopData; optimizer: AdamWState },
  log: Log,
): Promise<RoundTiming | undefined> {
  if (spec.backend !== 'torch' || !(PRESET_NAMES as readonly string[]).includes(spec.model)) {
    log(`${spec.backend}: engine path skipped (it runs on torch with a preset model, which npm run serve re-creates from the seed)`);
    return undefined;
  }
  const threads = spec.threads ? ['--threads', String(spec.threads)] : [];
  const { url, stop } = await startServeProcess([
    '--model',
    spec.model,
    '--seed',
    String(spec.seed),
    '--backend',
    spec.backend,
    ...threads,
  ]);
  const engine = openaiEngine({ ...OPENAI_DEFAULTS, endpoints: [url], model: spec.model });
  try {
    const publish = () => publishAdapter(engine, work.model, mkdtempSync(join(tmpdir(), 'svgap-bench-adapters-')), spec.model);
    const round = benchRound(
      work.model,
      work.tokenizer,
      work.data,
      spec.sizes,
      { optimizer: work.optimizer, optimizerConfig: OPTIMIZER },
      spec.seed,
      { engine, publish },
    );
    log(`${spec.backend}: engine-path round ${round.seconds.toFixed(2)} s (npm run serve at ${url})`);
    return round;
  } finally {
    engine.close();
    stop();
  }
}
