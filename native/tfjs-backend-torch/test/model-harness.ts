// Runs the project's model (src/model) on one backend and compares two runs: a full AdamW training step, sampling,
// and the uncertainty scorer. Shared by model.test.ts and scripts/device-run.ts (the GPU check).
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_OPTIMIZER,
  Rng,
  disposeAdamW,
  disposeModel,
  initAdamW,
  initModel,
  nextTokenLogProbs,
  presetConfig,
  sample,
  score,
  trainStep,
} from '../../../src/model/index.js';
import type { ModelConfig, TrainBatch } from '../../../src/model/index.js';

export const HARNESS_CONFIG: ModelConfig = presetConfig('tiny', 64);
const LR = 3e-3;
const STEPS = 3;

export function randomBatch(seed: number, rows: number, cols: number, vocab: number): TrainBatch {
  const rng = new Rng(seed);
  const draw = () => Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(rng.next() * vocab)));
  const weights = Array.from({ length: rows }, (_, b) => Array.from({ length: cols }, (_, t) => (t >= b ? 1 : 0)));
  return { inputs: draw(), targets: draw(), weights };
}

export interface ModelRun {
  losses: number[];
  gradNorms: number[];
  params: Record<string, Float32Array>;
  tokens: number[][];
  sampleLogProbs: number[][];
  nll: number[];
  entropy: number[];
  nextLogProbs: number[];
  kernels: string[];
}

/** Three AdamW steps, then sampling and scoring, on `backend` from the same seeded initial weights. */
export async function runModel(backend: string): Promise<ModelRun> {
  await tf.setBackend(backend);
  if (backend === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false; // no tfjs-node banner
  const model = initModel(HARNESS_CONFIG, 7, 'gather');
  const state = initAdamW(model.params);
  const batch = randomBatch(1, 4, 16, HARNESS_CONFIG.vocab_size);
  const optimizer = { ...DEFAULT_OPTIMIZER, warmupSteps: 0, lr: LR };
  const kernels = new Set<string>();
  const losses: number[] = [];
  const gradNorms: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const profile = await tf.profile(() => {
      const r = trainStep(model, state, optimizer, batch);
      losses.push(r.loss);
      gradNorms.push(r.gradNorm);
    });
    profile.kernelNames.forEach((k) => kernels.add(k));
  }
  const params = Object.fromEntries(Object.entries(model.params).map(([name, v]) => [name, v.dataSync() as Float32Array]));
  const prompts = [
    [1, 2, 3, 4, 5],
    [6, 7, 8],
    [9, 10, 11, 12, 13, 14, 15],
  ];
  let sampled!: ReturnType<typeof sample>;
  const sampleProfile = await tf.profile(() => {
    sampled = sample(model, prompts, { temperature: 1, topP: 0.95, maxNewTokens: 10, eosId: 63, padId: 0, rng: new Rng(11) });
  });
  sampleProfile.kernelNames.forEach((k) => kernels.add(k));
  const scored = score(model, prompts, [[20, 21, 22], [23], [24, 25]], { padId: 0 });
  const next = nextTokenLogProbs(model, prompts, { padId: 0 });
  disposeAdamW(state);
  disposeModel(model);
  return {
    losses,
    gradNorms,
    params,
    tokens: sampled.tokens,
    sampleLogProbs: sampled.logProbs,
    nll: scored.nll,
    entropy: scored.entropy,
    nextLogProbs: next.flatMap((row) => Array.from(row)),
    kernels: [...kernels].sort(),
  };
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function closeCheck(name: string, actual: number[], expected: number[], rel: number, abs: number): Check {
  if (actual.length !== expected.length) return { name, ok: false, detail: `length ${actual.length} vs cpu ${expected.length}` };
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    worst = Math.max(worst, err);
    if (!(err <= abs + rel * Math.abs(expected[i])))
      return { name, ok: false, detail: `[${i}]: ${actual[i]} vs cpu ${expected[i]} (bound ${abs} + ${rel}·|cpu|)` };
  }
  return { name, ok: true, detail: `max |diff| ${worst.toExponential(2)} (bound ${abs} + ${rel}·|cpu|)` };
}

/** The agreement checks between a cpu run and a torch run, with their bounds. */
export function compareRuns(torch: ModelRun, cpu: ModelRun): Check[] {
  const checks: Check[] = [
    closeCheck('training loss per step', torch.losses, cpu.losses, 1e-5, 1e-6),
    closeCheck('gradient norm per step', torch.gradNorms, cpu.gradNorms, 1e-4, 1e-6),
    { name: 'loss decreases', ok: torch.losses[STEPS - 1] < torch.losses[0], detail: torch.losses.map((l) => l.toFixed(5)).join(' → ') },
  ];
  // Adam's first steps move each weight by about ±lr whatever its gradient's size, so a weight whose gradient is ~0 may
  // move either way on the two backends: the largest difference is bounded by 2·Σlr, the mean one tightly.
  let maxDiff = 0;
  let sumDiff = 0;
  let count = 0;
  for (const [name, values] of Object.entries(cpu.params)) {
    const other = torch.params[name];
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(other[i] - values[i]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
      count++;
    }
  }
  checks.push({
    name: 'weights after training (max)',
    ok: maxDiff <= 2 * STEPS * LR,
    detail: `max |diff| ${maxDiff.toExponential(2)} (bound ${(2 * STEPS * LR).toPrecision(2)})`,
  });
  checks.push({
    name: 'weights after training (mean)',
    ok: sumDiff / count < 1e-6,
    detail: `mean |diff| ${(sumDiff / count).toExponential(2)} (bound 1e-6)`,
  });
  const sameTokens = JSON.stringify(torch.tokens) === JSON.stringify(cpu.tokens);
  checks.push({
    name: 'sampled tokens identical',
    ok: sameTokens,
    detail: sameTokens
      ? `${torch.tokens.flat().length} tokens`
      : `torch ${JSON.stringify(torch.tokens)} vs cpu ${JSON.stringify(cpu.tokens)}`,
  });
  if (sameTokens) checks.push(closeCheck('sampled-token log-probs', torch.sampleLogProbs.flat(), cpu.sampleLogProbs.flat(), 1e-4, 1e-4));
  checks.push(closeCheck('scored NLL (U)', torch.nll, cpu.nll, 1e-4, 1e-4));
  checks.push(closeCheck('scored entropy', torch.entropy, cpu.entropy, 1e-4, 1e-4));
  checks.push(closeCheck('next-token log-probs', torch.nextLogProbs, cpu.nextLogProbs, 1e-4, 1e-4));
  return checks;
}
