// Supervised fine-tuning: masked causal-LM loss, AdamW with global-norm clipping, warm-up + cosine schedule.
import * as tf from '@tensorflow/tfjs-core';
import { type Model, forward, oneHotFloat, trainableParams } from './model.js';

export interface TrainBatch {
  inputs: number[][]; // token ids [batch][time]
  targets: number[][]; // next-token ids [batch][time]
  weights: number[][]; // 1 where the target counts (response tokens for SFT), 0 elsewhere
}

export interface OptimizerConfig {
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clipNorm: number;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  lr: 1e-3,
  minLr: 1e-4,
  warmupSteps: 20,
  totalSteps: 1000,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.01,
  clipNorm: 1.0,
};

export interface AdamWState {
  step: number;
  m: Record<string, tf.Variable>;
  v: Record<string, tf.Variable>;
}

/** Learning rate at a step: linear warm-up, then cosine decay to minLr at totalSteps (held there after). */
export function learningRate(config: OptimizerConfig, step: number): number {
  if (step < config.warmupSteps) return (config.lr * (step + 1)) / config.warmupSteps;
  const progress = Math.min(1, (step - config.warmupSteps) / Math.max(1, config.totalSteps - config.warmupSteps));
  return config.minLr + 0.5 * (config.lr - config.minLr) * (1 + Math.cos(Math.PI * progress));
}

export function initAdamW(params: Record<string, tf.Variable>): AdamWState {
  const zerosLike = (v: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(v), false));
  return {
    step: 0,
    m: Object.fromEntries(Object.entries(params).map(([name, v]) => [name, zerosLike(v)])),
    v: Object.fromEntries(Object.entries(params).map(([name, v]) => [name, zerosLike(v)])),
  };
}

export function disposeAdamW(state: AdamWState): void {
  for (const t of [...Object.values(state.m), ...Object.values(state.v)]) t.dispose();
}

/** Mean cross-entropy over the weighted targets; logits [batch, time, vocab]. */
export function maskedLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, weights: tf.Tensor2D): tf.Scalar {
  const vocab = logits.shape[2];
  const logProbs = tf.logSoftmax(tf.reshape(logits, [-1, vocab]));
  const targetLogProbs = tf.sum(tf.mul(logProbs, oneHotFloat(tf.reshape(targets, [-1]), vocab)), 1);
  const flatWeights = tf.reshape(weights, [-1]);
  return tf.div(tf.neg(tf.sum(tf.mul(targetLogProbs, flatWeights))), tf.maximum(tf.sum(flatWeights), 1)) as tf.Scalar;
}

export function batchTensors(batch: TrainBatch): { inputs: tf.Tensor2D; targets: tf.Tensor2D; weights: tf.Tensor2D } {
  return {
    inputs: tf.tensor2d(batch.inputs, undefined, 'int32'),
    targets: tf.tensor2d(batch.targets, undefined, 'int32'),
    weights: tf.tensor2d(batch.weights, undefined, 'float32'),
  };
}

/** Loss of a batch without updating anything. */
export function evaluateLoss(model: Model, batch: TrainBatch): number {
  return tf.tidy(() => {
    const { inputs, targets, weights } = batchTensors(batch);
    return maskedLoss(forward(model, inputs).logits, targets, weights).dataSync()[0];
  });
}

/** One AdamW step on the trainable parameters (the adapters under LoRA); returns the loss and the pre-clip gradient norm. */
export function trainStep(
  model: Model,
  state: AdamWState,
  config: OptimizerConfig,
  batch: TrainBatch,
): { loss: number; gradNorm: number; lr: number } {
  const params = trainableParams(model);
  const names = Object.keys(params);
  const lr = learningRate(config, state.step);
  state.step += 1;
  const t = state.step;
  const [lossValue, normValue] = tf.tidy(() => {
    const { inputs, targets, weights } = batchTensors(batch);
    const { value, grads: byVariableName } = tf.variableGrads(
      () => maskedLoss(forward(model, inputs).logits, targets, weights),
      names.map((n) => params[n]),
    );
    const grads = Object.fromEntries(names.map((n) => [n, byVariableName[params[n].name]])); // tfjs keys by its own variable names
    const gradNorm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
    const clipScale = tf.minimum(1, tf.div(config.clipNorm, tf.add(gradNorm, 1e-6)));
    const biasCorrection1 = 1 - Math.pow(config.beta1, t);
    const biasCorrection2 = 1 - Math.pow(config.beta2, t);
    for (const name of names) {
      const param = params[name];
      const grad = tf.mul(grads[name], clipScale);
      const m = state.m[name];
      const v = state.v[name];
      m.assign(tf.add(tf.mul(m, config.beta1), tf.mul(grad, 1 - config.beta1)));
      v.assign(tf.add(tf.mul(v, config.beta2), tf.mul(tf.square(grad), 1 - config.beta2)));
      const update = tf.div(tf.div(m, biasCorrection1), tf.add(tf.sqrt(tf.div(v, biasCorrection2)), config.eps));
      // decoupled weight decay (AdamW) on matrices only; norm gains are not decayed
      const step = param.rank >= 2 ? tf.add(update, tf.mul(param, config.weightDecay)) : update;
      param.assign(tf.sub(param, tf.mul(step, lr)));
    }
    return [value, gradNorm];
  });
  const loss = lossValue.dataSync()[0];
  const gradNorm = normValue.dataSync()[0];
  lossValue.dispose();
  normValue.dispose();
  if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
    throw new Error(`training diverged at step ${t}: loss ${loss}, gradient norm ${gradNorm} (lower --lr or check the data)`);
  }
  return { loss, gradNorm, lr };
}

/** A prompt and the response the loss is taken on (SFT: response tokens only). */
export interface SftExample {
  prompt: number[];
  response: number[];
}

/** Right-pads examples into one batch whose weights cover only the response tokens. */
export function sftBatch(examples: SftExample[], padId: number): TrainBatch {
  const length = Math.max(...examples.map((e) => e.prompt.length + e.response.length)) - 1;
  const batch: TrainBatch = { inputs: [], targets: [], weights: [] };
  for (const { prompt, response } of examples) {
    const sequence = [...prompt, ...response];
    const pad = (ids: number[]) => [...ids, ...Array<number>(length - ids.length).fill(padId)];
    batch.inputs.push(pad(sequence.slice(0, -1)));
    batch.targets.push(pad(sequence.slice(1)));
    // target j predicts sequence position j+1: the response occupies targets prompt.length-1 .. end
    batch.weights.push(Array.from({ length }, (_, j) => (j >= prompt.length - 1 && j < sequence.length - 1 ? 1 : 0)));
  }
  return batch;
}
