// `arith`: the embedded default dataset. Templated GSM8K-style word problems small enough for a tiny model:
// one quantity changes over 1-4 steps (+ - * / with integer results, every number <= maxNumber), and the
// worked solution has one short line per step ("3+4=7 apples.") ending in "#### n".
import type { Problem } from './datasets.js';
import { hashSeed, mulberry32, pick, randInt, shuffled } from '../rng.js';

export interface ArithOptions {
  count: number;
  seed: number;
  minSteps?: number;
  maxSteps?: number;
  maxNumber?: number;
  offset?: number;
}

/** Default difficulty: 1-4 steps, every number (operands, intermediate results, answer) at most 30. */
export const ARITH_DEFAULTS = { minSteps: 1, maxSteps: 4, maxNumber: 30 } as const;

/** Named difficulty levels (the knobs are free; these are the ones the docs show examples of). */
export const ARITH_LEVELS = {
  easy: { minSteps: 1, maxSteps: 1, maxNumber: 10 },
  medium: { minSteps: 2, maxSteps: 2, maxNumber: 20 },
  default: { ...ARITH_DEFAULTS },
  hard: { minSteps: 4, maxSteps: 4, maxNumber: 50 },
} as const;

type Op = '+' | '-' | '*' | '/';

const NAMES: readonly (readonly [string, string])[] = [
  ['Tom', 'He'],
  ['Sam', 'He'],
  ['Ben', 'He'],
  ['Max', 'He'],
  ['Leo', 'He'],
  ['Amy', 'She'],
  ['Mia', 'She'],
  ['Eva', 'She'],
  ['Lily', 'She'],
  ['Zoe', 'She'],
];
const OBJECTS = ['apples', 'pens', 'cards', 'books', 'coins', 'eggs', 'stickers', 'marbles', 'dollars'] as const;

// Step sentences per operation; {P} pronoun, {N} name, {b} operand. Money gets its own wording.
const ITEM_STEPS: Record<Op, readonly string[]> = {
  '+': ['{P} buys {b} more.', '{P} finds {b} more.', '{N} gets {b} more.'],
  '-': ['{P} gives away {b}.', '{P} loses {b}.', '{N} sells {b}.'],
  '*': ['{P} then has {b} times as many.'],
  '/': ['{P} keeps 1/{b} of them.'],
};
const MONEY_STEPS: Record<Op, readonly string[]> = {
  '+': ['{P} earns {b} more dollars.', '{P} finds {b} more dollars.'],
  '-': ['{P} spends {b} dollars.', '{P} pays {b} dollars for lunch.'],
  '*': ['{P} then has {b} times as much money.'],
  '/': ['{P} keeps 1/{b} of the money.'],
};

const MAX_FACTOR = 9; // multipliers and divisors stay single-digit

export function applyOp(op: Op, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
  }
}

/** Operations possible from value v with every result an integer in [1, maxNumber], and their operand choices. */
function feasibleOps(v: number, maxNumber: number): { op: Op; operands: number[] }[] {
  const range = (lo: number, hi: number) => Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
  const options: { op: Op; operands: number[] }[] = [
    { op: '+', operands: range(1, maxNumber - v) },
    { op: '-', operands: range(1, v - 1) },
    { op: '*', operands: range(2, Math.min(MAX_FACTOR, Math.floor(maxNumber / v))) },
    { op: '/', operands: range(2, Math.min(MAX_FACTOR, v)).filter((k) => v % k === 0) },
  ];
  return options.filter((o) => o.operands.length > 0);
}

function checkKnobs(minSteps: number, maxSteps: number, maxNumber: number): void {
  if (!Number.isInteger(minSteps) || minSteps < 1) throw new Error(`arith minSteps must be an integer >= 1, got ${minSteps}`);
  if (!Number.isInteger(maxSteps) || maxSteps < minSteps || maxSteps > 12) {
    throw new Error(`arith maxSteps must be an integer in [minSteps=${minSteps}, 12], got ${maxSteps}`);
  }
  if (!Number.isInteger(maxNumber) || maxNumber < 3 || maxNumber > 100000) {
    throw new Error(`arith maxNumber must be an integer in [3, 100000], got ${maxNumber}`);
  }
}

/** Problem number `index` of the stream for `seed` (depends only on seed, index and the knobs). */
export function arithProblem(seed: number, index: number, minSteps: number, maxSteps: number, maxNumber: number): Problem {
  const rand = mulberry32(hashSeed(seed, index, 0xa517));
  const [name, pronoun] = pick(rand, NAMES);
  const object = pick(rand, OBJECTS);
  const templates = object === 'dollars' ? MONEY_STEPS : ITEM_STEPS;
  const steps = randInt(rand, minSteps, maxSteps);
  let value = randInt(rand, 2, maxNumber);
  const sentences = [`${name} has ${value} ${object}.`];
  const lines: string[] = [];
  for (let s = 0; s < steps; s++) {
    const { op, operands } = pick(rand, feasibleOps(value, maxNumber)); // never empty: + or - always fits
    const b = pick(rand, operands);
    const next = applyOp(op, value, b);
    sentences.push(pick(rand, templates[op]).replace('{P}', pronoun).replace('{N}', name).replace('{b}', String(b)));
    lines.push(`${value}${op}${b}=${next} ${object}.`);
    value = next;
  }
  sentences.push(`How many ${object} does ${name} have?`);
  lines.push(`#### ${value}`);
  return { question: sentences.join(' '), solution: lines.join('\n'), answer: String(value), idx: index };
}

/**
 * `count` problems, indices offset..offset+count-1 of the stream for `seed`: deterministic given the seed and
 * knobs; different offsets give disjoint index ranges (pre-training split vs. unlabelled self-improvement pools).
 */
export function generateArith(opts: ArithOptions): Problem[] {
  const minSteps = opts.minSteps ?? ARITH_DEFAULTS.minSteps;
  const maxSteps = opts.maxSteps ?? Math.max(ARITH_DEFAULTS.maxSteps, minSteps);
  const maxNumber = opts.maxNumber ?? ARITH_DEFAULTS.maxNumber;
  const offset = opts.offset ?? 0;
  checkKnobs(minSteps, maxSteps, maxNumber);
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new Error(`arith count must be an integer >= 0, got ${opts.count}`);
  if (!Number.isSafeInteger(opts.seed)) throw new Error(`arith seed must be an integer, got ${opts.seed}`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`arith offset must be an integer >= 0, got ${offset}`);
  const problems: Problem[] = [];
  for (let i = 0; i < opts.count; i++) problems.push(arithProblem(opts.seed, offset + i, minSteps, maxSteps, maxNumber));
  return problems;
}

// An equation "a op b = c" inside a worked solution (GSM8K also writes x for times and "= $c").
const EQUATION = /(-?\d+(?:\.\d+)?)(\s*)([+\-*/x×])(\s*)(\d+(?:\.\d+)?)(\s*=\s*\$?)(-?\d+(?:\.\d+)?)/g;

interface Equation {
  start: number;
  end: number;
  a: number;
  op: Op;
  b: number;
  c: number;
  spacing: [string, string, string, string];
}

function findEquations(text: string): Equation[] {
  const found: Equation[] = [];
  for (const m of text.matchAll(EQUATION)) {
    const op: Op = m[3] === 'x' || m[3] === '×' ? '*' : (m[3] as Op);
    found.push({
      start: m.index,
      end: m.index + m[0].length,
      a: Number(m[1]),
      op,
      b: Number(m[5]),
      c: Number(m[7]),
      spacing: [m[2], m[3], m[4], m[6]],
    });
  }
  return found;
}

const SLIPS = [1, -1, 2, -2, 10, -10, 3, -3] as const; // typical arithmetic slips, tried in a seeded order

/**
 * A plausible WRONG worked solution: one step's result is altered by a small slip and the error propagates
 * through the later steps that use it (recomputed correctly), giving a wrong final answer. Meant for arith
 * solutions; on other solutions (GSM8K) equations are corrupted the same way, calculator annotations are
 * dropped, and when no equation feeds the final answer only the final answer is changed.
 */
export function corruptSolution(problem: Problem, seed: number): Problem {
  const rand = mulberry32(hashSeed(seed, problem.idx, 0xbad));
  const text = problem.solution.replace(/<<[^<>]*>>/g, '');
  const hash = text.lastIndexOf('####');
  const body = hash >= 0 ? text.slice(0, hash) : text;
  const equations = findEquations(body);
  const original = Number(problem.answer.replace(/,/g, ''));
  const integral = equations.every((e) => Number.isInteger(e.a) && Number.isInteger(e.b) && Number.isInteger(e.c));

  const stepOrder = shuffled(
    rand,
    equations.map((_, i) => i),
  ); // which step to break, in a seeded order
  const slipOrder = shuffled(rand, SLIPS);
  const lastGivesAnswer = equations.length > 0 && equations[equations.length - 1].c === original;
  for (const j of lastGivesAnswer ? stepOrder : []) {
    for (const slip of slipOrder) {
      const next = propagate(equations, j, slip, integral);
      if (next === null) continue;
      const finalValue = next.values[next.values.length - 1].c;
      if (!Number.isFinite(finalValue) || finalValue === original || finalValue < 0) continue;
      return { ...problem, solution: rebuild(body, equations, next.values, hash >= 0 ? finalValue : null), answer: String(finalValue) };
    }
  }
  // Fallback: no equation chain leads to the final answer; change the final answer only.
  if (!Number.isFinite(original)) throw new Error(`corruptSolution: problem ${problem.idx} has a non-numeric answer "${problem.answer}"`);
  const wrong =
    original +
    pick(
      rand,
      SLIPS.filter((d) => original + d >= 0),
    );
  const head = hash >= 0 ? text.slice(0, hash) : `${text}\n`;
  return { ...problem, solution: `${head}#### ${wrong}`, answer: String(wrong) };
}

/** Alter equation j's result by `slip` and recompute every later equation whose operand used an altered result. */
function propagate(equations: Equation[], j: number, slip: number, integral: boolean): { values: Equation[] } | null {
  const values = equations.map((e) => ({ ...e }));
  // arith solutions are chains (each step starts from the previous result): propagate along the chain only;
  // otherwise follow the data flow by value (any operand equal to an altered result).
  const chain = equations.every((e, k) => k === 0 || e.a === equations[k - 1].c);
  const altered = new Map<number, number>([[equations[j].c, equations[j].c + slip]]);
  values[j].c = equations[j].c + slip;
  if (values[j].c < 0) return null;
  for (let k = j + 1; k < values.length; k++) {
    const e = values[k];
    const a = chain ? values[k - 1].c : (altered.get(e.a) ?? e.a);
    const b = chain ? e.b : (altered.get(e.b) ?? e.b);
    if (a === e.a && b === e.b) continue;
    const c = Math.round(applyOp(e.op, a, b) * 1e6) / 1e6; // GSM8K decimals: no 0.30000000000000004
    if (!Number.isFinite(c) || c < 0 || (integral && !Number.isInteger(c))) return null;
    altered.set(e.c, c);
    values[k] = { ...e, a, b, c };
  }
  return { values };
}

function formatEquation(e: Equation): string {
  const [s1, op, s2, eq] = e.spacing; // the original spacing and operator symbol
  return `${e.a}${s1}${op}${s2}${e.b}${eq}${e.c}`;
}

function rebuild(body: string, equations: Equation[], values: Equation[], finalValue: number | null): string {
  let out = '';
  let at = 0;
  equations.forEach((e, i) => {
    out += body.slice(at, e.start) + formatEquation(values[i]);
    at = e.end;
  });
  out += body.slice(at);
  return finalValue === null ? out : `${out}#### ${finalValue}`;
}
