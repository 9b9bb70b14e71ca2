// Supervised fine-tuning: masked causal-LM loss, AdamW with global-norm clipping, warm-up + cosine schedule. At scale:
// micro-batches with gradient accumulation, a gather-based loss whose vocabulary projection is formed a chunk of
// tokens at a time, and per-layer recomputation (only each layer's input is kept; the layer is re-run in backward).
import * as tf from '@tensorflow/tfjs-core';
import {
  type Model,
  decoderLayer,
  embed,
  finalHidden,
  forward,
  forwardHidden,
  layerContext,
  oneHotFloat,
  outputHead,
  trainableParams,
} from './model.js';
import { adamWUpdate } from './fused.js';

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

/** Weighted cross-entropy summed over the targets, through a one-hot of the whole [tokens, vocab]; logits [batch, time, vocab]. */
function maskedNllSum(logits: tf.Tensor3D, targets: tf.Tensor2D, flatWeights: tf.Tensor1D): tf.Scalar {
  const vocab = logits.shape[2];
  const logProbs = tf.logSoftmax(tf.reshape(logits, [-1, vocab]));
  const targetLogProbs = tf.sum(tf.mul(logProbs, oneHotFloat(tf.reshape(targets, [-1]), vocab)), 1);
  return tf.neg(tf.sum(tf.mul(targetLogProbs, flatWeights))) as tf.Scalar;
}

/** Mean cross-entropy over the weighted targets; logits [batch, time, vocab]. */
export function maskedLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, weights: tf.Tensor2D): tf.Scalar {
  const flatWeights = tf.reshape(weights, [-1]) as tf.Tensor1D;
  return tf.div(maskedNllSum(logits, targets, flatWeights), tf.maximum(tf.sum(flatWeights), 1)) as tf.Scalar;
}

/**
 * Σ_i w_i·(logsumexp(h_i Wᵀ) − h_i·W_{t_i}) for one chunk of rows: the cross-entropy as log-sum-exp minus the gathered
 * target logit (no one-hot). A customGrad op that keeps only its inputs, so its [rows, vocab] logits live only while
 * it runs, forward and again in backward (softmax − target: dh = (p − e_t) W, dW = (p − e_t)ᵀ h, both scaled by w).
 */
function chunkNllSum(
  hidden: tf.Tensor2D,
  head: tf.Tensor2D,
  targets: tf.Tensor1D,
  weights: tf.Tensor1D,
  headTrainable: boolean,
): tf.Scalar {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const h = args[0] as tf.Tensor2D;
    (args[args.length - 1] as tf.GradSaveFunc)([h, targets, weights]);
    const lse = tf.logSumExp(tf.matMul(h, head, false, true), 1);
    const targetLogit = tf.sum(tf.mul(h, tf.gather(head, targets)), 1);
    return {
      value: tf.sum(tf.mul(tf.sub(lse, targetLogit), weights)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [hs, ts, ws] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
          const scale = tf.expandDims(tf.mul(dy as tf.Tensor, ws), 1); // [rows, 1]
          const g = tf.mul(tf.softmax(tf.matMul(hs, head, false, true)), scale);
          const dh = tf.sub(tf.matMul(g, head), tf.mul(tf.gather(head, ts), scale));
          if (!headTrainable) return [dh];
          return [dh, tf.sub(tf.matMul(g, hs, true, false), tf.unsortedSegmentSum(tf.mul(hs, scale), ts, head.shape[0]))];
        }),
    };
  });
  return (headTrainable ? op(hidden, head) : op(hidden)) as tf.Scalar;
}

/** The gather-based weighted NLL sum over the rows of hidden [n, hidden], `chunk` rows of logits at a time. */
export function chunkedNllSum(
  hidden: tf.Tensor2D,
  head: tf.Tensor2D,
  targets: number[],
  weights: number[],
  chunk: number,
  headTrainable: boolean,
): tf.Scalar {
  const n = hidden.shape[0];
  const parts: tf.Scalar[] = [];
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const rows = tf.slice(hidden, [start, 0], [size, hidden.shape[1]]);
    parts.push(
      chunkNllSum(
        rows,
        head,
        tf.tensor1d(targets.slice(start, start + size), 'int32'),
        tf.tensor1d(weights.slice(start, start + size)),
        headTrainable,
      ),
    );
  }
  return parts.length === 1 ? parts[0] : tf.addN(parts);
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

/** How a batch's gradient is computed; the defaults are one pass over the whole batch with the one-hot loss. */
export interface StepOptions {
  microBatch?: number; // rows per forward/backward pass, each padded to its own longest row; gradients summed (default: the batch)
  logitChunk?: number; // > 0: gather-based loss, the vocabulary projection formed this many tokens at a time (0: one-hot over all tokens)
  recompute?: boolean; // keep only each layer's input and re-run the layer in the backward pass (activation memory of one layer)
}

/** Rows in groups of `size`, each cut to its own last weighted target (per-micro-batch padding; the causal mask makes the cut exact). */
export function microBatches(batch: TrainBatch, size: number): TrainBatch[] {
  const out: TrainBatch[] = [];
  for (let start = 0; start < batch.inputs.length; start += size) {
    const rows = (table: number[][]) => table.slice(start, start + size);
    const weights = rows(batch.weights);
    const length = Math.max(1, ...weights.map((row) => row.reduce((last, w, j) => (w !== 0 ? j : last), -1) + 1));
    const cut = (table: number[][]) => table.map((row) => row.slice(0, length));
    out.push({ inputs: cut(rows(batch.inputs)), targets: cut(rows(batch.targets)), weights: cut(weights) });
  }
  return out;
}

/** The weighted NLL sum of a batch from its final hidden states [batch, time, hidden]: only weighted tokens are projected. */
function gatherNllSum(model: Model, hidden: tf.Tensor3D, batch: TrainBatch, chunk: number): tf.Scalar {
  const flat = batch.weights.flat();
  const rows = flat.flatMap((w, i) => (w !== 0 ? [i] : []));
  if (rows.length === 0) return tf.scalar(0);
  const picked = tf.gather(tf.reshape(hidden, [-1, model.config.hidden_size]), rows) as tf.Tensor2D;
  const targets = batch.targets.flat();
  const head = outputHead(model);
  const headTrainable = Object.values(trainableParams(model)).includes(head as tf.Variable);
  return chunkedNllSum(
    picked,
    head,
    rows.map((i) => targets[i]),
    rows.map((i) => flat[i]),
    chunk,
    headTrainable,
  );
}

/** A batch's weighted NLL sum: the one-hot loss over all logits, or the chunked gather-based loss. */
function nllSum(model: Model, batch: TrainBatch, logitChunk: number): tf.Scalar {
  const { inputs, targets, weights } = batchTensors(batch);
  if (logitChunk > 0) return gatherNllSum(model, forwardHidden(model, inputs).hidden, batch, logitChunk);
  return maskedNllSum(forward(model, inputs).logits, targets, tf.reshape(weights, [-1]) as tf.Tensor1D);
}

export type Gradients = { value: tf.Scalar; grads: Record<string, tf.Tensor> }; // grads by trainableParams name

/**
 * Gradients with per-layer recomputation: a tape-free forward keeps each layer's input; backward runs the loss head,
 * then each layer again from its input (last to first) under its own gradient tape, handing dL/dh down the stack.
 */
function recomputedGradients(model: Model, batch: TrainBatch, denominator: number, logitChunk: number): Gradients {
  const params = trainableParams(model);
  const names = Object.keys(params);
  const byId = new Map(names.map((n) => [params[n].id, n]));
  const grads: Record<string, tf.Tensor> = {};
  const addGrads = (xs: tf.Tensor[], gs: tf.Tensor[]) =>
    xs.forEach((x, i) => {
      const name = byId.get(x.id);
      if (name === undefined || gs[i] === undefined) return;
      const previous = grads[name];
      grads[name] = previous ? tf.add(previous, gs[i]) : gs[i];
      previous?.dispose();
    });
  const engine = tf.engine();
  const [rows, time] = [batch.inputs.length, batch.inputs[0].length];
  const tokens = tf.tensor2d(batch.inputs, undefined, 'int32');
  const context = layerContext(model, rows, time);
  const vars = Object.values(params);
  const layerInputs: tf.Tensor2D[] = [tf.tidy(() => embed(model, tokens))];
  for (let layer = 0; layer < model.config.num_hidden_layers; layer++)
    layerInputs.push(tf.tidy(() => decoderLayer(model, layer, layerInputs[layer], context).h));
  const top = layerInputs.pop()!;
  const head = engine.gradients(
    () => {
      const hidden = finalHidden(model, top, rows, time);
      const sum =
        logitChunk > 0
          ? gatherNllSum(model, hidden, batch, logitChunk)
          : maskedNllSum(
              tf.matMul(tf.reshape(hidden, [rows * time, -1]), outputHead(model), false, true).reshape([rows, time, -1]) as tf.Tensor3D,
              tf.tensor2d(batch.targets, undefined, 'int32'),
              tf.tensor1d(batch.weights.flat()),
            );
      return tf.div(sum, denominator) as tf.Scalar;
    },
    [top, ...vars],
    undefined,
    true,
  );
  addGrads(vars, head.grads.slice(1));
  let dh = head.grads[0];
  for (let layer = model.config.num_hidden_layers - 1; layer >= 0; layer--) {
    const input = layerInputs[layer];
    const step = engine.gradients(() => decoderLayer(model, layer, input, context).h, [input, ...vars], dh, true);
    addGrads(vars, step.grads.slice(1));
    tf.dispose([dh, step.value, input]); // the layer's checkpoint is spent
    dh = step.grads[0];
  }
  const embedding = model.params['model.embed_tokens.weight'];
  if (byId.has(embedding.id)) {
    const step = engine.gradients(() => embed(model, tokens), [embedding], dh, true);
    addGrads([embedding], step.grads);
  }
  return { value: head.value as tf.Scalar, grads };
}

/** The gradient of the batch's mean loss, summed over micro-batches (each normalised by the whole batch's weight). */
export function batchGradients(model: Model, batch: TrainBatch, options: StepOptions = {}): Gradients {
  const params = trainableParams(model);
  const names = Object.keys(params);
  const logitChunk = options.logitChunk ?? 0;
  const rows = batch.inputs.length;
  const micro = Math.min(options.microBatch ?? rows, rows);
  if (micro === rows && logitChunk === 0 && !options.recompute) {
    // the one-pass path, op for op as it always was (the shipped model's runs stay bit-identical)
    const { inputs, targets, weights } = batchTensors(batch);
    const { value, grads: byVariableName } = tf.variableGrads(
      () => maskedLoss(forward(model, inputs).logits, targets, weights),
      names.map((n) => params[n]),
    );
    return { value, grads: Object.fromEntries(names.map((n) => [n, byVariableName[params[n].name]])) }; // tfjs keys by its own variable names
  }
  const denominator = Math.max(
    batch.weights.flat().reduce((s, w) => s + w, 0),
    1,
  );
  let total: Gradients | undefined;
  for (const part of microBatches(batch, micro)) {
    const next = tf.tidy(() => {
      const step = options.recompute
        ? recomputedGradients(model, part, denominator, logitChunk)
        : (() => {
            const { value, grads } = tf.variableGrads(
              () => tf.div(nllSum(model, part, logitChunk), denominator) as tf.Scalar,
              names.map((n) => params[n]),
            );
            return { value, grads: Object.fromEntries(names.map((n) => [n, grads[params[n].name]])) };
          })();
      if (!total) return step;
      return {
        value: tf.add(total.value, step.value) as tf.Scalar,
        grads: Object.fromEntries(names.map((n) => [n, tf.add(total!.grads[n], step.grads[n])])),
      };
    });
    if (total) tf.dispose([total.value, ...Object.values(total.grads)]);
    total = next;
  }
  return total!;
}

/** One AdamW step on the trainable parameters (the adapters under LoRA); returns the loss and the pre-clip gradient norm. */
export function trainStep(
  model: Model,
  state: AdamWState,
  config: OptimizerConfig,
  batch: TrainBatch,
  options: StepOptions = {},
): { loss: number; gradNorm: number; lr: number } {
  const params = trainableParams(model);
  const names = Object.keys(params);
  const lr = learningRate(config, state.step);
  state.step += 1;
  const t = state.step;
  const [lossValue, normValue] = tf.tidy(() => {
    const { value, grads } = batchGradients(model, batch, options);
    const gradNorm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
    const clipScale = tf.minimum(1, tf.div(config.clipNorm, tf.add(gradNorm, 1e-6)));
    const biasCorrection1 = 1 - Math.pow(config.beta1, t);
    const biasCorrection2 = 1 - Math.pow(config.beta2, t);
    for (const name of names) {
      const param = params[name];
      // decoupled weight decay (AdamW) on matrices only; norm gains are not decayed
      adamWUpdate(param, grads[name], state.m[name], state.v[name], clipScale, {
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        biasCorrection1,
        biasCorrection2,
        weightDecay: param.rank >= 2 ? config.weightDecay : 0,
        lr,
      });
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
