import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, gradePredictions, loadGsm8k, loadMath, readPredictions, type GradeReport } from '../src/data/index.js';
import { sharedData } from './helpers.js';

const ROOT = resolve(__dirname, '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'data');
const HAVE_SHARED = sharedData(DEFAULT_DATA_DIR, 'gsm8k/test.jsonl', 'math/test.jsonl');

const work = mkdtempSync(join(tmpdir(), 'svgap-grade-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function writeJsonl(name: string, rows: unknown[]): string {
  const path = join(work, name);
  writeFileSync(path, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return path;
}

function runGrade(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'grade.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The fixture GSM8K train split: answers 7, 10, 12,000, -3.
const PREDICTIONS = [
  { idx: 0, prediction: 'He has 3+4=7 apples.\n#### 7' }, // correct
  { idx: 1, prediction: 'The pens cost $\\boxed{10}$.' }, // correct via \boxed
  { idx: 2, prediction: 'She earns 12000 dollars in total, I think 11000.' }, // wrong: last number
  { idx: 3, prediction: 'It gets colder.' }, // unparseable
];

describe('gradePredictions', () => {
  it('counts correct, wrong and unparseable predictions', () => {
    const problems = loadGsm8k({ split: 'train', dataDir: FIXTURES });
    const report = gradePredictions(problems, PREDICTIONS);
    expect(report).toEqual({
      accuracy: 0.5,
      correct: 2,
      wrong: 1,
      unparseable: 1,
      items: [
        { idx: 0, extracted: '7', reference: '7', correct: true },
        { idx: 1, extracted: '10', reference: '10', correct: true },
        { idx: 2, extracted: '11000', reference: '12,000', correct: false },
        { idx: 3, extracted: null, reference: '-3', correct: false },
      ],
    });
  });

  it('rejects unknown and duplicate idx with the predictions line', () => {
    const problems = loadGsm8k({ split: 'train', dataDir: FIXTURES });
    const path = writeJsonl('dup.jsonl', [PREDICTIONS[0], PREDICTIONS[0]]);
    expect(() => gradePredictions(problems, readPredictions(path), path)).toThrow(/dup\.jsonl:2: idx 0 graded twice \(first at line 1\)/);
    const unknown = writeJsonl('unknown.jsonl', [{ idx: 9, prediction: '1' }]);
    expect(() => gradePredictions(problems, readPredictions(unknown), unknown)).toThrow(/unknown\.jsonl:1: idx 9 is not a problem/);
    const bad = writeJsonl('bad.jsonl', [PREDICTIONS[0], { idx: -1, prediction: 'x' }]);
    expect(() => readPredictions(bad)).toThrow(/bad\.jsonl:2: "idx" must be a non-negative integer/);
  });
});

describe('npm run grade', () => {
  it('prints the JSON report with --json and a summary without', () => {
    const preds = writeJsonl('preds.jsonl', PREDICTIONS);
    const json = runGrade(['--dataset', 'gsm8k', '--split', 'train', '--data-dir', FIXTURES, '--predictions', preds, '--json']);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as GradeReport;
    expect(Object.keys(report)).toEqual(['accuracy', 'correct', 'wrong', 'unparseable', 'items']);
    expect([report.accuracy, report.correct, report.wrong, report.unparseable]).toEqual([0.5, 2, 1, 1]);
    expect(Object.keys(report.items[0])).toEqual(['idx', 'extracted', 'reference', 'correct']);

    const text = runGrade(['--dataset', 'gsm8k', '--split', 'train', '--data-dir', FIXTURES, '--predictions', preds]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/accuracy\s+50\.00% \(2\/4\)/);
    expect(text.stdout).toMatch(/unparseable\s+1/);
  });

  it('grades a custom jsonl dataset and fails cleanly on bad input', () => {
    const preds = writeJsonl('custom-preds.jsonl', [
      { idx: 1, prediction: 'it is 0.5' },
      { idx: 3, prediction: '\\boxed{1+x}' },
    ]);
    const ok = runGrade([
      '--dataset',
      join(FIXTURES, 'custom.jsonl'),
      '--question-field',
      'q',
      '--answer-field',
      'a',
      '--predictions',
      preds,
      '--json',
    ]);
    expect(ok.status).toBe(0);
    const report = JSON.parse(ok.stdout) as GradeReport;
    expect(report.items.map((i) => i.correct)).toEqual([true, false]); // 0.5 = 1/2; "1+x" is not "x+1" textually

    const broken = writeJsonl('broken.jsonl', ['{"idx": 0, "prediction": ']);
    const fail = runGrade(['--dataset', 'gsm8k', '--data-dir', FIXTURES, '--predictions', broken]);
    expect(fail.status).toBe(1);
    expect(fail.stderr).toMatch(/broken\.jsonl:1: invalid JSON/);
    const noMathTrain = runGrade(['--dataset', 'math', '--split', 'train', '--data-dir', FIXTURES, '--predictions', broken]);
    expect(noMathTrain.stderr).toMatch(/only the test split/);
  });
});

describe.skipIf(!HAVE_SHARED)('grading the real references against themselves', () => {
  it('scores 100% on GSM8K test and MATH test when the prediction is the reference solution', () => {
    const gsm = loadGsm8k({ split: 'test', dataDir: DEFAULT_DATA_DIR });
    const gsmReport = gradePredictions(
      gsm,
      gsm.map((p) => ({ idx: p.idx, prediction: p.solution })),
    );
    expect(gsmReport.correct).toBe(1319);
    const math = loadMath({ dataDir: DEFAULT_DATA_DIR });
    const mathReport = gradePredictions(
      math,
      math.map((p) => ({ idx: p.idx, prediction: p.solution })),
    );
    expect(mathReport.correct).toBe(5000);
    // Shifted predictions (each graded against another problem) are mostly wrong.
    const shifted = gradePredictions(
      gsm,
      gsm.map((p, i) => ({ idx: p.idx, prediction: gsm[(i + 1) % gsm.length].solution })),
    );
    expect(shifted.accuracy).toBeLessThan(0.05);
  });
});
