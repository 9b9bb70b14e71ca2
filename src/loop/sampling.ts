// Sampling from the model: N candidates per question with their uncertainty (the round's and the evaluation's first
// stage), sampled and greedy accuracy on the test split, and the per-stage wall-clock accounting.
import { answersEqual, extractAnswer, type Problem } from '../data/index.js';
import type { Model } from '../model/model.js';
import { Rng } from '../model/rng.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { type ModelEngine, type SampleParams, localEngine } from '../engine/model-engine.js';
import { uncertaintyOf } from '../uncertainty/index.js';
import { promptIds, stopIds } from './prompts.js';
import type { Candidate } from './verify.js';

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

/** The model (for its context length), the engine that samples and scores with it, its tokenizer, where progress goes (a RoundContext is one). */
export interface Sampler {
  model: Model;
  engine: ModelEngine;
  tokenizer: Tokenizer;
  progress?: Progress;
}

/** The in-process sampler of a model: its own engine, rows batched `sampleBatch` at a time. */
export function localSampler(model: Model, tokenizer: Tokenizer, sampleBatch: number, progress?: Progress): Sampler {
  return { model, tokenizer, engine: localEngine(model, { padId: tokenizer.padId, batchSize: sampleBatch }), progress };
}

/** Questions per engine call: progress moves between calls (the engine batches rows inside one). */
const QUESTIONS_PER_CALL = 16;

/**
 * options.samples responses per question, question-major: the prompts, each row's question, and the sampled ids.
 * Each question's N responses come from a seed drawn from rng, so they do not depend on batching or on the engine.
 */
function sampleResponses(
  { model, engine, tokenizer, progress }: Sampler,
  problems: Problem[],
  options: SamplingOptions,
  rng: Rng,
  stage: string,
) {
  const prompts = problems.map((p) => promptIds(tokenizer, p.question, model.config.max_position_embeddings - options.maxNewTokens));
  const requests = prompts.map((prompt) => ({ prompt, n: options.samples, seed: rng.nextUint32() }));
  const params: SampleParams = {
    temperature: options.temperature,
    topP: options.topP,
    maxNewTokens: options.maxNewTokens,
    stopIds: [tokenizer.eosId, ...stopIds(tokenizer)],
  };
  const sampled: number[][] = [];
  for (let start = 0; start < requests.length; start += QUESTIONS_PER_CALL) {
    const out = engine.sample(requests.slice(start, start + QUESTIONS_PER_CALL), params);
    sampled.push(...out.flatMap((completions) => completions.map((c) => c.tokens)));
    progress?.(stage, Math.min(start + QUESTIONS_PER_CALL, requests.length) * options.samples, requests.length * options.samples);
  }
  return { prompts, rows: problems.flatMap((_, q) => Array.from({ length: options.samples }, () => q)), sampled };
}

/** Samples N candidates per question (stage `sample`) and scores each one's uncertainty (stage `score`). */
export function generateCandidates(
  sampler: Sampler,
  problems: Problem[],
  options: SamplingOptions,
  rng: Rng,
  meter: { times: StageTimes; tokens: TokenCounts },
): Candidate[][] {
  const { engine, tokenizer } = sampler;
  const { times, tokens } = meter;
  const { prompts, rows, sampled } = timed(times, 'sample', () => sampleResponses(sampler, problems, options, rng, 'sample'));
  tokens.sample += sampled.reduce((s, t) => s + t.length, 0);
  const uncertainty = timed(times, 'score', () =>
    uncertaintyOf(
      engine.score(
        rows.map((q) => prompts[q]),
        sampled,
        { logitChunk: options.logitChunk },
      ),
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
export function sampledAccuracy(sampler: Sampler, problems: Problem[], options: SamplingOptions, rng: Rng): number {
  const { tokenizer } = sampler;
  const { rows, sampled } = sampleResponses(sampler, problems, options, rng, 'test samples');
  return rows.filter((q, i) => answersEqual(extractAnswer(tokenizer.decode(sampled[i])), problems[q].answer)).length / rows.length;
}

/** Greedy accuracy on problems (the test split). */
export function greedyAccuracy(sampler: Sampler, problems: Problem[], options: SamplingOptions): number {
  if (problems.length === 0) return Number.NaN;
  return greedyCorrect(sampler, problems, options).filter(Boolean).length / problems.length;
}

/** Whether the greedy answer to each problem is correct. */
export function greedyCorrect(sampler: Sampler, problems: Problem[], options: SamplingOptions): boolean[] {
  const { rows, sampled } = sampleResponses(sampler, problems, { ...options, samples: 1, temperature: 0, topP: 1 }, new Rng(0), 'test');
  return rows.map((q, i) => answersEqual(extractAnswer(sampler.tokenizer.decode(sampled[i])), problems[q].answer));
}
