// The options of one run (`npm run train`), declared once: each row of OPTIONS holds a flag's name, where it lives in
// the nested TrainOptions (path `group.key`), its type, default, help text and check. The TrainOptions type, the
// defaults, the yargs options (src/cli/options.ts), validation, --resume's and cross's comparisons all come from it.
// Adding a flag is adding a row.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BACKEND_CHOICES } from '../engine/index.js';
import { PRESET_NAMES, type PresetName, modelDir, presetConfig, validateConfig } from '../model/index.js';
import { readJsonFile } from '../io.js';
import { readMetrics } from '../formats.js';
import { requireNonNegativeInteger, requirePositiveInteger } from '../flags.js';
import { hasSeparateTestSplit } from './data.js';
import { EXTERNAL_SELECTS, parseAllocation } from './external.js';
import { VERIFIER_KINDS } from './verify.js';

const MAX_ROUNDS = 1_000_000; // per-round arrays (external budget shares) are allocated up front
const MIN_PROMPT_TOKENS = 16; // room the question keeps in the context next to --max-new-tokens

type Check = (flag: string, value: never) => void;
const finiteIn =
  (ok: (x: number) => boolean, range: string): Check =>
  (flag, value: number) => {
    if (!(Number.isFinite(value) && ok(value))) throw new Error(`--${flag}: must be ${range} (got ${value})`);
  };
const positive = finiteIn((x) => x > 0, 'a finite positive number');
const integer: Check = (flag, value: number) => {
  if (!Number.isInteger(value)) throw new Error(`--${flag}: must be an integer (got ${value})`);
};
const rounds: Check = (flag, value: number) => {
  requirePositiveInteger(flag, value);
  if (value > MAX_ROUNDS) throw new Error(`--${flag}: at most ${MAX_ROUNDS} (got ${value})`);
};
const directoryName: Check = (flag, value: string) => {
  if (value.trim() === '')
    throw new Error(
      `--${flag}: ${JSON.stringify(value)} is no directory name (an empty one would write the run into the current directory)`,
    );
};
const dataset: Check = (flag, value: string) => {
  if (['arith', 'gsm8k', 'math'].includes(value)) return;
  if (!existsSync(value)) throw new Error(`--${flag} ${value}: file not found`);
  if (statSync(value).isDirectory()) throw new Error(`--${flag} ${value}: a directory; give a .jsonl file (or arith, gsm8k, math)`);
};
const selfVerifierKind: Check = (flag, value: string) => {
  if (value === 'oracle')
    throw new Error(`--${flag} oracle: the oracle knows the answers, so it is no self-verifier; use it as --external-verifier oracle`);
};
const externalVerifierSpec: Check = (flag, value: string) => {
  if (value !== 'oracle' && !existsSync(join(resolve(value), 'config.json'))) {
    throw new Error(`--${flag} ${value}: neither 'oracle' nor a checkpoint directory (no config.json there)`);
  }
};

export interface OptionRow {
  flag: string;
  path: string; // `key` (top level) or `group.key`
  type: 'string' | 'number' | 'boolean';
  default?: string | number | boolean; // none: optional (undefined unless given)
  choices?: readonly string[];
  describe: string;
  check?: Check; // on a given value, after the type and choices
  cliDefault?: false; // the command line gives no default (the run tells whether it was typed, e.g. --rounds with --resume)
}

// one row per flag, a table to read down: the formatter leaves it as it is
// prettier-ignore
export const OPTIONS = [
  { flag: 'model', path: 'model', type: 'string', default: 'tiny-arith', describe: 'tiny-arith (shipped), tiny | small (random init), phi-mini (reserved), or a checkpoint directory' },
  { flag: 'seed', path: 'seed', type: 'number', default: 1, describe: 'seed of the model init, the pools, sampling and SFT order', check: integer },
  { flag: 'rounds', path: 'rounds', type: 'number', default: 6, cliDefault: false, describe: 'self-improvement rounds (default 6; with --resume, extends the run)', check: rounds },
  // data: where the questions come from and how many
  { flag: 'dataset', path: 'data.dataset', type: 'string', default: 'arith', describe: 'arith (generated), gsm8k, math, or a .jsonl path', check: dataset },
  { flag: 'data-dir', path: 'data.dataDir', type: 'string', describe: 'directory with gsm8k/ and math/ (default: $SVGAP_DATA, else ../shared/datasets)' },
  { flag: 'question-field', path: 'data.questionField', type: 'string', default: 'question', describe: 'custom jsonl: question field' },
  { flag: 'answer-field', path: 'data.answerField', type: 'string', default: 'answer', describe: 'custom jsonl: answer/solution field' },
  { flag: 'skip-bad-lines', path: 'data.skipBadLines', type: 'boolean', default: false, describe: 'skip malformed jsonl lines (counted) instead of stopping' },
  { flag: 'pool-size', path: 'data.poolSize', type: 'number', default: 256, describe: 'questions per round', check: requirePositiveInteger },
  { flag: 'fresh-pool', path: 'data.freshPool', type: 'boolean', default: false, describe: 'new questions every round instead of a fixed pool' },
  { flag: 'eval-size', path: 'data.evalSize', type: 'number', default: 64, describe: 'fixed train questions for U_s, U_v and accuracies', check: requirePositiveInteger },
  { flag: 'test-size', path: 'data.testSize', type: 'number', default: 200, describe: 'test questions for greedy accuracy', check: requireNonNegativeInteger },
  // sampling: the N candidates per question
  { flag: 'samples', path: 'sampling.samples', type: 'number', default: 16, describe: 'N candidates per question (the paper: 16)', check: requirePositiveInteger },
  { flag: 'temperature', path: 'sampling.temperature', type: 'number', default: 1.0, describe: 'sampling temperature', check: finiteIn((x) => x >= 0, 'a finite number ≥ 0') },
  { flag: 'top-p', path: 'sampling.topP', type: 'number', default: 1.0, describe: 'nucleus sampling mass', check: finiteIn((x) => x > 0 && x <= 1, 'in (0, 1]') },
  { flag: 'max-new-tokens', path: 'sampling.maxNewTokens', type: 'number', default: 64, describe: 'tokens per response at most', check: requirePositiveInteger },
  { flag: 'sample-batch', path: 'sampling.sampleBatch', type: 'number', default: 64, describe: 'rows per sampling/scoring batch', check: requirePositiveInteger },
  // verify: the self-verifier and the hybrid pick
  { flag: 'verifier', path: 'verify.verifier', type: 'string', default: 'majority', choices: VERIFIER_KINDS, describe: 'self-verifier: tf | qe | likelihood | majority (oracle: external only)', check: selfVerifierKind },
  { flag: 'sigma', path: 'verify.sigma', type: 'number', default: 0.5, describe: 'keep candidates with verifier score ≥ σ, then pick the lowest normalised NLL', check: finiteIn((x) => x >= 0 && x <= 1, 'in [0, 1]') },
  // sft: fine-tuning on the picks
  { flag: 'epochs-per-round', path: 'sft.epochsPerRound', type: 'number', default: 1, describe: 'SFT epochs over the picks per round', check: positive },
  { flag: 'lr', path: 'sft.lr', type: 'number', default: 2e-3, describe: 'AdamW learning rate', check: positive },
  { flag: 'batch-size', path: 'sft.batchSize', type: 'number', default: 16, describe: 'SFT rows per step', check: requirePositiveInteger },
  { flag: 'full-finetune', path: 'sft.fullFinetune', type: 'boolean', default: false, describe: 'train all weights instead of LoRA adapters' },
  { flag: 'lora-rank', path: 'sft.loraRank', type: 'number', default: 8, describe: 'LoRA rank', check: requirePositiveInteger },
  { flag: 'lora-alpha', path: 'sft.loraAlpha', type: 'number', default: 16, describe: 'LoRA alpha (scale alpha/rank)', check: positive },
  // eval: the evaluation points
  { flag: 'evals-per-epoch', path: 'eval.evalsPerEpoch', type: 'number', default: 2, describe: 'evaluation points per epoch (the paper: 2)', check: requirePositiveInteger },
  { flag: 'test-samples', path: 'eval.testSamples', type: 'number', default: 4, describe: 'sampled answers per test question at each evaluation point (held-out sampled accuracy; 0 = off)', check: requireNonNegativeInteger },
  { flag: 'stop-at-convergence', path: 'eval.stopAtConvergence', type: 'number', describe: 'stop when the forecast remaining U_s improvement is below EPS', check: finiteIn((x) => x >= 0, 'a finite number ≥ 0') },
  // external: cross-improvement inside the run (Sec. 5)
  { flag: 'external-verifier', path: 'external.verifier', type: 'string', describe: 'cross-improvement: oracle, or a checkpoint used as a frozen verifier', check: externalVerifierSpec },
  { flag: 'external-budget', path: 'external.budget', type: 'number', describe: 'questions that may be verified externally over the run', check: requireNonNegativeInteger },
  { flag: 'allocation', path: 'external.allocation', type: 'string', describe: 'early | uniform | late | R1:share,R2:share,... (default uniform)' },
  { flag: 'external-select', path: 'external.select', type: 'string', choices: EXTERNAL_SELECTS, describe: 'which questions the external verifier sees: random (default; seeded order) | doubt (lowest self-verifier confidence first)' },
  // runtime: where and how the run executes; may change on --resume, and cross does not compare them
  { flag: 'out', path: 'runtime.out', type: 'string', describe: 'run directory (default: checkpoints/run-<timestamp>)', check: directoryName },
  { flag: 'resume', path: 'runtime.resume', type: 'boolean', default: false, describe: 'continue the run in --out from its last completed round' },
  { flag: 'backend', path: 'runtime.backend', type: 'string', default: 'auto', choices: BACKEND_CHOICES, describe: 'tfjs backend (auto: tfjs-node-gpu > torch cuda > tfjs-node > torch cpu > wasm > cpu)' },
  { flag: 'threads', path: 'runtime.threads', type: 'number', describe: 'CPU threads for the backend (default: OMP_NUM_THREADS or all cores)', check: requirePositiveInteger },
  { flag: 'device', path: 'runtime.device', type: 'string', default: 'auto', choices: ['auto', 'cpu', 'cuda'], describe: 'device for the torch backend' },
  { flag: 'report', path: 'runtime.report', type: 'boolean', default: true, describe: 'write the HTML/SVG/PNG report at the end (--no-report to skip)' },
  { flag: 'final-test-size', path: 'runtime.finalTestSize', type: 'number', describe: 'after the last round, greedy accuracy of the final model on N test questions (final-test.json; reads only the final model)', check: requirePositiveInteger },
] as const satisfies readonly OptionRow[];

// ---- the TrainOptions type, derived from the rows: `group.key` → options.group.key, optional where a row has no default
type Row = (typeof OPTIONS)[number];
type Value<R> = R extends { choices: readonly (infer C)[] }
  ? C
  : R extends { type: 'number' }
    ? number
    : R extends { type: 'boolean' }
      ? boolean
      : string;
type Split<P> = P extends `${infer G}.${infer K}` ? [G, K] : ['', P];
type KeyIn<R, G, Required> = R extends { path: infer P }
  ? Split<P>[0] extends G
    ? (R extends { default: unknown } ? true : false) extends Required
      ? Split<P>[1]
      : never
    : never
  : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Group<G extends string> = Simplify<{ [R in Row as KeyIn<R, G, true>]: Value<R> } & { [R in Row as KeyIn<R, G, false>]?: Value<R> }>;
type Camel<S> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;

export type OptionGroup = 'data' | 'sampling' | 'verify' | 'sft' | 'eval' | 'external' | 'runtime';
export type TrainOptions = Group<''> & { [G in OptionGroup]: Group<G> } & {
  extendRounds?: number; // with resume: continue up to this many rounds (else the saved run's own count)
  explicitFlags?: string[]; // the flags typed on the command line (the rest are defaults): --resume compares only these
};
/** The options by flag in camelCase (`poolSize` for --pool-size): what tests and older run.json files write. */
export type FlatOptions = { [R in Row as Camel<R['flag']>]?: Value<R> } & Pick<TrainOptions, 'extendRounds' | 'explicitFlags'>;

const EXTRA_KEYS = ['extendRounds', 'explicitFlags'] as const; // per command, not per run: no row, no flag

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

export function getOption(o: object, path: string): unknown {
  return path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], o);
}

function setOption(o: Record<string, unknown>, path: string, value: unknown): void {
  const [group, key] = path.includes('.') ? (path.split('.') as [string, string]) : [undefined, path];
  const target = group === undefined ? o : ((o[group] ??= {}) as Record<string, unknown>);
  if (value === undefined) delete target[key];
  else target[key] = value;
}

/** Options from flag values (camelCase keys; unset ones take the row's default); an unknown key is an error. */
export function trainOptionsFrom(values: FlatOptions = {}): TrainOptions {
  const o: Record<string, unknown> = Object.fromEntries(
    ['data', 'sampling', 'verify', 'sft', 'eval', 'external', 'runtime'].map((g) => [g, {}]),
  );
  for (const row of OPTIONS as readonly OptionRow[]) setOption(o, row.path, row.default);
  return withOptions(o as TrainOptions, values);
}

export const TRAIN_DEFAULTS: TrainOptions = trainOptionsFrom();

/** `options` with some flags changed (camelCase keys), e.g. withOptions(o, { poolSize: 4 }). */
export function withOptions(options: TrainOptions, values: FlatOptions): TrainOptions {
  const known = new Set<string>([...OPTIONS.map((row) => camel(row.flag)), ...EXTRA_KEYS]);
  const unknown = Object.keys(values).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const o = structuredClone(options) as unknown as Record<string, unknown>;
  const given = values as Record<string, unknown>;
  for (const row of OPTIONS as readonly OptionRow[]) if (camel(row.flag) in given) setOption(o, row.path, given[camel(row.flag)]);
  for (const key of EXTRA_KEYS) if (key in given) setOption(o, key, given[key]);
  return o as TrainOptions;
}

/** A run.json's options: nested as written today, or flat as written before the options table. */
export function savedOptions(saved: Record<string, unknown>): TrainOptions {
  if (typeof saved.data === 'object' && saved.data !== null) return saved as TrainOptions;
  const known = new Set(OPTIONS.map((row) => camel(row.flag)));
  const flat = Object.fromEntries(Object.entries(saved).filter(([key, value]) => known.has(key) && value !== null));
  const o = withOptions(trainOptionsFrom(), flat as FlatOptions);
  return o;
}

/** The flags whose values differ between a and b, as `--flag A vs B`, among the rows `include` keeps. */
export function optionDifferences(
  a: TrainOptions,
  b: TrainOptions,
  include: (row: OptionRow) => boolean,
): { flag: string; a: unknown; b: unknown }[] {
  return (OPTIONS as readonly OptionRow[])
    .filter(include)
    .map((row) => ({ flag: row.flag, a: getOption(a, row.path), b: getOption(b, row.path) }))
    .filter((d) => JSON.stringify(d.a) !== JSON.stringify(d.b));
}

/** Each row's type, choices and check, then the checks that involve several flags. */
export function validateTrainOptions(o: TrainOptions): void {
  for (const row of OPTIONS as readonly OptionRow[]) {
    const value = getOption(o, row.path);
    if (value === undefined && row.default === undefined) continue;
    if (row.type === 'boolean' && typeof value !== 'boolean')
      throw new Error(`--${row.flag}: must be true or false (got ${JSON.stringify(value)})`);
    if (row.type === 'string' && typeof value !== 'string')
      throw new Error(`--${row.flag}: must be a string (got ${JSON.stringify(value)})`);
    if (row.type === 'number' && typeof value !== 'number')
      throw new Error(`--${row.flag}: must be a number (got ${JSON.stringify(value)})`);
    if (row.choices && !row.choices.includes(value as string))
      throw new Error(`--${row.flag}: unknown '${String(value)}'; choose one of ${row.choices.join(', ')}`);
    row.check?.(row.flag, value as never);
  }
  validateCombinations(o);
}

/** The context length of --model without loading its weights (undefined when it is no preset or checkpoint: resolveModel says why). */
function modelContext(spec: string): number | undefined {
  if ((PRESET_NAMES as readonly string[]).includes(spec)) return presetConfig(spec as PresetName, 1).max_position_embeddings;
  const path = join(modelDir(spec), 'config.json');
  if (!existsSync(path)) return undefined;
  return validateConfig(readJsonFile(path, `--model ${spec}`), path).max_position_embeddings;
}

function validateCombinations(o: TrainOptions): void {
  const { data } = o;
  const finalTestSize = o.runtime.finalTestSize;
  if (finalTestSize !== undefined && finalTestSize > data.testSize && !hasSeparateTestSplit(data.dataset)) {
    throw new Error(
      `--final-test-size ${finalTestSize}: --dataset ${data.dataset} holds out only its last --test-size ${data.testSize} problems; ` +
        'a larger final test would include questions of the pool (raise --test-size or lower --final-test-size)',
    );
  }
  if (o.external.allocation !== undefined) parseAllocation(o.external.allocation, o.rounds);
  const context = modelContext(o.model);
  const maxNewTokens = o.sampling.maxNewTokens;
  if (context !== undefined && maxNewTokens > context - MIN_PROMPT_TOKENS) {
    throw new Error(
      `--max-new-tokens ${maxNewTokens}: --model ${o.model} has a context of ${context} tokens; at most ${context - MIN_PROMPT_TOKENS} ` +
        `leaves ${MIN_PROMPT_TOKENS} for the question (more would clip the prompt to nothing)`,
    );
  }
  if (data.evalSize > data.poolSize && data.dataset === 'arith')
    throw new Error(`--eval-size ${data.evalSize}: must not exceed --pool-size ${data.poolSize} (it is a subset of the train questions)`);
  if (o.external.budget !== undefined && !o.external.verifier) throw new Error('--external-budget needs --external-verifier oracle|PATH');
}

/** Whether a flag may differ between a run and its --resume: where and how it runs (runtime), and how far (--rounds). */
const mayChangeOnResume = (row: OptionRow) => row.path.startsWith('runtime.') || row.flag === 'rounds';

/** The run's options: the saved ones when resuming (only --rounds may grow; other changed flags are refused), else the given ones. */
export function runOptions(given: TrainOptions, runDir: string, log: (line: string) => void): TrainOptions {
  const runJson = join(runDir, 'run.json');
  if (!given.runtime.resume) {
    if (existsSync(join(runDir, 'metrics.jsonl'))) {
      const completed = existsSync(join(runDir, 'checkpoint', 'config.json')) || readMetrics(runDir, true).some((m) => m.round >= 1);
      if (completed) throw new Error(`--out ${runDir}: a run already exists there; pass --resume to continue it or choose another --out`);
      log(`note: ${runDir} holds a run that stopped before its first checkpoint; starting it again`);
    }
    return given;
  }
  if (!existsSync(runJson)) throw new Error(`--resume: ${runJson} not found (nothing to resume)`);
  const saved = savedOptions((readJsonFile(runJson, '--resume') as { options: Record<string, unknown> }).options);
  const typed = (row: OptionRow) =>
    !mayChangeOnResume(row) && (given.explicitFlags === undefined || given.explicitFlags.includes(row.flag));
  const changed = optionDifferences(given, saved, typed).map(
    (d) => `--${d.flag} ${JSON.stringify(d.a) ?? '(unset)'} (the run has ${JSON.stringify(d.b) ?? '(unset)'})`,
  );
  if (changed.length > 0) {
    throw new Error(
      `--resume ${runDir}: a resumed run keeps the flags it was started with, but this command changes ${changed.join(', ')}; ` +
        'drop them, or start a new run with another --out (--rounds, --final-test-size, --report, --backend, --threads and --device may change)',
    );
  }
  if (given.extendRounds !== undefined && given.extendRounds < saved.rounds) {
    throw new Error(
      `--rounds ${given.extendRounds}: the run in ${runDir} was started with --rounds ${saved.rounds}; --resume can only extend it`,
    );
  }
  const report = given.explicitFlags && !given.explicitFlags.includes('report') ? saved.runtime.report : given.runtime.report;
  const runtime = {
    ...given.runtime,
    resume: true,
    out: runDir,
    finalTestSize: given.runtime.finalTestSize ?? saved.runtime.finalTestSize,
    report,
  };
  return { ...saved, rounds: Math.max(saved.rounds, given.extendRounds ?? 0), runtime };
}
