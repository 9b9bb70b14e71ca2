// End to end: `npm run train -- --model DIR --dataset gsm8k --rounds 1` on a tiny random phi3 checkpoint in Hugging Face
// layout (written here, with the Phi-4-mini-style tokenizer): chat-rendered solver prompts, the chat TF verifier, the
// report. Small pool / samples / max-new-tokens so it runs in seconds on CPU; chunked logits, micro-batches and
// per-layer recomputation as a full-size model would train.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR } from '../src/data/index.js';
import { sharedData, writeTinyPhi3 } from './helpers.js';

const ROOT = resolve(__dirname, '..');
const HAVE_GSM8K = sharedData(DEFAULT_DATA_DIR, 'gsm8k/train.jsonl', 'gsm8k/test.jsonl');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'svgap-hf-train-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!HAVE_GSM8K)('npm run train on a Hugging Face checkpoint directory', () => {
  it('runs one round on GSM8K with chat prompts and the chat TF verifier, and writes metrics, samples and the report', () => {
    const modelDir = join(root, 'tiny-phi3');
    mkdirSync(modelDir);
    writeTinyPhi3(modelDir, 3);
    const out = join(root, 'run');
    const args = [
      '--model',
      modelDir,
      '--dataset',
      'gsm8k',
      '--rounds',
      '1',
      '--pool-size',
      '4',
      '--samples',
      '2',
      '--max-new-tokens',
      '8',
      '--sample-batch',
      '4',
      '--eval-size',
      '2',
      '--test-size',
      '2',
      '--test-samples',
      '0',
      '--batch-size',
      '2',
      '--verifier',
      'tf',
      '--out',
      out,
      '--logit-chunk',
      '256',
      '--micro-batch',
      '1',
      '--recompute',
    ]; // the at-scale training path: a 200k vocabulary never forms [tokens, vocab] logits
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.status).toBe(0);

    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.map((m) => m.t)).toEqual([0, 0.5, 1]); // t = 0, then --evals-per-epoch 2 points in the round
    for (const m of metrics) {
      for (const key of [
        'solverUncertainty',
        'verifierUncertainty',
        'gap',
        'solverAccuracy',
        'verifierAccuracy',
        'testAccuracy',
        'passAtN',
        'meanResponseLength',
      ]) {
        expect(Number.isFinite(m[key]), `${key} at t=${m.t}`).toBe(true);
      }
    }
    // random weights over a 200k vocabulary: every response runs to --max-new-tokens, U ≈ 8 · ln(200064)
    expect(metrics[0].meanResponseLength).toBe(8);
    expect(metrics[0].solverUncertainty as number).toBeGreaterThan(8 * Math.log(200064) - 2);
    expect(Number.isFinite(metrics[2].trainLoss)).toBe(true);

    const samples = readFileSync(join(out, 'samples', 'round-1.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            question: string;
            prompt: string;
            candidates: { score: number; length: number }[];
          },
      );
    expect(samples).toHaveLength(4);
    for (const s of samples) {
      expect(s.prompt.startsWith('<|user|>Solve the following math problem.')).toBe(true);
      expect(s.prompt).toContain(s.question);
      expect(s.prompt).toContain('"#### <answer>"');
      expect(s.prompt.endsWith('<|end|><|assistant|>')).toBe(true);
      expect(s.candidates).toHaveLength(2);
      for (const c of s.candidates) {
        expect(c.score).toBeGreaterThanOrEqual(0);
        expect(c.score).toBeLessThanOrEqual(1);
      }
    }
    const info = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
      prompts: { format: string; turnEnd: number[]; stopIds: number[] };
      verifier: { templates: { tf: string } };
      options: { sft: { logitChunk: number; microBatch: number; recompute: boolean } };
    };
    expect(info.options).toMatchObject({ sft: { logitChunk: 256, microBatch: 1, recompute: true } });
    expect(info.prompts.format).toBe('chat');
    expect(info.prompts.turnEnd).toEqual([200020]); // <|end|>
    expect(info.prompts.stopIds).toEqual([200020, 199999]);
    expect(info.verifier.templates.tf).toContain('True or False');
    expect(existsSync(join(out, 'report', 'index.html'))).toBe(true);
    expect(existsSync(join(out, 'checkpoint', 'config.json'))).toBe(true);
  }, 300_000);
});
