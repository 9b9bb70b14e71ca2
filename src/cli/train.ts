// npm run train -- [options]: a self-improvement run (see README: CLI reference).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runTraining } from '../loop/run.js';
import { makeProgress } from './progress.js';
import { TRAIN_BOOLEANS, toTrainOptions, trainOptions } from './options.js';
import { checkFlags } from '../flags.js';

async function main(): Promise<void> {
  const argv = await trainOptions(
    yargs(hideBin(process.argv))
      .scriptName('npm run train --')
      .usage('$0 [options]\n\nRun LLM self-improvement rounds and log the solver–verifier gap.'),
  )
    .strict()
    .help()
    .parseAsync();
  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), TRAIN_BOOLEANS);
  const ui = makeProgress();
  const result = await runTraining(toTrainOptions(argv as Record<string, unknown>), { log: ui.log, progress: ui.progress });
  ui.stop();
  const first = result.metrics[0];
  const last = result.metrics[result.metrics.length - 1];
  ui.log(
    `done: ${result.runDir} (backend ${result.backend.name}); test accuracy ${first.testAccuracy.toFixed(3)} → ${last.testAccuracy.toFixed(3)}, ` +
      `U_s ${first.solverUncertainty.toFixed(3)} → ${last.solverUncertainty.toFixed(3)}`,
  );
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
