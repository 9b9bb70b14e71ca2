// The paper's linear dynamics (Sec. 3): dU_s/dt = −αE, dU_v/dt = −βE, E = kG − b, G = U_s − U_v,
// its closed-form solution (Prop. 3.1), the two corollaries and the conserved quantity.
//
// Identifiability: the curves U_s(t), U_v(t) determine exactly five numbers — the shared rate
// r = k(α−β), the amplitudes α′, β′ and the limits U_s∞, U_v∞ (equivalently U_s0, U_v0, kα, kβ, b/k).
// The six physical parameters (α, β, k, b, U_s0, U_v0) are NOT all identifiable: (α, β, k, b) →
// (cα, cβ, k/c, b/c) leaves every trajectory unchanged. What curves do fix is α/β = α′/β′, the
// products kα = rα′/δ and kβ = rβ′/δ (δ = α′ − β′), and b/k = G∞. Report those, never α or k alone.

/** The physical parameters of the ODE (one free scale is not identifiable; see above). */
export interface PhysicalParams {
  alpha: number;
  beta: number;
  k: number;
  b: number;
  solver0: number; // U_s(0)
  verifier0: number; // U_v(0)
}

/** The parameters a trajectory determines: U_s = α′e^{−rt} + U_s∞, U_v = β′e^{−rt} + U_v∞. */
export interface IdentifiableParams {
  rate: number; // r = k(α−β)
  solverAmplitude: number; // α′
  verifierAmplitude: number; // β′
  solverLimit: number; // U_s∞
  verifierLimit: number; // U_v∞
}

/** Identifiable combinations of the physical parameters (the scale-free ones). */
export interface IdentifiableCombos {
  alphaK: number; // kα
  betaK: number; // kβ
  bOverK: number; // b/k = G∞
  alphaOverBeta: number; // α/β = α′/β′
  solver0: number;
  verifier0: number;
}

function checkDistinctRates(alpha: number, beta: number): void {
  if (alpha === beta) throw new Error('closed form needs alpha != beta (the gap does not relax when alpha = beta)');
}

/** Prop. 3.1: physical → identifiable parameters. */
export function identifiableFromPhysical(p: PhysicalParams): IdentifiableParams {
  checkDistinctRates(p.alpha, p.beta);
  const gapLimit = p.b / p.k;
  const delta = p.solver0 - p.verifier0 - gapLimit; // δ = U_s0 − U_v0 − b/k
  const d = p.alpha - p.beta;
  const solverLimit = (p.alpha * p.verifier0 - p.beta * p.solver0 + (p.alpha * p.b) / p.k) / d;
  return {
    rate: p.k * d,
    solverAmplitude: (p.alpha * delta) / d,
    verifierAmplitude: (p.beta * delta) / d,
    solverLimit,
    verifierLimit: solverLimit - gapLimit,
  };
}

/** Identifiable combinations from identifiable parameters (inverse of Prop. 3.1 up to the free scale). */
export function combosFromIdentifiable(q: IdentifiableParams): IdentifiableCombos {
  const delta = q.solverAmplitude - q.verifierAmplitude;
  return {
    alphaK: (q.rate * q.solverAmplitude) / delta,
    betaK: (q.rate * q.verifierAmplitude) / delta,
    bOverK: q.solverLimit - q.verifierLimit,
    alphaOverBeta: q.solverAmplitude / q.verifierAmplitude,
    solver0: q.solverAmplitude + q.solverLimit,
    verifier0: q.verifierAmplitude + q.verifierLimit,
  };
}

/** One representative of the physical parameters for given identifiable ones, with the free scale fixed by `k`. */
export function physicalFromIdentifiable(q: IdentifiableParams, k = 1): PhysicalParams {
  const c = combosFromIdentifiable(q);
  return { alpha: c.alphaK / k, beta: c.betaK / k, k, b: c.bOverK * k, solver0: c.solver0, verifier0: c.verifier0 };
}

/** Prop. 3.1 evaluated at time t. */
export function closedForm(q: IdentifiableParams, t: number): { solver: number; verifier: number; gap: number } {
  const e = Math.exp(-q.rate * t);
  const solver = q.solverAmplitude * e + q.solverLimit;
  const verifier = q.verifierAmplitude * e + q.verifierLimit;
  return { solver, verifier, gap: solver - verifier };
}

/** Cor. 3.1: ∂U_s∞/∂G0 = −β/(α−β), the change of G0 = U_s0 − U_v0 being taken at fixed U_v0. */
export function solverLimitSensitivity(alpha: number, beta: number): number {
  checkDistinctRates(alpha, beta);
  return -beta / (alpha - beta);
}

/** Cor. 3.2: time after which |G(t) − G∞| < ε, i.e. ln(|δ|/ε)/r (0 if already within ε at t = 0). */
export function roundsToConverge(delta: number, rate: number, epsilon: number): number {
  if (!(epsilon > 0)) throw new Error(`roundsToConverge: epsilon must be > 0, got ${epsilon}`);
  if (!(rate > 0)) throw new Error(`roundsToConverge: rate must be > 0, got ${rate}`);
  return Math.max(0, Math.log(Math.abs(delta) / epsilon) / rate);
}

/** αU_v − βU_s, constant along the dynamics (d/dt = −αβE + βαE = 0). */
export function conservedQuantity(alpha: number, beta: number, solver: number, verifier: number): number {
  return alpha * verifier - beta * solver;
}

/** U_s∞ reached from any state (U_s, U_v), via the conserved quantity: (αU_v − βU_s + αb/k)/(α−β). */
export function solverLimitFromState(p: { alpha: number; beta: number; k: number; b: number }, solver: number, verifier: number): number {
  checkDistinctRates(p.alpha, p.beta);
  return (conservedQuantity(p.alpha, p.beta, solver, verifier) + (p.alpha * p.b) / p.k) / (p.alpha - p.beta);
}
