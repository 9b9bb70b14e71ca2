// Batched sampling with a KV cache, and the teacher-forced scorer behind the paper's uncertainty U (sequence NLL).
import * as tf from '@tensorflow/tfjs-core';
import { type KVCache, type Model, disposeCache, emptyCache, forward, forwardHidden, oneHotFloat, outputHead } from './model.js';
import { Rng } from './rng.js';
import { hasFused } from './fused.js';

export interface SampleOptions {
  temperature: number; // 0 = greedy
  topP: number;
  maxNewTokens: number;
  eosId: number;
  stopIds?: number[]; // further ids that end a row (HF generation_config eos lists, e.g. Phi-4-mini's <|end|>)
  padId: number;
  rng: Rng | Rng[]; // one generator for the batch, or one per row (per-row seeds make results independent of batching)
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
 * [token, its log-prob] of every unfinished row of logits [rows, 1, vocab], the rows drawing from options.rng in order.
 * On a backend with the fused sampler (torch) the draw runs on the device from the same uniforms, so only the tokens
 * come back instead of every row's logits; elsewhere the logits are read and drawToken runs here.
 */
export function drawRows(
  logits: tf.Tensor,
  finished: boolean[],
  options: Pick<SampleOptions, 'temperature' | 'topP' | 'rng'>,
): [number, number][] {
  const vocab = logits.shape[logits.shape.length - 1];
  const rngOf = (b: number) => (Array.isArray(options.rng) ? options.rng[b] : options.rng);
  if (hasFused('FusedSample')) {
    // greedy draws take no uniform; finished rows take none either (their draw is ignored)
    const uniforms = finished.map((done, b) => (done || options.temperature <= 0 ? 0.5 : rngOf(b).next()));
    const [tokens, logProbs] = tf
      .engine()
      .runKernel('FusedSample', { logits }, { uniforms, temperature: options.temperature, topP: options.topP }) as tf.Tensor[];
    const ids = tokens!.dataSync();
    const lps = logProbs!.dataSync();
    tf.dispose([tokens!, logProbs!]);
    return finished.map((_, b) => [ids[b], lps[b]]);
  }
  const values = logits.dataSync() as Float32Array;
  return finished.map((done, b) => {
    if (done) return [-1, 0];
    const rowLogProbs = logSoftmaxRow(values, b * vocab, vocab);
    const token = drawToken(rowLogProbs, options.temperature, options.topP, rngOf(b));
    return [token, rowLogProbs[token]];
  });
}

/**
 * Samples continuations of a batch of prompts (left-padded, so prompts of different lengths share one cache).
 * Draws use a seeded RNG in JS (on torch, its uniforms drive the draw on the device): identical draws on every backend.
 */
export function sample(model: Model, prompts: number[][], options: SampleOptions): SampleResult {
  const batch = prompts.length;
  const promptLength = Math.max(...prompts.map((p) => p.length));
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
    const draws = drawRows(logits, finished, options);
    logits.dispose();
    for (let b = 0; b < batch; b++) {
      if (finished[b]) continue;
      const [token, logProb] = draws[b];
      tokens[b].push(token);
      logProbs[b].push(logProb);
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

/**
 * Per-row sums of the scored tokens' NLL, entropy and KL(U‖p) from the final hidden states [batch, time, hidden],
 * projecting only the weighted tokens onto the vocabulary, `chunk` of them at a time (never [batch, time, vocab]).
 */
function chunkedScoreSums(
  model: Model,
  hidden: tf.Tensor3D,
  targets: number[][],
  weights: number[][],
  chunk: number,
): { nll: Float64Array; entropy: Float64Array; selfCertainty: Float64Array } {
  const [batch, time] = [targets.length, targets[0].length];
  const sums = { nll: new Float64Array(batch), entropy: new Float64Array(batch), selfCertainty: new Float64Array(batch) };
  const flatWeights = weights.flat();
  const rows = flatWeights.flatMap((w, i) => (w !== 0 ? [i] : []));
  const flatTargets = targets.flat();
  const head = outputHead(model);
  const vocab = model.config.vocab_size;
  for (let start = 0; start < rows.length; start += chunk) {
    const part = rows.slice(start, start + chunk);
    const values = tf.tidy(() => {
      const h = tf.gather(tf.reshape(hidden, [-1, model.config.hidden_size]), part) as tf.Tensor2D;
      const logits = tf.matMul(h, head, false, true);
      const logProbs = tf.logSoftmax(logits);
      // the target's log-prob as its gathered logit minus log-sum-exp (no one-hot)
      const targetLogProbs = tf.sub(
        tf.sum(
          tf.mul(
            h,
            tf.gather(
              head,
              part.map((i) => flatTargets[i]),
            ),
          ),
          1,
        ),
        tf.logSumExp(logits, 1),
      );
      const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), 1));
      const selfCertainty = tf.sub(tf.neg(tf.mean(logProbs, 1)), Math.log(vocab)); // KL(U‖p) = −log V − mean_v log p_v
      return tf.stack([tf.neg(targetLogProbs), entropy, selfCertainty]);
    });
    const data = values.dataSync();
    values.dispose();
    part.forEach((i, k) => {
      const b = Math.floor(i / time);
      sums.nll[b] += flatWeights[i] * data[k];
      sums.entropy[b] += flatWeights[i] * data[part.length + k];
      sums.selfCertainty[b] += flatWeights[i] * data[2 * part.length + k];
    });
  }
  return sums;
}

/**
 * Teacher-forced scoring of (prompt, response) pairs, in batches; right padding is harmless under the causal mask.
 * logitChunk > 0 forms the logits of that many response tokens at a time (large vocabularies); 0: all at once.
 */
export function score(
  model: Model,
  prompts: number[][],
  responses: number[][],
  options: { batchSize?: number; padId: number; logitChunk?: number },
): ScoreResult {
  const result: ScoreResult = { nll: [], length: [], normalizedNll: [], entropy: [], selfCertainty: [] };
  const batchSize = options.batchSize ?? 32;
  for (let start = 0; start < prompts.length; start += batchSize) {
    const rows = prompts.slice(start, start + batchSize).map((prompt, i) => ({ prompt, response: responses[start + i] }));
    const length = Math.max(...rows.map((r) => r.prompt.length + r.response.length)) - 1;
    const inputs = rows.map((r) => padTo([...r.prompt, ...r.response].slice(0, -1), length, options.padId));
    const targets = rows.map((r) => padTo([...r.prompt, ...r.response].slice(1), length, options.padId));
    // target index j predicts sequence position j+1: the response starts at target prompt.length-1
    const weights = rows.map((r) =>
      Array.from({ length }, (_, j) => (j >= r.prompt.length - 1 && j < r.prompt.length - 1 + r.response.length ? 1 : 0)),
    );
    let nllValues: ArrayLike<number>;
    let entropyValues: ArrayLike<number>;
    let certaintyValues: ArrayLike<number>;
    if ((options.logitChunk ?? 0) > 0) {
      const hidden = tf.tidy(() => forwardHidden(model, tf.tensor2d(inputs, undefined, 'int32')).hidden);
      ({
        nll: nllValues,
        entropy: entropyValues,
        selfCertainty: certaintyValues,
      } = chunkedScoreSums(model, hidden, targets, weights, options.logitChunk!));
      hidden.dispose();
    } else {
      const [nll, entropy, selfCertainty] = tf.tidy(() => {
        const weight = tf.tensor2d(weights);
        return tokenStats(model, inputs, targets).map((t) => tf.sum(tf.mul(t, weight), 1));
      });
      nllValues = nll!.dataSync();
      entropyValues = entropy!.dataSync();
      certaintyValues = selfCertainty!.dataSync();
      tf.dispose([nll!, entropy!, selfCertainty!]);
    }
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

/** Per-position [batch, length] tensors of a teacher-forced pass: −log p(target), entropy, KL(U‖p) (call inside tidy). */
function tokenStats(model: Model, inputs: number[][], targets: number[][]): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  const vocab = model.config.vocab_size;
  const logits = forward(model, tf.tensor2d(inputs, undefined, 'int32')).logits;
  const logProbs = tf.logSoftmax(logits);
  const targetLogProbs = tf.sum(tf.mul(logProbs, oneHotFloat(tf.tensor2d(targets, undefined, 'int32'), vocab)), 2);
  const tokenEntropy = tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), 2));
  // KL(U‖p) = −log V − mean_v log p_v
  const tokenSelfCertainty = tf.sub(tf.neg(tf.mean(logProbs, 2)), Math.log(vocab));
  return [tf.neg(targetLogProbs), tokenEntropy, tokenSelfCertainty] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
}

export interface SequenceLogProbs {
  logProbs: number[]; // log p(token t | tokens < t) for t = 1 … length−1 (the first token has none)
  entropy: number[]; // next-token entropy at each of those positions
  selfCertainty: number[]; // KL(U‖p) at each of those positions
}

/** Teacher-forced per-token log-probs of whole sequences (an engine's prompt_logprobs), in right-padded batches. */
export function sequenceLogProbs(model: Model, sequences: number[][], options: { batchSize?: number; padId: number }): SequenceLogProbs[] {
  const out: SequenceLogProbs[] = [];
  const batchSize = options.batchSize ?? 32;
  for (let start = 0; start < sequences.length; start += batchSize) {
    const rows = sequences.slice(start, start + batchSize);
    const length = Math.max(1, ...rows.map((r) => r.length - 1));
    const inputs = rows.map((r) => padTo(r.slice(0, -1), length, options.padId));
    const targets = rows.map((r) => padTo(r.slice(1), length, options.padId));
    const stats = tf.tidy(() => tokenStats(model, inputs, targets));
    const [nll, entropy, certainty] = stats.map((t) => t.arraySync() as number[][]);
    tf.dispose(stats);
    rows.forEach((r, b) => {
      const n = Math.max(0, r.length - 1);
      out.push({
        logProbs: nll![b].slice(0, n).map((x) => -x),
        entropy: entropy![b].slice(0, n),
        selfCertainty: certainty![b].slice(0, n),
      });
    });
  }
  return out;
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
