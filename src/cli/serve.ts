// npm run serve -- --model M --port P: an OpenAI-compatible server over this project's in-process engine (README:
// Sampling on vLLM or SGLang), so `--engine openai` runs are tested here and one loaded model serves several runs.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type BackendChoice, type DeviceChoice, initBackend, preferredEmbedMode } from '../engine/index.js';
import { createEngineServer, listen } from '../engine/serve.js';
import { MODELS_DIR, fetchModel, readPeftAdapter, resolveModel, servedName } from '../model/index.js';
import { loadRunTokenizer, stopIds } from '../loop/prompts.js';
import { checkFlags, requirePositiveInteger } from '../flags.js';
import { backendOptions } from './options.js';

async function main(): Promise<void> {
  const argv = await backendOptions(
    yargs(hideBin(process.argv))
      .scriptName('npm run serve --')
      .usage('$0 --model M [--port P]\n\nServe a model over the OpenAI completions API (the subset vLLM offers that svgap uses).'),
  )
    .option('model', {
      type: 'string',
      default: 'tiny-arith',
      describe: 'what `npm run train --model` takes: a shipped model, a checkpoint directory, a hub id',
    })
    .option('name', { type: 'string', describe: 'the model name requests give (default: what a run with this --model asks for)' })
    .option('port', { type: 'number', default: 8000, describe: 'TCP port (0: any free port; the URL is printed)' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
    .option('seed', { type: 'number', default: 1, describe: "seed of a preset's random weights (tiny, small)" })
    .option('batch-size', { type: 'number', default: 64, describe: 'rows per forward pass' })
    .option('offline', { type: 'boolean', default: false, describe: 'never download --model' })
    .strict()
    .help()
    .parseAsync();
  checkFlags(argv as Record<string, unknown>, hideBin(process.argv), ['offline']);
  requirePositiveInteger('batch-size', argv['batch-size']);
  if (!(Number.isInteger(argv.port) && argv.port >= 0 && argv.port < 65536))
    throw new Error(`--port: must be an integer in [0, 65535] (got ${argv.port})`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  await initBackend({
    backend: argv.backend as BackendChoice,
    threads: argv.threads as number | undefined,
    device: argv.device as DeviceChoice,
  });
  const spec = (await fetchModel(argv.model, { modelsDir: MODELS_DIR, offline: argv.offline, log })) ?? argv.model;
  const tokenizer = await loadRunTokenizer(spec, 'gsm8k');
  const { model } = resolveModel(spec, { vocabSize: tokenizer.vocabSize, seed: argv.seed, embedMode: preferredEmbedMode() });
  const server = createEngineServer({
    model,
    modelName: argv.name ?? servedName(argv.model),
    padId: tokenizer.padId,
    stopIds: [tokenizer.eosId, ...stopIds(tokenizer)],
    batchSize: argv['batch-size'],
    readAdapter: (dir) => readPeftAdapter(dir, model.config).lora,
    encode: (text) => tokenizer.encode(text),
    decode: (ids) => tokenizer.decode(ids),
    log,
  });
  const url = await listen(server, argv.port, argv.host);
  process.stdout.write(`serving ${argv.name ?? servedName(argv.model)} at ${url}/v1\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
