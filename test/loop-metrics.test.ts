// The loop's metrics recomputed here, in plain JS, from what a run wrote (samples/round-1.jsonl), on the shipped
// tiny-arith model, whose answers are a mix of right and wrong, so every accuracy is a number that can come out wrong:
// U_s and U_v as means of the total sequence NLL of the samples and of the picks, the hybrid best-of-N pick,
// solver, verifier and majority-vote accuracy, and pass@N. On the torch backend: the cpu one takes minutes here.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/engine/index.js';
import { loadTorchBackend } from '../src/engine/torch.js';
import { answersEqual } from '../src/data/index.js';
import { resolveModel } from '../src/model/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { loadLoopData } from '../src/loop/data.js';
import { evaluate, type Evaluation } from '../src/loop/evaluate.js';
import { selfVerifier } from '../src/loop/verifiers.js';
import { runTraining } from '../src/loop/run.js';
import { type TrainOptions, trainOptionsFrom } from '../src/loop/options.js';
import { type MetricsRow, type SampleRecord, readMetrics, readSamples } from '../src/formats.js';
import { BUILD_NATIVE, requireOrSkip } from './helpers.js';

const torch = await loadTorchBackend({ device: 'cpu', threads: 1 });
const HAVE_TORCH = requireOrSkip('the native torch backend', torch.available, `${BUILD_NATIVE} (${torch.reason})`);

type WrittenQuestion = SampleRecord;
type WrittenCandidate = SampleRecord['candidates'][number];

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const share = (xs: boolean[]) => mean(xs.map((x) => (x ? 1 : 0)));

/** The answers of a question grouped as they first appear, with how many candidates gave each (no answer: no vote). */
function votes(candidates: WrittenCandidate[]): { count: number; correct: boolean }[] {
  const groups: { answer: string; count: number; correct: boolean }[] = [];
  for (const c of candidates) {
    if (c.answer === null) continue;
    const group = groups.find((g) => answersEqual(g.answer, c.answer));
    if (group) group.count += 1;
    else groups.push({ answer: c.answer, count: 1, correct: c.correct });
  }
  return groups;
}

/** Whether the most voted answer is correct (ties: the answer that appeared first); `fewest` takes the least voted instead. */
function voteCorrect(candidates: WrittenCandidate[], fewest = false): boolean {
  let best: { count: number; correct: boolean } | undefined;
  for (const g of votes(candidates)) if (!best || (fewest ? g.count < best.count : g.count > best.count)) best = g;
  return best?.correct ?? false;
}

/** The paper's hybrid best-of-N from the written scores: lowest NLL per token among score ≥ σ, else among the highest scores. */
function hybridPick(candidates: WrittenCandidate[], sigma: number): number {
  const passing = candidates.filter((c) => c.score >= sigma);
  const best = Math.max(...candidates.map((c) => c.score));
  const pool = passing.length > 0 ? passing : candidates.filter((c) => c.score === best);
  return candidates.indexOf(pool.reduce((a, b) => (b.normalizedNll < a.normalizedNll ? b : a)));
}

describe.skipIf(!HAVE_TORCH)("the loop's metrics, recomputed from the samples a run wrote", () => {
  let options: TrainOptions;
  let questions: WrittenQuestion[];
  let metrics: MetricsRow[];
  let evaluation: Evaluation;

  beforeAll(async () => {
    await initBackend({ backend: 'torch', device: 'cpu', threads: 1 });
    const tokenizer = await loadTokenizer();
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-loop-metrics-')), 'run');
    // the eval set is the whole (fixed) pool, so round 1's samples are questions the metrics are taken on
    options = trainOptionsFrom({
      model: 'tiny-arith',
      out,
      backend: 'torch',
      rounds: 1,
      poolSize: 8,
      evalSize: 8,
      testSize: 1,
      samples: 6,
      maxNewTokens: 40,
      verifier: 'majority',
      sigma: 0.5,
      evalsPerEpoch: 1,
      batchSize: 8,
      sampleBatch: 48,
      report: false,
      seed: 3,
    });
    await runTraining(options);
    questions = readSamples(out, 1);
    metrics = readMetrics(out);
    // the loop's evaluation of the model round 1 sampled from, on the same questions with the seed of round 1's sampler:
    // common random numbers give it exactly the candidates round 1 wrote
    const { model } = resolveModel('tiny-arith', { vocabSize: tokenizer.vocabSize, seed: options.seed, embedMode: 'gather' });
    const pool = loadLoopData({ ...options.data, seed: options.seed }).pool(0);
    const sampling = options.sampling;
    evaluation = evaluate(model, tokenizer, pool, [], {
      ...sampling,
      verifier: selfVerifier(options.verify.verifier, model, tokenizer),
      sigma: options.verify.sigma,
      seed: options.seed,
    });
  });

  it("the run's answers are a mix of right and wrong, and majority and minority votes disagree", () => {
    const all = questions.flatMap((q) => q.candidates);
    expect(all).toHaveLength(options.data.poolSize * options.sampling.samples);
    const accuracy = share(all.map((c) => c.correct));
    expect(accuracy).toBeGreaterThan(0);
    expect(accuracy).toBeLessThan(1);
    // so a vote count that prefers the minority answer gives another majority accuracy
    expect(share(questions.map((q) => voteCorrect(q.candidates)))).not.toBe(share(questions.map((q) => voteCorrect(q.candidates, true))));
    // and a per-token U would give another U_s
    expect(Math.abs(mean(all.map((c) => c.nll)) - mean(all.map((c) => c.normalizedNll)))).toBeGreaterThan(0.1);
    for (const c of all) expect(c.nll).toBeCloseTo(c.normalizedNll * c.length, 4); // nll is the total over the response
  });

  it("the picks are the hybrid best-of-N of the majority scores, and the pool's U_s and U_v are means of total NLL", () => {
    for (const q of questions) {
      const groups = votes(q.candidates);
      // majority score: the share of the N candidates giving the same answer
      q.candidates.forEach((c) =>
        expect(c.score).toBeCloseTo(
          c.answer === null
            ? 0
            : q.candidates.filter((o) => o.answer !== null && answersEqual(o.answer, c.answer)).length / q.candidates.length,
          12,
        ),
      );
      expect(groups.reduce((s, g) => s + g.count, 0)).toBe(q.candidates.filter((c) => c.answer !== null).length);
      expect(q.pick).toBe(hybridPick(q.candidates, options.verify.sigma));
      expect(q.dropped).toBe(false); // no external verifier
    }
    const last = metrics.at(-1)!;
    expect(last.poolSolverUncertainty).toBeCloseTo(mean(questions.flatMap((q) => q.candidates.map((c) => c.nll))), 6);
    expect(last.poolVerifierUncertainty).toBeCloseTo(mean(questions.map((q) => q.candidates[q.pick].nll)), 6);
  });

  it('U_s, U_v, G, solver, verifier and majority accuracy and pass@N of the evaluation match the written samples', () => {
    const all = questions.flatMap((q) => q.candidates);
    const picked = questions.map((q) => q.candidates[hybridPick(q.candidates, options.verify.sigma)]);
    const us = mean(all.map((c) => c.nll));
    const uv = mean(picked.map((c) => c.nll));
    expect(evaluation.solverUncertainty).toBeCloseTo(us, 6);
    expect(evaluation.verifierUncertainty).toBeCloseTo(uv, 6);
    expect(evaluation.gap).toBeCloseTo(us - uv, 6);
    expect(evaluation.solverAccuracy).toBe(share(all.map((c) => c.correct)));
    expect(evaluation.verifierAccuracy).toBe(share(picked.map((c) => c.correct)));
    expect(evaluation.majorityAccuracy).toBe(share(questions.map((q) => voteCorrect(q.candidates))));
    expect(evaluation.passAtN).toBe(share(questions.map((q) => q.candidates.some((c) => c.correct))));
    expect(evaluation.meanResponseLength).toBeCloseTo(mean(all.map((c) => c.length)), 12);
    expect(evaluation.evalFallbacks).toBe(questions.filter((q) => q.fallback).length);
    // every accuracy here is strictly between 0 and 1 or differs from the others, so none can pass by being 0 everywhere
    console.log(
      `recomputed from round-1.jsonl: U_s ${us.toFixed(3)} U_v ${uv.toFixed(3)} solver ${evaluation.solverAccuracy.toFixed(3)} ` +
        `verifier ${evaluation.verifierAccuracy.toFixed(3)} majority ${evaluation.majorityAccuracy.toFixed(3)} pass@N ${evaluation.passAtN.toFixed(3)}`,
    );
    expect(evaluation.passAtN).toBeGreaterThan(evaluation.solverAccuracy);
    expect(evaluation.majorityAccuracy).toBeGreaterThan(0);
  });
});
