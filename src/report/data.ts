// Reading run directories and cross-improvement outputs (through src/formats.ts) into plain arrays for the figures.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type CrossSummary, type MetricsRow, type RunInfo, readCrossSummary, readMetrics, readRunInfo } from '../formats.js';

export const STAGES = ['sample', 'score', 'verify', 'train', 'eval'] as const;
export type Stage = (typeof STAGES)[number];

export interface RunData {
  dir: string;
  name: string;
  info: Partial<RunInfo> | null;
  metrics: MetricsRow[];
}

/** Read a run directory: metrics.jsonl (required) and run.json (optional). */
export function readRun(dir: string): RunData {
  const metrics = readMetrics(dir);
  return { dir, name: basename(dir.replace(/\/+$/, '')), info: readRunInfo(dir) ?? null, metrics };
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
  const summary = readCrossSummary(dir);
  const runs: Record<string, RunData[]> = {};
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
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
