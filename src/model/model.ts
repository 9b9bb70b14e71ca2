// A Phi-3 / Phi-4-mini style decoder-only transformer, written top to bottom in tfjs ops:
// RMSNorm, partial rotary embeddings, grouped-query attention, SwiGLU MLP, tied or untied output embedding, LoRA.
// Weights use Hugging Face names and layouts ([out, in] like torch.nn.Linear) so real Phi checkpoints map 1:1; Llama
// and Qwen2 differ only in what the config says (q/k/v and gate/up fused on load by hf.ts, biases, rope scaling, windows).
import * as tf from '@tensorflow/tfjs-core';
import '../engine/register.js';
import { type ModelConfig, biasedLinears, headDim, rotaryDim, slidingWindow } from './config.js';
import { rotaryCosSin } from './rope.js';
import { Rng } from './rng.js';

export const LORA_TARGETS = ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
}

export interface Lora {
  config: LoraConfig;
  params: Record<string, tf.Variable>; // `${linearName}.lora_A` [rank, in] and `${linearName}.lora_B` [out, rank]
}

export interface Model {
  config: ModelConfig;
  params: Record<string, tf.Variable>;
  lora?: Lora;
  embedMode: 'gather' | 'onehot'; // one-hot matMul where the backend lacks the gather gradient (wasm)
}

/** Per-layer attention keys and values of everything seen so far, [batch, kvHeads, length, headDim]. */
export interface KVCache {
  keys: tf.Tensor4D[];
  values: tf.Tensor4D[];
  length: number;
}

export interface ForwardOptions {
  cache?: KVCache; // extend this cache (its tensors are disposed and replaced in the returned cache)
  positions?: number[][]; // rotary position of each input token, [batch][time]; default: cache.length + t
  keyMask?: number[][]; // 1 = attend, 0 = padding, [batch][cache.length + time]; default: all ones
  lastOnly?: boolean; // project only the last position to logits (sampling)
}

const LINEAR_BLOCK = { qkv_proj: 'self_attn', o_proj: 'self_attn', gate_up_proj: 'mlp', down_proj: 'mlp' } as const;

/** The shapes of every base weight (and bias, where the architecture has them), in HF names. */
export function parameterShapes(config: ModelConfig): Record<string, number[]> {
  const d = config.hidden_size;
  const hd = headDim(config);
  const qkvOut = (config.num_attention_heads + 2 * config.num_key_value_heads) * hd;
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [config.vocab_size, d] };
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    shapes[`${p}.input_layernorm.weight`] = [d];
    shapes[`${p}.self_attn.qkv_proj.weight`] = [qkvOut, d];
    shapes[`${p}.self_attn.o_proj.weight`] = [d, config.num_attention_heads * hd];
    shapes[`${p}.post_attention_layernorm.weight`] = [d];
    shapes[`${p}.mlp.gate_up_proj.weight`] = [2 * config.intermediate_size, d];
    shapes[`${p}.mlp.down_proj.weight`] = [d, config.intermediate_size];
    for (const biased of biasedLinears(config)) {
      const linear = `${p}.${LINEAR_BLOCK[biased]}.${biased}`;
      shapes[`${linear}.bias`] = [shapes[`${linear}.weight`][0]];
    }
  }
  shapes['model.norm.weight'] = [d];
  if (!config.tie_word_embeddings) shapes['lm_head.weight'] = [config.vocab_size, d];
  return shapes;
}

export function countParameters(shapes: Record<string, number[]>): number {
  return Object.values(shapes).reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** Random initialisation from a seed (drawn in JS, so identical on every backend). */
export function initModel(config: ModelConfig, seed: number, embedMode: Model['embedMode'] = 'gather'): Model {
  const rng = new Rng(seed);
  const params: Record<string, tf.Variable> = {};
  // GPT-2 style: residual output projections scaled down by depth so the residual stream stays O(1)
  const residualStd = config.initializer_range / Math.sqrt(2 * config.num_hidden_layers);
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') values.fill(1);
    else if (name.endsWith('.bias')) values.fill(0);
    else {
      const std = name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight') ? residualStd : config.initializer_range;
      for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
    }
    params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32')));
  }
  return { config, params, embedMode };
}

/** The linear layers a LoRA target applies to, with their [out, in] shapes. */
function loraLinears(model: Model, targets: LoraTarget[]): [string, number[]][] {
  return Object.entries(model.params)
    .filter(([name]) => targets.some((target) => name.endsWith(`.${target}.weight`)))
    .map(([name, variable]) => [name.replace(/\.weight$/, ''), variable.shape]);
}

/** Adds LoRA adapters (A random, B zero, so the model is unchanged at first); the base becomes frozen for training. */
export function addLora(model: Model, config: LoraConfig, seed: number): Lora {
  const rng = new Rng(seed);
  const params: Record<string, tf.Variable> = {};
  for (const [linear, [out, inp]] of loraLinears(model, config.targets)) {
    const a = new Float32Array(config.rank * inp!);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal() / Math.sqrt(inp!);
    params[`${linear}.lora_A`] = tf.tidy(() => tf.variable(tf.tensor2d(a, [config.rank, inp!])));
    params[`${linear}.lora_B`] = tf.tidy(() => tf.variable(tf.zeros([out!, config.rank])));
  }
  model.lora = { config, params };
  return model.lora;
}

/** Folds the adapters into the base weights (W += alpha/rank · B A) and removes them, for export. */
export function mergeLora(model: Model): void {
  const lora = model.lora;
  if (!lora) return;
  const scale = lora.config.alpha / lora.config.rank;
  for (const [linear] of loraLinears(model, lora.config.targets)) {
    const weight = model.params[`${linear}.weight`];
    tf.tidy(() =>
      weight.assign(tf.add(weight, tf.mul(tf.matMul(lora.params[`${linear}.lora_B`], lora.params[`${linear}.lora_A`]), scale))),
    );
  }
  disposeLora(model);
}

export function disposeLora(model: Model): void {
  if (!model.lora) return;
  for (const variable of Object.values(model.lora.params)) variable.dispose();
  model.lora = undefined;
}

export function disposeModel(model: Model): void {
  disposeLora(model);
  for (const variable of Object.values(model.params)) variable.dispose();
}

export function disposeCache(cache: KVCache | undefined): void {
  if (!cache) return;
  for (const t of [...cache.keys, ...cache.values]) t.dispose();
}

/** y = x Wᵀ (+ b where the layer has a bias) (+ alpha/rank · x Aᵀ Bᵀ when the layer has a LoRA adapter); x is [n, in]. */
function linear(model: Model, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const bias = model.params[`${name}.bias`];
  const projected = tf.matMul(x, model.params[`${name}.weight`], false, true) as tf.Tensor2D;
  const y = bias ? (tf.add(projected, bias) as tf.Tensor2D) : projected;
  const a = model.lora?.params[`${name}.lora_A`];
  if (!a) return y;
  const b = model.lora!.params[`${name}.lora_B`];
  const scale = model.lora!.config.alpha / model.lora!.config.rank;
  return tf.add(y, tf.mul(tf.matMul(tf.matMul(x, a, false, true), b, false, true), scale)) as tf.Tensor2D;
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
}

/** cos and sin of every (token, frequency) pair, [batch, time, 1, rotaryDim/2], computed in JS from integer positions (rope.ts). */
function rotaryTables(config: ModelConfig, positions: number[][]): [tf.Tensor4D, tf.Tensor4D] {
  const { cos, sin } = rotaryCosSin(config, positions);
  const shape: [number, number, number, number] = [positions.length, positions[0].length, 1, rotaryDim(config) / 2];
  return [tf.tensor4d(cos, shape), tf.tensor4d(sin, shape)];
}

/** Rotates the first rotaryDim dimensions of each head (HF rotate_half convention), passes the rest: x is [batch, time, heads, headDim]. */
function applyRotary(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D, rotDim: number): tf.Tensor4D {
  const [batch, time, heads, hd] = x.shape;
  const half = rotDim / 2;
  const x1 = tf.slice(x, [0, 0, 0, 0], [batch, time, heads, half]);
  const x2 = tf.slice(x, [0, 0, 0, half], [batch, time, heads, half]);
  const rotated: tf.Tensor[] = [tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))];
  if (rotDim < hd) rotated.push(tf.slice(x, [0, 0, 0, rotDim], [batch, time, heads, hd - rotDim]));
  return tf.concat(rotated, 3) as tf.Tensor4D;
}

/**
 * Additive attention mask [batch, 1, 1, time, keys]: query t (at cache index past + t) sees key s when s ≤ past + t,
 * the key is not padding and, with a sliding window, past + t − s < window.
 */
function attentionMask(batch: number, time: number, past: number, keyMask?: number[][], window = Infinity): tf.Tensor {
  const keys = past + time;
  const mask = new Float32Array(batch * time * keys);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      for (let s = 0; s < keys; s++) {
        const visible = s <= past + t && past + t - s < window && (keyMask === undefined || keyMask[b][s] === 1);
        mask[(b * time + t) * keys + s] = visible ? 0 : -1e9;
      }
    }
  }
  return tf.tensor(mask, [batch, 1, 1, time, keys]);
}

/** One-hot rows as float32; built as int32 then cast, because the wasm OneHot kernel ignores the dtype and writes int32 bits. */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.cast(tf.oneHot(indices, depth), 'float32');
}

function embed(model: Model, tokens: tf.Tensor2D): tf.Tensor2D {
  const table = model.params['model.embed_tokens.weight'];
  const flat = tf.reshape(tokens, [-1]) as tf.Tensor1D;
  if (model.embedMode === 'gather') return tf.gather(table, flat) as tf.Tensor2D;
  return tf.matMul(oneHotFloat(flat, model.config.vocab_size) as tf.Tensor2D, table);
}

/** Grouped-query self-attention of one layer; x is [batch·time, hidden]. Returns the output and the layer's extended cache. */
function attention(
  model: Model,
  layer: number,
  x: tf.Tensor2D,
  batch: number,
  time: number,
  rotary: [tf.Tensor4D, tf.Tensor4D],
  mask: tf.Tensor,
  cache?: KVCache,
): { out: tf.Tensor2D; keys: tf.Tensor4D; values: tf.Tensor4D } {
  const config = model.config;
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads;
  const group = heads / kvHeads;
  const hd = headDim(config);
  const qkv = linear(model, `model.layers.${layer}.self_attn.qkv_proj`, x);
  const [qFlat, kFlat, vFlat] = tf.split(qkv, [heads * hd, kvHeads * hd, kvHeads * hd], 1);
  const q = applyRotary(tf.reshape(qFlat!, [batch, time, heads, hd]), rotary[0], rotary[1], rotaryDim(config));
  let k = tf.transpose(applyRotary(tf.reshape(kFlat!, [batch, time, kvHeads, hd]), rotary[0], rotary[1], rotaryDim(config)), [0, 2, 1, 3]);
  let v = tf.transpose(tf.reshape(vFlat!, [batch, time, kvHeads, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
  if (cache && cache.length > 0) {
    k = tf.concat([cache.keys[layer], k], 2);
    v = tf.concat([cache.values[layer], v], 2);
  }
  const keys = k.shape[2];
  // query head h uses KV head floor(h / group) (HF repeat_kv): fold the group into the query axis instead of copying K and V
  const qGrouped = tf.reshape(tf.transpose(tf.reshape(q, [batch, time, kvHeads, group, hd]), [0, 2, 3, 1, 4]), [
    batch,
    kvHeads,
    group * time,
    hd,
  ]);
  const scores = tf.add(
    tf.reshape(tf.mul(tf.matMul(qGrouped, k, false, true), 1 / Math.sqrt(hd)), [batch, kvHeads, group, time, keys]),
    mask,
  );
  const weights = tf.reshape(tf.softmax(scores), [batch, kvHeads, group * time, keys]);
  const context = tf.reshape(tf.transpose(tf.reshape(tf.matMul(weights, v), [batch, kvHeads, group, time, hd]), [0, 3, 1, 2, 4]), [
    batch * time,
    heads * hd,
  ]);
  return { out: linear(model, `model.layers.${layer}.self_attn.o_proj`, context as tf.Tensor2D), keys: k, values: v };
}

function mlp(model: Model, layer: number, x: tf.Tensor2D): tf.Tensor2D {
  const [gate, up] = tf.split(linear(model, `model.layers.${layer}.mlp.gate_up_proj`, x), 2, 1);
  // SwiGLU: silu(gate) * up
  const hidden = tf.mul(tf.mul(gate!, tf.sigmoid(gate!)), up!) as tf.Tensor2D;
  return linear(model, `model.layers.${layer}.mlp.down_proj`, hidden);
}

/**
 * Logits for a batch of token ids [batch, time]: [batch, time, vocab] (or [batch, 1, vocab] with lastOnly).
 * With a cache, the tokens continue it and the returned cache holds the extended keys and values.
 */
export function forward(model: Model, tokens: tf.Tensor2D, options: ForwardOptions = {}): { logits: tf.Tensor3D; cache?: KVCache } {
  const config = model.config;
  const [batch, time] = tokens.shape;
  const past = options.cache?.length ?? 0;
  if (past + time > config.max_position_embeddings) {
    throw new Error(`sequence of ${past + time} tokens exceeds max_position_embeddings ${config.max_position_embeddings}`);
  }
  const positions = options.positions ?? Array.from({ length: batch }, () => Array.from({ length: time }, (_, t) => past + t));
  const rotary = rotaryTables(config, positions);
  const mask = attentionMask(batch, time, past, options.keyMask);
  const windowMasks = new Map<number, tf.Tensor>(); // one mask per distinct sliding-window size
  const maskOf = (layer: number) => {
    const window = slidingWindow(config, layer);
    if (window === undefined || window >= past + time) return mask;
    if (!windowMasks.has(window)) windowMasks.set(window, attentionMask(batch, time, past, options.keyMask, window));
    return windowMasks.get(window)!;
  };
  const newKeys: tf.Tensor4D[] = [];
  const newValues: tf.Tensor4D[] = [];
  let h: tf.Tensor2D = embed(model, tokens);
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const p = `model.layers.${layer}`;
    const normed = rmsNorm(h, model.params[`${p}.input_layernorm.weight`], config.rms_norm_eps) as tf.Tensor2D;
    const attn = attention(model, layer, normed, batch, time, rotary, maskOf(layer), options.cache);
    newKeys.push(attn.keys);
    newValues.push(attn.values);
    h = tf.add(h, attn.out);
    h = tf.add(h, mlp(model, layer, rmsNorm(h, model.params[`${p}.post_attention_layernorm.weight`], config.rms_norm_eps) as tf.Tensor2D));
  }
  let final = tf.reshape(rmsNorm(h, model.params['model.norm.weight'], config.rms_norm_eps), [batch, time, config.hidden_size]);
  if (options.lastOnly) final = tf.slice(final, [0, time - 1, 0], [batch, 1, config.hidden_size]);
  const outTime = options.lastOnly ? 1 : time;
  const head = model.params[config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'];
  const logits = tf.reshape(tf.matMul(tf.reshape(final, [batch * outTime, config.hidden_size]), head, false, true), [
    batch,
    outTime,
    config.vocab_size,
  ]) as tf.Tensor3D;
  const cache = options.cache ? { keys: newKeys, values: newValues, length: past + time } : undefined;
  return { logits, cache };
}

/** An empty cache to start incremental decoding with. */
export function emptyCache(): KVCache {
  return { keys: [], values: [], length: 0 };
}

/** The variables that training updates: the adapters under LoRA, else every base weight. */
export function trainableParams(model: Model): Record<string, tf.Variable> {
  return model.lora ? model.lora.params : model.params;
}
