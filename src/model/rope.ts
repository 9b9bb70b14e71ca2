// Rotary position embeddings exactly as Hugging Face transformers computes them (modeling_rope_utils.py): default,
// `longrope` (Phi-3.5 / Phi-4-mini) and `llama3`, in float32 like torch (Math.fround after each operation), so the
// angles match HF's bit for bit where JS and torch round alike (torch's vectorised powf can put an inverse
// frequency 1 ulp off: cos/sin then differ by < 1e-5 at Phi-4-mini positions).
import { type ModelConfig, rotaryDim } from './config.js';

const f32 = Math.fround;

export interface RotaryFrequencies {
  invFreq: Float32Array; // rotaryDim/2 inverse frequencies
  attentionFactor: number; // cos and sin are multiplied by this (longrope's attention scaling; 1 otherwise)
}

/** base^(-2i/dim) in float32, i = 0 … dim/2 − 1 (HF: 1 / base ** (arange(0, dim, 2).float() / dim)). */
function defaultInvFreq(config: ModelConfig, dim: number, scale?: number[]): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const power = f32(Math.pow(config.rope_theta, f32((2 * i) / dim)));
    out[i] = f32(1 / (scale ? f32(f32(scale[i]) * power) : power));
  }
  return out;
}

/** The longrope pretraining length: rope_scaling's, else config.json's top-level field, else max_position_embeddings. */
export function originalMaxPositions(config: ModelConfig): number {
  const scaling = config.rope_scaling;
  if (scaling?.original_max_position_embeddings !== undefined) return scaling.original_max_position_embeddings;
  return config.original_max_position_embeddings ?? config.max_position_embeddings;
}

/**
 * Longrope: long factors once the sequence (max position + 1) exceeds the pretraining length, short ones otherwise;
 * cos and sin scaled by sqrt(1 + ln(factor) / ln(original)) at every length (factor = max / original unless given).
 */
function longrope(
  config: ModelConfig,
  scaling: Extract<ModelConfig['rope_scaling'], { rope_type: 'longrope' }>,
  dim: number,
  seqLen: number,
): RotaryFrequencies {
  const original = originalMaxPositions(config);
  const factor = scaling.factor ?? config.max_position_embeddings / original;
  const attentionFactor = scaling.attention_factor ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)));
  const factors = seqLen > original ? scaling.long_factor : scaling.short_factor;
  return { invFreq: defaultInvFreq(config, dim, factors), attentionFactor };
}

/** Llama 3.1: low frequencies divided by `factor`, high ones kept, the band between smoothly interpolated. */
function llama3(
  config: ModelConfig,
  scaling: Extract<ModelConfig['rope_scaling'], { rope_type: 'llama3' }>,
  dim: number,
): RotaryFrequencies {
  const invFreq = defaultInvFreq(config, dim);
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: old } = scaling;
  const lowFreqWavelen = old / low;
  const highFreqWavelen = old / high;
  for (let i = 0; i < invFreq.length; i++) {
    const inv = invFreq[i];
    const wavelen = f32(f32(2 * Math.PI) / inv);
    if (wavelen > lowFreqWavelen) invFreq[i] = f32(inv / factor);
    else if (wavelen >= highFreqWavelen) {
      const smooth = f32(f32(f32(old / wavelen) - low) / (high - low));
      invFreq[i] = f32(f32(f32(f32(1 - smooth) * inv) / factor) + f32(smooth * inv));
    }
  }
  return { invFreq, attentionFactor: 1 };
}

/** The inverse frequencies and cos/sin scale for a forward pass whose largest position is seqLen − 1. */
export function rotaryFrequencies(config: ModelConfig, seqLen: number): RotaryFrequencies {
  const dim = rotaryDim(config);
  const scaling = config.rope_scaling;
  if (scaling?.rope_type === 'longrope') return longrope(config, scaling, dim, seqLen);
  if (scaling?.rope_type === 'llama3') return llama3(config, scaling, dim);
  return { invFreq: defaultInvFreq(config, dim), attentionFactor: 1 };
}

/** cos and sin of every (token, frequency) pair as flat [batch · time · rotaryDim/2] arrays; angle = position · invFreq in float32. */
export function rotaryCosSin(config: ModelConfig, positions: number[][]): { cos: Float32Array; sin: Float32Array } {
  const seqLen = positions.reduce((most, row) => row.reduce((m, p) => Math.max(m, p), most), 0) + 1;
  const { invFreq, attentionFactor } = rotaryFrequencies(config, seqLen);
  const half = invFreq.length;
  const rows = positions.flat();
  const cos = new Float32Array(rows.length * half);
  const sin = new Float32Array(rows.length * half);
  rows.forEach((position, r) => {
    for (let i = 0; i < half; i++) {
      const angle = f32(position * invFreq[i]);
      cos[r * half + i] = Math.cos(angle) * attentionFactor;
      sin[r * half + i] = Math.sin(angle) * attentionFactor;
    }
  });
  return { cos, sin };
}
