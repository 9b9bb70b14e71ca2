// The fit does not depend on where t starts (issue 18, defect 11): amplitudes and Cor. 3.2 refer to the first point.
import { describe, expect, it } from 'vitest';
import { analyseTrajectory, compareLaws, fitSharedRate, formatAnalysis, predictShared } from '../src/theory/index.js';
import { makeRng } from '../src/theory/numeric.js';

const relax = (t: number[], rate: number, amplitude: number, limit: number) => t.map((x) => amplitude * Math.exp(-rate * x) + limit);
const range = (n: number, step: number, from = 0) => Array.from({ length: n }, (_, i) => from + step * i);

describe('the fit does not depend on where t starts (defect 11)', () => {
  const t = range(13, 0.5);
  const rng = makeRng(3);
  const solver = relax(t, 0.37, 3.5, 2).map((v) => v + 0.02 * rng.normal());
  const verifier = relax(t, 0.37, 2.8, 0.5).map((v) => v + 0.02 * rng.normal());

  it('shifting t by 0, 100 and 1000 gives the same rate, limits, amplitudes, intervals and R²', () => {
    const fits = [0, 100, 1000].map((shift) => ({ shift, fit: fitSharedRate({ t: t.map((x) => x + shift), solver, verifier }) }));
    const base = fits[0].fit;
    for (const { shift, fit } of fits) {
      expect(fit.origin).toBe(shift);
      for (const [a, b] of [
        [fit.rate, base.rate],
        [fit.limits.solver, base.limits.solver],
        [fit.limits.verifier, base.limits.verifier],
        [fit.limits.gap, base.limits.gap],
        [fit.amplitudes.solver, base.amplitudes.solver],
        [fit.amplitudes.gap, base.amplitudes.gap],
      ]) {
        expect(Number.isFinite(a.lower) && Number.isFinite(a.upper)).toBe(true);
        for (const key of ['value', 'lower', 'upper', 'stderr'] as const) expect(a[key]).toBeCloseTo(b[key], 9);
      }
      expect(fit.r2.solver).toBeCloseTo(base.r2.solver, 12);
      expect(fit.r2.verifier).toBeCloseTo(base.r2.verifier, 12);
      expect(fit.r2.gap).toBeCloseTo(base.r2.gap, 12);
      // Cor. 3.2 in the data's own time: after the first point, by the same amount
      const epsilon = 0.01 * Math.abs(base.amplitudes.gap.value);
      expect(fit.roundsToConverge(epsilon) - shift).toBeCloseTo(base.roundsToConverge(epsilon), 9);
      expect(fit.roundsToConverge(epsilon)).toBeGreaterThan(fit.origin);
      expect(predictShared(fit, 3 + shift).solver).toBeCloseTo(predictShared(base, 3).solver, 9);
      expect(fit.warnings).toEqual([]);
    }
  });

  it('the other laws and the CLI summary are shift-invariant too', () => {
    const shifted = { t: t.map((x) => x + 1000), solver, verifier };
    const a = compareLaws({ t, solver, verifier });
    const b = compareLaws(shifted);
    for (const law of ['shared', 'separate', 'twoexp', 'power'] as const) {
      const fa = a.fits.find((f) => f.law === law)!;
      const fb = b.fits.find((f) => f.law === law)!;
      expect(fb.rss, law).toBeCloseTo(fa.rss, 9);
      expect(fb.limits.solver, law).toBeCloseTo(fa.limits.solver, 6);
    }
    const summary = analyseTrajectory(shifted);
    expect(summary.roundsToConverge.t).toBeGreaterThan(1000);
    expect(formatAnalysis('shifted', summary)).toMatch(/amplitudes at t=1000\.000 \(the first point\)/);
  });
});
