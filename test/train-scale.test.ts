// Training at scale (src/model/train.ts, sample.ts): the chunked gather-based loss against the one-hot loss, gradient
// accumulation over micro-batches against one full batch, per-layer recomputation against plain autodiff, and the
// chunked scorer against the unchunked one.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { type Model, addLora, disposeModel, forward, initModel, trainableParams } from '../src/model/model.js';
import { score } from '../src/model/sample.js';
import {
  DEFAULT_OPTIMIZER,
  type StepOptions,
  type TrainBatch,
  batchGradients,
  disposeAdamW,
  initAdamW,
  microBatches,
  trainStep,
} from '../src/model/train.js';
import { MICRO, randomBatch } from './helpers.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

/** A batch of rows of different lengths (right-padded, weights only on each row's own tokens). */
function raggedBatch(seed: number, lengths: number[], vocab: number): TrainBatch {
  const time = Math.max(...lengths);
  const full = randomBatch(seed, lengths.length, time, vocab);
  full.weights = full.weights.map((row, b) => row.map((w, t) => (t < lengths[b] ? w : 0)));
  full.inputs = full.inputs.map((row, b) => row.map((id, t) => (t < lengths[b] ? id : 0)));
  return full;
}

function gradientsOf(model: Model, batch: TrainBatch, options: StepOptions): { loss: number; grads: Record<string, Float32Array> } {
  return tf.tidy(() => {
    const { value, grads } = batchGradients(model, batch, options);
    return {
      loss: value.dataSync()[0],
      grads: Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, g.dataSync() as Float32Array])),
    };
  });
}

function maxAbsDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let worst = 0;
  for (const name of Object.keys(a)) a[name].forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[name][i]))));
  return worst;
}

const maxAbs = (g: Record<string, Float32Array>) => Math.max(...Object.values(g).map((v) => Math.max(...Array.from(v, Math.abs))));

const VARIANTS: [string, (m: Model) => void, Partial<typeof MICRO>][] = [
  ['LoRA', (m) => void addLora(m, { rank: 4, alpha: 8, targets: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] }, 9), {}],
  ['full fine-tuning, untied head', () => {}, {}],
  ['full fine-tuning, tied head', () => {}, { tie_word_embeddings: true }],
  ['full fine-tuning, sliding window 4', () => {}, { sliding_window: 4 }], // masks shared by the layers' scopes
];

/** Loss and gradients under each of `variants` equal the default one-pass one-hot path's, to 1e-5. */
function expectGradientsOfOneHotPass(
  prepare: (m: Model) => void,
  change: Partial<typeof MICRO>,
  seed: number,
  variants: StepOptions[],
): void {
  const model = initModel({ ...MICRO, ...change }, seed);
  prepare(model);
  if (model.lora) for (const v of Object.values(model.lora.params)) v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', seed)); // B ≠ 0: gradients reach A too
  const batch = raggedBatch(seed + 1, [9, 5, 7], MICRO.vocab_size);
  const reference = gradientsOf(model, batch, {});
  expect(maxAbs(reference.grads)).toBeGreaterThan(1e-3); // the comparison is not between zeros
  for (const options of variants) {
    const other = gradientsOf(model, batch, options);
    expect(other.loss).toBeCloseTo(reference.loss, 5);
    expect(maxAbsDiff(other.grads, reference.grads), JSON.stringify(options)).toBeLessThan(1e-5);
  }
  disposeModel(model);
}

describe('gather-based chunked loss', () => {
  it.each(VARIANTS)('%s: loss and gradients equal the one-hot loss to 1e-5, for any chunk size', (_name, prepare, change) => {
    expectGradientsOfOneHotPass(prepare, change, 5, [{ logitChunk: 1 }, { logitChunk: 4 }, { logitChunk: 1000 }]);
  });

  it('the loss is the mean NLL of the weighted targets, computed independently in plain JS from the logits', () => {
    const model = initModel(MICRO, 6);
    const batch = raggedBatch(3, [6, 4], MICRO.vocab_size);
    // independent reference: log-sum-exp by hand over forward's logits
    const values = tf.tidy(() => forward(model, tf.tensor2d(batch.inputs, undefined, 'int32')).logits.arraySync() as number[][][]);
    let sum = 0;
    let count = 0;
    batch.targets.forEach((row, b) =>
      row.forEach((target, t) => {
        if (batch.weights[b][t] === 0) return;
        const z = values[b][t];
        const max = Math.max(...z);
        sum += max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0)) - z[target];
        count += 1;
      }),
    );
    expect(gradientsOf(model, batch, { logitChunk: 3 }).loss).toBeCloseTo(sum / count, 5);
    disposeModel(model);
  });
});

describe('micro-batches and gradient accumulation', () => {
  it('microBatches pads each micro-batch to its own longest row', () => {
    const batch = raggedBatch(2, [3, 8, 4, 2, 5], MICRO.vocab_size);
    const parts = microBatches(batch, 2);
    expect(parts.map((p) => p.inputs.length)).toEqual([2, 2, 1]);
    expect(parts.map((p) => p.inputs[0].length)).toEqual([8, 4, 5]);
    expect(parts.flatMap((p) => p.weights.map((row) => row.reduce((s, w) => s + w, 0)))).toEqual(
      batch.weights.map((row) => row.reduce((s, w) => s + w, 0)),
    );
  });

  it.each([
    [1, 0],
    [2, 0],
    [2, 3],
    [4, 0],
  ])('micro-batch %i (logit chunk %i): one AdamW step gives the parameters of one full-batch step within 1e-5', (micro, logitChunk) => {
    const batch = raggedBatch(7, [9, 5, 7, 3, 8], MICRO.vocab_size);
    const run = (options: StepOptions) => {
      const model = initModel(MICRO, 8);
      const state = initAdamW(trainableParams(model));
      const config = { ...DEFAULT_OPTIMIZER, warmupSteps: 0, lr: 1e-2 };
      const losses = [trainStep(model, state, config, batch, options).loss, trainStep(model, state, config, batch, options).loss];
      const params = Object.fromEntries(Object.entries(model.params).map(([n, v]) => [n, v.dataSync() as Float32Array]));
      disposeAdamW(state);
      disposeModel(model);
      return { losses, params };
    };
    const full = run({});
    const accumulated = run({ microBatch: micro, logitChunk });
    expect(accumulated.losses[0]).toBeCloseTo(full.losses[0], 5);
    expect(accumulated.losses[1]).toBeCloseTo(full.losses[1], 5);
    expect(maxAbsDiff(accumulated.params, full.params)).toBeLessThan(1e-5);
    // and the step moved them: the comparison is not between untouched initial weights
    const initial = initModel(MICRO, 8);
    expect(
      maxAbsDiff(full.params, Object.fromEntries(Object.entries(initial.params).map(([n, v]) => [n, v.dataSync() as Float32Array]))),
    ).toBeGreaterThan(1e-3);
    disposeModel(initial);
  });
});

describe('per-layer recomputation', () => {
  it.each(VARIANTS)(
    '%s: gradients equal plain autodiff to 1e-5 (one-hot and chunked loss, with micro-batches)',
    (_name, prepare, change) => {
      expectGradientsOfOneHotPass(prepare, change, 13, [
        { recompute: true },
        { recompute: true, logitChunk: 4 },
        { recompute: true, microBatch: 2, logitChunk: 2 },
      ]);
    },
  );

  it('keeps no layer activations between steps: no tensors leak', () => {
    const model = initModel(MICRO, 1);
    const batch = raggedBatch(1, [6, 4], MICRO.vocab_size);
    gradientsOf(model, batch, { recompute: true, microBatch: 1, logitChunk: 2 }); // warm-up allocations
    const before = tf.memory().numTensors;
    gradientsOf(model, batch, { recompute: true, microBatch: 1, logitChunk: 2 });
    expect(tf.memory().numTensors).toBe(before);
    disposeModel(model);
  });
});

describe('chunked scoring', () => {
  it('NLL, entropy and self-certainty with chunked logits equal the unchunked scorer', () => {
    const model = initModel({ ...MICRO, initializer_range: 0.5 }, 21);
    const prompts = [
      [1, 2, 3],
      [4, 5],
      [6, 7, 8, 9, 10],
    ];
    const responses = [[3, 4, 5, 6], [7], [8, 9, 2]];
    const reference = score(model, prompts, responses, { padId: 0, batchSize: 2 });
    for (const logitChunk of [1, 3, 100]) {
      const chunked = score(model, prompts, responses, { padId: 0, batchSize: 2, logitChunk });
      expect(chunked.length).toEqual(reference.length);
      for (const key of ['nll', 'normalizedNll', 'entropy', 'selfCertainty'] as const) {
        chunked[key].forEach((x, i) => expect(x, `${key}[${i}] chunk ${logitChunk}`).toBeCloseTo(reference[key][i], 5));
      }
    }
    expect(Math.min(...reference.nll)).toBeGreaterThan(0.1);
    disposeModel(model);
  });
});

describe('flags', () => {
  it('--micro-batch, --logit-chunk and --recompute are checked, naming the flag', async () => {
    const { TRAIN_DEFAULTS, validateTrainOptions, withOptions } = await import('../src/loop/options.js');
    const options = (values: Parameters<typeof withOptions>[1]) => withOptions(TRAIN_DEFAULTS, values);
    expect(() => validateTrainOptions(options({ microBatch: 0 }))).toThrow(/--micro-batch/);
    expect(() => validateTrainOptions(options({ microBatch: 1.5 }))).toThrow(/--micro-batch/);
    expect(() => validateTrainOptions(options({ logitChunk: -1 }))).toThrow(/--logit-chunk/);
    expect(() => validateTrainOptions(options({ recompute: 'yes' as unknown as boolean }))).toThrow(/--recompute/);
    expect(() => validateTrainOptions(options({ microBatch: 2, logitChunk: 0, recompute: true }))).not.toThrow();
  });
});
