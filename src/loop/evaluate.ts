// One evaluation point: the paper's U_s, U_v, G and the accuracies on the fixed evaluation subset and the test split.
import { answersEqual, type Problem } from '../data/index.js';
import type { Model } from '../model/model.js';
import { Rng } from '../model/rng.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { perTokenUncertainty, solverUncertainty, verifierUncertainty } from '../uncertainty/index.js';
import {
  type Progress,
  type SamplingOptions,
  generateCandidates,
  greedyAccuracy,
  sampledAccuracy,
  zeroTimes,
  zeroTokens,
} from './sampling.js';
import { verifyAndPick } from './round.js';
import type { Candidate } from './verify.js';
import type { Verifier } from './verifiers.js';
import { mean } from '../stats.js';

export interface Evaluation {
  solverUncertainty: number;
  verifierUncertainty: number;
  gap: number;
  solverAccuracy: number; // share of sampled answers that are correct
  verifierAccuracy: number; // share of picks that are correct
  passAtN: number;
  majorityAccuracy: number;
  testAccuracy: number; // greedy, on the test split
  testSampledAccuracy?: number; // share of correct among --test-samples K sampled answers per test question (absent when K = 0)
  solverUncertaintyPerToken: number; // U_s / mean sample length = Σ U / Σ length over the samples (nats per token)
  verifierUncertaintyPerToken: number; // the same over the picks
  meanResponseLength: number; // of the samples (tokens)
  meanPickLength: number; // of the picks (tokens)
  answerDiversity: number; // distinct final answers among a question's N samples, mean over questions
  [passAtK: `passAt${number}`]: number; // pass@k for k = 1, 2, 4, …, N (unbiased estimator), on the evaluation questions
  evalFallbacks: number;
  meanEntropy: number;
  meanSelfCertainty: number;
}

/** A question's candidates grouped by equal final answer (answersEqual), candidates without an answer left out. */
export function answerGroups(group: { answer: string | null; correct: boolean }[]): { answer: string; count: number; correct: boolean }[] {
  const groups: { answer: string; count: number; correct: boolean }[] = [];
  for (const c of group) {
    if (c.answer === null) continue;
    const entry = groups.find((g) => answersEqual(g.answer, c.answer));
    if (entry) entry.count += 1;
    else groups.push({ answer: c.answer, count: 1, correct: c.correct });
  }
  return groups;
}

function majorityCorrect(group: Candidate[]): boolean {
  let best: { count: number; correct: boolean } | undefined;
  for (const entry of answerGroups(group)) if (!best || entry.count > best.count) best = entry;
  return best?.correct ?? false;
}

/**
 * Unbiased pass@k from n samples of which c are correct: 1 − C(n−c, k)/C(n, k) (Chen et al. 2021), computed as
 * 1 − Π_{i=n−c+1..n} (1 − k/i) so no binomial coefficient is formed.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) || c < 0 || c > n || k < 1 || k > n)
    throw new Error(`pass@k needs integers 0 ≤ c ≤ n and 1 ≤ k ≤ n (got n=${n}, c=${c}, k=${k})`);
  if (n - c < k) return 1;
  let miss = 1;
  for (let i = n - c + 1; i <= n; i++) miss *= 1 - k / i;
  return 1 - miss;
}

/** k = 1, 2, 4, …, up to n, and n itself. */
export function passAtKValues(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < n; k *= 2) ks.push(k);
  return [...ks, n];
}

/** pass@k for k = 1, 2, 4, …, n over the questions (unbiased estimator), keyed passAt<k>. */
function passAtEach(candidates: Candidate[][], n: number): Record<`passAt${number}`, number> {
  return Object.fromEntries(
    passAtKValues(n).map((k) => [`passAt${k}`, mean(candidates.map((g) => passAtK(n, g.filter((c) => c.correct).length, k)))]),
  );
}

/**
 * One evaluation point on the fixed evaluation subset: U_s (mean U of all samples), U_v (mean U of the picks),
 * G = U_s − U_v, and the accuracies. Sampling uses the same seed at every point (common random numbers), so the
 * curves move with the model rather than with sampling noise.
 */
export function evaluate(
  model: Model,
  tokenizer: Tokenizer,
  evalProblems: Problem[],
  testProblems: Problem[],
  options: SamplingOptions & {
    verifier: Verifier;
    sigma: number;
    seed: number;
    testSamples?: number;
  },
  progress?: Progress,
): Evaluation {
  const candidates = generateCandidates({ model, tokenizer, progress }, evalProblems, options, new Rng(options.seed), {
    times: zeroTimes(),
    tokens: zeroTokens(),
  });
  const { picks } = verifyAndPick(options.verifier, evalProblems, candidates, options.sigma);
  const all = candidates.flat();
  const picked = picks.map((p, q) => candidates[q][p.index]);
  const us = solverUncertainty(all);
  const uv = verifierUncertainty(picked);
  const testSamples = options.testSamples ?? 0;
  const testSampled =
    testSamples > 0 && testProblems.length > 0
      ? {
          testSampledAccuracy: sampledAccuracy(
            model,
            tokenizer,
            testProblems,
            { ...options, samples: testSamples },
            new Rng(options.seed + 1),
            progress,
          ),
        }
      : {};
  return {
    solverUncertainty: us,
    verifierUncertainty: uv,
    gap: us - uv,
    solverAccuracy: mean(all.map((c) => (c.correct ? 1 : 0))),
    verifierAccuracy: mean(picked.map((c) => (c.correct ? 1 : 0))),
    passAtN: mean(candidates.map((g) => (g.some((c) => c.correct) ? 1 : 0))),
    majorityAccuracy: mean(candidates.map((g) => (majorityCorrect(g) ? 1 : 0))),
    testAccuracy: greedyAccuracy(model, tokenizer, testProblems, options, progress),
    ...testSampled,
    solverUncertaintyPerToken: perTokenUncertainty(all),
    verifierUncertaintyPerToken: perTokenUncertainty(picked),
    meanResponseLength: mean(all.map((c) => c.length)),
    meanPickLength: mean(picked.map((c) => c.length)),
    answerDiversity: mean(candidates.map((g) => answerGroups(g).length)),
    ...passAtEach(candidates, options.samples),
    evalFallbacks: picks.filter((p) => p.fallback).length,
    meanEntropy: mean(all.map((c) => c.entropy)),
    meanSelfCertainty: mean(all.map((c) => c.selfCertainty)),
  };
}
