// The model module: config, transformer, training, sampling, checkpoints, and resolving `--model`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../root.js';
import { PRESET_NAMES, type PresetName, presetConfig } from './config.js';
import { type Model, initModel } from './model.js';
import { type LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';

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

/** The directory `--model spec` names: a shipped model under models/ when one has that name, else the path. */
export function modelDir(spec: string): string {
  const shipped = join(MODELS_DIR, spec);
  return existsSync(join(shipped, 'config.json')) ? shipped : resolve(spec);
}

/**
 * `--model`: a preset (`tiny`, `small`: random init), a shipped checkpoint under models/ (`tiny-arith`), `phi-mini`
 * (reserved for the real Phi-4-mini weights), or a path to a checkpoint directory.
 */
export function resolveModel(spec: string, options: { vocabSize: number; seed: number; embedMode: Model['embedMode'] }): LoadedCheckpoint {
  if ((PRESET_NAMES as readonly string[]).includes(spec)) {
    return {
      model: initModel(presetConfig(spec as PresetName, options.vocabSize), options.seed, options.embedMode),
      info: { format: 'preset', description: { preset: spec } },
    };
  }
  if (spec === 'phi-mini') {
    throw new Error(
      `--model phi-mini: the Phi-4-mini weights are not present (${join(MODELS_DIR, 'phi-mini')} holds no Hugging Face checkpoint, ` +
        `and their loader is a later issue). Use the embedded default, --model ${DEFAULT_MODEL}, or a checkpoint directory.`,
    );
  }
  const dir = modelDir(spec);
  if (!existsSync(dir)) {
    throw new Error(
      `--model ${spec}: no such preset (${PRESET_NAMES.join(', ')}), shipped model (${MODELS_DIR}) or checkpoint directory` +
        (spec === DEFAULT_MODEL ? '; make it with `npm run pretrain`' : ''),
    );
  }
  const loaded = loadCheckpoint(dir, options.embedMode);
  if (loaded.model.config.vocab_size !== options.vocabSize) {
    throw new Error(`--model ${spec}: vocab_size ${loaded.model.config.vocab_size} does not match the tokenizer's ${options.vocabSize}`);
  }
  return loaded;
}
export * from './hf.js';
export * from './rope.js';
