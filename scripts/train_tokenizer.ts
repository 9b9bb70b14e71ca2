// Trains the shipped tokenizer models/tokenizer/svgap.{model,vocab} with Debian's spm_train
// (apt-get install -y sentencepiece; made with 0.1.97) on arith problems + GSM8K train questions/answers.
//   npx tsx scripts/train_tokenizer.ts [--data-dir DIR] [--vocab-size 1000] [--out models/tokenizer/svgap]
// Choices: byte_fallback (any UTF-8, e.g. MATH LaTeX, round-trips), identity normalisation, no dummy prefix and no
// whitespace squeezing (so encode/decode is lossless and encode(a + b) = encode(a) ++ encode(b) at space
// boundaries), and user-defined pieces for "\n" (spm_train reads one sentence per line, and the default
// normaliser would turn "\n" into a space), the GSM8K answer marker "####", the digits 0-9 (numbers are
// always digit sequences, never "▁7") and the verifier labels "True" / "False".
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ARITH_LEVELS, generateArith, loadGsm8k } from '../src/data/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Fixed piece ids 0..18 (pad, unk, bos, eos, <sep>, user symbols); bytes follow, then learned pieces. */
export const SPM_OPTIONS = [
  '--model_type=unigram',
  '--byte_fallback=true',
  '--split_digits=true',
  '--normalization_rule_name=identity',
  '--remove_extra_whitespaces=false',
  '--add_dummy_prefix=false',
  '--character_coverage=0.9999',
  '--pad_id=0',
  '--unk_id=1',
  '--bos_id=2',
  '--eos_id=3',
  '--control_symbols=<sep>',
  `--user_defined_symbols=${['\n', '####', 'True', 'False', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].join(',')}`,
  '--num_threads=1', // single-threaded EM so the result does not depend on thread scheduling
];

/** The training text, one sentence per line (newlines inside solutions become line breaks). */
export function tokenizerCorpus(dataDir: string | undefined, arithPerLevel: number, seed: number): string[] {
  const lines: string[] = [];
  const addText = (text: string) => {
    for (const line of text.split('\n')) if (line.trim() !== '') lines.push(line);
  };
  Object.values(ARITH_LEVELS).forEach((level, i) => {
    for (const p of generateArith({ count: arithPerLevel, seed: seed + i, ...level })) {
      addText(p.question);
      addText(p.solution);
    }
  });
  for (const p of loadGsm8k({ split: 'train', dataDir })) {
    addText(p.question);
    addText(p.solution);
  }
  // The verifier templates of the loop, so their words become whole pieces.
  for (let i = 0; i < 200; i++) {
    lines.push(`Is the answer correct? ${i % 2 === 0 ? 'True' : 'False'}`);
    lines.push(`Rating (1-5): ${1 + (i % 5)}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const args = await yargs(hideBin(process.argv))
    .option('data-dir', { type: 'string', describe: 'dataset root with gsm8k/train.jsonl (default: SVGAP_DATA or ../shared/datasets)' })
    .option('vocab-size', { type: 'number', default: 1000 })
    .option('arith-per-level', { type: 'number', default: 2500, describe: 'arith problems per difficulty level' })
    .option('seed', { type: 'number', default: 1 })
    .option('out', { type: 'string', default: join(ROOT, 'models', 'tokenizer', 'svgap'), describe: 'output prefix' })
    .strict()
    .parseAsync();

  const work = mkdtempSync(join(tmpdir(), 'svgap-spm-'));
  try {
    const corpus = join(work, 'corpus.txt');
    const lines = tokenizerCorpus(args['data-dir'], args['arith-per-level'], args.seed);
    writeFileSync(corpus, `${lines.join('\n')}\n`);
    console.log(`corpus: ${lines.length} lines`);
    const prefix = join(work, 'svgap');
    try {
      // Relative paths (cwd = work dir): the model stores them in its trainer spec, so the bytes stay reproducible.
      execFileSync(
        'spm_train',
        [
          '--input=corpus.txt',
          '--model_prefix=svgap',
          `--vocab_size=${args['vocab-size']}`,
          `--random_seed=${args.seed}`,
          '--minloglevel=1',
          ...SPM_OPTIONS,
        ],
        { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error('spm_train not found: apt-get install -y sentencepiece');
      throw err;
    }
    const out = resolve(args.out);
    mkdirSync(dirname(out), { recursive: true });
    for (const ext of ['model', 'vocab']) renameOrCopy(`${prefix}.${ext}`, `${out}.${ext}`);
    console.log(`wrote ${out}.model and ${out}.vocab`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Atomic write: copy next to the target, then rename (tmpdir may be another filesystem). */
function renameOrCopy(from: string, to: string): void {
  const tmp = `${to}.tmp`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
