import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { initBackend } from '../src/engine/index.js';
import { initModel, loadCheckpoint, nextTokenLogProbs, saveCheckpoint, resolveModel } from '../src/model/index.js';
import { loadTokenizer, type Tokenizer } from '../src/tokenizer/index.js';
import { type Candidate, pickCandidate, verifierScores } from '../src/loop/verify.js';
import { clipPrompt, promptIds, verificationPromptIds, verdictIds } from '../src/loop/prompts.js';
import { loadLoopData } from '../src/loop/data.js';
import { verifyAndPick } from '../src/loop/round.js';
import { greedyCorrect } from '../src/loop/sampling.js';
import { externalVerifier, oracleVerifier, selfVerifier } from '../src/loop/verifiers.js';
import { budgetPerRound, doubtfulQuestions, externalQuestions, parseAllocation, questionSelection } from '../src/loop/external.js';
import type { MetricsRecord } from '../src/formats.js';
import { DEFAULT_DATA_DIR } from '../src/data/index.js';
import { runTraining } from '../src/loop/run.js';
import { type FlatOptions, type TrainOptions, trainOptionsFrom, validateTrainOptions, withOptions } from '../src/loop/options.js';
import { makeProgress } from '../src/cli/progress.js';
import { MICRO, sharedData } from './helpers.js';

function candidate(answer: string | null, correct: boolean, normalizedNll: number): Candidate {
  return {
    tokens: [5],
    text: `#### ${answer}`,
    answer,
    correct,
    nll: normalizedNll * 10,
    normalizedNll,
    length: 10,
    entropy: 1,
    selfCertainty: 1,
  };
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let tokenizer: Tokenizer;
let microDir: string;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  tokenizer = await loadTokenizer();
  microDir = join(mkdtempSync(join(tmpdir(), 'svgap-loop-')), 'micro');
  saveCheckpoint(microDir, initModel({ ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 }, 3));
});

function microOptions(out: string, extra: FlatOptions = {}): TrainOptions {
  return trainOptionsFrom({
    model: microDir,
    out,
    backend: 'cpu',
    rounds: 2,
    poolSize: 4,
    samples: 3,
    maxNewTokens: 6,
    evalSize: 2,
    testSize: 2,
    batchSize: 2,
    sampleBatch: 8,
    verifier: 'tf',
    report: false,
    loraRank: 2,
    loraAlpha: 4,
    testSamples: 0,
    ...extra, // test sampling: test/accounting.test.ts
  });
}

describe("selection (the paper's hybrid best-of-N)", () => {
  const group = [candidate('3', false, 0.2), candidate('4', true, 0.5), candidate('4', true, 0.4), candidate(null, false, 0.1)];

  it('keeps candidates with score ≥ σ and picks the lowest normalised NLL among them', () => {
    expect(pickCandidate(group, [0.9, 0.6, 0.7, 0.2], 0.5)).toEqual({ index: 0, fallback: false });
    expect(pickCandidate(group, [0.4, 0.6, 0.7, 0.2], 0.5)).toEqual({ index: 2, fallback: false });
    expect(pickCandidate(group, [0.4, 0.6, 0.5, 0.2], 0.5)).toEqual({ index: 2, fallback: false }); // σ is inclusive
  });

  it('falls back to the highest score when no candidate reaches σ', () => {
    expect(pickCandidate(group, [0.1, 0.3, 0.2, 0.0], 0.5)).toEqual({ index: 1, fallback: true });
  });

  it('breaks ties by normalised NLL, then by order: among passing candidates, and among the highest scores of a fallback', () => {
    const tied = [candidate('1', false, 0.3), candidate('2', false, 0.2), candidate('3', true, 0.2), candidate('4', false, 0.05)];
    expect(pickCandidate(tied, [0.9, 0.8, 0.7, 0.1], 0.5)).toEqual({ index: 1, fallback: false }); // equal NLL: the first
    // no candidate passes: the highest score wins over a lower NLL (index 3), and equal scores go to the lower NLL, then the first
    expect(pickCandidate(tied, [0.3, 0.4, 0.4, 0.1], 0.5)).toEqual({ index: 1, fallback: true });
    expect(pickCandidate(tied, [0.4, 0.4, 0.1, 0.1], 0.5)).toEqual({ index: 1, fallback: true });
    expect(pickCandidate([tied[1], tied[0], tied[3]], [0.4, 0.4, 0.1], 0.5)).toEqual({ index: 0, fallback: true });
  });

  it('an externally verified question with every candidate rejected is dropped; a self-verifier fallback is kept', () => {
    const problems = [0, 1, 2].map((idx) => ({ question: 'q', solution: '#### 4', answer: '4', idx }));
    const wrong = [candidate('3', false, 0.2), candidate(null, false, 0.1)];
    const groups = [
      wrong,
      [candidate('3', false, 0.2), candidate('4', true, 0.3)],
      [candidate(null, false, 0.2), candidate(null, false, 0.1)],
    ];
    const majority = selfVerifier('majority', undefined as never, tokenizer); // majority reads no model
    let seen: number[] = [];
    const { picks, dropped, external, selfConfidence } = verifyAndPick(majority, problems, groups, 0.5, {
      choose: (confidence) => ((seen = confidence), [1, 0, 1]),
      verifier: oracleVerifier,
    });
    expect(seen).toEqual([0.5, 0.5, 0]); // the choice sees every question's best self-verifier (majority) score
    expect(selfConfidence).toEqual(seen);
    expect(external).toEqual([0, 1]); // sorted, each question once
    expect(dropped).toEqual([true, false, false]);
    expect(picks.map((p) => p.fallback)).toEqual([true, false, true]); // question 2 falls back under the self-verifier and is kept
    expect(picks[1].index).toBe(1);
    expect(verifyAndPick(majority, problems, groups, 0.5).dropped).toEqual([false, false, false]);
  });

  it('likelihood, majority and oracle scores', () => {
    const noModel = undefined as never;
    expect(verifierScores('likelihood', noModel, tokenizer, [{ question: 'q', answer: '4' }], [group])).toEqual([[1, 1, 1, 1]]);
    expect(verifierScores('oracle', noModel, tokenizer, [{ question: 'q', answer: '4' }], [group])).toEqual([[0, 1, 1, 0]]);
    expect(verifierScores('majority', noModel, tokenizer, [{ question: 'q', answer: '4' }], [group])).toEqual([[0.25, 0.5, 0.5, 0]]);
    // likelihood: everything passes, so the pick is the plain minimum normalised NLL
    expect(pickCandidate(group, [1, 1, 1, 1], 0.5).index).toBe(3);
  });

  it("tf and qe read the model's next-token distribution after the template", () => {
    const { model } = resolveModel(microDir, { vocabSize: tokenizer.vocabSize, seed: 1, embedMode: 'gather' });
    const questions = [{ question: 'Sam has 3 apples.', answer: '3' }];
    const candidates = [[{ ...candidate('3', true, 0.1), tokens: tokenizer.encode('3+0=3\n#### 3') }]];
    const ids = verdictIds(tokenizer);
    const tf = verifierScores('tf', model, tokenizer, questions, candidates)[0][0];
    const lpTf = nextTokenLogProbs(model, [verificationPromptIds(tokenizer, 'tf', questions[0].question, candidates[0][0].tokens)], {
      padId: tokenizer.padId,
    })[0];
    expect(tf).toBeCloseTo(Math.exp(lpTf[ids.trueId]) / (Math.exp(lpTf[ids.trueId]) + Math.exp(lpTf[ids.falseId])), 10);
    const qe = verifierScores('qe', model, tokenizer, questions, candidates)[0][0];
    const lpQe = nextTokenLogProbs(model, [verificationPromptIds(tokenizer, 'qe', questions[0].question, candidates[0][0].tokens)], {
      padId: tokenizer.padId,
    })[0];
    const p = ids.ratingIds.map((id) => Math.exp(lpQe[id]));
    expect(qe).toBeCloseTo((p.reduce((s, x, r) => s + x * (r + 1), 0) / p.reduce((s, x) => s + x, 0) - 1) / 4, 10);
    expect(tf).toBeGreaterThan(0);
    expect(qe).toBeGreaterThanOrEqual(0);
    expect(qe).toBeLessThanOrEqual(1);
  });
});

describe('external verifier', () => {
  it("a checkpoint judges with its own frozen weights and the run's template (tf, or qe when the run uses qe)", () => {
    const otherDir = join(mkdtempSync(join(tmpdir(), 'svgap-ext-')), 'other');
    saveCheckpoint(
      otherDir,
      initModel({ ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 }, 11),
    );
    const load = (dir: string) => resolveModel(dir, { vocabSize: tokenizer.vocabSize, seed: 1, embedMode: 'gather' }).model;
    const problems = [{ question: 'Sam has 3 apples. He gets 2 more.', solution: '3+2=5\n#### 5', answer: '5', idx: 0 }];
    const candidates = [
      [
        { ...candidate('5', true, 0.1), tokens: tokenizer.encode('3+2=5 apples.\n#### 5') },
        { ...candidate('6', false, 0.2), tokens: tokenizer.encode('3+2=6 apples.\n#### 6') },
      ],
    ];
    const external = externalVerifier(otherDir, 'majority', tokenizer)(problems, candidates);
    expect(external).toEqual(verifierScores('tf', load(otherDir), tokenizer, problems, candidates));
    expect(external[0][0]).not.toBeCloseTo(verifierScores('tf', load(microDir), tokenizer, problems, candidates)[0][0], 6); // not the run's model
    const qe = externalVerifier(otherDir, 'qe', tokenizer)(problems, candidates);
    expect(qe).toEqual(verifierScores('qe', load(otherDir), tokenizer, problems, candidates));
    expect(externalVerifier('oracle', 'tf', tokenizer)(problems, candidates)).toEqual([[1, 0]]);
    expect(() => externalVerifier('/no/such/verifier', 'tf', tokenizer)).toThrow(/no\/such\/verifier/);
    expect(() => validateTrainOptions(trainOptionsFrom({ externalVerifier: '/no/such/verifier', externalBudget: 3 }))).toThrow(
      /--external-verifier \/no\/such\/verifier: neither 'oracle' nor a checkpoint directory/,
    );
    expect(() => validateTrainOptions(trainOptionsFrom({ externalVerifier: otherDir, externalBudget: 3 }))).not.toThrow();
  });
});

const HAVE_GSM8K = sharedData(DEFAULT_DATA_DIR, 'gsm8k/train.jsonl', 'gsm8k/test.jsonl');

describe('prompts and data', () => {
  it('long prompts keep BOS and their tail so they fit the context', () => {
    expect(clipPrompt([2, 10, 11, 12, 4], 10)).toEqual([2, 10, 11, 12, 4]);
    expect(clipPrompt([2, 10, 11, 12, 13, 4], 4)).toEqual([2, 12, 13, 4]);
    const ids = promptIds(tokenizer, 'word '.repeat(300), 100);
    expect(ids).toHaveLength(100);
    expect(ids[0]).toBe(tokenizer.bosId);
    expect(ids[99]).toBe(tokenizer.sepId);
  });

  it('arith pools are fixed or fresh per round, the eval set is a subset of the pool, the test split is disjoint', () => {
    const fixed = loadLoopData({ dataset: 'arith', poolSize: 20, freshPool: false, evalSize: 5, testSize: 10, seed: 3 });
    expect(fixed.pool(0)).toEqual(fixed.pool(4));
    expect(fixed.eval).toEqual(fixed.pool(0).slice(0, 5));
    const fresh = loadLoopData({ dataset: 'arith', poolSize: 20, freshPool: true, evalSize: 5, testSize: 10, seed: 3 });
    expect(fresh.pool(0)).not.toEqual(fresh.pool(1));
    expect(fixed.test.map((p) => p.idx).some((i) => fixed.pool(0).some((q) => q.idx === i))).toBe(false);
  });

  it.skipIf(!HAVE_GSM8K)('gsm8k: the pool comes from train, the test split from test.jsonl', () => {
    const data = loadLoopData({ dataset: 'gsm8k', poolSize: 8, freshPool: true, evalSize: 4, testSize: 3, seed: 1 });
    expect(data.pool(0)).toHaveLength(8);
    expect(data.pool(0)).not.toEqual(data.pool(1));
    expect(data.test.map((p) => p.idx)).toEqual([0, 1, 2]);
    for (const p of data.pool(0)) expect(p.solution).not.toMatch(/<</); // calculator annotations stripped
  });
});

describe('external budget', () => {
  it('allocations spend exactly the budget, per round', () => {
    expect(budgetPerRound(parseAllocation('uniform', 4), 10)).toEqual([3, 3, 2, 2]);
    expect(budgetPerRound(parseAllocation('early', 6), 10)).toEqual([5, 5, 0, 0, 0, 0]);
    expect(budgetPerRound(parseAllocation('late', 6), 9)).toEqual([0, 0, 0, 0, 5, 4]);
    expect(budgetPerRound(parseAllocation('R1:1,R3:3', 4), 8)).toEqual([2, 0, 6, 0]);
    for (const spec of ['early', 'uniform', 'late', 'R2:0.3,R5:0.7']) {
      for (const budget of [0, 1, 7, 25, 100])
        expect(budgetPerRound(parseAllocation(spec, 5), budget).reduce((s, x) => s + x, 0)).toBe(budget);
    }
  });

  it('a fixed pool spends M queries on M distinct questions, the same set for every allocation of a seed', () => {
    const questionsOf = (perRound: number[], seed: number) => {
      let used = 0;
      return perRound.map((count) => {
        const qs = externalQuestions(256, count, used, false, seed);
        used += qs.length;
        return qs;
      });
    };
    const sets: Record<string, number[]> = {};
    for (const spec of ['early', 'uniform', 'late', 'R2:1,R4:3']) {
      const perRound = budgetPerRound(parseAllocation(spec, 6), 26);
      const rounds = questionsOf(perRound, 7);
      rounds.forEach((qs, t) => expect(qs, `${spec} round ${t + 1}`).toHaveLength(perRound[t]));
      const all = rounds.flat();
      expect(new Set(all).size, spec).toBe(26); // never the same question twice
      for (const q of all) expect(q >= 0 && q < 256).toBe(true);
      sets[spec] = [...all].sort((a, b) => a - b);
    }
    expect(sets.uniform).toEqual(sets.early);
    expect(sets.late).toEqual(sets.early);
    expect(sets['R2:1,R4:3']).toEqual(sets.early);
    expect(questionsOf([26], 8)[0]).not.toEqual(sets.early); // another seed, another set
    expect(sets.early!.slice(0, 13)).not.toEqual(Array.from({ length: 13 }, (_, i) => i)); // not simply the first questions
    // a budget above the pool wraps around only after every question was verified once
    const wrapped = [externalQuestions(4, 3, 0, false, 1), externalQuestions(4, 3, 3, false, 1)];
    expect(new Set([...wrapped[0], wrapped[1].find((q) => !wrapped[0].includes(q))!]).size).toBe(4);
    // fresh pools are new each round: the first questions of the round's pool
    expect(externalQuestions(256, 5, 20, true, 1)).toEqual([0, 1, 2, 3, 4]);
    expect(externalQuestions(256, 0, 0, false, 1)).toEqual([]);
    expect(externalQuestions(3, 9, 0, false, 1)).toHaveLength(3);
  });

  it('doubt selection takes the questions the self-verifier is least sure of, each once, then wraps around', () => {
    const confidence = [0.9, 0.2, 0.5, 0.2, 1.0, 0.35]; // each question's self-confidence
    expect(doubtfulQuestions(confidence, 3, new Set(), 1)).toEqual([1, 3, 5]);
    expect(doubtfulQuestions(confidence, 2, new Set([1, 3]), 1)).toEqual([2, 5]); // asked before: skipped
    expect(doubtfulQuestions(confidence, 5, new Set([0, 1, 2, 3, 4]), 1)).toEqual([0, 1, 2, 3, 5]); // 5, then the most doubtful again (not 4)
    expect(doubtfulQuestions(confidence, 9, new Set(), 1)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(doubtfulQuestions(confidence, 0, new Set(), 1)).toEqual([]);
    // a tie (questions 1 and 3) goes the way of the seeded random order, so it depends on the seed and not on the index
    const tieWinners = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => doubtfulQuestions(confidence, 1, new Set(), seed)[0]));
    expect(tieWinners).toEqual(new Set([1, 3]));
  });

  it('--external-select is a value: random walks the seeded order from the questions used so far, doubt ranks by self-confidence', () => {
    const confidence = [0.9, 0.1, 0.5, 0.1, 0.8, 0.3];
    const asked = new Set([1]);
    const random = questionSelection('random', 4, false);
    expect(random(confidence, { count: 2, usedSoFar: 3, askedBefore: asked })).toEqual(externalQuestions(6, 2, 3, false, 4));
    expect(questionSelection('random', 4, true)(confidence, { count: 2, usedSoFar: 3, askedBefore: asked })).toEqual([0, 1]); // fresh pool: the first ones
    expect(questionSelection('doubt', 4, false)(confidence, { count: 2, usedSoFar: 0, askedBefore: asked })).toEqual([3, 5]); // 1 was asked before
  });

  it('bad allocations are clear errors', () => {
    expect(() => parseAllocation('sometimes', 3)).toThrow(/--allocation: cannot read 'sometimes'/);
    expect(() => parseAllocation('R4:1', 3)).toThrow(/round 4 is outside 1..3/);
    expect(() => parseAllocation('R1:0', 3)).toThrow(/sum to 0/);
  });
});

describe('runs', () => {
  it('bad flags and paths give clear errors', async () => {
    const base = microOptions('/tmp/unused');
    expect(() => validateTrainOptions(withOptions(base, { samples: 0 }))).toThrow(/--samples: must be a positive integer/);
    expect(() => validateTrainOptions(withOptions(base, { sigma: 1.5 }))).toThrow(/--sigma: must be in \[0, 1\]/);
    expect(() => validateTrainOptions(withOptions(base, { verifier: 'psychic' as never }))).toThrow(/--verifier: unknown 'psychic'/);
    expect(() => validateTrainOptions(withOptions(base, { verifier: 'oracle' }))).toThrow(/no self-verifier/);
    expect(() => validateTrainOptions(withOptions(base, { externalBudget: 5 }))).toThrow(/--external-budget needs --external-verifier/);
    expect(() => resolveModel('phi-mini', { vocabSize: tokenizer.vocabSize, seed: 1, embedMode: 'gather' })).toThrow(
      /weights are not present.*--model tiny-arith/,
    );
    expect(() => resolveModel('/no/such/model', { vocabSize: tokenizer.vocabSize, seed: 1, embedMode: 'gather' })).toThrow(
      /--model \/no\/such\/model: no such preset/,
    );
    await expect(runTraining(withOptions(base, { resume: true, out: join(tmpdir(), 'svgap-no-run') }))).rejects.toThrow(
      /--resume: .*run\.json not found/,
    );
    await expect(runTraining(withOptions(base, { dataset: '/no/file.jsonl' }))).rejects.toThrow(
      /--dataset \/no\/file\.jsonl: file not found/,
    );
  });

  it('a 2-round micro run writes the promised files and keys; a second run refuses the same --out', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-run-')), 'run');
    const lines: string[] = [];
    const result = await runTraining(
      microOptions(out, { externalVerifier: 'oracle', externalBudget: 3, allocation: 'late', report: true }),
      { log: (l) => lines.push(l) },
    );
    expect(lines[0]).toMatch(/^backend: cpu/);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    for (const key of ['command', 'options', 'seed', 'backend', 'versions', 'model', 'dataset', 'verifier', 'startedAt', 'finishedAt'])
      expect(run).toHaveProperty(key);
    expect(run.verifier.templates.tf).toContain('correct?');
    expect(run.backend.name).toBe('cpu');
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as MetricsRecord);
    expect(metrics.map((m) => m.t)).toEqual([0, 0.5, 1, 1.5, 2]);
    for (const m of metrics) {
      for (const key of [
        't',
        'round',
        'solverUncertainty',
        'verifierUncertainty',
        'gap',
        'solverAccuracy',
        'verifierAccuracy',
        'testAccuracy',
        'passAtN',
        'majorityAccuracy',
        'meanResponseLength',
        'fallbacks',
        'timing',
        'tokensPerSecond',
      ])
        expect(m, key).toHaveProperty(key);
      expect(m.gap).toBeCloseTo(m.solverUncertainty - m.verifierUncertainty, 10);
      expect(Object.keys(m.timing).sort()).toEqual(['eval', 'round', 'sample', 'score', 'train', 'verify']);
    }
    expect(metrics[4].forecast).toBeDefined();
    // late allocation of 3 over 2 rounds: all in the last round
    expect(metrics.map((m) => m.externalQueries)).toEqual([0, 0, 0, 3, 3]);
    expect(readdirSync(join(out, 'samples')).sort()).toEqual(['round-1.jsonl', 'round-2.jsonl']);
    const round2 = readFileSync(join(out, 'samples', 'round-2.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(round2).toHaveLength(4);
    expect(round2.filter((q) => q.external)).toHaveLength(3);
    for (const q of round2) {
      expect(q.candidates).toHaveLength(3);
      for (const c of q.candidates)
        for (const key of ['text', 'answer', 'correct', 'score', 'nll', 'normalizedNll']) expect(c).toHaveProperty(key);
      if (q.external) for (const c of q.candidates) expect(c.score).toBe(c.correct ? 1 : 0);
      // the oracle rejecting every candidate drops the question; the self-verifier's fallback keeps it
      expect(q.dropped).toBe(q.external && !q.candidates.some((c: { correct: boolean }) => c.correct));
      if (!q.external) expect(q.dropped).toBe(false);
    }
    expect(metrics[4].externalDropped).toBe(round2.filter((q) => q.dropped).length);
    expect(existsSync(join(out, 'checkpoint', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'fit.json')) || lines.some((l) => l.startsWith('no shared-rate fit'))).toBe(true);
    expect(result.metrics).toHaveLength(5);
    expect(existsSync(join(out, 'report', 'index.html'))).toBe(true);
    await expect(runTraining(microOptions(out))).rejects.toThrow(/a run already exists there; pass --resume/);
  });

  it('--external-select doubt sends the least self-confident questions to the oracle, each question once per run', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-doubt-')), 'run');
    await runTraining(
      microOptions(out, {
        verifier: 'majority',
        externalVerifier: 'oracle',
        externalBudget: 4,
        allocation: 'uniform',
        externalSelect: 'doubt',
      }),
    );
    const rounds = [1, 2].map((r) =>
      readFileSync(join(out, 'samples', `round-${r}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    const asked = rounds.map((questions) => questions.flatMap((q, i) => (q.external ? [i] : [])));
    expect(asked.map((a) => a.length)).toEqual([2, 2]);
    expect(new Set(asked.flat()).size).toBe(4); // round 2 asks the two questions round 1 did not
    const first = rounds[0];
    const most = Math.max(...asked[0].map((i) => first[i].selfConfidence));
    for (const q of first.filter((q) => !q.external)) expect(q.selfConfidence).toBeGreaterThanOrEqual(most);
    for (const q of first) if (!q.external) expect(q.selfConfidence).toBe(Math.max(...q.candidates.map((c: { score: number }) => c.score)));
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).external.select).toBe('doubt');
    expect(() => validateTrainOptions(withOptions(microOptions(out), { externalSelect: 'luck' as never }))).toThrow(
      /--external-select: unknown 'luck'; choose one of random, doubt/,
    );
  });

  it('--final-test-size measures the final model once on a bigger test split; resuming a finished run re-measures only for a new size', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-final-test-')), 'run');
    // the shipped model, so the verdicts are a mix of right and wrong and a wrong model or question would show
    const options = microOptions(out, {
      model: 'tiny-arith',
      rounds: 1,
      poolSize: 2,
      samples: 2,
      evalSize: 2,
      evalsPerEpoch: 1,
      maxNewTokens: 48,
      verifier: 'majority',
      finalTestSize: 12,
    });
    const result = await runTraining(options);
    const saved = JSON.parse(readFileSync(join(out, 'final-test.json'), 'utf8'));
    expect(result.finalTest).toEqual(saved);
    expect(saved.testSize).toBe(12);
    expect(saved.correct).toMatch(/^[01]{12}$/);
    expect(saved.correct).toMatch(/1/);
    expect(saved.correct).toMatch(/0/);
    expect(saved.accuracy).toBe(saved.correct.split('').filter((c: string) => c === '1').length / 12);
    // a second greedy pass, over the checkpoint saved on disk, gives the same verdicts: the test used the final model
    const final = loadCheckpoint(join(out, 'checkpoint')).model;
    const test = loadLoopData({ ...options.data, seed: options.seed, testSize: 12 }).test;
    const sampling = {
      samples: 1,
      temperature: 0,
      topP: 1,
      maxNewTokens: options.sampling.maxNewTokens,
      sampleBatch: options.sampling.sampleBatch,
    };
    expect(
      greedyCorrect(final, tokenizer, test, sampling)
        .map((c) => (c ? '1' : '0'))
        .join(''),
    ).toBe(saved.correct);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    // its first --test-size (2) questions are the run's own test split, so they agree with the last evaluation
    const lastTestAccuracy = (JSON.parse(metrics.trim().split('\n').at(-1)!) as MetricsRecord).testAccuracy;
    expect(
      saved.correct
        .slice(0, 2)
        .split('')
        .filter((c: string) => c === '1').length / 2,
    ).toBe(lastTestAccuracy);
    const resumed = await runTraining(withOptions(options, { resume: true, finalTestSize: 14 }));
    expect(resumed.finalTest!.testSize).toBe(14);
    expect(resumed.finalTest!.correct.slice(0, 12)).toBe(saved.correct); // arith's test split is a fixed stream: 12 questions are a prefix of 14
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(metrics); // no round was run again
    expect(() => validateTrainOptions(withOptions(options, { finalTestSize: 0 }))).toThrow(/--final-test-size: must be a positive integer/);
    // math and custom jsonl hold out their last --test-size problems: a larger final test would reach into the pool
    expect(() => validateTrainOptions(withOptions(options, { dataset: 'math', testSize: 500, finalTestSize: 501 }))).toThrow(
      /--final-test-size 501: --dataset math holds out only its last --test-size 500 problems/,
    );
    expect(() => validateTrainOptions(withOptions(options, { dataset: 'math', testSize: 500, finalTestSize: 500 }))).not.toThrow();
    expect(() => validateTrainOptions(withOptions(options, { dataset: 'gsm8k', testSize: 200, finalTestSize: 1000 }))).not.toThrow();
  });

  it("a run directory is locked while it runs: a live holder is an error, a dead one's lock is taken over", async () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-lock-'));
    const out = join(root, 'run');
    mkdirSync(out);
    writeFileSync(join(out, '.lock'), `${process.pid}\n`); // a live process holds it
    await expect(runTraining(microOptions(out, { rounds: 1 }))).rejects.toThrow(
      new RegExp(`--out ${out}: another process \\(pid ${process.pid}\\) is running there`),
    );
    expect(readdirSync(out)).toEqual(['.lock']); // nothing written, nothing taken
    let dead = 999_999;
    while (isAlive(dead)) dead -= 1;
    writeFileSync(join(out, '.lock'), `${dead}\n`); // its process was killed
    await runTraining(microOptions(out, { rounds: 1 }));
    expect(readdirSync(out)).not.toContain('.lock'); // released at the end
    expect(readdirSync(out)).toContain('metrics.jsonl');
    // a run that fails before writing anything leaves no directory behind
    await expect(runTraining(withOptions(microOptions(join(root, 'bad')), { dataset: '/no/file.jsonl' }))).rejects.toThrow(
      /file not found/,
    );
    expect(existsSync(join(root, 'bad'))).toBe(false);
  });

  it.each([
    ['self-verification only', {}],
    [
      'doubt-selected external verification',
      { externalVerifier: 'oracle', externalBudget: 3, allocation: 'uniform', externalSelect: 'doubt' as const },
    ],
  ])('a run killed mid-round and resumed gives the metrics of an uninterrupted run (%s)', async (_name, extra: FlatOptions) => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-resume-'));
    const options = (out: string) => microOptions(out, { rounds: 3, verifier: 'majority', ...extra });
    const whole = await runTraining(options(join(root, 'whole')));

    const controller = new AbortController();
    let trainCalls = 0;
    await expect(
      runTraining(options(join(root, 'killed')), {
        signal: controller.signal,
        progress: (stage) => {
          if (stage === 'train' && ++trainCalls === 3) controller.abort(); // round 2, after its first step
        },
      }),
    ).rejects.toThrow(/aborted/);
    const partial = readFileSync(join(root, 'killed', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(partial.map((l) => JSON.parse(l).t)).toEqual([0, 0.5, 1, 1.5]); // round 2's mid-round point was written, the round never finished
    const resumed = await runTraining(withOptions(options(join(root, 'killed')), { resume: true }));
    const strip = (m: MetricsRecord) => ({ ...m, timing: undefined, tokensPerSecond: undefined });
    expect(resumed.metrics.map(strip)).toEqual(whole.metrics.map(strip));
    const asked = [1, 2, 3].flatMap((r) =>
      readFileSync(join(root, 'killed', 'samples', `round-${r}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((q) => q.external)
        .map((q) => q.idx),
    );
    expect(asked).toHaveLength(extra.externalBudget ?? 0);
    expect(new Set(asked).size).toBe(asked.length); // the questions asked before the kill are remembered after it
  });

  it('--resume keeps the saved round count unless --rounds extends it', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-extend-')), 'run');
    await runTraining(microOptions(out, { rounds: 1, verifier: 'likelihood' }));
    const again = await runTraining(withOptions(microOptions(out, { verifier: 'likelihood' }), { resume: true })); // rounds 2 by default, not asked for
    expect(again.metrics.map((m) => m.t)).toEqual([0, 0.5, 1]);
    const extended = await runTraining(withOptions(microOptions(out, { verifier: 'likelihood' }), { resume: true, extendRounds: 2 }));
    expect(extended.metrics.map((m) => m.t)).toEqual([0, 0.5, 1, 1.5, 2]);
  });

  it('progress on a non-terminal stream writes plain lines', () => {
    let text = '';
    const stream = new Writable({
      write(chunk, _enc, done) {
        text += String(chunk);
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    const { progress, log } = makeProgress(stream);
    for (let i = 1; i <= 100; i++) progress('sample', i, 100);
    log('t=0.50 U_s=1.0');
    const lines = text.trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(lines[lines.length - 2]).toMatch(/^sample 100\/100/);
    expect(lines[lines.length - 1]).toBe('t=0.50 U_s=1.0');
    expect(text).not.toMatch(/\u001b\[/); // no terminal control codes in logs
  });
});
