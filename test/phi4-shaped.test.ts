// scripts/make_phi4_shaped.ts and scripts/measure_load.ts at a reduced size (2 layers, vocab 1024, 1/8 width): the
// checkpoint has Phi-4-mini's layout (BF16, two shards + index, longrope config, tied embeddings, tokenizer config),
// loads with loadHFModel, and the measurement prints its numbers. The full size is run by hand (README).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { INDEX_FILE, loadHFModel } from '../src/model/hf.js';
import { disposeModel } from '../src/model/model.js';
import { readSafetensorsHeader } from '../src/model/safetensors.js';

const ROOT = resolve(__dirname, '..');
const tsx = (script: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', script), ...args], { cwd: ROOT, encoding: 'utf8' });

let root: string;
beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  root = mkdtempSync(join(tmpdir(), 'svgap-phi4s-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Phi-4-mini-shaped checkpoint scripts', () => {
  it('writes a sharded BF16 phi3 checkpoint that loads, and measure_load reports it', () => {
    const dir = join(root, 'phi4s');
    const made = tsx('make_phi4_shaped.ts', [dir, '--layers', '2', '--vocab', '1024', '--narrow', '8', '--shard-gb', '0.004']);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      INDEX_FILE,
      'tokenizer_config.json',
    ]);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'phi3',
      hidden_size: 384,
      num_attention_heads: 3,
      num_key_value_heads: 1,
      intermediate_size: 1024,
      partial_rotary_factor: 0.75,
      original_max_position_embeddings: 4096,
      max_position_embeddings: 131072,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
    });
    expect(config.rope_scaling.short_factor).toHaveLength(48);
    const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const params = 1024 * 384 + 2 * ((3 + 2) * 128 * 384 + 384 * 384 + 2 * 1024 * 384 + 384 * 1024 + 2 * 384) + 384;
    expect(index.metadata.total_size).toBe(2 * params);
    expect(index.weight_map['lm_head.weight']).toBeUndefined();
    const header = readSafetensorsHeader(join(dir, index.weight_map['model.layers.1.self_attn.qkv_proj.weight']));
    expect(header.tensors['model.layers.1.self_attn.qkv_proj.weight']).toMatchObject({ dtype: 'BF16', shape: [640, 384] });
    const model = loadHFModel(dir);
    const gains = model.params['model.norm.weight'].dataSync();
    expect(Math.min(...gains)).toBeGreaterThan(0.9);
    const embed = model.params['model.embed_tokens.weight'].dataSync() as Float32Array;
    const std = Math.sqrt(embed.reduce((s, v) => s + v * v, 0) / embed.length);
    expect(std).toBeGreaterThan(0.01);
    expect(std).toBeLessThan(0.013);
    disposeModel(model);

    const measured = tsx('measure_load.ts', [dir]);
    expect(measured.status).toBe(0);
    const report = JSON.parse(measured.stdout.trim()) as Record<string, number | string | boolean>;
    expect(report).toMatchObject({ parameters: params, backend: 'cpu', forwardFinite: true });
    expect(report.peakRssGB).toBeGreaterThan(0);
    expect(tsx('make_phi4_shaped.ts', [dir]).stderr).toMatch(/exists and is not empty/);
  });
});
