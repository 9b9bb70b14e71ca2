// Kernel launches per sampled / trained / scored token for bench models at the bench's sizes (src/bench/launches.ts).
//   npx tsx scripts/kernel_launches.ts [--backend torch] [--model tiny,phi4mini-shape] [--lora]
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type BenchBackend, BENCH_SIZES, kernelLaunchesPerToken, resolveBenchModel } from '../src/bench/index.js';
import { initBackend, preferredEmbedMode } from '../src/engine/index.js';
import { DEFAULT_OPTIMIZER, LORA_TARGETS, MODELS_DIR, Rng, addLora, disposeAdamW, disposeModel, initAdamW, initModel } from '../src/model/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';

const argv = await yargs(hideBin(process.argv))
  .option('backend', { type: 'string', default: 'torch' })
  .option('model', { type: 'string', default: 'tiny,phi4mini-shape' })
  .option('lora', { type: 'boolean', default: false, describe: 'count with LoRA adapters attached (training updates only them)' })
  .strict().parseAsync();
const info = await initBackend({ backend: argv.backend as BenchBackend, threads: 1 });
const tokenizer = await loadTokenizer();
const s = BENCH_SIZES;
for (const spec of argv.model.split(',')) {
  const model = initModel(resolveBenchModel(spec, tokenizer.vocabSize, MODELS_DIR).config, 1, preferredEmbedMode());
  if (argv.lora) addLora(model, { rank: s.loraRank, alpha: s.loraAlpha, targets: [...LORA_TARGETS] }, 1);
  const rng = new Rng(1);
  const rows = (n: number, len: number) => Array.from({ length: n }, () => Array.from({ length: len }, () => 4 + Math.floor(rng.next() * (model.config.vocab_size - 4))));
  const T = s.promptLength + s.newTokens - 1;
  const train = rows(s.batch, T + 1);
  const optimizer = initAdamW(model.lora ? model.lora.params : model.params);
  const counts = await kernelLaunchesPerToken(model, {
    prompts: rows(s.sampleBatch, s.promptLength), responses: rows(s.sampleBatch, s.newTokens), newTokens: s.newTokens, padId: tokenizer.padId,
    trainBatch: { inputs: train.map((r) => r.slice(0, -1)), targets: train.map((r) => r.slice(1)), weights: train.map(() => Array<number>(T).fill(1)) },
  }, optimizer, { ...DEFAULT_OPTIMIZER, lr: 1e-4, warmupSteps: 0 });
  disposeAdamW(optimizer);
  disposeModel(model);
  console.log(JSON.stringify({ backend: info.name, device: info.device, model: spec, lora: argv.lora, kernelLaunchesPerToken: counts,
    perCall: { sample: counts.sample * s.sampleBatch * s.newTokens, train: counts.train * s.batch * T, score: counts.score * s.sampleBatch * (s.promptLength + s.newTokens) } }));
}
