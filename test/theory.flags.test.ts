// Degenerate shared-rate fits are flagged: each flag on a trajectory made to trigger it, none on the paper's Figure 4.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  analyseTrajectory,
  fitSharedRate,
  formatAnalysis,
  formatFitFlags,
  readTrajectoryFile,
  type FitFlagCode,
  type Trajectory,
} from '../src/theory/index.js';
import { makeRng } from '../src/theory/numeric.js';

const codes = (tr: Trajectory) => fitSharedRate(tr).flags.map((f) => f.code);
const relax = (t: number[], rate: number, amplitude: number, limit: number) => t.map((x) => amplitude * Math.exp(-rate * x) + limit);
const range = (n: number, step: number, from = 0) => Array.from({ length: n }, (_, i) => from + step * i);

describe('fitFlags', () => {
  it('flags nothing on a well-observed relaxation', () => {
    const t = range(13, 0.5);
    expect(codes({ t, solver: relax(t, 0.6, 3, 2), verifier: relax(t, 0.6, 2, 0.5) })).toEqual([]);
  });

  it('too-few-points: 4 points for 5 parameters', () => {
    const t = range(4, 2);
    expect(codes({ t, solver: relax(t, 0.6, 3, 2), verifier: relax(t, 0.6, 2, 0.5) })).toEqual(['too-few-points']);
  });

  it('rate-at-edge: a step at the first point, which any faster rate fits as well', () => {
    const t = range(8, 1);
    const fit = fitSharedRate({
      t,
      solver: t.map((x) => (x === 0 ? 5 : 2 + 0.02 * x)),
      verifier: t.map((x) => (x === 0 ? 3 : 1 + 0.01 * x)),
    });
    expect(fit.flags.map((f) => f.code)).toContain('rate-at-edge');
    expect(fit.atRateBound).toBe(true);
    expect(fit.warnings[0]).toMatch(/edge of its search range \[0\.0001429, 142\.9\]/);
  });

  it('rate-at-edge: straight lines, slower than any rate the search allows', () => {
    const t = range(6, 1);
    const fit = fitSharedRate({ t, solver: t.map((x) => 2 - 0.1 * x), verifier: t.map((x) => 1 - 0.05 * x) });
    expect(fit.rate.value).toBeCloseTo(fit.rateRange[0], 12);
    expect(fit.flags.map((f) => f.code)).toEqual(expect.arrayContaining(['rate-at-edge', 'negative-limit', 'limits-extrapolated']));
  });

  it('negative-limit: a 3-round run whose curves still fall almost linearly', () => {
    // like a short run of the embedded default: 7 points over 3 epochs, nearly straight, a little noise
    const t = range(7, 0.5);
    const rng = makeRng(7);
    const solver = t.map((x) => 5.6 - 0.9 * x + 0.02 * x * x + 0.01 * rng.normal());
    const verifier = t.map((x) => 3.3 - 0.7 * x + 0.01 * x * x + 0.01 * rng.normal());
    const fit = fitSharedRate({ t, solver, verifier });
    const found = fit.flags.map((f) => f.code);
    expect(fit.limits.solver.value).toBeLessThan(0); // the number stays visible ...
    expect(found).toContain('negative-limit'); // ... with the reason it cannot be trusted
    expect(found).toContain('limits-extrapolated');
    expect(fit.r2.solver).toBeGreaterThan(0.9); // a high R² says nothing here
  });

  it('limits-extrapolated: a slow relaxation seen over a fraction of its time constant', () => {
    const t = range(13, 0.5); // span 6, rate 0.05: 26 % of the relaxation inside the data
    const fit = fitSharedRate({ t, solver: relax(t, 0.05, 10, 1), verifier: relax(t, 0.05, 6, 0.5) });
    expect(fit.flags.map((f) => f.code)).toEqual(['limits-extrapolated']);
    expect(fit.warnings[0]).toMatch(/cover only 25\.9\d* % of the relaxation/);
  });

  it('limits-not-identified: noise as large as the change the data show', () => {
    const t = range(8, 1);
    const rng = makeRng(12);
    const solver = relax(t, 0.5, 1, 2).map((v) => v + 0.3 * rng.normal());
    const verifier = relax(t, 0.5, 0.5, 1).map((v) => v + 0.3 * rng.normal());
    expect(codes({ t, solver, verifier })).toEqual(['limits-not-identified', 'limits-not-identified']); // both limits
  });

  it('singular: no movement at all leaves the rate unidentified', () => {
    const t = range(6, 1);
    expect(codes({ t, solver: t.map(() => 2), verifier: t.map(() => 1) })).toContain('singular');
  });

  it('too-few-points counts the residual degrees of freedom, and 5 points are enough', () => {
    const t4 = range(4, 2);
    expect(fitSharedRate({ t: t4, solver: relax(t4, 0.6, 3, 2), verifier: relax(t4, 0.6, 2, 0.5) }).warnings[0]).toMatch(
      /^only 4 time points for 5 parameters \(3 residual degrees of freedom\)/,
    ); // 2·4 − 5 = 3
    const t5 = range(5, 2);
    expect(codes({ t: t5, solver: relax(t5, 0.6, 3, 2), verifier: relax(t5, 0.6, 2, 0.5) })).not.toContain('too-few-points');
  });

  it('negative-limit only when every data point is >= 0 (zero included), and says which limit', () => {
    const t = range(6, 1);
    // straight lines down to exactly 0: non-negative data, limits extrapolated far below 0
    const toZero = fitSharedRate({ t, solver: t.map((x) => 1 - 0.2 * x), verifier: t.map((x) => 0.5 - 0.1 * x) });
    expect(toZero.flags.map((f) => f.code)).toContain('negative-limit');
    expect(toZero.warnings.find((w) => w.startsWith('U_s∞'))).toMatch(/^U_s∞ = -[\d.]+ is negative, but an uncertainty/);
    // data that cross 0 themselves are no uncertainties: a negative limit is then no contradiction
    const t2 = range(13, 0.5);
    const crossing = fitSharedRate({ t: t2, solver: relax(t2, 0.6, 3, -1), verifier: relax(t2, 0.6, 2, -1.5) });
    expect(crossing.limits.solver.value).toBeCloseTo(-1, 6);
    expect(crossing.flags.map((f) => f.code)).not.toContain('negative-limit');
  });

  it('limits-extrapolated measures the span from the first time point, and states the numbers', () => {
    // the slow relaxation of the test above, shifted to start at t = 10: the same 25.9 % seen, 1 − e^{−0.05·6}
    const t = range(13, 0.5, 10);
    const fit = fitSharedRate({ t, solver: relax(t, 0.05, 10, 1), verifier: relax(t, 0.05, 6, 0.5) });
    expect(fit.flags.map((f) => f.code)).toEqual(['limits-extrapolated']);
    // r·span = 0.3; (1 − seen)/seen = e^{−0.3}/(1 − e^{−0.3}) = 2.858
    expect(fit.warnings[0]).toMatch(/cover only 25\.92 % of the relaxation \(r·span = 0\.3\): the limits lie 2\.858× the observed change/);
  });

  it('singular and limits-not-identified say why', () => {
    const t = range(6, 1);
    expect(fitSharedRate({ t, solver: t.map(() => 2), verifier: t.map(() => 1) }).warnings.join('\n')).toMatch(
      /Jacobian is rank deficient/,
    );
    const t8 = range(8, 1);
    const rng = makeRng(12);
    const solver = relax(t8, 0.5, 1, 2).map((v) => v + 0.3 * rng.normal());
    const verifier = relax(t8, 0.5, 0.5, 1).map((v) => v + 0.3 * rng.normal());
    expect(fitSharedRate({ t: t8, solver, verifier }).warnings[0]).toMatch(
      /^U_s∞'s interval \[-?[\d.]+, -?[\d.]+\] is wider than the change the fit sees/,
    );
  });

  it('limits-not-identified compares the half-width of the interval with the change', () => {
    // enough noise for an interval wider than half the change the verifier's curve shows, narrower than twice it
    const t = range(13, 0.5);
    const rng = makeRng(3);
    const solver = relax(t, 0.6, 3, 2).map((v) => v + 1.4 * rng.normal());
    const verifier = relax(t, 0.6, 2, 0.5).map((v) => v + 1.4 * rng.normal());
    const fit = fitSharedRate({ t, solver, verifier });
    const seen = 1 - Math.exp(-fit.rate.value * 6);
    const widthOverChange = (fit.limits.verifier.upper - fit.limits.verifier.lower) / (Math.abs(fit.amplitudes.verifier.value) * seen);
    expect(widthOverChange).toBeGreaterThan(0.6); // full width > 1/2 of the change: 2 × width would be flagged
    expect(widthOverChange).toBeLessThan(2); // half-width < the change: not flagged
    expect(fit.flags.map((f) => f.code)).not.toContain('limits-not-identified');
  });

  it('formatFitFlags: nothing for no flags, one line joined by "; " otherwise', () => {
    expect(formatFitFlags([])).toBe('');
    expect(
      formatFitFlags([
        { code: 'singular', message: 'a' },
        { code: 'too-few-points', message: 'b' },
      ]),
    ).toBe('warning: a; b');
  });

  it('the flags reach the fit CLI text and JSON (analyseTrajectory / formatAnalysis)', () => {
    const t = range(4, 2);
    const analysis = analyseTrajectory({ t, solver: relax(t, 0.6, 3, 2), verifier: relax(t, 0.6, 2, 0.5) });
    expect(analysis.flags.map((f) => f.code)).toEqual(['too-few-points' as FitFlagCode]);
    expect(formatAnalysis('p', analysis)).toMatch(/warning: only 4 time points for 5 parameters/);
  });
});

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fig4 = join(process.env.SVGAP_DATA ?? join(repoRoot, '..', 'shared', 'datasets'), 'paper-fig4', 'phi4_figure4_digitized.csv');

describe.skipIf(!existsSync(fig4))('fitFlags on the paper', () => {
  it("flags none of the paper's Figure 4 panels", () => {
    const table = readTrajectoryFile(fig4, { valueCol: 'affine_uncertainty' });
    expect(Object.keys(table.panels)).toHaveLength(4);
    for (const [panel, tr] of Object.entries(table.panels)) expect(fitSharedRate(tr).warnings, panel).toEqual([]);
  });
});

describe('the flags where fits are printed', () => {
  it("the report's Figure 4 caption and fit table carry them beside the numbers", async () => {
    const { trajectoryFiguresOf } = await import('../src/report/index.js');
    const t = range(4, 2);
    const [figure4] = trajectoryFiguresOf([
      { title: 'short', trajectory: { t, solver: relax(t, 0.6, 3, 2), verifier: relax(t, 0.6, 2, 0.5) } },
    ]);
    expect(figure4.caption).toMatch(/U_s∞ = 2, .*\(warning: only 4 time points for 5 parameters/);
    const rows = figure4.tables[0].rows.filter((r) => String(r[0]).startsWith('warning'));
    expect(rows.map((r) => r[1])).toEqual([expect.stringMatching(/^only 4 time points/)]);
  });
});

describe("cross's table", () => {
  it('prints the base fit’s flags under the theory line', async () => {
    const { formatCrossTable } = await import('../src/loop/cross.js');
    const t = range(4, 1);
    const flags = fitSharedRate({ t, solver: relax(t, 0.6, 3, 2), verifier: relax(t, 0.6, 2, 0.5) }).flags;
    const summary = {
      budget: 26,
      gamma: 0.001,
      externalVerifier: 'oracle',
      externalSelect: 'random',
      rounds: 3,
      seeds: [1],
      failed: [],
      wallSeconds: 10,
      arms: {
        none: {
          seedsFinished: 1,
          initialTestAccuracy: 0.25,
          finalTestAccuracy: 0.24,
          finalTestAccuracySd: NaN,
          finalSolverUncertainty: 2,
          predictedFinalSolverUncertainty: 2.1,
          finalVerifierUncertainty: 0.5,
          externalQueries: 0,
          wallSeconds: 10,
        },
      },
      comparison: { pairedDeltaVsNone: {}, beatsNone: {}, allocationSpread: NaN, meanSeedSd: NaN },
      theory: {
        method: '',
        base: 'none',
        dynamics: { alpha: 1, beta: 0.5, k: 1, b: 0.1, rate: 0.5, r2: { solver: 1, verifier: 1, gap: 1 }, flags },
        gammaBudget: 0.026,
        outcomes: [],
        regime: { explanation: 'no arm with external verification' },
        gammaPerArm: {},
      },
    } as unknown as Parameters<typeof formatCrossTable>[0];
    expect(formatCrossTable(summary)).toMatch(
      /dynamics from arm none: r = 0\.500 per round.*\n {2}warning: only 4 time points for 5 parameters/,
    );
  });
});
