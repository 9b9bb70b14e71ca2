import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../src/model/config.js';
import { Rng } from '../src/model/rng.js';
import type { TrainBatch } from '../src/model/train.js';

/** A micro Phi-3 config: GQA (4 heads over 2 KV heads), partial rotary 0.5, untied head; small enough for finite differences. */
export const MICRO: ModelConfig = {
  model_type: 'phi3',
  vocab_size: 13,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 24,
  max_position_embeddings: 32,
  rope_theta: 10000,
  partial_rotary_factor: 0.5,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  initializer_range: 0.3,
};

/** Seeded random next-token rows; the first two targets of each row are masked out, as prompt tokens are in SFT. */
export function randomBatch(seed: number, batch: number, time: number, vocab: number): TrainBatch {
  const rng = new Rng(seed);
  const out: TrainBatch = { inputs: [], targets: [], weights: [] };
  for (let b = 0; b < batch; b++) {
    const seq = Array.from({ length: time + 1 }, () => rng.int(vocab));
    out.inputs.push(seq.slice(0, time));
    out.targets.push(seq.slice(1));
    out.weights.push(Array.from({ length: time }, (_, t) => (t >= 2 ? 1 : 0)));
  }
  return out;
}

/**
 * Whether a test prerequisite is present. In CI (CI=true) a missing one throws, naming what to install, so the suite
 * fails instead of skipping silently; elsewhere its tests skip and a notice says why.
 */
export function requireOrSkip(what: string, present: boolean, install: string): boolean {
  if (present) return true;
  if (/^(1|true|yes)$/i.test(process.env.CI ?? '')) {
    throw new Error(`CI=true and ${what} is missing, so its tests cannot run (tests are never skipped in CI): ${install}`);
  }
  console.log(`NOTICE: ${what} is missing; its tests are skipped (an error under CI=true): ${install}`);
  return false;
}

/** What to do when the native torch addon is missing. */
export const BUILD_NATIVE = 'build it with `npm run build:native` (needs libtorch: apt-get install libtorch-dev libopenblas0-openmp)';

/** Whether the read-only datasets under dir hold these files (requireOrSkip's rules). */
export function sharedData(dir: string, ...files: string[]): boolean {
  const missing = files.filter((f) => !existsSync(join(dir, f)));
  return requireOrSkip(
    `${missing.join(', ')} under ${dir}`,
    missing.length === 0,
    'put the read-only datasets at ../shared/datasets beside the repository, or set SVGAP_DATA=DIR',
  );
}

/** Whether the optional @tensorflow/tfjs-node loads here (npm installs it, but its binding only where it can download libtensorflow). */
export function tfjsNodeLoads(): boolean {
  return (
    spawnSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], { cwd: join(import.meta.dirname, '..'), stdio: 'ignore' })
      .status === 0
  );
}
