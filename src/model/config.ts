// Model configuration with Hugging Face `config.json` names (Phi-3 / Phi-4-mini family), so real checkpoints map 1:1.

export interface ModelConfig {
  model_type: 'phi3';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number; // grouped-query attention: each KV head serves num_attention_heads / num_key_value_heads query heads
  intermediate_size: number;
  max_position_embeddings: number;
  rope_theta: number;
  partial_rotary_factor: number; // share of each head's dimensions that is rotated (Phi-4-mini: 0.75)
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
  initializer_range: number;
}

export const PRESET_NAMES = ['tiny', 'small'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

const BASE = {
  model_type: 'phi3' as const,
  rope_theta: 10000,
  partial_rotary_factor: 0.75,
  rms_norm_eps: 1e-5,
  initializer_range: 0.02,
};

/** `tiny`: well under 1M parameters, the CPU-friendly embedded default; `small`: a few million. */
export function presetConfig(name: PresetName, vocabSize: number): ModelConfig {
  switch (name) {
    case 'tiny':
      return { ...BASE, vocab_size: vocabSize, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
        intermediate_size: 352, max_position_embeddings: 256, tie_word_embeddings: true };
    case 'small':
      return { ...BASE, vocab_size: vocabSize, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 4,
        intermediate_size: 704, max_position_embeddings: 512, tie_word_embeddings: true };
  }
}

export function headDim(config: ModelConfig): number {
  return config.hidden_size / config.num_attention_heads;
}

/** Rotated dimensions per head; even, because rotary pairs dimension i with i + rotaryDim/2. */
export function rotaryDim(config: ModelConfig): number {
  return 2 * Math.floor((headDim(config) * config.partial_rotary_factor) / 2);
}

/** Checks a config read from disk or built by hand; names the offending field. */
export function validateConfig(raw: unknown, source: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${source}: config must be a JSON object`);
  const c = raw as Record<string, unknown>;
  const positiveInts = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'max_position_embeddings'];
  for (const key of positiveInts) {
    if (!Number.isInteger(c[key]) || (c[key] as number) <= 0) throw new Error(`${source}: '${key}' must be a positive integer (got ${JSON.stringify(c[key])})`);
  }
  const config: ModelConfig = {
    model_type: 'phi3',
    vocab_size: c.vocab_size as number,
    hidden_size: c.hidden_size as number,
    num_hidden_layers: c.num_hidden_layers as number,
    num_attention_heads: c.num_attention_heads as number,
    num_key_value_heads: c.num_key_value_heads as number,
    intermediate_size: c.intermediate_size as number,
    max_position_embeddings: c.max_position_embeddings as number,
    rope_theta: typeof c.rope_theta === 'number' ? c.rope_theta : BASE.rope_theta,
    partial_rotary_factor: typeof c.partial_rotary_factor === 'number' ? c.partial_rotary_factor : 1,
    rms_norm_eps: typeof c.rms_norm_eps === 'number' ? c.rms_norm_eps : BASE.rms_norm_eps,
    tie_word_embeddings: c.tie_word_embeddings === true,
    initializer_range: typeof c.initializer_range === 'number' ? c.initializer_range : BASE.initializer_range,
  };
  if (config.hidden_size % config.num_attention_heads !== 0) throw new Error(`${source}: hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`);
  if (config.num_attention_heads % config.num_key_value_heads !== 0) throw new Error(`${source}: num_attention_heads ${config.num_attention_heads} is not divisible by num_key_value_heads ${config.num_key_value_heads}`);
  if (!(config.partial_rotary_factor > 0 && config.partial_rotary_factor <= 1)) throw new Error(`${source}: partial_rotary_factor must be in (0, 1]`);
  return config;
}
