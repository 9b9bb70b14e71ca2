// Tiny random Hugging Face checkpoints for tests: HF's own tensor layout per architecture (phi3 fused, llama/qwen2
// separate, biases), miniature configs of the real model families, and logits from scripts/hf_reference.py.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type Model, disposeModel, forward } from '../src/model/model.js';
import { loadHFModel, writeSafetensorsShards } from '../src/model/hf.js';
import { type NamedArray, float32ToBf16, float32ToF16 } from '../src/model/safetensors.js';
import { Rng } from '../src/model/rng.js';
import { requireOrSkip } from './helpers.js';

export const PYTHON = '/usr/bin/python3';
export const REFERENCE = resolve(__dirname, '..', 'scripts', 'hf_reference.py');

/** PyTorch under /usr/bin/python3, or why not. Missing: a notice and a skip, a failure under CI=true. */
export const HAVE_TORCH = requireOrSkip(
  `${PYTHON} with torch (the PyTorch port of HF's forward)`,
  spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0,
  'apt-get install python3-torch',
);

export type Raw = Record<string, unknown>;
export type Dtype = 'F32' | 'BF16' | 'F16';

/** Random weights in HF's own layout for the config's architecture: phi3 fused, llama/qwen2 separate (+ biases). */
export function hfTensors(config: Raw, seed: number, dtype: Dtype): Record<string, NamedArray> {
  const rng = new Rng(seed);
  const d = config.hidden_size as number;
  const heads = config.num_attention_heads as number;
  const kv = (config.num_key_value_heads as number | undefined) ?? heads;
  const hd = (config.head_dim as number | undefined) ?? d / heads;
  const inter = config.intermediate_size as number;
  const vocab = config.vocab_size as number;
  const out: Record<string, NamedArray> = {};
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => mean + rng.normal() * std);
    out[name] =
      dtype === 'F32'
        ? { dtype, shape, data: values }
        : { dtype, shape, data: dtype === 'BF16' ? float32ToBf16(values) : float32ToF16(values) };
  };
  add('model.embed_tokens.weight', [vocab, d], 0.5);
  for (let i = 0; i < (config.num_hidden_layers as number); i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [d], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [d], 0.1, 1);
    if (config.model_type === 'phi3') {
      add(`${p}.self_attn.qkv_proj.weight`, [(heads + 2 * kv) * hd, d], 0.3);
      add(`${p}.mlp.gate_up_proj.weight`, [2 * inter, d], 0.3);
    } else {
      for (const [name, rows] of [
        ['q_proj', heads * hd],
        ['k_proj', kv * hd],
        ['v_proj', kv * hd],
      ] as const) {
        add(`${p}.self_attn.${name}.weight`, [rows, d], 0.3);
        if (config.model_type === 'qwen2') add(`${p}.self_attn.${name}.bias`, [rows], 0.5);
      }
      add(`${p}.mlp.gate_proj.weight`, [inter, d], 0.3);
      add(`${p}.mlp.up_proj.weight`, [inter, d], 0.3);
    }
    add(`${p}.self_attn.o_proj.weight`, [d, heads * hd], 0.3);
    add(`${p}.mlp.down_proj.weight`, [d, inter], 0.3);
  }
  add('model.norm.weight', [d], 0.1, 1);
  if (!config.tie_word_embeddings) add('lm_head.weight', [vocab, d], 0.3);
  return out;
}

export function writeCheckpoint(
  root: string,
  name: string,
  config: Raw,
  options: { dtype?: Dtype; shardBytes?: number; seed?: number } = {},
): string {
  const dir = join(root, name);
  writeSafetensorsShards(dir, hfTensors(config, options.seed ?? 1, options.dtype ?? 'F32'), options.shardBytes);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** scripts/hf_reference.py's logits for the checkpoint in `dir` (with a PEFT adapter merged in, when given). */
export function referenceLogits(dir: string, tokens: number[][], adapterDir?: string): Float32Array {
  const tokensPath = join(dir, 'tokens.json');
  const outPath = join(dir, 'reference.bin');
  writeFileSync(tokensPath, JSON.stringify(tokens));
  const run = spawnSync(PYTHON, [REFERENCE, dir, tokensPath, outPath, ...(adapterDir ? [adapterDir] : [])], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`hf_reference.py failed: ${run.stderr}`);
  const bytes = readFileSync(outPath);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

export function ourLogits(dir: string, tokens: number[][]): Float32Array {
  const model = loadHFModel(dir);
  try {
    return modelLogits(model, tokens);
  } finally {
    disposeModel(model);
  }
}

/** The model's logits (LoRA included) for equal-length token rows, flattened [batch, time, vocab]. */
export function modelLogits(model: Model, tokens: number[][]): Float32Array {
  return tf.tidy(() => forward(model, tf.tensor2d(tokens, undefined, 'int32')).logits.dataSync() as Float32Array);
}

/** Every LoRA B drawn at random (addLora starts them at zero, which would make any adapter test vacuous). */
export function randomizeLoraB(model: Model, seed: number, std = 0.3): void {
  const rng = new Rng(seed);
  for (const [name, v] of Object.entries(model.lora!.params))
    if (name.endsWith('lora_B'))
      v.assign(
        tf.tensor(
          Array.from({ length: v.size }, () => rng.normal() * std),
          v.shape,
        ),
      );
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((most, v, i) => Math.max(most, Math.abs(v - b[i])), 0);
}

export function randomTokens(seed: number, batch: number, time: number, vocab: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: time }, () => rng.int(vocab)));
}

export const factors = (seed: number, n: number, low: number, high: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => low + (high - low) * rng.next());
};

// Phi-4-mini in miniature: GQA, partial rotary 0.75, longrope with original max 16 of 64, tied embeddings.
export const PHI4_LIKE: Raw = {
  model_type: 'phi3',
  vocab_size: 61,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 48,
  max_position_embeddings: 64,
  original_max_position_embeddings: 16,
  rope_theta: 10000,
  partial_rotary_factor: 0.75,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
  eos_token_id: 60,
  sliding_window: 262144,
  rope_scaling: { type: 'longrope', short_factor: factors(5, 3, 1, 1.5), long_factor: factors(6, 3, 2, 8) },
};
// Phi-3-mini in miniature: MHA, no rope scaling, untied head, a sliding window shorter than the test sequences.
export const PHI3_LIKE: Raw = {
  model_type: 'phi3',
  vocab_size: 53,
  hidden_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 3,
  num_key_value_heads: 3,
  intermediate_size: 40,
  max_position_embeddings: 64,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  sliding_window: 5,
  eos_token_id: [50, 51],
};
// Llama 3.x in miniature: separate projections, explicit head_dim, rope_theta 5e5 with llama3 scaling whose bands all occur.
export const LLAMA3_LIKE: Raw = {
  model_type: 'llama',
  vocab_size: 47,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  intermediate_size: 40,
  max_position_embeddings: 256,
  rope_theta: 500000,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
};
// Qwen2.5 in miniature: q/k/v biases, rope_theta 1e6, eps 1e-6 by default, tied, sliding window on layers ≥ 1.
export const QWEN2_LIKE: Raw = {
  model_type: 'qwen2',
  vocab_size: 59,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 44,
  max_position_embeddings: 128,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  use_sliding_window: true,
  sliding_window: 4,
  max_window_layers: 1,
};
