import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/index.js';
import type { ModelConfig } from '../src/model/config.js';
import { MICRO, randomBatch, tfjsNodeLoads } from './helpers.js';
import { type Model, addLora, emptyCache, forward, initModel, mergeLora, trainableParams, disposeCache } from '../src/model/model.js';
import { DEFAULT_OPTIMIZER, type TrainBatch, evaluateLoss, initAdamW, maskedLoss, trainStep, batchTensors } from '../src/model/train.js';
import { sample, score } from '../src/model/sample.js';
import { saveCheckpoint, loadCheckpoint } from '../src/model/checkpoint.js';
import { Rng } from '../src/model/rng.js';

function weightsOf(model: Model): Record<string, number[][]> {
  const get = (name: string) => {
    const v = model.params[name];
    const data = Array.from(v.dataSync());
    const [rows, cols] = v.shape.length === 2 ? v.shape : [1, v.shape[0]];
    return Array.from({ length: rows! }, (_, r) => data.slice(r * cols!, (r + 1) * cols!));
  };
  return Object.fromEntries(Object.keys(model.params).map((n) => [n, get(n)]));
}

/** A plain-JS reference of the Phi-3 forward pass: explicit loops, one head at a time, repeat_kv and rotate_half as in HF. */
function referenceLogits(config: ModelConfig, w: Record<string, number[][]>, tokens: number[]): number[][] {
  const hd = config.hidden_size / config.num_attention_heads;
  const rot = Math.trunc(hd * config.partial_rotary_factor); // HF Phi-3: rotary_ndims = int(head_dim * partial_rotary_factor)
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads;
  const matVec = (m: number[][], x: number[]) => m.map((row) => row.reduce((s, v, i) => s + v * x[i], 0));
  const norm = (x: number[], g: number[]) => {
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + config.rms_norm_eps);
    return x.map((v, i) => (v / rms) * g[i]);
  };
  const rope = (x: number[], pos: number) => {
    const out = [...x];
    for (let i = 0; i < rot / 2; i++) {
      const angle = pos / Math.pow(config.rope_theta, (2 * i) / rot);
      out[i] = x[i] * Math.cos(angle) - x[i + rot / 2] * Math.sin(angle);
      out[i + rot / 2] = x[i + rot / 2] * Math.cos(angle) + x[i] * Math.sin(angle);
    }
    return out;
  };
  let h = tokens.map((t) => [...w['model.embed_tokens.weight'][t]]);
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const qkv = h.map((x) => matVec(w[`${p}.self_attn.qkv_proj.weight`], norm(x, w[`${p}.input_layernorm.weight`][0])));
    const headOf = (vec: number[], offset: number, head: number) => vec.slice(offset + head * hd, offset + (head + 1) * hd);
    const attnOut = tokens.map((_, t) => {
      const context: number[] = [];
      for (let head = 0; head < heads; head++) {
        const kvHead = Math.floor(head / (heads / kvHeads));
        const q = rope(headOf(qkv[t], 0, head), t);
        const scores = Array.from({ length: t + 1 }, (_, s) => {
          const k = rope(headOf(qkv[s], heads * hd, kvHead), s);
          return q.reduce((acc, v, i) => acc + v * k[i], 0) / Math.sqrt(hd);
        });
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const z = exps.reduce((a, b) => a + b, 0);
        const out = Array<number>(hd).fill(0);
        exps.forEach((e, s) => headOf(qkv[s], (heads + kvHeads) * hd, kvHead).forEach((v, i) => (out[i] += (e / z) * v)));
        context.push(...out);
      }
      return matVec(w[`${p}.self_attn.o_proj.weight`], context);
    });
    h = h.map((x, t) => x.map((v, i) => v + attnOut[t][i]));
    h = h.map((x) => {
      const gu = matVec(w[`${p}.mlp.gate_up_proj.weight`], norm(x, w[`${p}.post_attention_layernorm.weight`][0]));
      const inter = config.intermediate_size;
      const act = Array.from({ length: inter }, (_, i) => (gu[i] / (1 + Math.exp(-gu[i]))) * gu[inter + i]);
      const down = matVec(w[`${p}.mlp.down_proj.weight`], act);
      return x.map((v, i) => v + down[i]);
    });
  }
  const head = w[config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'];
  return h.map((x) => matVec(head, norm(x, w['model.norm.weight'][0])));
}

/** The weights the reference runs on: the model's, with `values` replacing its trainable ones and LoRA merged (W + alpha/rank · B A). */
function effectiveWeights(model: Model, values: Record<string, Float64Array>): Record<string, number[][]> {
  const w = weightsOf(model);
  const matrix = (name: string, rows: number, cols: number) =>
    Array.from({ length: rows }, (_, r) => Array.from(values[name].slice(r * cols, (r + 1) * cols)));
  for (const [name, v] of Object.entries(model.params))
    if (values[name]) w[name] = matrix(name, v.rank === 2 ? v.shape[0] : 1, v.shape[v.rank - 1]);
  const lora = model.lora;
  if (!lora) return w;
  const scale = lora.config.alpha / lora.config.rank;
  for (const aName of Object.keys(lora.params).filter((n) => n.endsWith('.lora_A'))) {
    const linear = aName.slice(0, -'.lora_A'.length);
    const [rank, inputs] = lora.params[aName].shape as [number, number];
    const outputs = lora.params[`${linear}.lora_B`].shape[0];
    const a = matrix(aName, rank, inputs);
    const b = matrix(`${linear}.lora_B`, outputs, rank);
    w[`${linear}.weight`] = w[`${linear}.weight`].map((row, o) =>
      row.map((x, i) => x + scale * b[o].reduce((s, bor, r) => s + bor * a[r][i], 0)),
    );
  }
  return w;
}

/** maskedLoss in float64 through the reference: mean cross-entropy over the weighted targets. */
function referenceLoss(config: ModelConfig, w: Record<string, number[][]>, batch: TrainBatch): number {
  let total = 0;
  let count = 0;
  batch.inputs.forEach((row, b) =>
    referenceLogits(config, w, row).forEach((z, t) => {
      const weight = batch.weights[b][t];
      const max = Math.max(...z);
      const logSumExp = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
      total += weight * (logSumExp - z[batch.targets[b][t]]);
      count += weight;
    }),
  );
  return total / count;
}

describe('model on the cpu backend', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('GQA and partial rotary match a plain-JS reference, tied and untied, gather and one-hot embedding', () => {
    for (const tie of [false, true]) {
      for (const embedMode of ['gather', 'onehot'] as const) {
        const config = { ...MICRO, tie_word_embeddings: tie };
        const model = initModel(config, 7, embedMode);
        const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
        const expected = referenceLogits(config, weightsOf(model), tokens);
        const got = tf.tidy(() => forward(model, tf.tensor2d([tokens], undefined, 'int32')).logits.arraySync()[0]);
        for (let t = 0; t < tokens.length; t++)
          for (let v = 0; v < config.vocab_size; v++) expect(got[t][v]).toBeCloseTo(expected[t][v], 4);
      }
    }
  });

  it('KV-cache decoding and left padding give the logits of a full recompute', () => {
    const model = initModel(MICRO, 11);
    const tokens = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8];
    const full = tf.tidy(() => forward(model, tf.tensor2d([tokens], undefined, 'int32')).logits.arraySync()[0]);
    let cache = emptyCache();
    const prompt = 4;
    const step = (ids: number[], positions?: number[][], keyMask?: number[][]) => {
      const previous = cache;
      const out = forward(model, tf.tensor2d([ids], undefined, 'int32'), { cache: previous, positions, keyMask });
      disposeCache(previous);
      cache = out.cache!;
      const rows = out.logits.arraySync()[0];
      out.logits.dispose();
      return rows;
    };
    const incremental = [...step(tokens.slice(0, prompt))];
    for (let t = prompt; t < tokens.length; t++) incremental.push(...step([tokens[t]]));
    disposeCache(cache);
    for (let t = 0; t < tokens.length; t++) for (let v = 0; v < MICRO.vocab_size; v++) expect(incremental[t][v]).toBeCloseTo(full[t][v], 4);

    // the same sequence behind 3 pad tokens, with the positions and key mask the sampler uses
    cache = emptyCache();
    const pad = 3;
    const padded = [0, 0, 0, ...tokens];
    const mask = [padded.map((_, s) => (s < pad ? 0 : 1))];
    const positions = [padded.map((_, s) => Math.max(0, s - pad))];
    const shifted = step(padded, positions, mask);
    disposeCache(cache);
    for (let t = 0; t < tokens.length; t++)
      for (let v = 0; v < MICRO.vocab_size; v++) expect(shifted[t + pad][v]).toBeCloseTo(full[t][v], 4);
  });

  it('sampling is seeded, batched rows equal single rows, and the scorer reproduces the sampled log-probs', () => {
    const model = initModel(MICRO, 5);
    const prompts = [
      [1, 2, 3],
      [4, 5],
      [6, 7, 8, 9],
    ];
    const options = { temperature: 1, topP: 0.9, maxNewTokens: 12, eosId: 12, padId: 0 };
    const a = sample(model, prompts, { ...options, rng: new Rng(42) });
    const b = sample(model, prompts, { ...options, rng: new Rng(42) });
    expect(a.tokens).toEqual(b.tokens);
    for (const row of a.tokens) expect(row.length).toBeGreaterThan(0);
    for (const row of a.tokens) if (row.includes(12)) expect(row.indexOf(12)).toBe(row.length - 1);
    const scored = score(model, prompts, a.tokens, { padId: 0, batchSize: 2 });
    a.logProbs.forEach((lps, i) => {
      const nll = -lps.reduce((s, x) => s + x, 0);
      expect(scored.nll[i]).toBeCloseTo(nll, 3);
      expect(scored.normalizedNll[i]).toBeCloseTo(nll / lps.length, 4);
      expect(scored.entropy[i]).toBeGreaterThan(0);
      expect(scored.entropy[i]).toBeLessThanOrEqual(Math.log(MICRO.vocab_size) + 1e-4);
      expect(scored.selfCertainty[i]).toBeGreaterThanOrEqual(-1e-5);
    });
    // greedy decoding of a prompt in a batch equals greedy decoding of it alone (left padding is invisible)
    const greedy = { ...options, temperature: 0, rng: new Rng(1) };
    const batched = sample(model, prompts, greedy).tokens;
    prompts.forEach((p, i) => expect(sample(model, [p], greedy).tokens[0]).toEqual(batched[i]));
  });

  it('gradients match central finite differences of the float64 reference, base and LoRA', () => {
    const config = { ...MICRO, num_hidden_layers: 1 };
    const batch = randomBatch(3, 2, 6, config.vocab_size);
    for (const withLora of [false, true]) {
      const model = initModel(config, 9);
      if (withLora) {
        addLora(model, { rank: 2, alpha: 4, targets: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] }, 1);
        // B starts at zero, which would make A's gradient zero: give B values so both are exercised
        const rng = new Rng(2);
        for (const [name, v] of Object.entries(model.lora!.params))
          if (name.endsWith('lora_B'))
            v.assign(
              tf.tensor(
                Array.from({ length: v.size }, () => rng.normal() * 0.3),
                v.shape,
              ),
            );
      }
      const params = trainableParams(model);
      const { grads } = tf.variableGrads(() => {
        const t = batchTensors(batch);
        return maskedLoss(forward(model, t.inputs).logits, t.targets, t.weights);
      }, Object.values(params));
      const values = Object.fromEntries(Object.entries(params).map(([n, v]) => [n, Float64Array.from(v.dataSync())]));
      expect(evaluateLoss(model, batch)).toBeCloseTo(referenceLoss(config, effectiveWeights(model, values), batch), 5);
      const rng = new Rng(4);
      for (const [name, variable] of Object.entries(params)) {
        const direction = Array.from({ length: variable.size }, () => rng.normal());
        const analytic = tf.tidy(() => tf.sum(tf.mul(grads[variable.name], tf.tensor(direction, variable.shape))).dataSync()[0]);
        // float64 central differences: truncation ~eps², rounding ~1e-16/eps, both far below float32's gradient error
        const eps = 1e-5;
        const lossAt = (sign: number) =>
          referenceLoss(
            config,
            effectiveWeights(model, { ...values, [name]: values[name].map((x, i) => x + sign * eps * direction[i]) }),
            batch,
          );
        const numeric = (lossAt(1) - lossAt(-1)) / (2 * eps);
        expect(Math.abs(numeric - analytic), `${name}: numeric ${numeric} vs analytic ${analytic}`).toBeLessThan(
          1e-4 * Math.max(1e-2, Math.abs(analytic)),
        );
      }
      tf.dispose(Object.values(grads));
    }
  });

  it('loss falls on a toy set; LoRA trains only the adapters and merging keeps the logits', () => {
    const model = initModel(MICRO, 1);
    const rows = Array.from({ length: 8 }, (_, b) => Array.from({ length: 13 }, (_, t) => (b + 3 * t) % 12));
    const batch: TrainBatch = {
      inputs: rows.map((r) => r.slice(0, 12)),
      targets: rows.map((r) => r.slice(1)),
      weights: rows.map(() => Array(12).fill(1)),
    };
    const state = initAdamW(trainableParams(model));
    const config = { ...DEFAULT_OPTIMIZER, lr: 1e-2, warmupSteps: 5, totalSteps: 60, minLr: 1e-3 };
    const first = trainStep(model, state, config, batch).loss;
    let last = first;
    for (let i = 0; i < 59; i++) last = trainStep(model, state, config, batch).loss;
    expect(last).toBeLessThan(0.3 * first);

    const base = Object.fromEntries(Object.entries(model.params).map(([n, v]) => [n, Array.from(v.dataSync())]));
    addLora(model, { rank: 2, alpha: 4, targets: ['qkv_proj', 'o_proj'] }, 3);
    const loraState = initAdamW(trainableParams(model));
    for (let i = 0; i < 5; i++) trainStep(model, loraState, { ...config, lr: 5e-2 }, randomBatch(i, 4, 8, MICRO.vocab_size));
    for (const [name, v] of Object.entries(model.params)) expect(Array.from(v.dataSync())).toEqual(base[name]);
    const tokens = tf.tensor2d([[1, 2, 3, 4, 5]], undefined, 'int32');
    const withAdapters = forward(model, tokens).logits.arraySync();
    mergeLora(model);
    expect(model.lora).toBeUndefined();
    const merged = forward(model, tokens).logits.arraySync();
    withAdapters[0].forEach((row, t) => row.forEach((v, i) => expect(merged[0][t][i]).toBeCloseTo(v, 4)));
  });

  it('checkpoints round-trip exactly, and a resumed run takes the same next step', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'svgap-ckpt-')), 'ckpt');
    const model = initModel(MICRO, 21);
    addLora(model, { rank: 2, alpha: 2, targets: ['qkv_proj', 'down_proj'] }, 4);
    const state = initAdamW(trainableParams(model));
    const config = { ...DEFAULT_OPTIMIZER, lr: 1e-2 };
    for (let i = 0; i < 3; i++) trainStep(model, state, config, randomBatch(i, 2, 6, MICRO.vocab_size));
    const rng = new Rng(99);
    rng.next();
    saveCheckpoint(dir, model, {
      training: { optimizer: state, optimizerConfig: config, rng: rng.state(), extra: { round: 2 } },
      info: { description: { note: 'test' } },
    });
    const next = randomBatch(10, 2, 6, MICRO.vocab_size);
    const expectedLoss = trainStep(model, state, config, next).loss;
    const byName = (m: Model) => Object.fromEntries(Object.entries(trainableParams(m)).map(([n, v]) => [n, Array.from(v.dataSync())]));
    const expectedParams = byName(model);

    const loaded = loadCheckpoint(dir);
    expect(loaded.model.config).toEqual(MICRO);
    expect(loaded.training!.extra).toEqual({ round: 2 });
    expect(new Rng(loaded.training!.rng!).next()).toBe(rng.next());
    const resumed = trainStep(loaded.model, loaded.training!.optimizer, loaded.training!.optimizerConfig, next).loss;
    expect(resumed).toBe(expectedLoss);
    expect(byName(loaded.model)).toEqual(expectedParams);
  });

  it('corrupt and mismatched checkpoints are clear errors', () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-bad-'));
    const dir = join(root, 'ckpt');
    saveCheckpoint(dir, initModel(MICRO, 1));
    expect(() => loadCheckpoint(join(root, 'nothing'))).toThrow(/no config.json/);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 32 }));
    expect(() => loadCheckpoint(dir)).toThrow(
      /model\.safetensors: tensor 'model\.layers\.0\.mlp\.gate_up_proj\.weight' has shape \[48,16\] but config\.json implies \[64,16\]/,
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, hidden_size: 'big' }));
    expect(() => loadCheckpoint(dir)).toThrow(/config\.json: 'hidden_size' must be a positive integer/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    truncateSync(join(dir, 'model.safetensors'), 200);
    expect(() => loadCheckpoint(dir)).toThrow(/model\.safetensors: not a valid safetensors file/);
  });

  it('unknown or unavailable backends are clear errors', async () => {
    await expect(initBackend({ backend: 'gpu' as never })).rejects.toThrow(/--backend: unknown backend 'gpu'/);
    if (!tfjsNodeLoads()) await expect(initBackend({ backend: 'tensorflow' })).rejects.toThrow(/--backend tensorflow: not available here/);
    else {
      // in another process: initialising it here would move this file's tests onto it
      const code = "const m = await import('./src/engine/index.ts'); console.log((await m.initBackend({ backend: 'tensorflow' })).name);";
      expect(
        execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          cwd: join(import.meta.dirname, '..'),
          encoding: 'utf8',
        })
          .trim()
          .split('\n')
          .pop(),
      ).toBe('tensorflow');
    }
  });

  it('no tensors leak over 20 training and sampling steps', () => {
    const model = initModel(MICRO, 2);
    const state = initAdamW(trainableParams(model));
    const rng = new Rng(1);
    trainStep(model, state, DEFAULT_OPTIMIZER, randomBatch(0, 2, 6, MICRO.vocab_size));
    sample(model, [[1, 2]], { temperature: 1, topP: 1, maxNewTokens: 4, eosId: 12, padId: 0, rng });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      trainStep(model, state, DEFAULT_OPTIMIZER, randomBatch(i, 2, 6, MICRO.vocab_size));
      sample(model, [[1, 2], [3]], { temperature: 1, topP: 0.9, maxNewTokens: 4, eosId: 12, padId: 0, rng });
      score(model, [[1, 2]], [[3, 4]], { padId: 0 });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('drawToken', () => {
  it('draws with the tempered probabilities, with and without top-p truncation', async () => {
    const { drawToken } = await import('../src/model/sample.js');
    const probs = [0.5, 0.3, 0.15, 0.05];
    const logProbs = Float64Array.from(probs, Math.log);
    for (const [topP, expected] of [
      [1, probs],
      [0.8, [0.5 / 0.8, 0.3 / 0.8, 0, 0]],
    ] as const) {
      const rng = new Rng(5);
      const counts = [0, 0, 0, 0];
      const draws = 20000;
      for (let i = 0; i < draws; i++) counts[drawToken(logProbs, 1, topP, rng)] += 1;
      counts.forEach((c, i) => expect(Math.abs(c / draws - expected[i])).toBeLessThan(0.015));
    }
    expect(drawToken(logProbs, 0, 1, new Rng(1))).toBe(0);
  });
});
