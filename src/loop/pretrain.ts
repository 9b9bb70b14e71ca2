// Pre-training the shipped tiny model on a limited labelled set: solving (question → worked solution) mixed with
// verification (question + a correct or corrupted solution → True/False, and → rating 5/1), so the same model can
// act as solver and verifier, as the paper's models do.
import { join } from 'node:path';
import { corruptSolution, generateArith, type Problem } from '../data/index.js';
import {
  type Model,
  type OptimizerConfig,
  type SftExample,
  DEFAULT_OPTIMIZER,
  Rng,
  countParameters,
  initAdamW,
  parameterShapes,
  saveCheckpoint,
  sftBatch,
  trainStep,
} from '../model/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { promptIds, responseIds, verificationPromptIds } from './prompts.js';
import { type SamplingOptions, greedyAccuracy, type Progress } from './sampling.js';

export interface PretrainOptions {
  labelled: number; // size of the labelled arith set
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  verifierShare: number; // share of examples that are verification judgements
  maxSteps: number; // arith difficulty knob
}

/** Training examples for one labelled problem: the solving example and, by share, TF and QE judgements of a correct or corrupted solution. */
export function pretrainExamples(tokenizer: Tokenizer, problems: Problem[], verifierShare: number, seed: number): SftExample[] {
  const rng = new Rng(seed);
  const examples: SftExample[] = [];
  for (const problem of problems) {
    examples.push({ prompt: promptIds(tokenizer, problem.question), response: responseIds(tokenizer, problem.solution) });
    // verifierShare of all examples are judgements: per solving example, that many in expectation
    let judgements = verifierShare / (1 - verifierShare);
    while (judgements > 0) {
      if (rng.next() < Math.min(1, judgements)) {
        const correct = rng.next() < 0.5;
        const shown = correct ? problem : corruptSolution(problem, rng.nextUint32());
        const kind = rng.next() < 0.5 ? 'tf' : 'qe';
        const verdict = kind === 'tf' ? (correct ? 'True' : 'False') : correct ? '5' : '1';
        examples.push({
          prompt: verificationPromptIds(tokenizer, kind, problem.question, tokenizer.encode(shown.solution)),
          response: [...tokenizer.encode(verdict), tokenizer.eosId],
        });
      }
      judgements -= 1;
    }
  }
  return rng.shuffle(examples);
}

export interface PretrainResult {
  steps: number;
  finalLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
  seconds: number;
  parameters: number;
}

/** Full-parameter SFT of `model` on the arith labelled set; writes the checkpoint to `outDir` with how it was made. */
export function pretrain(
  model: Model,
  tokenizer: Tokenizer,
  options: PretrainOptions,
  outDir: string,
  test: Problem[],
  hooks: { log?: (line: string) => void; progress?: Progress; command?: string } = {},
): PretrainResult {
  const start = performance.now();
  const problems = generateArith({ count: options.labelled, seed: options.seed, offset: 0, maxSteps: options.maxSteps });
  const examples = pretrainExamples(tokenizer, problems, options.verifierShare, options.seed + 1);
  const optimizer = initAdamW(model.params);
  const config: OptimizerConfig = {
    ...DEFAULT_OPTIMIZER,
    lr: options.lr,
    minLr: options.lr / 10,
    warmupSteps: Math.min(100, Math.ceil(options.steps / 10)),
    totalSteps: options.steps,
  };
  const rng = new Rng(options.seed + 2);
  let order: number[] = [];
  let recent = 0;
  let finalLoss = Number.NaN;
  for (let step = 1; step <= options.steps; step++) {
    if (order.length < options.batchSize) order = [...order, ...rng.shuffle(examples.map((_, i) => i))];
    const batch = sftBatch(
      order.splice(0, options.batchSize).map((i) => examples[i]),
      tokenizer.padId,
    );
    const { loss } = trainStep(model, optimizer, config, batch);
    recent = step === 1 ? loss : 0.98 * recent + 0.02 * loss;
    finalLoss = recent;
    hooks.progress?.('pretrain', step, options.steps);
    if (step % 200 === 0 || step === options.steps) hooks.log?.(`step ${step}/${options.steps} loss ${recent.toFixed(4)}`);
  }
  const sampling: SamplingOptions = { samples: 1, temperature: 0, topP: 1, maxNewTokens: 64, sampleBatch: 64 };
  const trainAccuracy = greedyAccuracy(model, tokenizer, problems.slice(0, Math.min(200, problems.length)), sampling);
  const testAccuracy = greedyAccuracy(model, tokenizer, test, sampling);
  const seconds = (performance.now() - start) / 1000;
  const result = {
    steps: options.steps,
    finalLoss,
    trainAccuracy,
    testAccuracy,
    seconds,
    parameters: countParameters(parameterShapes(model.config)),
  };
  saveCheckpoint(outDir, model, {
    info: {
      tokenizer: { path: join('models', 'tokenizer', 'svgap.model') },
      description: { command: hooks.command, ...options, ...result },
    },
  });
  return result;
}
