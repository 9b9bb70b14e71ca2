// Fused model ops: what the decoder runs many times per token (RMSNorm, residual add + RMSNorm, SwiGLU, a linear layer
// with its LoRA adapter, rotary + KV-cache attention) and the AdamW update, as one kernel each where the backend registers
// one (tfjs-backend-torch: Fused*), else as the tfjs composition below — which every other backend runs unchanged. The
// sampler's fused draw is in sample.ts. With mode 'all', a fused op under a gradient tape is a tf.customGrad whose
// gradient is the composition's (recomputed from the saved inputs). test/fused.test.ts checks fused against composed.
import * as tf from '@tensorflow/tfjs-core';

export const FUSED_KERNELS = [
  'FusedRmsNorm',
  'FusedAddRmsNorm',
  'FusedSwiGlu',
  'FusedLinear',
  'FusedAttention',
  'FusedAdamW',
  'FusedSample',
] as const;
export type FusedKernel = (typeof FUSED_KERNELS)[number];

/**
 * Where fused kernels run: 'inference' (default) — outside gradient tapes (sampling, scoring, verifying) and the AdamW
 * update; under a tape the composition runs, since recomputing it for the gradient costs more kernel calls than the
 * fused forward saves (measured on tiny: 73 vs 60 per trained token). 'all' — under tapes too, as customGrad ops
 * (fewer saved activations: the recomputation is activation checkpointing). 'off' — compositions everywhere.
 * SVGAP_FUSED=0|all picks off|all (before/after benches).
 */
export type FusedMode = 'inference' | 'all' | 'off';
let mode: FusedMode = process.env.SVGAP_FUSED === '0' ? 'off' : process.env.SVGAP_FUSED === 'all' ? 'all' : 'inference';

/** Sets where fused kernels run; returns the previous mode. */
export function useFusedKernels(next: FusedMode): FusedMode {
  const previous = mode;
  mode = next;
  return previous;
}

/** Whether this fused kernel runs now: registered on the running backend, and allowed here by the mode. */
export function hasFused(name: FusedKernel): boolean {
  if (mode === 'off' || (mode === 'inference' && recording())) return false;
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** True inside tf.grads / variableGrads: ops run now are recorded for backpropagation. */
function recording(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

function run(name: FusedKernel, inputs: Record<string, tf.Tensor | undefined>, attrs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
  const present = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t !== undefined)) as tf.NamedTensorMap;
  return tf.engine().runKernel(name, present, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}

/**
 * The gradient of composed at xs times dy, taken while the outer backward pass runs. tfjs's gradients() clears the one
 * shared tape when it finishes at depth 0, under the outer pass still using it; one level deeper it appends to that tape
 * instead, and the outer pass disposes what the recomputation saved when it clears the tape.
 */
function composedGrads(composed: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const state = tf.engine().state;
  state.gradientDepth++;
  try {
    return tf.grads((...ys: tf.Tensor[]) => composed(...ys))(xs, dy);
  } finally {
    state.gradientDepth--;
  }
}

/**
 * fused(...inputs) forward, composed(...inputs)'s gradient (recomputed) backward. `constants` (tensors without a
 * gradient, e.g. the mask) are kept for the recomputation too — the forward pass's tidy would dispose them.
 */
function withComposedGrad(
  fused: (...xs: tf.Tensor[]) => tf.Tensor,
  composed: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  constants: tf.Tensor[] = [],
): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    (args[inputs.length] as tf.GradSaveFunc)([...xs, ...constants]);
    return {
      value: fused(...xs),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const kept = saved.slice(inputs.length);
        return composedGrads((...ys) => composed(...ys, ...kept), saved.slice(0, inputs.length), dy);
      },
    };
  });
  return op(...inputs);
}

export function rmsNormComposed(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
}

/** x · rsqrt(mean(x²) + eps) · weight over the last axis. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  if (!hasFused('FusedRmsNorm')) return rmsNormComposed(x, weight, eps);
  const fused = (a: tf.Tensor, w: tf.Tensor) => run('FusedRmsNorm', { x: a, weight: w }, { eps }) as tf.Tensor;
  return recording() ? withComposedGrad(fused, (a, w) => rmsNormComposed(a, w, eps), [x, weight]) : fused(x, weight);
}

/** [x + residual, rmsNorm(x + residual)]: the residual stream and the next sub-layer's input. */
export function addRmsNorm(x: tf.Tensor, residual: tf.Tensor, weight: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor] {
  if (!hasFused('FusedAddRmsNorm') || recording()) {
    const h = tf.add(x, residual);
    return [h, rmsNorm(h, weight, eps)];
  }
  return run('FusedAddRmsNorm', { x, residual, weight }, { eps }) as [tf.Tensor, tf.Tensor];
}

export function swiGluComposed(gateUp: tf.Tensor): tf.Tensor {
  const [gate, up] = tf.split(gateUp, 2, -1);
  return tf.mul(tf.mul(gate!, tf.sigmoid(gate!)), up!);
}

/** silu(gate) · up, gate and up the two halves of gateUp's last axis (Phi-3's fused gate_up_proj). */
export function swiGlu(gateUp: tf.Tensor): tf.Tensor {
  if (!hasFused('FusedSwiGlu')) return swiGluComposed(gateUp);
  const fused = (g: tf.Tensor) => run('FusedSwiGlu', { gateUp: g }, {}) as tf.Tensor;
  return recording() ? withComposedGrad(fused, swiGluComposed, [gateUp]) : fused(gateUp);
}

export interface LinearWeights {
  weight: tf.Tensor; // [out, in]
  bias?: tf.Tensor; // [out]
  lora?: { a: tf.Tensor; b: tf.Tensor; scale: number }; // A [rank, in], B [out, rank], alpha / rank
}

export function linearComposed(x: tf.Tensor, w: LinearWeights): tf.Tensor {
  const projected = tf.matMul(x, w.weight, false, true);
  const y = w.bias ? tf.add(projected, w.bias) : projected;
  if (!w.lora) return y;
  return tf.add(y, tf.mul(tf.matMul(tf.matMul(x, w.lora.a, false, true), w.lora.b, false, true), w.lora.scale));
}

/** y = x Wᵀ (+ b) (+ scale · x Aᵀ Bᵀ with a LoRA adapter); x is [n, in]. */
export function linear(x: tf.Tensor, w: LinearWeights): tf.Tensor {
  if (!hasFused('FusedLinear')) return linearComposed(x, w);
  const inputs = [x, w.weight, ...(w.bias ? [w.bias] : []), ...(w.lora ? [w.lora.a, w.lora.b] : [])];
  const unpack = (xs: tf.Tensor[]): [tf.Tensor, LinearWeights] => {
    const bias = w.bias ? xs[2] : undefined;
    const at = w.bias ? 3 : 2;
    return [xs[0]!, { weight: xs[1]!, bias, lora: w.lora ? { a: xs[at]!, b: xs[at + 1]!, scale: w.lora.scale } : undefined }];
  };
  const fused = (...xs: tf.Tensor[]) => {
    const [input, ws] = unpack(xs);
    return run(
      'FusedLinear',
      { x: input, weight: ws.weight, bias: ws.bias, loraA: ws.lora?.a, loraB: ws.lora?.b },
      { scale: w.lora?.scale ?? 0 },
    ) as tf.Tensor;
  };
  return recording() ? withComposedGrad(fused, (...xs) => linearComposed(...unpack(xs)), inputs) : fused(...inputs);
}

/** Rotates the first rotaryDim dimensions of each head (HF rotate_half convention), passes the rest: x is [batch, time, heads, headDim]. */
export function applyRotary(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor, rotDim: number): tf.Tensor4D {
  const [batch, time, heads, hd] = x.shape;
  const half = rotDim / 2;
  const x1 = tf.slice(x, [0, 0, 0, 0], [batch, time, heads, half]);
  const x2 = tf.slice(x, [0, 0, 0, half], [batch, time, heads, half]);
  const rotated: tf.Tensor[] = [tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))];
  if (rotDim < hd) rotated.push(tf.slice(x, [0, 0, 0, rotDim], [batch, time, heads, hd - rotDim]));
  return tf.concat(rotated, 3) as tf.Tensor4D;
}

export interface AttentionShape {
  batch: number;
  time: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rotaryDim: number;
}

export interface AttentionInputs {
  qkv: tf.Tensor; // [batch·time, (heads + 2·kvHeads)·headDim], the fused q/k/v projection
  cos: tf.Tensor; // [batch, time, 1, rotaryDim/2]
  sin: tf.Tensor;
  mask: tf.Tensor; // additive, [batch, 1, 1, time, keys]
  cacheKeys?: tf.Tensor; // [batch, kvHeads, past, headDim]
  cacheValues?: tf.Tensor;
}

export interface AttentionOutput {
  context: tf.Tensor; // [batch·time, heads·headDim], before o_proj
  keys: tf.Tensor4D; // the cache extended by this step's keys (rotated) and values
  values: tf.Tensor4D;
}

/** Rotary on q and k, keys/values appended to the cache, grouped-query softmax(q kᵀ / √hd + mask) v. */
export function attentionComposed(input: AttentionInputs, s: AttentionShape): AttentionOutput {
  const { batch, time, heads, kvHeads, headDim: hd, rotaryDim: rot } = s;
  const group = heads / kvHeads;
  const [qFlat, kFlat, vFlat] = tf.split(input.qkv, [heads * hd, kvHeads * hd, kvHeads * hd], 1);
  const q = applyRotary(tf.reshape(qFlat!, [batch, time, heads, hd]), input.cos, input.sin, rot);
  let k: tf.Tensor = tf.transpose(applyRotary(tf.reshape(kFlat!, [batch, time, kvHeads, hd]), input.cos, input.sin, rot), [0, 2, 1, 3]);
  let v: tf.Tensor = tf.transpose(tf.reshape(vFlat!, [batch, time, kvHeads, hd]), [0, 2, 1, 3]);
  if (input.cacheKeys && input.cacheValues) {
    k = tf.concat([input.cacheKeys, k], 2);
    v = tf.concat([input.cacheValues, v], 2);
  }
  const keys = k.shape[2]!;
  // query head h uses KV head floor(h / group) (HF repeat_kv): fold the group into the query axis instead of copying K and V
  const qGrouped = tf.reshape(tf.transpose(tf.reshape(q, [batch, time, kvHeads, group, hd]), [0, 2, 3, 1, 4]), [
    batch,
    kvHeads,
    group * time,
    hd,
  ]);
  const scores = tf.add(
    tf.reshape(tf.mul(tf.matMul(qGrouped, k, false, true), 1 / Math.sqrt(hd)), [batch, kvHeads, group, time, keys]),
    input.mask,
  );
  const weights = tf.reshape(tf.softmax(scores), [batch, kvHeads, group * time, keys]);
  const context = tf.reshape(tf.transpose(tf.reshape(tf.matMul(weights, v), [batch, kvHeads, group, time, hd]), [0, 3, 1, 2, 4]), [
    batch * time,
    heads * hd,
  ]);
  return { context, keys: k as tf.Tensor4D, values: v as tf.Tensor4D };
}

/**
 * Attention of one layer, one kernel on torch. Under a tape only the context carries a gradient (to qkv, through the
 * composition): the returned keys and values are for the KV cache, which nothing trains through.
 */
export function attention(input: AttentionInputs, s: AttentionShape): AttentionOutput {
  if (!hasFused('FusedAttention')) return attentionComposed(input, s);
  let cached: tf.Tensor[] = [];
  const fused = (qkv: tf.Tensor) => {
    const [context, ...kv] = run(
      'FusedAttention',
      { qkv, cos: input.cos, sin: input.sin, mask: input.mask, cacheK: input.cacheKeys, cacheV: input.cacheValues },
      { dims: [s.batch, s.time, s.heads, s.kvHeads, s.headDim, s.rotaryDim], scale: 1 / Math.sqrt(s.headDim) },
    ) as tf.Tensor[];
    cached = kv;
    return context!;
  };
  const constants = [
    input.cos,
    input.sin,
    input.mask,
    ...(input.cacheKeys && input.cacheValues ? [input.cacheKeys, input.cacheValues] : []),
  ];
  const composed = (qkv: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, mask: tf.Tensor, cacheKeys?: tf.Tensor, cacheValues?: tf.Tensor) =>
    attentionComposed({ qkv, cos, sin, mask, cacheKeys, cacheValues }, s).context;
  const context = recording()
    ? withComposedGrad(fused, composed as (...xs: tf.Tensor[]) => tf.Tensor, [input.qkv], constants)
    : fused(input.qkv);
  return { context, keys: cached[0] as tf.Tensor4D, values: cached[1] as tf.Tensor4D };
}

export interface AdamWConstants {
  beta1: number;
  beta2: number;
  eps: number;
  biasCorrection1: number; // 1 − β1^t
  biasCorrection2: number;
  weightDecay: number; // 0: no decay (norm gains)
  lr: number;
}

function adamWComposed(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, clipScale: tf.Tensor, c: AdamWConstants): void {
  const g = tf.mul(grad, clipScale);
  m.assign(tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1)));
  v.assign(tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2)));
  const update = tf.div(tf.div(m, c.biasCorrection1), tf.add(tf.sqrt(tf.div(v, c.biasCorrection2)), c.eps));
  // decoupled weight decay (AdamW)
  const step = c.weightDecay !== 0 ? tf.add(update, tf.mul(param, c.weightDecay)) : update;
  param.assign(tf.sub(param, tf.mul(step, c.lr)));
}

/** One AdamW update of a parameter and its moments, in place (the gradient scaled by clipScale first). */
export function adamWUpdate(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  clipScale: tf.Tensor,
  c: AdamWConstants,
): void {
  if (!hasFused('FusedAdamW')) return adamWComposed(param, grad, m, v, clipScale, c);
  const constants = [c.beta1, 1 - c.beta1, c.beta2, 1 - c.beta2, c.biasCorrection1, c.biasCorrection2, c.eps, c.weightDecay, c.lr];
  const [p2, m2, v2] = run('FusedAdamW', { param, grad, m, v, clipScale }, { constants }) as tf.Tensor[];
  param.assign(p2!);
  m.assign(m2!);
  v.assign(v2!);
}

/** N(0, std²) of a shape, drawn by the backend's own generator where it registers one (torch), else tfjs's (JS). */
export function randomNormalOnDevice(shape: number[], std: number, seed: number): tf.Tensor {
  if (tf.getKernel('TorchRandomNormal', tf.getBackend()) === undefined) return tf.randomNormal(shape, 0, std, 'float32', seed);
  return tf.engine().runKernel('TorchRandomNormal', {}, { shape, std, seed }) as tf.Tensor;
}
