// Cross-improvement experiment (the paper's Sec. 5): one self-improvement run per allocation of a budget M of external
// verification ("arms": none, early, uniform, late or custom), every arm from the same starting model and seed(s); then
// the arms table (the paper's Table 2 layout), γ of the model U_v ← U_v/(1 + γMη_t) and the theory's prediction per arm.
import { join, resolve } from 'node:path';
import { entryBeside, runInChild } from '../child.js';
import { type AllocationRegime, type Trajectory, compareAllocations, fitCrossGamma, fitGamma, formatFitFlags } from '../theory/index.js';
import { writeFileAtomic } from '../io.js';
import { mean, sampleSd } from '../stats.js';
import {
  type CrossArmSummary,
  type CrossSummary,
  type CrossTheory,
  type FinalTest,
  type MetricsRow,
  readFinalTest,
  readMetrics,
  readRunInfo,
} from '../formats.js';

export type { CrossArmSummary, CrossSummary, CrossTheory } from '../formats.js';
import { type RunHooks, runTraining } from './run.js';
import { type TrainOptions, optionDifferences, savedOptions, validateTrainOptions } from './options.js';
import { type ExternalSelect, budgetPerRound, parseAllocation } from './external.js';
import { requirePositiveInteger } from '../flags.js';

/** A run's options (runtime.out: the cross directory DIR: arms in DIR/<arm> or DIR/<arm>-seed<k>, DIR/summary.json, DIR/report), plus: */
export type CrossOptions = TrainOptions & {
  budget?: number; // M, questions verified externally per run (default: defaultBudget(poolSize))
  arms: string[]; // none | early | uniform | late | NAME=SPEC (SPEC as --allocation); items without '=' may hold several, comma-separated
  seeds: number; // runs per arm, with seeds seed, seed+1, ...
  jobs?: number; // runs at once, each in its own process (default 1: one after another, in this process)
};

export const DEFAULT_ARMS = ['none', 'early', 'uniform', 'late'];

/** One arm: its name (directory) and its allocation (null: no external verification). */
export interface CrossArm {
  name: string;
  allocation: string | null;
  fractions: number[]; // η_t per round (zeros for none)
  perRound: number[]; // questions verified externally in each round
}

/** The default budget: 10 % of one round's pool (at least one question). */
export function defaultBudget(poolSize: number): number {
  return Math.max(1, Math.round(0.1 * poolSize));
}

/** `--arms` items: `none`, `early`, `uniform`, `late` (comma lists allowed) or `NAME=SPEC` with SPEC an --allocation. */
export function parseArms(items: string[], rounds: number, budget: number): CrossArm[] {
  const arms: CrossArm[] = [];
  const parts = items
    .flatMap((item) => (item.includes('=') ? [item] : item.split(',')))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new Error('--arms: no arms given (e.g. --arms none,early,uniform,late)');
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq).trim();
    const spec = eq < 0 ? part : part.slice(eq + 1).trim();
    if (eq < 0 && !DEFAULT_ARMS.includes(name)) {
      throw new Error(`--arms: unknown arm '${name}'; use none, early, uniform, late or NAME=SPEC (e.g. front=R1:0.7,R2:0.3)`);
    }
    if (!/^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*$/.test(name) || /-seed\d+$/.test(name) || name === 'report') {
      throw new Error(`--arms: '${name}' cannot name an arm directory (letters, digits, _ . -; not 'report', not ending in -seed<k>)`);
    }
    if (eq >= 0 && name === 'none') throw new Error("--arms: 'none' is the arm without external verification; give it no allocation");
    if (arms.some((a) => a.name === name)) throw new Error(`--arms: arm '${name}' given twice`);
    if (name === 'none') {
      arms.push({ name, allocation: null, fractions: new Array<number>(rounds).fill(0), perRound: new Array<number>(rounds).fill(0) });
      continue;
    }
    let fractions: number[];
    try {
      fractions = parseAllocation(spec, rounds);
    } catch (error) {
      throw new Error(`--arms ${name}: ${(error as Error).message}`);
    }
    arms.push({ name, allocation: spec, fractions, perRound: budgetPerRound(fractions, budget) });
  }
  return arms;
}

function armDirName(arm: string, seed: number, seeds: number): string {
  return seeds > 1 ? `${arm}-seed${seed}` : arm;
}

/** The options of one arm's run: the shared train options plus the arm's external verification. */
export function armOptions(options: CrossOptions, arm: CrossArm, seed: number, dir: string): TrainOptions {
  const { budget: _budget, arms: _arms, seeds: _seeds, jobs: _jobs, ...train } = options; // cross-only options are not the run's
  const external =
    arm.allocation === null
      ? {}
      : {
          verifier: options.external.verifier ?? 'oracle',
          budget: arm.perRound.reduce((s, x) => s + x, 0),
          allocation: arm.allocation,
          ...(options.external.select === 'doubt' ? { select: 'doubt' as const } : {}), // random (the default) stays unset, so runs made before the flag still match
        };
  return { ...train, seed, runtime: { ...train.runtime, out: dir, resume: false }, external };
}

/** An arm directory's state: absent, finished (run.json has finishedAt) or partial (to resume); throws if it holds another experiment. */
function armState(dir: string, wanted: TrainOptions): 'absent' | 'finished' | 'partial' {
  const runJson = join(dir, 'run.json');
  const saved = readRunInfo(dir);
  if (!saved) return 'absent';
  // every option but where and how it runs (runtime: out, backend, threads, device, report, the final test that only reads the final model)
  const differ = optionDifferences(
    savedOptions((saved.options ?? {}) as Record<string, unknown>),
    wanted,
    (row) => !row.path.startsWith('runtime.'),
  );
  if (differ.length > 0) {
    const show = differ
      .slice(0, 4)
      .map((d) => `--${d.flag}: ${JSON.stringify(d.a)} there, ${JSON.stringify(d.b)} now`)
      .join('; ');
    throw new Error(`${runJson}: this arm was run with other settings (${show}); re-run with the same flags or choose another --out`);
  }
  return saved.finishedAt ? 'finished' : 'partial';
}

export interface CrossResult {
  dir: string;
  summary: CrossSummary;
  table: string;
}

/** A finished run of one arm: its seed and metrics.jsonl. */
export interface FinishedRun {
  seed: number;
  metrics: MetricsRow[];
  finalTest?: FinalTest; // final-test.json, when the run has one of the requested size
}

const num = (x: number | null | undefined) => (typeof x === 'number' ? x : NaN); // JSON null (a NaN when written) back to NaN

/** Questions verified externally in each round of a run: the externalQueries of each round's end-of-round point. */
export function externalPerRound(metrics: MetricsRow[], rounds: number): number[] {
  return Array.from({ length: rounds }, (_, k) => metrics.find((m) => m.round === k + 1)?.externalQueries ?? 0);
}

/** Wall seconds of a run from its own clocks: the t = 0 evaluation plus each round's wall time. */
function runSeconds(metrics: MetricsRow[]): number {
  return metrics.filter((m) => Number.isInteger(m.round)).reduce((s, m) => s + (m.timing?.round ?? 0), 0);
}

/** Mean over seeds at each evaluation time, time in rounds (t / epochsPerRound). */
function meanTrajectory(runs: FinishedRun[], epochsPerRound: number, endOfRoundOnly = false): Trajectory {
  const groups = new Map<number, { s: number[]; v: number[] }>();
  for (const run of runs) {
    for (const m of run.metrics) {
      if (endOfRoundOnly && !Number.isInteger(m.round)) continue;
      const t = endOfRoundOnly ? m.round : m.t / epochsPerRound;
      const g = groups.get(t) ?? { s: [], v: [] };
      g.s.push(num(m.solverUncertainty));
      g.v.push(num(m.verifierUncertainty));
      groups.set(t, g);
    }
  }
  const ts = [...groups.keys()].sort((a, b) => a - b);
  return { t: ts, solver: ts.map((t) => mean(groups.get(t)!.s)), verifier: ts.map((t) => mean(groups.get(t)!.v)) };
}

/**
 * The theory over the arms: theory's fitCrossGamma on each arm's mean trajectory (time in rounds), then
 * compareAllocations at the fitted γ, and per arm fitGamma's separate 6-parameter fit (γ ≥ 0, the paper's model) on
 * the end-of-round points as a check. Each arm's predicted trajectory goes to summary.json (t in epochs) for the report.
 */
export function crossTheory(
  armRuns: Record<string, FinishedRun[]>,
  arms: CrossArm[],
  budget: number,
  rounds: number,
  epochsPerRound: number,
): { gamma: number; predicted: Record<string, number>; theory: CrossTheory } {
  const present = arms.filter((a) => (armRuns[a.name] ?? []).length > 0);
  const queries = (a: CrossArm) => a.perRound.reduce((s, x) => s + x, 0);
  const fit = fitCrossGamma(
    present.map((a) => ({
      name: a.name,
      fractions: a.fractions,
      queries: queries(a),
      trajectory: meanTrajectory(armRuns[a.name], epochsPerRound),
    })),
    rounds,
  );
  const { dynamics, start: fittedStart, gammaBudget, baseFit } = fit;
  const gamma = budget > 0 ? gammaBudget / budget : NaN;
  const predicted = Object.fromEntries(present.map((a) => [a.name, fit.predicted[a.name].solver[rounds] ?? NaN]));
  const trajectories = Object.fromEntries(
    present.map((a) => {
      const p = fit.predicted[a.name];
      return [a.name, { t: p.t.map((t) => t * epochsPerRound), solver: p.solver, verifier: p.verifier }];
    }),
  );
  const budgeted = present.filter((a) => queries(a) > 0);
  const compared =
    budgeted.length > 0 && Number.isFinite(gamma)
      ? compareAllocations(
          { ...dynamics, ...fittedStart, gamma, budget, rounds },
          Object.fromEntries(budgeted.map((a) => [a.name, a.fractions])),
        )
      : null;
  return {
    gamma,
    predicted,
    theory: {
      method:
        `γ by least squares of predicted vs measured final U_s relative to arm ${fit.base}, over the arms with budget; ` +
        `dynamics from the shared-rate fit of arm ${fit.base} (mean over seeds, time in rounds); U_v ← U_v/(1 + γMη_t) at the start of each round`,
      base: fit.base,
      dynamics: { ...dynamics, rate: baseFit.rate.value, r2: baseFit.r2, flags: baseFit.flags },
      gammaBudget,
      outcomes: compared?.outcomes ?? [],
      regime:
        compared?.regime ??
        noRegime(
          budgeted.length === 0 ? 'no arm with external verification' : 'γ could not be fitted (no arm with budget besides the base)',
        ),
      gammaPerArm: gammaPerArm(armRuns, budgeted, epochsPerRound),
      trajectories,
    },
  };
}

/** Per arm with budget, fitGamma's own 6-parameter fit (γ ≥ 0, the paper's model) on its end-of-round points, per query. */
function gammaPerArm(armRuns: Record<string, FinishedRun[]>, budgeted: CrossArm[], epochsPerRound: number): CrossTheory['gammaPerArm'] {
  const out: CrossTheory['gammaPerArm'] = {};
  for (const arm of budgeted) {
    try {
      const fit = fitGamma(meanTrajectory(armRuns[arm.name], epochsPerRound, true), arm.fractions);
      const perQuery = (x: number) => x / arm.perRound.reduce((s, q) => s + q, 0);
      out[arm.name] = { gamma: perQuery(fit.gamma.value), lower: perQuery(fit.gamma.lower), upper: perQuery(fit.gamma.upper), r2: fit.r2 };
    } catch (error) {
      out[arm.name] = { error: (error as Error).message };
    }
  }
  return out;
}

/** The regime when there is none to compare, saying why. */
function noRegime(explanation: string): AllocationRegime {
  return {
    finalSpread: NaN,
    limitSpread: NaN,
    selfImprovement: NaN,
    limitSpreadEstimate: NaN,
    lastRoundTransient: NaN,
    independent: false,
    tolerance: NaN,
    explanation,
  };
}

type SummaryOptions = {
  rounds: number;
  epochsPerRound: number;
  externalVerifier: string;
  externalSelect?: ExternalSelect;
  finalTestSize?: number;
};

/** Build the summary from the arm directories on disk (finished runs only), so skipped and resumed arms count alike. */
export function summarizeCross(
  dir: string,
  arms: CrossArm[],
  seeds: number[],
  budget: number,
  options: SummaryOptions,
  failed: CrossSummary['failed'],
): CrossSummary {
  const armRuns = finishedRuns(dir, arms, seeds, options.finalTestSize);
  let gamma = NaN;
  let predicted: Record<string, number> = {};
  let theory: CrossSummary['theory'];
  try {
    ({ gamma, predicted, theory } = crossTheory(armRuns, arms, budget, options.rounds, options.epochsPerRound));
  } catch (error) {
    theory = { error: (error as Error).message };
  }
  const summaryArms: Record<string, CrossArmSummary> = {};
  for (const arm of arms) {
    if (armRuns[arm.name].length > 0)
      summaryArms[arm.name] = armSummary(arm, armRuns[arm.name], options.rounds, predicted[arm.name] ?? NaN);
  }
  return {
    budget,
    gamma,
    arms: summaryArms,
    failed,
    seeds,
    rounds: options.rounds,
    externalVerifier: options.externalVerifier,
    externalSelect: options.externalSelect ?? 'random',
    finalTestSize: options.finalTestSize ?? null,
    comparison: compareWithNone(summaryArms),
    theory,
    wallSeconds: Object.values(summaryArms).reduce((s, a) => s + a.wallSeconds, 0),
  };
}

/** Each arm's finished runs (run.json has finishedAt), with final-test.json when it is of the requested size. */
function finishedRuns(dir: string, arms: CrossArm[], seeds: number[], finalTestSize?: number): Record<string, FinishedRun[]> {
  const armRuns: Record<string, FinishedRun[]> = {};
  for (const arm of arms) {
    armRuns[arm.name] = [];
    for (const seed of seeds) {
      const runDir = join(dir, armDirName(arm.name, seed, seeds.length));
      if (!readRunInfo(runDir)?.finishedAt) continue;
      const finalTest = finalTestSize === undefined ? undefined : readFinalTest(runDir);
      armRuns[arm.name].push({
        seed,
        metrics: readMetrics(runDir),
        finalTest: finalTest?.testSize === finalTestSize ? finalTest : undefined,
      });
    }
  }
  return armRuns;
}

/** One arm over its finished seeds: accuracies (the final test when there is one), uncertainties, queries, wall time. */
function armSummary(arm: CrossArm, runs: FinishedRun[], rounds: number, predictedFinal: number): CrossArmSummary {
  const first = runs.map((r) => r.metrics[0]);
  const last = runs.map((r) => r.metrics.at(-1)!);
  const finals = runs.map((r, i) => r.finalTest?.accuracy ?? num(last[i].testAccuracy));
  return {
    initialTestAccuracy: mean(first.map((m) => num(m.testAccuracy))),
    finalTestAccuracy: mean(finals),
    finalTestAccuracySd: sampleSd(finals),
    finalSolverUncertainty: mean(last.map((m) => m.solverUncertainty)),
    finalVerifierUncertainty: mean(last.map((m) => m.verifierUncertainty)),
    externalQueries: mean(runs.map((r) => externalPerRound(r.metrics, rounds).reduce((s, x) => s + x, 0))),
    predictedFinalSolverUncertainty: predictedFinal,
    finalTestAccuracies: finals,
    finishedSeeds: runs.map((r) => r.seed),
    externalQueriesPerRound: externalPerRound(runs[0].metrics, rounds),
    fractions: arm.fractions,
    allocation: arm.allocation,
    seedsFinished: runs.length,
    wallSeconds: runs.reduce((s, r) => s + runSeconds(r.metrics), 0),
  };
}

/** The arms with budget against none: differences of the means, per seed paired differences, the spread over allocations. */
function compareWithNone(summaryArms: Record<string, CrossArmSummary>): CrossSummary['comparison'] {
  const none = summaryArms.none;
  const budgeted = Object.entries(summaryArms).filter(([, s]) => s.externalQueries > 0);
  const accuracies = budgeted.map(([, s]) => s.finalTestAccuracy);
  return {
    deltaVsNone: Object.fromEntries(budgeted.map(([name, s]) => [name, none ? s.finalTestAccuracy - none.finalTestAccuracy : NaN])),
    beatsNone: Object.fromEntries(budgeted.map(([name, s]) => [name, none !== undefined && s.finalTestAccuracy > none.finalTestAccuracy])),
    pairedDeltaVsNone: Object.fromEntries(
      budgeted.map(([name, s]) => {
        const deltas = s.finishedSeeds.flatMap((seed, i) => {
          const j = none?.finishedSeeds.indexOf(seed) ?? -1;
          return j >= 0 ? [s.finalTestAccuracies[i] - none!.finalTestAccuracies[j]] : [];
        });
        const sd = sampleSd(deltas);
        return [name, { mean: mean(deltas), sd, se: sd / Math.sqrt(deltas.length), seeds: deltas.length }];
      }),
    ),
    allocationSpread: accuracies.length ? Math.max(...accuracies) - Math.min(...accuracies) : NaN,
    meanSeedSd: mean(budgeted.map(([, s]) => s.finalTestAccuracySd).filter(Number.isFinite)),
  };
}

function signedDelta(d: { mean: number; se: number }): string {
  if (!Number.isFinite(d.mean)) return 'n/a';
  const points = (100 * d.mean).toFixed(1);
  return `${d.mean >= 0 ? '+' : ''}${points}${Number.isFinite(d.se) ? ` ± ${(100 * d.se).toFixed(1)}` : ''}`;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a');
const fixed = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const g3 = (x: number) => (Number.isFinite(x) ? x.toPrecision(3) : 'n/a');

/** The arms table (the paper's Table 2 layout) with the theory's prediction and the Prop. 5.1 verdict. */
export function formatCrossTable(summary: CrossSummary): string {
  const header = [
    'arm',
    'seeds',
    'initial %',
    'final % (mean ± sd)',
    'Δ vs none (paired ± se)',
    'final U_s',
    'predicted U_s',
    'final U_v',
    'ext. queries',
    'wall s',
  ];
  const rows = Object.entries(summary.arms).map(([name, s]) => [
    name,
    String(s.seedsFinished),
    pct(s.initialTestAccuracy),
    `${pct(s.finalTestAccuracy)} ± ${pct(s.finalTestAccuracySd)}`,
    name in summary.comparison.pairedDeltaVsNone ? signedDelta(summary.comparison.pairedDeltaVsNone[name]) : '—',
    fixed(s.finalSolverUncertainty),
    fixed(s.predictedFinalSolverUncertainty),
    fixed(s.finalVerifierUncertainty),
    fixed(s.externalQueries, 0),
    s.wallSeconds.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const total = summary.wallSeconds;
  return [
    `Cross-improvement: budget M = ${summary.budget} external queries per run (${summary.externalVerifier}, ${summary.externalSelect} questions), ${summary.rounds} rounds, seeds ${summary.seeds.join(', ')}` +
      (summary.finalTestSize ? `; final test accuracy on ${summary.finalTestSize} test questions` : ''),
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...comparisonLines(summary),
    ...theoryLines(summary),
    ...summary.failed.map((f) => `FAILED ${f.arm} (seed ${f.seed}, ${f.dir}): ${f.error}`),
    `wall time of the finished runs: ${total.toFixed(0)} s (${(total / 3600).toFixed(2)} h)`,
  ].join('\n');
}

/** Which arms with budget beat none, which by more than 2 standard errors, and the spread over allocations. */
function comparisonLines(summary: CrossSummary): string[] {
  const c = summary.comparison;
  const budgetedNames = Object.keys(c.beatsNone);
  if (budgetedNames.length === 0) return [];
  const out: string[] = [];
  if ('none' in summary.arms) {
    const losers = budgetedNames.filter((n) => !c.beatsNone[n]);
    out.push(
      losers.length === 0
        ? `every arm with budget beats none in final test accuracy`
        : `not above none in final test accuracy: ${losers.join(', ')}`,
    );
    const resolved = budgetedNames.filter((n) => Math.abs(c.pairedDeltaVsNone[n].mean) > 2 * c.pairedDeltaVsNone[n].se);
    out.push(`paired over seeds, Δ vs none is more than 2 standard errors from 0 for: ${resolved.length ? resolved.join(', ') : 'no arm'}`);
  }
  out.push(
    `spread of final test accuracy over ${budgetedNames.join(', ')}: ${pct(c.allocationSpread)} points (mean seed-to-seed sd ${pct(c.meanSeedSd)} points)`,
  );
  return out;
}

/** γ, the base arm's dynamics, γ per arm alone, and the Prop. 5.1 verdict (or why there is no prediction). */
function theoryLines(summary: CrossSummary): string[] {
  if ('error' in summary.theory) return [`theory: no prediction (${summary.theory.error})`];
  const t = summary.theory;
  const out = [
    `theory: γ = ${g3(summary.gamma)} per external query (γM = ${g3(t.gammaBudget)}); dynamics from arm ${t.base}: r = ${g3(t.dynamics.rate)} per round, ` +
      `α/β = ${g3(t.dynamics.alpha / t.dynamics.beta)}, R² solver ${fixed(t.dynamics.r2.solver)} verifier ${fixed(t.dynamics.r2.verifier)}`,
  ];
  if (t.dynamics.flags?.length) out.push(`  ${formatFitFlags(t.dynamics.flags)}`);
  const perArm = Object.entries(t.gammaPerArm).map(([name, f]) =>
    'error' in f ? `${name}: n/a (${f.error})` : `${name}: ${g3(f.gamma)} [${g3(f.lower)}, ${g3(f.upper)}]`,
  );
  if (perArm.length) out.push(`  γ per query fitted per arm alone (fitGamma, end-of-round points): ${perArm.join('; ')}`);
  out.push(`  Prop. 5.1: ${t.regime.explanation}`);
  return out;
}

interface PlannedRun {
  arm: CrossArm;
  seed: number;
  runDir: string;
  run: TrainOptions;
}

const WORKER = entryBeside(import.meta.url, 'cross-worker');

/** The cross directory, budget and arms of `options`, checked before any work. */
function crossPlan(options: CrossOptions): { dir: string; budget: number; jobs: number; arms: CrossArm[] } {
  if (options.runtime.out === undefined) throw new Error('cross: --out DIR is needed (the cross directory)');
  if (options.external.budget !== undefined) throw new Error('--external-budget: cross sets the budget of each arm; use --budget');
  if (options.external.allocation !== undefined) throw new Error('--allocation: cross sets the allocation of each arm; use --arms');
  requirePositiveInteger('seeds', options.seeds);
  const jobs = options.jobs ?? 1;
  requirePositiveInteger('jobs', jobs);
  const budget = options.budget ?? defaultBudget(options.data.poolSize);
  requirePositiveInteger('budget', budget);
  validateTrainOptions({ ...options, external: { ...options.external, verifier: options.external.verifier ?? 'oracle', budget } });
  const arms = parseArms(options.arms, options.rounds, budget);
  for (const arm of arms) {
    const worst = Math.max(...arm.perRound);
    if (worst > options.data.poolSize) {
      throw new Error(
        `--budget ${budget}: arm ${arm.name} would verify ${worst} questions externally in one round, more than --pool-size ${options.data.poolSize}`,
      );
    }
  }
  return { dir: resolve(options.runtime.out), budget, jobs, arms };
}

/** The runs still to do: every arm × seed not finished (a finished one only for a missing final test), resumed when partial; and why others are not. */
function runsToDo(options: CrossOptions, dir: string, arms: CrossArm[], seeds: number[]): { queue: PlannedRun[]; notes: string[] } {
  const plan = seeds.flatMap((seed) =>
    arms.map((arm) => {
      const runDir = join(dir, armDirName(arm.name, seed, seeds.length));
      const run = armOptions(options, arm, seed, runDir);
      return { arm, seed, runDir, run, state: armState(runDir, run) }; // checks every directory before any work
    }),
  );
  const queue: PlannedRun[] = [];
  const notes: string[] = [];
  for (const item of plan) {
    const tag = `[${item.arm.name} seed ${item.seed}] finished already`;
    if (item.state === 'finished') {
      // resuming a finished run runs no round; it only adds a missing final test
      const finalTestSize = options.runtime.finalTestSize;
      if (finalTestSize === undefined || readFinalTest(item.runDir)?.testSize === finalTestSize) {
        notes.push(`${tag}: skipping ${item.runDir}`);
        continue;
      }
      notes.push(`${tag}: queued for its final test on ${finalTestSize} questions`);
    }
    queue.push({ ...item, run: { ...item.run, runtime: { ...item.run.runtime, resume: item.state !== 'absent' } } });
  }
  return { queue, notes };
}

/** Runs the queue, `jobs` at a time (child processes) or one after another here; a failing run is recorded in `failed`. */
async function runQueue(queue: PlannedRun[], jobs: number, hooks: RunHooks, failed: CrossSummary['failed']): Promise<void> {
  const log = hooks.log ?? (() => {});
  const runOne = async ({ arm, seed, runDir, run }: PlannedRun) => {
    const armLog = (line: string) => log(`[${arm.name} seed ${seed}] ${line}`);
    armLog(`${run.runtime.resume ? 'resuming' : 'starting'} ${runDir}${jobs > 1 ? ' (own process)' : ''}`);
    try {
      if (jobs === 1) await runTraining(run, { ...hooks, log: armLog });
      else await runInChild(WORKER, run, { log: armLog, signal: hooks.signal });
    } catch (error) {
      if (hooks.signal?.aborted) throw error;
      const message = (error as Error).message;
      armLog(`FAILED: ${message}`);
      failed.push({ arm: arm.name, seed, dir: runDir, error: message });
    }
  };
  // `jobs` lanes take the next planned run as each finishes (one lane: in this process, in plan order); an abort kills the children
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined && !hooks.signal?.aborted; next = queue.shift()) await runOne(next);
    }),
  );
  if (hooks.signal?.aborted) throw new Error('cross aborted');
}

/**
 * Run every arm for every seed (seed-major: all arms of the first seed first), skipping finished arm directories and
 * resuming partial ones, one after another or `jobs` at a time in child processes; an arm that throws is recorded in
 * summary.failed and the others go on (an abort stops all).
 * Writes DIR/summary.json and, with options.report, DIR/report.
 */
export async function runCross(options: CrossOptions, hooks: RunHooks = {}): Promise<CrossResult> {
  const log = hooks.log ?? (() => {});
  const { dir, budget, jobs, arms } = crossPlan(options);
  const seeds = Array.from({ length: options.seeds }, (_, k) => options.seed + k);
  const externalVerifier = options.external.verifier ?? 'oracle';
  const { queue, notes } = runsToDo(options, dir, arms, seeds);
  log(
    `cross: ${arms.length} arms × ${seeds.length} seeds in ${dir}; budget M = ${budget} (${externalVerifier}, ${options.external.select ?? 'random'} questions); external queries per round: ` +
      arms
        .filter((a) => a.allocation !== null)
        .map((a) => `${a.name} ${a.perRound.join(',')}`)
        .join('; '),
  );
  notes.forEach(log);
  const failed: CrossSummary['failed'] = [];
  await runQueue(queue, jobs, hooks, failed);
  const summary = summarizeCross(
    dir,
    arms,
    seeds,
    budget,
    {
      rounds: options.rounds,
      epochsPerRound: options.sft.epochsPerRound,
      externalVerifier,
      externalSelect: options.external.select,
      finalTestSize: options.runtime.finalTestSize,
    },
    failed,
  );
  writeFileAtomic(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const table = formatCrossTable(summary);
  for (const line of table.split('\n')) log(line);
  if (options.runtime.report && Object.keys(summary.arms).length > 0) {
    try {
      const { writeRunReport } = await import('../report/index.js');
      log(`report: ${await writeRunReport(dir)}`);
    } catch (error) {
      log(`no report: ${(error as Error).message}`);
    }
  }
  return { dir, summary, table };
}
