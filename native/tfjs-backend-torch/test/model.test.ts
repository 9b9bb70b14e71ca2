// The project's model on 'torch' versus 'cpu': a full AdamW training step, sampling, and the uncertainty scorer give
// the same numbers; the hot paths hit no cpu fallback; native memory stays flat over 200 steps.
import { describe, expect, it } from 'vitest';
import { BUILD_NATIVE, requireOrSkip } from '../../../test/helpers.js';
import * as tf from '@tensorflow/tfjs';
import { fallbackCounts, registerTorchBackend, resetFallbackCounts } from '../lib/index.js';
import type { TorchMemoryInfo } from '../lib/index.js';
import { DEFAULT_OPTIMIZER, disposeAdamW, disposeModel, initAdamW, initModel, trainStep } from '../../../src/model/index.js';
import { HARNESS_CONFIG, compareRuns, randomBatch, runModel } from './model-harness.js';

const device = (process.env.TORCH_DEVICE ?? 'cpu') as 'cpu' | 'cuda' | 'auto';
const registration = registerTorchBackend({ device });
const available = requireOrSkip(
  `the native torch addon on ${device}`,
  registration.available,
  `${BUILD_NATIVE} (${registration.available ? '' : registration.reason})`,
);
const suite = available ? describe : describe.skip;

suite(`the model on torch (${device}) matches cpu`, () => {
  it('training steps, sampling and scoring agree; no kernel falls back', async () => {
    const cpu = await runModel('cpu');
    resetFallbackCounts();
    const torch = await runModel('torch');
    expect(fallbackCounts(), 'kernels that fell back to cpu').toEqual({});
    console.log(`kernels used by the train step, sampler and scorer: ${torch.kernels.join(' ')}`);
    for (const check of compareRuns(torch, cpu)) expect(check.ok, `${check.name}: ${check.detail}`).toBe(true);
  });

  it('keeps native memory flat over 200 training steps', async () => {
    await tf.setBackend('torch');
    const config = {
      ...HARNESS_CONFIG,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 48,
      vocab_size: 32,
    };
    const model = initModel(config, 3, 'gather');
    const state = initAdamW(model.params);
    const batch = randomBatch(2, 2, 8, config.vocab_size);
    const memory = () => tf.memory() as unknown as TorchMemoryInfo & tf.MemoryInfo;
    for (let i = 0; i < 10; i++) trainStep(model, state, DEFAULT_OPTIMIZER, batch);
    const before = memory();
    for (let i = 0; i < 190; i++) trainStep(model, state, DEFAULT_OPTIMIZER, batch);
    const after = memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numNativeTensors).toBe(before.numNativeTensors);
    expect(after.numNativeBytes).toBe(before.numNativeBytes);
    disposeAdamW(state);
    disposeModel(model);
  });
});
