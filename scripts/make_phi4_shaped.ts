// Writes a random checkpoint with Phi-4-mini-instruct's shape, in BF16 as the hub ships it: hidden 3072, 32 layers,
// 24 query / 8 KV heads of 128, intermediate 8192, vocab 200064, longrope, tied embeddings; ~7.7 GB in two shards +
// model.safetensors.index.json, plus the generation and tokenizer config of test/fixtures/hf/phi4-mini-style.
// Streams: one chunk of 4M values is in memory at a time, never a whole tensor. For measuring the loader at full size
// (scripts/measure_load.ts) without downloading the real weights; --layers, --vocab and --narrow (hidden size,
// heads and intermediate size divided by N; head size 128 kept) make it small for tests.
//
//   npx tsx scripts/make_phi4_shaped.ts OUT_DIR [--layers 32] [--vocab 200064] [--narrow 1] [--shard-gb 5] [--seed 1]
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSafetensorsShards } from '../src/model/hf.js';
import { parameterShapes } from '../src/model/model.js';
import { validateConfig } from '../src/model/config.js';
import { type TensorSource, float32ToBf16 } from '../src/model/safetensors.js';
import { Rng } from '../src/model/rng.js';

const CHUNK = 1 << 22; // values generated per step
const FIXTURE = resolve(import.meta.dirname, '..', 'test', 'fixtures', 'hf', 'phi4-mini-style');

/** Phi-4-mini-instruct's config.json fields (the longrope factors are drawn in their ranges: the loader's cost does not depend on them). */
function phi4Config(layers: number, vocab: number, narrow: number): Record<string, unknown> {
  const rng = new Rng(4);
  const factors = (low: number, high: number) =>
    Array.from({ length: 48 }, (_, i) => Number((low + (high - low) * (i / 47) ** 2 * (0.9 + 0.2 * rng.next())).toFixed(4)));
  return {
    architectures: ['Phi3ForCausalLM'],
    model_type: 'phi3',
    torch_dtype: 'bfloat16',
    vocab_size: vocab,
    hidden_size: 3072 / narrow,
    num_hidden_layers: layers,
    num_attention_heads: 24 / narrow,
    num_key_value_heads: 8 / narrow,
    intermediate_size: 8192 / narrow,
    hidden_act: 'silu',
    max_position_embeddings: 131072,
    original_max_position_embeddings: 4096,
    rope_theta: 10000,
    partial_rotary_factor: 0.75,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    initializer_range: 0.02,
    sliding_window: 262144,
    bos_token_id: 199999,
    eos_token_id: 199999,
    pad_token_id: 199999,
    rope_scaling: { type: 'longrope', short_factor: factors(1, 3), long_factor: factors(1, 40) },
  };
}

/** Uniform values with the std a layer's init would have (norm gains near 1), as BF16 chunks. */
function* randomBf16(count: number, rng: Rng, gain: boolean): Generator<Uint16Array> {
  const values = new Float32Array(Math.min(count, CHUNK));
  for (let done = 0; done < count; done += CHUNK) {
    const n = Math.min(CHUNK, count - done);
    for (let i = 0; i < n; i++) values[i] = gain ? 1 + 0.1 * (rng.next() - 0.5) : 0.04 * (rng.next() - 0.5); // std 0.0115 ≈ 0.02/sqrt(3)
    yield float32ToBf16(values.subarray(0, n));
  }
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      layers: { type: 'string', default: '32' },
      vocab: { type: 'string', default: '200064' },
      narrow: { type: 'string', default: '1' },
      'shard-gb': { type: 'string', default: '5' },
      seed: { type: 'string', default: '1' },
    },
  });
  if (positionals.length !== 1)
    throw new Error('usage: make_phi4_shaped.ts OUT_DIR [--layers 32] [--vocab 200064] [--narrow 1] [--shard-gb 5] [--seed 1]');
  const out = resolve(positionals[0]);
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out}: exists and is not empty`);
  const [layers, vocab, narrow, shardGb, seed] = ['layers', 'vocab', 'narrow', 'shard-gb', 'seed'].map((key) =>
    Number(values[key as keyof typeof values]),
  );
  if (![layers, vocab, seed].every((n) => Number.isInteger(n) && n! > 0) || !(shardGb! > 0))
    throw new Error('--layers, --vocab and --seed must be positive integers, --shard-gb a positive number');
  if (![1, 2, 4, 8].includes(narrow!)) throw new Error('--narrow must be 1, 2, 4 or 8 (it divides the 8 KV heads)');
  const raw = phi4Config(layers!, vocab!, narrow!);
  const config = validateConfig(raw, 'phi4Config');
  const rng = new Rng(seed!);
  const sources: Record<string, TensorSource> = {};
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    const gain = name.endsWith('norm.weight');
    sources[name] = {
      dtype: 'BF16',
      shape,
      data: () =>
        randomBf16(
          shape.reduce((a, b) => a * b, 1),
          rng,
          gain,
        ),
    };
  }
  mkdirSync(out, { recursive: true });
  const started = performance.now();
  const files = writeSafetensorsShards(out, sources, shardGb! * 1e9);
  writeFileSync(join(out, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
  for (const file of readdirSync(FIXTURE).filter((f) => f !== 'chat_tokens.json')) copyFileSync(join(FIXTURE, file), join(out, file));
  process.stdout.write(`${out}: ${files.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

main();
