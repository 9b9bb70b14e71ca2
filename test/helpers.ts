import type { ModelConfig } from '../src/model/config.js';

/** A micro Phi-3 config: GQA (4 heads over 2 KV heads), partial rotary 0.5, untied head; small enough for finite differences. */
export const MICRO: ModelConfig = {
  model_type: 'phi3', vocab_size: 13, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  intermediate_size: 24, max_position_embeddings: 32, rope_theta: 10000, partial_rotary_factor: 0.5, rms_norm_eps: 1e-5,
  tie_word_embeddings: false, initializer_range: 0.3,
};
