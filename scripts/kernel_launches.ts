// Kernel launches per sampled / trained / scored token for bench models at the bench's sizes (src/bench/launches.ts).
//   npx tsx scripts/kernel_launches.ts [--backend torch] [--model tiny,phi4mini-shape] [--lora] [--ab 10]
// --ab N: also times each stage N times with fused kernels off and on, alternating (one process, same weights), and
// prints the fastest run and the median process CPU time of each: a before/after that load on a shared machine skews least.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type BenchBackend, BENCH_SIZES, kernelLaunchesPerToken, resolveBenchModel } from '../src/bench/index.js';
import { initBackend, preferredEmbedMode } from '../src/engine/index.js';
import {
  DEFAULT_OPTIMIZER,
  LORA_TARGETS,
  MODELS_DIR,
  Rng,
  addLora,
  disposeAdamW,
  disposeModel,
  initAdamW,
  initModel,
  sample,
  score,
  trainStep,
} from '../src/model/index.js';
import { type FusedMode, useFusedKernels } from '../src/model/fused.js';
import { median } from '../src/bench/stats.js';
import { loadTokenizer } from '../src/tokenizer/index.js';

const argv = await yargs(hideBin(process.argv))
  .option('backend', { type: 'string', default: 'torch' })
  .option('model', { type: 'string', default: 'tiny,phi4mini-shape' })
  .option('lora', { type: 'boolean', default: false, describe: 'count with LoRA adapters attached (training updates only them)' })
  .option('ab', { type: 'number', default: 0, describe: 'time each stage this many times with fused kernels off and on, alternating' })
  .strict()
  .parseAsync();
const info = await initBackend({ backend: argv.backend as BenchBackend, threads: 1 });
const tokenizer = await loadTokenizer();
const s = BENCH_SIZES;
for (const spec of argv.model.split(',')) {
  const model = initModel(resolveBenchModel(spec, tokenizer.vocabSize, MODELS_DIR).config, 1, preferredEmbedMode());
  if (argv.lora) addLora(model, { rank: s.loraRank, alpha: s.loraAlpha, targets: [...LORA_TARGETS] }, 1);
  const rng = new Rng(1);
  const rows = (n: number, len: number) =>
    Array.from({ length: n }, () => Array.from({ length: len }, () => 4 + Math.floor(rng.next() * (model.config.vocab_size - 4))));
  const T = s.promptLength + s.newTokens - 1;
  const train = rows(s.batch, T + 1);
  const optimizer = initAdamW(model.lora ? model.lora.params : model.params);
  const counts = await kernelLaunchesPerToken(
    model,
    {
      prompts: rows(s.sampleBatch, s.promptLength),
      responses: rows(s.sampleBatch, s.newTokens),
      newTokens: s.newTokens,
      padId: tokenizer.padId,
      trainBatch: {
        inputs: train.map((r) => r.slice(0, -1)),
        targets: train.map((r) => r.slice(1)),
        weights: train.map(() => Array<number>(T).fill(1)),
      },
    },
    optimizer,
    { ...DEFAULT_OPTIMIZER, lr: 1e-4, warmupSteps: 0 },
  );
  console.log(
    JSON.stringify({
      backend: info.name,
      device: info.device,
      model: spec,
      lora: argv.lora,
      kernelLaunchesPerToken: counts,
      perCall: {
        sample: counts.sample * s.sampleBatch * s.newTokens,
        train: counts.train * s.batch * T,
        score: counts.score * s.sampleBatch * (s.promptLength + s.newTokens),
      },
    }),
  );
  if (argv.ab > 0) {
    const work = { prompts: rows(s.sampleBatch, s.promptLength), responses: rows(s.sampleBatch, s.newTokens) };
    const trainBatch = {
      inputs: train.map((r) => r.slice(0, -1)),
      targets: train.map((r) => r.slice(1)),
      weights: train.map(() => Array<number>(T).fill(1)),
    };
    const stages: Record<string, [() => void, number]> = {
      sample: [
        () =>
          void sample(model, work.prompts, {
            temperature: 1,
            topP: 1,
            maxNewTokens: s.newTokens,
            eosId: -1,
            padId: tokenizer.padId,
            rng: new Rng(1),
          }),
        s.sampleBatch * s.newTokens,
      ],
      train: [() => void trainStep(model, optimizer, { ...DEFAULT_OPTIMIZER, lr: 1e-4, warmupSteps: 0 }, trainBatch), s.batch * T],
      score: [
        () => void score(model, work.prompts, work.responses, { padId: tokenizer.padId, batchSize: s.sampleBatch }),
        s.sampleBatch * (s.promptLength + s.newTokens),
      ],
    };
    for (const [stage, [fn, tokens]] of Object.entries(stages)) {
      const runs: Record<FusedMode, { wall: number[]; cpu: number[] }> = {
        off: { wall: [], cpu: [] },
        inference: { wall: [], cpu: [] },
        all: { wall: [], cpu: [] },
      };
      for (let i = 0; i <= argv.ab; i++) {
        for (const mode of ['off', 'inference'] as const) {
          useFusedKernels(mode);
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          fn();
          if (i === 0) continue; // warm-up
          runs[mode].wall.push((performance.now() - t0) / 1000);
          const c = process.cpuUsage(cpu0);
          runs[mode].cpu.push((c.user + c.system) / 1e6);
        }
      }
      useFusedKernels('inference');
      const row = (mode: FusedMode) => ({
        bestTokensPerSecond: Math.round(tokens / Math.min(...runs[mode].wall)),
        cpuTokensPerSecond: Math.round(tokens / median(runs[mode].cpu)),
      });
      console.log(JSON.stringify({ model: spec, lora: argv.lora, stage, runs: argv.ab, before: row('off'), fused: row('inference') }));
    }
  }
  disposeAdamW(optimizer);
  disposeModel(model);
}
