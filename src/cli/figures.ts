// npm run figures -- RUN_DIR... [--out DIR] [--format svg,png] [--first k] [--paper-fig4 PATH]
// Renders the paper's figures from runs (headless: vega → SVG, resvg → PNG) and writes an index.html report.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { figuresOf, writeFigures, type FigureFormat } from '../report/index.js';

export async function main(args: string[]): Promise<string> {
  const argv = yargs(args)
    .scriptName('npm run figures --')
    .usage(
      '$0 [INPUT...] [options]\n\nDraw Figures 2, 3, 4, cross-improvement and throughput as SVG/PNG plus index.html.\n' +
        'INPUT: a run directory (metrics.jsonl, run.json), an `npm run cross --out` directory (summary.json), or a trajectory file as `npm run fit` reads it.',
    )
    .command('$0 [inputs..]', false)
    .positional('inputs', { type: 'string', array: true, describe: 'run directories, cross directories or trajectory files' })
    .option('out', { type: 'string', describe: 'output directory (default: RUN_DIR/report for one run, else out/figures)' })
    .option('format', { type: 'string', default: 'svg,png', describe: 'comma-separated: svg, png (index.html always embeds SVG)' })
    .option('first', { type: 'number', describe: 'early prediction: fit the first k evaluation points and draw the forecast band' })
    .option('paper-fig4', {
      type: 'string',
      describe: "the paper's digitized Figure 4 CSV (../shared/datasets/paper-fig4/phi4_figure4_digitized.csv)",
    })
    .option('time-col', { type: 'string', describe: 'trajectory files: time column (default: t, epoch, round or step)' })
    .option('solver-col', { type: 'string', describe: 'trajectory files: solver uncertainty column' })
    .option('verifier-col', { type: 'string', describe: 'trajectory files: verifier uncertainty column' })
    .option('value-col', { type: 'string', describe: 'trajectory files, long format: value column' })
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseSync();

  const inputs = (argv.inputs ?? []).map(String);
  const formats = argv.format
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  for (const f of formats) if (f !== 'svg' && f !== 'png') throw new Error(`--format: unknown format '${f}' (use svg, png or svg,png)`);
  if (argv.first !== undefined && !(Number.isInteger(argv.first) && argv.first > 0))
    throw new Error(`--first must be a positive integer, got ${argv.first}`);
  if (inputs.length === 0 && !argv['paper-fig4'])
    throw new Error('give at least one run directory or trajectory file, or --paper-fig4 PATH (see --help)');

  const { figures, settings, title } = figuresOf({
    inputs,
    paperFig4: argv['paper-fig4'],
    first: argv.first,
    readOptions: {
      timeCol: argv['time-col'],
      solverCol: argv['solver-col'],
      verifierCol: argv['verifier-col'],
      valueCol: argv['value-col'],
    },
  });
  const oneDir = inputs.length === 1 && !argv['paper-fig4'] && statSync(inputs[0]).isDirectory();
  const out = argv.out ?? (oneDir ? join(inputs[0], 'report') : join('out', 'figures'));
  const index = await writeFigures(figures, out, { title, settings, formats: formats as FigureFormat[] });
  for (const f of figures) console.log(`${f.name}: ${f.title}`);
  console.log(`wrote ${figures.length} figures and ${index}`);
  return index;
}

main(hideBin(process.argv)).catch((error: unknown) => {
  console.error(`figures: ${(error as Error).message}`);
  process.exit(1);
});
