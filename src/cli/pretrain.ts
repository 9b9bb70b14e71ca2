// npm run pretrain -- [options]: pre-train a preset on labelled arith (solving + verification) and save a checkpoint.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import {
  initBackend,
  describeBackend,
  fallbackWarning,
  preferredEmbedMode,
  type BackendChoice,
  type DeviceChoice,
} from '../engine/index.js';
import { PRESET_NAMES, type PresetName, initModel, presetConfig } from '../model/index.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { loadLoopData } from '../loop/data.js';
import { pretrain } from '../loop/pretrain.js';
import { backendOptions } from './options.js';
import { makeProgress } from './progress.js';

async function main(): Promise<void> {
  const argv = await backendOptions(
    yargs(hideBin(process.argv))
      .scriptName('npm run pretrain --')
      .usage('$0 [options]\n\nPre-train a small model on labelled arith problems.'),
  )
    .option('preset', { choices: PRESET_NAMES, default: 'tiny' as const })
    .option('out', { type: 'string', default: 'models/tiny-arith' })
    .option('labelled', { type: 'number', default: 2000, describe: 'labelled arith problems' })
    .option('steps', { type: 'number', default: 700 })
    .option('batch-size', { type: 'number', default: 32 })
    .option('lr', { type: 'number', default: 2e-3 })
    .option('seed', { type: 'number', default: 1 })
    .option('verifier-share', { type: 'number', default: 0.5, describe: 'share of examples that teach True/False and rating judgements' })
    .option('max-steps', { type: 'number', default: 4, describe: 'arith: most steps per problem' })
    .option('test-size', { type: 'number', default: 200 })
    .strict()
    .help()
    .parseAsync();
  if (!(argv['verifier-share'] >= 0 && argv['verifier-share'] < 1)) throw new Error('--verifier-share: must be in [0, 1)');
  const backend = await initBackend({
    backend: argv.backend as BackendChoice,
    threads: argv.threads as number | undefined,
    device: argv.device as DeviceChoice,
  });
  const ui = makeProgress();
  ui.log(`backend: ${describeBackend(backend)}`);
  const slow = fallbackWarning(backend);
  if (slow) ui.log(slow);
  const tokenizer = await loadTokenizer();
  const model = initModel(presetConfig(argv.preset as PresetName, tokenizer.vocabSize), argv.seed, preferredEmbedMode());
  const test = loadLoopData({
    dataset: 'arith',
    poolSize: 1,
    freshPool: false,
    evalSize: 1,
    testSize: argv['test-size'],
    seed: argv.seed,
  }).test;
  const result = pretrain(
    model,
    tokenizer,
    {
      labelled: argv.labelled,
      steps: argv.steps,
      batchSize: argv['batch-size'],
      lr: argv.lr,
      seed: argv.seed,
      verifierShare: argv['verifier-share'],
      maxSteps: argv['max-steps'],
    },
    argv.out,
    test,
    { log: ui.log, progress: ui.progress, command: `npm run pretrain -- ${process.argv.slice(2).join(' ')}`.trim() },
  );
  ui.stop();
  ui.log(
    `saved ${argv.out}: ${result.parameters} parameters, ${result.steps} steps in ${result.seconds.toFixed(0)} s, loss ${result.finalLoss.toFixed(3)}, ` +
      `greedy accuracy train ${result.trainAccuracy.toFixed(3)} test ${result.testAccuracy.toFixed(3)} (backend ${backend.name})`,
  );
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
