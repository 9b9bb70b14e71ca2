import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, preferredEmbedMode } from '../src/engine/index.js';
import { initModel, forward } from '../src/model/model.js';
import { DEFAULT_OPTIMIZER, initAdamW, trainStep, type TrainBatch } from '../src/model/train.js';
import { MICRO } from './helpers.js';

describe('wasm backend', () => {
  it('trains the model (one-hot embedding, no gather gradient needed) and agrees with cpu', async () => {
    const info = await initBackend({ backend: 'wasm', threads: 1 });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(preferredEmbedMode()).toBe('onehot');
    const model = initModel(MICRO, 1, preferredEmbedMode());
    const rows = Array.from({ length: 8 }, (_, b) => Array.from({ length: 13 }, (_, t) => (b + 3 * t) % 12));
    const batch: TrainBatch = {
      inputs: rows.map((r) => r.slice(0, 12)),
      targets: rows.map((r) => r.slice(1)),
      weights: rows.map(() => Array(12).fill(1)),
    };
    const tokens = [[1, 2, 3, 4]];
    const wasmLogits = forward(model, tf.tensor2d(tokens, undefined, 'int32')).logits.arraySync();
    const state = initAdamW(model.params);
    const config = { ...DEFAULT_OPTIMIZER, lr: 1e-2, warmupSteps: 5, totalSteps: 40 };
    const first = trainStep(model, state, config, batch).loss;
    let last = first;
    for (let i = 0; i < 39; i++) last = trainStep(model, state, config, batch).loss;
    expect(last).toBeLessThan(0.5 * first);

    // the same initial weights on cpu give the same logits
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const reference = initModel(MICRO, 1, 'gather');
    const cpuLogits = forward(reference, tf.tensor2d(tokens, undefined, 'int32')).logits.arraySync();
    cpuLogits[0].forEach((row, t) => row.forEach((v, i) => expect(wasmLogits[0][t][i]).toBeCloseTo(v, 4)));
  });
});
