// npm run train -- [options]: a self-improvement run (see README: CLI reference).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runTraining, type TrainOptions } from '../loop/run.js';
import type { VerifierKind } from '../loop/verify.js';
import { makeProgress } from './progress.js';
import { trainOptions } from './options.js';

export function toTrainOptions(argv: Record<string, unknown>): TrainOptions {
  return {
    model: argv.model as string, dataset: argv.dataset as string, dataDir: argv['data-dir'] as string | undefined,
    questionField: argv['question-field'] as string, answerField: argv['answer-field'] as string, skipBadLines: argv['skip-bad-lines'] as boolean,
    out: argv.out as string | undefined, resume: argv.resume as boolean, seed: argv.seed as number,
    backend: argv.backend as TrainOptions['backend'], threads: argv.threads as number | undefined, device: argv.device as TrainOptions['device'],
    rounds: argv.rounds as number, poolSize: argv['pool-size'] as number, freshPool: argv['fresh-pool'] as boolean, samples: argv.samples as number,
    temperature: argv.temperature as number, topP: argv['top-p'] as number, maxNewTokens: argv['max-new-tokens'] as number, sampleBatch: argv['sample-batch'] as number,
    verifier: argv.verifier as VerifierKind, sigma: argv.sigma as number, epochsPerRound: argv['epochs-per-round'] as number, lr: argv.lr as number,
    batchSize: argv['batch-size'] as number, fullFinetune: argv['full-finetune'] as boolean, loraRank: argv['lora-rank'] as number, loraAlpha: argv['lora-alpha'] as number,
    evalsPerEpoch: argv['evals-per-epoch'] as number, evalSize: argv['eval-size'] as number, testSize: argv['test-size'] as number,
    stopAtConvergence: argv['stop-at-convergence'] as number | undefined, report: argv.report as boolean,
    externalVerifier: argv['external-verifier'] as string | undefined, externalBudget: argv['external-budget'] as number | undefined, allocation: argv.allocation as string | undefined,
  };
}

async function main(): Promise<void> {
  const argv = await trainOptions(yargs(hideBin(process.argv)).scriptName('npm run train --').usage('$0 [options]\n\nRun LLM self-improvement rounds and log the solver–verifier gap.'))
    .strict().help().parseAsync();
  const ui = makeProgress();
  const result = await runTraining(toTrainOptions(argv as Record<string, unknown>), { log: ui.log, progress: ui.progress });
  ui.stop();
  const first = result.metrics[0]!;
  const last = result.metrics[result.metrics.length - 1]!;
  ui.log(`done: ${result.runDir} (backend ${result.backend.name}); test accuracy ${first.testAccuracy.toFixed(3)} → ${last.testAccuracy.toFixed(3)}, ` +
    `U_s ${first.solverUncertainty.toFixed(3)} → ${last.solverUncertainty.toFixed(3)}`);
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
