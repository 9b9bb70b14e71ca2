// src/model/train.ts's optimizer step by step against a plain-JS one written here from the formulas: AdamW
// (Loshchilov & Hutter) with Adam's bias-corrected moments (Kingma & Ba, Alg. 1), weight decay decoupled from the
// gradient and applied to matrices only, global-norm clipping as torch.nn.utils.clip_grad_norm_ does it, and the
// linear warm-up + cosine learning-rate schedule.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/index.js';
import { forward, initModel, trainableParams } from '../src/model/model.js';
import {
  DEFAULT_OPTIMIZER,
  type OptimizerConfig,
  type TrainBatch,
  batchTensors,
  disposeAdamW,
  initAdamW,
  learningRate,
  maskedLoss,
  trainStep,
} from '../src/model/train.js';
import { MICRO, randomBatch } from './helpers.js';

/** Warm-up from lr/warmup to lr over the first warmupSteps steps (step counts from 0), then cosine to minLr at totalSteps, then minLr. */
function plainLearningRate(c: OptimizerConfig, step: number): number {
  if (step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  if (step >= c.totalSteps) return c.minLr;
  const progress = (step - c.warmupSteps) / (c.totalSteps - c.warmupSteps);
  return c.minLr + ((c.lr - c.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
}

/** What a faulty optimizer would do instead: used to show that the test tells it from the right one. */
interface Fault {
  noBiasCorrection2?: boolean;
  noClipping?: boolean;
}

interface PlainAdamW {
  params: Record<string, Float64Array>;
  rank: Record<string, number>;
  m: Record<string, Float64Array>;
  v: Record<string, Float64Array>;
  t: number;
}

function plainAdamW(params: Record<string, tf.Variable>): PlainAdamW {
  const copy = (f: (v: tf.Variable) => Float64Array) => Object.fromEntries(Object.entries(params).map(([n, v]) => [n, f(v)]));
  return {
    params: copy((v) => Float64Array.from(v.dataSync())),
    rank: Object.fromEntries(Object.entries(params).map(([n, v]) => [n, v.rank])),
    m: copy((v) => new Float64Array(v.size)),
    v: copy((v) => new Float64Array(v.size)),
    t: 0,
  };
}

/** One AdamW step on gradients taken at the current parameters; returns the pre-clip global norm. */
function plainStep(s: PlainAdamW, grads: Record<string, Float64Array>, c: OptimizerConfig, lr: number, fault: Fault = {}): number {
  s.t += 1;
  const norm = Math.sqrt(Object.values(grads).reduce((sum, g) => sum + g.reduce((a, x) => a + x * x, 0), 0));
  const clip = fault.noClipping ? 1 : Math.min(1, c.clipNorm / (norm + 1e-6)); // clip_grad_norm_'s max_norm / (norm + 1e-6)
  for (const [name, g] of Object.entries(grads)) {
    const p = s.params[name];
    const m = s.m[name];
    const v = s.v[name];
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * clip;
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
      const mHat = m[i] / (1 - c.beta1 ** s.t);
      const vHat = fault.noBiasCorrection2 ? v[i] : v[i] / (1 - c.beta2 ** s.t);
      const decay = s.rank[name] >= 2 ? c.weightDecay * p[i] : 0;
      p[i] = p[i] - lr * (mHat / (Math.sqrt(vHat) + c.eps) + decay);
    }
  }
  return norm;
}

/** The loss gradient at the model's current parameters, taken here (not by the optimizer under test). */
function gradientsAt(params: Record<string, tf.Variable>, loss: () => tf.Scalar): Record<string, Float64Array> {
  const names = Object.keys(params);
  const { value, grads } = tf.variableGrads(
    loss,
    names.map((n) => params[n]),
  );
  const out = Object.fromEntries(names.map((n) => [n, Float64Array.from(grads[params[n].name].dataSync())]));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

function largestDifference(params: Record<string, tf.Variable>, reference: Record<string, Float64Array>): number {
  let worst = 0;
  for (const [name, v] of Object.entries(params))
    v.dataSync().forEach((x, i) => (worst = Math.max(worst, Math.abs(x - reference[name][i]))));
  return worst;
}

function distance(a: Record<string, Float64Array>, b: Record<string, Float64Array>): number {
  return Math.max(...Object.keys(a).map((n) => Math.max(...a[n].map((x, i) => Math.abs(x - b[n][i])))));
}

const TOLERANCE = 2e-6; // float32 against float64, over a few steps of size ~lr

describe('AdamW, clipping and the schedule against a plain-JS optimizer', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('the learning rate warms up linearly, decays by a cosine to minLr at totalSteps and stays there', () => {
    const c = { lr: 3e-3, minLr: 3e-4, warmupSteps: 4, totalSteps: 12 } as OptimizerConfig;
    for (let step = 0; step <= 15; step++) expect(learningRate(c, step), `step ${step}`).toBeCloseTo(plainLearningRate(c, step), 15);
    expect(learningRate(c, 3)).toBeCloseTo(3e-3, 15); // the warm-up ends at the peak
    expect(learningRate(c, 8)).toBeCloseTo((3e-3 + 3e-4) / 2, 15); // half-way down the cosine
    const noWarmup = { ...c, warmupSteps: 0 };
    for (let step = 0; step <= 13; step++) expect(learningRate(noWarmup, step)).toBeCloseTo(plainLearningRate(noWarmup, step), 15);
  });

  it.each([
    ['clipping active (gradient norm above clipNorm)', 0.5],
    ['clipping inactive (clipNorm far above the gradient norm)', 1e3],
  ])('seven steps match the plain-JS AdamW: %s', (_name, clipNorm) => {
    // eps comparable to the clipped gradients, so clipping changes Adam's step already at t = 1 (not only through m/√v)
    const c: OptimizerConfig = {
      lr: 1e-2,
      minLr: 1e-3,
      warmupSteps: 2,
      totalSteps: 5,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-3,
      weightDecay: 0.2,
      clipNorm,
    };
    const config = { ...MICRO, num_hidden_layers: 1 };
    const model = initModel(config, 5);
    const params = trainableParams(model);
    expect(Object.values(params).some((v) => v.rank === 1)).toBe(true); // the norm gains, which are not decayed
    const state = initAdamW(params);
    const reference = plainAdamW(params);
    const faulty = { noBiasCorrection2: plainAdamW(params), noClipping: plainAdamW(params) };
    for (let step = 0; step < 7; step++) {
      const batch: TrainBatch = randomBatch(20 + step, 3, 7, config.vocab_size);
      const grads = gradientsAt(params, () => {
        const t = batchTensors(batch);
        return maskedLoss(forward(model, t.inputs).logits, t.targets, t.weights);
      });
      const lr = plainLearningRate(c, step);
      const result = trainStep(model, state, c, batch);
      const norm = plainStep(reference, grads, c, lr);
      plainStep(faulty.noBiasCorrection2, grads, c, lr, { noBiasCorrection2: true });
      plainStep(faulty.noClipping, grads, c, lr, { noClipping: true });
      expect(result.lr, `step ${step}`).toBeCloseTo(lr, 12);
      expect(Math.abs(result.gradNorm - norm) / norm, `step ${step}: gradient norm ${result.gradNorm} vs ${norm}`).toBeLessThan(1e-5);
      if (clipNorm < 1) expect(norm).toBeGreaterThan(1.5 * clipNorm);
      expect(state.step).toBe(step + 1);
      expect(largestDifference(params, reference.params), `step ${step}`).toBeLessThan(TOLERANCE);
    }
    // the comparison can fail: an optimizer without v's bias correction (or, with clipping active, without clipping) lands far away
    expect(distance(faulty.noBiasCorrection2.params, reference.params)).toBeGreaterThan(100 * TOLERANCE);
    if (clipNorm < 1) expect(distance(faulty.noClipping.params, reference.params)).toBeGreaterThan(100 * TOLERANCE);
    else expect(distance(faulty.noClipping.params, reference.params)).toBe(0);
    disposeAdamW(state);
  });

  it('a non-finite loss stops training with the step and what to do; disposing the state frees both moments', () => {
    const model = initModel({ ...MICRO, num_hidden_layers: 1 }, 6);
    const params = trainableParams(model);
    const before = tf.memory().numTensors;
    const state = initAdamW(params);
    expect(tf.memory().numTensors).toBe(before + 2 * Object.keys(params).length);
    const batch = randomBatch(1, 2, 5, MICRO.vocab_size);
    trainStep(model, state, { ...DEFAULT_OPTIMIZER, warmupSteps: 0 }, batch);
    const norm = params['model.norm.weight'];
    tf.tidy(() => norm.assign(tf.fill(norm.shape, Number.NaN)));
    expect(() => trainStep(model, state, DEFAULT_OPTIMIZER, batch)).toThrow(
      /training diverged at step 2: loss NaN, gradient norm NaN \(lower --lr or check the data\)/,
    );
    disposeAdamW(state);
    expect(tf.memory().numTensors).toBe(before);
  });
});
