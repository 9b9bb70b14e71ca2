// npm run export -- RUN_DIR --out DIR: the run's final model, LoRA merged, as a Hugging Face checkpoint directory.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkFlags } from '../flags.js';
import { EXPORT_DTYPES, type ExportDtype, exportMerged } from '../model/export.js';
import { initBackend } from '../engine/index.js';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm run export --')
    .usage(
      '$0 RUN_DIR --out DIR\n\nWrite the final model of a run (base + LoRA merged) as a Hugging Face checkpoint: config.json, sharded safetensors, tokenizer files.',
    )
    .positional('run', { type: 'string', describe: 'a run directory (its checkpoint/) or a checkpoint directory' })
    .demandCommand(1, 1, 'give one RUN_DIR')
    .option('out', { type: 'string', demandOption: true, describe: 'the directory to write (must not exist or be empty)' })
    .option('dtype', { choices: EXPORT_DTYPES, describe: "weights dtype (default: the base checkpoint's; F32 for presets)" })
    .option('max-shard-size', { type: 'number', default: 5, describe: 'GB per safetensors shard' })
    .strict()
    .help()
    .parseAsync();
  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), []);
  if (!(argv['max-shard-size'] > 0)) throw new Error(`--max-shard-size: must be a positive number of GB (got ${argv['max-shard-size']})`);
  await initBackend({ backend: 'cpu' });
  exportMerged(String(argv._[0]), {
    out: argv.out,
    dtype: argv.dtype as ExportDtype | undefined,
    shardBytes: argv['max-shard-size'] * 1e9,
    log: (line) => process.stderr.write(`${line}\n`),
  });
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
