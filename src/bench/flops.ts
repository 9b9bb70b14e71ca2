// Model FLOPs of the work a benchmark does (the useful arithmetic, not what a backend happens to execute): the
// numerator of model FLOPs utilisation (MFU). Matmuls count 2 FLOPs per multiply-add; norms, softmax and the
// element-wise ops are left out, as usual. Padding and the one-hot embedding of wasm/cpu are not model FLOPs.
import { type LoraConfig, parameterShapes } from '../model/model.js';
import type { ModelConfig } from '../model/config.js';

/** Weights every token multiplies through in the decoder layers (qkv, o, gate_up, down of all layers). */
export function layerMatmulWeights(config: ModelConfig): number {
  return Object.entries(parameterShapes(config))
    .filter(([name]) => name.startsWith('model.layers.') && name.endsWith('proj.weight'))
    .reduce((sum, [, shape]) => sum + shape[0] * shape[1], 0);
}

/** Adapter weights (A and B of every targeted linear): rank · (in + out) each. */
export function loraWeights(config: ModelConfig, lora: Pick<LoraConfig, 'rank' | 'targets'>): number {
  return Object.entries(parameterShapes(config))
    .filter(([name]) => lora.targets.some((target) => name.endsWith(`.${target}.weight`)))
    .reduce((sum, [, shape]) => sum + lora.rank * (shape[0] + shape[1]), 0);
}

/** What one pass processes: tokens through the layers, tokens projected to logits, and (query, key) pairs attended. */
export interface Workload {
  tokens: number;
  headTokens: number; // positions projected to vocabulary logits (1 per row when only the last position is read)
  attendedKeys: number; // Σ over query tokens of the keys each attends (causal: position t sees t + 1 keys)
}

export function causalPairs(length: number): number {
  return (length * (length + 1)) / 2;
}

/** Teacher-forced pass over rows × length tokens with logits everywhere (scoring, the forward of a training step). */
export function teacherForcedWorkload(rows: number, length: number): Workload {
  return { tokens: rows * length, headTokens: rows * length, attendedKeys: rows * causalPairs(length) };
}

/** Only the last position's logits per row (the verifier's read-out). */
export function lastTokenWorkload(rows: number, length: number): Workload {
  return { tokens: rows * length, headTokens: rows, attendedKeys: rows * causalPairs(length) };
}

/** KV-cache sampling of `newTokens` after a prompt: prefill, then one token per step; logits once per new token. */
export function samplingWorkload(rows: number, promptLength: number, newTokens: number): Workload {
  const processed = promptLength + newTokens - 1; // the last sampled token is never fed back
  return { tokens: rows * processed, headTokens: rows * newTokens, attendedKeys: rows * causalPairs(processed) };
}

/** Forward FLOPs: 2·weights per token in the layers (+ adapters), 2·vocab·hidden per logit row, 4·hidden per (query, key) pair per layer (QKᵀ and AV). */
export function forwardFlops(config: ModelConfig, work: Workload, loraWeightCount = 0): number {
  return (
    2 * (layerMatmulWeights(config) + loraWeightCount) * work.tokens +
    2 * config.vocab_size * config.hidden_size * work.headTokens +
    4 * config.hidden_size * config.num_hidden_layers * work.attendedKeys
  );
}

/**
 * FLOPs of one training step. Full fine-tuning: forward + input gradients + weight gradients = 3 × forward (the
 * 6·params·tokens rule). LoRA: the frozen weights need only input gradients (2 × their forward), the adapters and
 * attention all three.
 */
export function trainFlops(config: ModelConfig, work: Workload, lora?: Pick<LoraConfig, 'rank' | 'targets'>): number {
  if (!lora) return 3 * forwardFlops(config, work);
  const frozen = forwardFlops(config, { ...work, attendedKeys: 0 });
  const attention = forwardFlops(config, { tokens: 0, headTokens: 0, attendedKeys: work.attendedKeys });
  const adapters = 2 * loraWeights(config, lora) * work.tokens;
  return 2 * frozen + 3 * attention + 3 * adapters;
}
