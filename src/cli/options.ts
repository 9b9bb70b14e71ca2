// Command-line options shared by train, cross and bench.
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { typedFlags } from '../flags.js';
import { BACKEND_CHOICES, PRECISION_CHOICES } from '../engine/index.js';
import { EXTERNAL_SELECTS, type ExternalSelect, TRAIN_DEFAULTS, type TrainOptions } from '../loop/run.js';
import { VERIFIER_KINDS, type VerifierKind } from '../loop/verify.js';

export function backendOptions<T>(y: Argv<T>) {
  return y
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as const, describe: 'tfjs backend (auto: tfjs-node-gpu > torch cuda > tfjs-node > torch cpu > wasm > cpu)' })
    .option('threads', { type: 'number', describe: 'CPU threads for the backend (default: OMP_NUM_THREADS or all cores)' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'device for the torch backend' })
    .option('precision', { choices: PRECISION_CHOICES, describe: 'torch matmul precision: fp32 | tf32 (CUDA; fp32 on CPU) | bf16 (autocast); default tf32 on CUDA, fp32 on CPU' });
}

export function trainOptions<T>(y: Argv<T>) {
  const d = TRAIN_DEFAULTS;
  return backendOptions(y)
    .option('model', { type: 'string', default: d.model, describe: 'tiny-arith (shipped), tiny | small (random init), a checkpoint directory, a hub id (microsoft/Phi-4-mini-instruct[@rev]) or phi-mini (its alias): found in the HF cache or downloaded into it' })
    .option('memory-budget', { type: 'number', describe: 'GB the run may use; the pre-flight estimate refuses plans above it (default on CPU: the available memory; on a GPU: not checked)' })
    .option('offline', { type: 'boolean', default: false, describe: 'never download --model (as HF_HUB_OFFLINE=1): a hub id must be in the HF cache' })
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
    // training at scale: memory for large models and vocabularies (defaults: one pass, one-hot loss, as before)
    .option('micro-batch', { type: 'number', describe: 'rows per forward/backward pass; gradients accumulate over --batch-size (default: --batch-size)' })
    .option('logit-chunk', { type: 'number', describe: 'tokens whose vocabulary logits are formed at once, in the loss (gather-based) and in scoring (default 0: all at once)' })
    .option('recompute', { type: 'boolean', describe: 'keep only each layer\'s input and recompute the layer in the backward pass' })
    .option('full-finetune', { type: 'boolean', default: d.fullFinetune, describe: 'train all weights instead of LoRA adapters' })
    .option('lora-rank', { type: 'number', default: d.loraRank })
    .option('lora-alpha', { type: 'number', default: d.loraAlpha })
    .option('adapter', { type: 'string', describe: 'start from this PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors; its r and lora_alpha replace --lora-rank/--lora-alpha)' })
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

export const TRAIN_BOOLEANS = ['offline', 'resume', 'fresh-pool', 'full-finetune', 'report', 'skip-bad-lines', 'recompute'];

/** Parsed trainOptions flags as the loop's TrainOptions (here, not in train.ts, so cross can use it without running train). */
export function toTrainOptions(argv: Record<string, unknown>, args: string[] = hideBin(process.argv)): TrainOptions {
  const options = toTrainOptionsOf(argv);
  const typed = new Set(typedFlags(args).map((flag) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())));
  return { ...options, explicitFlags: (Object.keys(options) as (keyof TrainOptions)[]).filter((key) => typed.has(key)) };
}

function toTrainOptionsOf(argv: Record<string, unknown>): TrainOptions {
  return {
    model: argv.model as string, offline: argv.offline as boolean, memoryBudget: argv['memory-budget'] as number | undefined, dataset: argv.dataset as string, dataDir: argv['data-dir'] as string | undefined,
    questionField: argv['question-field'] as string, answerField: argv['answer-field'] as string, skipBadLines: argv['skip-bad-lines'] as boolean,
    out: argv.out as string | undefined, resume: argv.resume as boolean, seed: argv.seed as number,
    backend: argv.backend as TrainOptions['backend'], threads: argv.threads as number | undefined, device: argv.device as TrainOptions['device'], precision: argv.precision as TrainOptions['precision'],
    rounds: (argv.rounds as number | undefined) ?? TRAIN_DEFAULTS.rounds, extendRounds: argv.rounds as number | undefined, poolSize: argv['pool-size'] as number, freshPool: argv['fresh-pool'] as boolean, samples: argv.samples as number,
    temperature: argv.temperature as number, topP: argv['top-p'] as number, maxNewTokens: argv['max-new-tokens'] as number, sampleBatch: argv['sample-batch'] as number,
    verifier: argv.verifier as VerifierKind, sigma: argv.sigma as number, epochsPerRound: argv['epochs-per-round'] as number, lr: argv.lr as number,
    batchSize: argv['batch-size'] as number, microBatch: argv['micro-batch'] as number | undefined, logitChunk: argv['logit-chunk'] as number | undefined, recompute: argv.recompute as boolean | undefined, fullFinetune: argv['full-finetune'] as boolean, loraRank: argv['lora-rank'] as number, loraAlpha: argv['lora-alpha'] as number, adapter: argv.adapter as string | undefined,
    evalsPerEpoch: argv['evals-per-epoch'] as number, evalSize: argv['eval-size'] as number, testSize: argv['test-size'] as number, testSamples: argv['test-samples'] as number,
    stopAtConvergence: argv['stop-at-convergence'] as number | undefined, report: argv.report as boolean,
    externalVerifier: argv['external-verifier'] as string | undefined, externalBudget: argv['external-budget'] as number | undefined, allocation: argv.allocation as string | undefined,
    externalSelect: argv['external-select'] as ExternalSelect, finalTestSize: argv['final-test-size'] as number | undefined,
  };
}
