// Command-line options shared by train, cross and bench.
import type { Argv } from 'yargs';
import { BACKEND_CHOICES } from '../engine/index.js';
import { TRAIN_DEFAULTS } from '../loop/run.js';
import { VERIFIER_KINDS } from '../loop/verify.js';

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
    .option('rounds', { type: 'number', default: d.rounds, describe: 'self-improvement rounds' })
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
    .option('stop-at-convergence', { type: 'number', describe: 'stop when the forecast remaining U_s improvement is below EPS' })
    .option('report', { type: 'boolean', default: d.report, describe: 'write the HTML/SVG/PNG report at the end (--no-report to skip)' })
    .option('external-verifier', { type: 'string', describe: 'cross-improvement: oracle, or a checkpoint used as a frozen verifier' })
    .option('external-budget', { type: 'number', describe: 'questions that may be verified externally over the run' })
    .option('allocation', { type: 'string', describe: 'early | uniform | late | R1:share,R2:share,...' });
}
