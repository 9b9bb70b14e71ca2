// A self-improvement run (the paper's procedure), llm.c-shaped: open the run (backend, data, model, run directory),
// call runRound once per round, finish (fit, final test, report). A killed run resumes from its directory with
// identical results.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { type ModelEngine, localEngine, publishAdapter } from '../engine/model-engine.js';
import { openaiEngine } from '../engine/blocking.js';
import { OPENAI_DEFAULTS } from '../engine/openai.js';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../root.js';
import { type BackendInfo, fallbackWarning, initBackend, packageVersion, preferredEmbedMode } from '../engine/index.js';
import {
  type AdamWState,
  type LoadedCheckpoint,
  type Model,
  type OptimizerConfig,
  DEFAULT_OPTIMIZER,
  LORA_TARGETS,
  MODELS_DIR,
  Rng,
  addLora,
  baseModelName,
  countParameters,
  disposeAdamW,
  disposeModel,
  fetchModel,
  initAdamW,
  loadCheckpoint,
  memoryBudget,
  modelConfigOf,
  parameterShapes,
  preflightMemory,
  servedName,
  readPeftAdapter,
  resolveModel,
  runMemoryPlan,
  saveCheckpoint,
  trainableParams,
  writePeftAdapter,
} from '../model/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { type SharedRateFit, fitSharedRate, formatFitFlags } from '../theory/index.js';
import { forecastFrom } from '../theory/forecast.js';
import { appendJsonlAtomic, lockDir, readJsonFile, recoverDirAtomic, writeFileAtomic } from '../io.js';
import { type FinalTest, type MetricsRecord, type RunInfo, readFinalTest, readMetrics } from '../formats.js';
import { loadLoopData, type LoopData } from './data.js';
import { loadRunTokenizer, promptTemplates } from './prompts.js';
import { type Progress, type StageTimes, greedyCorrect, timed, zeroTimes } from './sampling.js';
import { evaluate } from './evaluate.js';
import { type EvalPoint, type Round, type RoundContext, runRound } from './round.js';
import { type OwnedVerifier, externalVerifier, selfVerifier } from './verifiers.js';
import { type QuestionSelection, budgetPerRound, parseAllocation, questionSelection } from './external.js';
import { type TrainOptions, runOptions, validateTrainOptions } from './options.js';

export interface RunResult {
  runDir: string;
  metrics: MetricsRecord[];
  finalTest?: FinalTest;
  fit?: SharedRateFit;
  backend: BackendInfo;
  stoppedEarly: boolean;
}

export interface RunHooks {
  log?: (line: string) => void;
  progress?: Progress;
  signal?: AbortSignal; // aborting stops the run between steps (tests use it to simulate a kill)
}

/** What the checkpoint carries besides weights and optimizer: where the run is (resume continues from here). */
interface RunState {
  round: number; // rounds completed
  metricsLines: number;
  externalUsed: number;
  externalAsked?: number[]; // fixed pool: questions verified externally so far (absent in checkpoints before --external-select)
}

/** An open run: everything runRound and the metrics need, and what finishing writes. */
interface OpenRun {
  runDir: string;
  options: TrainOptions;
  log: (line: string) => void;
  backend: BackendInfo;
  data: LoopData;
  ctx: RoundContext;
  state: RunState;
  metrics: MetricsRecord[];
  runInfo: RunInfo;
  evalOptions: Parameters<typeof evaluate>[3];
  external?: { verifier: OwnedVerifier; select: QuestionSelection; perRound: number[] };
}

function versions(): Record<string, string> {
  return {
    svgap: (readJsonFile(join(PACKAGE_ROOT, 'package.json')) as { version: string }).version,
    node: process.version,
    tfjs: packageVersion('@tensorflow/tfjs-core'),
  };
}

/** checkpoints/run-<time to the millisecond>-<random>: two runs started at once get different directories. */
export function defaultRunName(): string {
  return `run-${new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 23)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** One self-improvement run in --out (created, or resumed with --resume); the directory is locked while it runs. */
export async function runTraining(given: TrainOptions, hooks: RunHooks = {}): Promise<RunResult> {
  validateTrainOptions(given); // everything that can be checked before the run directory exists
  const runDir = resolve(given.runtime.out ?? join('checkpoints', defaultRunName()));
  const options = runOptions(given, runDir, hooks.log ?? (() => {}));
  validateTrainOptions(options);
  const existed = existsSync(runDir);
  const release = lockDir(runDir, '--out');
  const disposers: (() => void)[] = [];
  try {
    const restored = recoverDirAtomic(join(runDir, 'checkpoint'));
    if (restored) hooks.log?.(`recovered ${join(runDir, 'checkpoint')} from ${restored}: a kill interrupted its last save`);
    const run = await openRun(runDir, options, hooks, disposers);
    const stoppedEarly = trainRounds(run);
    return await finishRun(run, stoppedEarly);
  } finally {
    for (const dispose of disposers) dispose();
    release();
    try {
      if (!existed && readdirSync(runDir).length === 0) rmSync(runDir, { recursive: true }); // a run that failed before writing anything leaves no directory it made
    } catch {
      // the run's own error (if any) is the one to report
    }
  }
}

/** The backend, data and tokenizer; the model, optimizer and state (from the run's checkpoint when resuming); run.json. */
async function openRun(runDir: string, options: TrainOptions, hooks: RunHooks, disposers: (() => void)[]): Promise<OpenRun> {
  const log = hooks.log ?? (() => {});
  const { backend: backendChoice, threads, device } = options.runtime;
  const backend = await initBackend({ backend: backendChoice, threads, device, precision: options.precision });
  log(
    `backend: ${backend.name} ${backend.version} (${backend.device}, ${backend.threads} threads${backend.precision ? `, ${backend.precision}` : ''})`,
  );
  const slow = fallbackWarning(backend);
  if (slow) log(slow);
  // a hub id becomes its directory in the HF cache (downloaded unless --offline) before its tokenizer is read
  const modelSpec =
    (await fetchModel(options.model, { modelsDir: MODELS_DIR, offline: options.runtime.offline, progress: hooks.progress, log })) ??
    options.model;
  const tokenizer = await loadRunTokenizer(modelSpec, options.data.dataset);
  const data = loadLoopData({ ...options.data, seed: options.seed });
  for (const note of data.notes) log(`note: ${note}`);
  const { loaded, state } = loadModelState(runDir, options, { tokenizer, modelSpec, device: backend.device }, log);
  const model = loaded.model;
  const optimizerConfig: OptimizerConfig = {
    ...DEFAULT_OPTIMIZER,
    lr: options.sft.lr,
    minLr: options.sft.lr,
    warmupSteps: 10,
    totalSteps: 1,
    weightDecay: 0,
  };
  const optimizer: AdamWState = loaded.training?.optimizer ?? initAdamW(trainableParams(model));
  mkdirSync(join(runDir, 'samples'), { recursive: true });
  const metrics = (readMetrics(runDir, true) as MetricsRecord[]).slice(0, state.metricsLines); // as this run wrote them
  writeFileAtomic(join(runDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join('')); // drop lines of a round that did not finish
  const runInfo = writeRunInfo(runDir, options, { backend, model, tokenizer, data });
  const engine = openEngine(options, model, tokenizer, log);
  disposers.push(() => engine.close());
  const ctx = roundContext(runDir, options, hooks, {
    model,
    engine,
    tokenizer,
    optimizer,
    optimizerConfig,
    rng: new Rng(loaded.training?.rng ?? options.seed),
  });
  const { sampling, verifier } = ctx;
  const evalOptions = {
    ...sampling,
    verifier,
    sigma: options.verify.sigma,
    seed: options.seed + 7919,
    testSamples: options.eval.testSamples,
  };
  const external = openExternal(options, tokenizer);
  if (external) disposers.push(external.verifier.dispose); // a checkpoint verifier's weights, also when the run fails
  return { runDir, options, log, backend, data, ctx, state, metrics, runInfo, evalOptions, external };
}

/** What every round of the run shares: the model, its engine, optimizer and generator, and the round's settings. */
function roundContext(
  runDir: string,
  options: TrainOptions,
  hooks: RunHooks,
  parts: Pick<RoundContext, 'model' | 'engine' | 'tokenizer' | 'optimizer' | 'optimizerConfig' | 'rng'>,
): RoundContext {
  const { model, engine, tokenizer } = parts;
  const publish = () => publishAdapter(engine, model, adapterDir(runDir, options), baseModelName(options.model, MODELS_DIR));
  return {
    ...parts,
    publish: engine.remote ? publish : undefined,
    sampling: { ...options.sampling, logitChunk: options.sft.logitChunk },
    verifier: selfVerifier(options.verify.verifier, { model, engine }, tokenizer),
    sigma: options.verify.sigma,
    sft: {
      epochsPerRound: options.sft.epochsPerRound,
      evalsPerEpoch: options.eval.evalsPerEpoch,
      batchSize: options.sft.batchSize,
      step: { microBatch: options.sft.microBatch, logitChunk: options.sft.logitChunk, recompute: options.sft.recompute },
    },
    samplesDir: join(runDir, 'samples'),
    progress: hooks.progress,
    signal: hooks.signal,
  };
}

/** The model and the run's state: from the run's checkpoint when resuming, else --model with fresh LoRA adapters. */
function loadModelState(
  runDir: string,
  options: TrainOptions,
  model: { tokenizer: Tokenizer; modelSpec: string; device: string },
  log: (line: string) => void,
): { loaded: LoadedCheckpoint; state: RunState } {
  const checkpointDir = join(runDir, 'checkpoint');
  const resuming = options.runtime.resume === true && existsSync(join(checkpointDir, 'config.json'));
  if (options.runtime.resume && !resuming && readMetrics(runDir, true).some((m) => m.round >= 1)) {
    throw new Error(
      `--resume: ${checkpointDir} is missing but ${join(runDir, 'metrics.jsonl')} records completed rounds; ` +
        'starting again from t=0 would overwrite them (restore the checkpoint, or start a new run with another --out)',
    );
  }
  if (resuming) {
    const loaded = loadCheckpoint(checkpointDir, preferredEmbedMode());
    const state = loaded.training!.extra as unknown as RunState;
    log(`resuming ${runDir} after round ${state.round}`);
    return { loaded, state };
  }
  const { tokenizer, modelSpec, device } = model;
  const config = modelConfigOf(modelSpec, tokenizer.vocabSize);
  const budget = options.runtime.memoryBudget !== undefined || device === 'cpu' ? memoryBudget(options.runtime.memoryBudget) : undefined; // a GPU's memory is not visible from here
  if (config)
    preflightMemory(config, runMemoryPlan(config, { ...options.sft, ...options.sampling }), budget, `--model ${options.model}`, log); // before any weight is read
  const loaded = resolveModel(modelSpec, { vocabSize: tokenizer.vocabSize, seed: options.seed, embedMode: preferredEmbedMode() });
  if (options.sft.adapter)
    loaded.model.lora = readPeftAdapter(options.sft.adapter, loaded.model.config).lora; // rank and alpha as the adapter says
  else if (!options.sft.fullFinetune)
    addLora(loaded.model, { rank: options.sft.loraRank, alpha: options.sft.loraAlpha, targets: [...LORA_TARGETS] }, options.seed);
  return { loaded, state: { round: 0, metricsLines: 0, externalUsed: 0 } };
}

/** run.json at the start: the command (resumes appended), options, backend, versions, model, data and verifier. */
function writeRunInfo(
  runDir: string,
  options: TrainOptions,
  with_: { backend: BackendInfo; model: Model; tokenizer: Tokenizer; data: LoopData },
): RunInfo {
  const { backend, model, tokenizer, data } = with_;
  const command = `svgap train ${process.argv.slice(2).join(' ')}`.trim();
  const savedInfo =
    options.runtime.resume && existsSync(join(runDir, 'run.json'))
      ? (readJsonFile(join(runDir, 'run.json'), '--resume') as { command?: string; resumedBy?: { command: string; at: string }[] })
      : undefined;
  const runInfo: RunInfo = {
    command: savedInfo?.command ?? command, // the command that started the run; resumes are listed in resumedBy
    ...(savedInfo ? { resumedBy: [...(savedInfo.resumedBy ?? []), { command, at: new Date().toISOString() }] } : {}),
    // which flags were typed belongs to one command, not to the run; a secret never reaches the disk
    options: {
      ...options,
      runtime: { ...options.runtime, apiKey: options.runtime.apiKey === undefined ? undefined : '<redacted>' },
      explicitFlags: undefined,
    },
    seed: options.seed,
    backend: { name: backend.name, version: backend.version, threads: backend.threads, device: backend.device, package: backend.package },
    versions: versions(),
    model: {
      spec: options.model,
      config: model.config,
      parameters: countParameters(parameterShapes(model.config)),
      trainableParameters: Object.values(trainableParams(model)).reduce((s, v) => s + v.size, 0),
      lora: model.lora?.config ?? null,
    },
    tokenizer: tokenizer.modelPath,
    dataset: {
      name: options.data.dataset,
      poolSize: options.data.poolSize,
      evalSize: data.eval.length,
      testSize: data.test.length,
      freshPool: options.data.freshPool,
    },
    verifier: { kind: options.verify.verifier, sigma: options.verify.sigma, templates: promptTemplates(tokenizer).verifier },
    prompts: promptTemplates(tokenizer),
    external: options.external.verifier
      ? {
          verifier: options.external.verifier,
          budget: options.external.budget ?? 0,
          allocation: options.external.allocation ?? 'uniform',
          select: options.external.select ?? 'random',
        }
      : null,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(join(runDir, 'run.json'), JSON.stringify(runInfo, null, 2) + '\n');
  return runInfo;
}

/** Cross-improvement: the external verifier, the question selection and the questions per round (none without --external-verifier). */
function openExternal(options: TrainOptions, tokenizer: Tokenizer): OpenRun['external'] {
  const { external } = options;
  if (!external.verifier) return undefined;
  return {
    verifier: externalVerifier(external.verifier, options.verify.verifier, tokenizer),
    select: questionSelection(external.select ?? 'random', options.seed, options.data.freshPool),
    perRound: budgetPerRound(parseAllocation(external.allocation ?? 'uniform', options.rounds), external.budget ?? 0),
  };
}

/** Round `index` of the run: its pool and the external verification it may use (η_t·M questions, none asked before). */
function roundOf(run: OpenRun, index: number): Round {
  const pool = run.data.pool(index);
  if (!run.external) return { index, pool };
  const askedBefore = new Set(run.options.data.freshPool ? [] : (run.state.externalAsked ?? []));
  const state = { count: run.external.perRound[index] ?? 0, usedSoFar: run.state.externalUsed, askedBefore };
  return { index, pool, external: { verifier: run.external.verifier, select: run.external.select, state } };
}

/** The t = 0 evaluation (a new run), then the rounds; true when --stop-at-convergence ended them early. */
function trainRounds(run: OpenRun): boolean {
  const { options, state } = run;
  if (run.metrics.length === 0) {
    const times = zeroTimes();
    const evaluation = evaluateNow(run, times);
    record(run, {
      t: 0,
      round: 0,
      ...evaluation,
      fallbacks: 0,
      externalQueries: 0,
      timing: { ...times, round: times.eval },
      tokensPerSecond: { sample: 0, score: 0, train: 0 },
    });
    state.metricsLines = run.metrics.length;
  }
  for (let index = state.round; index < options.rounds; index++) {
    const outcome = runRound(run.ctx, roundOf(run, index), (point) => recordEvalPoint(run, index, point));
    state.externalUsed += outcome.external.length;
    if (!options.data.freshPool)
      state.externalAsked = [...new Set([...(state.externalAsked ?? []), ...outcome.external])].sort((a, b) => a - b);
    state.round = index + 1;
    state.metricsLines = run.metrics.length;
    const { model, optimizer, optimizerConfig, rng, tokenizer } = run.ctx;
    const base = baseModelName(options.model, MODELS_DIR);
    saveCheckpoint(join(run.runDir, 'checkpoint'), model, {
      training: { optimizer, optimizerConfig, rng: rng.state(), extra: { ...state } },
      info: { tokenizer: { path: tokenizer.modelPath } },
      base,
    });
    if (model.lora) writePeftAdapter(join(run.runDir, 'adapters', `round-${index + 1}`), model, base); // each round's adapter, loadable by PEFT
    const forecast = run.metrics[run.metrics.length - 1].forecast;
    const stopAt = options.eval.stopAtConvergence;
    if (stopAt !== undefined && forecast && 'remainingSolverImprovement' in forecast && forecast.remainingSolverImprovement < stopAt) {
      run.log(
        `stopping after round ${index + 1}: the forecast remaining U_s improvement ${forecast.remainingSolverImprovement.toFixed(4)} < --stop-at-convergence ${stopAt}`,
      );
      return true;
    }
  }
  return false;
}

function evaluateNow(run: OpenRun, times: StageTimes) {
  run.ctx.publish?.();
  return timed(times, 'eval', () => evaluate(run.ctx, run.data.eval, run.data.test, run.evalOptions));
}

/** The engine of --engine: this process's model, or the OpenAI-compatible servers of --endpoint. */
function openEngine(options: TrainOptions, model: Model, tokenizer: Tokenizer, log: (line: string) => void): ModelEngine {
  const { engine, endpoint, apiKey } = options.runtime;
  if (engine !== 'openai') return localEngine(model, { padId: tokenizer.padId, batchSize: options.sampling.sampleBatch });
  const endpoints = endpoint!
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
  log(`engine: OpenAI-compatible servers ${endpoints.join(', ')} (sampling, scoring and verifying; training stays here)`);
  return openaiEngine(
    { ...OPENAI_DEFAULTS, endpoints, model: servedName(options.model), apiKey: apiKey ?? process.env.OPENAI_API_KEY },
    log,
  );
}

/** Where adapters are written for the servers to read: --adapter-dir, else the run's own adapters/published. */
function adapterDir(runDir: string, options: TrainOptions): string {
  return resolve(options.runtime.adapterDir ?? join(runDir, 'adapters', 'published'));
}

/** An evaluation point inside round `index`: evaluate, and record it with the round's pool metrics, loss, times and throughput. */
function recordEvalPoint(run: OpenRun, index: number, point: EvalPoint): void {
  const evaluation = evaluateNow(run, point.times);
  const epochs = run.options.sft.epochsPerRound;
  const perSecond = (count: number, seconds: number) => (seconds > 0 ? count / seconds : 0);
  const { times, tokens } = point;
  record(run, {
    t: index * epochs + point.fraction * epochs,
    round: index + point.fraction,
    ...evaluation,
    ...point.pool,
    trainLoss: point.trainLoss,
    timing: { ...times, round: (performance.now() - point.startedAt) / 1000 },
    tokensPerSecond: {
      sample: perSecond(tokens.sample, times.sample),
      score: perSecond(tokens.score, times.score),
      train: perSecond(tokens.train, times.train),
    },
  });
}

/** Appends a metrics line (with the theory's forecast from the 4th point on); a NaN/Inf metric stops the run. */
function record(run: OpenRun, point: Omit<MetricsRecord, 'forecast'>): void {
  for (const [key, value] of Object.entries(point)) {
    if (typeof value === 'number' && !Number.isFinite(value) && key !== 'testAccuracy') {
      throw new Error(
        `metrics at t=${point.t}: ${key} is ${value} (NaN/Inf): stopping; ` +
          (run.state.round > 0
            ? `the last completed round (${run.state.round}) is saved in ${join(run.runDir, 'checkpoint')}`
            : 'no round completed, so nothing is saved; the same command starts the run again'),
      );
    }
  }
  const line: MetricsRecord = { ...point };
  run.metrics.push(line);
  if (run.metrics.length >= 4) line.forecast = forecastFrom(run.metrics);
  appendJsonlAtomic(join(run.runDir, 'metrics.jsonl'), line);
  run.log(
    `t=${line.t.toFixed(2)} U_s=${line.solverUncertainty.toFixed(3)} U_v=${line.verifierUncertainty.toFixed(3)} G=${line.gap.toFixed(3)} ` +
      `acc solver=${line.solverAccuracy.toFixed(3)} verifier=${line.verifierAccuracy.toFixed(3)} test=${line.testAccuracy.toFixed(3)}`,
  );
}

/** fit.json (the shared-rate fit of the whole trajectory), final-test.json, run.json's end, the report; frees the model. */
async function finishRun(run: OpenRun, stoppedEarly: boolean): Promise<RunResult> {
  const { runDir, options, log, metrics } = run;
  const fit = fitRun(runDir, metrics, log);
  const finalTest = options.runtime.finalTestSize === undefined ? undefined : finalTestOf(run);
  writeFileAtomic(
    join(runDir, 'run.json'),
    JSON.stringify({ ...run.runInfo, finishedAt: new Date().toISOString(), stoppedEarly }, null, 2) + '\n',
  );
  if (options.runtime.report) {
    const { writeRunReport } = await import('../report/index.js');
    log(`report: ${await writeRunReport(runDir)}`);
  }
  disposeAdamW(run.ctx.optimizer);
  disposeModel(run.ctx.model);
  return { runDir, metrics, finalTest, fit, backend: run.backend, stoppedEarly };
}

function fitRun(runDir: string, metrics: MetricsRecord[], log: (line: string) => void): SharedRateFit | undefined {
  try {
    const fit = fitSharedRate({
      t: metrics.map((m) => m.t),
      solver: metrics.map((m) => m.solverUncertainty),
      verifier: metrics.map((m) => m.verifierUncertainty),
    });
    writeFileAtomic(join(runDir, 'fit.json'), JSON.stringify(fit, null, 2) + '\n');
    log(
      `shared-rate fit: r=${fit.rate.value.toFixed(3)} U_s∞=${fit.limits.solver.value.toFixed(3)} U_v∞=${fit.limits.verifier.value.toFixed(3)} ` +
        `R² solver=${fit.r2.solver.toFixed(3)} verifier=${fit.r2.verifier.toFixed(3)} gap=${fit.r2.gap.toFixed(3)}`,
    );
    if (fit.flags.length) log(`  ${formatFitFlags(fit.flags)}`);
    return fit;
  } catch (error) {
    log(`no shared-rate fit: ${(error as Error).message}`);
    return undefined;
  }
}

/** The run's final-test.json for options.finalTestSize questions: read when it exists at that size, else measured and written. */
function finalTestOf(run: OpenRun): FinalTest {
  const { runDir, options } = run;
  const saved = readFinalTest(runDir);
  if (saved && saved.testSize === options.runtime.finalTestSize) return saved;
  const test = loadLoopData({ ...options.data, seed: options.seed, testSize: options.runtime.finalTestSize! }).test;
  run.ctx.publish?.();
  const correct = greedyCorrect(run.ctx, test, run.ctx.sampling);
  const finalTest: FinalTest = {
    testSize: test.length,
    accuracy: correct.filter(Boolean).length / test.length,
    correct: correct.map((c) => (c ? '1' : '0')).join(''),
  };
  writeFileAtomic(join(runDir, 'final-test.json'), JSON.stringify(finalTest) + '\n');
  run.log(`final test: ${(100 * finalTest.accuracy).toFixed(2)} % of ${finalTest.testSize} test questions (greedy)`);
  return finalTest;
}
