// Cross-improvement (Sec. 5): external verification injected into the self-improvement dynamics.
// Model: a budget spread over rounds with fractions η_t (Σ η_t = 1); at the start of round t the
// verifier is improved by U_v ← U_v/(1 + γη_t), then the linear dynamics run for one unit of time.
//
// Why allocation hardly matters (Prop. 5.1): between injections αU_v − βU_s is conserved, and the
// limit is U_s∞ = (αU_v − βU_s + αb/k)/(α−β). An injection lowers U_v by ΔU_v = U_v·γη/(1+γη), so
// U_s∞ moves by −α/(α−β)·ΔU_v wherever it happens. Timing enters only through (i) the value of U_v at
// the injection (the verifier keeps improving, so the same η removes less later) — a first-order effect
// of size γ·α/(α−β)·(range of U_v over the rounds); (ii) the concavity of γη/(1+γη) — second order in γ;
// (iii) at a finite horizon, the transient left by late injections, ∝ e^{−r·(rounds after it)}.
// So with a limited budget (γ small) the final solver is allocation-independent up to O(γ·ΔU_v) and
// O(γ²), and exactly so for the limit when U_v is flat; late schedules also need time to settle.

import { combosFromIdentifiable, physicalFromIdentifiable, solverLimitFromState } from './closedForm.js';
import { fitSharedRate, identifiableFromFit, predictShared, type Interval, type SharedRateFit, type Trajectory } from './fit.js';
import { finiteDifferenceJacobian, goldenSection, inverseNormalMatrix, levenbergMarquardt, rSquared, studentTQuantile } from './numeric.js';
import { integrate, linearPotential } from './ode.js';

export type Allocation = 'early' | 'uniform' | 'late' | number[]; // number[] = η per round, sums to 1

export interface CrossParams {
  alpha: number;
  beta: number;
  k: number;
  b: number;
  solver0: number;
  verifier0: number;
  gamma: number;
  rounds: number;
}

/**
 * η per round. 'uniform' = 1/rounds each; 'early' = the budget spread evenly over the first ⌈rounds/3⌉
 * rounds; 'late' = over the last ⌈rounds/3⌉; a custom array must have one non-negative entry per round summing to 1.
 */
export function allocationFractions(allocation: Allocation, rounds: number): number[] {
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`allocation: rounds must be a positive integer, got ${rounds}`);
  const third = Math.ceil(rounds / 3);
  if (allocation === 'uniform') return new Array<number>(rounds).fill(1 / rounds);
  if (allocation === 'early') return Array.from({ length: rounds }, (_, i) => (i < third ? 1 / third : 0));
  if (allocation === 'late') return Array.from({ length: rounds }, (_, i) => (i >= rounds - third ? 1 / third : 0));
  if (!Array.isArray(allocation))
    throw new Error(`allocation: unknown schedule '${String(allocation)}' (use early, uniform, late or an array)`);
  if (allocation.length !== rounds) throw new Error(`allocation: ${allocation.length} fractions given for ${rounds} rounds`);
  allocation.forEach((eta, i) => {
    if (!(Number.isFinite(eta) && eta >= 0)) throw new Error(`allocation: fraction ${i} must be a non-negative number, got ${eta}`);
  });
  const sum = allocation.reduce((s, v) => s + v, 0);
  if (Math.abs(sum - 1) > 1e-9) throw new Error(`allocation: fractions must sum to 1, they sum to ${sum}`);
  return allocation.slice();
}

/**
 * Simulate rounds of self-improvement with external verification. Output at t = 0 (initial state) and
 * t = 1..rounds (end of each round); dt is the RK4 step (default 0.01).
 */
export function simulateCrossImprovement(params: CrossParams & { fractions: number[]; dt?: number }): {
  t: number[];
  solver: number[];
  verifier: number[];
  gap: number[];
} {
  const { alpha, beta, k, b, gamma, rounds, fractions } = params;
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`simulateCrossImprovement: rounds must be a positive integer, got ${rounds}`);
  if (fractions.length !== rounds) throw new Error(`simulateCrossImprovement: ${fractions.length} fractions for ${rounds} rounds`);
  // γ < 0 (external picks less certain than the model's own) is allowed while every factor 1 + γη_t stays positive
  if (!Number.isFinite(gamma)) throw new Error(`simulateCrossImprovement: gamma must be finite, got ${gamma}`);
  fractions.forEach((eta, i) => {
    if (!(1 + gamma * eta > 0))
      throw new Error(
        `simulateCrossImprovement: 1 + γη in round ${i + 1} is ${1 + gamma * eta} (γ = ${gamma}, η = ${eta}); it must be positive`,
      );
  });
  const dt = params.dt ?? 0.01;
  const potential = linearPotential(k, b);
  let s = params.solver0;
  let v = params.verifier0;
  const out = { t: [0], solver: [s], verifier: [v], gap: [s - v] };
  for (let i = 0; i < rounds; i++) {
    v = v / (1 + gamma * fractions[i]);
    [s, v] = integrate(alpha, beta, potential, s, v, 1, dt);
    out.t.push(i + 1);
    out.solver.push(s);
    out.verifier.push(v);
    out.gap.push(s - v);
  }
  return out;
}

export interface AllocationOutcome {
  name: string;
  fractions: number[];
  /** U_s at the end of the last round */
  finalSolver: number;
  /** U_s∞ after the last injection (t → ∞, from the conserved quantity) */
  limitSolver: number;
}

export interface AllocationRegime {
  /** max − min of the final / limit solver uncertainty over the compared schedules */
  finalSpread: number;
  limitSpread: number;
  /** U_s0 − U_s(end) without external data: the self-improvement change the spread is judged against */
  selfImprovement: number;
  /** first-order prediction of the limit spread: |α/(α−β)|·γ·(max − min U_v over the rounds) + |α/(α−β)|·γ²·max U_v */
  limitSpreadEstimate: number;
  /** e^{−r}: the transient a last-round injection still carries at the horizon, per unit of its size */
  lastRoundTransient: number;
  /** finalSpread ≤ tolerance·|selfImprovement| */
  independent: boolean;
  tolerance: number;
  explanation: string;
}

/**
 * Predict the final solver uncertainty for several schedules of one budget (γ·budget is the
 * per-unit-η strength), and state whether the outcome is allocation-independent (Prop. 5.1).
 */
export function compareAllocations(
  params: CrossParams & { budget?: number; dt?: number },
  allocations: Record<string, Allocation> = { early: 'early', uniform: 'uniform', late: 'late' },
  tolerance = 0.05,
): { outcomes: AllocationOutcome[]; regime: AllocationRegime } {
  const gamma = params.gamma * (params.budget ?? 1);
  const outcomes = Object.entries(allocations).map(([name, allocation]) => {
    const fractions = allocationFractions(allocation, params.rounds);
    const run = simulateCrossImprovement({ ...params, gamma, fractions });
    const s = run.solver[run.solver.length - 1];
    const v = run.verifier[run.verifier.length - 1];
    return { name, fractions, finalSolver: s, limitSolver: solverLimitFromState(params, s, v) };
  });
  const baseline = simulateCrossImprovement({ ...params, gamma: 0, fractions: new Array<number>(params.rounds).fill(1 / params.rounds) });
  const finals = outcomes.map((o) => o.finalSolver);
  const limits = outcomes.map((o) => o.limitSolver);
  const finalSpread = Math.max(...finals) - Math.min(...finals);
  const limitSpread = Math.max(...limits) - Math.min(...limits);
  const selfImprovement = params.solver0 - baseline.solver[baseline.solver.length - 1];
  const lever = Math.abs(params.alpha / (params.alpha - params.beta));
  const vRange = Math.max(...baseline.verifier) - Math.min(...baseline.verifier);
  const vMax = Math.max(...baseline.verifier.map(Math.abs));
  const limitSpreadEstimate = lever * Math.abs(gamma) * vRange + lever * gamma * gamma * vMax;
  const rate = params.k * (params.alpha - params.beta);
  const independent = finalSpread <= tolerance * Math.abs(selfImprovement);
  const explanation = independent
    ? `allocation-independent: the schedules differ by ${finalSpread.toPrecision(3)} in final U_s, ≤ ${tolerance} of the self-improvement change ${selfImprovement.toPrecision(3)} (limited budget: |γ|·α/(α−β)·ΔU_v = ${(lever * Math.abs(gamma) * vRange).toPrecision(3)})`
    : `allocation matters: the schedules differ by ${finalSpread.toPrecision(3)} in final U_s, > ${tolerance} of the self-improvement change ${selfImprovement.toPrecision(3)}; the budget is not small (|γ|·α/(α−β)·ΔU_v = ${(lever * Math.abs(gamma) * vRange).toPrecision(3)}) or late injections have not settled (e^{−r} = ${Math.exp(-rate).toPrecision(3)})`;
  return {
    outcomes,
    regime: {
      finalSpread,
      limitSpread,
      selfImprovement,
      limitSpreadEstimate,
      lastRoundTransient: Math.exp(-rate),
      independent,
      tolerance,
      explanation,
    },
  };
}

export interface GammaFit {
  gamma: Interval;
  /** identifiable combinations of the dynamics fitted jointly with γ */
  alphaK: number;
  betaK: number;
  bOverK: number;
  solver0: number;
  verifier0: number;
  rss: number;
  r2: { solver: number; verifier: number };
}

/**
 * Fit γ (and the dynamics kα, kβ, b/k, U_s0, U_v0) to a run with external verification given by
 * `fractions` (one per round). Times must be round indices in [0, fractions.length] (0 = before round 1).
 */
export function fitGamma(trajectory: Trajectory, fractions: number[], options: { dt?: number; confidence?: number } = {}): GammaFit {
  const rounds = fractions.length;
  const { t, solver, verifier } = trajectory;
  if (t.length !== solver.length || t.length !== verifier.length) throw new Error('fitGamma: t, solver and verifier lengths differ');
  if (t.length < 4) throw new Error(`fitGamma: ${t.length} points, need at least 4 for 6 parameters over 2 series`);
  t.forEach((ti, i) => {
    if (!Number.isInteger(ti) || ti < 0 || ti > rounds) throw new Error(`fitGamma: t[${i}] = ${ti} is not a round index in [0, ${rounds}]`);
    if (i > 0 && !(ti > t[i - 1])) throw new Error(`fitGamma: time must increase strictly at index ${i}`);
  });
  allocationFractions(fractions, rounds);
  const dt = options.dt ?? 0.01;
  const n = t.length;
  const residuals = (p: number[]) => {
    const [alphaK, betaK, bOverK, s0, v0, gamma] = p;
    const run = simulateCrossImprovement({
      alpha: alphaK,
      beta: betaK,
      k: 1,
      b: bOverK,
      solver0: s0,
      verifier0: v0,
      gamma,
      rounds,
      fractions,
      dt,
    });
    const out = new Array<number>(2 * n);
    for (let i = 0; i < n; i++) {
      out[i] = run.solver[t[i]] - solver[i];
      out[n + i] = run.verifier[t[i]] - verifier[i];
    }
    return out;
  };
  // start from the shared-rate fit that ignores the injections
  const shared = fitSharedRate({ t, solver, verifier });
  const combos = combosFromIdentifiable(identifiableFromFit(shared));
  const atZero = predictShared(shared, 0); // the fit's amplitudes refer to its first point; the simulation starts at round 0
  const base = [combos.alphaK, combos.betaK, combos.bOverK, atZero.solver, atZero.verifier];
  const sumSq = (r: number[]) => r.reduce((s, v) => s + v * v, 0);
  let start = [...base, 0];
  let startRss = Infinity;
  for (const g of [0, 0.01, 0.03, 0.1, 0.3, 1, 3]) {
    const p = [...base, g];
    const rss = sumSq(residuals(p));
    if (rss < startRss) [start, startRss] = [p, rss];
  }
  const lower = [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 0];
  const fit = levenbergMarquardt(residuals, start, undefined, { lower, tolerance: 1e-14 });
  const dof = 2 * n - 6;
  const J = finiteDifferenceJacobian(residuals, fit.p, lower);
  const variance = dof > 0 ? (inverseNormalMatrix(J)[5][5] * fit.rss) / dof : NaN;
  const stderr = Math.sqrt(Math.max(variance, 0));
  const tq = dof > 0 ? studentTQuantile(0.5 + (options.confidence ?? 0.95) / 2, dof) : NaN;
  const r = residuals(fit.p);
  const [alphaK, betaK, bOverK, solver0, verifier0, gamma] = fit.p;
  return {
    gamma: { value: gamma, lower: Math.max(0, gamma - tq * stderr), upper: gamma + tq * stderr, stderr },
    alphaK,
    betaK,
    bOverK,
    solver0,
    verifier0,
    rss: fit.rss,
    r2: {
      solver: rSquared(
        solver,
        solver.map((y, i) => y + r[i]),
      ),
      verifier: rSquared(
        verifier,
        verifier.map((y, i) => y + r[n + i]),
      ),
    },
  };
}

/** One arm of a cross experiment for fitCrossGamma: its η_t, its external queries, its U trajectory (mean over seeds, time in rounds). */
export interface CrossArmTrajectory {
  name: string;
  fractions: number[];
  queries: number;
  trajectory: Trajectory;
}

export interface CrossGammaFit {
  base: string; // the arm whose shared-rate fit gives the dynamics
  baseFit: SharedRateFit;
  dynamics: { alpha: number; beta: number; k: number; b: number };
  start: { solver0: number; verifier0: number }; // the base fit's own t = 0 point
  gammaBudget: number; // γ·M (NaN when no arm with budget besides the base)
  predicted: Record<string, { t: number[]; solver: number[]; verifier: number[] }>; // per arm, t in rounds 0..rounds
}

/**
 * γ of U_v ← U_v/(1 + γMη_t) over the arms. Dynamics (α, β, b at k = 1): the shared-rate fit (Prop. 3.1) of the base
 * arm (none, else the arm with the fewest queries). γM: one value for all arms, by least squares of the predicted vs
 * measured final U_s, each relative to the base arm so the base's own misfit cancels:
 * Σ_arms [(Ŝ_a(γ) − Ŝ_base(γ)) − (S_a − S_base)]², Ŝ from simulateCrossImprovement, every arm from the base fit's t = 0
 * point (U_s∞ moves by α/(α−β)·ΔU_v0, so a measured start off the curve by noise would shift every prediction); γ may
 * come out negative (external picks that raise U_v). Returns each arm's predicted trajectory.
 */
export function fitCrossGamma(arms: CrossArmTrajectory[], rounds: number): CrossGammaFit {
  if (arms.length === 0) throw new Error('no finished arm');
  const base = arms.find((a) => a.name === 'none') ?? arms.slice().sort((a, b) => a.queries - b.queries)[0];
  const baseFit = fitSharedRate(base.trajectory);
  const p = physicalFromIdentifiable(identifiableFromFit(baseFit));
  if (![p.alpha, p.beta, p.b].every(Number.isFinite) || p.alpha === p.beta) {
    throw new Error(`the shared-rate fit of arm ${base.name} gives no usable dynamics (α=${p.alpha}, β=${p.beta}, b=${p.b})`);
  }
  const dynamics = { alpha: p.alpha, beta: p.beta, k: p.k, b: p.b };
  const start = { solver0: p.solver0, verifier0: p.verifier0 };
  const simulate = (arm: CrossArmTrajectory, gammaBudget: number) =>
    simulateCrossImprovement({ ...dynamics, ...start, gamma: gammaBudget, rounds, fractions: arm.fractions });
  const others = arms.filter((a) => a !== base && a.queries > 0);
  const gammaBudget =
    others.length > 0
      ? fitGammaBudget(
          others,
          (a, g) => simulate(a, g).solver[rounds] - simulate(base, g).solver[rounds],
          (a) => a.trajectory.solver.at(-1)! - base.trajectory.solver.at(-1)!,
        )
      : NaN;
  const predicted = Object.fromEntries(
    arms.map((a) => {
      const g = a.queries === 0 ? 0 : gammaBudget;
      if (!Number.isFinite(g)) return [a.name, { t: [], solver: [], verifier: [] }];
      const sim = simulate(a, g);
      return [a.name, { t: sim.t, solver: sim.solver, verifier: sim.verifier }];
    }),
  );
  return { base: base.name, baseFit, dynamics, start, gammaBudget, predicted };
}

/**
 * The γM minimising Σ_a (predicted(a, γM) − measured(a))²: a signed log grid (γ < 0 down to where some 1 + γMη_t
 * would reach 0), then golden-section search between the best grid point's neighbours.
 */
function fitGammaBudget(
  arms: CrossArmTrajectory[],
  predicted: (a: CrossArmTrajectory, g: number) => number,
  measured: (a: CrossArmTrajectory) => number,
): number {
  const objective = (g: number) => arms.reduce((s, a) => s + (predicted(a, g) - measured(a)) ** 2, 0);
  const maxEta = Math.max(...arms.map((a) => Math.max(...a.fractions)));
  const floor = -(1 - 1e-3) / maxEta;
  const magnitudes = Array.from({ length: 57 }, (_, i) => 10 ** (-4 + i / 8));
  const grid = [
    floor,
    ...magnitudes
      .filter((m) => -m > floor)
      .map((m) => -m)
      .reverse(),
    0,
    ...magnitudes,
  ];
  const values = grid.map(objective);
  const best = values.indexOf(Math.min(...values));
  const candidate = goldenSection(objective, grid[Math.max(0, best - 1)], grid[Math.min(grid.length - 1, best + 1)]);
  return objective(candidate) <= values[best] ? candidate : grid[best];
}
