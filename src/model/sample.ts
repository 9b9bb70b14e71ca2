// Batched sampling with a KV cache, and the teacher-forced scorer behind the paper's uncertainty U (sequence NLL).
import * as tf from '@tensorflow/tfjs-core';
import { type KVCache, type Model, disposeCache, emptyCache, forward, oneHotFloat } from './model.js';
import { Rng } from './rng.js';

export interface SampleOptions {
  temperature: number; // 0 = greedy
  topP: number;
  maxNewTokens: number;
  eosId: number;
  stopIds?: number[]; // further ids that end a row (HF generation_config eos lists, e.g. Phi-4-mini's <|end|>)
  padId: number;
  rng: Rng;
}

export interface SampleResult {
  tokens: number[][]; // generated ids per row, the EOS / stop id included when reached
  logProbs: number[][]; // log-prob of each generated token under the model (temperature 1, no top-p): the paper's U is −Σ of these
  finished: boolean[]; // whether the row reached EOS
}

/** log-softmax of one row of logits. */
function logSoftmaxRow(logits: Float32Array, offset: number, vocab: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(vocab);
  for (let i = 0; i < vocab; i++) out[i] = logits[offset + i] - logZ;
  return out;
}

/** Draws one token from log-probs with temperature and nucleus (top-p) truncation; greedy at temperature 0. */
export function drawToken(logProbs: Float64Array, temperature: number, topP: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logProbs.length; i++) if (logProbs[i] > logProbs[best]) best = i;
  if (temperature <= 0) return best;
  if (topP >= 1) {
    // no truncation: draw from the tempered distribution directly, without sorting
    const weights = new Float64Array(logProbs.length);
    let total = 0;
    for (let i = 0; i < logProbs.length; i++) total += weights[i] = Math.exp((logProbs[i] - logProbs[best]) / temperature);
    let u = rng.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u <= 0) return i;
    }
    return best;
  }
  const scaled = Array.from(logProbs, (lp, id) => ({ id, p: Math.exp((lp - logProbs[best]) / temperature) }));
  const total = scaled.reduce((s, x) => s + x.p, 0);
  scaled.sort((a, b) => b.p - a.p || a.id - b.id);
  // keep the smallest prefix whose mass reaches topP
  const kept: { id: number; p: number }[] = [];
  let mass = 0;
  for (const x of scaled) {
    kept.push(x);
    mass += x.p / total;
    if (mass >= topP - 1e-9) break; // tolerance: 0.5 + 0.3 must reach 0.8 despite rounding
  }
  const keptTotal = kept.reduce((s, x) => s + x.p, 0);
  let u = rng.next() * keptTotal;
  for (const x of kept) {
    u -= x.p;
    if (u <= 0) return x.id;
  }
  return kept[kept.length - 1].id;
}

/**
 * Samples continuations of a batch of prompts (left-padded, so prompts of different lengths share one cache).
 * Sampling happens in JS from downloaded logits with a seeded RNG: identical draws on every backend.
 */
export function sample(model: Model, prompts: number[][], options: SampleOptions): SampleResult {
  const batch = prompts.length;
  const promptLength = Math.max(...prompts.map((p) => p.length));
  const vocab = model.config.vocab_size;
  const maxNew = Math.min(options.maxNewTokens, model.config.max_position_embeddings - promptLength);
  if (maxNew <= 0)
    throw new Error(
      `prompt of ${promptLength} tokens leaves no room under max_position_embeddings ${model.config.max_position_embeddings}`,
    );
  const padding = prompts.map((p) => promptLength - p.length);
  const keyMask = prompts.map((p, b) => Array.from({ length: promptLength + maxNew }, (_, s) => (s < padding[b] ? 0 : 1)));
  const tokens: number[][] = prompts.map(() => []);
  const logProbs: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);

  let cache: KVCache = emptyCache();
  let input = prompts.map((p, b) => [...Array<number>(padding[b]).fill(options.padId), ...p]);
  let positions = prompts.map((_, b) => Array.from({ length: promptLength }, (_, t) => Math.max(0, t - padding[b])));
  for (let step = 0; step < maxNew; step++) {
    const previous: KVCache = cache;
    const [logits, ...layerCache] = tf.tidy(() => {
      const mask = keyMask.map((row) => row.slice(0, previous.length + input[0].length));
      const out = forward(model, tf.tensor2d(input, undefined, 'int32'), { cache: previous, positions, keyMask: mask, lastOnly: true });
      return [out.logits, ...out.cache!.keys, ...out.cache!.values];
    });
    disposeCache(previous);
    const layers = model.config.num_hidden_layers;
    cache = {
      keys: layerCache.slice(0, layers) as tf.Tensor4D[],
      values: layerCache.slice(layers) as tf.Tensor4D[],
      length: previous.length + input[0].length,
    };
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    for (let b = 0; b < batch; b++) {
      if (finished[b]) continue;
      const rowLogProbs = logSoftmaxRow(values, b * vocab, vocab);
      const token = drawToken(rowLogProbs, options.temperature, options.topP, options.rng);
      tokens[b].push(token);
      logProbs[b].push(rowLogProbs[token]);
      if (token === options.eosId || options.stopIds?.includes(token)) finished[b] = true;
    }
    if (finished.every(Boolean)) break;
    // finished rows keep feeding their EOS: their outputs are ignored and rows never attend to each other
    input = tokens.map((row) => [row[row.length - 1]]);
    positions = positions.map((row) => [row[row.length - 1] + 1]);
  }
  disposeCache(cache);
  return { tokens, logProbs, finished };
}

export interface ScoreResult {
  nll: number[]; // U: total NLL of each response given its prompt
  length: number[]; // response tokens scored
  normalizedNll: number[]; // U / length
  entropy: number[]; // mean next-token entropy over the response
  selfCertainty: number[]; // mean KL(uniform ‖ p) over the response
}

/** Teacher-forced scoring of (prompt, response) pairs, in batches; right padding is harmless under the causal mask. */
export function score(
  model: Model,
  prompts: number[][],
  responses: number[][],
  options: { batchSize?: number; padId: number },
): ScoreResult {
  const result: ScoreResult = { nll: [], length: [], normalizedNll: [], entropy: [], selfCertainty: [] };
  const batchSize = options.batchSize ?? 32;
  const vocab = model.config.vocab_size;
  for (let start = 0; start < prompts.length; start += batchSize) {
    const rows = prompts.slice(start, start + batchSize).map((prompt, i) => ({ prompt, response: responses[start + i] }));
    const length = Math.max(...rows.map((r) => r.prompt.length + r.response.length)) - 1;
    const inputs = rows.map((r) => padTo([...r.prompt, ...r.response].slice(0, -1), length, options.padId));
    const targets = rows.map((r) => padTo([...r.prompt, ...r.response].slice(1), length, options.padId));
    // target index j predicts sequence position j+1: the response starts at target prompt.length-1
    const weights = rows.map((r) =>
      Array.from({ length }, (_, j) => (j >= r.prompt.length - 1 && j < r.prompt.length - 1 + r.response.length ? 1 : 0)),
    );
    const [nll, entropy, selfCertainty] = tf.tidy(() => {
      const logits = forward(model, tf.tensor2d(inputs, undefined, 'int32')).logits;
      const logProbs = tf.logSoftmax(logits);
      const weight = tf.tensor2d(weights);
      const targetLogProbs = tf.sum(tf.mul(logProbs, oneHotFloat(tf.tensor2d(targets, undefined, 'int32'), vocab)), 2);
      const tokenEntropy = tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), 2));
      // KL(U‖p) = −log V − mean_v log p_v
      const tokenSelfCertainty = tf.sub(tf.neg(tf.mean(logProbs, 2)), Math.log(vocab));
      return [
        tf.neg(tf.sum(tf.mul(targetLogProbs, weight), 1)),
        tf.sum(tf.mul(tokenEntropy, weight), 1),
        tf.sum(tf.mul(tokenSelfCertainty, weight), 1),
      ];
    });
    const nllValues = nll.dataSync();
    const entropyValues = entropy.dataSync();
    const certaintyValues = selfCertainty.dataSync();
    tf.dispose([nll, entropy, selfCertainty]);
    rows.forEach((r, i) => {
      const n = Math.max(1, r.response.length);
      result.nll.push(nllValues[i]);
      result.length.push(r.response.length);
      result.normalizedNll.push(nllValues[i] / n);
      result.entropy.push(entropyValues[i] / n);
      result.selfCertainty.push(certaintyValues[i] / n);
    });
  }
  return result;
}

function padTo(ids: number[], length: number, padId: number): number[] {
  return [...ids, ...Array<number>(length - ids.length).fill(padId)];
}

/** Log-probabilities of the token after each prompt, [prompt][vocab], left-padded in batches (the verifier's read-out). */
export function nextTokenLogProbs(model: Model, prompts: number[][], options: { padId: number; batchSize?: number }): Float64Array[] {
  const out: Float64Array[] = [];
  const batchSize = options.batchSize ?? 32;
  const vocab = model.config.vocab_size;
  for (let start = 0; start < prompts.length; start += batchSize) {
    const rows = prompts.slice(start, start + batchSize);
    const length = Math.max(...rows.map((r) => r.length));
    const padding = rows.map((r) => length - r.length);
    const input = rows.map((r, b) => [...Array<number>(padding[b]).fill(options.padId), ...r]);
    const positions = rows.map((_, b) => Array.from({ length }, (_, t) => Math.max(0, t - padding[b])));
    const keyMask = rows.map((_, b) => Array.from({ length }, (_, s) => (s < padding[b] ? 0 : 1)));
    const logits = tf.tidy(() => forward(model, tf.tensor2d(input, undefined, 'int32'), { positions, keyMask, lastOnly: true }).logits);
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    rows.forEach((_, b) => out.push(logSoftmaxRow(values, b * vocab, vocab)));
  }
  return out;
}
