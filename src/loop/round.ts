// The pieces of one self-improvement round: sample candidates, score their uncertainty, verify, pick; and the
// evaluation that produces the paper's U_s, U_v, G and the accuracies.
import { answersEqual, extractAnswer, type Problem } from '../data/index.js';
import type { Model } from '../model/model.js';
import { Rng } from '../model/rng.js';
import { sample } from '../model/sample.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { perTokenUncertainty, responseUncertainty, solverUncertainty, verifierUncertainty } from '../uncertainty/index.js';
import { promptIds, stopIds } from './prompts.js';
import { type Candidate, type Pick, type VerifierKind, pickCandidate, verifierScores } from './verify.js';

export interface SamplingOptions {
  samples: number; // N candidates per question
  temperature: number;
  topP: number;
  maxNewTokens: number;
  sampleBatch: number; // rows per sampling forward pass
  logitChunk?: number; // scoring: response tokens whose logits are formed at once (0/absent: all)
}

export type Progress = (stage: string, done: number, total: number) => void;

export interface StageTimes {
  sample: number;
  score: number;
  verify: number;
  train: number;
  eval: number;
}

export interface TokenCounts {
  sample: number;
  score: number;
  train: number;
}

export function zeroTimes(): StageTimes {
  return { sample: 0, score: 0, verify: 0, train: 0, eval: 0 };
}

export function zeroTokens(): TokenCounts {
  return { sample: 0, score: 0, train: 0 };
}

/** Runs fn and adds its wall time (seconds) to times[stage]. */
export function timed<T>(times: StageTimes, stage: keyof StageTimes, fn: () => T): T {
  const start = performance.now();
  try {
    return fn();
  } finally {
    times[stage] += (performance.now() - start) / 1000;
  }
}

/** options.samples responses per question, question-major: the prompts, each row's question, and the sampled ids. */
function sampleResponses(model: Model, tokenizer: Tokenizer, problems: Problem[], options: SamplingOptions, rng: Rng, stage: string, progress?: Progress) {
  const prompts = problems.map((p) => promptIds(tokenizer, p.question, model.config.max_position_embeddings - options.maxNewTokens));
  const rows = problems.flatMap((_, q) => Array.from({ length: options.samples }, () => q));
  const sampled: number[][] = [];
  for (let start = 0; start < rows.length; start += options.sampleBatch) {
    const batch = rows.slice(start, start + options.sampleBatch);
    const out = sample(model, batch.map((q) => prompts[q]!), {
      temperature: options.temperature, topP: options.topP, maxNewTokens: options.maxNewTokens, eosId: tokenizer.eosId, stopIds: stopIds(tokenizer), padId: tokenizer.padId, rng,
    });
    sampled.push(...out.tokens);
    progress?.(stage, Math.min(start + batch.length, rows.length), rows.length);
  }
  return { prompts, rows, sampled };
}

/** Samples N candidates per question (stage `sample`) and scores each one's uncertainty (stage `score`). */
export function generateCandidates(model: Model, tokenizer: Tokenizer, problems: Problem[], options: SamplingOptions, rng: Rng,
  times: StageTimes, tokens: TokenCounts, progress?: Progress): Candidate[][] {
  const { prompts, rows, sampled } = timed(times, 'sample', () => sampleResponses(model, tokenizer, problems, options, rng, 'sample', progress));
  tokens.sample += sampled.reduce((s, t) => s + t.length, 0);
  const uncertainty = timed(times, 'score', () => responseUncertainty(model, rows.map((q) => prompts[q]!), sampled, { padId: tokenizer.padId, batchSize: options.sampleBatch, logitChunk: options.logitChunk }));
  tokens.score += rows.reduce((s, q, i) => s + prompts[q]!.length + sampled[i]!.length, 0);
  return problems.map((problem, q) => Array.from({ length: options.samples }, (_, j) => {
    const i = q * options.samples + j;
    const text = tokenizer.decode(sampled[i]!);
    const answer = extractAnswer(text);
    return { tokens: sampled[i]!, text, answer, correct: answersEqual(answer, problem.answer), ...uncertainty[i]! };
  }));
}

export interface Verified {
  scores: number[][];
  picks: Pick[];
  external: number[]; // questions scored by the external verifier
  selfConfidence: number[]; // per question, the self-verifier's best candidate score (what --external-select doubt ranks by)
  dropped: boolean[]; // externally verified, no candidate accepted: not trained on (Sec. 5 drops what fails σ)
}

/** Cross-improvement: which questions go to the external verifier (chosen knowing each question's self-confidence), and its scorer. */
export interface ExternalVerification {
  choose: (selfConfidence: number[]) => number[];
  score: (problems: Problem[], candidates: Candidate[][]) => number[][];
}

/** Scores every candidate (self-verifier, then the external one for the questions it chooses) and picks one per question. */
export function verifyAndPick(kind: VerifierKind, model: Model, tokenizer: Tokenizer, problems: Problem[], candidates: Candidate[][], sigma: number,
  external?: ExternalVerification): Verified {
  const selfScores = verifierScores(kind, model, tokenizer, problems, candidates);
  const selfConfidence = selfScores.map((group) => Math.max(...group));
  const outside = external ? [...new Set(external.choose(selfConfidence))].sort((a, b) => a - b) : [];
  const scores = [...selfScores]; // the external verifier's rows replace the self-verifier's
  if (external && outside.length > 0) {
    const outsideScores = external.score(outside.map((q) => problems[q]!), outside.map((q) => candidates[q]!));
    outside.forEach((q, i) => (scores[q] = outsideScores[i]!));
  }
  const asked = new Set(outside);
  const picks = candidates.map((group, q) => pickCandidate(group, scores[q]!, sigma));
  return { scores, picks, external: outside, selfConfidence, dropped: picks.map((p, q) => p.fallback && asked.has(q)) };
}

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

/** Share of correct answers among `samples` sampled responses per problem (at the run's temperature; the test split). */
export function sampledAccuracy(model: Model, tokenizer: Tokenizer, problems: Problem[], options: SamplingOptions, rng: Rng, progress?: Progress): number {
  const { rows, sampled } = sampleResponses(model, tokenizer, problems, options, rng, 'test samples', progress);
  return rows.filter((q, i) => answersEqual(extractAnswer(tokenizer.decode(sampled[i]!)), problems[q]!.answer)).length / rows.length;
}

/** Greedy accuracy on problems (the test split). */
export function greedyAccuracy(model: Model, tokenizer: Tokenizer, problems: Problem[], options: SamplingOptions, progress?: Progress): number {
  if (problems.length === 0) return Number.NaN;
  return greedyCorrect(model, tokenizer, problems, options, progress).filter(Boolean).length / problems.length;
}

/** Whether the greedy answer to each problem is correct. */
export function greedyCorrect(model: Model, tokenizer: Tokenizer, problems: Problem[], options: SamplingOptions, progress?: Progress): boolean[] {
  const correct: boolean[] = [];
  for (let start = 0; start < problems.length; start += options.sampleBatch) {
    const batch = problems.slice(start, start + options.sampleBatch);
    const out = sample(model, batch.map((p) => promptIds(tokenizer, p.question, model.config.max_position_embeddings - options.maxNewTokens)), {
      temperature: 0, topP: 1, maxNewTokens: options.maxNewTokens, eosId: tokenizer.eosId, stopIds: stopIds(tokenizer), padId: tokenizer.padId, rng: new Rng(0),
    });
    out.tokens.forEach((ids, i) => correct.push(answersEqual(extractAnswer(tokenizer.decode(ids)), batch[i]!.answer)));
    progress?.('test', Math.min(start + batch.length, problems.length), problems.length);
  }
  return correct;
}

/**
 * One evaluation point on the fixed evaluation subset: U_s (mean U of all samples), U_v (mean U of the picks),
 * G = U_s − U_v, and the accuracies. Sampling uses the same seed at every point (common random numbers), so the
 * curves move with the model rather than with sampling noise.
 */
export function evaluate(model: Model, tokenizer: Tokenizer, evalProblems: Problem[], testProblems: Problem[], options: SamplingOptions & {
  verifier: VerifierKind; sigma: number; seed: number; testSamples?: number }, progress?: Progress): Evaluation {
  const times = zeroTimes();
  const tokens = zeroTokens();
  const candidates = generateCandidates(model, tokenizer, evalProblems, options, new Rng(options.seed), times, tokens, progress);
  const { picks } = verifyAndPick(options.verifier, model, tokenizer, evalProblems, candidates, options.sigma);
  const all = candidates.flat();
  const picked = picks.map((p, q) => candidates[q]![p.index]!);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const us = solverUncertainty(all);
  const uv = verifierUncertainty(picked);
  const n = options.samples;
  const passAt = Object.fromEntries(passAtKValues(n).map((k) => [`passAt${k}`, mean(candidates.map((g) => passAtK(n, g.filter((c) => c.correct).length, k)))]));
  const testSamples = options.testSamples ?? 0;
  const testSampled = testSamples > 0 && testProblems.length > 0
    ? { testSampledAccuracy: sampledAccuracy(model, tokenizer, testProblems, { ...options, samples: testSamples }, new Rng(options.seed + 1), progress) }
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
    ...passAt,
    evalFallbacks: picks.filter((p) => p.fallback).length,
    meanEntropy: mean(all.map((c) => c.entropy)),
    meanSelfCertainty: mean(all.map((c) => c.selfCertainty)),
  };
}
