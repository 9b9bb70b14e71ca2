// What runs write, each file with one type and one reader (docs: README "Run directory"): metrics.jsonl, run.json,
// fit.json, final-test.json, samples/round-R.jsonl, and a cross directory's summary.json. Loop, report, theory I/O,
// cross and the tests read them only through here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from './io.js';
import type { Evaluation } from './loop/evaluate.js';
import type { StageTimes } from './loop/sampling.js';
import type { Forecast } from './theory/forecast.js';

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

/** final-test.json: the final model's greedy accuracy on a test split that may be larger than --test-size. */
export interface FinalTest {
  testSize: number;
  accuracy: number;
  correct: string; // per test question in order, '1' correct or '0' wrong (for paired comparisons between runs)
}

/** The lines of a JSONL file as values ([] when it does not exist); a line that is no JSON is an error naming file and line. */
export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l, i) => {
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
