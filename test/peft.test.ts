// LoRA adapters in PEFT's format: names, shapes and config as PEFT writes them; save → load gives identical tensors
// and logits; scripts/hf_reference.py (PyTorch, its own safetensors reader) merging the adapter as W + scale·B·A gives
// our logits; llama's separate q/k/v and gate/up split and fuse exactly; what cannot be read exactly is refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { loadHFModel } from '../src/model/hf.js';
import { type Model, LORA_TARGETS, addLora, disposeLora, disposeModel } from '../src/model/model.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter, writePeftAdapter } from '../src/model/peft.js';
import { encodeSafetensors, readSafetensors, readSafetensorsHeader } from '../src/model/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from '../src/model/checkpoint.js';
import {
  HAVE_TORCH,
  LLAMA3_LIKE,
  PHI4_LIKE,
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
  root = mkdtempSync(join(tmpdir(), 'svgap-peft-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function adapted(dir: string, seed: number): Model {
  const model = loadHFModel(dir);
  addLora(model, { rank: 3, alpha: 5, targets: [...LORA_TARGETS] }, seed);
  randomizeLoraB(model, seed + 1);
  return model;
}

function loraValues(model: Model): Record<string, number[]> {
  return Object.fromEntries(Object.entries(model.lora!.params).map(([name, v]) => [name, Array.from(v.dataSync())]));
}

describe('PEFT adapters', () => {
  it('phi3: PEFT names, shapes and config; save → load gives identical tensors and logits', () => {
    const base = writeCheckpoint(root, 'phi4', PHI4_LIKE);
    const model = adapted(base, 7);
    const out = join(root, 'phi4-adapter');
    writePeftAdapter(out, model, 'microsoft/Phi-4-mini-instruct');
    const config = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 3,
      lora_alpha: 5,
      base_model_name_or_path: 'microsoft/Phi-4-mini-instruct',
      target_modules: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'],
      use_rslora: false,
      fan_in_fan_out: false,
    });
    const header = readSafetensorsHeader(join(out, ADAPTER_WEIGHTS));
    expect(header.metadata).toEqual({ format: 'pt' }); // transformers refuses safetensors files without it
    const d = PHI4_LIKE.hidden_size as number;
    expect(header.tensors['base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight'].shape).toEqual([3, d]);
    expect(header.tensors['base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight'].shape).toEqual([(4 + 2 * 2) * 8, 3]);
    expect(header.tensors['base_model.model.model.layers.1.mlp.down_proj.lora_A.weight'].shape).toEqual([3, PHI4_LIKE.intermediate_size]);
    expect(Object.keys(header.tensors)).toHaveLength(2 * 4 * 2);

    const tokens = randomTokens(2, 2, 7, PHI4_LIKE.vocab_size as number);
    const before = modelLogits(model, tokens);
    const saved = loraValues(model);
    disposeLora(model);
    const read = readPeftAdapter(out, model.config);
    expect(read.base).toBe('microsoft/Phi-4-mini-instruct');
    expect(read.lora.config).toEqual({ rank: 3, alpha: 5, targets: [...LORA_TARGETS] });
    model.lora = read.lora;
    expect(loraValues(model)).toEqual(saved);
    expect(maxAbsDiff(modelLogits(model, tokens), before)).toBe(0);
    if (HAVE_TORCH) expect(maxAbsDiff(referenceLogits(base, tokens, out), before)).toBeLessThan(1e-4);
    if (HAVE_TORCH) expect(maxAbsDiff(referenceLogits(base, tokens), before)).toBeGreaterThan(1e-2); // the adapter matters
    disposeModel(model);
  });

  it('llama: q/k/v and gate/up adapters under HF module names, exact in PyTorch and on reload', () => {
    const base = writeCheckpoint(root, 'llama', LLAMA3_LIKE);
    const model = adapted(base, 11);
    const out = join(root, 'llama-adapter');
    writePeftAdapter(out, model, base);
    const config = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG), 'utf8')) as { target_modules: string[] };
    expect(config.target_modules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    const tensors = readSafetensors(join(out, ADAPTER_WEIGHTS)).tensors;
    expect(tensors['base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight'].shape).toEqual([2 * 16, 3]);
    expect(tensors['base_model.model.model.layers.0.mlp.up_proj.lora_B.weight'].shape).toEqual([LLAMA3_LIKE.intermediate_size, 3]);
    expect(Object.keys(tensors).some((k) => k.includes('qkv_proj'))).toBe(false);
    const tokens = randomTokens(4, 2, 6, LLAMA3_LIKE.vocab_size as number);
    const before = modelLogits(model, tokens);
    const saved = loraValues(model);
    disposeLora(model);
    model.lora = readPeftAdapter(out, model.config).lora;
    expect(loraValues(model)).toEqual(saved);
    expect(maxAbsDiff(modelLogits(model, tokens), before)).toBe(0);
    if (HAVE_TORCH) expect(maxAbsDiff(referenceLogits(base, tokens, out), before)).toBeLessThan(1e-4);

    // rsLoRA: PEFT scales by alpha / sqrt(r); the loader converts so the same B·A gives PyTorch's logits
    const rs = join(root, 'llama-rslora');
    writePeftAdapter(rs, model, base);
    writeFileSync(
      join(rs, ADAPTER_CONFIG),
      JSON.stringify({ ...JSON.parse(readFileSync(join(rs, ADAPTER_CONFIG), 'utf8')), use_rslora: true }),
    );
    disposeLora(model);
    model.lora = readPeftAdapter(rs, model.config).lora;
    expect(model.lora.config.alpha).toBeCloseTo(5 * Math.sqrt(3), 12);
    if (HAVE_TORCH) expect(maxAbsDiff(referenceLogits(base, tokens, rs), modelLogits(model, tokens))).toBeLessThan(1e-4);
    disposeModel(model);
  });

  it('refuses what it cannot read exactly, naming the file and tensor', () => {
    const base = writeCheckpoint(root, 'llama-bad', LLAMA3_LIKE);
    const model = adapted(base, 13);
    const out = join(root, 'bad-adapter');
    writePeftAdapter(out, model, null);
    const good = readSafetensors(join(out, ADAPTER_WEIGHTS)).tensors;
    const config = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
    const rewrite = (tensors: typeof good, patch: Record<string, unknown> = {}) => {
      writeFileSync(join(out, ADAPTER_WEIGHTS), encodeSafetensors(tensors));
      writeFileSync(join(out, ADAPTER_CONFIG), JSON.stringify({ ...config, ...patch }));
      return () => readPeftAdapter(out, model.config);
    };
    const kA = 'base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight';
    const otherA = { ...good[kA], data: (good[kA].data as Float32Array).map((v) => v + 1) };
    expect(rewrite({ ...good, [kA]: otherA })).toThrow(/layers\.1\.self_attn\.q_proj, .*k_proj, .*v_proj have different lora_A/);
    const { [kA]: _dropped, ...withoutK } = good;
    expect(rewrite(withoutK)).toThrow(/LoRA weights for model\.layers\.1\.self_attn\.k_proj are missing/);
    expect(rewrite(good, { r: 4 })).toThrow(
      /adapter_model\.safetensors: model\.layers\.0\.self_attn\.qkv_proj\.lora_A has shape \[3,32\] but r=4 and the model imply \[4,32\]/,
    );
    expect(rewrite(good, { rank_pattern: { q_proj: 8 } })).toThrow(/adapter_config\.json: per-module 'rank_pattern' is not supported/);
    expect(rewrite(good, { peft_type: 'IA3' })).toThrow(/peft_type "IA3" is not supported/);
    expect(
      rewrite({ ...good, 'base_model.model.lm_head.lora_A.weight': good[kA], 'base_model.model.lm_head.lora_B.weight': good[kA] }),
    ).toThrow(/modules this model does not adapt: model\.lm_head|lm_head/);
    expect(() => readPeftAdapter(join(root, 'nowhere'), model.config)).toThrow(/not a PEFT adapter directory \(no adapter_config\.json\)/);
    disposeModel(model);
  });

  it('checkpoints keep their adapter in PEFT format and resume it exactly', () => {
    const base = writeCheckpoint(root, 'ckpt-base', PHI4_LIKE);
    const model = adapted(base, 17);
    const dir = join(root, 'ckpt');
    saveCheckpoint(dir, model, { base: 'microsoft/Phi-4-mini-instruct' });
    expect(JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8'))).toMatchObject({
      peft_type: 'LORA',
      base_model_name_or_path: 'microsoft/Phi-4-mini-instruct',
    });
    const loaded = loadCheckpoint(dir).model;
    expect(Object.keys(loaded.lora!.params)).toEqual(Object.keys(model.lora!.params));
    expect(loraValues(loaded)).toEqual(loraValues(model));
    disposeModel(loaded);
    disposeModel(model);
  });
});
