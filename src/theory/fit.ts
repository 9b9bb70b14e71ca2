// The paper's fitting procedure (Sec. 4): U_s(t) and U_v(t) jointly by least squares with ONE shared
// rate r (Prop. 3.1: U_s = α′e^{−rt} + U_s∞, U_v = β′e^{−rt} + U_v∞).
//
// Method: variable projection. For a fixed r the model is linear in (α′, U_s∞, β′, U_v∞), solved in closed
// form, so the residual sum of squares is a 1-D function of r alone; it is scanned on a log grid (the
// multi-start) and the best grid minima are refined by golden section, which is the joint optimum.
// Time is measured from the first data point (amplitudes at t0), so the fit does not depend on where t
// starts. Standard errors come from s²(JᵀJ)⁻¹ at the optimum (analytic Jacobian); 95 % intervals use
// Student-t with 2n − 5 degrees of freedom and the delta method for derived quantities (G∞ = U_s∞ − U_v∞, δ = α′ − β′). A residual bootstrap is optional.

import { type IdentifiableParams, roundsToConverge as cor32 } from './closedForm.js';
import { fitFlags, type FitFlag } from './flags.js';
import {
  affineLeastSquares,
  columnLeastSquares,
  goldenSection,
  inverseFromR,
  makeRng,
  quantile,
  rSquared,
  studentTQuantile,
} from './numeric.js';

/** One trajectory; gap = solver − verifier. An optional measured gap series may differ by a constant offset. */
export interface Trajectory {
  t: number[];
  solver: number[];
  verifier: number[];
  gap?: number[];
}

export interface Interval {
  value: number;
  lower: number;
  upper: number;
  stderr: number;
}

export interface SharedRateFit {
  law: 'shared';
  rate: Interval; // r = k(α−β)
  limits: { solver: Interval; verifier: Interval; gap: Interval }; // U_s∞, U_v∞, G∞ = b/k
  amplitudes: { solver: Interval; verifier: Interval; gap: Interval }; // α′, β′, δ = α′ − β′ at t = origin
  alphaOverBeta: number; // α/β = α′/β′
  r2: { solver: number; verifier: number; gap: number };
  rss: number;
  n: number; // time points; AIC/BIC use the 2n observations and 5 parameters
  aic: number;
  bic: number;
  /** the reference time of the amplitudes: the first data point (so the fit does not depend on where t starts) */
  origin: number;
  /** Cor. 3.2 from the fitted δ and r: the time t (in the data's units, ≥ origin) after which |G − G∞| < ε */
  roundsToConverge: (epsilon: number) => number;
  /** covariance of [rate, solverAmplitude, solverLimit, verifierAmplitude, verifierLimit] */
  covariance: number[][];
  /** 'wald' (Jacobian + Student-t) or 'bootstrap' (residual bootstrap percentiles) */
  intervalMethod: 'wald' | 'bootstrap';
  /** the rate's search range in the time units of t, and whether the optimum sits at its edge */
  rateRange: [number, number];
  atRateBound: boolean;
  /** why the numbers cannot be trusted, if they cannot (fitFlags) */
  flags: FitFlag[];
  /** the flags' messages */
  warnings: string[];
}

export interface FitOptions {
  /** log-spaced starting rates scanned before refinement (default 60) */
  restarts?: number;
  /** residual-bootstrap resamples; 0 (default) = Wald intervals */
  bootstrap?: number;
  seed?: number;
  /** interval confidence level (default 0.95) */
  confidence?: number;
}

/** Check a trajectory is well formed; throws an error that names the problem. */
export function validateTrajectory(trajectory: Trajectory, minPoints: number, what = 'trajectory'): void {
  const { t, solver, verifier } = trajectory;
  if (solver.length !== t.length || verifier.length !== t.length)
    throw new Error(`${what}: t, solver and verifier must have the same length (got ${t.length}, ${solver.length}, ${verifier.length})`);
  if (trajectory.gap && trajectory.gap.length !== t.length)
    throw new Error(`${what}: gap has ${trajectory.gap.length} values, t has ${t.length}`);
  if (t.length < minPoints) throw new Error(`${what}: ${t.length} time points, need at least ${minPoints} for this law`);
  const series: [string, number[]][] = [
    ['t', t],
    ['solver', solver],
    ['verifier', verifier],
  ];
  if (trajectory.gap) series.push(['gap', trajectory.gap]);
  for (const [name, values] of series)
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw new Error(`${what}: ${name}[${i}] is not a finite number (${v})`);
    });
  for (let i = 1; i < t.length; i++)
    if (!(t[i] > t[i - 1]))
      throw new Error(`${what}: time must increase strictly, but t[${i}] = ${t[i]} follows t[${i - 1}] = ${t[i - 1]}`);
}

/** Time normalised to [0, 1] for conditioning: τ = (t − t0)/span. */
export function normaliseTime(t: number[]): { tau: number[]; t0: number; span: number } {
  const t0 = t[0];
  const span = t[t.length - 1] - t0;
  return { tau: t.map((v) => (v - t0) / span), t0, span };
}

/**
 * Variable projection over one positive non-linear parameter ρ: minimise Σ_series ||a·x(ρ) + c − y||² over ρ, the
 * coefficients (a, c) solved in closed form for each trial ρ (affineLeastSquares).
 * Coarse to fine: a log grid over `range`, then golden section between the neighbours of the best grid minima.
 * Returns ρ, the coefficients per series, the rss and whether ρ is at the edge of `range` or fits no better than it.
 */
export function profileFit1D(
  column: (rho: number) => Float64Array,
  seriesList: number[][],
  range: [number, number],
  gridSize: number,
): { rho: number; coefficients: number[][]; rss: number; atBound: boolean } {
  const evaluate = (rho: number) => {
    const ls = affineLeastSquares(column(rho), seriesList);
    return { rss: ls.rss.reduce((s, v) => s + v, 0), coefficients: ls.x };
  };
  const logLo = Math.log(range[0]);
  const logHi = Math.log(range[1]);
  const grid = Array.from({ length: gridSize }, (_, i) => logLo + ((logHi - logLo) * i) / (gridSize - 1));
  const values = grid.map((g) => evaluate(Math.exp(g)).rss);
  const minima: number[] = [];
  for (let i = 0; i < gridSize; i++) {
    const left = i === 0 ? Infinity : values[i - 1];
    const right = i === gridSize - 1 ? Infinity : values[i + 1];
    if (values[i] <= left && values[i] <= right) minima.push(i);
  }
  minima.sort((i, j) => values[i] - values[j]);
  let best = { rho: Math.exp(grid[minima[0]]), rss: values[minima[0]] };
  for (const i of minima.slice(0, 3)) {
    const a = grid[Math.max(0, i - 1)];
    const b = grid[Math.min(gridSize - 1, i + 1)];
    const logRho = goldenSection((g) => evaluate(Math.exp(g)).rss, a, b, 1e-12);
    const rss = evaluate(Math.exp(logRho)).rss;
    if (rss < best.rss) best = { rho: Math.exp(logRho), rss };
  }
  const final = evaluate(best.rho);
  // at the edge, or no better than it (a profile flat out to the edge, e.g. a step: any faster rate fits as well)
  const scale = seriesList.reduce((s, y) => s + y.reduce((u, v) => u + v * v, 0), 0);
  const asGood = (rss: number) => rss <= final.rss * (1 + 1e-9) + 1e-24 * scale;
  const atBound =
    Math.abs(Math.log(best.rho) - logLo) < 1e-6 ||
    Math.abs(Math.log(best.rho) - logHi) < 1e-6 ||
    asGood(values[0]) ||
    asGood(values[gridSize - 1]);
  return { rho: best.rho, coefficients: final.coefficients, rss: final.rss, atBound };
}

/** The column e^{−ρτ} of one exponential relaxation (the limit is the constant column). */
export function exponentialColumn(tau: number[]): (rho: number) => Float64Array {
  return (rho) => {
    const column = new Float64Array(tau.length);
    for (let i = 0; i < tau.length; i++) column[i] = Math.exp(-rho * tau[i]);
    return column;
  };
}

export const RATE_RANGE: [number, number] = [1e-3, 1e3]; // in units of 1/span

interface CoreFit {
  phi: number[]; // [ρ, a_s, c_s, a_v, c_v] in normalised time
  rss: number;
  jacobianR: number[][]; // the triangular factor of the Jacobian, for the covariance
  atBound: boolean;
}

/**
 * Shared-rate fit in normalised time τ ∈ [0, 1]. The profile over ρ is exact (the four linear parameters are solved in
 * closed form for each ρ), so its minimum is the joint least-squares optimum; the Jacobian is for the covariance.
 */
function fitSharedCore(tau: number[], solver: number[], verifier: number[], gridSize: number): CoreFit {
  const fit = profileFit1D(exponentialColumn(tau), [solver, verifier], RATE_RANGE, gridSize);
  const [[as, cs], [av, cv]] = fit.coefficients;
  const n = tau.length;
  // Jacobian columns over [ρ, a_s, c_s, a_v, c_v]; rows: the n solver residuals, then the n verifier residuals
  const J = Array.from({ length: 5 }, () => new Float64Array(2 * n));
  for (let i = 0; i < n; i++) {
    const e = Math.exp(-fit.rho * tau[i]);
    J[0][i] = -tau[i] * as * e;
    J[0][n + i] = -tau[i] * av * e;
    J[1][i] = e;
    J[2][i] = 1;
    J[3][n + i] = e;
    J[4][n + i] = 1;
  }
  return { phi: [fit.rho, as, cs, av, cv], rss: fit.rss, jacobianR: columnLeastSquares(J, []).R, atBound: fit.atBound };
}

function makeInterval(value: number, variance: number, tq: number): Interval {
  const stderr = Math.sqrt(Math.max(variance, 0));
  return { value, lower: value - tq * stderr, upper: value + tq * stderr, stderr };
}

/** aᵀ C b (delta-method covariance of two linear combinations). */
function bilinear(C: number[][], a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) s += a[i] * C[i][j] * b[j];
  return s;
}

/** R² of the implied gap: against the measured gap series shifted by its mean offset from solver − verifier, or against solver − verifier. */
export function gapR2(trajectory: Trajectory, fittedGap: number[]): number {
  const dataGap = trajectory.solver.map((s, i) => s - trajectory.verifier[i]);
  if (!trajectory.gap) return rSquared(dataGap, fittedGap);
  const measured = trajectory.gap;
  const offset = dataGap.reduce((s, g, i) => s + g - measured[i], 0) / dataGap.length;
  return rSquared(
    measured.map((g) => g + offset),
    fittedGap,
  );
}

/** The fitted curves' identifiable parameters (Prop. 3.1: rate, amplitudes and limits), for the closed-form helpers; their t = 0 is fit.origin. */
export function identifiableFromFit(fit: SharedRateFit): IdentifiableParams {
  return {
    rate: fit.rate.value,
    solverAmplitude: fit.amplitudes.solver.value,
    verifierAmplitude: fit.amplitudes.verifier.value,
    solverLimit: fit.limits.solver.value,
    verifierLimit: fit.limits.verifier.value,
  };
}

/** Joint least-squares fit of solver and verifier with one shared rate (the paper's procedure). */
export function fitSharedRate(trajectory: Trajectory, options: FitOptions = {}): SharedRateFit {
  validateTrajectory(trajectory, 3, 'shared-rate fit');
  const gridSize = Math.max(8, options.restarts ?? 60);
  const confidence = options.confidence ?? 0.95;
  const { t, solver, verifier } = trajectory;
  const n = t.length;
  const { tau, t0, span } = normaliseTime(t);
  const core = fitSharedCore(tau, solver, verifier, gridSize);
  const [rho, as, cs, av, cv] = core.phi;

  // back to the time units of t; amplitudes refer to the first data point t0 (not t = 0, where e^{r·t0} overflows for
  // data that start late), so shifting t changes nothing but `origin`
  const rate = rho / span;
  const theta = [rate, as, cs, av, cv];
  const dof = 2 * n - 5;
  const sigma2 = core.rss / dof;
  const covPhi = inverseFromR(core.jacobianR).map((row) => row.map((c) => c * sigma2));
  const covariance = covPhi.map((row, i) => row.map((c, j) => c * (i === 0 ? 1 / span : 1) * (j === 0 ? 1 / span : 1))); // r = ρ/span
  const tq = studentTQuantile(0.5 + confidence / 2, dof);

  let intervals = {
    rate: makeInterval(theta[0], covariance[0][0], tq),
    solverAmplitude: makeInterval(theta[1], covariance[1][1], tq),
    solverLimit: makeInterval(theta[2], covariance[2][2], tq),
    verifierAmplitude: makeInterval(theta[3], covariance[3][3], tq),
    verifierLimit: makeInterval(theta[4], covariance[4][4], tq),
    gapAmplitude: makeInterval(theta[1] - theta[3], bilinear(covariance, [0, 1, 0, -1, 0], [0, 1, 0, -1, 0]), tq),
    gapLimit: makeInterval(theta[2] - theta[4], bilinear(covariance, [0, 0, 1, 0, -1], [0, 0, 1, 0, -1]), tq),
  };

  const e = tau.map((x) => Math.exp(-rho * x));
  const fittedSolver = e.map((v) => as * v + cs);
  const fittedVerifier = e.map((v) => av * v + cv);
  const fittedGap = fittedSolver.map((s, i) => s - fittedVerifier[i]);

  let intervalMethod: 'wald' | 'bootstrap' = 'wald';
  const bootstrap = options.bootstrap ?? 0;
  if (bootstrap > 0) {
    intervals = bootstrapIntervals(
      trajectory,
      tau,
      span,
      fittedSolver,
      fittedVerifier,
      theta,
      bootstrap,
      options.seed ?? 1,
      confidence,
      gridSize,
    );
    intervalMethod = 'bootstrap';
  }

  const N = 2 * n;
  const delta = theta[1] - theta[3];
  const fit: SharedRateFit = {
    law: 'shared',
    rate: intervals.rate,
    limits: { solver: intervals.solverLimit, verifier: intervals.verifierLimit, gap: intervals.gapLimit },
    amplitudes: { solver: intervals.solverAmplitude, verifier: intervals.verifierAmplitude, gap: intervals.gapAmplitude },
    alphaOverBeta: theta[1] / theta[3],
    r2: {
      solver: rSquared(solver, fittedSolver),
      verifier: rSquared(verifier, fittedVerifier),
      gap: gapR2(trajectory, fittedGap),
    },
    rss: core.rss,
    n,
    aic: N * Math.log(core.rss / N) + 2 * 5,
    bic: N * Math.log(core.rss / N) + 5 * Math.log(N),
    origin: t0,
    roundsToConverge: (epsilon: number) => t0 + cor32(delta, rate, epsilon),
    covariance,
    intervalMethod,
    rateRange: [RATE_RANGE[0] / span, RATE_RANGE[1] / span],
    atRateBound: core.atBound,
    flags: [],
    warnings: [],
  };
  fit.flags = fitFlags(fit, trajectory);
  fit.warnings = fit.flags.map((f) => f.message);
  return fit;
}

/** Residual bootstrap: resample each series' residuals, refit, take percentile intervals. */
function bootstrapIntervals(
  trajectory: Trajectory,
  tau: number[],
  span: number,
  fittedSolver: number[],
  fittedVerifier: number[],
  theta: number[],
  resamples: number,
  seed: number,
  confidence: number,
  gridSize: number,
) {
  const rng = makeRng(seed);
  const n = tau.length;
  const resS = trajectory.solver.map((y, i) => y - fittedSolver[i]);
  const resV = trajectory.verifier.map((y, i) => y - fittedVerifier[i]);
  const samples: number[][] = [];
  for (let b = 0; b < resamples; b++) {
    const pick = () => Math.floor(rng.uniform() * n);
    const s = fittedSolver.map((f) => f + resS[pick()]);
    const v = fittedVerifier.map((f) => f + resV[pick()]);
    const [rho, as, cs, av, cv] = fitSharedCore(tau, s, v, gridSize).phi;
    samples.push([rho / span, as, cs, av, cv, as - av, cs - cv]);
  }
  const values = [...theta, theta[1] - theta[3], theta[2] - theta[4]];
  const lo = (1 - confidence) / 2;
  const make = (k: number): Interval => {
    const column = samples.map((row) => row[k]);
    const mean = column.reduce((s, v) => s + v, 0) / column.length;
    const sd = Math.sqrt(column.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, column.length - 1));
    return { value: values[k], lower: quantile(column, lo), upper: quantile(column, 1 - lo), stderr: sd };
  };
  return {
    rate: make(0),
    solverAmplitude: make(1),
    solverLimit: make(2),
    verifierAmplitude: make(3),
    verifierLimit: make(4),
    gapAmplitude: make(5),
    gapLimit: make(6),
  };
}

/** The fitted curves at time t (the amplitudes are those at fit.origin). */
export function predictShared(fit: SharedRateFit, t: number): { solver: number; verifier: number; gap: number } {
  const e = Math.exp(-fit.rate.value * (t - fit.origin));
  const solver = fit.amplitudes.solver.value * e + fit.limits.solver.value;
  const verifier = fit.amplitudes.verifier.value * e + fit.limits.verifier.value;
  return { solver, verifier, gap: solver - verifier };
}
