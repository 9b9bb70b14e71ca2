// The theory inside the loop: at each evaluation point from the 4th on, the shared-rate fit of the trajectory so far
// and what it predicts (limits, Cor. 3.2's epochs to convergence, the U_s improvement still to come).
import type { FitFlagCode } from './flags.js';
import { fitSharedRate, predictShared } from './fit.js';

export interface Forecast {
  solverLimit: { value: number; lower: number; upper: number };
  verifierLimit: { value: number; lower: number; upper: number };
  gapLimit: { value: number; lower: number; upper: number };
  rate: number;
  roundsToConverge: number; // Cor. 3.2: further epochs until |G − G∞| < 1 % of the initial gap
  remainingSolverImprovement: number; // U_s(now) − U_s∞ predicted by the fit
  flags?: FitFlagCode[]; // why the fit cannot be trusted (theory's fitFlags), when it cannot
}

/** The forecast from the points so far (t, U_s, U_v, G), or the reason the fit failed. */
export function forecastFrom(
  points: { t: number; solverUncertainty: number; verifierUncertainty: number; gap: number }[],
): Forecast | { error: string } {
  try {
    const fit = fitSharedRate({
      t: points.map((m) => m.t),
      solver: points.map((m) => m.solverUncertainty),
      verifier: points.map((m) => m.verifierUncertainty),
    });
    const now = points[points.length - 1];
    const delta = Math.abs(predictShared(fit, now.t).gap - fit.limits.gap.value);
    const epsilon = 0.01 * Math.max(Math.abs(points[0].gap - fit.limits.gap.value), 1e-12);
    const interval = (i: { value: number; lower: number; upper: number }) => ({ value: i.value, lower: i.lower, upper: i.upper });
    return {
      solverLimit: interval(fit.limits.solver),
      verifierLimit: interval(fit.limits.verifier),
      gapLimit: interval(fit.limits.gap),
      rate: fit.rate.value,
      roundsToConverge: delta <= epsilon ? 0 : Math.log(delta / epsilon) / fit.rate.value, // Cor. 3.2 from the current point
      remainingSolverImprovement: predictShared(fit, now.t).solver - fit.limits.solver.value,
      ...(fit.flags.length ? { flags: fit.flags.map((f) => f.code) } : {}),
    };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
