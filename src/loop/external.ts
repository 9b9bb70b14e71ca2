// Cross-improvement (the paper's Sec. 5) inside one run: how a budget M of external verification is spread over rounds
// (--allocation), and which questions of a round's pool get it (--external-select: a value, random or doubt).
import { type Allocation, allocationFractions } from '../theory/index.js';
import { Rng } from '../model/rng.js';

export const EXTERNAL_SELECTS = ['random', 'doubt'] as const;
export type ExternalSelect = (typeof EXTERNAL_SELECTS)[number];

/** `early|uniform|late|R1:share,R2:share,...` (rounds 1-based; unnamed rounds get 0; shares are normalised to sum to 1). */
export function parseAllocation(spec: string, rounds: number): number[] {
  if (spec === 'early' || spec === 'uniform' || spec === 'late') return allocationFractions(spec, rounds);
  const shares = new Array<number>(rounds).fill(0);
  for (const part of spec.split(',')) {
    const match = /^\s*R?(\d+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(part);
    if (!match) throw new Error(`--allocation: cannot read '${part}' (use early, uniform, late or R1:share,R2:share,...)`);
    const round = Number(match[1]);
    const share = Number(match[2]);
    if (round < 1 || round > rounds) throw new Error(`--allocation: round ${round} is outside 1..${rounds}`);
    if (!(share >= 0) || !Number.isFinite(share))
      throw new Error(`--allocation: share '${match[2]}' for round ${round} must be a non-negative number`);
    shares[round - 1] += share;
  }
  const total = shares.reduce((s, x) => s + x, 0);
  if (!(total > 0)) throw new Error('--allocation: the shares sum to 0');
  return allocationFractions(shares.map((s) => s / total) as Allocation, rounds);
}

/** Whole questions per round from fractions η_t of budget M, rounded so they sum exactly to M (largest remainder). */
export function budgetPerRound(fractions: number[], budget: number): number[] {
  const raw = fractions.map((eta) => eta * budget);
  const counts = raw.map(Math.floor);
  let left = budget - counts.reduce((s, x) => s + x, 0);
  const order = raw.map((x, i) => ({ i, rest: x - Math.floor(x) })).sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    counts[i] += 1;
    left -= 1;
  }
  return counts;
}

/** The pool's question indices in the seeded order that random selection walks and doubt selection breaks ties by. */
function seededQuestionOrder(poolLength: number, seed: number): number[] {
  return new Rng(seed ^ 0x5eed).shuffle(Array.from({ length: poolLength }, (_, i) => i));
}

/**
 * Which questions of round t's pool the external verifier sees: `count` of them, none seen externally before in this
 * run. A fixed pool is walked in a seeded order (the same for every arm of a seed, so arms differ only in timing), so M
 * queries cover M distinct questions; a fresh pool is new each round, so its first `count` questions. Wraps around only
 * when the budget exceeds the pool.
 */
export function externalQuestions(poolLength: number, count: number, usedSoFar: number, freshPool: boolean, seed: number): number[] {
  const n = Math.min(count, poolLength);
  if (n <= 0) return [];
  if (freshPool) return Array.from({ length: n }, (_, i) => i);
  const order = seededQuestionOrder(poolLength, seed);
  return Array.from({ length: n }, (_, i) => order[(usedSoFar + i) % poolLength]).sort((a, b) => a - b);
}

/**
 * `--external-select doubt`: the `count` questions with the lowest self-confidence (the self-verifier's best candidate
 * score: where its pick is most likely wrong), among those not asked before (`askedBefore`, fixed pool only); asked ones
 * again only when the rest run out. Ties go in the same seeded order as random selection.
 */
export function doubtfulQuestions(selfConfidence: number[], count: number, askedBefore: ReadonlySet<number>, seed: number): number[] {
  const n = Math.min(count, selfConfidence.length);
  if (n <= 0) return [];
  const rank = new Map(seededQuestionOrder(selfConfidence.length, seed).map((q, i) => [q, i]));
  const byDoubt = (a: number, b: number) => selfConfidence[a] - selfConfidence[b] || rank.get(a)! - rank.get(b)!;
  const fresh = selfConfidence
    .map((_, q) => q)
    .filter((q) => !askedBefore.has(q))
    .sort(byDoubt);
  const again = [...askedBefore].filter((q) => q < selfConfidence.length).sort(byDoubt);
  return [...fresh, ...again].slice(0, n).sort((a, b) => a - b);
}

/** What a selection knows of the run so far: questions to choose, questions verified externally so far, which ones (fixed pool). */
export interface SelectionState {
  count: number;
  usedSoFar: number;
  askedBefore: ReadonlySet<number>;
}

/** Picks the questions of a round's pool for the external verifier, knowing each question's self-confidence. */
export type QuestionSelection = (selfConfidence: number[], state: SelectionState) => number[];

/** --external-select as a value: random (the seeded walk of externalQuestions) or doubt (doubtfulQuestions). */
export function questionSelection(kind: ExternalSelect, seed: number, freshPool: boolean): QuestionSelection {
  if (kind === 'doubt') return (selfConfidence, s) => doubtfulQuestions(selfConfidence, s.count, s.askedBefore, seed);
  return (selfConfidence, s) => externalQuestions(selfConfidence.length, s.count, s.usedSoFar, freshPool, seed);
}
