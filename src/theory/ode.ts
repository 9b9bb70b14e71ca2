// Numerical integration of the solver–verifier dynamics with a general potential E = f(G):
// dU_s/dt = −α f(G), dU_v/dt = −β f(G), G = U_s − U_v (Sec. 3; the paper's E = kG − b is f linear).
// Classical fixed-step RK4: used to check the closed form and to simulate non-linear potentials.

export interface DynamicsParams {
  alpha: number;
  beta: number;
  solver0: number;
  verifier0: number;
  /** E = potential(G); use linearPotential(k, b) for the paper's E = kG − b */
  potential: (gap: number) => number;
}

export interface SimulatedTrajectory {
  t: number[];
  solver: number[];
  verifier: number[];
  gap: number[];
}

export function linearPotential(k: number, b: number): (gap: number) => number {
  return (gap) => k * gap - b;
}

/** One RK4 step of length h from (U_s, U_v). */
export function rk4Step(
  alpha: number,
  beta: number,
  potential: (gap: number) => number,
  solver: number,
  verifier: number,
  h: number,
): [number, number] {
  // both derivatives are multiples of E, so only E needs four evaluations
  const e1 = potential(solver - verifier);
  const e2 = potential(solver - verifier - (h / 2) * (alpha - beta) * e1);
  const e3 = potential(solver - verifier - (h / 2) * (alpha - beta) * e2);
  const e4 = potential(solver - verifier - h * (alpha - beta) * e3);
  const e = (e1 + 2 * e2 + 2 * e3 + e4) / 6;
  return [solver - h * alpha * e, verifier - h * beta * e];
}

/** Advance (U_s, U_v) by `duration` with steps no longer than `maxStep`. */
export function integrate(
  alpha: number,
  beta: number,
  potential: (gap: number) => number,
  solver: number,
  verifier: number,
  duration: number,
  maxStep: number,
): [number, number] {
  if (duration === 0) return [solver, verifier];
  const steps = Math.max(1, Math.ceil(Math.abs(duration) / maxStep - 1e-9));
  const h = duration / steps;
  for (let i = 0; i < steps; i++) [solver, verifier] = rk4Step(alpha, beta, potential, solver, verifier, h);
  return [solver, verifier];
}

/**
 * Solve the dynamics from t = times[0] (where U = solver0, verifier0) and report the state at every
 * requested time (ascending). `maxStep` bounds the RK4 step (default 1e-3 of the time span).
 */
export function simulateDynamics(params: DynamicsParams, times: number[], maxStep?: number): SimulatedTrajectory {
  if (times.length === 0) throw new Error('simulateDynamics: no times given');
  for (let i = 1; i < times.length; i++)
    if (!(times[i] > times[i - 1])) throw new Error(`simulateDynamics: times must increase (index ${i})`);
  const span = times[times.length - 1] - times[0];
  const h = maxStep ?? (span > 0 ? span * 1e-3 : 1);
  const out: SimulatedTrajectory = { t: [], solver: [], verifier: [], gap: [] };
  let s = params.solver0;
  let v = params.verifier0;
  for (let i = 0; i < times.length; i++) {
    if (i > 0) [s, v] = integrate(params.alpha, params.beta, params.potential, s, v, times[i] - times[i - 1], h);
    out.t.push(times[i]);
    out.solver.push(s);
    out.verifier.push(v);
    out.gap.push(s - v);
  }
  return out;
}
