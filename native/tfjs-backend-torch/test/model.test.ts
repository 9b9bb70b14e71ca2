// The project's model on 'torch' versus 'cpu': a full AdamW training step, sampling, and the uncertainty scorer give
// the same numbers; the hot paths hit no cpu fallback; native memory stays flat over 200 steps.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fallbackCounts, registerTorchBackend, resetFallbackCounts } from '../lib/index.js';
import type { TorchMemoryInfo } from '../lib/index.js';
import {
  DEFAULT_OPTIMIZER, Rng, disposeAdamW, disposeModel, initAdamW, initModel, nextTokenLogProbs, presetConfig, sample, score, trainStep,
} from '../../../src/model/index.js';
import type { ModelConfig, TrainBatch } from '../../../src/model/index.js';

const device = (process.env.TORCH_DEVICE ?? 'cpu') as 'cpu' | 'cuda' | 'auto';
const registration = registerTorchBackend({ device });
if (!registration.available) console.log(`tfjs-backend-torch model tests skipped: ${registration.reason}`);
const suite = registration.available ? describe : describe.skip;

const CONFIG: ModelConfig = presetConfig('tiny', 64);

function randomBatch(seed: number, rows: number, cols: number, vocab: number): TrainBatch {
  const rng = new Rng(seed);
  const draw = () => Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(rng.next() * vocab)));
  const weights = Array.from({ length: rows }, (_, b) => Array.from({ length: cols }, (_, t) => (t >= b ? 1 : 0)));
  return { inputs: draw(), targets: draw(), weights };
}

interface Run {
  losses: number[];
  gradNorms: number[];
  params: Record<string, Float32Array>;
  tokens: number[][];
  sampleLogProbs: number[][];
  nll: number[];
  entropy: number[];
  nextLogProbs: number[];
  kernels: Set<string>;
}

/** Three AdamW steps, then sampling and scoring, all on `backend` from the same seeded initial weights. */
async function runModel(backend: string): Promise<Run> {
  await tf.setBackend(backend);
  if (backend === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false; // no tfjs-node banner
  const model = initModel(CONFIG, 7, 'gather');
  const state = initAdamW(model.params);
  const batch = randomBatch(1, 4, 16, CONFIG.vocab_size);
  const optimizer = { ...DEFAULT_OPTIMIZER, warmupSteps: 0, lr: 3e-3 };
  const kernels = new Set<string>();
  const losses: number[] = [];
  const gradNorms: number[] = [];
  for (let i = 0; i < 3; i++) {
    const profile = await tf.profile(() => {
      const r = trainStep(model, state, optimizer, batch);
      losses.push(r.loss);
      gradNorms.push(r.gradNorm);
    });
    profile.kernelNames.forEach((k) => kernels.add(k));
  }
  const params = Object.fromEntries(Object.entries(model.params).map(([name, v]) => [name, v.dataSync() as Float32Array]));
  const prompts = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 12, 13, 14, 15]];
  let result!: ReturnType<typeof sample>;
  const sampleProfile = await tf.profile(() => {
    result = sample(model, prompts, { temperature: 1, topP: 0.95, maxNewTokens: 10, eosId: 63, padId: 0, rng: new Rng(11) });
  });
  sampleProfile.kernelNames.forEach((k) => kernels.add(k));
  const scored = score(model, prompts, [[20, 21, 22], [23], [24, 25]], { padId: 0 });
  const next = nextTokenLogProbs(model, prompts, { padId: 0 });
  disposeAdamW(state);
  disposeModel(model);
  return {
    losses, gradNorms, params, tokens: result.tokens, sampleLogProbs: result.logProbs, nll: scored.nll, entropy: scored.entropy,
    nextLogProbs: next.flatMap((row) => Array.from(row)), kernels,
  };
}

function expectClose(actual: number[], expected: number[], rel: number, abs: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect(Math.abs(a - e), `${what}[${i}]: torch ${a} vs cpu ${e}`).toBeLessThanOrEqual(abs + rel * Math.abs(e));
  });
}

suite(`the model on torch (${device}) matches cpu`, () => {
  it('training steps, sampling and scoring agree; no kernel falls back', async () => {
    const cpu = await runModel('cpu');
    resetFallbackCounts();
    const torch = await runModel('torch');
    expect(fallbackCounts(), 'kernels that fell back to cpu').toEqual({});
    console.log(`kernels used by the train step, sampler and scorer: ${[...torch.kernels].sort().join(' ')}`);

    expectClose(torch.losses, cpu.losses, 1e-5, 1e-6, 'loss');
    expectClose(torch.gradNorms, cpu.gradNorms, 1e-4, 1e-6, 'gradient norm');
    expect(torch.losses[2]).toBeLessThan(torch.losses[0]!);
    // Adam's first steps move each weight by about ±lr whatever the gradient's size, so a weight whose gradient is
    // ~0 may move either way on the two backends: bound the largest difference by 2·Σlr and the typical one tightly.
    let maxDiff = 0;
    let sumDiff = 0;
    let count = 0;
    for (const [name, values] of Object.entries(cpu.params)) {
      const other = torch.params[name]!;
      for (let i = 0; i < values.length; i++) {
        const d = Math.abs(other[i]! - values[i]!);
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
        count++;
      }
    }
    expect(maxDiff).toBeLessThanOrEqual(2 * 3 * 3e-3);
    expect(sumDiff / count).toBeLessThan(1e-6);

    expect(torch.tokens).toEqual(cpu.tokens);
    expectClose(torch.sampleLogProbs.flat(), cpu.sampleLogProbs.flat(), 1e-4, 1e-4, 'sample log-prob');
    expectClose(torch.nll, cpu.nll, 1e-4, 1e-4, 'scored NLL (U)');
    expectClose(torch.entropy, cpu.entropy, 1e-4, 1e-4, 'entropy');
    expectClose(torch.nextLogProbs, cpu.nextLogProbs, 1e-4, 1e-4, 'next-token log-prob');
  });

  it('keeps native memory flat over 200 training steps', async () => {
    await tf.setBackend('torch');
    const config = { ...CONFIG, hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, vocab_size: 32 };
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
