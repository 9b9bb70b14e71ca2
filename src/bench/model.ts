// Which model a benchmark runs: a preset, the `micro` size of the smoke run, a shipped checkpoint or a directory.
// Only the config is read here (no tfjs), so the parent process can describe the model without loading a backend.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PRESET_NAMES, type ModelConfig, type PresetName, presetConfig, validateConfig } from '../model/config.js';

/** A model far below `tiny` for the seconds-long smoke run: one layer, hidden 32. */
export function microConfig(vocabSize: number): ModelConfig {
  return {
    ...presetConfig('tiny', vocabSize),
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 64,
    max_position_embeddings: 128,
  };
}

export const BENCH_PRESETS = ['micro', ...PRESET_NAMES] as const;

export interface BenchModel {
  spec: string;
  source: 'preset' | 'checkpoint';
  config: ModelConfig;
  dir?: string; // checkpoint directory
}

/** `--model`: micro | tiny | small (random init), a shipped checkpoint name under modelsDir, or a checkpoint directory. */
export function resolveBenchModel(spec: string, vocabSize: number, modelsDir: string): BenchModel {
  if (spec === 'micro') return { spec, source: 'preset', config: microConfig(vocabSize) };
  if ((PRESET_NAMES as readonly string[]).includes(spec))
    return { spec, source: 'preset', config: presetConfig(spec as PresetName, vocabSize) };
  const shipped = join(modelsDir, spec);
  const dir = existsSync(join(shipped, 'config.json')) ? shipped : resolve(spec);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    throw new Error(
      `--model ${spec}: not a preset (${BENCH_PRESETS.join(', ')}), a shipped model in ${modelsDir}, or a checkpoint directory with config.json`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    throw new Error(`--model ${spec}: ${configPath} is not valid JSON (${(error as Error).message})`);
  }
  const config = validateConfig(raw, configPath);
  if (config.vocab_size !== vocabSize)
    throw new Error(`--model ${spec}: vocab_size ${config.vocab_size} in ${configPath} does not match the tokenizer's ${vocabSize}`);
  return { spec, source: 'checkpoint', config, dir };
}
