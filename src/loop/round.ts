// One self-improvement round as a unit (the paper's procedure): sample N candidates per pool question → the external
// verifier's choice of questions → verify and pick (hybrid best-of-N) → samples file → SFT on the picks, with the
// evaluation points of the round handed to onEval. The run (run.ts) and the bench call it the same way.
import { join } from 'node:path';
import type { Problem } from '../data/index.js';
import { type AdamWState, type Model, type OptimizerConfig, type Rng, type SftExample, sftBatch, trainStep } from '../model/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { solverUncertainty, verifierUncertainty } from '../uncertainty/index.js';
import { writeFileAtomic } from '../io.js';
import type { SampleRecord } from '../formats.js';
import { promptIds } from './prompts.js';
import {
  type Progress,
  type SamplingOptions,
  type StageTimes,
  type TokenCounts,
  generateCandidates,
  timed,
  zeroTimes,
  zeroTokens,
} from './sampling.js';
import { type Candidate, type Pick, pickCandidate } from './verify.js';
import type { Verifier } from './verifiers.js';
import type { QuestionSelection, SelectionState } from './external.js';

/** What stays the same from round to round: the model and its optimizer, the sampler's generator, the settings. */
export interface RoundContext {
  model: Model; // trained in place
  tokenizer: Tokenizer;
  optimizer: AdamWState;
  optimizerConfig: OptimizerConfig;
  rng: Rng; // sampling and the SFT shuffle
  sampling: SamplingOptions;
  verifier: Verifier; // the self-verifier
  sigma: number;
  sft: { epochsPerRound: number; evalsPerEpoch: number; batchSize: number };
  samplesDir?: string; // samples/round-R.jsonl are written here (none: not written)
  progress?: Progress;
  signal?: AbortSignal; // aborting stops the round between steps
}

/** One round: its index (0-based), its pool, and the external verification it may use. */
export interface Round {
  index: number;
  pool: Problem[];
  external?: { verifier: Verifier; select: QuestionSelection; state: SelectionState };
}

/** What the round's pool gave: the metrics every evaluation point of the round carries. */
export interface PoolOutcome {
  fallbacks: number; // picks that no candidate passed σ for
  externalQueries: number; // questions verified externally
  externalDropped: number; // of those, questions without an accepted candidate (not trained on)
  poolSolverUncertainty: number;
  poolVerifierUncertainty: number;
}

/** An evaluation point inside the round's SFT: the fraction of the round done and the mean loss since the last point. */
export interface EvalPoint {
  fraction: number;
  trainLoss: number;
  pool: PoolOutcome;
  times: StageTimes; // the round's stage times so far (onEval adds its own to `eval`)
  tokens: TokenCounts;
  startedAt: number; // performance.now() at the round's start
}

export interface RoundOutcome {
  pool: PoolOutcome;
  external: number[]; // question indices verified externally
  trainSteps: number;
  times: StageTimes;
  tokens: TokenCounts;
  seconds: number;
  meanResponseLength: number; // of the round's candidates (tokens)
}

export interface Verified {
  scores: number[][];
  picks: Pick[];
  external: number[]; // questions scored by the external verifier
  selfConfidence: number[]; // per question, the self-verifier's best candidate score (what --external-select doubt ranks by)
  dropped: boolean[]; // externally verified, no candidate accepted: not trained on (Sec. 5 drops what fails σ)
}

/** Cross-improvement: which questions go to the external verifier (chosen knowing each question's self-confidence), and it. */
export interface ExternalVerification {
  choose: (selfConfidence: number[]) => number[];
  verifier: Verifier;
}

/** Scores every candidate (self-verifier, then the external one for the questions it chooses) and picks one per question. */
export function verifyAndPick(
  verifier: Verifier,
  problems: Problem[],
  candidates: Candidate[][],
  sigma: number,
  external?: ExternalVerification,
): Verified {
  const selfScores = verifier(problems, candidates);
  const selfConfidence = selfScores.map((group) => Math.max(...group));
  const outside = external ? [...new Set(external.choose(selfConfidence))].sort((a, b) => a - b) : [];
  const scores = [...selfScores]; // the external verifier's rows replace the self-verifier's
  if (external && outside.length > 0) {
    const outsideScores = external.verifier(
      outside.map((q) => problems[q]),
      outside.map((q) => candidates[q]),
    );
    outside.forEach((q, i) => (scores[q] = outsideScores[i]));
  }
  const asked = new Set(outside);
  const picks = candidates.map((group, q) => pickCandidate(group, scores[q], sigma));
  return { scores, picks, external: outside, selfConfidence, dropped: picks.map((p, q) => p.fallback && asked.has(q)) };
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('run aborted');
}

/** One round: sample, verify and pick, write the samples, fine-tune on the picks with `onEval` at each evaluation point. */
export function runRound(ctx: RoundContext, round: Round, onEval: (point: EvalPoint) => void): RoundOutcome {
  const startedAt = performance.now();
  const times = zeroTimes();
  const tokens = zeroTokens();
  const { pool } = round;
  checkAbort(ctx.signal);
  const candidates = generateCandidates(ctx, pool, ctx.sampling, ctx.rng, { times, tokens });
  checkAbort(ctx.signal);
  const external =
    round.external && round.external.state.count > 0
      ? { verifier: round.external.verifier, choose: (confidence: number[]) => round.external!.select(confidence, round.external!.state) }
      : undefined;
  const verified = timed(times, 'verify', () => verifyAndPick(ctx.verifier, pool, candidates, ctx.sigma, external));
  if (ctx.samplesDir) writeSamples(join(ctx.samplesDir, `round-${round.index + 1}.jsonl`), pool, candidates, verified);
  const kept = pool.map((_, q) => q).filter((q) => !verified.dropped[q]);
  const picked = kept.map((q) => candidates[q][verified.picks[q].index]);
  const poolOutcome: PoolOutcome = {
    fallbacks: verified.picks.filter((p) => p.fallback).length,
    externalQueries: verified.external.length,
    externalDropped: verified.dropped.filter(Boolean).length,
    poolSolverUncertainty: solverUncertainty(candidates.flat()),
    poolVerifierUncertainty: verifierUncertainty(picked),
  };
  // fine-tune on the picks (response tokens only; prompts clipped to leave room for --max-new-tokens)
  const context = ctx.model.config.max_position_embeddings - ctx.sampling.maxNewTokens;
  const examples: SftExample[] = kept.map((q, i) => ({
    prompt: promptIds(ctx.tokenizer, pool[q].question, context),
    response: picked[i].tokens,
  }));
  if (examples.length === 0)
    throw new Error(`round ${round.index + 1}: the external verifier rejected every candidate of every question; nothing to fine-tune on`);
  const trainSteps = fineTune(ctx, examples, { times, tokens }, (fraction, trainLoss) =>
    onEval({ fraction, trainLoss, pool: poolOutcome, times, tokens, startedAt }),
  );
  const lengths = candidates.flat().map((c) => c.tokens.length);
  return {
    pool: poolOutcome,
    external: verified.external,
    trainSteps,
    times,
    tokens,
    seconds: (performance.now() - startedAt) / 1000,
    meanResponseLength: lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length),
  };
}

/** samples/round-R.jsonl: per pool question its candidates with scores and NLLs, the pick, and whether it was verified externally. */
function writeSamples(path: string, pool: Problem[], candidates: Candidate[][], v: Verified): void {
  const external = new Set(v.external);
  const lines = pool.map((problem, q) =>
    JSON.stringify({
      idx: problem.idx,
      question: problem.question,
      reference: problem.answer,
      external: external.has(q),
      selfConfidence: v.selfConfidence[q],
      pick: v.picks[q].index,
      fallback: v.picks[q].fallback,
      dropped: v.dropped[q],
      candidates: candidates[q].map((c, j) => ({
        text: c.text,
        answer: c.answer,
        correct: c.correct,
        score: v.scores[q][j],
        nll: c.nll,
        normalizedNll: c.normalizedNll,
        length: c.length,
      })),
    } satisfies SampleRecord),
  );
  writeFileAtomic(path, lines.join('\n') + '\n');
}

/** The round's SFT steps: every evaluation point gets its own step; evalsPerEpoch × epochsPerRound points (at least one). */
export function sftSchedule(examples: number, sft: RoundContext['sft']): { steps: number; evalAt: Set<number> } {
  const evalPoints = Math.max(1, Math.round(sft.evalsPerEpoch * sft.epochsPerRound));
  const steps = Math.max(evalPoints, Math.ceil((sft.epochsPerRound * examples) / sft.batchSize));
  return { steps, evalAt: new Set(Array.from({ length: evalPoints }, (_, i) => Math.round(((i + 1) * steps) / evalPoints))) };
}

/** SFT on the examples in shuffled batches; at each evaluation point `atEval(fraction of the round, mean loss since the last)`. */
function fineTune(
  ctx: RoundContext,
  examples: SftExample[],
  meter: { times: StageTimes; tokens: TokenCounts },
  atEval: (fraction: number, loss: number) => void,
): number {
  const { steps, evalAt } = sftSchedule(examples.length, ctx.sft);
  const batchSize = ctx.sft.batchSize;
  let order: number[] = [];
  let lossSum = 0;
  let lossCount = 0;
  for (let step = 1; step <= steps; step++) {
    checkAbort(ctx.signal);
    if (order.length < batchSize) order = [...order, ...ctx.rng.shuffle(examples.map((_, i) => i))];
    const batch = sftBatch(
      order.splice(0, batchSize).map((i) => examples[i]),
      ctx.tokenizer.padId,
    );
    const { loss } = timed(meter.times, 'train', () => trainStep(ctx.model, ctx.optimizer, ctx.optimizerConfig, batch));
    meter.tokens.train += batch.weights.reduce((s, row) => s + row.length, 0);
    lossSum += loss;
    lossCount += 1;
    ctx.progress?.('train', step, steps);
    if (evalAt.has(step)) {
      atEval(step / steps, lossSum / lossCount);
      lossSum = 0;
      lossCount = 0;
    }
  }
  return steps;
}
