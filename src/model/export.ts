// `npm run export -- RUN_DIR --out DIR`: a run's final model (base + LoRA merged) as a Hugging Face checkpoint
// directory: config.json, sharded safetensors with index in the base checkpoint's dtype and HF's own tensor layout
// for the architecture (llama/qwen2: separate q/k/v and gate/up), generation config and tokenizer files copied.
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readJsonFile, writeDirAtomic, writeFileAtomic } from '../io.js';
import { loadCheckpoint } from './checkpoint.js';
import { type ModelConfig } from './config.js';
import { INDEX_FILE, SINGLE_FILE, hfLayout, writeSafetensorsShards } from './hf.js';
import { type Model, disposeModel, mergeLora, parameterShapes } from './model.js';
import { MODELS_DIR } from './index.js';
import { TOKENIZER_FILES, locateModel } from './resolve.js';
import { type SafeDtype, type TensorSource, float32ToBf16, float32ToF16, readSafetensorsHeader } from './safetensors.js';

export type ExportDtype = 'F32' | 'BF16' | 'F16';
export const EXPORT_DTYPES: ExportDtype[] = ['F32', 'BF16', 'F16'];
export const DEFAULT_SHARD_BYTES = 5e9; // transformers' save_pretrained default max_shard_size ("5GB")
const TORCH_DTYPE: Record<ExportDtype, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };
const ARCHITECTURE: Record<ModelConfig['model_type'], string> = {
  phi3: 'Phi3ForCausalLM',
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
};

/** The dtype the weights of a checkpoint directory are stored in (its embedding's), or undefined without safetensors. */
export function storedDtype(dir: string): SafeDtype | undefined {
  const index = join(dir, INDEX_FILE);
  const file = existsSync(index)
    ? (readJsonFile(index) as { weight_map: Record<string, string> }).weight_map['model.embed_tokens.weight']
    : existsSync(join(dir, SINGLE_FILE))
      ? SINGLE_FILE
      : undefined;
  if (file === undefined) return undefined;
  return readSafetensorsHeader(join(dir, file)).tensors['model.embed_tokens.weight']?.dtype;
}

/** The model's parameters as HF tensors in `dtype`, each converted only when the writer reaches it. */
export function hfTensorSources(model: Model, dtype: ExportDtype): Record<string, TensorSource> {
  const convert = (values: Float32Array): Float32Array | Uint16Array =>
    dtype === 'BF16' ? float32ToBf16(values) : dtype === 'F16' ? float32ToF16(values) : values.slice();
  const sources: Record<string, TensorSource> = {};
  for (const [name, shape] of Object.entries(parameterShapes(model.config))) {
    const variable = model.params[name];
    const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
    let row = 0;
    for (const part of hfLayout(name, model.config, shape)) {
      const from = row * rowSize;
      const to = (row + part.rows) * rowSize;
      sources[part.name] = {
        dtype,
        shape: [part.rows, ...shape.slice(1)],
        data: () => convert((variable.dataSync() as Float32Array).subarray(from, to)),
      };
      row += part.rows;
    }
  }
  return sources;
}

/** config.json for the export: the base's own (every field HF reads kept), else ours; torch_dtype says the export dtype. */
function exportConfig(model: Model, baseDir: string | undefined, dtype: ExportDtype): Record<string, unknown> {
  const raw =
    baseDir && existsSync(join(baseDir, 'config.json'))
      ? (readJsonFile(join(baseDir, 'config.json')) as Record<string, unknown>)
      : { ...model.config };
  return { ...raw, architectures: raw.architectures ?? [ARCHITECTURE[model.config.model_type]], torch_dtype: TORCH_DTYPE[dtype] };
}

/** Where a run keeps its final model, and the base directory it started from (undefined for presets). */
function runModel(runDir: string): { checkpointDir: string; baseDir?: string; tokenizerPath?: string } {
  const checkpointDir = existsSync(join(runDir, 'checkpoint', 'config.json')) ? join(runDir, 'checkpoint') : runDir;
  if (!existsSync(join(checkpointDir, 'config.json')))
    throw new Error(`${runDir}: neither a run directory (no checkpoint/config.json: did its first round finish?) nor a checkpoint`);
  const runJson = join(runDir, 'run.json');
  const spec = existsSync(runJson) ? (readJsonFile(runJson) as { model?: { spec?: string } }).model?.spec : undefined;
  const svgap = join(checkpointDir, 'svgap.json');
  const tokenizerPath = existsSync(svgap) ? (readJsonFile(svgap) as { tokenizer?: { path?: string } }).tokenizer?.path : undefined;
  return { checkpointDir, baseDir: spec === undefined ? undefined : locateModel(spec, MODELS_DIR).dir, tokenizerPath };
}

export interface ExportOptions {
  out: string;
  dtype?: ExportDtype; // default: the base checkpoint's dtype (F32 for presets)
  shardBytes?: number;
  log?: (line: string) => void;
}

/** Writes the merged model of a run (or a checkpoint directory) to `out` as an HF checkpoint; returns what it wrote. */
export function exportMerged(runDir: string, options: ExportOptions): { files: string[]; dtype: ExportDtype; baseDir?: string } {
  const out = resolve(options.out);
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new Error(`--out ${out}: exists and is not empty (nothing is overwritten: remove it or choose another)`);
  const { checkpointDir, baseDir, tokenizerPath } = runModel(resolve(runDir));
  const stored = baseDir ? storedDtype(baseDir) : undefined;
  const dtype = options.dtype ?? (stored === 'BF16' || stored === 'F16' ? stored : 'F32');
  const { model } = loadCheckpoint(checkpointDir);
  try {
    if (model.lora)
      options.log?.(`merging the LoRA adapter (r=${model.lora.config.rank}, alpha=${model.lora.config.alpha}) into the weights`);
    mergeLora(model); // W + alpha/r · B A, the product the adapter adds at inference
    const files: string[] = [];
    writeDirAtomic(out, (temp) => {
      files.push(...writeSafetensorsShards(temp, hfTensorSources(model, dtype), options.shardBytes ?? DEFAULT_SHARD_BYTES));
      writeFileAtomic(join(temp, 'config.json'), JSON.stringify(exportConfig(model, baseDir, dtype), null, 2) + '\n');
      files.push('config.json');
      const extras = baseDir ? TOKENIZER_FILES.filter((file) => existsSync(join(baseDir, file))).map((file) => join(baseDir, file)) : [];
      if (extras.length === 0 && tokenizerPath && existsSync(tokenizerPath)) extras.push(tokenizerPath); // the shipped SentencePiece model
      for (const path of extras) {
        copyFileSync(path, join(temp, basename(path)));
        files.push(basename(path));
      }
    });
    options.log?.(`wrote ${out}: ${files.join(', ')} (${dtype})`);
    return { files, dtype, baseDir };
  } finally {
    disposeModel(model);
  }
}
