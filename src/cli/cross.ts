// npm run cross -- [train options] --budget M --arms none,early,uniform,late [--seeds 3] [--out DIR]: cross-improvement (Sec. 5).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_ARMS, runCross } from '../loop/cross.js';
import { makeProgress } from './progress.js';
import { TRAIN_BOOLEANS, toTrainOptions, trainOptions } from './options.js';
import { checkFlags } from '../flags.js';

async function main(): Promise<void> {
  const argv = await trainOptions(
    yargs(hideBin(process.argv))
      .scriptName('npm run cross --')
      .usage(
        '$0 [train options] --budget M --arms none,early,uniform,late [--seeds 3] [--out DIR]\n\n' +
          'Run one self-improvement run per allocation of a budget of external verification, from the same model and seeds;\n' +
          "write DIR/<arm>[-seed<k>]/, DIR/summary.json, the arms table and the theory's prediction (Prop. 5.1).\n" +
          'Re-running the same command skips finished arms and resumes unfinished ones.',
      ),
  )
    .option('budget', { type: 'number', describe: "M: questions verified externally per run (default: 10 % of one round's pool)" })
    .option('arms', {
      type: 'string',
      array: true,
      default: [DEFAULT_ARMS.join(',')],
      describe: 'none, early, uniform, late, or NAME=SPEC with SPEC an allocation (R1:share,R2:share,...; one per item)',
    })
    .option('seeds', {
      type: 'number',
      default: 1,
      describe: 'runs per arm, with seeds --seed, --seed + 1, ... (directories DIR/<arm>-seed<k>)',
    })
    .option('jobs', {
      type: 'number',
      default: 1,
      describe: 'runs at once, each in its own process (with --threads 1, up to one per core)',
    })
    .option('out', { type: 'string', default: 'checkpoints/cross', describe: 'the cross directory DIR' })
    .option('resume', {
      type: 'boolean',
      default: false,
      describe: 'not needed: cross always skips finished arms and resumes unfinished ones',
    })
    .option('external-verifier', {
      type: 'string',
      default: 'oracle',
      describe: 'the stronger verifier: oracle (ground truth) or a checkpoint used as a frozen verifier',
    })
    .hide('external-budget')
    .hide('allocation')
    .strict()
    .help()
    .parseAsync();
  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), TRAIN_BOOLEANS, ['arms']);
  const ui = makeProgress();
  const { explicitFlags: _typed, ...train } = toTrainOptions(argv as Record<string, unknown>); // cross compares every option of an arm itself
  const result = await runCross(
    { ...train, budget: argv.budget, arms: argv.arms, seeds: argv.seeds, jobs: argv.jobs },
    { log: ui.log, progress: ui.progress },
  );
  ui.stop();
  ui.log(`summary: ${result.dir}/summary.json`);
  if (result.summary.failed.length > 0) process.exitCode = 1;
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
