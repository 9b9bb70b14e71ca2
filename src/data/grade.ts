// Grading free-text model outputs against a dataset's reference answers (used by `npm run grade`).
import { existsSync } from 'node:fs';
import { extractAnswer, answersEqual } from './answer.js';
import type { Problem } from './datasets.js';
import { BadLine, readJsonl, reportSkipped } from './jsonl.js';

/** One line of preds.jsonl: idx is the 0-based line index of the problem in the dataset file. */
export interface Prediction {
  idx: number;
  prediction: string;
  line?: number;
}
export interface GradeItem {
  idx: number;
  extracted: string | null;
  reference: string;
  correct: boolean;
}
export interface GradeReport {
  accuracy: number;
  correct: number;
  wrong: number;
  unparseable: number;
  items: GradeItem[];
}

/** Read preds.jsonl lines {"idx": n, "prediction": "..."} with file:line errors. */
export function readPredictions(path: string, skipBadLines = false): Prediction[] {
  if (!existsSync(path)) throw new Error(`predictions file not found: ${path}`);
  const { items, skipped } = readJsonl(
    path,
    (row, lineIndex) => {
      const idx = row.idx;
      if (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0) {
        throw new BadLine(`"idx" must be a non-negative integer, got ${JSON.stringify(idx)}`);
      }
      const prediction = row.prediction;
      if (typeof prediction !== 'string') throw new BadLine(`"prediction" must be a string, got ${JSON.stringify(prediction)}`);
      return { idx, prediction, line: lineIndex + 1 };
    },
    skipBadLines,
  );
  reportSkipped(path, skipped);
  return items;
}

/**
 * Grade predictions: the final answer is extracted from each prediction like from references ('#### n', last
 * \boxed{}, else last number); unparseable = nothing extracted. Accuracy is over the graded predictions.
 */
export function gradePredictions(problems: Problem[], predictions: Prediction[], source = 'predictions'): GradeReport {
  if (predictions.length === 0) throw new Error(`${source}: no predictions to grade`);
  const byIdx = new Map<number, Problem>();
  for (const p of problems) byIdx.set(p.idx, p);
  const seen = new Map<number, number | undefined>();
  const items: GradeItem[] = [];
  let correct = 0;
  let unparseable = 0;
  for (const pred of predictions) {
    const where = pred.line === undefined ? source : `${source}:${pred.line}`;
    const problem = byIdx.get(pred.idx);
    if (problem === undefined) {
      throw new Error(`${where}: idx ${pred.idx} is not a problem of the dataset (${problems.length} problems loaded)`);
    }
    if (seen.has(pred.idx)) throw new Error(`${where}: idx ${pred.idx} graded twice (first at line ${seen.get(pred.idx) ?? '?'})`);
    seen.set(pred.idx, pred.line);
    const extracted = extractAnswer(pred.prediction);
    const ok = answersEqual(extracted, problem.answer);
    if (extracted === null) unparseable++;
    if (ok) correct++;
    items.push({ idx: pred.idx, extracted, reference: problem.answer, correct: ok });
  }
  return { accuracy: correct / items.length, correct, wrong: items.length - correct - unparseable, unparseable, items };
}
