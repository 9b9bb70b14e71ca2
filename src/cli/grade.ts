// npm run grade -- --dataset gsm8k|math|PATH [--split test|train] --predictions preds.jsonl [--json]
// Grades free-text model outputs (this project's or any other system's) against the dataset's reference answers.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkFlags } from '../flags.js';
import { gradePredictions, loadGsm8k, loadJsonl, loadMath, readPredictions, type Problem } from '../data/index.js';

function loadDataset(
  dataset: string,
  split: string,
  args: { dataDir?: string; questionField: string; answerField: string; skipBadLines: boolean },
): Problem[] {
  if (dataset === 'gsm8k') {
    if (split !== 'train' && split !== 'test') throw new Error(`--split must be train or test, got ${split}`);
    return loadGsm8k({ split, dataDir: args.dataDir, skipBadLines: args.skipBadLines });
  }
  if (dataset === 'math') {
    if (split !== 'test') throw new Error('--dataset math has only the test split (5,000 problems)');
    return loadMath({ dataDir: args.dataDir, skipBadLines: args.skipBadLines });
  }
  return loadJsonl({ path: dataset, questionField: args.questionField, answerField: args.answerField, skipBadLines: args.skipBadLines });
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm run grade --')
    .usage(
      '$0 --dataset gsm8k|math|PATH --predictions preds.jsonl [options]\n\n' +
        'preds.jsonl lines: {"idx": <0-based line index in the dataset file>, "prediction": "<model output>"}.\n' +
        'The final answer is taken from "#### n", else the last \\boxed{}, else the last number.',
    )
    .option('dataset', { type: 'string', demandOption: true, describe: 'gsm8k, math, or a jsonl file' })
    .option('split', { type: 'string', default: 'test', describe: 'gsm8k: test or train; math: test' })
    .option('predictions', { type: 'string', demandOption: true, describe: 'jsonl of {idx, prediction}' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object with per-item results' })
    .option('data-dir', { type: 'string', describe: 'dataset root (default: SVGAP_DATA, else ../shared/datasets)' })
    .option('question-field', { type: 'string', default: 'question', describe: 'custom jsonl: question field' })
    .option('answer-field', { type: 'string', default: 'answer', describe: 'custom jsonl: answer field (final answer or worked solution)' })
    .option('skip-bad-lines', { type: 'boolean', default: false, describe: 'skip malformed jsonl lines (count reported on stderr)' })
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync();

  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), ['json', 'skip-bad-lines']);
  const problems = loadDataset(argv.dataset, argv.split, {
    dataDir: argv['data-dir'],
    questionField: argv['question-field'],
    answerField: argv['answer-field'],
    skipBadLines: argv['skip-bad-lines'],
  });
  const predictions = readPredictions(argv.predictions, argv['skip-bad-lines']);
  const report = gradePredictions(problems, predictions, argv.predictions);
  if (argv.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const name = argv.dataset === 'gsm8k' || argv.dataset === 'math' ? `${argv.dataset} ${argv.split}` : argv.dataset;
  console.log(`graded ${report.items.length} predictions against ${name} (${problems.length} problems)`);
  console.log(`accuracy     ${(100 * report.accuracy).toFixed(2)}% (${report.correct}/${report.items.length})`);
  console.log(`correct      ${report.correct}`);
  console.log(`wrong        ${report.wrong}`);
  console.log(`unparseable  ${report.unparseable}`);
}

main().catch((err: unknown) => {
  console.error(`grade: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
