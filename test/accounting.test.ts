// Issue 19's accounting beside the uncertainties: pass@k (unbiased estimator), per-token NLL, answer diversity.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { forward, initModel } from '../src/model/model.js';
import { answerGroups, passAtK, passAtKValues } from '../src/loop/evaluate.js';
import { perTokenUncertainty, responseUncertainty, solverUncertainty } from '../src/uncertainty/index.js';
import { MICRO } from './helpers.js';

/** pass@k by brute force: the share of the C(n, k) k-subsets of n samples (c correct) that hold a correct one. */
function passAtKByCounting(n: number, c: number, k: number): number {
  let hit = 0;
  let total = 0;
  const visit = (start: number, left: number, anyCorrect: boolean) => {
    if (left === 0) {
      total += 1;
      if (anyCorrect) hit += 1;
      return;
    }
    for (let i = start; i <= n - left; i++) visit(i + 1, left - 1, anyCorrect || i < c); // samples 0..c−1 are the correct ones
  };
  visit(0, k, false);
  return hit / total;
}

describe('pass@k', () => {
  it('matches hand-counted cases', () => {
    expect(passAtK(4, 1, 1)).toBeCloseTo(1 / 4, 15); // one correct of four, one draw
    expect(passAtK(4, 1, 2)).toBeCloseTo(3 / 6, 15); // 3 of the 6 pairs contain it
    expect(passAtK(4, 2, 2)).toBeCloseTo(5 / 6, 15); // only the pair of the two wrong ones misses
    expect(passAtK(5, 2, 3)).toBeCloseTo(9 / 10, 15); // 1 of the 10 triples is all wrong
    expect(passAtK(16, 0, 16)).toBe(0);
    expect(passAtK(16, 16, 1)).toBe(1);
    expect(passAtK(16, 1, 16)).toBe(1);
  });

  it('matches enumeration of all k-subsets for every c and k up to n = 10', () => {
    for (let n = 1; n <= 10; n++)
      for (let c = 0; c <= n; c++)
        for (let k = 1; k <= n; k++) expect(passAtK(n, c, k), `n=${n} c=${c} k=${k}`).toBeCloseTo(passAtKByCounting(n, c, k), 13);
  });

  it('pass@1 is the share correct, and it stays exact where binomials overflow', () => {
    for (let c = 0; c <= 16; c++) expect(passAtK(16, c, 1)).toBeCloseTo(c / 16, 15);
    // C(2000, 1000) overflows a double; one correct of 2000 drawn 1000 times is found half the time
    expect(passAtK(2000, 1, 1000)).toBeCloseTo(0.5, 14);
    expect(passAtK(2000, 3, 1000)).toBeCloseTo(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), 14);
  });

  it('rejects impossible counts and lists k = 1, 2, 4, …, N', () => {
    expect(() => passAtK(4, 5, 1)).toThrow(/0 ≤ c ≤ n/);
    expect(() => passAtK(4, 1, 5)).toThrow(/1 ≤ k ≤ n/);
    expect(passAtKValues(16)).toEqual([1, 2, 4, 8, 16]);
    expect(passAtKValues(6)).toEqual([1, 2, 4, 6]);
    expect(passAtKValues(1)).toEqual([1]);
  });
});

describe('answer diversity', () => {
  const group = (answers: (string | null)[]) => answers.map((answer) => ({ answer, correct: answer === '3' }));

  it('counts distinct final answers, equal numbers being one answer and missing answers none', () => {
    expect(answerGroups(group(['3', '3', '3', '3']))).toHaveLength(1);
    expect(answerGroups(group(['3', '4', '5', '6']))).toHaveLength(4);
    expect(answerGroups(group(['3', '3.0', '03', '-3']))).toHaveLength(2); // 3 = 3.0 = 03, not −3
    expect(answerGroups(group([null, null, '7', null]))).toHaveLength(1);
    expect(answerGroups(group([null, null]))).toHaveLength(0);
    const counted = answerGroups(group(['3', '4', '3', null, '4', '3']));
    expect(counted.map((g) => [g.answer, g.count, g.correct])).toEqual([
      ['3', 3, true],
      ['4', 2, false],
    ]);
  });
});

describe('per-token uncertainty', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('is Σ NLL / Σ tokens of the scorer, checked against log-softmax of the logits written out in plain JS', () => {
    const model = initModel(MICRO, 3);
    const prompts = [
      [1, 2, 3],
      [4, 5],
      [6, 7, 8, 9],
      [2, 2],
    ];
    const responses = [[5, 6, 12], [7], [3, 4, 5, 6, 7, 12], [9, 9]]; // hand-made candidates of lengths 3, 1, 6, 2
    const scored = responseUncertainty(model, prompts, responses, { padId: 0, batchSize: 3 }); // batched, padded
    let nll = 0;
    let tokens = 0;
    prompts.forEach((prompt, i) => {
      const sequence = [...prompt, ...responses[i]];
      const logits = tf.tidy(
        () => forward(model, tf.tensor2d([sequence.slice(0, -1)], undefined, 'int32')).logits.arraySync() as number[][][],
      )[0];
      let own = 0;
      for (let j = prompt.length - 1; j < sequence.length - 1; j++) {
        const row = logits[j];
        const max = Math.max(...row);
        const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        own += logSum - row[sequence[j + 1]]; // −log p(next token)
      }
      expect(scored[i].nll).toBeCloseTo(own, 4);
      expect(scored[i].length).toBe(responses[i].length);
      nll += own;
      tokens += responses[i].length;
    });
    expect(perTokenUncertainty(scored)).toBeCloseTo(nll / tokens, 4);
    // U = per-token U × mean length exactly, which is what lets a fall in U be split into the two
    const meanLength = tokens / responses.length;
    expect(perTokenUncertainty(scored) * meanLength).toBeCloseTo(solverUncertainty(scored), 12);
    // not the mean of the per-response normalised NLLs, which weighs a 1-token answer like a 6-token one
    const meanNormalised = scored.reduce((s, u) => s + u.normalizedNll, 0) / scored.length;
    expect(Math.abs(meanNormalised - nll / tokens)).toBeGreaterThan(1e-3);
  });

  it('refuses no responses and is 0 for empty ones', () => {
    expect(() => perTokenUncertainty([])).toThrow(/no responses/);
    expect(perTokenUncertainty([{ nll: 0, length: 0 }])).toBe(0);
  });
});

describe('the new fields of metrics.jsonl', () => {
  it('a micro run writes them, consistent with today’s fields, and fit reads them as series', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadTokenizer } = await import('../src/tokenizer/index.js');
    const { saveCheckpoint } = await import('../src/model/index.js');
    const { runTraining } = await import('../src/loop/run.js');
    const { trainOptionsFrom } = await import('../src/loop/options.js');
    const { readTrajectoryFile } = await import('../src/theory/index.js');
    const tokenizer = await loadTokenizer();
    const root = mkdtempSync(join(tmpdir(), 'svgap-accounting-'));
    const micro = join(root, 'micro');
    saveCheckpoint(micro, initModel({ ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 }, 3));
    const out = join(root, 'run');
    await runTraining(
      trainOptionsFrom({
        model: micro,
        out,
        backend: 'cpu',
        rounds: 1,
        poolSize: 4,
        samples: 4,
        maxNewTokens: 6,
        evalSize: 3,
        testSize: 2,
        testSamples: 3,
        batchSize: 2,
        sampleBatch: 8,
        verifier: 'majority',
        report: false,
        loraRank: 2,
        loraAlpha: 4,
      }),
    );
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines).toHaveLength(3);
    for (const m of lines) {
      expect(
        Object.keys(m)
          .filter((k) => k.startsWith('passAt'))
          .sort(),
      ).toEqual(['passAt1', 'passAt2', 'passAt4', 'passAtN']);
      expect(m.passAt1).toBeCloseTo(m.solverAccuracy, 12); // every question has N samples: mean of c/N is the share correct
      expect(m.passAt4).toBeCloseTo(m.passAtN, 12);
      expect(m.passAt1).toBeLessThanOrEqual(m.passAt2);
      expect(m.passAt2).toBeLessThanOrEqual(m.passAt4);
      expect(m.solverUncertaintyPerToken * m.meanResponseLength).toBeCloseTo(m.solverUncertainty, 9);
      expect(m.meanPickLength).toBeGreaterThan(0);
      expect(m.meanPickLength).toBeLessThanOrEqual(7); // at most max-new-tokens + EOS
      expect(m.verifierUncertaintyPerToken).toBeGreaterThan(0);
      expect(m.answerDiversity).toBeGreaterThanOrEqual(0);
      expect(m.answerDiversity).toBeLessThanOrEqual(4);
      // 2 test questions × 3 samples: a share in sixths
      expect(Number.isInteger(Math.round(m.testSampledAccuracy * 6 * 1e9) / 1e9)).toBe(true);
      expect(m.testSampledAccuracy).toBeGreaterThanOrEqual(0);
      expect(m.testSampledAccuracy).toBeLessThanOrEqual(1);
    }
    const perToken = readTrajectoryFile(join(out, 'metrics.jsonl'), {
      solverCol: 'solverUncertaintyPerToken',
      verifierCol: 'verifierUncertaintyPerToken',
    });
    expect(perToken.panels.default.solver).toEqual(lines.map((m) => m.solverUncertaintyPerToken));
    const lengths = readTrajectoryFile(join(out, 'metrics.jsonl'), { solverCol: 'meanResponseLength', verifierCol: 'meanPickLength' });
    expect(lengths.panels.default.verifier).toEqual(lines.map((m) => m.meanPickLength));
  }, 120_000);
});
