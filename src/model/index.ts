// The model module: config, transformer, training, sampling, checkpoints, and resolving `--model`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../root.js';
import { type ModelConfig, PRESET_NAMES, type PresetName, presetConfig } from './config.js';
import { readModelConfig } from './hf.js';
import { type Model, initModel } from './model.js';
import { type LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';
import { locateModel, notFoundOffline, parseHubId } from './resolve.js';

export * from './config.js';
export * from './model.js';
export * from './train.js';
export * from './sample.js';
export * from './checkpoint.js';
export * from './safetensors.js';
export { Rng, type RngState } from './rng.js';

/** models/ in the package. */
export const MODELS_DIR = join(PACKAGE_ROOT, 'models');
export const DEFAULT_MODEL = 'tiny-arith';

/** The directory `--model spec` names: a shipped model under models/ when one has that name, a hub id's cached snapshot, else the path. */
export function modelDir(spec: string): string {
  const shipped = join(MODELS_DIR, spec);
  if (existsSync(join(shipped, 'config.json'))) return shipped;
  return locateModel(spec, MODELS_DIR).dir ?? resolve(spec);
}

/** The config of `--model spec` without loading weights (presets: built; directories: config.json), or undefined when neither. */
export function modelConfigOf(spec: string, vocabSize: number): ModelConfig | undefined {
  if ((PRESET_NAMES as readonly string[]).includes(spec)) return presetConfig(spec as PresetName, vocabSize);
  const dir = modelDir(spec);
  return existsSync(join(dir, 'config.json')) ? readModelConfig(dir) : undefined;
}

/**
 * `--model`: a preset (`tiny`, `small`: random init), a shipped checkpoint under models/ (`tiny-arith`), a path to a
 * checkpoint directory, or a hub id / alias (`phi-mini`) already in the HF cache (fetchModel in resolve.ts downloads it).
 */
export function resolveModel(spec: string, options: { vocabSize: number; seed: number; embedMode: Model['embedMode'] }): LoadedCheckpoint {
  if ((PRESET_NAMES as readonly string[]).includes(spec)) {
    return {
      model: initModel(presetConfig(spec as PresetName, options.vocabSize), options.seed, options.embedMode),
      info: { format: 'preset', description: { preset: spec } },
    };
  }
  const located = locateModel(spec, MODELS_DIR);
  if (!located.dir && parseHubId(spec) && !existsSync(resolve(spec)))
    throw notFoundOffline(spec, located, 'this loader does not download (fetchModel does)');
  const dir = modelDir(spec);
  if (!existsSync(dir)) {
    throw new Error(
      `--model ${spec}: no such preset (${PRESET_NAMES.join(', ')}), shipped model (${MODELS_DIR}) or checkpoint directory` +
        (spec === DEFAULT_MODEL ? '; make it with `npm run pretrain`' : ''),
    );
  }
  const loaded = loadCheckpoint(dir, options.embedMode);
  // HF checkpoints pad the embedding past the tokenizer (Phi-4-mini: 200064 rows, fewer token ids): only fewer rows is wrong
  if (loaded.model.config.vocab_size < options.vocabSize) {
    throw new Error(
      `--model ${spec}: vocab_size ${loaded.model.config.vocab_size} is smaller than the tokenizer's ${options.vocabSize} (it cannot score every token id)`,
    );
  }
  return loaded;
}
export * from './hf.js';
export * from './rope.js';
export * from './resolve.js';
export * from './peft.js';
export * from './memory.js';
