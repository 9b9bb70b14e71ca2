// Alternative relaxation laws, compared with the shared-rate law by AIC/BIC, and early prediction.
// A third-party reanalysis found the shared-rate law is not always supported; these let users check.
//
//   shared   U_s = α′e^{−rt} + U_s∞,  U_v = β′e^{−rt} + U_v∞                      (5 parameters, Prop. 3.1)
//   separate U_s = a_s e^{−r_s t} + c_s, U_v = a_v e^{−r_v t} + c_v               (6)
//   twoexp   U_x = a_x e^{−r₁t} + b_x e^{−r₂t} + c_x, rates shared by both series   (8; the general
//            2-D linear system dU/dt = A U + c has exactly two modes shared by both series)
//   power    U_x = A_x (1 + (t − t0)/s)^{−p} + c_x, exponent p and time scale s shared (6; t0 = first time,
//            so A_x is the amplitude at the first observation)
//
// All are fitted by variable projection (linear coefficients solved exactly for given non-linear
// parameters). AIC = N ln(RSS/N) + 2k and BIC = N ln(RSS/N) + k ln N over the N = 2n observations.

import {
  exponentialColumn,
  fitSharedRate,
  normaliseTime,
  predictShared,
  profileFit1D,
  RATE_RANGE,
  validateTrajectory,
  gapR2,
  type SharedRateFit,
  type Trajectory,
} from './fit.js';
import { affineLeastSquares, columnLeastSquares, nelderMead, rSquared } from './numeric.js';

export type LawName = 'shared' | 'separate' | 'twoexp' | 'power';
export const LAW_NAMES: LawName[] = ['shared', 'separate', 'twoexp', 'power'];
export const LAW_PARAMETER_COUNT: Record<LawName, number> = { shared: 5, separate: 6, twoexp: 8, power: 6 };

export interface LawFit {
  law: LawName;
  /** named parameters in the time units of t (amplitudes referred to t = origin, the first time point) */
  parameters: Record<string, number>;
  numParameters: number;
  limits: { solver: number; verifier: number; gap: number }; // values as t → ∞
  r2: { solver: number; verifier: number; gap: number };
  rss: number;
  n: number;
  aic: number;
  bic: number;
  predict: (t: number) => { solver: number; verifier: number; gap: number };
}

export interface LawComparison {
  /** fitted laws, best (lowest AIC) first */
  fits: (LawFit & { deltaAic: number; deltaBic: number; aicWeight: number })[];
  bestByAic: LawName;
  bestByBic: LawName;
  skipped: { law: LawName; reason: string }[];
}

/** Minimum number of time points for a law: at least one residual degree of freedom over 2n observations. */
export function minPointsForLaw(law: LawName): number {
  return Math.floor(LAW_PARAMETER_COUNT[law] / 2) + 1;
}

function finishFit(
  law: LawName,
  trajectory: Trajectory,
  parameters: Record<string, number>,
  limits: { solver: number; verifier: number },
  predictPair: (t: number) => [number, number],
): LawFit {
  const k = LAW_PARAMETER_COUNT[law];
  const n = trajectory.t.length;
  const fitted = trajectory.t.map(predictPair);
  const fs = fitted.map((f) => f[0]);
  const fv = fitted.map((f) => f[1]);
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (fs[i] - trajectory.solver[i]) ** 2 + (fv[i] - trajectory.verifier[i]) ** 2;
  const N = 2 * n;
  return {
    law,
    parameters,
    numParameters: k,
    limits: { ...limits, gap: limits.solver - limits.verifier },
    r2: {
      solver: rSquared(trajectory.solver, fs),
      verifier: rSquared(trajectory.verifier, fv),
      gap: gapR2(
        trajectory,
        fs.map((s, i) => s - fv[i]),
      ),
    },
    rss,
    n,
    aic: N * Math.log(rss / N) + 2 * k,
    bic: N * Math.log(rss / N) + k * Math.log(N),
    predict: (t) => {
      const [solver, verifier] = predictPair(t);
      return { solver, verifier, gap: solver - verifier };
    },
  };
}

/** The shared-rate fit seen as a LawFit. */
export function lawFitFromShared(fit: SharedRateFit, trajectory: Trajectory): LawFit {
  return finishFit(
    'shared',
    trajectory,
    {
      origin: fit.origin,
      rate: fit.rate.value,
      solverAmplitude: fit.amplitudes.solver.value,
      solverLimit: fit.limits.solver.value,
      verifierAmplitude: fit.amplitudes.verifier.value,
      verifierLimit: fit.limits.verifier.value,
    },
    { solver: fit.limits.solver.value, verifier: fit.limits.verifier.value },
    (t) => {
      const p = predictShared(fit, t);
      return [p.solver, p.verifier];
    },
  );
}

/** Separate exponentials: each series has its own rate. */
function fitSeparate(trajectory: Trajectory): LawFit {
  const { tau, t0, span } = normaliseTime(trajectory.t);
  const one = (y: number[]) => {
    const f = profileFit1D(exponentialColumn(tau), [y], RATE_RANGE, 60);
    return { rate: f.rho / span, amplitude: f.coefficients[0][0], limit: f.coefficients[0][1] };
  };
  const s = one(trajectory.solver);
  const v = one(trajectory.verifier);
  return finishFit(
    'separate',
    trajectory,
    {
      origin: t0,
      solverRate: s.rate,
      solverAmplitude: s.amplitude,
      solverLimit: s.limit,
      verifierRate: v.rate,
      verifierAmplitude: v.amplitude,
      verifierLimit: v.limit,
    },
    { solver: s.limit, verifier: v.limit },
    (t) => [s.amplitude * Math.exp(-s.rate * (t - t0)) + s.limit, v.amplitude * Math.exp(-v.rate * (t - t0)) + v.limit],
  );
}

type Solve = (x: number, y: number) => { x: number[][]; rss: number[] };

/** At most `max` evenly spaced row indices of n (first and last kept), or null when all n rows are few enough. */
function thinRows(n: number, max: number): number[] | null {
  if (n <= max) return null;
  return Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1)));
}

/** The rows `rows` of τ and of each series (all of them for null). */
function pickRows(tau: number[], series: number[][], rows: number[] | null): { tau: number[]; series: number[][] } {
  return rows ? { tau: rows.map((i) => tau[i]), series: series.map((y) => rows.map((i) => y[i])) } : { tau, series };
}

/**
 * Variable projection over two positive non-linear parameters shared by both series (`solveOn(rows)` gives the linear
 * coefficients and rss of every series for given parameters, on those rows or all): coarse to fine, a grid scan in log
 * space on at most 1000 evenly spaced points, then Nelder–Mead from the best grid point on all of them.
 */
function profileFit2D(
  solveOn: (rows: number[] | null) => Solve,
  n: number,
  rangeX: [number, number],
  rangeY: [number, number],
  keep: (x: number, y: number) => boolean,
): { x: number; y: number; coefficients: number[][] } {
  const steps = 20;
  const lx0 = Math.log(rangeX[0]);
  const ly0 = Math.log(rangeY[0]);
  const dx = (Math.log(rangeX[1]) - lx0) / (steps - 1);
  const dy = (Math.log(rangeY[1]) - ly0) / (steps - 1);
  // the search stays inside the box; non-finite values (overflow) count as infinitely bad
  const objective = (solve: Solve) => (lx: number, ly: number) => {
    if (lx < lx0 - 1e-9 || ly < ly0 - 1e-9 || lx > lx0 + (steps - 1) * dx + 1e-9 || ly > ly0 + (steps - 1) * dy + 1e-9) return Infinity;
    const rss = solve(Math.exp(lx), Math.exp(ly)).rss.reduce((s, v) => s + v, 0);
    return Number.isFinite(rss) ? rss : Infinity;
  };
  const coarse = objective(solveOn(thinRows(n, 1000)));
  let best = { lx: lx0, ly: ly0, value: Infinity };
  for (let i = 0; i < steps; i++)
    for (let j = 0; j < steps; j++) {
      const lx = lx0 + i * dx;
      const ly = ly0 + j * dy;
      if (!keep(Math.exp(lx), Math.exp(ly))) continue;
      const value = coarse(lx, ly);
      if (value < best.value) best = { lx, ly, value };
    }
  const solve = solveOn(null);
  const fine = objective(solve);
  const [lx, ly] = nelderMead((p) => fine(p[0], p[1]), [best.lx, best.ly], [dx / 2, dy / 2]);
  return { x: Math.exp(lx), y: Math.exp(ly), coefficients: solve(Math.exp(lx), Math.exp(ly)).x };
}

/** Two exponentials with rates shared by both series. */
function fitTwoExp(trajectory: Trajectory): LawFit {
  const { tau, t0, span } = normaliseTime(trajectory.t);
  const solveOn = (rows: number[] | null): Solve => {
    const part = pickRows(tau, [trajectory.solver, trajectory.verifier], rows);
    const ones = new Float64Array(part.tau.length).fill(1);
    const mode = exponentialColumn(part.tau);
    return (r1, r2) => columnLeastSquares([mode(r1), mode(r2), ones], part.series);
  };
  const f = profileFit2D(solveOn, tau.length, RATE_RANGE, RATE_RANGE, (a, b) => a < b);
  // order so that rate1 is the slow mode
  const [slow, fast, swap] = f.x <= f.y ? [f.x, f.y, false] : [f.y, f.x, true];
  const r1 = slow / span;
  const r2 = fast / span;
  const amp = (c: number[], which: 0 | 1) => c[swap ? 1 - which : which];
  const s = f.coefficients[0];
  const v = f.coefficients[1];
  const p = {
    origin: t0,
    rate1: r1,
    rate2: r2,
    solverAmplitude1: amp(s, 0),
    solverAmplitude2: amp(s, 1),
    solverLimit: s[2],
    verifierAmplitude1: amp(v, 0),
    verifierAmplitude2: amp(v, 1),
    verifierLimit: v[2],
  };
  const modes = (t: number) => [Math.exp(-r1 * (t - t0)), Math.exp(-r2 * (t - t0))];
  return finishFit('twoexp', trajectory, p, { solver: p.solverLimit, verifier: p.verifierLimit }, (t) => {
    const [e1, e2] = modes(t);
    return [
      p.solverAmplitude1 * e1 + p.solverAmplitude2 * e2 + p.solverLimit,
      p.verifierAmplitude1 * e1 + p.verifierAmplitude2 * e2 + p.verifierLimit,
    ];
  });
}

/** Power-law relaxation with shared exponent and time scale: U_x = A_x (1 + (t − t0)/s)^{−p} + c_x, t0 = first time. */
function fitPower(trajectory: Trajectory): LawFit {
  const { tau, t0, span } = normaliseTime(trajectory.t);
  // (1 + τ/τc)^{−p} is the column a(τ + τc)^{−p} scaled to 1 at τ = 0, which keeps it well conditioned
  const solveOn = (rows: number[] | null): Solve => {
    const part = pickRows(tau, [trajectory.solver, trajectory.verifier], rows);
    return (p, c) => {
      const column = new Float64Array(part.tau.length);
      for (let i = 0; i < part.tau.length; i++) column[i] = Math.pow(1 + part.tau[i] / c, -p);
      return affineLeastSquares(column, part.series);
    };
  };
  const f = profileFit2D(solveOn, tau.length, [0.02, 50], [1e-3, 1e2], () => true);
  const exponent = f.x;
  const timescale = f.y * span;
  const p = {
    exponent,
    timescale,
    origin: t0,
    solverAmplitude: f.coefficients[0][0], // at t = origin
    solverLimit: f.coefficients[0][1],
    verifierAmplitude: f.coefficients[1][0],
    verifierLimit: f.coefficients[1][1],
  };
  const decay = (t: number) => Math.pow(1 + (t - t0) / timescale, -exponent);
  return finishFit('power', trajectory, p, { solver: p.solverLimit, verifier: p.verifierLimit }, (t) => [
    p.solverAmplitude * decay(t) + p.solverLimit,
    p.verifierAmplitude * decay(t) + p.verifierLimit,
  ]);
}

/** Fit one law; throws if the trajectory has too few points for it. */
export function fitLaw(trajectory: Trajectory, law: LawName): LawFit {
  validateTrajectory(trajectory, minPointsForLaw(law), `${law} law`);
  switch (law) {
    case 'shared':
      return lawFitFromShared(fitSharedRate(trajectory), trajectory);
    case 'separate':
      return fitSeparate(trajectory);
    case 'twoexp':
      return fitTwoExp(trajectory);
    case 'power':
      return fitPower(trajectory);
  }
}

/** Fit several laws and rank them by AIC (Akaike weights) and BIC. Laws with too few points are skipped with a reason. */
export function compareLaws(trajectory: Trajectory, laws: LawName[] = LAW_NAMES): LawComparison {
  const fitted: LawFit[] = [];
  const skipped: { law: LawName; reason: string }[] = [];
  for (const law of laws) {
    const need = minPointsForLaw(law);
    if (trajectory.t.length < need) {
      skipped.push({ law, reason: `needs at least ${need} time points, has ${trajectory.t.length}` });
      continue;
    }
    fitted.push(fitLaw(trajectory, law));
  }
  if (fitted.length === 0)
    throw new Error(`compareLaws: no law could be fitted (${skipped.map((s) => `${s.law}: ${s.reason}`).join('; ')})`);
  const minAic = Math.min(...fitted.map((f) => f.aic));
  const minBic = Math.min(...fitted.map((f) => f.bic));
  const weights = fitted.map((f) => Math.exp(-(f.aic - minAic) / 2));
  const total = weights.reduce((s, w) => s + w, 0);
  const fits = fitted
    .map((f, i) => ({ ...f, deltaAic: f.aic - minAic, deltaBic: f.bic - minBic, aicWeight: weights[i] / total }))
    .sort((a, b) => a.aic - b.aic);
  const bestByBic = fits.reduce((a, b) => (b.bic < a.bic ? b : a)).law;
  return { fits, bestByAic: fits[0].law, bestByBic, skipped };
}

export interface EarlyPrediction {
  first: number;
  law: LawName;
  /** the law fitted on the first `first` points */
  fit: LawFit;
  /** the shared-rate fit on the first points (with intervals), when law = 'shared' */
  shared?: SharedRateFit;
  heldOut: {
    t: number;
    observed: { solver: number; verifier: number; gap: number };
    predicted: { solver: number; verifier: number; gap: number };
  }[];
  /** root-mean-square forecast error on the held-out points */
  rmse: { solver: number; verifier: number; gap: number };
  maxAbsError: { solver: number; verifier: number; gap: number };
  /** the forecast limits (t → ∞) from the first points */
  predictedLimits: { solver: number; verifier: number; gap: number };
}

/** Fit on the first `first` points, forecast the rest and the limits (the paper's early prediction). */
export function earlyPrediction(trajectory: Trajectory, first: number, law: LawName = 'shared'): EarlyPrediction {
  const n = trajectory.t.length;
  if (!Number.isInteger(first) || first < 1) throw new Error(`early prediction: --first must be a positive integer, got ${first}`);
  if (first >= n) throw new Error(`early prediction: --first ${first} leaves no held-out points (trajectory has ${n})`);
  const need = minPointsForLaw(law);
  if (first < need) throw new Error(`early prediction: --first ${first} is fewer than the ${need} points the ${law} law needs`);
  const head: Trajectory = {
    t: trajectory.t.slice(0, first),
    solver: trajectory.solver.slice(0, first),
    verifier: trajectory.verifier.slice(0, first),
    gap: trajectory.gap?.slice(0, first),
  };
  let shared: SharedRateFit | undefined;
  let fit: LawFit;
  if (law === 'shared') {
    shared = fitSharedRate(head);
    fit = lawFitFromShared(shared, head);
  } else {
    fit = fitLaw(head, law);
  }
  const heldOut = [];
  for (let i = first; i < n; i++) {
    const observed = {
      solver: trajectory.solver[i],
      verifier: trajectory.verifier[i],
      gap: trajectory.solver[i] - trajectory.verifier[i],
    };
    heldOut.push({ t: trajectory.t[i], observed, predicted: fit.predict(trajectory.t[i]) });
  }
  const keys = ['solver', 'verifier', 'gap'] as const;
  const rmse = { solver: 0, verifier: 0, gap: 0 };
  const maxAbsError = { solver: 0, verifier: 0, gap: 0 };
  for (const key of keys) {
    const errors = heldOut.map((h) => h.predicted[key] - h.observed[key]);
    rmse[key] = Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length);
    maxAbsError[key] = Math.max(...errors.map(Math.abs));
  }
  return { first, law, fit, shared, heldOut, rmse, maxAbsError, predictedLimits: fit.limits };
}
