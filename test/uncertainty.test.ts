// The paper's uncertainty (U = total sequence NLL) and the scorer's per-token diagnostics against plain JS computed
// here from the model's logits: next-token entropy H(p) and self-certainty KL(U‖p) (uniform first), averaged over the
// response; U_s, U_v and G from hand-made responses whose total and length-normalised NLL disagree.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/index.js';
import { forward, initModel } from '../src/model/model.js';
import { score } from '../src/model/sample.js';
import { type ResponseUncertainty, gap, responseUncertainty, solverUncertainty, verifierUncertainty } from '../src/uncertainty/index.js';
import { MICRO } from './helpers.js';

/** log-softmax of one row of logits, in float64. */
function logSoftmax(z: number[]): number[] {
  const max = Math.max(...z);
  const logZ = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
  return z.map((v) => v - logZ);
}

interface PlainScore {
  nll: number;
  entropy: number;
  selfCertainty: number;
  reverseKl: number; // KL(p‖U): what a scorer with the KL the wrong way round would report
}

/** From the logits of prompt+response alone (no batch, no padding): the response's total NLL and its mean per-token diagnostics. */
function plainScore(logits: number[][], prompt: number[], response: number[]): PlainScore {
  const vocab = logits[0].length;
  const sum = { nll: 0, entropy: 0, selfCertainty: 0, reverseKl: 0 };
  response.forEach((token, j) => {
    const logP = logSoftmax(logits[prompt.length - 1 + j]); // the position before the token predicts it
    const p = logP.map(Math.exp);
    sum.nll -= logP[token];
    sum.entropy -= p.reduce((s, pv, v) => s + pv * logP[v], 0);
    sum.selfCertainty += logP.reduce((s, lp) => s + (1 / vocab) * (Math.log(1 / vocab) - lp), 0); // Σ_v U_v log(U_v / p_v)
    sum.reverseKl += p.reduce((s, pv, v) => s + pv * (logP[v] - Math.log(1 / vocab)), 0); // Σ_v p_v log(p_v / U_v)
  });
  const n = response.length;
  return { nll: sum.nll, entropy: sum.entropy / n, selfCertainty: sum.selfCertainty / n, reverseKl: sum.reverseKl / n };
}

describe('the scorer against plain JS', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('total NLL, per-token entropy and self-certainty KL(U‖p) of every response, across batches and padding', () => {
    const model = initModel({ ...MICRO, initializer_range: 1.0 }, 8); // peaked next-token distributions: KL(U‖p) and KL(p‖U) differ widely
    const prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [3], [10, 11]];
    const responses = [[4, 12], [6, 7, 8, 1, 12], [10], [2, 5, 9, 11], [0, 3, 3]];
    const scored = score(model, prompts, responses, { padId: 0, batchSize: 2 }); // three batches, each right-padded to its longest row
    const uncertainty = responseUncertainty(model, prompts, responses, { padId: 0, batchSize: 3 });
    let reverseApart = 0;
    prompts.forEach((prompt, i) => {
      const sequence = [...prompt, ...responses[i]];
      const logits = tf.tidy(() => forward(model, tf.tensor2d([sequence], undefined, 'int32')).logits.arraySync()[0]);
      const plain = plainScore(logits, prompt, responses[i]);
      const length = responses[i].length;
      expect(scored.length[i]).toBe(length);
      expect(scored.nll[i], `row ${i} NLL`).toBeCloseTo(plain.nll, 4);
      expect(scored.normalizedNll[i], `row ${i} normalised NLL`).toBeCloseTo(plain.nll / length, 4);
      expect(scored.entropy[i], `row ${i} entropy`).toBeCloseTo(plain.entropy, 4);
      expect(scored.selfCertainty[i], `row ${i} self-certainty`).toBeCloseTo(plain.selfCertainty, 4);
      expect(uncertainty[i]).toEqual({
        nll: expect.closeTo(plain.nll, 4),
        normalizedNll: expect.closeTo(plain.nll / length, 4),
        length,
        entropy: expect.closeTo(plain.entropy, 4),
        selfCertainty: expect.closeTo(plain.selfCertainty, 4),
      });
      reverseApart = Math.max(reverseApart, Math.abs(plain.reverseKl - plain.selfCertainty));
    });
    expect(reverseApart).toBeGreaterThan(0.1); // the data tells KL(U‖p) from KL(p‖U)
  });

  it('the batch size (default 32, or one that divides the rows) changes nothing, and scoring leaks no tensors', () => {
    const model = initModel(MICRO, 9);
    const prompts = [[1, 2], [3, 4, 5], [6], [7, 8]];
    const responses = [[9, 10], [11], [12, 1, 2], [3]];
    const before = tf.memory().numTensors;
    const one = score(model, prompts, responses, { padId: 0, batchSize: 1 });
    expect(tf.memory().numTensors).toBe(before);
    for (const batchSize of [2, 4, undefined]) {
      const batched = score(model, prompts, responses, { padId: 0, batchSize });
      for (const key of ['nll', 'normalizedNll', 'entropy', 'selfCertainty'] as const) {
        expect(batched[key], `${key}, batch size ${batchSize}`).toHaveLength(4);
        batched[key].forEach((v, i) => expect(v, `${key}[${i}], batch size ${batchSize}`).toBeCloseTo(one[key][i], 5));
      }
      expect(batched.length).toEqual([2, 1, 3, 1]);
    }
  });
});

describe('U_s, U_v and G', () => {
  // total NLL and NLL per token rank these responses differently, so a length-normalised U gives other numbers
  const response = (nll: number, length: number): ResponseUncertainty => ({
    nll,
    normalizedNll: nll / length,
    length,
    entropy: 1,
    selfCertainty: 1,
  });
  const sampled = [response(12, 6), response(3, 1), response(8, 2), response(1, 4)];
  const picks = [response(3, 1), response(1, 4)];

  it("are means of the total sequence NLL (the paper's U), not of the NLL per token", () => {
    expect(solverUncertainty(sampled)).toBeCloseTo((12 + 3 + 8 + 1) / 4, 12);
    expect(verifierUncertainty(picks)).toBeCloseTo((3 + 1) / 2, 12);
    expect(gap(sampled, picks)).toBeCloseTo(6 - 2, 12);
    expect((2 + 3 + 4 + 0.25) / 4).not.toBeCloseTo(6, 1); // what the per-token mean would have been
  });

  it('of no responses is an error, not NaN', () => {
    expect(() => solverUncertainty([])).toThrow(/mean of no values/);
    expect(() => verifierUncertainty([])).toThrow(/mean of no values/);
  });
});
