// LoRA adapters in Hugging Face PEFT's format, so an adapter trained here loads with `PeftModel.from_pretrained(base,
// DIR)`: adapter_config.json (peft_type LORA, r, lora_alpha, target_modules, base_model_name_or_path) and
// adapter_model.safetensors with keys `base_model.model.<module>.lora_A.weight` [r, in] / `.lora_B.weight` [out, r].
// PEFT scales B·A by lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), the convention of src/model (alpha / rank).
// llama and qwen2 have separate q/k/v and gate/up modules in HF: the fused adapter B·A splits exactly into per-module
// adapters sharing A (rows of B), and fuses back when their A are equal.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../io.js';
import { type ModelConfig } from './config.js';
import { hfLayout } from './hf.js';
import { type Lora, type LoraConfig, type LoraTarget, type Model, LORA_TARGETS, parameterShapes } from './model.js';
import { type NamedArray, encodeSafetensors, readSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.'; // PeftModel wraps LoraModel wraps the transformers model

/** HF's own module names and row counts for one fused linear of src/model; undefined where HF's module is the fused one. */
function hfModules(config: ModelConfig, target: LoraTarget): [string, number][] | undefined {
  const shapes = parameterShapes(config);
  const name = Object.keys(shapes).find((n) => n.endsWith(`.${target}.weight`))!;
  const parts = hfLayout(name, config, shapes[name]);
  return parts.length === 1 ? undefined : parts.map((part) => [part.name.split('.').slice(-2)[0], part.rows]);
}

/** The PEFT target_modules of our targets: the module names the HF model of this architecture has. */
export function peftTargetModules(config: ModelConfig, targets: LoraTarget[]): string[] {
  return targets.flatMap((target) => hfModules(config, target)?.map(([name]) => name) ?? [target]);
}

function named(t: tf.Tensor): NamedArray {
  return { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
}

/** The adapter's tensors under PEFT names (fused B split by rows for architectures whose HF modules are separate). */
export function peftTensors(model: Model): Record<string, NamedArray> {
  const lora = model.lora!;
  const out: Record<string, NamedArray> = {};
  for (const [name, a] of Object.entries(lora.params)) {
    if (!name.endsWith('.lora_A')) continue;
    const linear = name.slice(0, -'.lora_A'.length);
    const b = lora.params[`${linear}.lora_B`];
    const target = linear.split('.').pop() as LoraTarget;
    const parts = hfModules(model.config, target);
    if (!parts) {
      out[`${PREFIX}${linear}.lora_A.weight`] = named(a);
      out[`${PREFIX}${linear}.lora_B.weight`] = named(b);
      continue;
    }
    let row = 0;
    for (const [module, rows] of parts) {
      const hf = linear.replace(/\w+$/, module);
      out[`${PREFIX}${hf}.lora_A.weight`] = named(a);
      out[`${PREFIX}${hf}.lora_B.weight`] = named(tf.tidy(() => tf.slice(b, [row, 0], [rows, lora.config.rank])));
      row += rows;
    }
  }
  return out;
}

/** Writes `model.lora` as a PEFT adapter directory; `base` is the base model's hub id or path (base_model_name_or_path). */
export function writePeftAdapter(dir: string, model: Model, base: string | null): void {
  if (!model.lora) throw new Error(`${dir}: the model has no LoRA adapter to save`);
  const { rank, alpha, targets } = model.lora.config;
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: base,
    revision: null,
    r: rank,
    lora_alpha: alpha,
    target_modules: peftTargetModules(model.config, targets),
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  writeFileAtomic(join(dir, ADAPTER_WEIGHTS), encodeSafetensors(peftTensors(model), { format: 'pt' }));
  writeFileAtomic(join(dir, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
}

interface PeftConfig {
  peft_type?: string;
  r?: number;
  lora_alpha?: number;
  target_modules?: string[] | string;
  use_rslora?: boolean;
  use_dora?: boolean;
  rank_pattern?: Record<string, number>;
  alpha_pattern?: Record<string, number>;
  base_model_name_or_path?: string | null;
}

/** adapter_config.json checked for what this loader reads exactly: plain LoRA, one rank and alpha for every module (checkpoints before PEFT naming lack peft_type). */
function readPeftConfig(path: string): { rank: number; alpha: number; base: string | null } {
  const raw = readJsonFile(path) as PeftConfig;
  if (raw.peft_type !== undefined && raw.peft_type !== 'LORA')
    throw new Error(`${path}: peft_type ${JSON.stringify(raw.peft_type)} is not supported (only LORA)`);
  if (!Number.isInteger(raw.r) || raw.r! <= 0) throw new Error(`${path}: 'r' must be a positive integer (got ${JSON.stringify(raw.r)})`);
  if (!(typeof raw.lora_alpha === 'number' && raw.lora_alpha > 0))
    throw new Error(`${path}: 'lora_alpha' must be a positive number (got ${JSON.stringify(raw.lora_alpha)})`);
  if (raw.use_dora) throw new Error(`${path}: DoRA adapters (use_dora) are not supported`);
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    if (raw[key] && Object.keys(raw[key]).length > 0)
      throw new Error(`${path}: per-module '${key}' is not supported (one r and lora_alpha for every module)`);
  }
  // rsLoRA scales by alpha / sqrt(r); src/model scales by alpha / rank, so alpha becomes lora_alpha · sqrt(r)
  const alpha = raw.use_rslora ? raw.lora_alpha * Math.sqrt(raw.r!) : raw.lora_alpha;
  return { rank: raw.r!, alpha, base: raw.base_model_name_or_path ?? null };
}

/** Every tensor of an adapter file under src/model's names (`<linear>.lora_A` / `.lora_B`), fusing HF's separate modules. */
function fusedAdapterTensors(
  path: string,
  config: ModelConfig,
  tensors: Record<string, NamedArray>,
): Map<string, { a: NamedArray; b: NamedArray }> {
  const byModule = new Map<string, Partial<Record<'A' | 'B', NamedArray>>>();
  for (const [key, t] of Object.entries(tensors)) {
    const match = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.weight)?$/.exec(key);
    if (!match)
      throw new Error(`${path}: tensor '${key}' is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight)`);
    byModule.set(match[1], { ...byModule.get(match[1]), [match[2]]: t });
  }
  const fused = new Map<string, { a: NamedArray; b: NamedArray }>();
  for (const target of LORA_TARGETS) {
    const parts = hfModules(config, target);
    for (const linear of Object.keys(parameterShapes(config))
      .filter((n) => n.endsWith(`.${target}.weight`))
      .map((n) => n.slice(0, -'.weight'.length))) {
      const names = parts ? parts.map(([module]) => linear.replace(/\w+$/, module)) : [linear];
      const found = names.map((n) => byModule.get(n));
      names.forEach((n) => byModule.delete(n));
      if (found.every((f) => f === undefined)) continue;
      const missing = names.filter((n, i) => !found[i]?.A || !found[i]?.B);
      if (missing.length > 0)
        throw new Error(`${path}: LoRA weights for ${missing.join(', ')} are missing (lora_A and lora_B for each of ${names.join(', ')})`);
      const a = found[0]!.A!;
      const same = found.every((f) => f!.A!.shape.join() === a.shape.join() && f!.A!.data.every((v, i) => v === a.data[i]));
      if (!same)
        throw new Error(
          `${path}: ${names.join(', ')} have different lora_A; they cannot become one ${target} adapter (merge the adapter into the base model with PEFT instead)`,
        );
      const rows = found.reduce((n, f) => n + f!.B!.shape[0], 0);
      const b = new Float32Array(rows * (a.shape[0] ?? 0));
      let at = 0;
      for (const f of found) {
        b.set(f!.B!.data as Float32Array, at);
        at += f!.B!.data.length;
      }
      fused.set(linear, { a, b: { dtype: 'F32', shape: [rows, a.shape[0]], data: b } });
    }
  }
  if (byModule.size > 0)
    throw new Error(
      `${path}: LoRA weights for modules this model does not adapt: ${[...byModule.keys()].slice(0, 3).join(', ')} (targets: ${LORA_TARGETS.join(', ')})`,
    );
  return fused;
}

/** Reads a PEFT LoRA adapter directory for `config`'s model: shapes checked, names and scaling converted. */
export function readPeftAdapter(dir: string, config: ModelConfig): { lora: Lora; base: string | null } {
  const configPath = join(dir, ADAPTER_CONFIG);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  for (const path of [configPath, weightsPath])
    if (!existsSync(path)) throw new Error(`${dir}: not a PEFT adapter directory (no ${path.split('/').pop()})`);
  const { rank, alpha, base } = readPeftConfig(configPath);
  const fused = fusedAdapterTensors(weightsPath, config, readSafetensors(weightsPath).tensors);
  if (fused.size === 0) throw new Error(`${weightsPath}: holds no LoRA weights`);
  const shapes = parameterShapes(config);
  const params: Record<string, tf.Variable> = {};
  const targets = new Set<LoraTarget>();
  for (const [linear, { a, b }] of fused) {
    const [out, inp] = shapes[`${linear}.weight`];
    for (const [what, t, shape] of [
      ['lora_A', a, [rank, inp]],
      ['lora_B', b, [out, rank]],
    ] as const) {
      if (t.shape.join() !== shape.join())
        throw new Error(`${weightsPath}: ${linear}.${what} has shape [${t.shape}] but r=${rank} and the model imply [${shape}]`);
    }
    params[`${linear}.lora_A`] = tf.tidy(() => tf.variable(tf.tensor(a.data as Float32Array, a.shape)));
    params[`${linear}.lora_B`] = tf.tidy(() => tf.variable(tf.tensor(b.data as Float32Array, b.shape)));
    targets.add(linear.split('.').pop() as LoraTarget);
  }
  const loraConfig: LoraConfig = { rank, alpha, targets: LORA_TARGETS.filter((t) => targets.has(t)) };
  const sorted = Object.fromEntries(
    Object.keys(params)
      .sort()
      .map((name) => [name, params[name]]),
  ); // the order optimizer sums follow on resume
  return { lora: { config: loraConfig, params: sorted }, base };
}
