// Command-line options shared by train, cross and bench.
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { typedFlags } from '../flags.js';
import { BACKEND_CHOICES } from '../engine/index.js';
import { EXTERNAL_SELECTS, type ExternalSelect } from '../loop/external.js';
import { TRAIN_DEFAULTS, type TrainOptions } from '../loop/options.js';
import { VERIFIER_KINDS, type VerifierKind } from '../loop/verify.js';

export function backendOptions<T>(y: Argv<T>) {
  return y
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as const, describe: 'tfjs backend (auto: tfjs-node-gpu > torch cuda > tfjs-node > torch cpu > wasm > cpu)' })
    .option('threads', { type: 'number', describe: 'CPU threads for the backend (default: OMP_NUM_THREADS or all cores)' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'device for the torch backend' });
}

export function trainOptions<T>(y: Argv<T>) {
  const d = TRAIN_DEFAULTS;
  return backendOptions(y)
    .option('model', { type: 'string', default: d.model, describe: 'tiny-arith (shipped), tiny | small (random init), phi-mini (reserved), or a checkpoint directory' })
    .option('dataset', { type: 'string', default: d.dataset, describe: 'arith (generated), gsm8k, math, or a .jsonl path' })
    .option('data-dir', { type: 'string', describe: 'directory with gsm8k/ and math/ (default: $SVGAP_DATA, else ../shared/datasets)' })
    .option('question-field', { type: 'string', default: 'question', describe: 'custom jsonl: question field' })
    .option('answer-field', { type: 'string', default: 'answer', describe: 'custom jsonl: answer/solution field' })
    .option('skip-bad-lines', { type: 'boolean', default: false, describe: 'skip malformed jsonl lines (counted) instead of stopping' })
    .option('out', { type: 'string', describe: 'run directory (default: checkpoints/run-<timestamp>)' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue the run in --out from its last completed round' })
    .option('seed', { type: 'number', default: d.seed })
    .option('rounds', { type: 'number', describe: `self-improvement rounds (default ${d.rounds}; with --resume, extends the run)` })
    .option('pool-size', { type: 'number', default: d.poolSize, describe: 'questions per round' })
    .option('fresh-pool', { type: 'boolean', default: d.freshPool, describe: 'new questions every round instead of a fixed pool' })
    .option('samples', { type: 'number', default: d.samples, describe: 'N candidates per question (the paper: 16)' })
    .option('temperature', { type: 'number', default: d.temperature })
    .option('top-p', { type: 'number', default: d.topP })
    .option('max-new-tokens', { type: 'number', default: d.maxNewTokens })
    .option('sample-batch', { type: 'number', default: d.sampleBatch, describe: 'rows per sampling/scoring batch' })
    .option('verifier', { choices: VERIFIER_KINDS, default: d.verifier, describe: 'self-verifier: tf | qe | likelihood | majority (oracle: external only)' })
    .option('sigma', { type: 'number', default: d.sigma, describe: 'keep candidates with verifier score ≥ σ, then pick the lowest normalised NLL' })
    .option('epochs-per-round', { type: 'number', default: d.epochsPerRound })
    .option('lr', { type: 'number', default: d.lr })
    .option('batch-size', { type: 'number', default: d.batchSize })
    .option('full-finetune', { type: 'boolean', default: d.fullFinetune, describe: 'train all weights instead of LoRA adapters' })
    .option('lora-rank', { type: 'number', default: d.loraRank })
    .option('lora-alpha', { type: 'number', default: d.loraAlpha })
    .option('evals-per-epoch', { type: 'number', default: d.evalsPerEpoch, describe: 'evaluation points per epoch (the paper: 2)' })
    .option('eval-size', { type: 'number', default: d.evalSize, describe: 'fixed train questions for U_s, U_v and accuracies' })
    .option('test-size', { type: 'number', default: d.testSize, describe: 'test questions for greedy accuracy' })
    .option('test-samples', { type: 'number', default: d.testSamples, describe: 'sampled answers per test question at each evaluation point (held-out sampled accuracy; 0 = off)' })
    .option('stop-at-convergence', { type: 'number', describe: 'stop when the forecast remaining U_s improvement is below EPS' })
    .option('final-test-size', { type: 'number', describe: 'after the last round, greedy accuracy of the final model on N test questions (final-test.json)' })
    .option('report', { type: 'boolean', default: d.report, describe: 'write the HTML/SVG/PNG report at the end (--no-report to skip)' })
    .option('external-verifier', { type: 'string', describe: 'cross-improvement: oracle, or a checkpoint used as a frozen verifier' })
    .option('external-budget', { type: 'number', describe: 'questions that may be verified externally over the run' })
    .option('allocation', { type: 'string', describe: 'early | uniform | late | R1:share,R2:share,...' })
    .option('external-select', { choices: EXTERNAL_SELECTS, default: 'random' as const, describe: 'which questions the external verifier sees: random (seeded order) | doubt (lowest self-verifier confidence first)' });
}

export const TRAIN_BOOLEANS = ['resume', 'fresh-pool', 'full-finetune', 'report', 'skip-bad-lines'];

/** Parsed trainOptions flags as the loop's TrainOptions (here, not in train.ts, so cross can use it without running train). */
export function toTrainOptions(argv: Record<string, unknown>, args: string[] = hideBin(process.argv)): TrainOptions {
  const options = toTrainOptionsOf(argv);
  const typed = new Set(typedFlags(args).map((flag) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())));
  return { ...options, explicitFlags: (Object.keys(options) as (keyof TrainOptions)[]).filter((key) => typed.has(key)) };
}

function toTrainOptionsOf(argv: Record<string, unknown>): TrainOptions {
  return {
    model: argv.model as string, dataset: argv.dataset as string, dataDir: argv['data-dir'] as string | undefined,
    questionField: argv['question-field'] as string, answerField: argv['answer-field'] as string, skipBadLines: argv['skip-bad-lines'] as boolean,
    out: argv.out as string | undefined, resume: argv.resume as boolean, seed: argv.seed as number,
    backend: argv.backend as TrainOptions['backend'], threads: argv.threads as number | undefined, device: argv.device as TrainOptions['device'],
    rounds: (argv.rounds as number | undefined) ?? TRAIN_DEFAULTS.rounds, extendRounds: argv.rounds as number | undefined, poolSize: argv['pool-size'] as number, freshPool: argv['fresh-pool'] as boolean, samples: argv.samples as number,
    temperature: argv.temperature as number, topP: argv['top-p'] as number, maxNewTokens: argv['max-new-tokens'] as number, sampleBatch: argv['sample-batch'] as number,
    verifier: argv.verifier as VerifierKind, sigma: argv.sigma as number, epochsPerRound: argv['epochs-per-round'] as number, lr: argv.lr as number,
    batchSize: argv['batch-size'] as number, fullFinetune: argv['full-finetune'] as boolean, loraRank: argv['lora-rank'] as number, loraAlpha: argv['lora-alpha'] as number,
    evalsPerEpoch: argv['evals-per-epoch'] as number, evalSize: argv['eval-size'] as number, testSize: argv['test-size'] as number, testSamples: argv['test-samples'] as number,
    stopAtConvergence: argv['stop-at-convergence'] as number | undefined, report: argv.report as boolean,
    externalVerifier: argv['external-verifier'] as string | undefined, externalBudget: argv['external-budget'] as number | undefined, allocation: argv.allocation as string | undefined,
    externalSelect: argv['external-select'] as ExternalSelect, finalTestSize: argv['final-test-size'] as number | undefined,
  };
}
