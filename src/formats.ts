// What runs write, each file with one type and one reader (docs: README "Run directory"): metrics.jsonl, run.json,
// fit.json, final-test.json, samples/round-R.jsonl, and a cross directory's summary.json. Loop, report, theory I/O,
// cross and the tests read them only through here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from './io.js';
import type { Evaluation } from './loop/evaluate.js';
import type { StageTimes } from './loop/sampling.js';
import type { TrainOptions } from './loop/options.js';
import type { ExternalSelect } from './loop/external.js';
import type { Forecast } from './theory/forecast.js';
import type { LoraConfig, ModelConfig } from './model/index.js';
import type { AllocationOutcome, AllocationRegime, FitFlag, SharedRateFit } from './theory/index.js';

/** One line of metrics.jsonl: an evaluation point. Runs made before a field existed lack it (fields after `gap` may be absent). */
export interface MetricsRecord extends Evaluation {
  t: number; // epochs of self-improvement so far
  round: number; // rounds completed (fractional mid-round)
  fallbacks: number; // picks in this round's pool that no candidate passed σ for
  externalQueries: number; // questions verified externally in this round so far
  externalDropped?: number; // of those, questions without a candidate the external verifier accepted (not trained on)
  poolSolverUncertainty?: number;
  poolVerifierUncertainty?: number;
  trainLoss?: number;
  timing: StageTimes & { round: number }; // seconds per stage, cumulative within the round; round = its wall clock so far
  tokensPerSecond: { sample: number; score: number; train: number };
  forecast?: Forecast | { error: string };
}

// the fields every run ever wrote; the others were added later and may be absent from older runs
type CoreMetric =
  't' | 'round' | 'solverUncertainty' | 'verifierUncertainty' | 'gap' | 'testAccuracy' | 'solverAccuracy' | 'verifierAccuracy';
const CORE_METRICS = ['t', 'round', 'solverUncertainty', 'verifierUncertainty', 'gap'] as const; // testAccuracy: null when NaN

/** A metrics.jsonl line as read back: a MetricsRecord whose later fields may be missing (older runs). */
export type MetricsRow = Pick<MetricsRecord, CoreMetric> & Partial<Omit<MetricsRecord, CoreMetric>>;

/** Parses metrics.jsonl text (`file` names it in errors; blank lines skipped); none at all is an error unless allowEmpty. */
export function parseMetrics(text: string, file: string, allowEmpty = false): MetricsRow[] {
  const rows: MetricsRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error(`${file}:${i + 1}: expected a JSON object`);
    for (const key of CORE_METRICS) {
      if (typeof (row as Record<string, unknown>)[key] !== 'number')
        throw new Error(`${file}:${i + 1}: field "${key}" missing or not a number`);
    }
    rows.push(row as MetricsRow);
  });
  if (rows.length === 0 && !allowEmpty) throw new Error(`${file}: no evaluation points`);
  return rows;
}

/** A run directory's metrics.jsonl; with allowEmpty a missing or empty file is no points (a run before its first). */
export function readMetrics(runDir: string, allowEmpty = false): MetricsRow[] {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) {
    if (allowEmpty) return [];
    throw new Error(`${runDir}: not a run directory (no metrics.jsonl)`);
  }
  return parseMetrics(readFileSync(path, 'utf8'), path, allowEmpty);
}

/** run.json: how the run was started (and resumed), its options, where it ran, the model, data and verifier. */
export interface RunInfo {
  command: string; // the command that started the run
  resumedBy?: { command: string; at: string }[];
  options: TrainOptions; // nested by group (runs before the options table: flat; loop/options.ts savedOptions reads both)
  seed: number;
  backend: { name: string; version: string; threads: number; device: string; package?: string };
  versions: Record<string, string>;
  model: { spec: string; config: ModelConfig; parameters: number; trainableParameters: number; lora: LoraConfig | null };
  tokenizer: string;
  dataset: { name: string; poolSize: number; evalSize: number; testSize: number; freshPool: boolean };
  verifier: { kind: string; sigma: number; templates: Record<string, string> };
  external: { verifier: string; budget: number; allocation: string; select: ExternalSelect } | null;
  startedAt: string;
  finishedAt?: string; // set when the run ends
  stoppedEarly?: boolean;
}

/** A run directory's run.json, or undefined when it has none (older or foreign runs may lack fields: read them as optional). */
export function readRunInfo(runDir: string): Partial<RunInfo> | undefined {
  const path = join(runDir, 'run.json');
  return existsSync(path) ? (readJsonFile(path) as Partial<RunInfo>) : undefined;
}

/** fit.json: the shared-rate fit (Prop. 3.1) of the whole trajectory, written when the run ends (absent when it failed). */
export function readFit(runDir: string): SharedRateFit | undefined {
  const path = join(runDir, 'fit.json');
  return existsSync(path) ? (readJsonFile(path) as SharedRateFit) : undefined;
}

/** One line of samples/round-R.jsonl: a pool question, its candidates with scores and NLLs, and the pick. */
export interface SampleRecord {
  idx: number;
  question: string;
  reference: string;
  external: boolean; // verified by the external verifier
  selfConfidence: number; // the self-verifier's best candidate score
  pick: number;
  fallback: boolean; // no candidate reached σ
  dropped: boolean; // verified externally with no candidate accepted: not trained on
  candidates: {
    text: string;
    answer: string | null;
    correct: boolean;
    score: number;
    nll: number;
    normalizedNll: number;
    length: number;
  }[];
}

/** samples/round-R.jsonl of a run directory (round 1-based). */
export function readSamples(runDir: string, round: number): SampleRecord[] {
  const path = join(runDir, 'samples', `round-${round}.jsonl`);
  if (!existsSync(path)) throw new Error(`${path}: not found`);
  return readJsonl<SampleRecord>(path);
}

/** final-test.json: the final model's greedy accuracy on a test split that may be larger than --test-size. */
export interface FinalTest {
  testSize: number;
  accuracy: number;
  correct: string; // per test question in order, '1' correct or '0' wrong (for paired comparisons between runs)
}

/** The lines of a JSONL file as values ([] when it does not exist); a line that is no JSON is an error naming file and line. */
export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch {
        throw new Error(`${path}:${i + 1}: not valid JSON (the run directory is damaged)`);
      }
    });
}

/** A run directory's final-test.json, or undefined when it has none. */
export function readFinalTest(runDir: string): FinalTest | undefined {
  const path = join(runDir, 'final-test.json');
  return existsSync(path) ? (readJsonFile(path) as FinalTest) : undefined;
}

export interface CrossArmSummary {
  initialTestAccuracy: number; // mean over seeds
  finalTestAccuracy: number; // mean over seeds
  finalTestAccuracySd: number; // sample sd over seeds (NaN, null in JSON, with one seed)
  finalSolverUncertainty: number;
  finalVerifierUncertainty: number;
  externalQueries: number; // per run (mean over seeds)
  predictedFinalSolverUncertainty: number; // the theory with the fitted γ (NaN when no fit)
  finalTestAccuracies: number[]; // per finished seed
  finishedSeeds: number[]; // the seeds of finalTestAccuracies, in order
  externalQueriesPerRound: number[];
  fractions: number[];
  allocation: string | null;
  seedsFinished: number;
  wallSeconds: number; // summed over seeds, from the runs' own clocks
}

export interface CrossTheory {
  method: string;
  base: string; // the arm whose shared-rate fit gives the dynamics
  dynamics: {
    alpha: number;
    beta: number;
    k: number;
    b: number;
    rate: number;
    r2: { solver: number; verifier: number; gap: number };
    flags?: FitFlag[];
  };
  gammaBudget: number; // γ·M, the boost per unit of η
  outcomes: AllocationOutcome[]; // compareAllocations over the arms with budget
  regime: AllocationRegime;
  gammaPerArm: Record<
    string,
    { gamma: number; lower: number; upper: number; r2: { solver: number; verifier: number } } | { error: string }
  >;
  trajectories?: Record<string, { t: number[]; solver: number[]; verifier: number[] }>; // each arm's predicted U_s, U_v (t in epochs; absent before issue 14)
}

/** summary.json of a cross directory (`npm run cross`). */
export interface CrossSummary {
  budget: number;
  gamma: number; // per external query: U_v ← U_v/(1 + γ·M·η_t) (NaN, null in JSON, when it cannot be fitted)
  arms: Record<string, CrossArmSummary>;
  failed: { arm: string; seed: number; dir: string; error: string }[];
  seeds: number[];
  rounds: number;
  externalVerifier: string;
  externalSelect: ExternalSelect; // which questions the external verifier saw
  finalTestSize: number | null; // test questions behind finalTestAccuracy (null: the runs' last evaluation, on --test-size questions)
  comparison: {
    deltaVsNone: Record<string, number>; // final test accuracy minus none's (mean over seeds)
    // per seed finished by both the arm and none (same start, same sampling until the arm first spends): mean, sample sd
    // and standard error of the arm's final test accuracy minus none's
    pairedDeltaVsNone: Record<string, { mean: number; sd: number; se: number; seeds: number }>;
    beatsNone: Record<string, boolean>;
    allocationSpread: number; // max − min final test accuracy over the arms with budget
    meanSeedSd: number; // mean over those arms of the seed-to-seed sd
  };
  theory: CrossTheory | { error: string };
  wallSeconds: number;
}

/** A cross directory's summary.json, checked for what every reader needs (arms with their final test accuracy). */
export function readCrossSummary(dir: string): CrossSummary {
  const file = join(dir, 'summary.json');
  const summary = readJsonFile(file) as CrossSummary;
  if (typeof summary !== 'object' || summary === null || typeof summary.arms !== 'object' || summary.arms === null) {
    throw new Error(`${file}: expected {"budget", "gamma", "arms": {...}}`);
  }
  for (const [arm, s] of Object.entries(summary.arms)) {
    if (typeof s.finalTestAccuracy !== 'number') throw new Error(`${file}: arms.${arm}.finalTestAccuracy missing or not a number`);
  }
  return summary;
}
