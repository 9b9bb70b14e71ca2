import { describe, expect, it } from 'vitest';
import {
  ARITH_DEFAULTS,
  ARITH_LEVELS,
  answersEqual,
  corruptSolution,
  extractAnswer,
  generateArith,
  type Problem,
} from '../src/data/index.js';

const LINE = /^(\d+)([+\-*/])(\d+)=(\d+) ([a-z]+)\.$/;

interface Step {
  a: number;
  op: string;
  b: number;
  c: number;
}

/** Parse an arith worked solution into its steps and final answer (independent of the generator's code). */
function parseSolution(solution: string): { steps: Step[]; final: number } {
  const lines = solution.split('\n');
  const last = /^#### (\d+)$/.exec(lines[lines.length - 1]);
  if (!last) throw new Error(`no final line in ${JSON.stringify(solution)}`);
  const steps = lines.slice(0, -1).map((line) => {
    const m = LINE.exec(line);
    if (!m) throw new Error(`bad step line ${JSON.stringify(line)}`);
    return { a: Number(m[1]), op: m[2], b: Number(m[3]), c: Number(m[4]) };
  });
  return { steps, final: Number(last[1]) };
}

function evaluate(s: Step): number {
  return s.op === '+' ? s.a + s.b : s.op === '-' ? s.a - s.b : s.op === '*' ? s.a * s.b : s.a / s.b;
}

function numbersIn(text: string): number[] {
  return (text.match(/\d+/g) ?? []).map(Number);
}

describe('generateArith', () => {
  it('is deterministic given the seed, and the seed matters', () => {
    const a = generateArith({ count: 200, seed: 7 });
    expect(generateArith({ count: 200, seed: 7 })).toEqual(a);
    const b = generateArith({ count: 200, seed: 8 });
    expect(b.filter((p, i) => p.question === a[i].question).length).toBeLessThan(20);
  });

  it('problem i depends only on (seed, i): offsets give disjoint slices of one stream', () => {
    const all = generateArith({ count: 30, seed: 3 });
    const tail = generateArith({ count: 10, seed: 3, offset: 20 });
    expect(tail).toEqual(all.slice(20));
    expect(tail.map((p) => p.idx)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  });

  it('10,000 worked solutions are arithmetically correct, chained, bounded and match the question', () => {
    const problems = generateArith({ count: 10_000, seed: 1 });
    const stepCounts = new Set<number>();
    const ops = new Set<string>();
    for (const p of problems) {
      const { steps, final } = parseSolution(p.solution);
      expect(steps.length).toBeGreaterThanOrEqual(ARITH_DEFAULTS.minSteps);
      expect(steps.length).toBeLessThanOrEqual(ARITH_DEFAULTS.maxSteps);
      stepCounts.add(steps.length);
      steps.forEach((s, k) => {
        ops.add(s.op);
        expect(evaluate(s)).toBe(s.c); // exact: division results are integers
        if (k > 0) expect(s.a).toBe(steps[k - 1].c); // each step starts from the previous result
        for (const n of [s.a, s.b, s.c]) {
          expect(n).toBeGreaterThanOrEqual(1);
          expect(n).toBeLessThanOrEqual(ARITH_DEFAULTS.maxNumber);
        }
      });
      expect(final).toBe(steps[steps.length - 1].c);
      expect(p.answer).toBe(String(final));
      expect(extractAnswer(p.solution)).toBe(p.answer);
      // The question states the start value and every operand, in order.
      const qNumbers = numbersIn(p.question.replace(/1\/(\d+)/g, '$1'));
      expect(qNumbers).toEqual([steps[0].a, ...steps.map((s) => s.b)]);
    }
    expect([...stepCounts].sort()).toEqual([1, 2, 3, 4]);
    expect([...ops].sort()).toEqual(['*', '+', '-', '/']);
  });

  it('honours the difficulty knobs', () => {
    for (const level of Object.values(ARITH_LEVELS)) {
      for (const p of generateArith({ count: 500, seed: 2, ...level })) {
        const { steps } = parseSolution(p.solution);
        expect(steps.length).toBeGreaterThanOrEqual(level.minSteps);
        expect(steps.length).toBeLessThanOrEqual(level.maxSteps);
        expect(Math.max(...numbersIn(p.solution))).toBeLessThanOrEqual(level.maxNumber);
      }
    }
    const hard = generateArith({ count: 500, seed: 2, ...ARITH_LEVELS.hard });
    expect(Math.max(...hard.map((p) => Number(p.answer)))).toBeGreaterThan(ARITH_LEVELS.easy.maxNumber);
  });

  it('rejects bad knobs with the knob named', () => {
    expect(() => generateArith({ count: 1, seed: 1, minSteps: 0 })).toThrow(/minSteps/);
    expect(() => generateArith({ count: 1, seed: 1, minSteps: 3, maxSteps: 2 })).toThrow(/maxSteps/);
    expect(() => generateArith({ count: 1, seed: 1, maxNumber: 2 })).toThrow(/maxNumber/);
    expect(() => generateArith({ count: 1, seed: 1.5 })).toThrow(/seed/);
    expect(() => generateArith({ count: -1, seed: 1 })).toThrow(/count/);
  });
});

describe('corruptSolution', () => {
  const problems = generateArith({ count: 2000, seed: 5 });

  it('alters exactly one step, propagates it correctly, and gives a wrong final answer', () => {
    for (const p of problems) {
      const wrong = corruptSolution(p, 11);
      expect(wrong.idx).toBe(p.idx);
      expect(wrong.question).toBe(p.question);
      expect(answersEqual(wrong.answer, p.answer)).toBe(false);
      expect(extractAnswer(wrong.solution)).toBe(wrong.answer);
      const good = parseSolution(p.solution).steps;
      const bad = parseSolution(wrong.solution).steps;
      expect(bad.length).toBe(good.length);
      const broken = bad.map((s, k) => k).filter((k) => evaluate(bad[k]) !== bad[k].c);
      expect(broken).toHaveLength(1); // one slip ...
      const j = broken[0];
      expect(bad.slice(0, j)).toEqual(good.slice(0, j)); // ... earlier steps untouched ...
      expect(bad[j].a).toBe(good[j].a);
      expect(bad[j].b).toBe(good[j].b);
      expect(bad[j].c).not.toBe(good[j].c);
      for (let k = j + 1; k < bad.length; k++) {
        expect(bad[k].a).toBe(bad[k - 1].c); // ... carried forward, later steps computed correctly
        expect(bad[k].b).toBe(good[k].b);
      }
      expect(Number(wrong.answer)).toBe(bad[bad.length - 1].c);
    }
  });

  it('is deterministic given the seed and varies with it', () => {
    const a = problems.slice(0, 300).map((p) => corruptSolution(p, 1).solution);
    expect(problems.slice(0, 300).map((p) => corruptSolution(p, 1).solution)).toEqual(a);
    const b = problems.slice(0, 300).map((p) => corruptSolution(p, 2).solution);
    expect(b.filter((s, i) => s !== a[i]).length).toBeGreaterThan(100);
  });

  it('gives a wrong final answer on a GSM8K-style solution too', () => {
    const gsm: Problem = {
      question: 'q',
      idx: 0,
      answer: '72',
      solution: 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72',
    };
    const wrong = corruptSolution(gsm, 3);
    expect(wrong.answer).not.toBe('72');
    expect(extractAnswer(wrong.solution)).toBe(wrong.answer);
    expect(wrong.solution).not.toContain('<<');
  });
});
