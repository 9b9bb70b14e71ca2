import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/engine/index.js';
import { initModel, saveCheckpoint } from '../src/model/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { type FlatOptions, trainOptionsFrom } from '../src/loop/options.js';
import type { MetricsRecord } from '../src/formats.js';
import {
  type CrossOptions,
  type CrossSummary,
  type FinishedRun,
  armOptions,
  crossTheory,
  defaultBudget,
  formatCrossTable,
  parseArms,
  runCross,
  summarizeCross,
} from '../src/loop/cross.js';
import {
  allocationFractions,
  closedForm,
  compareAllocations,
  identifiableFromPhysical,
  simulateCrossImprovement,
} from '../src/theory/index.js';
import { readCross } from '../src/report/data.js';
import { crossData } from '../src/report/prepare.js';
import { MICRO } from './helpers.js';

let microDir: string;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  const tokenizer = await loadTokenizer();
  microDir = join(mkdtempSync(join(tmpdir(), 'svgap-cross-')), 'micro');
  saveCheckpoint(microDir, initModel({ ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 }, 3));
});

function microCross(
  out: string,
  extra: FlatOptions & Partial<Pick<CrossOptions, 'budget' | 'arms' | 'seeds' | 'jobs'>> = {},
): CrossOptions {
  const { budget = 3, arms = ['none,early,uniform,late'], seeds = 1, jobs, ...flat } = extra;
  const train = trainOptionsFrom({
    model: microDir,
    out,
    backend: 'cpu',
    rounds: 3,
    poolSize: 4,
    samples: 3,
    maxNewTokens: 6,
    evalSize: 2,
    testSize: 2,
    batchSize: 2,
    sampleBatch: 8,
    verifier: 'tf',
    report: false,
    loraRank: 2,
    loraAlpha: 4,
    evalsPerEpoch: 1,
    ...flat,
  });
  return { ...train, budget, arms, seeds, ...(jobs === undefined ? {} : { jobs }) };
}

const readMetrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);
const strip = (m: MetricsRecord) => ({ ...m, timing: undefined, tokensPerSecond: undefined });
const externalPerRoundFromSamples = (dir: string, rounds: number) =>
  Array.from(
    { length: rounds },
    (_, k) =>
      readFileSync(join(dir, 'samples', `round-${k + 1}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => JSON.parse(l).external).length,
  );

describe('arms and budget', () => {
  it("default budget is 10 % of one round's pool; arms spend exactly the budget per round", () => {
    expect(defaultBudget(256)).toBe(26);
    expect(defaultBudget(4)).toBe(1);
    const arms = parseArms(['none,early,uniform,late'], 6, 26);
    expect(arms.map((a) => a.name)).toEqual(['none', 'early', 'uniform', 'late']);
    expect(arms.map((a) => a.perRound)).toEqual([
      [0, 0, 0, 0, 0, 0],
      [13, 13, 0, 0, 0, 0],
      [5, 5, 4, 4, 4, 4],
      [0, 0, 0, 0, 13, 13],
    ]);
    expect(arms[0].allocation).toBeNull();
    const custom = parseArms(['none', 'front=R1:0.7,R2:0.3', 'uniform'], 3, 10);
    expect(custom.map((a) => a.name)).toEqual(['none', 'front', 'uniform']);
    expect(custom[1].perRound).toEqual([7, 3, 0]);
    expect(custom[2].perRound).toEqual([4, 3, 3]);
    // an arm's run carries the budget and allocation; none carries no external verification
    const run = armOptions(microCross('/x'), custom[1], 5, '/x/front');
    expect([run.external.verifier, run.external.budget, run.external.allocation, run.seed, run.runtime.out]).toEqual([
      'oracle',
      10,
      'R1:0.7,R2:0.3',
      5,
      '/x/front',
    ]);
    expect(run).not.toHaveProperty('arms');
    const none = armOptions(microCross('/x'), custom[0], 5, '/x/none');
    expect(none.external).toEqual({});
  });

  it('bad arms, budgets and flags are clear errors before any run', async () => {
    expect(() => parseArms(['none,sometimes'], 3, 3)).toThrow(/--arms: unknown arm 'sometimes'/);
    expect(() => parseArms(['early,early'], 3, 3)).toThrow(/arm 'early' given twice/);
    expect(() => parseArms(['report=R1:1'], 3, 3)).toThrow(/'report' cannot name an arm directory/);
    expect(() => parseArms(['x-seed2=R1:1'], 3, 3)).toThrow(/cannot name an arm directory/);
    expect(() => parseArms(['none=R1:1'], 3, 3)).toThrow(/give it no allocation/);
    expect(() => parseArms(['front=R4:1'], 3, 3)).toThrow(/--arms front: --allocation: round 4 is outside 1..3/);
    expect(() => parseArms([','], 3, 3)).toThrow(/no arms given/);
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-cross-bad-')), 'cross');
    await expect(runCross(microCross(out, { budget: 9, arms: ['early'] }))).rejects.toThrow(
      /arm early would verify 9 questions externally in one round, more than --pool-size 4/,
    );
    await expect(runCross(microCross(out, { budget: 0 }))).rejects.toThrow(/--budget: must be a positive integer/);
    await expect(runCross(microCross(out, { seeds: 0 }))).rejects.toThrow(/--seeds: must be a positive integer/);
    await expect(runCross(microCross(out, { externalBudget: 3 }))).rejects.toThrow(/--external-budget: cross sets the budget/);
    await expect(runCross(microCross(out, { allocation: 'early' }))).rejects.toThrow(/--allocation: cross sets the allocation/);
    expect(existsSync(out)).toBe(false);
  });
});

// Synthetic arms from the paper's model itself: none follows Prop. 3.1 exactly, the others simulateCrossImprovement with γM.
const truth = { alpha: 0.6, beta: 0.24, k: 1, b: 0.04, solver0: 1, verifier0: 0.4 };
const rounds = 6;
const budget = 20;
const gammaPerQuery = 0.6 / budget;

function syntheticRuns(noise = 0): Record<string, FinishedRun[]> {
  const q = identifiableFromPhysical(truth);
  const row = (t: number, s: number, v: number) =>
    ({ t, round: t, solverUncertainty: s, verifierUncertainty: v, gap: s - v }) as MetricsRecord;
  const none = Array.from({ length: 2 * rounds + 1 }, (_, i) => closedForm(q, i / 2)).map((p, i) => row(i / 2, p.solver, p.verifier));
  const runs: Record<string, FinishedRun[]> = { none: [{ seed: 1, metrics: none }] };
  for (const name of ['early', 'uniform', 'late'] as const) {
    const sim = simulateCrossImprovement({ ...truth, gamma: gammaPerQuery * budget, rounds, fractions: allocationFractions(name, rounds) });
    // two seeds at ± noise: their mean is the noiseless trajectory
    runs[name] = [1, -1].map((sign, k) => ({
      seed: k + 1,
      metrics: sim.t.map((t, i) => row(t, sim.solver[i] + sign * noise, sim.verifier[i] - sign * noise)),
    }));
  }
  return runs;
}

describe('theory over the arms', () => {
  it("recovers γ per external query from noiseless synthetic arms and predicts each arm's final U_s", () => {
    const arms = parseArms(['none,early,uniform,late'], rounds, budget);
    const { gamma, predicted, theory } = crossTheory(syntheticRuns(0.01), arms, budget, rounds, 1);
    expect(gamma).toBeCloseTo(gammaPerQuery, 6);
    expect(theory.gammaBudget).toBeCloseTo(0.6, 5);
    expect(theory.dynamics.alpha / theory.dynamics.beta).toBeCloseTo(truth.alpha / truth.beta, 6);
    for (const name of ['early', 'uniform', 'late'] as const) {
      const sim = simulateCrossImprovement({ ...truth, gamma: 0.6, rounds, fractions: allocationFractions(name, rounds) });
      expect(predicted[name]).toBeCloseTo(sim.solver[rounds], 6);
      const alone = theory.gammaPerArm[name];
      if ('error' in alone) throw new Error(alone.error);
      expect(alone.gamma).toBeCloseTo(gammaPerQuery, 4);
    }
    expect(predicted.none).toBeCloseTo(closedForm(identifiableFromPhysical(truth), rounds).solver, 6);
    // the Prop. 5.1 regime is compareAllocations' own verdict for the true parameters
    const direct = compareAllocations({ ...truth, gamma: gammaPerQuery, budget, rounds });
    expect(theory.regime.finalSpread).toBeCloseTo(direct.regime.finalSpread, 6);
    expect(theory.regime.independent).toBe(direct.regime.independent);
  });

  it('predicts a trajectory for every arm, a custom one too, that summary.json carries and the report draws as is', () => {
    const arms = parseArms(['none,early', 'front=R1:0.7,R2:0.3'], rounds, budget);
    const front = arms.find((a) => a.name === 'front')!;
    const sim = simulateCrossImprovement({ ...truth, gamma: gammaPerQuery * budget, rounds, fractions: front.fractions });
    const row = (t: number, sv: number, v: number) =>
      ({ t, round: t, solverUncertainty: sv, verifierUncertainty: v, gap: sv - v }) as MetricsRecord;
    const runs = { ...syntheticRuns(), front: [{ seed: 1, metrics: sim.t.map((t, i) => row(t, sim.solver[i], sim.verifier[i])) }] };
    const { predicted, theory } = crossTheory(runs, arms, budget, rounds, 1);
    const written = theory.trajectories!.front!;
    expect(written.t).toEqual(sim.t); // in epochs: one per round here
    written.solver.forEach((s, i) => expect(s).toBeCloseTo(sim.solver[i], 5));
    expect(written.solver.at(-1)).toBe(predicted.front);
    const summary = { budget, gamma: theory.gammaBudget / budget, arms: {}, theory } as unknown as CrossSummary;
    const curves = crossData({ dir: '/x', summary, runs: {} }).curves.filter((c) => c.arm === 'front');
    expect(curves.map((c) => [c.t, c.value, c.source])).toEqual(written.t.map((t, i) => [t, written.solver[i], 'theory']));
  });

  it('predicts from the fitted start, so noise in the measured t = 0 point is not amplified by α/(α−β)', () => {
    const arms = parseArms(['none,early,uniform,late'], rounds, budget);
    const runs = syntheticRuns();
    for (const armRuns of Object.values(runs))
      for (const run of armRuns) run.metrics[0] = { ...run.metrics[0], verifierUncertainty: run.metrics[0].verifierUncertainty + 0.05 };
    const { predicted } = crossTheory(runs, arms, budget, rounds, 1);
    const finalNone = closedForm(identifiableFromPhysical(truth), rounds).solver;
    const fromMeasured = simulateCrossImprovement({
      ...truth,
      verifier0: truth.verifier0 + 0.05,
      gamma: 0,
      rounds,
      fractions: new Array<number>(rounds).fill(0),
    });
    expect(Math.abs(fromMeasured.solver[rounds] - finalNone)).toBeGreaterThan(0.03); // what starting at the measured point would do
    expect(Math.abs(predicted.none! - finalNone)).toBeLessThan(0.01);
  });

  it('pairs arms with none by seed: mean, sd and standard error of the differences, and says which exceed 2 se', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svgap-cross-paired-'));
    const arms = parseArms(['none,early,late'], rounds, budget);
    const runs = syntheticRuns(0.01);
    const finals: Record<string, number[]> = { none: [0.3, 0.4, 0.2], early: [0.35, 0.46, 0.24], late: [0.2, 0.5, 0.25] };
    for (const arm of arms) {
      for (const seed of [1, 2, 3]) {
        const runDir = join(dir, `${arm.name}-seed${seed}`);
        mkdirSync(runDir, { recursive: true });
        const base = runs[arm.name][0].metrics;
        const metrics = base.map((m, i) => ({
          ...m,
          testAccuracy: i === base.length - 1 ? finals[arm.name][seed - 1] : 0.3,
          verifierUncertainty: m.verifierUncertainty + (i === 0 ? 0.05 : 0), // a measured start off the curve
          externalQueries: Number.isInteger(m.round) && m.round > 0 ? arm.perRound[m.round - 1] : 0,
          timing: { round: 1 },
        }));
        writeFileSync(join(runDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join(''));
        writeFileSync(join(runDir, 'run.json'), JSON.stringify({ options: {}, finishedAt: '2025-01-01T00:00:00Z' }));
      }
    }
    const summary = summarizeCross(dir, arms, [1, 2, 3], budget, { rounds, epochsPerRound: 1, externalVerifier: 'oracle' }, []);
    const early = summary.comparison.pairedDeltaVsNone.early!; // differences 0.05, 0.06, 0.04
    expect(early.seeds).toBe(3);
    expect(early.mean).toBeCloseTo(0.05, 12);
    expect(early.sd).toBeCloseTo(0.01, 12);
    expect(early.se).toBeCloseTo(0.01 / Math.sqrt(3), 12);
    const late = summary.comparison.pairedDeltaVsNone.late!; // differences −0.10, 0.10, 0.05
    expect(late.mean).toBeCloseTo(0.05 / 3, 12);
    expect(late.sd).toBeCloseTo(Math.sqrt(((-0.1 - 0.05 / 3) ** 2 + (0.1 - 0.05 / 3) ** 2 + (0.05 - 0.05 / 3) ** 2) / 2), 12);
    const table = formatCrossTable(summary);
    expect(table).toMatch(/^early +3 .* \+5\.0 ± 0\.6 /m);
    expect(table).toMatch(/more than 2 standard errors from 0 for: early$/m); // late's mean is positive but within noise
    // the report draws the same predictions (from the fitted start, as the summary)
    writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary));
    const curves = crossData(readCross(dir)).curves;
    for (const arm of ['none', 'early', 'late']) {
      expect(curves.filter((c) => c.arm === arm && c.source === 'theory').at(-1)!.value).toBeCloseTo(
        summary.arms[arm].predictedFinalSolverUncertainty,
        4,
      );
    }
  });

  it('recovers a negative γ (external picks that raise U_v and U_s) instead of clamping it to 0', () => {
    const arms = parseArms(['none,early,uniform,late'], rounds, budget);
    const q = identifiableFromPhysical(truth);
    const row = (t: number, sv: number, v: number) =>
      ({ t, round: t, solverUncertainty: sv, verifierUncertainty: v, gap: sv - v }) as MetricsRecord;
    const runs: Record<string, FinishedRun[]> = {
      none: [
        { seed: 1, metrics: Array.from({ length: rounds + 1 }, (_, i) => closedForm(q, i)).map((p, i) => row(i, p.solver, p.verifier)) },
      ],
    };
    for (const name of ['early', 'uniform', 'late'] as const) {
      const sim = simulateCrossImprovement({ ...truth, gamma: -0.5, rounds, fractions: allocationFractions(name, rounds) });
      runs[name] = [{ seed: 1, metrics: sim.t.map((t, i) => row(t, sim.solver[i], sim.verifier[i])) }];
    }
    const { gamma, predicted, theory } = crossTheory(runs, arms, budget, rounds, 1);
    expect(theory.gammaBudget).toBeCloseTo(-0.5, 4);
    expect(gamma).toBeCloseTo(-0.5 / budget, 6);
    for (const name of ['early', 'uniform', 'late'])
      expect(predicted[name]).toBeCloseTo(runs[name][0].metrics.at(-1)!.solverUncertainty, 4);
    expect(predicted.late!).toBeGreaterThan(predicted.none!); // less certain than without external verification
    // the simulation refuses a γ that would make some 1 + γη_t ≤ 0
    expect(() => simulateCrossImprovement({ ...truth, gamma: -2, rounds, fractions: allocationFractions('early', rounds) })).toThrow(
      /1 \+ γη in round 1 is 0/,
    );
  });

  it('without a usable arm besides the base, γ is not fitted (NaN) and says why', () => {
    const arms = parseArms(['none'], rounds, budget);
    const { gamma, theory } = crossTheory({ none: syntheticRuns().none! }, arms, budget, rounds, 1);
    expect(gamma).toBeNaN();
    expect(theory.regime.explanation).toMatch(/no arm with external verification/);
  });

  it('summarizes seeds from the arm directories (mean ± sd), skips unfinished runs, and the report reads the result', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svgap-cross-sum-'));
    const arms = parseArms(['none,early,uniform,late'], rounds, budget);
    const runs = syntheticRuns(0.01);
    const accuracy: Record<string, number[]> = { none: [0.5], early: [0.6, 0.7], uniform: [0.62, 0.66], late: [0.55, 0.61] };
    for (const arm of arms) {
      for (const seed of [1, 2]) {
        const runDir = join(dir, `${arm.name}-seed${seed}`);
        mkdirSync(runDir, { recursive: true });
        const base = runs[arm.name][Math.min(seed, runs[arm.name].length) - 1].metrics;
        const metrics = base.map((m, i) => ({
          ...m,
          testAccuracy: i === base.length - 1 ? (accuracy[arm.name][seed - 1] ?? 0.9) : 0.4,
          externalQueries: Number.isInteger(m.round) && m.round > 0 ? arm.perRound[m.round - 1] : 0,
          timing: { round: 2 },
        }));
        writeFileSync(join(runDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join(''));
        // none's second seed never finished: it must not count
        const finished = !(arm.name === 'none' && seed === 2);
        writeFileSync(
          join(runDir, 'run.json'),
          JSON.stringify({ options: {}, ...(finished ? { finishedAt: '2025-01-01T00:00:00Z' } : {}) }),
        );
      }
    }
    const summary: CrossSummary = summarizeCross(dir, arms, [1, 2], budget, { rounds, epochsPerRound: 1, externalVerifier: 'oracle' }, []);
    expect(summary.arms.none!.seedsFinished).toBe(1);
    expect(summary.arms.none!.finalTestAccuracy).toBeCloseTo(0.5, 12);
    expect(summary.arms.none!.finalTestAccuracySd).toBeNaN();
    expect(summary.arms.early!.finalTestAccuracy).toBeCloseTo(0.65, 12);
    expect(summary.arms.early!.finalTestAccuracySd).toBeCloseTo(Math.SQRT2 * 0.05, 12); // sample sd of {0.6, 0.7}
    expect(summary.arms.early!.initialTestAccuracy).toBeCloseTo(0.4, 12);
    expect(summary.arms.late!.externalQueriesPerRound).toEqual([0, 0, 0, 0, 10, 10]);
    expect(summary.arms.uniform!.externalQueries).toBe(budget);
    const earlyFinals = runs.early!.map((r) => r.metrics.at(-1)!.solverUncertainty);
    expect(summary.arms.early!.finalSolverUncertainty).toBeCloseTo((earlyFinals[0] + earlyFinals[1]) / 2, 12);
    expect(summary.arms.early!.wallSeconds).toBeCloseTo(2 * (rounds + 1) * 2, 12);
    expect(summary.gamma).toBeCloseTo(gammaPerQuery, 5);
    expect(summary.comparison.deltaVsNone.early).toBeCloseTo(0.15, 12);
    expect(summary.comparison.beatsNone).toEqual({ early: true, uniform: true, late: true });
    // paired by seed: none finished only seed 1, so one pair per arm (no sd)
    expect(summary.arms.early!.finishedSeeds).toEqual([1, 2]);
    expect(summary.arms.none!.finishedSeeds).toEqual([1]);
    expect(summary.comparison.pairedDeltaVsNone.early!.seeds).toBe(1);
    expect(summary.comparison.pairedDeltaVsNone.early!.mean).toBeCloseTo(0.6 - 0.5, 12);
    expect(summary.comparison.pairedDeltaVsNone.late!.mean).toBeCloseTo(0.55 - 0.5, 12);
    expect(summary.comparison.pairedDeltaVsNone.early!.sd).toBeNaN();
    expect(summary.comparison.allocationSpread).toBeCloseTo(0.65 - 0.58, 12);
    writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary));
    // the report module reads the same directory; its theory curves end at the summary's predictions
    const data = crossData(readCross(dir));
    expect(data.bars.map((b) => b.arm)).toEqual(['none', 'early', 'uniform', 'late']);
    for (const arm of ['none', 'early', 'uniform', 'late']) {
      const theoryCurve = data.curves.filter((c) => c.arm === arm && c.source === 'theory');
      expect(theoryCurve.at(-1)!.value).toBeCloseTo(summary.arms[arm].predictedFinalSolverUncertainty, 4);
    }
  });
});

describe('micro cross run', () => {
  let full: string;
  let fullLines: string[];

  beforeAll(async () => {
    full = join(mkdtempSync(join(tmpdir(), 'svgap-cross-full-')), 'cross');
    fullLines = [];
    await runCross(microCross(full, { report: true }), { log: (l) => fullLines.push(l) });
  });

  it('runs every arm from the same start with exact external counts; writes summary.json, the table and the report', () => {
    const summary = JSON.parse(readFileSync(join(full, 'summary.json'), 'utf8'));
    expect(summary.budget).toBe(3);
    expect(summary.externalSelect).toBe('random');
    expect(summary).toHaveProperty('gamma');
    expect(summary.failed).toEqual([]);
    expect(Object.keys(summary.arms)).toEqual(['none', 'early', 'uniform', 'late']);
    const expected: Record<string, number[]> = { none: [0, 0, 0], early: [3, 0, 0], uniform: [1, 1, 1], late: [0, 0, 3] };
    const metrics: Record<string, MetricsRecord[]> = {};
    for (const [arm, perRound] of Object.entries(expected)) {
      const s = summary.arms[arm];
      for (const key of [
        'initialTestAccuracy',
        'finalTestAccuracy',
        'finalTestAccuracySd',
        'finalSolverUncertainty',
        'finalVerifierUncertainty',
        'externalQueries',
        'predictedFinalSolverUncertainty',
      ])
        expect(s, `${arm}.${key}`).toHaveProperty(key);
      metrics[arm] = readMetrics(join(full, arm));
      expect(externalPerRoundFromSamples(join(full, arm), 3), arm).toEqual(perRound); // never more than the budget, exactly as allocated
      expect(s.externalQueriesPerRound).toEqual(perRound);
      expect(s.externalQueries).toBe(perRound.reduce((a, b) => a + b, 0));
      expect(s.finalTestAccuracy).toBe(metrics[arm].at(-1)!.testAccuracy);
      expect(s.finalSolverUncertainty).toBe(metrics[arm].at(-1)!.solverUncertainty);
      expect(s.finalTestAccuracySd).toBeNull(); // one seed
      expect(strip(metrics[arm][0])).toEqual(strip(metrics.none![0])); // the same starting model and seed
      const run = JSON.parse(readFileSync(join(full, arm, 'run.json'), 'utf8'));
      expect(run.finishedAt).toBeDefined();
      expect(run.external).toEqual(arm === 'none' ? null : { verifier: 'oracle', budget: 3, allocation: arm, select: 'random' });
    }
    // late spends nothing in rounds 1–2, so until then it is the none run, point for point
    const upTo2 = (ms: MetricsRecord[]) => ms.filter((m) => m.round <= 2).map(strip);
    expect(upTo2(metrics.late!)).toEqual(upTo2(metrics.none!));
    expect(readFileSync(join(full, 'late', 'samples', 'round-2.jsonl'), 'utf8')).toBe(
      readFileSync(join(full, 'none', 'samples', 'round-2.jsonl'), 'utf8'),
    );
    const table = fullLines.join('\n');
    expect(table).toMatch(/budget M = 3 external queries per run \(oracle, random questions\), 3 rounds/);
    for (const arm of ['none', 'early', 'uniform', 'late']) expect(table).toMatch(new RegExp(`^${arm} +1 `, 'm'));
    expect(table).toMatch(/Prop\. 5\.1|theory: no prediction/);
    expect(existsSync(join(full, 'report', 'index.html'))).toBe(true);
    expect(readFileSync(join(full, 'report', 'index.html'), 'utf8')).toContain('Cross-improvement');
  });

  it('re-running with --final-test-size measures each finished arm once on that many test questions, and the summary uses it', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-cross-final-')), 'cross');
    cpSync(full, out, { recursive: true });
    const arms = ['none', 'early', 'uniform', 'late'];
    const metricsBefore = arms.map((arm) => readFileSync(join(out, arm, 'metrics.jsonl'), 'utf8'));
    const lines: string[] = [];
    const { summary } = await runCross(microCross(out, { finalTestSize: 6 }), { log: (l) => lines.push(l) });
    for (const arm of arms) expect(lines).toContain(`[${arm} seed 1] finished already: queued for its final test on 6 questions`);
    expect(arms.map((arm) => readFileSync(join(out, arm, 'metrics.jsonl'), 'utf8'))).toEqual(metricsBefore);
    expect(summary.finalTestSize).toBe(6);
    for (const arm of arms) {
      const finalTest = JSON.parse(readFileSync(join(out, arm, 'final-test.json'), 'utf8'));
      expect(finalTest.testSize).toBe(6);
      expect(summary.arms[arm].finalTestAccuracy).toBe(finalTest.accuracy);
    }
    expect(lines.join('\n')).toMatch(/final test accuracy on 6 test questions/);
    // the micro model answers nothing right, so mark early's final test by hand: the summary reads it from the file
    writeFileSync(join(out, 'early', 'final-test.json'), JSON.stringify({ testSize: 6, accuracy: 0.5, correct: '111000' }));
    const again: string[] = [];
    const { summary: reread } = await runCross(microCross(out, { finalTestSize: 6 }), { log: (l) => again.push(l) });
    for (const arm of arms) expect(again).toContain(`[${arm} seed 1] finished already: skipping ${join(out, arm)}`);
    expect(reread.arms.early!.finalTestAccuracy).toBe(0.5);
    expect(reread.arms.none!.finalTestAccuracy).toBe(summary.arms.none!.finalTestAccuracy);
  });

  it('re-running skips finished arms, resumes a killed arm to the same metrics, records a damaged arm as failed', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-cross-resume-')), 'cross');
    const options = microCross(out, { arms: ['none,late,early'] });
    // a damaged arm directory of the same experiment: it fails, the others go on
    const early = parseArms(['early'], 3, 3)[0];
    mkdirSync(join(out, 'early'), { recursive: true });
    writeFileSync(join(out, 'early', 'run.json'), JSON.stringify({ options: armOptions(options, early, 1, join(out, 'early')) }));
    writeFileSync(join(out, 'early', 'metrics.jsonl'), 'not json\n');

    const controller = new AbortController();
    let lateRound3 = false;
    await expect(
      runCross(options, {
        signal: controller.signal,
        log: (line) => {
          if (line.startsWith('[late seed 1] t=2.00')) lateRound3 = true;
        },
        progress: (stage) => {
          if (lateRound3 && stage === 'sample') controller.abort(); // killed in round 3 of late, after its sampling
        },
      }),
    ).rejects.toThrow(/aborted/);
    expect(readMetrics(join(out, 'late')).map((m) => m.t)).toEqual([0, 1, 2]);
    expect(JSON.parse(readFileSync(join(out, 'none', 'run.json'), 'utf8')).finishedAt).toBeDefined();
    expect(JSON.parse(readFileSync(join(out, 'late', 'run.json'), 'utf8')).finishedAt).toBeUndefined();
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
    const noneRunJson = readFileSync(join(out, 'none', 'run.json'), 'utf8');

    const lines: string[] = [];
    const { summary } = await runCross(options, { log: (l) => lines.push(l) });
    expect(lines).toContain(`[none seed 1] finished already: skipping ${join(out, 'none')}`);
    expect(lines).toContain(`[late seed 1] resuming ${join(out, 'late')}`);
    expect(readFileSync(join(out, 'none', 'run.json'), 'utf8')).toBe(noneRunJson);
    expect(readMetrics(join(out, 'late')).map(strip)).toEqual(readMetrics(join(full, 'late')).map(strip));
    expect(readMetrics(join(out, 'none')).map(strip)).toEqual(readMetrics(join(full, 'none')).map(strip));
    expect(Object.keys(summary.arms)).toEqual(['none', 'late']);
    expect(summary.failed).toHaveLength(1);
    expect(summary.failed[0]).toMatchObject({ arm: 'early', seed: 1, dir: join(out, 'early') });
    expect(summary.failed[0].error).toMatch(/metrics\.jsonl:1: not valid JSON/);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).failed[0].arm).toBe('early');
    expect(lines.join('\n')).toMatch(/FAILED early \(seed 1/);

    // the same --out with other settings is refused before any work
    await expect(runCross({ ...options, sft: { ...options.sft, lr: 1e-3 } })).rejects.toThrow(
      /none\/run\.json: this arm was run with other settings \(--lr: 0\.002 there, 0\.001 now\)/,
    );
  });

  it('--jobs 2 runs the arms in child processes to the same metrics; a failing child is recorded and the others go on', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-cross-jobs-')), 'cross');
    const options = microCross(out, { arms: ['none,early,late'], jobs: 2 });
    const early = parseArms(['early'], 3, 3)[0];
    mkdirSync(join(out, 'early'), { recursive: true });
    writeFileSync(join(out, 'early', 'run.json'), JSON.stringify({ options: armOptions(options, early, 1, join(out, 'early')) }));
    writeFileSync(join(out, 'early', 'metrics.jsonl'), 'not json\n');
    const lines: string[] = [];
    const { summary } = await runCross(options, { log: (l) => lines.push(l) });
    for (const arm of ['none', 'late']) {
      expect(readMetrics(join(out, arm)).map(strip), arm).toEqual(readMetrics(join(full, arm)).map(strip));
      expect(
        lines.some((l) => l.startsWith(`[${arm} seed 1] t=3.00`)),
        `${arm} logs come back`,
      ).toBe(true);
    }
    expect(summary.failed).toHaveLength(1);
    expect(summary.failed[0]).toMatchObject({ arm: 'early', seed: 1, dir: join(out, 'early') });
    expect(summary.failed[0].error).toMatch(/metrics\.jsonl:1: not valid JSON/);
    expect(Object.keys(summary.arms)).toEqual(['none', 'late']);
    await expect(runCross({ ...options, jobs: 0 })).rejects.toThrow(/--jobs: must be a positive integer/);
  });
});
