// The check behind E ≈ kG − b (the paper's Figure 2): finite-difference rates against the gap.
// From dG/dt = −(α−β)E and dU_s/dt = −αE, a linear potential makes both −dG/dt and −dU_s/dt affine
// in G: −dG/dt = rG − (α−β)b with r = k(α−β), −dU_s/dt = kαG − αb.
// Rates are difference quotients between consecutive points, placed at the interval midpoint with the
// mean gap there; for an exact exponential this is exactly affine (slope (2/h)·tanh(rh/2) ≈ r for step h).

import { validateTrajectory, type Trajectory } from './fit.js';

export interface Regression {
  slope: number;
  intercept: number;
  r2: number;
  slopeStderr: number;
}

export interface LinearityCheck {
  points: { t: number; gap: number; gapRate: number; solverRate: number }[];
  /** regression of −dG/dt on G */
  slope: number;
  intercept: number;
  r2: number;
  slopeStderr: number;
  /** G where the fitted −dG/dt vanishes: an estimate of G∞ = b/k */
  gapAtZeroRate: number;
  /** regression of −dU_s/dt on G (slope ≈ kα) */
  solver: Regression;
}

/** Ordinary least-squares line y = slope·x + intercept. */
export function linearRegression(x: number[], y: number[]): Regression {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) ** 2;
  }
  if (sxx === 0) throw new Error('linear regression: all x values are equal');
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const ssRes = Math.max(0, syy - slope * sxy);
  const slopeStderr = n > 2 ? Math.sqrt(ssRes / (n - 2) / sxx) : NaN;
  return { slope, intercept, r2: syy === 0 ? 1 : 1 - ssRes / syy, slopeStderr };
}

export function linearityCheck(trajectory: Trajectory): LinearityCheck {
  validateTrajectory(trajectory, 4, 'linearity check');
  const { t, solver, verifier } = trajectory;
  const points = [];
  for (let i = 0; i + 1 < t.length; i++) {
    const h = t[i + 1] - t[i];
    const g0 = solver[i] - verifier[i];
    const g1 = solver[i + 1] - verifier[i + 1];
    points.push({
      t: (t[i] + t[i + 1]) / 2,
      gap: (g0 + g1) / 2,
      gapRate: -(g1 - g0) / h,
      solverRate: -(solver[i + 1] - solver[i]) / h,
    });
  }
  const gaps = points.map((p) => p.gap);
  const gapLine = linearRegression(
    gaps,
    points.map((p) => p.gapRate),
  );
  const solverLine = linearRegression(
    gaps,
    points.map((p) => p.solverRate),
  );
  return {
    points,
    slope: gapLine.slope,
    intercept: gapLine.intercept,
    r2: gapLine.r2,
    slopeStderr: gapLine.slopeStderr,
    gapAtZeroRate: -gapLine.intercept / gapLine.slope,
    solver: solverLine,
  };
}
