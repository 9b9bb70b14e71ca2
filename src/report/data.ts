// Reading run directories (notes/run-format.md) and cross-improvement outputs into plain arrays for the figures.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const STAGES = ['sample', 'score', 'verify', 'train', 'eval'] as const;
export type Stage = (typeof STAGES)[number];

/** One line of metrics.jsonl: an evaluation point (t in epochs of self-improvement; see src/loop's MetricsRecord). */
export interface MetricsRow {
  t: number;
  /** rounds completed, fractional mid-round (0.5 = half of round 1) */
  round: number;
  solverUncertainty: number;
  verifierUncertainty: number;
  gap: number;
  solverAccuracy: number;
  verifierAccuracy: number;
  /** null in the file (NaN) when the run has no test set */
  testAccuracy: number;
  passAtN?: number;
  majorityAccuracy?: number;
  meanResponseLength?: number;
  /** issue 19's accounting (absent in runs made before it) */
  testSampledAccuracy?: number;
  solverUncertaintyPerToken?: number;
  verifierUncertaintyPerToken?: number;
  meanPickLength?: number;
  answerDiversity?: number;
  /** pass@k for k = 1, 2, 4, …, N on the evaluation questions */
  [passAtK: `passAt${number}`]: number | undefined;
  fallbacks?: number;
  externalQueries?: number;
  poolSolverUncertainty?: number;
  poolVerifierUncertainty?: number;
  trainLoss?: number;
  /** seconds per stage, cumulative within the round up to this point; "round" = the round's wall clock so far */
  timing?: Partial<Record<Stage | 'round', number>>;
  tokensPerSecond?: Partial<Record<'sample' | 'score' | 'train', number>>;
  forecast?: Record<string, unknown>;
}

/** run.json; only the fields the report shows are typed, the rest is kept as-is for the settings table. */
export interface RunInfo {
  command?: string;
  flags?: Record<string, unknown>;
  seed?: number;
  backend?: { name?: string; version?: string; threads?: number; device?: string };
  versions?: Record<string, string>;
  model?: Record<string, unknown> & { parameters?: number };
  dataset?: { name?: string; poolSize?: number; evalSize?: number; testSize?: number };
  verifier?: { kind?: string; sigma?: number; templates?: Record<string, string> };
  startedAt?: string;
  finishedAt?: string;
  [key: string]: unknown;
}

export interface RunData {
  dir: string;
  name: string;
  info: RunInfo | null;
  metrics: MetricsRow[];
}

const REQUIRED: (keyof MetricsRow)[] = ['t', 'round', 'solverUncertainty', 'verifierUncertainty', 'gap'];

/** Parse metrics.jsonl text; `file` only names the source in errors. Blank lines are skipped. */
export function parseMetrics(text: string, file: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error(`${file}:${i + 1}: expected a JSON object`);
    for (const key of REQUIRED) {
      if (typeof (row as Record<string, unknown>)[key] !== 'number') throw new Error(`${file}:${i + 1}: field "${key}" missing or not a number`);
    }
    rows.push(row as MetricsRow);
  });
  if (rows.length === 0) throw new Error(`${file}: no evaluation points`);
  return rows;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** Read a run directory: metrics.jsonl (required) and run.json (optional). */
export function readRun(dir: string): RunData {
  const metricsFile = join(dir, 'metrics.jsonl');
  if (!existsSync(metricsFile)) throw new Error(`${dir}: not a run directory (no metrics.jsonl)`);
  const metrics = parseMetrics(readFileSync(metricsFile, 'utf8'), metricsFile);
  const runFile = join(dir, 'run.json');
  const info = existsSync(runFile) ? (readJson(runFile) as RunInfo) : null;
  return { dir, name: basename(dir.replace(/\/+$/, '')), info, metrics };
}

export interface CrossArmSummary {
  initialTestAccuracy: number;
  finalTestAccuracy: number;
  finalTestAccuracySd: number;
  finalSolverUncertainty: number;
  finalVerifierUncertainty: number;
  externalQueries: number;
  predictedFinalSolverUncertainty: number;
}

export interface CrossSummary {
  budget: number;
  gamma: number;
  arms: Record<string, CrossArmSummary>;
}

export interface CrossData {
  dir: string;
  summary: CrossSummary;
  /** Run directories of each arm (one per seed), keyed by arm name. */
  runs: Record<string, RunData[]>;
}

/** Whether `dir` is the output of `npm run cross` (has summary.json). */
export function isCrossDir(dir: string): boolean {
  return existsSync(join(dir, 'summary.json'));
}

/** Read `npm run cross --out DIR`: summary.json plus DIR/<arm>/ or DIR/<arm>-seed<k>/ run directories. */
export function readCross(dir: string): CrossData {
  const file = join(dir, 'summary.json');
  const summary = readJson(file) as CrossSummary;
  if (typeof summary !== 'object' || summary === null || typeof summary.arms !== 'object' || summary.arms === null) {
    throw new Error(`${file}: expected {"budget", "gamma", "arms": {...}}`);
  }
  for (const [arm, s] of Object.entries(summary.arms)) {
    if (typeof s.finalTestAccuracy !== 'number') throw new Error(`${file}: arms.${arm}.finalTestAccuracy missing or not a number`);
  }
  const runs: Record<string, RunData[]> = {};
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const arm of Object.keys(summary.arms)) {
    const dirs = entries.filter((name) => name === arm || new RegExp(`^${escapeRegExp(arm)}-seed\\d+$`).test(name));
    runs[arm] = dirs.filter((name) => existsSync(join(dir, name, 'metrics.jsonl'))).map((name) => readRun(join(dir, name)));
  }
  return { dir, summary, runs };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Drop rows whose value is not a finite number (JSON turns NaN into null), so no NaN reaches a path. */
export function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

