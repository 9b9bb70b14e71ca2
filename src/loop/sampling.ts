// Sampling from the model: N candidates per question with their uncertainty (the round's and the evaluation's first
// stage), sampled and greedy accuracy on the test split, and the per-stage wall-clock accounting.
import { answersEqual, extractAnswer, type Problem } from '../data/index.js';
import type { Model } from '../model/model.js';
import { Rng } from '../model/rng.js';
import { sample } from '../model/sample.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { responseUncertainty } from '../uncertainty/index.js';
import { promptIds } from './prompts.js';
import type { Candidate } from './verify.js';

export interface SamplingOptions {
  samples: number; // N candidates per question
  temperature: number;
  topP: number;
  maxNewTokens: number;
  sampleBatch: number; // rows per sampling forward pass
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

/** The model that samples, its tokenizer, and where progress goes (a RoundContext is one). */
export interface Sampler {
  model: Model;
  tokenizer: Tokenizer;
  progress?: Progress;
}

/** options.samples responses per question, question-major: the prompts, each row's question, and the sampled ids. */
function sampleResponses({ model, tokenizer, progress }: Sampler, problems: Problem[], options: SamplingOptions, rng: Rng, stage: string) {
  const prompts = problems.map((p) => promptIds(tokenizer, p.question, model.config.max_position_embeddings - options.maxNewTokens));
  const rows = problems.flatMap((_, q) => Array.from({ length: options.samples }, () => q));
  const sampled: number[][] = [];
  for (let start = 0; start < rows.length; start += options.sampleBatch) {
    const batch = rows.slice(start, start + options.sampleBatch);
    const out = sample(
      model,
      batch.map((q) => prompts[q]),
      {
        temperature: options.temperature,
        topP: options.topP,
        maxNewTokens: options.maxNewTokens,
        eosId: tokenizer.eosId,
        padId: tokenizer.padId,
        rng,
      },
    );
    sampled.push(...out.tokens);
    progress?.(stage, Math.min(start + batch.length, rows.length), rows.length);
  }
  return { prompts, rows, sampled };
}

/** Samples N candidates per question (stage `sample`) and scores each one's uncertainty (stage `score`). */
export function generateCandidates(
  sampler: Sampler,
  problems: Problem[],
  options: SamplingOptions,
  rng: Rng,
  meter: { times: StageTimes; tokens: TokenCounts },
): Candidate[][] {
  const { model, tokenizer } = sampler;
  const { times, tokens } = meter;
  const { prompts, rows, sampled } = timed(times, 'sample', () => sampleResponses(sampler, problems, options, rng, 'sample'));
  tokens.sample += sampled.reduce((s, t) => s + t.length, 0);
  const uncertainty = timed(times, 'score', () =>
    responseUncertainty(
      model,
      rows.map((q) => prompts[q]),
      sampled,
      { padId: tokenizer.padId, batchSize: options.sampleBatch },
    ),
  );
  tokens.score += rows.reduce((s, q, i) => s + prompts[q].length + sampled[i].length, 0);
  return problems.map((problem, q) =>
    Array.from({ length: options.samples }, (_, j) => {
      const i = q * options.samples + j;
      const text = tokenizer.decode(sampled[i]);
      const answer = extractAnswer(text);
      return { tokens: sampled[i], text, answer, correct: answersEqual(answer, problem.answer), ...uncertainty[i] };
    }),
  );
}

/** Share of correct answers among `samples` sampled responses per problem (at the run's temperature; the test split). */
export function sampledAccuracy(
  model: Model,
  tokenizer: Tokenizer,
  problems: Problem[],
  options: SamplingOptions,
  rng: Rng,
  progress?: Progress,
): number {
  const { rows, sampled } = sampleResponses({ model, tokenizer, progress }, problems, options, rng, 'test samples');
  return rows.filter((q, i) => answersEqual(extractAnswer(tokenizer.decode(sampled[i])), problems[q].answer)).length / rows.length;
}

/** Greedy accuracy on problems (the test split). */
export function greedyAccuracy(
  model: Model,
  tokenizer: Tokenizer,
  problems: Problem[],
  options: SamplingOptions,
  progress?: Progress,
): number {
  if (problems.length === 0) return Number.NaN;
  return greedyCorrect(model, tokenizer, problems, options, progress).filter(Boolean).length / problems.length;
}

/** Whether the greedy answer to each problem is correct. */
export function greedyCorrect(
  model: Model,
  tokenizer: Tokenizer,
  problems: Problem[],
  options: SamplingOptions,
  progress?: Progress,
): boolean[] {
  const correct: boolean[] = [];
  for (let start = 0; start < problems.length; start += options.sampleBatch) {
    const batch = problems.slice(start, start + options.sampleBatch);
    const out = sample(
      model,
      batch.map((p) => promptIds(tokenizer, p.question, model.config.max_position_embeddings - options.maxNewTokens)),
      {
        temperature: 0,
        topP: 1,
        maxNewTokens: options.maxNewTokens,
        eosId: tokenizer.eosId,
        padId: tokenizer.padId,
        rng: new Rng(0),
      },
    );
    out.tokens.forEach((ids, i) => correct.push(answersEqual(extractAnswer(tokenizer.decode(ids)), batch[i].answer)));
    progress?.('test', Math.min(start + batch.length, problems.length), problems.length);
  }
  return correct;
}
