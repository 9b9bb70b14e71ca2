// Model configuration with Hugging Face `config.json` names (Phi-3 / Phi-4-mini, Llama, Qwen2), so real checkpoints
// map 1:1. The architectures differ only in what this file records: biases, head size, rotary scaling, sliding window.

export const MODEL_TYPES = ['phi3', 'llama', 'qwen2'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** `rope_scaling` as in config.json; absent means the default (unscaled) rotary embedding. */
export type RopeScaling =
  | {
      rope_type: 'longrope';
      short_factor: number[];
      long_factor: number[];
      factor?: number;
      attention_factor?: number;
      original_max_position_embeddings?: number;
    }
  | { rope_type: 'llama3'; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number };

export interface ModelConfig {
  model_type: ModelType;
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
  head_dim?: number; // when not hidden_size / num_attention_heads (llama, qwen2)
  rope_scaling?: RopeScaling;
  original_max_position_embeddings?: number; // phi3 longrope: the pretraining length (picks short vs long factors)
  sliding_window?: number; // phi3: every layer; qwen2: only with use_sliding_window, layers >= max_window_layers
  use_sliding_window?: boolean; // qwen2
  max_window_layers?: number; // qwen2
  layer_types?: ('full_attention' | 'sliding_attention')[]; // qwen2 (newer configs): overrides max_window_layers
  attention_bias?: boolean; // llama: biases on q, k, v and o (qwen2 always has q, k, v biases)
  mlp_bias?: boolean; // llama: biases on gate, up and down
  bos_token_id?: number;
  eos_token_id?: number[]; // config.json's int or list, as a list
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

/** HF's per-architecture defaults for fields a config.json may omit. */
const DEFAULT_EPS: Record<ModelType, number> = { phi3: 1e-5, llama: 1e-6, qwen2: 1e-6 };
const DEFAULT_MAX_WINDOW_LAYERS = 28; // Qwen2Config's default

/** `tiny`: well under 1M parameters, the CPU-friendly embedded default; `small`: a few million. */
export function presetConfig(name: PresetName, vocabSize: number): ModelConfig {
  switch (name) {
    case 'tiny':
      return {
        ...BASE,
        vocab_size: vocabSize,
        hidden_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        intermediate_size: 352,
        max_position_embeddings: 256,
        tie_word_embeddings: true,
      };
    case 'small':
      return {
        ...BASE,
        vocab_size: vocabSize,
        hidden_size: 256,
        num_hidden_layers: 4,
        num_attention_heads: 8,
        num_key_value_heads: 4,
        intermediate_size: 704,
        max_position_embeddings: 512,
        tie_word_embeddings: true,
      };
  }
}

export function headDim(config: ModelConfig): number {
  return config.head_dim ?? config.hidden_size / config.num_attention_heads;
}

/** Rotated dimensions per head; even, because rotary pairs dimension i with i + rotaryDim/2. */
export function rotaryDim(config: ModelConfig): number {
  return 2 * Math.floor((headDim(config) * config.partial_rotary_factor) / 2);
}

/** The sliding-window size of one layer (HF: a query sees itself and the window − 1 keys before it), or undefined for full attention. */
export function slidingWindow(config: ModelConfig, layer: number): number | undefined {
  if (config.sliding_window === undefined) return undefined;
  if (config.model_type === 'phi3') return config.sliding_window;
  if (config.model_type !== 'qwen2' || !config.use_sliding_window) return undefined;
  const sliding = config.layer_types
    ? config.layer_types[layer] === 'sliding_attention'
    : layer >= (config.max_window_layers ?? DEFAULT_MAX_WINDOW_LAYERS);
  return sliding ? config.sliding_window : undefined;
}

/** The linear layers that carry a bias, by the fused names of src/model (qwen2: q/k/v; llama: as its flags say). */
export function biasedLinears(config: ModelConfig): ('qkv_proj' | 'o_proj' | 'gate_up_proj' | 'down_proj')[] {
  if (config.model_type === 'qwen2') return ['qkv_proj'];
  if (config.model_type !== 'llama') return [];
  return [
    ...(config.attention_bias ? (['qkv_proj', 'o_proj'] as const) : []),
    ...(config.mlp_bias ? (['gate_up_proj', 'down_proj'] as const) : []),
  ];
}

type Raw = Record<string, unknown>;

function positiveInt(c: Raw, key: string, source: string): number {
  if (!Number.isInteger(c[key]) || (c[key] as number) <= 0)
    throw new Error(`${source}: '${key}' must be a positive integer (got ${JSON.stringify(c[key])})`);
  return c[key] as number;
}

function optional<T>(value: unknown, check: (v: unknown) => boolean, what: string, source: string): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw new Error(`${source}: ${what} (got ${JSON.stringify(value)})`);
  return value as T;
}

const isNumberList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
const isPositiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

/** An int or a list of ints (config.json / generation_config.json `eos_token_id`), as a list. */
export function tokenIdList(value: unknown, key: string, source: string): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((id) => Number.isInteger(id) && id >= 0))
    throw new Error(`${source}: '${key}' must be a token id or a list of them (got ${JSON.stringify(value)})`);
  return list as number[];
}

/** `rope_scaling` (or transformers v5's `rope_parameters`), checked for the fields its type needs; default → undefined. */
function parseRopeScaling(c: Raw, rotaryHalf: number, source: string): RopeScaling | undefined {
  const raw = (c.rope_scaling ?? c.rope_parameters) as Raw | undefined | null;
  if (raw === undefined || raw === null) return undefined;
  const type = raw.rope_type ?? raw.type ?? 'default';
  const num = (key: string, required: boolean) => {
    const value = raw[key];
    if (value === undefined || value === null) {
      if (required) throw new Error(`${source}: rope_scaling '${type}' needs '${key}'`);
      return undefined;
    }
    if (typeof value !== 'number' || !(value > 0))
      throw new Error(`${source}: rope_scaling.${key} must be a positive number (got ${JSON.stringify(value)})`);
    return value;
  };
  if (type === 'default') return undefined;
  if (type === 'longrope') {
    for (const key of ['short_factor', 'long_factor']) {
      if (!isNumberList(raw[key]) || (raw[key] as number[]).length !== rotaryHalf) {
        throw new Error(`${source}: rope_scaling.${key} must be a list of ${rotaryHalf} numbers (half the rotary dimension)`);
      }
    }
    return {
      rope_type: 'longrope',
      short_factor: raw.short_factor as number[],
      long_factor: raw.long_factor as number[],
      factor: num('factor', false),
      attention_factor: num('attention_factor', false),
      original_max_position_embeddings: num('original_max_position_embeddings', false),
    };
  }
  if (type === 'llama3') {
    const scaling = {
      rope_type: 'llama3' as const,
      factor: num('factor', true)!,
      low_freq_factor: num('low_freq_factor', true)!,
      high_freq_factor: num('high_freq_factor', true)!,
      original_max_position_embeddings: num('original_max_position_embeddings', true)!,
    };
    if (scaling.high_freq_factor <= scaling.low_freq_factor)
      throw new Error(`${source}: rope_scaling.high_freq_factor must exceed low_freq_factor`);
    return scaling;
  }
  throw new Error(`${source}: rope_scaling type '${String(type)}' is not supported (supported: default, longrope, llama3)`);
}

/** Checks a config read from disk or built by hand; names the offending field. */
export function validateConfig(raw: unknown, source: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${source}: config must be a JSON object`);
  const c = raw as Raw;
  const modelType = c.model_type ?? 'phi3';
  if (!(MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    throw new Error(`${source}: model_type '${String(modelType)}' is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  const type = modelType as ModelType;
  const ropeParameters = (c.rope_parameters ?? {}) as Raw;
  const config: ModelConfig = {
    model_type: type,
    vocab_size: positiveInt(c, 'vocab_size', source),
    hidden_size: positiveInt(c, 'hidden_size', source),
    num_hidden_layers: positiveInt(c, 'num_hidden_layers', source),
    num_attention_heads: positiveInt(c, 'num_attention_heads', source),
    num_key_value_heads:
      c.num_key_value_heads === undefined || c.num_key_value_heads === null
        ? positiveInt(c, 'num_attention_heads', source)
        : positiveInt(c, 'num_key_value_heads', source),
    intermediate_size: positiveInt(c, 'intermediate_size', source),
    max_position_embeddings: positiveInt(c, 'max_position_embeddings', source),
    rope_theta:
      typeof c.rope_theta === 'number'
        ? c.rope_theta
        : typeof ropeParameters.rope_theta === 'number'
          ? ropeParameters.rope_theta
          : BASE.rope_theta,
    partial_rotary_factor: typeof c.partial_rotary_factor === 'number' ? c.partial_rotary_factor : 1,
    rms_norm_eps: typeof c.rms_norm_eps === 'number' ? c.rms_norm_eps : DEFAULT_EPS[type],
    tie_word_embeddings: c.tie_word_embeddings === true,
    initializer_range: typeof c.initializer_range === 'number' ? c.initializer_range : BASE.initializer_range,
  };
  const head = optional<number>(c.head_dim, isPositiveInt, "'head_dim' must be a positive integer", source);
  if (head !== undefined && head !== config.hidden_size / config.num_attention_heads) config.head_dim = head;
  else if (config.hidden_size % config.num_attention_heads !== 0)
    throw new Error(`${source}: hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`);
  if (config.num_attention_heads % config.num_key_value_heads !== 0)
    throw new Error(
      `${source}: num_attention_heads ${config.num_attention_heads} is not divisible by num_key_value_heads ${config.num_key_value_heads}`,
    );
  if (!(config.partial_rotary_factor > 0 && config.partial_rotary_factor <= 1))
    throw new Error(`${source}: partial_rotary_factor must be in (0, 1]`);
  Object.assign(
    config,
    definedOnly({
      rope_scaling: parseRopeScaling(c, rotaryDim(config) / 2, source),
      original_max_position_embeddings: optional<number>(
        c.original_max_position_embeddings,
        isPositiveInt,
        "'original_max_position_embeddings' must be a positive integer",
        source,
      ),
      ...windowFields(c, type, config.num_hidden_layers, source),
      attention_bias: type === 'llama' && c.attention_bias === true ? true : undefined,
      mlp_bias: type === 'llama' && c.mlp_bias === true ? true : undefined,
      bos_token_id: tokenIdList(c.bos_token_id, 'bos_token_id', source)?.[0],
      eos_token_id: tokenIdList(c.eos_token_id, 'eos_token_id', source),
    }),
  );
  return config;
}

/** The sliding-window fields that apply to this architecture (llama has none; qwen2's need use_sliding_window). */
function windowFields(c: Raw, type: ModelType, layers: number, source: string): Partial<ModelConfig> {
  const window = optional<number>(c.sliding_window, isPositiveInt, "'sliding_window' must be a positive integer or null", source);
  if (window === undefined || type === 'llama') return {};
  if (type === 'phi3') return { sliding_window: window };
  if (c.use_sliding_window !== true) return {};
  const layerTypes = optional<ModelConfig['layer_types']>(
    c.layer_types,
    (v) => Array.isArray(v) && v.length === layers && v.every((t) => t === 'full_attention' || t === 'sliding_attention'),
    `'layer_types' must list 'full_attention' or 'sliding_attention' for each of the ${layers} layers`,
    source,
  );
  const maxWindowLayers = optional<number>(
    c.max_window_layers,
    (v) => Number.isInteger(v) && (v as number) >= 0,
    "'max_window_layers' must be a non-negative integer",
    source,
  );
  return {
    sliding_window: window,
    use_sliding_window: true,
    ...definedOnly({ max_window_layers: maxWindowLayers, layer_types: layerTypes }),
  };
}

function definedOnly<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
