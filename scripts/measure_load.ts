// Loads a Hugging Face checkpoint directory with loadHFModel and prints one JSON line: load seconds, peak RSS
// (process.resourceUsage().maxRSS), parameters and the float32 bytes they take, and a forward of a few tokens as proof
// the weights are usable. Checks the pre-flight weights estimate against the machine first.
//
//   npx tsx scripts/measure_load.ts CHECKPOINT_DIR [--backend cpu|torch|auto]
import { totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, initBackend } from '../src/engine/index.js';
import { loadHFModel, readModelConfig } from '../src/model/hf.js';
import { countParameters, disposeModel, forward, parameterShapes } from '../src/model/model.js';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { backend: { type: 'string', default: 'cpu' } } });
  if (positionals.length !== 1) throw new Error('usage: measure_load.ts CHECKPOINT_DIR [--backend cpu|torch|auto]');
  const dir = positionals[0];
  const backend = await initBackend({ backend: values.backend as BackendChoice });
  const config = readModelConfig(dir);
  const parameters = countParameters(parameterShapes(config));
  if (4 * parameters > totalmem())
    throw new Error(
      `${dir}: ${((4 * parameters) / 1e9).toFixed(1)} GB of float32 weights exceed this machine's ${(totalmem() / 1e9).toFixed(1)} GB`,
    );
  const rssBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  let lastReport = started;
  const model = loadHFModel(dir, {
    progress: (done, total, name) => {
      if (performance.now() - lastReport < 5000 && done < total) return;
      lastReport = performance.now();
      process.stderr.write(`loaded ${done}/${total} (${name})\n`);
    },
  });
  const loadSeconds = (performance.now() - started) / 1000;
  const maxRss = process.resourceUsage().maxRSS; // KiB
  const logits = tf.tidy(() => forward(model, tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32'), { lastOnly: true }).logits.dataSync());
  const finite = logits.every((v) => Number.isFinite(v));
  disposeModel(model);
  process.stdout.write(
    JSON.stringify({
      dir,
      backend: backend.name,
      parameters,
      float32GB: Number(((4 * parameters) / 1e9).toFixed(2)),
      loadSeconds: Number(loadSeconds.toFixed(1)),
      peakRssGB: Number(((maxRss * 1024) / 1e9).toFixed(2)),
      rssBeforeGB: Number(((rssBefore * 1024) / 1e9).toFixed(2)),
      forwardFinite: finite,
    }) + '\n',
  );
}

main().catch((error: Error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
