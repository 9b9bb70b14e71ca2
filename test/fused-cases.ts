// Conformance cases of the fused model ops (src/model/fused.ts): each case runs an op and its gradient on seeded
// inputs; run on 'cpu' it is the tfjs composition (cpu registers no fused kernel), on 'torch' the fused kernel with
// the composition's gradient. Shared by test/fused.test.ts and the device runner (native/tfjs-backend-torch/scripts/device-run.ts).
import * as tf from '@tensorflow/tfjs-core';
import * as fused from '../src/model/fused.js';
import { Rng } from '../src/model/rng.js';
import { drawRows } from '../src/model/sample.js';

export interface FusedCase {
  name: string;
  kernel: fused.FusedKernel; // the fused kernel the case must run on torch
  run: (inputs: Inputs) => tf.Tensor[]; // outputs, then gradients
}

/** Seeded inputs, identical on every backend. */
export class Inputs {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  rand(shape: number[], lo = -1, hi = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(
      Float32Array.from({ length: n }, () => lo + (hi - lo) * this.rng.next()),
      shape,
      'float32',
    );
  }
}

/** Outputs of f and the gradients of Σ f(xs)·dy with respect to xs (dy seeded too). */
function withGrads(t: Inputs, f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]): tf.Tensor[] {
  const y = f(...xs);
  const dy = t.rand(y.shape);
  return [y, ...tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), dy)))(xs)];
}

/** Additive mask [batch, 1, 1, time, keys] hiding the future and the first `padding[b]` keys of row b. */
function mask(batch: number, time: number, past: number, padding: number[]): tf.Tensor {
  const keys = past + time;
  const values = new Float32Array(batch * time * keys);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < time; t++)
      for (let s = 0; s < keys; s++) {
        values[(b * time + t) * keys + s] = s <= past + t && s >= padding[b] ? 0 : -1e9;
      }
  return tf.tensor(values, [batch, 1, 1, time, keys]);
}

function attentionCase(name: string, s: fused.AttentionShape, past: number): FusedCase {
  return {
    name,
    kernel: 'FusedAttention',
    run: (t) => {
      const width = (s.heads + 2 * s.kvHeads) * s.headDim;
      const qkv = t.rand([s.batch * s.time, width]);
      const [cos, sin] = [t.rand([s.batch, s.time, 1, s.rotaryDim / 2]), t.rand([s.batch, s.time, 1, s.rotaryDim / 2])];
      const cache =
        past > 0
          ? { cacheKeys: t.rand([s.batch, s.kvHeads, past, s.headDim]), cacheValues: t.rand([s.batch, s.kvHeads, past, s.headDim]) }
          : {};
      const input = { qkv, cos, sin, mask: mask(s.batch, s.time, past, [0, 1]), ...cache };
      const out = fused.attention(input, s);
      const grads = withGrads(t, (x) => fused.attention({ ...input, qkv: x }, s).context, [qkv]).slice(1);
      return [out.context, out.keys, out.values, ...grads];
    },
  };
}

function adamWCase(name: string, shape: number[], weightDecay: number): FusedCase {
  return {
    name,
    kernel: 'FusedAdamW',
    run: (t) => {
      const [param, m, v] = [tf.variable(t.rand(shape)), tf.variable(t.rand(shape, -0.1, 0.1)), tf.variable(t.rand(shape, 0, 0.01))];
      fused.adamWUpdate(param, t.rand(shape), m, v, tf.scalar(0.7), {
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        biasCorrection1: 1 - 0.9 ** 3,
        biasCorrection2: 1 - 0.95 ** 3,
        weightDecay,
        lr: 1e-2,
      });
      const out = [param, m, v].map((x) => tf.clone(x));
      tf.dispose([param, m, v]);
      return out;
    },
  };
}

/** Draws of 12 rows (two finished) of random logits: token ids then their log-probs (finished rows report [-1, 0] in JS). */
function sampleCase(name: string, temperature: number, topP: number, ties = false): FusedCase {
  return {
    name,
    kernel: 'FusedSample',
    run: (t) => {
      const logits = ties ? tf.round(t.rand([12, 1, 50], -2, 2)) : t.rand([12, 1, 50], -4, 4);
      const finished = Array.from({ length: 12 }, (_, b) => b === 3 || b === 7);
      const draws = drawRows(logits, finished, { temperature, topP, rng: new Rng(7) }).map(([token, lp], b) =>
        finished[b] ? [-1, 0] : [token, lp],
      );
      return [tf.tensor1d(draws.map(([token]) => token!)), tf.tensor1d(draws.map(([, lp]) => lp!))];
    },
  };
}

export const FUSED_CASES: FusedCase[] = [
  {
    name: 'RMSNorm [6, 32] with gradients',
    kernel: 'FusedRmsNorm',
    run: (t) => withGrads(t, (x, w) => fused.rmsNorm(x, w, 1e-5), [t.rand([6, 32]), t.rand([32], 0.5, 1.5)]),
  },
  {
    name: 'RMSNorm [2, 3, 16] tiny values, eps 1e-6',
    kernel: 'FusedRmsNorm',
    run: (t) => withGrads(t, (x, w) => fused.rmsNorm(x, w, 1e-6), [t.rand([2, 3, 16], -1e-3, 1e-3), t.rand([16])]),
  },
  {
    name: 'residual add + RMSNorm [5, 24]',
    kernel: 'FusedAddRmsNorm',
    run: (t) => {
      const [x, r, w] = [t.rand([5, 24]), t.rand([5, 24]), t.rand([24])];
      return [...fused.addRmsNorm(x, r, w, 1e-5), ...withGrads(t, (a, b, c) => fused.addRmsNorm(a, b, c, 1e-5)[1], [x, r, w]).slice(1)];
    },
  },
  {
    name: 'SwiGLU [7, 2·20] with gradients',
    kernel: 'FusedSwiGlu',
    run: (t) => withGrads(t, (x) => fused.swiGlu(x), [t.rand([7, 40], -4, 4)]),
  },
  {
    name: 'linear [5, 12]·[9, 12]ᵀ with gradients',
    kernel: 'FusedLinear',
    run: (t) => withGrads(t, (x, w) => fused.linear(x, { weight: w }), [t.rand([5, 12]), t.rand([9, 12])]),
  },
  {
    name: 'linear + bias + LoRA (rank 3, scale 2) with gradients',
    kernel: 'FusedLinear',
    run: (t) =>
      withGrads(t, (x, w, b, a, bb) => fused.linear(x, { weight: w, bias: b, lora: { a, b: bb, scale: 2 } }), [
        t.rand([5, 12]),
        t.rand([9, 12]),
        t.rand([9]),
        t.rand([3, 12]),
        t.rand([9, 3]),
      ]),
  },
  attentionCase(
    'attention GQA 4/2 heads, partial rotary, padding, no cache, with gradients',
    { batch: 2, time: 4, heads: 4, kvHeads: 2, headDim: 8, rotaryDim: 6 },
    0,
  ),
  attentionCase(
    'attention with a 5-key cache, one new token (decode step)',
    { batch: 2, time: 1, heads: 6, kvHeads: 2, headDim: 8, rotaryDim: 8 },
    5,
  ),
  attentionCase('attention with a cache, 3 new tokens, MHA', { batch: 2, time: 3, heads: 2, kvHeads: 2, headDim: 4, rotaryDim: 2 }, 2),
  adamWCase('AdamW update of a matrix (decay)', [6, 5], 0.01),
  adamWCase('AdamW update of a gain vector (no decay)', [7], 0),
  sampleCase('sampler: temperature 1, no top-p', 1, 1),
  sampleCase('sampler: temperature 0.7, top-p 0.9', 0.7, 0.9),
  sampleCase('sampler: top-p 0.5 over tied logits (ties by lower id)', 1, 0.5, true),
  sampleCase('sampler: greedy with ties (first maximum)', 0, 1, true),
];

/** Runs a case on the current backend: outputs and gradients as plain arrays, no tensors left behind. */
export function runFusedCase(c: FusedCase, seed: number): { shape: number[]; values: Float32Array }[] {
  return tf
    .tidy(() => c.run(new Inputs(seed)))
    .map((t) => {
      const out = { shape: t.shape, values: t.dataSync() as Float32Array };
      t.dispose();
      return out;
    });
}

/** Largest |a − b| − rel·|b| over the elements (≤ abs passes), and whether shapes agree. */
export function fusedMismatch(
  a: { shape: number[]; values: Float32Array },
  b: { shape: number[]; values: Float32Array },
  rel: number,
): number {
  if (a.shape.join() !== b.shape.join()) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.values.length; i++) worst = Math.max(worst, Math.abs(a.values[i] - b.values[i]) - rel * Math.abs(b.values[i]));
  return worst;
}
