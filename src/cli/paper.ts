// npm run paper -- status RUN_DIR --rounds N | figures RUNS_DIR --paper-fig4 CSV [--panels a,b] [--out DIR]
// The two steps of scripts/reproduce_paper.sh that are not `train`: what to do with a panel's run, and the comparison.
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PAPER_PANELS, runStatus, writePaperComparison, type FigureFormat } from '../report/index.js';

async function main(args: string[]): Promise<void> {
  await yargs(args)
    .scriptName('npm run paper --')
    .usage("$0 <command>\n\nThe paper's Figure 4 reproduced (see scripts/reproduce_paper.sh).")
    .command(
      'status <run>',
      'print new, resume or done: what a re-invocation does with this run directory',
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, describe: "a panel's run directory" })
          .option('rounds', { type: 'number', demandOption: true, describe: 'rounds the run must have finished to be done' }),
      (argv) => {
        if (!(Number.isInteger(argv.rounds) && argv.rounds > 0)) throw new Error(`--rounds must be a positive integer, got ${argv.rounds}`);
        console.log(runStatus(argv.run, argv.rounds));
      },
    )
    .command(
      'figures <runs>',
      "one figure per panel (the run beside the paper's digitised points, both fitted) and the table of fits",
      (y) =>
        y
          .positional('runs', {
            type: 'string',
            demandOption: true,
            describe: 'directory with one run directory per panel (gsm8k_tf, gsm8k_qe, math_tf, math_qe)',
          })
          .option('paper-fig4', {
            type: 'string',
            demandOption: true,
            describe: "the paper's digitised Figure 4 CSV (DATA_DIR/paper-fig4/phi4_figure4_digitized.csv)",
          })
          .option('panels', { type: 'string', default: PAPER_PANELS.join(','), describe: 'comma-separated panels' })
          .option('out', { type: 'string', describe: 'output directory (default RUNS/figures)' })
          .option('format', { type: 'string', default: 'svg,png', describe: 'comma-separated: svg, png' }),
      async (argv) => {
        const formats = argv.format
          .split(',')
          .map((f) => f.trim())
          .filter(Boolean);
        for (const f of formats)
          if (f !== 'svg' && f !== 'png') throw new Error(`--format: unknown format '${f}' (use svg, png or svg,png)`);
        const panels = argv.panels
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
        if (panels.length === 0) throw new Error('--panels: no panel given');
        const result = await writePaperComparison({
          runsDir: argv.runs,
          paperFig4: argv['paper-fig4'],
          panels,
          out: argv.out ?? join(argv.runs, 'figures'),
          formats: formats as FigureFormat[],
        });
        console.log(`wrote ${result.rows.length} panel figures, ${result.index}, ${result.markdown} and ${result.json}`);
      },
    )
    .demandCommand(1, 'give a command: status or figures (see --help)')
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  console.error(`paper: ${(error as Error).message}`);
  process.exit(1);
});
