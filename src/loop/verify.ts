// The verifiers (the same model judging its own candidates, or an oracle) and the paper's hybrid best-of-N pick:
// drop candidates scoring below σ, then take the lowest length-normalised NLL among the rest.
import type { Model } from '../model/model.js';
import { nextTokenLogProbs } from '../model/sample.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { answersEqual } from '../data/index.js';
import { verdictIds, verificationPromptIds } from './prompts.js';

export const VERIFIER_KINDS = ['tf', 'qe', 'likelihood', 'majority', 'oracle'] as const;
export type VerifierKind = (typeof VERIFIER_KINDS)[number];

/** One sampled response to a question, with what the loop knows about it. */
export interface Candidate {
  tokens: number[]; // response ids (EOS included when the model stopped)
  text: string;
  answer: string | null; // extracted final answer
  correct: boolean; // against the reference (never seen by self-verifiers)
  nll: number; // U
  normalizedNll: number;
  length: number;
  entropy: number;
  selfCertainty: number;
}

export interface Question {
  question: string;
  answer: string; // the reference, used only by `oracle` and for metrics
}

/**
 * Scores in [0, 1] for every candidate of every question.
 * tf: P(True)/(P(True)+P(False)) after the "is this correct?" template; qe: (E[rating] − min)/(max − min) over ratings 1..5 (chat: 0..9);
 * likelihood: 1 (all pass; the pick is pure min-NLL); majority: share of the N candidates with the same final answer;
 * oracle: 1 when the final answer is correct.
 */
export function verifierScores(
  kind: VerifierKind,
  model: Model,
  tokenizer: Tokenizer,
  questions: Question[],
  candidates: Candidate[][],
  batchSize = 64,
): number[][] {
  const read = (prompts: number[][], ids: number[]) =>
    nextTokenLogProbs(model, prompts, { padId: tokenizer.padId, batchSize }).map((lp) => ids.map((id) => lp[id]));
  return judgeScores(kind, { read, context: () => model.config.max_position_embeddings }, tokenizer, questions, candidates);
}

/** Reads log p(id | prompt) of given ids (an engine's tokenLogProbs) for prompts of at most `context()` tokens (asked only by tf/qe). */
export interface Judge {
  read: (prompts: number[][], ids: number[]) => number[][];
  context: () => number;
}

/** verifierScores with the verdict read by any engine. */
export function judgeScores(
  kind: VerifierKind,
  judge: Judge,
  tokenizer: Tokenizer,
  questions: Question[],
  candidates: Candidate[][],
): number[][] {
  switch (kind) {
    case 'likelihood':
      return candidates.map((group) => group.map(() => 1));
    case 'oracle':
      return candidates.map((group) => group.map((c) => (c.correct ? 1 : 0)));
    case 'majority':
      return candidates.map((group) =>
        group.map((c) => (c.answer === null ? 0 : group.filter((o) => answersEqual(o.answer, c.answer)).length / group.length)),
      );
    case 'tf':
    case 'qe': {
      const ids = verdictIds(tokenizer);
      const prompts = questions.flatMap((q, i) =>
        candidates[i].map((c) => verificationPromptIds(tokenizer, kind, q.question, c.tokens, judge.context())),
      );
      const read = kind === 'tf' ? [ids.trueId, ids.falseId] : ids.ratingIds;
      const flat = judge.read(prompts, read).map((lp) => {
        if (kind === 'tf') {
          const pTrue = Math.exp(lp[0]);
          const pFalse = Math.exp(lp[1]);
          return pTrue / (pTrue + pFalse);
        }
        const p = lp.map((x) => Math.exp(x));
        const total = p.reduce((s, x) => s + x, 0);
        const expected = p.reduce((s, x, r) => s + x * ids.ratings[r], 0) / total;
        return (expected - ids.ratings[0]) / (ids.ratings[ids.ratings.length - 1] - ids.ratings[0]);
      });
      let next = 0;
      return candidates.map((group) => group.map(() => flat[next++]));
    }
  }
}

export interface Pick {
  index: number;
  fallback: boolean; // no candidate reached σ: the highest-scoring one was taken instead
}

/** The paper's hybrid best-of-N: among candidates with score ≥ σ the lowest length-normalised NLL; none passes → highest score. */
export function pickCandidate(candidates: Candidate[], scores: number[], sigma: number): Pick {
  let best = -1;
  for (let i = 0; i < candidates.length; i++) {
    if (scores[i] < sigma) continue;
    if (best < 0 || candidates[i].normalizedNll < candidates[best].normalizedNll) best = i;
  }
  if (best >= 0) return { index: best, fallback: false };
  let highest = 0;
  for (let i = 1; i < candidates.length; i++) {
    if (scores[i] > scores[highest] || (scores[i] === scores[highest] && candidates[i].normalizedNll < candidates[highest].normalizedNll))
      highest = i;
  }
  return { index: highest, fallback: true };
}
