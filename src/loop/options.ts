// The options of one run (`npm run train`): their type and defaults, the checks before a run starts, and the options a
// resumed run keeps from its run.json.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendChoice, DeviceChoice } from '../engine/index.js';
import { PRESET_NAMES, type PresetName, modelDir, presetConfig, validateConfig } from '../model/index.js';
import { readJsonFile } from '../io.js';
import { type MetricsRecord, readJsonl } from '../formats.js';
import { requireNonNegativeInteger, requirePositiveInteger } from '../flags.js';
import { hasSeparateTestSplit } from './data.js';
import { EXTERNAL_SELECTS, type ExternalSelect, parseAllocation } from './external.js';
import { VERIFIER_KINDS, type VerifierKind } from './verify.js';

export interface TrainOptions {
  model: string;
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

export const TRAIN_DEFAULTS: TrainOptions = {
  model: 'tiny-arith', dataset: 'arith', seed: 1, backend: 'auto', rounds: 6, poolSize: 256, freshPool: false, samples: 16,
  temperature: 1.0, topP: 1.0, maxNewTokens: 64, sampleBatch: 64, verifier: 'majority', sigma: 0.5, epochsPerRound: 1, lr: 2e-3, batchSize: 16,
  fullFinetune: false, loraRank: 8, loraAlpha: 16, evalsPerEpoch: 2, evalSize: 64, testSize: 200, testSamples: 4, report: true,
};

const MAX_ROUNDS = 1_000_000; // per-round arrays (external budget shares) are allocated up front
const MIN_PROMPT_TOKENS = 16; // room the question keeps in the context next to --max-new-tokens

/** The context length of --model without loading its weights (undefined when it is no preset or checkpoint: resolveModel says why). */
function modelContext(spec: string): number | undefined {
  if ((PRESET_NAMES as readonly string[]).includes(spec)) return presetConfig(spec as PresetName, 1).max_position_embeddings;
  const path = join(modelDir(spec), 'config.json');
  if (!existsSync(path)) return undefined;
  return validateConfig(readJsonFile(path, `--model ${spec}`), path).max_position_embeddings;
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
export function runOptions(given: TrainOptions, runDir: string, log: (line: string) => void): TrainOptions {
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
