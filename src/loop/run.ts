// A self-improvement run (the paper's procedure): rounds of sample → score → verify → pick → fine-tune, evaluated
// `evalsPerEpoch` times per epoch, written to a run directory that a killed run resumes from with identical results.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { type BackendInfo, type BackendChoice, type DeviceChoice, fallbackWarning, initBackend, packageVersion, preferredEmbedMode } from '../engine/index.js';
import { type LoadedCheckpoint, type Model, type OptimizerConfig, type SftExample, DEFAULT_OPTIMIZER, LORA_TARGETS, Rng, addLora, countParameters,
  disposeAdamW, disposeModel, initAdamW, loadCheckpoint, parameterShapes, resolveModel, saveCheckpoint, sftBatch, trainStep, trainableParams,
  fetchModel, MODELS_DIR, baseModelName, readPeftAdapter, writePeftAdapter, modelConfigOf, memoryBudget, preflightMemory, runMemoryPlan } from '../model/index.js';
import { loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import type { Problem } from '../data/index.js';
import { type Allocation, type FitFlagCode, type SharedRateFit, allocationFractions, fitSharedRate, formatFitFlags, predictShared } from '../theory/index.js';
import { appendJsonlAtomic, lockDir, readJsonFile, recoverDirAtomic, writeFileAtomic } from '../io.js';
import { solverUncertainty, verifierUncertainty } from '../uncertainty/index.js';
import { hasSeparateTestSplit, loadLoopData, type LoopData } from './data.js';
import { VERIFIER_TEMPLATES, promptIds } from './prompts.js';
import { type Evaluation, type ExternalVerification, type Progress, type SamplingOptions, type StageTimes, type TokenCounts, evaluate, generateCandidates, greedyCorrect, timed, verifyAndPick,
  zeroTimes, zeroTokens } from './round.js';
import { type Candidate, type VerifierKind, VERIFIER_KINDS, verifierScores } from './verify.js';
import { requireNonNegativeInteger, requirePositiveInteger } from '../flags.js';

export interface TrainOptions {
  model: string;
  offline?: boolean; // never download --model (also with HF_HUB_OFFLINE=1)
  adapter?: string; // a PEFT LoRA adapter directory to start from (instead of a fresh adapter)
  memoryBudget?: number; // GB the run may use (default: the memory the OS reports available, on CPU)
  dataset: string;
  dataDir?: string;
  questionField?: string;
  answerField?: string;
  skipBadLines?: boolean;
  out?: string;
  resume?: boolean;
  seed: number;
  backend: BackendChoice;
  threads?: number;
  device?: DeviceChoice;
  rounds: number;
  extendRounds?: number; // with resume: continue up to this many rounds (else the saved run's own count)
  poolSize: number;
  freshPool: boolean;
  samples: number;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  sampleBatch: number;
  verifier: VerifierKind;
  sigma: number;
  epochsPerRound: number;
  lr: number;
  batchSize: number;
  fullFinetune: boolean;
  loraRank: number;
  loraAlpha: number;
  evalsPerEpoch: number;
  evalSize: number;
  testSize: number;
  testSamples?: number; // sampled answers per test question at each evaluation point (held-out sampled accuracy; 0 = off)
  stopAtConvergence?: number;
  report: boolean;
  externalVerifier?: string; // 'oracle' or a checkpoint directory used as a frozen verifier
  externalBudget?: number; // questions that may be verified externally over the whole run
  allocation?: string; // early | uniform | late | R1:share,R2:share,...
  externalSelect?: ExternalSelect; // which questions get the external verifier (default random)
  finalTestSize?: number; // after the last round: greedy accuracy of the final model on this many test questions (final-test.json)
  explicitFlags?: (keyof TrainOptions)[]; // the options typed on the command line (the rest are defaults): --resume compares only these
}

export const EXTERNAL_SELECTS = ['random', 'doubt'] as const;
export type ExternalSelect = (typeof EXTERNAL_SELECTS)[number];

export const TRAIN_DEFAULTS: TrainOptions = {
  model: 'tiny-arith', dataset: 'arith', seed: 1, backend: 'auto', rounds: 6, poolSize: 256, freshPool: false, samples: 16,
  temperature: 1.0, topP: 1.0, maxNewTokens: 64, sampleBatch: 64, verifier: 'majority', sigma: 0.5, epochsPerRound: 1, lr: 2e-3, batchSize: 16,
  fullFinetune: false, loraRank: 8, loraAlpha: 16, evalsPerEpoch: 2, evalSize: 64, testSize: 200, testSamples: 4, report: true,
};

/** One line of metrics.jsonl: an evaluation point. */
export interface MetricsRecord extends Evaluation {
  t: number; // epochs of self-improvement so far
  round: number; // rounds completed (fractional mid-round)
  fallbacks: number; // picks in this round's pool that no candidate passed σ for
  externalQueries: number; // questions verified externally in this round so far
  externalDropped?: number; // of those, questions without a candidate the external verifier accepted (not trained on)
  poolSolverUncertainty?: number;
  poolVerifierUncertainty?: number;
  trainLoss?: number;
  timing: StageTimes & { round: number };
  tokensPerSecond: { sample: number; score: number; train: number };
  forecast?: Forecast | { error: string };
}

export interface Forecast {
  solverLimit: { value: number; lower: number; upper: number };
  verifierLimit: { value: number; lower: number; upper: number };
  gapLimit: { value: number; lower: number; upper: number };
  rate: number;
  roundsToConverge: number; // Cor. 3.2: further epochs until |G − G∞| < 1 % of the initial gap
  remainingSolverImprovement: number; // U_s(now) − U_s∞ predicted by the fit
  flags?: FitFlagCode[]; // why the fit cannot be trusted (theory's fitFlags), when it cannot
}

/** final-test.json: the final model's greedy accuracy on a test split that may be larger than --test-size. */
export interface FinalTest {
  testSize: number;
  accuracy: number;
  correct: string; // per test question in order, '1' correct or '0' wrong (for paired comparisons between runs)
}

export interface RunResult {
  runDir: string;
  metrics: MetricsRecord[];
  finalTest?: FinalTest;
  fit?: SharedRateFit;
  backend: BackendInfo;
  stoppedEarly: boolean;
}

export interface RunHooks {
  log?: (line: string) => void;
  progress?: Progress;
  signal?: AbortSignal; // aborting stops the run between steps (tests use it to simulate a kill)
}

const require = createRequire(import.meta.url);

function versions(): Record<string, string> {
  return { svgap: (require('../../package.json') as { version: string }).version, node: process.version, tfjs: packageVersion('@tensorflow/tfjs-core') };
}

const MAX_ROUNDS = 1_000_000; // per-round arrays (external budget shares) are allocated up front
const MIN_PROMPT_TOKENS = 16; // room the question keeps in the context next to --max-new-tokens

/** The context length of --model without loading its weights (undefined when it is no preset or checkpoint: resolveModel says why). */
function modelContext(spec: string): number | undefined {
  return modelConfigOf(spec, 1)?.max_position_embeddings;
}

function requireFiniteIn(flag: string, value: number, ok: (x: number) => boolean, range: string): void {
  if (!(Number.isFinite(value) && ok(value))) throw new Error(`--${flag}: must be ${range} (got ${value})`);
}

export function validateTrainOptions(o: TrainOptions): void {
  if (o.out !== undefined && (typeof o.out !== 'string' || o.out.trim() === '')) {
    throw new Error(`--out: ${JSON.stringify(o.out)} is no directory name (an empty one would write the run into the current directory)`);
  }
  requirePositiveInteger('rounds', o.rounds);
  if (o.rounds > MAX_ROUNDS) throw new Error(`--rounds: at most ${MAX_ROUNDS} (got ${o.rounds})`);
  if (!Number.isInteger(o.seed)) throw new Error(`--seed: must be an integer (got ${o.seed})`);
  for (const [flag, value] of [['fresh-pool', o.freshPool], ['full-finetune', o.fullFinetune], ['report', o.report], ['skip-bad-lines', o.skipBadLines ?? false]] as const) {
    if (typeof value !== 'boolean') throw new Error(`--${flag}: must be true or false (got ${JSON.stringify(value)})`);
  }
  requirePositiveInteger('pool-size', o.poolSize);
  requirePositiveInteger('samples', o.samples);
  requirePositiveInteger('max-new-tokens', o.maxNewTokens);
  requirePositiveInteger('sample-batch', o.sampleBatch);
  requirePositiveInteger('batch-size', o.batchSize);
  requirePositiveInteger('evals-per-epoch', o.evalsPerEpoch);
  requirePositiveInteger('eval-size', o.evalSize);
  requirePositiveInteger('lora-rank', o.loraRank);
  requireNonNegativeInteger('test-size', o.testSize);
  if (o.testSamples !== undefined) requireNonNegativeInteger('test-samples', o.testSamples);
  if (o.finalTestSize !== undefined) {
    requirePositiveInteger('final-test-size', o.finalTestSize);
    if (o.finalTestSize > o.testSize && !hasSeparateTestSplit(o.dataset)) {
      throw new Error(`--final-test-size ${o.finalTestSize}: --dataset ${o.dataset} holds out only its last --test-size ${o.testSize} problems; ` +
        'a larger final test would include questions of the pool (raise --test-size or lower --final-test-size)');
    }
  }
  requireFiniteIn('temperature', o.temperature, (x) => x >= 0, 'a finite number ≥ 0');
  requireFiniteIn('top-p', o.topP, (x) => x > 0 && x <= 1, 'in (0, 1]');
  requireFiniteIn('sigma', o.sigma, (x) => x >= 0 && x <= 1, 'in [0, 1]');
  requireFiniteIn('lr', o.lr, (x) => x > 0, 'a finite positive number');
  requireFiniteIn('epochs-per-round', o.epochsPerRound, (x) => x > 0, 'a finite positive number');
  requireFiniteIn('lora-alpha', o.loraAlpha, (x) => x > 0, 'a finite positive number');
  if (o.memoryBudget !== undefined) requireFiniteIn('memory-budget', o.memoryBudget, (x) => x > 0, 'a positive number of GB');
  if (o.adapter !== undefined && o.fullFinetune) throw new Error(`--adapter ${o.adapter}: a LoRA adapter to start from, but --full-finetune trains no adapter`);
  if (o.stopAtConvergence !== undefined) requireFiniteIn('stop-at-convergence', o.stopAtConvergence, (x) => x >= 0, 'a finite number ≥ 0');
  if (o.allocation !== undefined) parseAllocation(o.allocation, o.rounds);
  if (!['arith', 'gsm8k', 'math'].includes(o.dataset)) {
    if (!existsSync(o.dataset)) throw new Error(`--dataset ${o.dataset}: file not found`);
    if (statSync(o.dataset).isDirectory()) throw new Error(`--dataset ${o.dataset}: a directory; give a .jsonl file (or arith, gsm8k, math)`);
  }
  const context = modelContext(o.model);
  if (context !== undefined && o.maxNewTokens > context - MIN_PROMPT_TOKENS) {
    throw new Error(`--max-new-tokens ${o.maxNewTokens}: --model ${o.model} has a context of ${context} tokens; at most ${context - MIN_PROMPT_TOKENS} ` +
      `leaves ${MIN_PROMPT_TOKENS} for the question (more would clip the prompt to nothing)`);
  }
  if (!(VERIFIER_KINDS as readonly string[]).includes(o.verifier)) throw new Error(`--verifier: unknown verifier '${o.verifier}'; choose one of ${VERIFIER_KINDS.join(', ')}`);
  if (o.verifier === 'oracle') throw new Error("--verifier oracle: the oracle knows the answers, so it is no self-verifier; use it as --external-verifier oracle");
  if (o.evalSize > o.poolSize && o.dataset === 'arith') throw new Error(`--eval-size ${o.evalSize}: must not exceed --pool-size ${o.poolSize} (it is a subset of the train questions)`);
  if (o.externalBudget !== undefined) {
    requireNonNegativeInteger('external-budget', o.externalBudget);
    if (!o.externalVerifier) throw new Error('--external-budget needs --external-verifier oracle|PATH');
  }
  if (o.externalVerifier !== undefined && o.externalVerifier !== 'oracle' && !existsSync(join(resolve(o.externalVerifier), 'config.json'))) {
    throw new Error(`--external-verifier ${o.externalVerifier}: neither 'oracle' nor a checkpoint directory (no config.json there)`);
  }
  if (o.externalSelect !== undefined && !(EXTERNAL_SELECTS as readonly string[]).includes(o.externalSelect)) {
    throw new Error(`--external-select: unknown '${o.externalSelect}'; choose one of ${EXTERNAL_SELECTS.join(', ')}`);
  }
}

/** `early|uniform|late|R1:share,R2:share,...` (rounds 1-based; unnamed rounds get 0; shares are normalised to sum to 1). */
export function parseAllocation(spec: string, rounds: number): number[] {
  if (spec === 'early' || spec === 'uniform' || spec === 'late') return allocationFractions(spec, rounds);
  const shares = new Array<number>(rounds).fill(0);
  for (const part of spec.split(',')) {
    const match = /^\s*R?(\d+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(part);
    if (!match) throw new Error(`--allocation: cannot read '${part}' (use early, uniform, late or R1:share,R2:share,...)`);
    const round = Number(match[1]);
    const share = Number(match[2]);
    if (round < 1 || round > rounds) throw new Error(`--allocation: round ${round} is outside 1..${rounds}`);
    if (!(share >= 0) || !Number.isFinite(share)) throw new Error(`--allocation: share '${match[2]}' for round ${round} must be a non-negative number`);
    shares[round - 1]! += share;
  }
  const total = shares.reduce((s, x) => s + x, 0);
  if (!(total > 0)) throw new Error('--allocation: the shares sum to 0');
  return allocationFractions(shares.map((s) => s / total) as Allocation, rounds);
}

/** Whole questions per round from fractions η_t of budget M, rounded so they sum exactly to M (largest remainder). */
export function budgetPerRound(fractions: number[], budget: number): number[] {
  const raw = fractions.map((eta) => eta * budget);
  const counts = raw.map(Math.floor);
  let left = budget - counts.reduce((s, x) => s + x, 0);
  const order = raw.map((x, i) => ({ i, rest: x - Math.floor(x) })).sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    counts[i]! += 1;
    left -= 1;
  }
  return counts;
}

/** The pool's question indices in the seeded order that random selection walks and doubt selection breaks ties by. */
function seededQuestionOrder(poolLength: number, seed: number): number[] {
  return new Rng(seed ^ 0x5eed).shuffle(Array.from({ length: poolLength }, (_, i) => i));
}

/**
 * Which questions of round t's pool the external verifier sees: `count` of them, none seen externally before in this
 * run. A fixed pool is walked in a seeded order (the same for every arm of a seed, so arms differ only in timing), so M
 * queries cover M distinct questions; a fresh pool is new each round, so its first `count` questions. Wraps around only
 * when the budget exceeds the pool.
 */
export function externalQuestions(poolLength: number, count: number, usedSoFar: number, freshPool: boolean, seed: number): number[] {
  const n = Math.min(count, poolLength);
  if (n <= 0) return [];
  if (freshPool) return Array.from({ length: n }, (_, i) => i);
  const order = seededQuestionOrder(poolLength, seed);
  return Array.from({ length: n }, (_, i) => order[(usedSoFar + i) % poolLength]!).sort((a, b) => a - b);
}

/**
 * `--external-select doubt`: the `count` questions with the lowest self-confidence (the self-verifier's best candidate
 * score: where its pick is most likely wrong), among those not asked before (`askedBefore`, fixed pool only); asked ones
 * again only when the rest run out. Ties go in the same seeded order as random selection.
 */
export function doubtfulQuestions(selfConfidence: number[], count: number, askedBefore: ReadonlySet<number>, seed: number): number[] {
  const n = Math.min(count, selfConfidence.length);
  if (n <= 0) return [];
  const rank = new Map(seededQuestionOrder(selfConfidence.length, seed).map((q, i) => [q, i]));
  const byDoubt = (a: number, b: number) => selfConfidence[a]! - selfConfidence[b]! || rank.get(a)! - rank.get(b)!;
  const fresh = selfConfidence.map((_, q) => q).filter((q) => !askedBefore.has(q)).sort(byDoubt);
  const again = [...askedBefore].filter((q) => q < selfConfidence.length).sort(byDoubt);
  return [...fresh, ...again].slice(0, n).sort((a, b) => a - b);
}

function forecastFrom(metrics: MetricsRecord[]): Forecast | { error: string } {
  try {
    const trajectory = { t: metrics.map((m) => m.t), solver: metrics.map((m) => m.solverUncertainty), verifier: metrics.map((m) => m.verifierUncertainty) };
    const fit = fitSharedRate(trajectory);
    const now = metrics[metrics.length - 1]!;
    const delta = Math.abs(predictShared(fit, now.t).gap - fit.limits.gap.value);
    const epsilon = 0.01 * Math.max(Math.abs(metrics[0]!.gap - fit.limits.gap.value), 1e-12);
    const interval = (i: { value: number; lower: number; upper: number }) => ({ value: i.value, lower: i.lower, upper: i.upper });
    return {
      solverLimit: interval(fit.limits.solver), verifierLimit: interval(fit.limits.verifier), gapLimit: interval(fit.limits.gap), rate: fit.rate.value,
      roundsToConverge: delta <= epsilon ? 0 : Math.log(delta / epsilon) / fit.rate.value, // Cor. 3.2 from the current point
      remainingSolverImprovement: predictShared(fit, now.t).solver - fit.limits.solver.value,
      ...(fit.flags.length ? { flags: fit.flags.map((f) => f.code) } : {}),
    };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as T;
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON (the run directory is damaged)`);
    }
  });
}

/** checkpoints/run-<time to the millisecond>-<random>: two runs started at once get different directories. */
export function defaultRunName(): string {
  return `run-${new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 23)}-${Math.random().toString(36).slice(2, 6)}`;
}

interface RunState {
  round: number; // rounds completed
  metricsLines: number;
  externalUsed: number;
  externalAsked?: number[]; // fixed pool: questions verified externally so far (absent in checkpoints before --external-select)
}

// Options a resumed run takes from the command (where and how it runs, how far); the rest are the saved run's.
const RESUME_KEYS = new Set<string>(['out', 'resume', 'rounds', 'extendRounds', 'backend', 'threads', 'device', 'finalTestSize', 'report', 'explicitFlags']);

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The given options that differ from the saved run's (only those typed on the command line when explicitFlags says). */
function changedFlags(given: TrainOptions, saved: TrainOptions): string[] {
  const keys = given.explicitFlags ?? (Object.keys(given) as (keyof TrainOptions)[]);
  return keys.filter((k) => !RESUME_KEYS.has(k) && JSON.stringify(given[k]) !== JSON.stringify(saved[k]))
    .map((k) => `${flagName(k)} ${JSON.stringify(given[k]) ?? '(unset)'} (the run has ${JSON.stringify(saved[k]) ?? '(unset)'})`);
}

/** The run's options: the saved ones when resuming (only --rounds may grow; other changed flags are refused), else the given ones. */
function runOptions(given: TrainOptions, runDir: string, log: (line: string) => void): TrainOptions {
  const runJson = join(runDir, 'run.json');
  if (!given.resume) {
    if (existsSync(join(runDir, 'metrics.jsonl'))) {
      const completed = existsSync(join(runDir, 'checkpoint', 'config.json')) || readJsonl<MetricsRecord>(join(runDir, 'metrics.jsonl')).some((m) => m.round >= 1);
      if (completed) throw new Error(`--out ${runDir}: a run already exists there; pass --resume to continue it or choose another --out`);
      log(`note: ${runDir} holds a run that stopped before its first checkpoint; starting it again`);
    }
    return given;
  }
  if (!existsSync(runJson)) throw new Error(`--resume: ${runJson} not found (nothing to resume)`);
  const saved = (readJsonFile(runJson, '--resume') as { options: TrainOptions }).options;
  const changed = changedFlags(given, saved);
  if (changed.length > 0) {
    throw new Error(`--resume ${runDir}: a resumed run keeps the flags it was started with, but this command changes ${changed.join(', ')}; ` +
      'drop them, or start a new run with another --out (--rounds, --final-test-size, --report, --backend, --threads and --device may change)');
  }
  if (given.extendRounds !== undefined && given.extendRounds < saved.rounds) {
    throw new Error(`--rounds ${given.extendRounds}: the run in ${runDir} was started with --rounds ${saved.rounds}; --resume can only extend it`);
  }
  const report = given.explicitFlags && !given.explicitFlags.includes('report') ? saved.report : given.report;
  return { ...saved, rounds: Math.max(saved.rounds, given.extendRounds ?? 0), resume: true, out: runDir, backend: given.backend, threads: given.threads, device: given.device,
    finalTestSize: given.finalTestSize ?? saved.finalTestSize, report };
}

/** The external verifier: the oracle (1 when correct), or a frozen checkpoint judging with the run's template (tf unless qe). */
export type ExternalScorer = ((problems: Problem[], candidates: Candidate[][]) => number[][]) & { dispose: () => void };

export function makeExternalScorer(spec: string, options: TrainOptions, tokenizer: Tokenizer): ExternalScorer {
  if (spec === 'oracle') return Object.assign((_problems: Problem[], candidates: Candidate[][]) => candidates.map((g) => g.map((c) => (c.correct ? 1 : 0))), { dispose: () => {} });
  // another checkpoint, frozen, judging with the run's verifier template (tf when the run's verifier reads no model)
  const frozen: Model = loadCheckpoint(resolve(spec), preferredEmbedMode()).model;
  const kind: VerifierKind = options.verifier === 'qe' ? 'qe' : 'tf';
  return Object.assign((problems: Problem[], candidates: Candidate[][]) => verifierScores(kind, frozen, tokenizer, problems, candidates), { dispose: () => disposeModel(frozen) });
}

/** One self-improvement run in --out (created, or resumed with --resume); the directory is locked while it runs. */
export async function runTraining(given: TrainOptions, hooks: RunHooks = {}): Promise<RunResult> {
  validateTrainOptions(given); // everything that can be checked before the run directory exists
  const runDir = resolve(given.out ?? join('checkpoints', defaultRunName()));
  const options = runOptions(given, runDir, hooks.log ?? (() => {}));
  validateTrainOptions(options);
  const existed = existsSync(runDir);
  const release = lockDir(runDir, '--out');
  const disposers: (() => void)[] = [];
  try {
    const restored = recoverDirAtomic(join(runDir, 'checkpoint'));
    if (restored) hooks.log?.(`recovered ${join(runDir, 'checkpoint')} from ${restored}: a kill interrupted its last save`);
    return await trainInDir(runDir, options, hooks, disposers);
  } finally {
    for (const dispose of disposers) dispose();
    release();
    try {
      if (!existed && readdirSync(runDir).length === 0) rmSync(runDir, { recursive: true }); // a run that failed before writing anything leaves no directory it made
    } catch {
      // the run's own error (if any) is the one to report
    }
  }
}

async function trainInDir(runDir: string, options: TrainOptions, hooks: RunHooks, disposers: (() => void)[]): Promise<RunResult> {
  const log = hooks.log ?? (() => {});
  const backend = await initBackend({ backend: options.backend, threads: options.threads, device: options.device });
  log(`backend: ${backend.name} ${backend.version} (${backend.device}, ${backend.threads} threads)`);
  const slow = fallbackWarning(backend);
  if (slow) log(slow);
  const tokenizer = await loadTokenizer();
  const data: LoopData = loadLoopData(options);
  for (const note of data.notes) log(`note: ${note}`);

  // model, adapters and optimizer: from the run's own checkpoint when resuming
  const checkpointDir = join(runDir, 'checkpoint');
  let loaded: LoadedCheckpoint;
  let state: RunState = { round: 0, metricsLines: 0, externalUsed: 0 };
  const resuming = options.resume === true && existsSync(join(checkpointDir, 'config.json'));
  if (options.resume && !resuming && readJsonl<MetricsRecord>(join(runDir, 'metrics.jsonl')).some((m) => m.round >= 1)) {
    throw new Error(`--resume: ${checkpointDir} is missing but ${join(runDir, 'metrics.jsonl')} records completed rounds; ` +
      'starting again from t=0 would overwrite them (restore the checkpoint, or start a new run with another --out)');
  }
  if (resuming) {
    loaded = loadCheckpoint(checkpointDir, preferredEmbedMode());
    state = loaded.training!.extra as unknown as RunState;
    log(`resuming ${runDir} after round ${state.round}`);
  } else {
    const modelSpec = await fetchModel(options.model, { modelsDir: MODELS_DIR, offline: options.offline, progress: hooks.progress, log }) ?? options.model;
    const config = modelConfigOf(modelSpec, tokenizer.vocabSize);
    const budget = options.memoryBudget !== undefined || backend.device === 'cpu' ? memoryBudget(options.memoryBudget) : undefined; // a GPU's memory is not visible from here
    if (config) preflightMemory(config, runMemoryPlan(config, options), budget, `--model ${options.model}`, log); // before any weight is read
    loaded = resolveModel(modelSpec, { vocabSize: tokenizer.vocabSize, seed: options.seed, embedMode: preferredEmbedMode() });
    if (options.adapter) loaded.model.lora = readPeftAdapter(options.adapter, loaded.model.config).lora; // rank and alpha as the adapter says
    else if (!options.fullFinetune) addLora(loaded.model, { rank: options.loraRank, alpha: options.loraAlpha, targets: [...LORA_TARGETS] }, options.seed);
  }
  const model = loaded.model;
  const optimizerConfig: OptimizerConfig = { ...DEFAULT_OPTIMIZER, lr: options.lr, minLr: options.lr, warmupSteps: 10, totalSteps: 1, weightDecay: 0 };
  const optimizer = loaded.training?.optimizer ?? initAdamW(trainableParams(model));
  const rng = new Rng(loaded.training?.rng ?? options.seed);

  mkdirSync(join(runDir, 'samples'), { recursive: true });
  const metricsPath = join(runDir, 'metrics.jsonl');
  const metrics = readJsonl<MetricsRecord>(metricsPath).slice(0, state.metricsLines);
  writeFileAtomic(metricsPath, metrics.map((m) => JSON.stringify(m) + '\n').join('')); // drop lines of a round that did not finish
  const command = `svgap train ${process.argv.slice(2).join(' ')}`.trim();
  const savedInfo = options.resume && existsSync(join(runDir, 'run.json'))
    ? readJsonFile(join(runDir, 'run.json'), '--resume') as { command?: string; resumedBy?: { command: string; at: string }[] } : undefined;
  const runInfo = {
    command: savedInfo?.command ?? command, // the command that started the run; resumes are listed in resumedBy
    ...(savedInfo ? { resumedBy: [...(savedInfo.resumedBy ?? []), { command, at: new Date().toISOString() }] } : {}),
    options: { ...options, explicitFlags: undefined }, seed: options.seed, // which flags were typed belongs to one command, not to the run
    backend: { name: backend.name, version: backend.version, threads: backend.threads, device: backend.device, package: backend.package },
    versions: versions(),
    model: { spec: options.model, config: model.config, parameters: countParameters(parameterShapes(model.config)),
      trainableParameters: Object.values(trainableParams(model)).reduce((s, v) => s + v.size, 0), lora: model.lora?.config ?? null },
    tokenizer: tokenizer.modelPath,
    dataset: { name: options.dataset, poolSize: options.poolSize, evalSize: data.eval.length, testSize: data.test.length, freshPool: options.freshPool },
    verifier: { kind: options.verifier, sigma: options.sigma, templates: VERIFIER_TEMPLATES },
    external: options.externalVerifier ? { verifier: options.externalVerifier, budget: options.externalBudget ?? 0, allocation: options.allocation ?? 'uniform', select: options.externalSelect ?? 'random' } : null,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(join(runDir, 'run.json'), JSON.stringify(runInfo, null, 2) + '\n');

  const sampling = { samples: options.samples, temperature: options.temperature, topP: options.topP, maxNewTokens: options.maxNewTokens, sampleBatch: options.sampleBatch };
  const evalOptions = { ...sampling, verifier: options.verifier, sigma: options.sigma, seed: options.seed + 7919, testSamples: options.testSamples ?? 0 };
  const externalPerRound = options.externalVerifier ? budgetPerRound(parseAllocation(options.allocation ?? 'uniform', options.rounds), options.externalBudget ?? 0) : [];
  const externalScorer = options.externalVerifier ? makeExternalScorer(options.externalVerifier, options, tokenizer) : undefined;
  if (externalScorer) disposers.push(externalScorer.dispose); // a checkpoint verifier's weights, also when the run fails
  const checkAbort = () => {
    if (hooks.signal?.aborted) throw new Error('run aborted');
  };

  const record = (point: Omit<MetricsRecord, 'forecast'>): MetricsRecord => {
    for (const [key, value] of Object.entries(point)) {
      if (typeof value === 'number' && !Number.isFinite(value) && key !== 'testAccuracy') {
        throw new Error(`metrics at t=${point.t}: ${key} is ${value} (NaN/Inf): stopping; ` + (state.round > 0
          ? `the last completed round (${state.round}) is saved in ${checkpointDir}`
          : 'no round completed, so nothing is saved; the same command starts the run again'));
      }
    }
    const line: MetricsRecord = { ...point };
    metrics.push(line);
    if (metrics.length >= 4) line.forecast = forecastFrom(metrics); // the theory inside the loop, from the 4th point on
    appendJsonlAtomic(metricsPath, line);
    log(`t=${line.t.toFixed(2)} U_s=${line.solverUncertainty.toFixed(3)} U_v=${line.verifierUncertainty.toFixed(3)} G=${line.gap.toFixed(3)} ` +
      `acc solver=${line.solverAccuracy.toFixed(3)} verifier=${line.verifierAccuracy.toFixed(3)} test=${line.testAccuracy.toFixed(3)}`);
    return line;
  };

  if (metrics.length === 0) {
    const times = zeroTimes();
    const evaluation = timed(times, 'eval', () => evaluate(model, tokenizer, data.eval, data.test, evalOptions, hooks.progress));
    record({ t: 0, round: 0, ...evaluation, fallbacks: 0, externalQueries: 0, timing: { ...times, round: times.eval }, tokensPerSecond: { sample: 0, score: 0, train: 0 } });
    state.metricsLines = metrics.length;
  }

  let stoppedEarly = false;
  for (let round = state.round; round < options.rounds; round++) {
    const roundStart = performance.now();
    const times = zeroTimes();
    const tokens: TokenCounts = zeroTokens();
    const pool = data.pool(round);
    checkAbort();
    const candidates = generateCandidates(model, tokenizer, pool, sampling, rng, times, tokens, hooks.progress);
    checkAbort();
    // external verification (cross-improvement): η_t·M questions of the pool, none verified externally before in this run
    const externalCount = externalPerRound[round] ?? 0;
    const askedBefore = new Set(options.freshPool ? [] : state.externalAsked ?? []);
    const external: ExternalVerification | undefined = externalScorer && externalCount > 0 ? {
      choose: (selfConfidence) => options.externalSelect === 'doubt'
        ? doubtfulQuestions(selfConfidence, externalCount, askedBefore, options.seed)
        : externalQuestions(pool.length, externalCount, state.externalUsed, options.freshPool, options.seed),
      score: externalScorer,
    } : undefined;
    const { scores, picks, dropped, selfConfidence, external: externalIndices } = timed(times, 'verify', () => verifyAndPick(options.verifier, model, tokenizer, pool, candidates, options.sigma, external));
    const externalSet = new Set(externalIndices);
    state.externalUsed += externalIndices.length;
    if (!options.freshPool) state.externalAsked = [...new Set([...askedBefore, ...externalIndices])].sort((a, b) => a - b);
    const fallbacks = picks.filter((p) => p.fallback).length;
    const samplesFile = pool.map((problem, q) => JSON.stringify({
      idx: problem.idx, question: problem.question, reference: problem.answer, external: externalSet.has(q), selfConfidence: selfConfidence[q],
      pick: picks[q]!.index, fallback: picks[q]!.fallback, dropped: dropped[q],
      candidates: candidates[q]!.map((c, j) => ({ text: c.text, answer: c.answer, correct: c.correct, score: scores[q]![j], nll: c.nll, normalizedNll: c.normalizedNll, length: c.length })),
    })).join('\n') + '\n';
    writeFileAtomic(join(runDir, 'samples', `round-${round + 1}.jsonl`), samplesFile);
    const kept = pool.map((_, q) => q).filter((q) => !dropped[q]);
    const picked = kept.map((q) => candidates[q]![picks[q]!.index]!);
    const poolSolverUncertainty = solverUncertainty(candidates.flat());
    const poolVerifierUncertainty = verifierUncertainty(picked);

    // fine-tune on the picks (response tokens only), evaluating evalsPerEpoch times per epoch
    const examples: SftExample[] = kept.map((q, i) => ({ prompt: promptIds(tokenizer, pool[q]!.question, model.config.max_position_embeddings - options.maxNewTokens), response: picked[i]!.tokens }));
    if (examples.length === 0) throw new Error(`round ${round + 1}: the external verifier rejected every candidate of every question; nothing to fine-tune on`);
    const evalPoints = Math.max(1, Math.round(options.evalsPerEpoch * options.epochsPerRound));
    const steps = Math.max(evalPoints, Math.ceil((options.epochsPerRound * examples.length) / options.batchSize)); // every eval point gets its own step
    const evalAt = new Set(Array.from({ length: evalPoints }, (_, i) => Math.round(((i + 1) * steps) / evalPoints)));
    let order: number[] = [];
    let lossSum = 0;
    let lossCount = 0;
    for (let step = 1; step <= steps; step++) {
      checkAbort();
      if (order.length < options.batchSize) order = [...order, ...rng.shuffle(examples.map((_, i) => i))];
      const batchIndices = order.splice(0, options.batchSize);
      const batch = sftBatch(batchIndices.map((i) => examples[i]!), tokenizer.padId);
      const { loss } = timed(times, 'train', () => trainStep(model, optimizer, optimizerConfig, batch));
      tokens.train += batch.weights.reduce((s, row) => s + row.length, 0);
      lossSum += loss;
      lossCount += 1;
      hooks.progress?.('train', step, steps);
      if (evalAt.has(step)) {
        const evaluation = timed(times, 'eval', () => evaluate(model, tokenizer, data.eval, data.test, evalOptions, hooks.progress));
        const perSecond = (count: number, seconds: number) => (seconds > 0 ? count / seconds : 0);
        record({
          t: round * options.epochsPerRound + (step / steps) * options.epochsPerRound, round: round + step / steps, ...evaluation,
          fallbacks, externalQueries: externalIndices.length, externalDropped: dropped.filter(Boolean).length, poolSolverUncertainty, poolVerifierUncertainty, trainLoss: lossSum / lossCount,
          timing: { ...times, round: (performance.now() - roundStart) / 1000 },
          tokensPerSecond: { sample: perSecond(tokens.sample, times.sample), score: perSecond(tokens.score, times.score), train: perSecond(tokens.train, times.train) },
        });
        lossSum = 0;
        lossCount = 0;
      }
    }
    state = { ...state, round: round + 1, metricsLines: metrics.length };
    const base = baseModelName(options.model, MODELS_DIR);
    saveCheckpoint(checkpointDir, model, { training: { optimizer, optimizerConfig, rng: rng.state(), extra: { ...state } }, info: { tokenizer: { path: tokenizer.modelPath } }, base });
    if (model.lora) writePeftAdapter(join(runDir, 'adapters', `round-${round + 1}`), model, base); // each round's adapter, loadable by PEFT
    const forecast = metrics[metrics.length - 1]!.forecast;
    if (options.stopAtConvergence !== undefined && forecast && 'remainingSolverImprovement' in forecast && forecast.remainingSolverImprovement < options.stopAtConvergence) {
      log(`stopping after round ${round + 1}: the forecast remaining U_s improvement ${forecast.remainingSolverImprovement.toFixed(4)} < --stop-at-convergence ${options.stopAtConvergence}`);
      stoppedEarly = true;
      break;
    }
  }

  let fit: SharedRateFit | undefined;
  try {
    fit = fitSharedRate({ t: metrics.map((m) => m.t), solver: metrics.map((m) => m.solverUncertainty), verifier: metrics.map((m) => m.verifierUncertainty) });
    writeFileAtomic(join(runDir, 'fit.json'), JSON.stringify(fit, null, 2) + '\n');
    log(`shared-rate fit: r=${fit.rate.value.toFixed(3)} U_s∞=${fit.limits.solver.value.toFixed(3)} U_v∞=${fit.limits.verifier.value.toFixed(3)} ` +
      `R² solver=${fit.r2.solver.toFixed(3)} verifier=${fit.r2.verifier.toFixed(3)} gap=${fit.r2.gap.toFixed(3)}`);
    if (fit.flags.length) log(`  ${formatFitFlags(fit.flags)}`);
  } catch (error) {
    log(`no shared-rate fit: ${(error as Error).message}`);
  }
  const finalTest = options.finalTestSize === undefined ? undefined : finalTestOf(runDir, options, model, tokenizer, sampling, log, hooks.progress);
  writeFileAtomic(join(runDir, 'run.json'), JSON.stringify({ ...runInfo, finishedAt: new Date().toISOString(), stoppedEarly }, null, 2) + '\n');
  if (options.report) {
    const { writeRunReport } = await import('../report/index.js');
    const index = await writeRunReport(runDir);
    log(`report: ${index}`);
  }
  disposeAdamW(optimizer);
  disposeModel(model);
  return { runDir, metrics, finalTest, fit, backend, stoppedEarly };
}

/** The run's final-test.json for options.finalTestSize questions: read when it exists at that size, else measured and written. */
function finalTestOf(runDir: string, options: TrainOptions, model: Model, tokenizer: Tokenizer, sampling: SamplingOptions, log: (line: string) => void,
  progress?: Progress): FinalTest {
  const path = join(runDir, 'final-test.json');
  const saved = readFinalTest(runDir);
  if (saved && saved.testSize === options.finalTestSize) return saved;
  const test = loadLoopData({ ...options, testSize: options.finalTestSize! }).test;
  const correct = greedyCorrect(model, tokenizer, test, sampling, progress);
  const finalTest: FinalTest = { testSize: test.length, accuracy: correct.filter(Boolean).length / test.length, correct: correct.map((c) => (c ? '1' : '0')).join('') };
  writeFileAtomic(path, JSON.stringify(finalTest) + '\n');
  log(`final test: ${(100 * finalTest.accuracy).toFixed(2)} % of ${finalTest.testSize} test questions (greedy)`);
  return finalTest;
}

/** A run directory's final-test.json, or undefined when it has none. */
export function readFinalTest(runDir: string): FinalTest | undefined {
  const path = join(runDir, 'final-test.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FinalTest;
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
  }
}
