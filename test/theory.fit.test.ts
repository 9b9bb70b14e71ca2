import { describe, expect, it } from 'vitest';
import {
  closedForm,
  compareLaws,
  earlyPrediction,
  fitLaw,
  fitSharedRate,
  identifiableFromPhysical,
  linearityCheck,
  linearPotential,
  predictShared,
  simulateDynamics,
  type Interval,
  type PhysicalParams,
  type Trajectory,
} from '../src/theory/index.js';
import { makeRng } from '../src/theory/numeric.js';

const physical: PhysicalParams = { alpha: 0.6, beta: 0.24, k: 1, b: 0.04, solver0: 1, verifier0: 0.4 };
const truth = identifiableFromPhysical(physical);
const epochs = Array.from({ length: 20 }, (_, i) => 0.5 * (i + 1)); // like Figure 4: t = 0.5 … 10

/** Noiseless trajectory from the ODE integrated numerically (not from the closed form). */
function odeTrajectory(p: PhysicalParams, t: number[]): Trajectory {
  const run = simulateDynamics({ ...p, potential: linearPotential(p.k, p.b) }, [0, ...t], 1e-3);
  return { t, solver: run.solver.slice(1), verifier: run.verifier.slice(1) };
}

function withNoise(tr: Trajectory, sigma: number, rng: { normal: () => number }): Trajectory {
  return { t: tr.t, solver: tr.solver.map((v) => v + sigma * rng.normal()), verifier: tr.verifier.map((v) => v + sigma * rng.normal()) };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('shared-rate fit', () => {
  it('recovers the generating parameters of noiseless ODE trajectories to 1e-6 relative', () => {
    const sets: PhysicalParams[] = [
      physical,
      { alpha: 3, beta: 1, k: 0.02, b: 0.1, solver0: 40, verifier0: 30 }, // slow rate, large U (nats)
      { alpha: 0.3, beta: 0.5, k: -1.5, b: -0.1, solver0: 2, verifier0: 2.5 }, // negative gap, α < β
    ];
    for (const p of sets) {
      const q = identifiableFromPhysical(p);
      const span = 6 / q.rate; // observe about six time constants, starting late
      const t = Array.from({ length: 25 }, (_, i) => span * (0.05 + i / 24));
      const fit = fitSharedRate(odeTrajectory(p, t));
      expect(rel(fit.rate.value, q.rate)).toBeLessThan(1e-6);
      expect(rel(fit.limits.solver.value, q.solverLimit)).toBeLessThan(1e-6);
      expect(rel(fit.limits.verifier.value, q.verifierLimit)).toBeLessThan(1e-6);
      expect(rel(fit.limits.gap.value, p.b / p.k)).toBeLessThan(1e-6);
      // amplitudes refer to the first data point
      expect(fit.origin).toBe(t[0]);
      expect(rel(fit.amplitudes.solver.value, q.solverAmplitude * Math.exp(-q.rate * t[0]))).toBeLessThan(1e-6);
      expect(rel(fit.amplitudes.verifier.value, q.verifierAmplitude * Math.exp(-q.rate * t[0]))).toBeLessThan(1e-6);
      expect(rel(fit.alphaOverBeta, p.alpha / p.beta)).toBeLessThan(1e-6);
      expect(fit.r2.solver).toBeGreaterThan(1 - 1e-12);
      expect(fit.warnings).toEqual([]);
      // predictShared reproduces the closed form
      for (const ti of [0, t[3], 2 * span]) expect(predictShared(fit, ti).gap).toBeCloseTo(closedForm(q, ti).gap, 8);
    }
  });

  it('95% intervals cover the true values in at least 90% of 200 seeded noisy trials', () => {
    const clean = odeTrajectory(physical, epochs);
    const rng = makeRng(1);
    const targets: [string, (f: ReturnType<typeof fitSharedRate>) => Interval, number][] = [
      ['rate', (f) => f.rate, truth.rate],
      ['solver limit', (f) => f.limits.solver, truth.solverLimit],
      ['verifier limit', (f) => f.limits.verifier, truth.verifierLimit],
      ['gap limit', (f) => f.limits.gap, physical.b / physical.k],
      ['solver amplitude', (f) => f.amplitudes.solver, truth.solverAmplitude * Math.exp(-truth.rate * epochs[0])], // at the first point
      ['verifier amplitude', (f) => f.amplitudes.verifier, truth.verifierAmplitude * Math.exp(-truth.rate * epochs[0])],
    ];
    const hits = targets.map(() => 0);
    const trials = 200;
    for (let trial = 0; trial < trials; trial++) {
      const fit = fitSharedRate(withNoise(clean, 0.01, rng));
      targets.forEach(([, pick, value], j) => {
        const interval = pick(fit);
        if (interval.lower <= value && value <= interval.upper) hits[j]++;
      });
    }
    const coverage = Object.fromEntries(targets.map(([name], j) => [name, hits[j] / trials]));
    console.log('95% interval coverage over 200 trials:', coverage);
    for (const c of Object.values(coverage)) expect(c).toBeGreaterThanOrEqual(0.9);
  });

  it('bootstrap intervals are seeded, deterministic, and agree with the Wald errors in size', () => {
    const noisy = withNoise(odeTrajectory(physical, epochs), 0.01, makeRng(3));
    const wald = fitSharedRate(noisy);
    const boot = fitSharedRate(noisy, { bootstrap: 300, seed: 5 });
    const again = fitSharedRate(noisy, { bootstrap: 300, seed: 5 });
    expect(boot.intervalMethod).toBe('bootstrap');
    expect(again.limits.solver).toEqual(boot.limits.solver);
    expect(boot.rate.value).toBe(wald.rate.value);
    for (const [a, b] of [
      [boot.rate, wald.rate],
      [boot.limits.solver, wald.limits.solver],
      [boot.limits.gap, wald.limits.gap],
    ]) {
      expect(a.stderr / b.stderr).toBeGreaterThan(0.6);
      expect(a.stderr / b.stderr).toBeLessThan(1.5);
      expect(a.lower).toBeLessThan(a.value);
      expect(a.upper).toBeGreaterThan(a.value);
    }
  });

  it('R² of the gap uses a measured gap series up to a constant offset', () => {
    const noisy = withNoise(odeTrajectory(physical, epochs), 0.01, makeRng(4));
    const plain = fitSharedRate(noisy);
    const shifted = fitSharedRate({ ...noisy, gap: noisy.solver.map((s, i) => s - noisy.verifier[i] - 0.123) });
    expect(shifted.r2.gap).toBeCloseTo(plain.r2.gap, 12);
    const fitted = noisy.t.map((t) => predictShared(plain, t).gap);
    const data = noisy.solver.map((s, i) => s - noisy.verifier[i]);
    const mean = data.reduce((a, b) => a + b) / data.length;
    const r2 = 1 - data.reduce((a, g, i) => a + (g - fitted[i]) ** 2, 0) / data.reduce((a, g) => a + (g - mean) ** 2, 0);
    expect(plain.r2.gap).toBeCloseTo(r2, 12);
  });

  it('rejects malformed trajectories with messages that name the problem', () => {
    expect(() => fitSharedRate({ t: [0, 1], solver: [1, 0.5], verifier: [0.5, 0.4] })).toThrow(/2 time points, need at least 3/);
    expect(() => fitSharedRate({ t: [0, 2, 1, 3], solver: [1, 0.8, 0.7, 0.6], verifier: [0.5, 0.4, 0.3, 0.2] })).toThrow(
      /t\[2\] = 1 follows t\[1\] = 2/,
    );
    expect(() => fitSharedRate({ t: [0, 1, 2, 3], solver: [1, NaN, 0.7, 0.6], verifier: [0.5, 0.4, 0.3, 0.2] })).toThrow(/solver\[1\]/);
    expect(() => fitSharedRate({ t: [0, 1, 2], solver: [1, 0.8], verifier: [0.5, 0.4, 0.3] })).toThrow(/same length/);
  });

  it('warns when the data show no relaxation (straight lines)', () => {
    const t = [0, 1, 2, 3, 4, 5];
    const fit = fitSharedRate({ t, solver: t.map((x) => 2 - 0.1 * x), verifier: t.map((x) => 1 - 0.05 * x) });
    expect(fit.warnings.join(' ')).toMatch(/edge of its search range/);
  });
});

describe('alternative laws', () => {
  const t = Array.from({ length: 30 }, (_, i) => 0.4 * i);
  const noise = (tr: Trajectory, seed: number) => withNoise(tr, 1e-3, makeRng(seed));

  it('each law recovers its own noiseless data exactly', () => {
    const sep: Trajectory = {
      t,
      solver: t.map((x) => 0.9 * Math.exp(-0.5 * x) + 0.2),
      verifier: t.map((x) => 0.3 * Math.exp(-0.2 * x) + 0.1),
    };
    const fs = fitLaw(sep, 'separate');
    expect(fs.parameters.solverRate).toBeCloseTo(0.5, 7);
    expect(fs.parameters.verifierRate).toBeCloseTo(0.2, 7);
    expect(fs.limits.verifier).toBeCloseTo(0.1, 7);
    const two: Trajectory = {
      t,
      solver: t.map((x) => 0.6 * Math.exp(-0.2 * x) + 0.4 * Math.exp(-1.5 * x) + 0.3),
      verifier: t.map((x) => 0.2 * Math.exp(-0.2 * x) - 0.1 * Math.exp(-1.5 * x) + 0.2),
    };
    const ft = fitLaw(two, 'twoexp');
    expect(ft.rss).toBeLessThan(1e-14);
    expect(ft.parameters.rate1).toBeCloseTo(0.2, 5);
    expect(ft.parameters.rate2).toBeCloseTo(1.5, 5);
    const pow: Trajectory = {
      t,
      solver: t.map((x) => 0.8 * Math.pow(1 + x / 2, -0.7) + 0.1),
      verifier: t.map((x) => 0.3 * Math.pow(1 + x / 2, -0.7) + 0.05),
    };
    const fp = fitLaw(pow, 'power');
    expect(fp.rss).toBeLessThan(1e-14);
    expect(fp.parameters.exponent).toBeCloseTo(0.7, 5);
    expect(fp.parameters.timescale).toBeCloseTo(2, 4);
    expect(fp.predict(50).solver).toBeCloseTo(0.8 * Math.pow(26, -0.7) + 0.1, 6);
  });

  it('AIC picks the generating law and BIC prefers the smaller shared law on shared-rate data', () => {
    const shared = noise(odeTrajectory(physical, t.slice(1)), 10);
    const cs = compareLaws(shared);
    expect(cs.bestByBic).toBe('shared');
    const fits = Object.fromEntries(cs.fits.map((f) => [f.law, f]));
    expect(fits.shared.aic).toBeLessThan(fits.power.aic);
    expect(cs.fits.reduce((s, f) => s + f.aicWeight, 0)).toBeCloseTo(1, 12);

    const sep = noise(
      { t, solver: t.map((x) => 0.9 * Math.exp(-0.5 * x) + 0.2), verifier: t.map((x) => 0.3 * Math.exp(-0.2 * x) + 0.1) },
      11,
    );
    const c2 = compareLaws(sep, ['shared', 'separate']);
    expect(c2.bestByAic).toBe('separate');
    expect(c2.fits[1].deltaAic).toBeGreaterThan(10);

    const pow = noise(
      {
        t,
        solver: t.map((x) => 0.8 * Math.pow(1 + x / 0.5, -0.6) + 0.1),
        verifier: t.map((x) => 0.3 * Math.pow(1 + x / 0.5, -0.6) + 0.05),
      },
      12,
    );
    expect(compareLaws(pow).bestByAic).toBe('power');
  });

  it('skips laws that need more points, and says why', () => {
    const tiny = odeTrajectory(physical, [1, 2, 3, 4]);
    const c = compareLaws(tiny);
    expect(c.skipped).toEqual([{ law: 'twoexp', reason: 'needs at least 5 time points, has 4' }]);
    expect(() => fitLaw(tiny, 'twoexp')).toThrow(/twoexp law: 4 time points, need at least 5/);
  });
});

describe('early prediction', () => {
  it('forecasts held-out points and limits exactly on noiseless data', () => {
    const tr = odeTrajectory(physical, epochs);
    const early = earlyPrediction(tr, 6);
    expect(early.heldOut).toHaveLength(14);
    expect(early.rmse.solver).toBeLessThan(1e-8);
    expect(early.rmse.gap).toBeLessThan(1e-8);
    expect(rel(early.predictedLimits.solver, truth.solverLimit)).toBeLessThan(1e-6);
    expect(early.shared?.limits.solver.lower).toBeLessThanOrEqual(early.shared!.limits.solver.upper);
  });

  it('reports larger errors for a wrong law and rejects impossible --first', () => {
    const tr = withNoise(odeTrajectory(physical, epochs), 0.005, makeRng(8));
    const early = earlyPrediction(tr, 8);
    expect(early.rmse.solver).toBeGreaterThan(0);
    expect(early.maxAbsError.solver).toBeGreaterThanOrEqual(early.rmse.solver);
    expect(() => earlyPrediction(tr, 20)).toThrow(/leaves no held-out points/);
    expect(() => earlyPrediction(tr, 2)).toThrow(/fewer than the 3 points/);
    expect(() => earlyPrediction(tr, 4, 'twoexp')).toThrow(/fewer than the 5 points/);
  });
});

describe('linearity check (Figure 2)', () => {
  it('gives an exact line for exponential data: slope (2/h)tanh(rh/2), zero crossing at G∞', () => {
    const h = 0.5;
    const tr = odeTrajectory(physical, epochs);
    const check = linearityCheck(tr);
    expect(check.points).toHaveLength(19);
    expect(check.r2).toBeGreaterThan(1 - 1e-10);
    expect(check.slope).toBeCloseTo((2 / h) * Math.tanh((truth.rate * h) / 2), 8);
    expect(check.gapAtZeroRate).toBeCloseTo(physical.b / physical.k, 8);
    // −dU_s/dt = kαG − αb: slope ∝ kα with the same finite-difference factor
    expect(check.solver.slope / check.slope).toBeCloseTo(physical.alpha / (physical.alpha - physical.beta), 8);
  });

  it('is not a line for a non-linear potential', () => {
    const p = physical;
    const run = simulateDynamics({ ...p, potential: (g) => 3 * g * g * g - 0.001 }, [0, ...epochs], 1e-3);
    const check = linearityCheck({ t: epochs, solver: run.solver.slice(1), verifier: run.verifier.slice(1) });
    expect(check.r2).toBeLessThan(0.99);
  });
});
