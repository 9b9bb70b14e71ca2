// Loaders for GSM8K, MATH and custom jsonl files into the common Problem shape.
import { existsSync, statSync } from 'node:fs';
import { extractAnswer, lastBoxed } from './answer.js';
import { BadLine, readJsonl, reportSkipped, stringField } from './jsonl.js';
import { dataFile } from './paths.js';

/**
 * One problem. solution: the worked solution (GSM8K style ending "#### <n>"; MATH: the solution text);
 * answer: the reference final answer; idx: 0-based line index in the source file (or generator index).
 */
export interface Problem {
  question: string;
  solution: string;
  answer: string;
  idx: number;
}

const CALCULATOR_ANNOTATION = /<<[^<>]*>>/g;

/** Remove GSM8K calculator annotations: "48/2 = <<48/2=24>>24" -> "48/2 = 24". */
export function stripCalculatorAnnotations(text: string): string {
  return text.replace(CALCULATOR_ANNOTATION, '');
}

/** GSM8K {question, answer} from DIR/gsm8k/{split}.jsonl; the final answer follows "#### ". */
export function loadGsm8k(opts: {
  split: 'train' | 'test';
  dataDir?: string;
  stripCalculator?: boolean;
  skipBadLines?: boolean;
}): Problem[] {
  if (opts.split !== 'train' && opts.split !== 'test')
    throw new Error(`GSM8K split must be "train" or "test", got "${String(opts.split)}"`);
  const path = dataFile(`gsm8k/${opts.split}.jsonl`, opts.dataDir);
  const { items, skipped } = readJsonl(
    path,
    (row, idx) => {
      const question = stringField(row, 'question');
      const raw = stringField(row, 'answer');
      const hash = raw.lastIndexOf('#### ');
      if (hash < 0) throw new BadLine('field "answer" has no "#### <final answer>"');
      const answer = raw.slice(hash + 5).trim();
      if (answer === '') throw new BadLine('empty final answer after "#### "');
      const solution = opts.stripCalculator ? stripCalculatorAnnotations(raw) : raw;
      return { question, solution, answer, idx };
    },
    opts.skipBadLines,
  );
  reportSkipped(path, skipped);
  return items;
}

/** MATH {problem, solution} from DIR/math/test.jsonl; the answer is the last \boxed{...} ('' when there is none). */
export function loadMath(opts: { dataDir?: string; skipBadLines?: boolean }): Problem[] {
  const path = dataFile('math/test.jsonl', opts.dataDir);
  const { items, skipped } = readJsonl(
    path,
    (row, idx) => {
      const question = stringField(row, 'problem');
      const solution = stringField(row, 'solution');
      return { question, solution, answer: lastBoxed(solution) ?? '', idx };
    },
    opts.skipBadLines,
  );
  reportSkipped(path, skipped);
  return items;
}

/**
 * Any jsonl with a question field and an answer field. When the answer field holds a worked solution
 * ("#### n" or \boxed{}), the final answer is extracted from it; otherwise the whole field is the answer.
 */
export function loadJsonl(opts: { path: string; questionField: string; answerField: string; skipBadLines?: boolean }): Problem[] {
  if (!existsSync(opts.path)) throw new Error(`--dataset ${opts.path}: file not found`);
  if (statSync(opts.path).isDirectory()) throw new Error(`--dataset ${opts.path}: a directory; give a .jsonl file`);
  const { items, skipped } = readJsonl(
    opts.path,
    (row, idx) => {
      const question = stringField(row, opts.questionField);
      const solution = stringField(row, opts.answerField);
      const worked = solution.includes('####') || solution.includes('\\boxed') || solution.includes('\\fbox');
      const answer = worked ? extractAnswer(solution) : solution.trim();
      if (answer === null || answer === '') throw new BadLine(`field "${opts.answerField}" has no final answer`);
      return { question, solution, answer, idx };
    },
    opts.skipBadLines,
  );
  reportSkipped(opts.path, skipped);
  return items;
}
