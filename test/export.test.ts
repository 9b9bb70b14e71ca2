// npm run export: a run's base + LoRA merged, written as an HF checkpoint (HF's tensor layout, the base's dtype,
// shards + index, config and tokenizer files) that loadHFModel reads back exactly: F32 gives the merged model's logits
// bit for bit; BF16 reloads exactly the bits written.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { INDEX_FILE, loadHFModel } from '../src/model/hf.js';
import { type Model, LORA_TARGETS, addLora, disposeModel, mergeLora } from '../src/model/model.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { exportMerged } from '../src/model/export.js';
import { float32ToBf16, readSafetensorsHeader } from '../src/model/safetensors.js';
import {
  HAVE_TORCH,
  LLAMA3_LIKE,
  PHI4_LIKE,
  type Raw,
  maxAbsDiff,
  modelLogits,
  randomTokens,
  randomizeLoraB,
  referenceLogits,
  writeCheckpoint,
} from './hf-fixtures.js';

let root: string;
beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  root = mkdtempSync(join(tmpdir(), 'svgap-export-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A run directory as runTraining leaves it: run.json naming the base, checkpoint/ with the base weights and a trained adapter. */
function fakeRun(name: string, config: Raw, dtype: 'F32' | 'BF16'): { run: string; base: string; model: Model } {
  const base = writeCheckpoint(root, `${name}-base`, config, { dtype, shardBytes: 8000 });
  writeFileSync(join(base, 'tokenizer_config.json'), '{"eos_token": "<|end|>"}');
  writeFileSync(join(base, 'generation_config.json'), '{"eos_token_id": [1, 2]}');
  const model = loadHFModel(base);
  addLora(model, { rank: 2, alpha: 6, targets: [...LORA_TARGETS] }, 5);
  randomizeLoraB(model, 6);
  const run = join(root, `${name}-run`);
  mkdirSync(run);
  writeFileSync(join(run, 'run.json'), JSON.stringify({ model: { spec: base } }));
  saveCheckpoint(join(run, 'checkpoint'), model);
  return { run, base, model };
}

describe('export', () => {
  it('F32 phi3: sharded HF checkpoint whose logits equal the merged model exactly (and PyTorch within 1e-4)', () => {
    const { run, base, model } = fakeRun('phi', PHI4_LIKE, 'F32');
    const tokens = randomTokens(8, 2, 7, PHI4_LIKE.vocab_size as number);
    const withAdapter = modelLogits(model, tokens);
    mergeLora(model);
    const merged = modelLogits(model, tokens);
    const out = join(root, 'phi-export');
    const result = exportMerged(run, { out, shardBytes: 20000 });
    expect(result.dtype).toBe('F32');
    expect(result.baseDir).toBe(base);
    const files = readdirSync(out).sort();
    expect(files).toContain(INDEX_FILE);
    expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect(files).toEqual(expect.arrayContaining(['config.json', 'tokenizer_config.json', 'generation_config.json']));
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ ...PHI4_LIKE, torch_dtype: 'float32', architectures: ['Phi3ForCausalLM'] }); // the base's own fields, rope_scaling included
    const reloaded = loadHFModel(out);
    expect(maxAbsDiff(modelLogits(reloaded, tokens), merged)).toBe(0);
    expect(maxAbsDiff(merged, withAdapter)).toBeLessThan(1e-4);
    expect(maxAbsDiff(merged, modelLogits(loadHFModel(base), tokens))).toBeGreaterThan(1e-2); // the adapter is in the export
    if (HAVE_TORCH) expect(maxAbsDiff(referenceLogits(out, tokens), merged)).toBeLessThan(1e-4);
    disposeModel(reloaded);
    disposeModel(model);
    expect(() => exportMerged(run, { out })).toThrow(/--out .*phi-export: exists and is not empty/);
    expect(() => exportMerged(join(root, 'phi-base'), { out: join(root, 'x') })).not.toThrow(); // a checkpoint directory exports too
    expect(() => exportMerged(join(root, 'nothing'), { out: join(root, 'y') })).toThrow(/nothing: neither a run directory/);
  });

  it("BF16 llama: the base dtype, HF's separate q/k/v and gate/up, and a reload equal to the bits written", () => {
    const { run, model } = fakeRun('llama', LLAMA3_LIKE, 'BF16');
    mergeLora(model);
    const out = join(root, 'llama-export');
    const cli = spawnSync(process.execPath, ['--import', 'tsx', resolve(__dirname, '..', 'src', 'cli', 'export.ts'), run, '--out', out], {
      encoding: 'utf8',
    });
    expect(cli.stderr).toMatch(/merging the LoRA adapter \(r=2, alpha=6\)/);
    expect(cli.status).toBe(0);
    const header = readSafetensorsHeader(join(out, 'model.safetensors'));
    expect(Object.values(header.tensors).every((t) => t.dtype === 'BF16')).toBe(true);
    expect(header.tensors['model.layers.0.self_attn.k_proj.weight'].shape).toEqual([2 * 16, 32]);
    expect(header.tensors['model.layers.1.mlp.up_proj.weight'].shape).toEqual([LLAMA3_LIKE.intermediate_size, 32]);
    expect(Object.keys(header.tensors).some((n) => n.includes('qkv_proj') || n.includes('gate_up_proj'))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const reloaded = loadHFModel(out);
    for (const [name, variable] of Object.entries(model.params)) {
      const written = float32ToBf16(variable.dataSync() as Float32Array);
      const read = float32ToBf16(reloaded.params[name].dataSync() as Float32Array);
      expect(Buffer.from(read.buffer).equals(Buffer.from(written.buffer)), name).toBe(true);
      expect(
        Array.from(new Uint32Array((reloaded.params[name].dataSync() as Float32Array).slice().buffer)).every(
          (bits) => (bits & 0xffff) === 0,
        ),
        name,
      ).toBe(true);
    }
    disposeModel(reloaded);
    disposeModel(model);
  });
});
