// Checkpoints: a directory with config.json, model.safetensors (+ LoRA adapter) and, for exact resume, optimizer
// moments, step and RNG state. Written atomically; a corrupt or mismatched checkpoint is a clear error.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeDirAtomic, writeFileAtomic } from '../io.js';
import { type ModelConfig } from './config.js';
import { loadModelWeights, readModelConfig } from './hf.js';
import { type LoraConfig, type Model, LORA_TARGETS, parameterShapes } from './model.js';
import type { RngState } from './rng.js';
import { encodeSafetensors, readSafetensors, type NamedArray } from './safetensors.js';
import { type AdamWState, type OptimizerConfig } from './train.js';

export const CHECKPOINT_FORMAT = 'svgap-checkpoint-1';

export interface TrainingState {
  optimizer: AdamWState;
  optimizerConfig: OptimizerConfig;
  rng?: RngState;
  extra?: Record<string, unknown>; // caller's own resumable state (the loop's round, data order, ...)
}

export interface CheckpointInfo {
  format: string;
  tokenizer?: { path: string; sha256?: string };
  description?: Record<string, unknown>; // how it was made: command, seed, data, steps, accuracy
}

function toNamedArrays(variables: Record<string, tf.Variable>, prefix = ''): Record<string, NamedArray> {
  return Object.fromEntries(
    Object.entries(variables).map(([name, v]) => [
      prefix + name,
      { dtype: 'F32' as const, shape: v.shape, data: v.dataSync() as Float32Array },
    ]),
  );
}

export function saveCheckpoint(
  dir: string,
  model: Model,
  options: { training?: TrainingState; info?: Omit<CheckpointInfo, 'format'> } = {},
): void {
  writeDirAtomic(dir, (temp) => {
    writeFileAtomic(join(temp, 'config.json'), JSON.stringify(model.config, null, 2) + '\n');
    writeFileAtomic(join(temp, 'svgap.json'), JSON.stringify({ format: CHECKPOINT_FORMAT, ...options.info }, null, 2) + '\n');
    writeFileAtomic(join(temp, 'model.safetensors'), encodeSafetensors(toNamedArrays(model.params)));
    if (model.lora) {
      writeFileAtomic(
        join(temp, 'adapter_config.json'),
        JSON.stringify(
          { r: model.lora.config.rank, lora_alpha: model.lora.config.alpha, target_modules: model.lora.config.targets },
          null,
          2,
        ) + '\n',
      );
      writeFileAtomic(join(temp, 'adapter_model.safetensors'), encodeSafetensors(toNamedArrays(model.lora.params)));
    }
    if (options.training) {
      const { optimizer, optimizerConfig, rng, extra } = options.training;
      writeFileAtomic(
        join(temp, 'optimizer.safetensors'),
        encodeSafetensors({ ...toNamedArrays(optimizer.m, 'm.'), ...toNamedArrays(optimizer.v, 'v.') }),
      );
      writeFileAtomic(
        join(temp, 'trainer_state.json'),
        JSON.stringify({ step: optimizer.step, optimizerConfig, rng, extra }, null, 2) + '\n',
      );
    }
  });
}

/** Checks every expected tensor is present with the expected shape; names the file and tensor otherwise. */
function checkShapes(path: string, tensors: Record<string, NamedArray>, expected: Record<string, number[]>): void {
  for (const [name, shape] of Object.entries(expected)) {
    const found = tensors[name];
    if (!found) throw new Error(`${path}: tensor '${name}' is missing (checkpoint does not match config.json)`);
    if (found.shape.join(',') !== shape.join(','))
      throw new Error(`${path}: tensor '${name}' has shape [${found.shape}] but config.json implies [${shape}]`);
  }
  for (const name of Object.keys(tensors)) {
    if (!(name in expected)) throw new Error(`${path}: unexpected tensor '${name}' (checkpoint does not match config.json)`);
  }
}

export interface LoadedCheckpoint {
  model: Model;
  training?: TrainingState;
  info: CheckpointInfo;
}

export function loadCheckpoint(dir: string, embedMode: Model['embedMode'] = 'gather'): LoadedCheckpoint {
  const config: ModelConfig = readModelConfig(dir);
  const infoPath = join(dir, 'svgap.json');
  const info = (existsSync(infoPath) ? readJsonFile(infoPath) : { format: CHECKPOINT_FORMAT }) as CheckpointInfo;
  const toVariable = (t: NamedArray, trainable = true) => tf.tidy(() => tf.variable(tf.tensor(t.data, t.shape), trainable));
  const model: Model = { config, params: loadModelWeights(dir, config), embedMode }; // also reads HF layouts: shards, BF16, separate q/k/v

  const adapterPath = join(dir, 'adapter_model.safetensors');
  if (existsSync(adapterPath)) {
    const raw = readJsonFile(join(dir, 'adapter_config.json')) as { r: number; lora_alpha: number; target_modules: string[] };
    const targets = raw.target_modules.filter((t): t is LoraConfig['targets'][number] => (LORA_TARGETS as readonly string[]).includes(t));
    const loraConfig: LoraConfig = { rank: raw.r, alpha: raw.lora_alpha, targets };
    const adapter = readSafetensors(adapterPath).tensors;
    const expected: Record<string, number[]> = {};
    for (const [name, shape] of Object.entries(parameterShapes(config))) {
      if (!targets.some((t) => name.endsWith(`.${t}.weight`))) continue;
      const linear = name.replace(/\.weight$/, '');
      expected[`${linear}.lora_A`] = [loraConfig.rank, shape[1]];
      expected[`${linear}.lora_B`] = [shape[0], loraConfig.rank];
    }
    checkShapes(adapterPath, adapter, expected);
    model.lora = { config: loraConfig, params: Object.fromEntries(Object.entries(adapter).map(([name, t]) => [name, toVariable(t)])) };
  }

  let training: TrainingState | undefined;
  const statePath = join(dir, 'trainer_state.json');
  if (existsSync(statePath)) {
    const state = readJsonFile(statePath) as {
      step: number;
      optimizerConfig: OptimizerConfig;
      rng?: RngState;
      extra?: Record<string, unknown>;
    };
    const optimizerPath = join(dir, 'optimizer.safetensors');
    const moments = readSafetensors(optimizerPath).tensors;
    const trainable = model.lora ? model.lora.params : model.params;
    const expected: Record<string, number[]> = {};
    for (const [name, v] of Object.entries(trainable)) {
      expected[`m.${name}`] = v.shape;
      expected[`v.${name}`] = v.shape;
    }
    checkShapes(optimizerPath, moments, expected);
    const variable = (name: string) => toVariable(moments[name], false);
    training = {
      optimizer: {
        step: state.step,
        m: Object.fromEntries(Object.keys(trainable).map((name) => [name, variable(`m.${name}`)])),
        v: Object.fromEntries(Object.keys(trainable).map((name) => [name, variable(`v.${name}`)])),
      },
      optimizerConfig: state.optimizerConfig,
      rng: state.rng,
      extra: state.extra,
    };
  }
  return { model, training, info };
}
