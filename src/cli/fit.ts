// npm run fit -- FILE [--first k] [--law shared|separate|twoexp|power|all] [--json] [--out DIR]
// Fits the paper's shared-rate dynamics (and, on request, alternative laws) to uncertainty trajectories.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { writeFileAtomic } from '../io.js';
import { analyseTrajectory, formatAnalysis, LAW_NAMES, readTrajectoryFile, type LawName, type PanelAnalysis } from '../theory/index.js';

function main(): void {
  const argv = yargs(hideBin(process.argv))
    .scriptName('npm run fit --')
    .usage(
      '$0 FILE [options]\n\nFit the solver–verifier gap dynamics (Prop. 3.1) to uncertainty trajectories.\nFILE: metrics.jsonl of a run, a CSV/JSONL with time/solver/verifier columns, or the long format panel,series,epoch,value.',
    )
    .command('$0 <file>', false)
    .positional('file', { type: 'string', describe: 'trajectory file (.jsonl, .csv, .tsv)' })
    .option('first', { type: 'number', describe: 'early prediction: fit the first k points, forecast the rest' })
    .option('law', {
      choices: [...LAW_NAMES, 'all'],
      default: 'shared',
      describe: 'laws to fit (the shared-rate fit is always reported; others are compared by AIC/BIC)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of tables' })
    .option('out', { type: 'string', describe: 'also write fit.json and fit.txt into this directory' })
    .option('time-col', { type: 'string', describe: 'time column (default: t, epoch, round or step)' })
    .option('solver-col', { type: 'string', describe: 'solver uncertainty column (default solverUncertainty)' })
    .option('verifier-col', { type: 'string', describe: 'verifier uncertainty column (default verifierUncertainty)' })
    .option('gap-col', { type: 'string', describe: 'measured gap column (default gap, when present)' })
    .option('value-col', { type: 'string', describe: 'long format: value column (default value)' })
    .option('panel-col', { type: 'string', describe: 'panel column (default panel, when present)' })
    .option('series-col', { type: 'string', describe: 'long format: series column (default series)' })
    .option('panel', { type: 'string', array: true, describe: 'fit only these panels' })
    .option('bootstrap', { type: 'number', default: 0, describe: 'residual-bootstrap resamples for the intervals (0 = Jacobian/Wald)' })
    .option('seed', { type: 'number', default: 1, describe: 'bootstrap seed' })
    .option('epsilon', { type: 'number', describe: 'Cor. 3.2 tolerance on |G − G∞| (default 1% of |δ|)' })
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseSync();

  const file = argv.file as string;
  for (const [flag, value] of [
    ['--first', argv.first],
    ['--bootstrap', argv.bootstrap],
    ['--seed', argv.seed],
    ['--epsilon', argv.epsilon],
  ] as const) {
    if (value !== undefined && !Number.isFinite(value)) throw new Error(`${flag} must be a number`);
  }
  if (argv.first !== undefined && !(Number.isInteger(argv.first) && argv.first > 0))
    throw new Error(`--first must be a positive integer, got ${argv.first}`);
  if (!(Number.isInteger(argv.bootstrap) && argv.bootstrap >= 0))
    throw new Error(`--bootstrap must be a non-negative integer, got ${argv.bootstrap}`);
  if (argv.epsilon !== undefined && !(argv.epsilon > 0)) throw new Error(`--epsilon must be > 0, got ${argv.epsilon}`);

  const table = readTrajectoryFile(file, {
    timeCol: argv['time-col'],
    solverCol: argv['solver-col'],
    verifierCol: argv['verifier-col'],
    gapCol: argv['gap-col'],
    valueCol: argv['value-col'],
    panelCol: argv['panel-col'],
    seriesCol: argv['series-col'],
  });
  let names = Object.keys(table.panels);
  if (argv.panel) {
    for (const p of argv.panel)
      if (!names.includes(p)) throw new Error(`--panel ${p}: no such panel in ${file} (panels: ${names.join(', ')})`);
    names = argv.panel;
  }
  const laws: LawName[] = argv.law === 'all' ? LAW_NAMES : [argv.law as LawName];
  const panels: Record<string, PanelAnalysis> = {};
  for (const name of names) {
    try {
      panels[name] = analyseTrajectory(table.panels[name], {
        laws,
        first: argv.first,
        bootstrap: argv.bootstrap,
        seed: argv.seed,
        epsilon: argv.epsilon,
      });
    } catch (err) {
      throw new Error(`${file}: panel '${name}': ${(err as Error).message}`);
    }
  }
  const result = { file, format: table.format, timeCol: table.timeCol, panels };
  const json = JSON.stringify(result, null, 2);
  const text = names.map((name) => formatAnalysis(name, panels[name])).join('\n\n');
  process.stdout.write((argv.json ? json : text) + '\n');
  if (argv.out) {
    mkdirSync(argv.out, { recursive: true });
    writeFileAtomic(join(argv.out, 'fit.json'), json + '\n');
    writeFileAtomic(join(argv.out, 'fit.txt'), text + '\n');
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`fit: ${(err as Error).message}\n`);
  process.exit(1);
}
