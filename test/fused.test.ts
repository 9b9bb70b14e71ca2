// The fused model ops on the torch backend against their tfjs compositions on cpu (forward and gradients), the matmul
// precisions, and the launch count they buy: kernel calls per sampled token on `tiny` at most a quarter of the composition's.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { BUILD_NATIVE, requireOrSkip } from './helpers.js';
import { registerTorchBackend, setTorchPrecision } from '../native/tfjs-backend-torch/lib/index.js';
import { FUSED_CASES, fusedMismatch, runFusedCase } from './fused-cases.js';
import { useFusedKernels } from '../src/model/fused.js';
import { countKernelCalls, kernelLaunchesPerToken } from '../src/bench/launches.js';
import { DEFAULT_OPTIMIZER, Rng, initAdamW, disposeAdamW, disposeModel, initModel, presetConfig, trainStep } from '../src/model/index.js';

const device = (process.env.TORCH_DEVICE ?? 'cpu') as 'cpu' | 'cuda';
const registration = registerTorchBackend({ device, threads: 1 });
const available = requireOrSkip(`the native torch addon on ${device}`, registration.available, BUILD_NATIVE);
const suite = available ? describe : describe.skip;

async function on(backend: string): Promise<void> {
  await tf.setBackend(backend);
  if (backend === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
}

suite(`fused ops on torch (${device}) agree with their compositions on cpu`, () => {
  // 'all': the fused kernels under the gradient tape too (customGrad with the composition's gradient)
  it.each(FUSED_CASES.flatMap((c, i) => (['all', 'inference'] as const).map((m) => [c.name, m, i] as const)))(
    '%s (fused mode %s)',
    async (_name, fusedMode, index) => {
      const c = FUSED_CASES[index];
      await on('cpu');
      const expected = runFusedCase(c, 100 + index);
      await on('torch');
      const previous = useFusedKernels(fusedMode);
      try {
        const before = tf.memory().numTensors;
        const actual = runFusedCase(c, 100 + index);
        expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
        expect(actual.length).toBe(expected.length);
        // fp32 on both sides; reductions (mean, softmax, matmul) may sum in another order
        actual.forEach((out, i) => expect(fusedMismatch(out, expected[i], 1e-4), `output ${i}`).toBeLessThanOrEqual(1e-5));
        const info = await tf.profile(() => void runFusedCase(c, 100 + index));
        expect(info.kernels.map((k) => k.name)).toContain(c.kernel);
      } finally {
        useFusedKernels(previous);
      }
    },
  );

  it('trains the model alike with fused kernels under the tape (customGrad, composition gradients) and without', async () => {
    await on('torch');
    const batch = {
      inputs: [
        [5, 6, 7, 8, 9, 10],
        [11, 12, 13, 14, 15, 16],
      ],
      targets: [
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
      ],
      weights: [
        [0, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0],
      ],
    };
    const steps = (fusedMode: 'all' | 'inference') => {
      const previous = useFusedKernels(fusedMode);
      const model = initModel(presetConfig('tiny', 64), 11);
      const optimizer = initAdamW(model.params);
      try {
        return [0, 1, 2].map(() => trainStep(model, optimizer, DEFAULT_OPTIMIZER, batch));
      } finally {
        disposeAdamW(optimizer);
        disposeModel(model);
        useFusedKernels(previous);
      }
    };
    const all = steps('all');
    const inference = steps('inference');
    all.forEach((step, i) => {
      expect(Math.abs(step.loss - inference[i].loss)).toBeLessThanOrEqual(1e-5 * Math.abs(inference[i].loss));
      expect(Math.abs(step.gradNorm - inference[i].gradNorm)).toBeLessThanOrEqual(1e-4 * inference[i].gradNorm);
    });
  });

  it('runs the compositions, not the fused kernels, when fusing is off', async () => {
    await on('torch');
    const previous = useFusedKernels('off');
    try {
      const info = await tf.profile(() => void runFusedCase(FUSED_CASES[0], 1));
      expect(info.kernels.map((k) => k.name).filter((n) => n.startsWith('Fused'))).toEqual([]);
    } finally {
      useFusedKernels(previous);
    }
  });
});

suite(`matmul precision on torch (${device})`, () => {
  const operands = () => {
    const rng = new Rng(7);
    const values = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    return [tf.tensor2d(values(8 * 64), [8, 64]), tf.tensor2d(values(64 * 16), [64, 16])] as const;
  };
  const product = async (precision: 'fp32' | 'tf32' | 'bf16') => {
    await on('torch');
    const previous = setTorchPrecision(precision);
    try {
      return tf.tidy(() => {
        const [x, w] = operands();
        return { y: tf.matMul(x, w).dataSync() as Float32Array, bound: tf.matMul(tf.abs(x), tf.abs(w)).dataSync() as Float32Array };
      });
    } finally {
      setTorchPrecision(previous);
    }
  };

  it('bf16 stays within the bf16 rounding bound of the fp32 product, and differs from it', async () => {
    await on('cpu');
    const exact = tf.tidy(() => tf.matMul(...operands()).dataSync() as Float32Array);
    const { y, bound } = await product('bf16');
    // each operand rounds to bf16 (8-bit mantissa: unit roundoff u = 2^-8), so each term a·b moves by at most 2u·|a||b|
    // (plus u² terms); accumulation stays in fp32 (1e-5 covers it)
    const u = 2 ** -8;
    let differs = false;
    for (let i = 0; i < y.length; i++) {
      expect(Math.abs(y[i] - exact[i])).toBeLessThanOrEqual((2 * u + u * u) * bound[i] + 1e-5);
      if (Math.abs(y[i] - exact[i]) > 1e-6) differs = true;
    }
    expect(differs, 'bf16 precision changed nothing').toBe(true);
  });

  it(device === 'cpu' ? 'tf32 is fp32 on CPU (no TF32 path)' : 'tf32 stays within the TF32 bound (10-bit mantissa)', async () => {
    const fp32 = await product('fp32');
    const tf32 = await product('tf32');
    const u = device === 'cpu' ? 0 : 2 ** -11;
    for (let i = 0; i < fp32.y.length; i++)
      expect(Math.abs(tf32.y[i] - fp32.y[i])).toBeLessThanOrEqual((2 * u + u * u) * fp32.bound[i] + (u ? 1e-5 : 0));
  });

  it('results stay float32 tensors at the tfjs API under bf16', async () => {
    await on('torch');
    const previous = setTorchPrecision('bf16');
    try {
      const y = tf.tidy(() => tf.matMul(...operands()));
      expect(y.dtype).toBe('float32');
      y.dispose();
    } finally {
      setTorchPrecision(previous);
    }
  });
});

suite('kernel launches per token (tiny)', () => {
  it("sampling issues at most a quarter of the composition's kernel calls per token; training and scoring fewer", async () => {
    await on('torch');
    const model = initModel(presetConfig('tiny', 64), 3);
    const rng = new Rng(5);
    const rows = (n: number, len: number) => Array.from({ length: n }, () => Array.from({ length: len }, () => 4 + rng.int(60)));
    const train = rows(2, 9);
    const work = {
      prompts: rows(2, 6),
      responses: rows(2, 4),
      newTokens: 4,
      padId: 0,
      trainBatch: {
        inputs: train.map((r) => r.slice(0, -1)),
        targets: train.map((r) => r.slice(1)),
        weights: train.map(() => Array<number>(8).fill(1)),
      },
    };
    const counts = async (fusedMode: 'off' | 'inference') => {
      const previous = useFusedKernels(fusedMode);
      const optimizer = initAdamW(model.params);
      try {
        return await kernelLaunchesPerToken(model, work, optimizer, DEFAULT_OPTIMIZER);
      } finally {
        disposeAdamW(optimizer);
        useFusedKernels(previous);
      }
    };
    const composed = await counts('off');
    const withFused = await counts('inference');
    expect(withFused.sample).toBeLessThanOrEqual(composed.sample / 4);
    expect(withFused.score).toBeLessThan(composed.score);
    expect(withFused.train).toBeLessThan(composed.train);
    const x = tf.tensor1d([1, 2]);
    expect(await countKernelCalls(() => void tf.tidy(() => tf.mul(tf.add(x, 1), 2)))).toBe(2); // Add, Multiply: the counter counts kernels
    x.dispose();
    disposeModel(model);
  });
});
