// Why a shared-rate fit may mean nothing. The fit always returns numbers (and a high R² is easy: a straight line is an
// exponential with a tiny rate and a limit far away), so every place that prints a fit prints these flags beside it.
import type { SharedRateFit, Trajectory } from './fit.js';

export type FitFlagCode =
  'too-few-points' | 'rate-at-edge' | 'negative-limit' | 'limits-extrapolated' | 'limits-not-identified' | 'singular';

export interface FitFlag {
  code: FitFlagCode;
  /** what is wrong and why the number cannot be trusted, in one sentence */
  message: string;
}

/** Fewer points than this leave under 5 residual degrees of freedom for the 5 parameters (2n − 5 < 5). */
export const MIN_POINTS_FOR_LIMITS = 5;
/** The data must show at least half of the relaxation, 1 − e^{−r·span} ≥ 1/2, or the limits are mostly extrapolation. */
export const MIN_RELAXATION_SEEN = 0.5;

const show = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));

/** The flags of a shared-rate fit of `trajectory` (empty when nothing is wrong). */
export function fitFlags(fit: SharedRateFit, trajectory: Trajectory): FitFlag[] {
  const flags: FitFlag[] = [];
  const { t } = trajectory;
  const n = t.length;
  if (n < MIN_POINTS_FOR_LIMITS)
    flags.push({
      code: 'too-few-points',
      message: `only ${n} time points for 5 parameters (${2 * n - 5} residual degrees of freedom): the limits are not identified by the data`,
    });
  if (fit.atRateBound)
    flags.push({
      code: 'rate-at-edge',
      message: `rate ${show(fit.rate.value)} at (or no better than) the edge of its search range [${show(fit.rateRange[0])}, ${show(fit.rateRange[1])}]: the data show no exponential relaxation on this time scale, so the limits are unreliable`,
    });
  const series = [
    ['U_s∞', fit.limits.solver, trajectory.solver],
    ['U_v∞', fit.limits.verifier, trajectory.verifier],
  ] as const;
  const nonNegativeData = [...trajectory.solver, ...trajectory.verifier].every((v) => v >= 0);
  for (const [name, limit] of series)
    if (nonNegativeData && limit.value < 0)
      flags.push({
        code: 'negative-limit',
        message: `${name} = ${show(limit.value)} is negative, but an uncertainty (a mean NLL) cannot be: the fit extrapolates a trend, not a relaxation`,
      });
  const seen = 1 - Math.exp(-fit.rate.value * (t[n - 1] - t[0])); // share of the relaxation inside the data (Prop. 3.1)
  if (!(seen >= MIN_RELAXATION_SEEN))
    flags.push({
      code: 'limits-extrapolated',
      message: `the data cover only ${show(100 * seen)} % of the relaxation (r·span = ${show(fit.rate.value * (t[n - 1] - t[0]))}): the limits lie ${show((1 - seen) / seen)}× the observed change beyond the last point`,
    });
  if (![fit.rate, ...series.map((s) => s[1])].every((i) => Number.isFinite(i.stderr)))
    flags.push({ code: 'singular', message: 'the Jacobian is rank deficient at the optimum: standard errors and intervals are undefined' });
  else
    for (const [name, limit, amplitude] of [
      ['U_s∞', fit.limits.solver, fit.amplitudes.solver.value],
      ['U_v∞', fit.limits.verifier, fit.amplitudes.verifier.value],
    ] as const) {
      const change = Math.abs(amplitude) * seen; // how far the fitted curve moves over the data
      const halfWidth = (limit.upper - limit.lower) / 2;
      if (halfWidth > change)
        flags.push({
          code: 'limits-not-identified',
          message: `${name}'s interval [${show(limit.lower)}, ${show(limit.upper)}] is wider than the change the fit sees in the data (${show(change)}): the data do not pin the limit down`,
        });
    }
  return flags;
}

/** The flags as one line for a log or a table cell ('' when there are none). */
export function formatFitFlags(flags: FitFlag[]): string {
  return flags.length === 0 ? '' : `warning: ${flags.map((f) => f.message).join('; ')}`;
}
