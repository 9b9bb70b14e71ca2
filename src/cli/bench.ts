// npm run bench -- [options]: throughput, round time per stage, MFU and where the time goes, per backend (README: Benchmarks).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkWritableFile, writeFileAtomic } from '../io.js';
import { checkFlags, typedFlags } from '../flags.js';
import {
  BENCH_BACKENDS,
  BENCH_SIZES,
  BENCH_TIMING,
  SMOKE_SIZES,
  SMOKE_TIMING,
  type BenchOptions,
  formatReport,
  parseBackends,
  runBench,
} from '../bench/index.js';
import { DEFAULT_PYTHON } from '../bench/torch.js';

async function main(): Promise<void> {
  const d = BENCH_SIZES;
  const t = BENCH_TIMING;
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm run bench --')
    .usage(
      "$0 [options]\n\nPer backend: sampling, scoring, verifier and training tokens/s, one round's wall time and stage shares, peak memory, " +
        'model FLOPs utilisation, and what dominates each stage (matmul, memory traffic, op dispatch, JS). One process per backend.',
    )
    .option('model', {
      type: 'string',
      default: 'tiny',
      describe: 'tiny | small (random init), micro, a shipped model, or a checkpoint directory',
    })
    .option('backend', { type: 'string', default: 'all', describe: `all, or a comma list of ${BENCH_BACKENDS.join(', ')}` })
    .option('threads', { type: 'number', describe: 'CPU threads per backend (default: OMP_NUM_THREADS or all cores)' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'device of the torch backend' })
    .option('samples', { type: 'number', default: d.samples, describe: 'N candidates per question in the round' })
    .option('batch', { type: 'number', default: d.batch, describe: 'SFT rows per training step' })
    .option('sample-batch', { type: 'number', default: d.sampleBatch, describe: 'rows per sampling / scoring / verifier pass' })
    .option('prompt-length', { type: 'number', default: d.promptLength, describe: 'prompt tokens of the throughput passes' })
    .option('new-tokens', { type: 'number', default: d.newTokens, describe: "tokens sampled per row (also the round's max new tokens)" })
    .option('pool-size', { type: 'number', default: d.poolSize, describe: 'questions in the round' })
    .option('eval-size', { type: 'number', default: d.evalSize, describe: 'evaluation questions per evaluation point' })
    .option('test-size', { type: 'number', default: d.testSize, describe: 'test questions (greedy) per evaluation point' })
    .option('evals-per-round', {
      type: 'number',
      default: d.evalsPerRound,
      describe: 'evaluation points per round (train: --evals-per-epoch)',
    })
    .option('lora-rank', { type: 'number', default: d.loraRank })
    .option('lora-alpha', { type: 'number', default: d.loraAlpha })
    .option('warmup', { type: 'number', default: t.warmup, describe: 'untimed runs before each measurement' })
    .option('reps', { type: 'number', default: t.reps, describe: 'timed runs per measurement (median)' })
    .option('max-seconds', { type: 'number', default: t.maxSeconds, describe: 'fewer runs once a measurement has taken this long' })
    .option('round-reps', { type: 'number', default: t.roundReps, describe: 'rounds timed per backend and per sweep point (median)' })
    .option('matmul-max', { type: 'number', default: t.matmulMaxSize, describe: 'largest n of the n×n matmul peak probe' })
    .option('sweep', {
      type: 'boolean',
      default: false,
      describe: 'also time rounds at N/2, 2N, pool/2, 2·pool and tiny vs small (on the fastest backend)',
    })
    .option('compare-torch', {
      type: 'boolean',
      default: false,
      describe: 'run scripts/bench_torch.py with the same config and print ours / PyTorch',
    })
    .option('python', {
      type: 'string',
      default: DEFAULT_PYTHON,
      describe: 'Python with PyTorch for --compare-torch (Debian: apt-get install -y python3-torch)',
    })
    .option('seed', { type: 'number', default: 1 })
    .option('smoke', { type: 'boolean', default: false, describe: 'seconds-long check: micro model, micro sizes, one timed run each (CI)' })
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'print the report as JSON {machine, model, results: [...]} instead of tables',
    })
    .option('out', { type: 'string', describe: 'also write the JSON report to this file' })
    .strict()
    .help()
    .parseAsync();

  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), ['sweep', 'compare-torch', 'smoke', 'json']);
  if (argv.out) checkWritableFile(argv.out, '--out'); // before measuring, not after
  const typed = new Set(typedFlags(hideBin(process.argv)));
  const given = (flag: string) => typed.has(flag);
  // --smoke swaps in the micro defaults; flags given explicitly still win
  const sizes = argv.smoke ? SMOKE_SIZES : BENCH_SIZES;
  const timing = argv.smoke ? SMOKE_TIMING : BENCH_TIMING;
  const pick = <T>(flag: string, value: T, fallback: T): T => (given(flag) ? value : fallback);
  const options: BenchOptions = {
    model: pick('model', argv.model, argv.smoke ? 'micro' : argv.model),
    backends: parseBackends(argv.backend),
    threads: argv.threads,
    device: argv.device,
    seed: argv.seed,
    sizes: {
      samples: pick('samples', argv.samples, sizes.samples),
      batch: pick('batch', argv.batch, sizes.batch),
      sampleBatch: pick('sample-batch', argv['sample-batch'], sizes.sampleBatch),
      promptLength: pick('prompt-length', argv['prompt-length'], sizes.promptLength),
      newTokens: pick('new-tokens', argv['new-tokens'], sizes.newTokens),
      poolSize: pick('pool-size', argv['pool-size'], sizes.poolSize),
      evalSize: pick('eval-size', argv['eval-size'], sizes.evalSize),
      testSize: pick('test-size', argv['test-size'], sizes.testSize),
      evalsPerRound: pick('evals-per-round', argv['evals-per-round'], sizes.evalsPerRound),
      loraRank: pick('lora-rank', argv['lora-rank'], sizes.loraRank),
      loraAlpha: pick('lora-alpha', argv['lora-alpha'], sizes.loraAlpha),
    },
    timing: {
      warmup: pick('warmup', argv.warmup, timing.warmup),
      reps: pick('reps', argv.reps, timing.reps),
      maxSeconds: pick('max-seconds', argv['max-seconds'], timing.maxSeconds),
      roundReps: pick('round-reps', argv['round-reps'], timing.roundReps),
      matmulMaxSize: pick('matmul-max', argv['matmul-max'], timing.matmulMaxSize),
    },
    sweep: argv.sweep,
    compareTorch: argv['compare-torch'],
    python: argv.python,
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await runBench(options, log);
  const json = JSON.stringify(report, null, 2) + '\n';
  if (argv.out) writeFileAtomic(argv.out, json);
  process.stdout.write(argv.json ? json : formatReport(report) + '\n');
  if (report.results.length === 0) {
    log(`error: no backend could be measured (${report.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')})`);
    process.exitCode = 1;
  }
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
