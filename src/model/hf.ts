// Hugging Face checkpoint directories: config.json (phi3, llama, qwen2) and model.safetensors or sharded safetensors
// through model.safetensors.index.json. Weights stream in one tensor at a time (positioned reads, F32/BF16/F16 → F32);
// separate q/k/v and gate/up projections are fused on load into src/model's qkv_proj / gate_up_proj layout.
import * as tf from '@tensorflow/tfjs-core';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, headDim, validateConfig } from './config.js';
import { type Model, parameterShapes } from './model.js';
import { readJsonFile, writeFileAtomic } from '../io.js';
import {
  type NamedArray,
  type SafetensorsHeader,
  type TensorEntry,
  encodeSafetensors,
  readSafetensorsHeader,
  readTensorFloat32,
} from './safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** config.json of a checkpoint directory, validated; unknown model types are an error naming the file. */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new Error(`${dir}: not a checkpoint directory (no config.json)`);
  return validateConfig(readJsonFile(path), path);
}

/** Which file holds each tensor: the index's weight_map for sharded checkpoints, else every tensor of model.safetensors. */
function weightFiles(dir: string): { files: string[]; source: string } {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    const index = readJsonFile(indexPath) as { weight_map?: Record<string, unknown> };
    const map = index.weight_map;
    if (typeof map !== 'object' || map === null || !Object.values(map).every((f) => typeof f === 'string'))
      throw new Error(`${indexPath}: 'weight_map' must map tensor names to file names`);
    const files = [...new Set(Object.values(map) as string[])];
    for (const file of files) if (!existsSync(join(dir, file))) throw new Error(`${indexPath}: shard ${file} is missing from ${dir}`);
    return { files, source: indexPath };
  }
  if (existsSync(join(dir, SINGLE_FILE))) return { files: [SINGLE_FILE], source: join(dir, SINGLE_FILE) };
  throw new Error(
    `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}` +
      (existsSync(join(dir, 'pytorch_model.bin')) ? ' (pytorch_model.bin is not read: convert it to safetensors)' : ''),
  );
}

/** The stored tensors a fused parameter is made of, in row order: itself, or HF's separate projections. */
function sourcesOf(name: string, config: ModelConfig, shape: number[]): { name: string; rows: number }[][] {
  const hd = headDim(config);
  const split = (parts: [string, number][]) =>
    parts.map(([part, rows]) => ({ name: name.replace(/\w+_proj\.(weight|bias)$/, `${part}.$1`), rows }));
  const whole = [{ name, rows: shape[0] }];
  if (/\.qkv_proj\.(weight|bias)$/.test(name)) {
    return [
      whole,
      split([
        ['q_proj', config.num_attention_heads * hd],
        ['k_proj', config.num_key_value_heads * hd],
        ['v_proj', config.num_key_value_heads * hd],
      ]),
    ];
  }
  if (/\.gate_up_proj\.(weight|bias)$/.test(name))
    return [
      whole,
      split([
        ['gate_proj', config.intermediate_size],
        ['up_proj', config.intermediate_size],
      ]),
    ];
  return [whole];
}

const IGNORED = /\.rotary_emb\.inv_freq$/; // older checkpoints store this buffer; it is recomputed from the config

/** Where each parameter's pieces are, checked: a missing, misshapen or unexpected tensor names the file and tensor. */
function planLoad(
  config: ModelConfig,
  headers: Map<string, SafetensorsHeader>,
  source: string,
): Map<string, { file: string; entry: TensorEntry }[]> {
  const located = new Map<string, { file: string; entry: TensorEntry }>();
  for (const [file, header] of headers) for (const [name, entry] of Object.entries(header.tensors)) located.set(name, { file, entry });
  const used = new Set<string>();
  const plan = new Map<string, { file: string; entry: TensorEntry }[]>();
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const options = sourcesOf(name, config, shape);
    const found = options.find((parts) => parts.every((p) => located.has(p.name)));
    if (!found)
      throw new Error(
        `${source}: tensor '${name}'${options.length > 1 ? ` (or ${options[1].map((p) => p.name.split('.').slice(-2).join('.')).join(' + ')})` : ''} is missing (checkpoint does not match config.json)`,
      );
    const cols = shape.slice(1);
    for (const part of found) {
      const { file, entry } = located.get(part.name)!;
      const expected = [part.rows, ...cols];
      if (entry.shape.join(',') !== expected.join(','))
        throw new Error(`${file}: tensor '${part.name}' has shape [${entry.shape}] but config.json implies [${expected}]`);
      used.add(part.name);
    }
    plan.set(
      name,
      found.map((part) => located.get(part.name)!),
    );
  }
  for (const [name, { file }] of located) {
    const tiedHead = name === 'lm_head.weight' && config.tie_word_embeddings; // HF ties it to the embedding and ignores the stored copy
    if (!used.has(name) && !tiedHead && !IGNORED.test(name))
      throw new Error(`${file}: unexpected tensor '${name}' (checkpoint does not match config.json)`);
  }
  return plan;
}

export interface LoadProgress {
  (done: number, total: number, name: string): void;
}

/** Reads every base weight of a checkpoint directory into variables (float32), one parameter at a time. */
export function loadModelWeights(dir: string, config: ModelConfig, progress?: LoadProgress): Record<string, tf.Variable> {
  const { files, source } = weightFiles(dir);
  const headers = new Map(files.map((file) => [join(dir, file), readSafetensorsHeader(join(dir, file))]));
  const plan = planLoad(config, headers, source);
  const descriptors = new Map<string, number>();
  const params: Record<string, tf.Variable> = {};
  try {
    for (const path of headers.keys()) descriptors.set(path, openSync(path, 'r'));
    const shapes = parameterShapes(config);
    let done = 0;
    // sorted by name, the order saved checkpoints have always loaded in: LoRA and optimizer sums follow it
    for (const [name, parts] of [...plan].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const shape = shapes[name];
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      let at = 0;
      for (const { file, entry } of parts) {
        readTensorFloat32(descriptors.get(file)!, file, entry, values, at);
        at += entry.shape.reduce((a, b) => a * b, 1);
      }
      params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32')));
      progress?.(++done, plan.size, name);
    }
  } catch (error) {
    for (const variable of Object.values(params)) variable.dispose();
    throw error;
  } finally {
    for (const fd of descriptors.values()) closeSync(fd);
  }
  return params;
}

/** A Hugging Face checkpoint directory (phi3, llama or qwen2) as a model; the entry point `--model DIR` resolution calls. */
export function loadHFModel(dir: string, options: { embedMode?: Model['embedMode']; progress?: LoadProgress } = {}): Model {
  const config = readModelConfig(dir);
  return { config, params: loadModelWeights(dir, config, options.progress), embedMode: options.embedMode ?? 'gather' };
}

/**
 * Writes tensors as HF safetensors into `dir`: one model.safetensors, or, past `shardBytes`, shards
 * model-0000i-of-0000n.safetensors with model.safetensors.index.json (the layout loadModelWeights reads).
 */
export function writeSafetensorsShards(dir: string, tensors: Record<string, NamedArray>, shardBytes = Infinity): string[] {
  const shards: Record<string, NamedArray>[] = [{}];
  let size = 0;
  for (const name of Object.keys(tensors).sort()) {
    const bytes = tensors[name].data.byteLength;
    if (size > 0 && size + bytes > shardBytes) {
      shards.push({});
      size = 0;
    }
    shards[shards.length - 1][name] = tensors[name];
    size += bytes;
  }
  if (shards.length === 1) {
    writeFileAtomic(join(dir, SINGLE_FILE), encodeSafetensors(tensors, { format: 'pt' }));
    return [SINGLE_FILE];
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const files = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    writeFileAtomic(join(dir, files[i]), encodeSafetensors(shard, { format: 'pt' }));
    for (const name of Object.keys(shard)) weightMap[name] = files[i];
  });
  const totalSize = Object.values(tensors).reduce((sum, t) => sum + t.data.byteLength, 0);
  writeFileAtomic(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  return [...files, INDEX_FILE];
}
