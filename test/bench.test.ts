// The benchmark's arithmetic and plumbing. Benchmarks are not tests: nothing here asserts a speed.
import { beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/index.js';
import {
  type ModelConfig,
  LORA_TARGETS,
  DEFAULT_OPTIMIZER,
  addLora,
  forward,
  initAdamW,
  initModel,
  presetConfig,
  trainStep,
} from '../src/model/index.js';
import { loadTokenizer, type Tokenizer } from '../src/tokenizer/index.js';
import { loadLoopData } from '../src/loop/data.js';
import {
  type KernelCall,
  breakdown,
  dispatchCost,
  causalPairs,
  forwardFlops,
  layerMatmulWeights,
  loraWeights,
  matmulCallFlops,
  measure,
  median,
  microConfig,
  parseBackends,
  profileKernels,
  ratios,
  referenceValues,
  resolveBenchModel,
  runTorchReference,
  samplingWorkload,
  stageShare,
  sweepPoints,
  teacherForcedWorkload,
  trainFlops,
  benchRound,
  validateBenchOptions,
  BENCH_SIZES,
  BENCH_TIMING,
} from '../src/bench/index.js';
import { MICRO, requireOrSkip } from './helpers.js';

const HAVE_PYTHON = requireOrSkip(
  'python3',
  spawnSync('python3', ['--version']).status === 0,
  'apt-get install python3 (the PyTorch reference of `npm run bench -- --compare-torch`)',
);

let tokenizer: Tokenizer;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  tokenizer = await loadTokenizer();
});

/** Weights per token counted by hand from the architecture: qkv, o, gate_up, down per layer. */
function handCountedLayerWeights(c: ModelConfig): number {
  const hd = c.hidden_size / c.num_attention_heads;
  const perLayer =
    (c.num_attention_heads + 2 * c.num_key_value_heads) * hd * c.hidden_size +
    c.hidden_size * c.hidden_size +
    2 * c.intermediate_size * c.hidden_size +
    c.intermediate_size * c.hidden_size;
  return c.num_hidden_layers * perLayer;
}

describe('model FLOPs', () => {
  it('counts the layer and adapter weights of the presets', () => {
    for (const config of [presetConfig('tiny', 1000), presetConfig('small', 1000), MICRO]) {
      expect(layerMatmulWeights(config)).toBe(handCountedLayerWeights(config));
    }
    const tiny = presetConfig('tiny', 1000);
    // rank·(in+out) per adapted linear: qkv [256,128], o [128,128], gate_up [704,128], down [128,352], two layers
    expect(loraWeights(tiny, { rank: 8, targets: [...LORA_TARGETS] })).toBe(2 * 8 * (256 + 128 + (128 + 128) + (704 + 128) + (128 + 352)));
    expect(loraWeights(tiny, { rank: 8, targets: ['o_proj'] })).toBe(2 * 8 * 256);
  });

  it('workloads: causal pairs and KV-cache sampling', () => {
    expect(causalPairs(4)).toBe(1 + 2 + 3 + 4);
    // prompt 3, 2 new tokens: positions 0..3 are processed (the last sample is never fed back); 2 logit rows per sequence
    expect(samplingWorkload(5, 3, 2)).toEqual({ tokens: 5 * 4, headTokens: 5 * 2, attendedKeys: 5 * causalPairs(4) });
  });

  it('training is 3× the forward (full) and 2× frozen + 3× attention and adapters (LoRA)', () => {
    const c = presetConfig('tiny', 1000);
    const work = teacherForcedWorkload(4, 10);
    const f = forwardFlops(c, work);
    expect(f).toBe(2 * handCountedLayerWeights(c) * 40 + 2 * 1000 * 128 * 40 + 4 * 128 * 2 * work.attendedKeys);
    expect(trainFlops(c, work)).toBe(3 * f);
    const lora = { rank: 4, targets: [...LORA_TARGETS] };
    const attention = 4 * 128 * 2 * work.attendedKeys;
    expect(trainFlops(c, work, lora)).toBe(2 * (f - attention) + 3 * attention + 3 * 2 * loraWeights(c, lora) * 40);
  });

  it('the forward FLOPs formula matches the matmuls tfjs executes (full attention square, gather embedding)', async () => {
    const config = { ...MICRO, vocab_size: 50, tie_word_embeddings: true };
    const model = initModel(config, 1, 'gather');
    const [rows, length] = [3, 7];
    const tokens = tf.tensor2d(
      Array.from({ length: rows }, (_, b) => Array.from({ length }, (_, t) => (b * 7 + t) % 50)),
      undefined,
      'int32',
    );
    const { calls } = await profileKernels(() => tf.tidy(() => void forward(model, tokens).logits.dataSync()));
    const executed = calls
      .filter((c) => c.name === 'BatchMatMul')
      .reduce((s, c) => s + matmulCallFlops(c.inputShapes, c.outputShapes[0]), 0);
    // the implementation computes every (query, key) pair and masks: rows · length² pairs instead of the causal half
    expect(executed).toBe(forwardFlops(config, { tokens: rows * length, headTokens: rows * length, attendedKeys: rows * length * length }));
    tokens.dispose();
  });

  it('a full training step executes 3× the forward matmul FLOPs', async () => {
    const config = { ...MICRO, vocab_size: 50, tie_word_embeddings: true };
    const model = initModel(config, 1, 'gather');
    const rows = Array.from({ length: 2 }, (_, b) => Array.from({ length: 6 }, (_, t) => (b + 3 * t) % 50));
    const batch = { inputs: rows, targets: rows.map((r) => r.map((x) => (x + 1) % 50)), weights: rows.map((r) => r.map(() => 1)) };
    const state = initAdamW(model.params);
    const { calls } = await profileKernels(() => void trainStep(model, state, DEFAULT_OPTIMIZER, batch));
    const executed = calls
      .filter((c) => c.name === 'BatchMatMul')
      .reduce((s, c) => s + matmulCallFlops(c.inputShapes, c.outputShapes[0]), 0);
    expect(executed).toBe(3 * forwardFlops(config, { tokens: 12, headTokens: 12, attendedKeys: 2 * 36 }));
  });
});

describe('where the time goes', () => {
  it('matmul FLOPs from shapes, with either operand transposed and with batch dimensions', () => {
    expect(
      matmulCallFlops(
        [
          [2, 3],
          [3, 4],
        ],
        [2, 4],
      ),
    ).toBe(2 * 2 * 4 * 3);
    expect(
      matmulCallFlops(
        [
          [3, 2],
          [3, 4],
        ],
        [2, 4],
      ),
    ).toBe(2 * 2 * 4 * 3); // a transposed
    expect(
      matmulCallFlops(
        [
          [2, 3],
          [4, 3],
        ],
        [2, 4],
      ),
    ).toBe(2 * 2 * 4 * 3); // b transposed
    expect(
      matmulCallFlops(
        [
          [5, 6, 2, 3],
          [5, 6, 3, 4],
        ],
        [5, 6, 2, 4],
      ),
    ).toBe(30 * 2 * 2 * 4 * 3);
  });

  it('partitions a profiled run into matmul, memory traffic, dispatch and JS, scaled to the median wall time', () => {
    const call = (name: string, ms: number): KernelCall => ({ name, ms, inputShapes: [[10], [10]], outputShapes: [[10]] });
    const calls = [call('BatchMatMul', 10), call('BatchMatMul', 10), call('Add', 2), call('Add', 2), call('Add', 2)];
    const dispatch = { perCallSeconds: 0.001, insideKernelSeconds: 0.0005, profilerSeconds: 0.0002 };
    // profiled run: 41 ms = 26 ms in kernels + 5 calls × (0.5 ms dispatch outside the kernel + 0.2 ms profiler) + 11.5 ms JS
    const b = breakdown({ calls, wallSeconds: 0.041, peakBytes: 1234 }, 0.08, dispatch);
    expect(b.kernels).toBe(5);
    const parts = { matmul: 2 * 0.0095, memory: 3 * 0.0015, dispatch: 5 * 0.001, js: 0.0115 };
    const total = 0.04; // the profiled run less the profiler's 1 ms
    for (const [part, seconds] of Object.entries(parts)) expect(b.share[part as keyof typeof parts], part).toBeCloseTo(seconds / total, 12);
    expect(b.matmulSeconds).toBeCloseTo((0.08 * parts.matmul) / total, 12); // the median run was twice as slow: every part doubles
    expect(b.jsSeconds).toBeCloseTo((0.08 * parts.js) / total, 12);
    expect(b.matmulSeconds + b.memorySeconds + b.dispatchSeconds + b.jsSeconds).toBeCloseTo(0.08, 12);
    expect(b.matmulFlopsPerSecond).toBeCloseTo((2 * matmulCallFlops([[10], [10]], [10])) / parts.matmul, 6);
    expect(b.memoryBytesPerSecond).toBeCloseTo((3 * 4 * 30) / parts.memory, 6);
    expect(b.dominant).toBe('matmul');
    expect(b.topKernels[0]).toEqual({ name: 'BatchMatMul', calls: 2, seconds: 0.02 });
    expect(b.peakBytes).toBe(1234);
  });

  it('when the profiled kernels outlast the profiled run, JS is 0 and the shares still sum to 1', () => {
    const b = breakdown(
      { calls: [{ name: 'Add', ms: 50, inputShapes: [[1]], outputShapes: [[1]] }], wallSeconds: 0.01, peakBytes: 0 },
      0.01,
      { perCallSeconds: 0.001, insideKernelSeconds: 0, profilerSeconds: 0 },
    );
    expect(b.jsSeconds).toBe(0);
    expect(Object.values(b.share).reduce((a, x) => a + x, 0)).toBeCloseTo(1, 12);
    expect(b.dominant).toBe('memory');
  });

  it('measures the fixed cost of a kernel call and the share of it inside the kernel', async () => {
    const cost = await dispatchCost(100, 3);
    expect(cost.perCallSeconds).toBeGreaterThan(0);
    expect(cost.insideKernelSeconds).toBeGreaterThanOrEqual(0);
    expect(cost.insideKernelSeconds).toBeLessThanOrEqual(cost.perCallSeconds);
    expect(cost.profilerSeconds).toBeGreaterThanOrEqual(0);
  });

  it('profiles registered kernels only (a custom-gradient scope is not counted twice)', async () => {
    const { calls } = await profileKernels(() => tf.tidy(() => void tf.logSoftmax(tf.ones([2, 3])).dataSync()));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => tf.getKernel(c.name, tf.getBackend()) !== undefined)).toBe(true);
    expect(calls.some((c) => c.name.endsWith('__op'))).toBe(false);
  });
});

describe('timing', () => {
  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it('warms up, then repeats until reps or the time budget', () => {
    let calls = 0;
    const t = measure(() => void calls++, { warmup: 2, reps: 5, maxSeconds: 60 });
    expect(calls).toBe(7);
    expect(t.reps).toBe(5);
    expect(t.minSeconds).toBeLessThanOrEqual(t.medianSeconds);
    calls = 0;
    const busy = () => {
      calls++;
      const end = performance.now() + 5;
      while (performance.now() < end);
    };
    expect(measure(busy, { warmup: 0, reps: 5, maxSeconds: 0.001 }).reps).toBe(1); // the budget is spent after one run
    expect(calls).toBe(1);
  });
});

describe('options', () => {
  it('--backend', () => {
    expect(parseBackends('all')).toEqual(['torch', 'wasm', 'cpu', 'tensorflow']);
    expect(parseBackends('cpu, wasm,cpu')).toEqual(['cpu', 'wasm']);
    expect(() => parseBackends('cpu,gpu')).toThrow(/--backend: unknown backend 'gpu'/);
  });

  it('rejects bad sizes naming the flag', () => {
    const base = {
      model: 'tiny',
      backends: ['cpu' as const],
      seed: 1,
      sizes: BENCH_SIZES,
      timing: BENCH_TIMING,
      sweep: false,
      compareTorch: false,
    };
    expect(() => validateBenchOptions(base)).not.toThrow();
    expect(() => validateBenchOptions({ ...base, sizes: { ...BENCH_SIZES, samples: 0 } })).toThrow(/--samples/);
    expect(() => validateBenchOptions({ ...base, sizes: { ...BENCH_SIZES, batch: 1.5 } })).toThrow(/--batch/);
    expect(() => validateBenchOptions({ ...base, timing: { ...BENCH_TIMING, maxSeconds: 0 } })).toThrow(/--max-seconds/);
  });

  it('--model: presets, micro, checkpoint directories, clear errors', () => {
    expect(resolveBenchModel('tiny', 1000, '/nonexistent').config).toEqual(presetConfig('tiny', 1000));
    expect(resolveBenchModel('micro', 1000, '/nonexistent').config.hidden_size).toBe(microConfig(1000).hidden_size);
    expect(() => resolveBenchModel('huge', 1000, '/nonexistent')).toThrow(/--model huge: not a preset/);
    const dir = mkdtempSync(join(tmpdir(), 'svgap-bench-model-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(presetConfig('tiny', 999)));
    expect(() => resolveBenchModel(dir, 1000, '/nonexistent')).toThrow(/vocab_size 999 .* does not match the tokenizer's 1000/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(presetConfig('tiny', 1000)));
    expect(resolveBenchModel(dir, 1000, '/nonexistent')).toMatchObject({ source: 'checkpoint', dir });
  });

  it('the sweep starts at the base sizes, halves and doubles N and the pool, and compares tiny with small, without repeats', () => {
    const points = sweepPoints('tiny', 4, 16);
    expect(points).toEqual([
      { model: 'tiny', samples: 4, poolSize: 16 },
      { model: 'tiny', samples: 2, poolSize: 16 },
      { model: 'tiny', samples: 8, poolSize: 16 },
      { model: 'tiny', samples: 4, poolSize: 8 },
      { model: 'tiny', samples: 4, poolSize: 32 },
      { model: 'small', samples: 4, poolSize: 16 },
    ]);
    expect(sweepPoints('/some/checkpoint', 1, 1).map((p) => p.model)).toEqual(['/some/checkpoint', '/some/checkpoint', '/some/checkpoint']);
  });
});

describe('a round', () => {
  it('times every stage of one round; the stages add up to the round', () => {
    const model = initModel({ ...microConfig(tokenizer.vocabSize), max_position_embeddings: 96 }, 2, 'onehot');
    addLora(model, { rank: 2, alpha: 4, targets: [...LORA_TARGETS] }, 2);
    const optimizer = initAdamW(model.lora!.params);
    const data = loadLoopData({ dataset: 'arith', poolSize: 3, freshPool: false, evalSize: 2, testSize: 1, seed: 5 });
    const sizes = { samples: 2, newTokens: 3, sampleBatch: 4, batch: 2, evalsPerRound: 1 };
    const round = benchRound(model, tokenizer, data, sizes, { optimizer, optimizerConfig: { ...DEFAULT_OPTIMIZER, warmupSteps: 0 } }, 1);
    expect(round.trainSteps).toBe(2); // 3 picks in batches of 2
    const s = round.stages;
    for (const stage of Object.values(s)) expect(stage).toBeGreaterThan(0);
    expect(s.sample + s.score + s.verify + s.train + s.eval).toBeLessThanOrEqual(round.seconds + 1e-9);
    const share = stageShare(round);
    expect(Object.values(share).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(round.tokens.sample).toBe(round.meanResponseLength * 3 * 2); // every candidate's tokens are counted once
    expect(round.meanResponseLength).toBeLessThanOrEqual(3);
  });
});

describe('the PyTorch reference', () => {
  it('reads camelCase or snake_case keys and divides ours by PyTorch', () => {
    const values = referenceValues({
      train_tokens_per_s: 1000,
      sampleTokensPerSecond: 50,
      score_tokens_per_s: 'n/a',
      verify_tokens_per_s: 0,
    });
    expect(values).toEqual({ trainTokensPerSecond: 1000, sampleTokensPerSecond: 50 });
    expect(ratios({ trainTokensPerSecond: 250, sampleTokensPerSecond: 100, scoreTokensPerSecond: 7 }, values)).toEqual({
      trainTokensPerSecond: 0.25,
      sampleTokensPerSecond: 2,
    });
  });

  it.runIf(HAVE_PYTHON)('passes only the flags the script accepts and reads the row of the preset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svgap-bench-torch-test-'));
    mkdirSync(dir, { recursive: true });
    // a stand-in script with the reference's interface: echoes the arguments it got into its JSON row
    const script = join(dir, 'reference.py');
    writeFileSync(
      script,
      [
        'import argparse, json',
        'ap = argparse.ArgumentParser()',
        "for flag in ['--preset', '--vocab', '--batch', '--seq', '--threads', '--json']: ap.add_argument(flag)",
        'a = ap.parse_args()',
        "rows = [{'preset': 'other', 'train_tokens_per_s': 1.0}, {'preset': a.preset, 'train_tokens_per_s': float(a.batch) * float(a.seq), 'vocab': a.vocab, 'threads': a.threads}]",
        "json.dump(rows, open(a.json, 'w'))",
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const request = {
      preset: 'tiny',
      vocab: 1000,
      batch: 4,
      seq: 9,
      sampleBatch: 2,
      prompt: 3,
      newTokens: 4,
      verifyLength: 9,
      loraRank: 2,
      loraAlpha: 4,
      topP: 1,
      threads: 1,
      steps: 1,
      warmup: 1,
    };
    const reference = await runTorchReference(request, { python: 'python3', script });
    expect(reference.values).toEqual({ trainTokensPerSecond: 36 });
    expect(reference.row).toMatchObject({ preset: 'tiny', vocab: '1000', threads: '1' });
    expect(reference.command).not.toContain('--sample-batch'); // unknown to this script
    await expect(runTorchReference({ ...request, preset: 'micro' }, { python: 'python3', script })).rejects.toThrow(
      /presets tiny and small only/,
    );
  });
});
