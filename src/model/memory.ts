// Pre-flight memory estimate, from config.json alone (before any weight is read): weights, LoRA + AdamW state,
// training activations, the loss over the vocabulary, and sampling's KV cache, compared with the memory there is.
// Activations follow the forward of model.ts op by op (float32): elementsPerTokenPerLayer counts every tensor one
// layer's forward creates per token; tfjs autograd keeps the tensors kernels save for the backward and every gradient
// until the step ends, which measures as AUTOGRAD_FACTOR times that count plus ATTENTION_FACTOR · heads · keys
// (test/memory.test.ts measures both on two shapes; the Phi-4-mini shape gives ~1.6 MB per token per layer).
import { freemem } from 'node:os';
import { type ModelConfig, biasedLinears, headDim, rotaryDim } from './config.js';
import { type LoraTarget, LORA_TARGETS, countParameters, parameterShapes } from './model.js';

const FLOAT = 4; // bytes: weights and activations are float32 in memory
export const AUTOGRAD_FACTOR = 1.85; // bytes kept through a train step per forward element, over 4 (measured: 1.81 and 1.85)
export const ATTENTION_FACTOR = 6.5; // float32 values per head per key per token kept through a train step (measured: 5.75 and 6.5)
export const ONEHOT_LOSS_FACTOR = 10; // float32 values per token per vocabulary entry through a step: logits, log-softmax, one-hot (int32 and float), product, gradients (measured)
const GATHER_LOSS_FACTOR = 3; // chunked gather loss: a chunk's logits, log-softmax and gradient (assumed: calibrate once the gather loss exists)
const GB = 1e9;
export const DEFAULT_PROMPT_TOKENS = 256; // prompt length the estimate assumes (chat-formatted GSM8K questions are ~100-250)

/** Elements one layer's forward creates per token (model.ts: norms, projections with LoRA, rotary, attention, SwiGLU); keys: attended positions. */
export function elementsPerTokenPerLayer(
  config: ModelConfig,
  keys: number,
  lora: { rank: number; targets: readonly LoraTarget[] } | undefined,
): number {
  const d = config.hidden_size;
  const heads = config.num_attention_heads;
  const kv = config.num_key_value_heads;
  const hd = headDim(config);
  const rot = rotaryDim(config);
  const inter = config.intermediate_size;
  const biased = new Set(biasedLinears(config));
  // x·Wᵀ (+ bias) (+ x·Aᵀ, ·Bᵀ, ·scale, add with LoRA)
  const linear = (target: LoraTarget, out: number) =>
    out + (biased.has(target) ? out : 0) + (lora?.targets.includes(target) ? 3 * out + lora.rank : 0);
  const qkv = (heads + 2 * kv) * hd;
  const norm = 3 * d; // square, x·rsqrt, ·weight (the per-token mean and rsqrt are 3 scalars)
  const rotary = (n: number) => n * (3 * rot + 2 * hd); // slices, 4 products, sum, difference, pass-through, concat
  const attention =
    norm +
    linear('qkv_proj', qkv) +
    qkv +
    rotary(heads) +
    rotary(kv) +
    2 * kv * hd +
    3 * heads * hd +
    3 * heads * keys +
    linear('o_proj', d) +
    d;
  const mlp = norm + linear('gate_up_proj', 2 * inter) + 2 * inter + 3 * inter + linear('down_proj', d) + d;
  return attention + mlp;
}

/** Bytes one token keeps per layer through a train step: the forward count scaled by what autograd keeps. */
export function trainBytesPerTokenPerLayer(
  config: ModelConfig,
  keys: number,
  lora: { rank: number; targets: readonly LoraTarget[] } | undefined,
): number {
  const withoutAttention = elementsPerTokenPerLayer(config, 0, lora);
  return FLOAT * (AUTOGRAD_FACTOR * withoutAttention + ATTENTION_FACTOR * config.num_attention_heads * keys);
}

export interface MemoryPlan {
  microBatch: number; // sequences per forward/backward (the batch, without gradient accumulation)
  trainTokens: number; // tokens per training sequence (prompt + response)
  sampleBatch: number; // rows per sampling batch
  promptTokens: number; // prompt length when sampling
  maxNewTokens: number;
  lora?: { rank: number; targets: readonly LoraTarget[] }; // absent: full fine-tuning
  loss: 'onehot' | 'gather';
  lossChunk?: number; // tokens per vocab-projection chunk with the gather loss (default: every token at once)
}

export interface MemoryEstimate {
  weights: number;
  trainable: number; // the trained tensors, their gradients and AdamW's two moments
  activations: number;
  loss: number;
  kvCache: number;
  prefill: number; // the prompt forward while sampling (no gradients)
  training: number; // weights + trainable + activations + loss
  sampling: number; // weights + KV cache + prefill + logits
  peak: number;
}

/** Memory a run needs with this plan, in bytes (see the file comment for where each number comes from). */
export function estimateMemory(config: ModelConfig, plan: MemoryPlan): MemoryEstimate {
  const shapes = parameterShapes(config);
  const weights = FLOAT * countParameters(shapes);
  const adapted = plan.lora ? Object.entries(shapes).filter(([name]) => plan.lora!.targets.some((t) => name.endsWith(`.${t}.weight`))) : [];
  const loraParams = adapted.reduce((sum, [, [out, inp]]) => sum + plan.lora!.rank * (out! + inp!), 0);
  const trainable = FLOAT * 4 * (plan.lora ? loraParams : countParameters(shapes)); // value, gradient, m, v
  const tokens = plan.microBatch * plan.trainTokens;
  const layers = config.num_hidden_layers;
  const activations =
    tokens * layers * trainBytesPerTokenPerLayer(config, plan.trainTokens, plan.lora) + FLOAT * tokens * 6 * config.hidden_size; // + embedding and final norm
  const lossTokens = plan.loss === 'gather' ? Math.min(tokens, plan.lossChunk ?? tokens) : tokens;
  const loss = FLOAT * lossTokens * config.vocab_size * (plan.loss === 'gather' ? GATHER_LOSS_FACTOR : ONEHOT_LOSS_FACTOR);
  const context = plan.promptTokens + plan.maxNewTokens;
  // keys and values of every layer, twice while a step's concat replaces them
  const kvCache = 2 * FLOAT * plan.sampleBatch * context * layers * 2 * config.num_key_value_heads * headDim(config);
  // sampling's prompt forward frees each layer's tensors when the layer is done (model.ts: a tidy per layer), so one
  // layer's count (+ heads · keys) is live at a time besides the KV cache
  const prefill =
    FLOAT *
    plan.sampleBatch *
    plan.promptTokens *
    (elementsPerTokenPerLayer(config, plan.promptTokens, plan.lora) + config.num_attention_heads * plan.promptTokens);
  const training = weights + trainable + activations + loss;
  const sampling = weights + (plan.lora ? FLOAT * loraParams : 0) + kvCache + prefill + FLOAT * plan.sampleBatch * config.vocab_size * 2;
  return { weights, trainable, activations, loss, kvCache, prefill, training, sampling, peak: Math.max(training, sampling) };
}

const gb = (bytes: number) => (bytes >= GB ? `${(bytes / GB).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

/** The largest value in [1, current) for which `fits` holds (binary search over integers; fits is monotone), or undefined. */
function largestFitting(current: number, fits: (value: number) => boolean): number | undefined {
  let low = 0;
  let high = current - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  return low >= 1 && fits(low) ? low : undefined;
}

/** A one-line breakdown of an estimate. */
export function describeEstimate(e: MemoryEstimate): string {
  return (
    `training ${gb(e.training)} (weights ${gb(e.weights)}, trainable + AdamW ${gb(e.trainable)}, activations ${gb(e.activations)}, loss ${gb(e.loss)}); ` +
    `sampling ${gb(e.sampling)} (KV cache ${gb(e.kvCache)}, prompt forward ${gb(e.prefill)})`
  );
}

/**
 * Refuses a plan whose estimate exceeds `budget` bytes, before any weight is loaded: the error gives the numbers and
 * the flag values that would fit (a smaller --micro-batch, --sample-batch or --max-new-tokens).
 */
export function checkMemory(config: ModelConfig, plan: MemoryPlan, budget: number, source: string): MemoryEstimate {
  const estimate = estimateMemory(config, plan);
  if (estimate.peak <= budget) return estimate;
  const trainFits = (patch: Partial<MemoryPlan>) => estimateMemory(config, { ...plan, ...patch }).training <= budget;
  const sampleFits = (patch: Partial<MemoryPlan>) => estimateMemory(config, { ...plan, ...patch }).sampling <= budget;
  const hints: string[] = [];
  if (estimate.training > budget) {
    const micro = largestFitting(plan.microBatch, (m) => trainFits({ microBatch: m }));
    hints.push(
      micro
        ? `--micro-batch ${micro} (gradient accumulation keeps --batch-size)`
        : `no --micro-batch fits: ${gb(estimateMemory(config, { ...plan, microBatch: 1 }).training)} at 1`,
    );
    if (plan.loss === 'onehot') hints.push('the chunked gather loss instead of the one-hot loss');
  }
  if (estimate.sampling > budget) {
    const rows = largestFitting(plan.sampleBatch, (b) => sampleFits({ sampleBatch: b }));
    if (rows) hints.push(`--sample-batch ${rows}`);
    const tokens = largestFitting(plan.maxNewTokens, (n) => sampleFits({ maxNewTokens: n }));
    if (tokens) hints.push(`--max-new-tokens ${tokens}`);
    if (!rows && !tokens) hints.push(`no --sample-batch fits: the weights alone take ${gb(estimate.weights)}`);
  }
  throw new Error(
    `${source}: this run needs about ${gb(estimate.peak)} but ${gb(budget)} is available: ${describeEstimate(estimate)}. ` +
      `Would fit: ${hints.join('; ')}. (Estimated before loading any weight; --memory-budget GB sets the limit.)`,
  );
}

/** The plan of a run's flags: --micro-batch sequences per pass (default --batch-size), the one-hot loss or, with --logit-chunk N, the gather loss N tokens at a time. */
export function runMemoryPlan(
  config: ModelConfig,
  o: {
    batchSize: number;
    microBatch?: number;
    logitChunk?: number;
    sampleBatch: number;
    maxNewTokens: number;
    fullFinetune: boolean;
    loraRank: number;
  },
): MemoryPlan {
  const promptTokens = Math.min(DEFAULT_PROMPT_TOKENS, config.max_position_embeddings - o.maxNewTokens);
  const loss = o.logitChunk ? { loss: 'gather' as const, lossChunk: o.logitChunk } : { loss: 'onehot' as const };
  return {
    microBatch: o.microBatch ?? o.batchSize,
    trainTokens: promptTokens + o.maxNewTokens,
    sampleBatch: o.sampleBatch,
    promptTokens,
    maxNewTokens: o.maxNewTokens,
    lora: o.fullFinetune ? undefined : { rank: o.loraRank, targets: LORA_TARGETS },
    ...loss,
  };
}

/** Checks a plan against a budget (refusing what cannot fit), or, without one (a GPU whose memory the run cannot read), logs the estimate. */
export function preflightMemory(
  config: ModelConfig,
  plan: MemoryPlan,
  budget: number | undefined,
  source: string,
  log: (line: string) => void,
): void {
  const estimate = budget === undefined ? estimateMemory(config, plan) : checkMemory(config, plan, budget, source);
  log(
    `memory estimate: ${describeEstimate(estimate)}${budget === undefined ? ' (no --memory-budget: not checked)' : `; ${gb(budget)} available`}`,
  );
}

/** The memory a run may use: --memory-budget in GB when given, else the memory the OS reports available now. */
export function memoryBudget(budgetGb: number | undefined): number {
  return budgetGb !== undefined ? budgetGb * GB : freemem();
}
