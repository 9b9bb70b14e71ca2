import { describe, expect, it } from 'vitest';
import {
  closedForm,
  combosFromIdentifiable,
  conservedQuantity,
  fitSharedRate,
  identifiableFromPhysical,
  linearPotential,
  physicalFromIdentifiable,
  roundsToConverge,
  simulateDynamics,
  solverLimitFromState,
  solverLimitSensitivity,
  type PhysicalParams,
} from '../src/theory/index.js';

const cases: PhysicalParams[] = [
  { alpha: 0.6, beta: 0.24, k: 1, b: 0.04, solver0: 1, verifier0: 0.4 },
  { alpha: 2.5, beta: 1.1, k: 0.3, b: -0.2, solver0: 30, verifier0: 21 },
  { alpha: 0.05, beta: 0.45, k: -2, b: 0.3, solver0: 5, verifier0: 6 }, // α < β with k < 0: still r > 0
];

const times = Array.from({ length: 41 }, (_, i) => 0.25 * i);

describe('closed form (Prop. 3.1) against RK4 integration of the ODE', () => {
  for (const p of cases) {
    it(`agrees to 1e-8 for ${JSON.stringify(p)}`, () => {
      const q = identifiableFromPhysical(p);
      expect(q.rate).toBeGreaterThan(0);
      const ode = simulateDynamics({ ...p, potential: linearPotential(p.k, p.b) }, times, 1e-3);
      let worst = 0;
      times.forEach((t, i) => {
        const c = closedForm(q, t);
        worst = Math.max(worst, Math.abs(c.solver - ode.solver[i]), Math.abs(c.verifier - ode.verifier[i]), Math.abs(c.gap - ode.gap[i]));
      });
      expect(worst).toBeLessThan(1e-8);
      // the closed form starts where the ODE starts and approaches the stated limits
      expect(closedForm(q, 0).solver).toBeCloseTo(p.solver0, 12);
      expect(closedForm(q, 0).verifier).toBeCloseTo(p.verifier0, 12);
      expect(closedForm(q, 1e4).gap).toBeCloseTo(p.b / p.k, 10);
    });
  }

  it('conserves αU_v − βU_s along the trajectory, for the linear and a non-linear potential', () => {
    const p = cases[0];
    for (const potential of [linearPotential(p.k, p.b), (g: number) => 0.8 * g * g + 0.5 * g - 0.02]) {
      const ode = simulateDynamics({ ...p, potential }, times, 1e-3);
      const q0 = conservedQuantity(p.alpha, p.beta, ode.solver[0], ode.verifier[0]);
      ode.solver.forEach((s, i) => expect(Math.abs(conservedQuantity(p.alpha, p.beta, s, ode.verifier[i]) - q0)).toBeLessThan(1e-12));
    }
  });
});

describe('identifiability', () => {
  it('round-trips physical → identifiable → combos, and the free scale leaves curves unchanged', () => {
    const p = cases[1];
    const q = identifiableFromPhysical(p);
    const c = combosFromIdentifiable(q);
    expect(c.alphaK).toBeCloseTo(p.alpha * p.k, 12);
    expect(c.betaK).toBeCloseTo(p.beta * p.k, 12);
    expect(c.bOverK).toBeCloseTo(p.b / p.k, 12);
    expect(c.alphaOverBeta).toBeCloseTo(p.alpha / p.beta, 12);
    expect(c.solver0).toBeCloseTo(p.solver0, 10);
    expect(c.verifier0).toBeCloseTo(p.verifier0, 10);
    // two physical representatives with different k give the same trajectory
    for (const k of [0.1, 7]) {
      const rep = physicalFromIdentifiable(q, k);
      expect(rep.alpha).not.toBeCloseTo(p.alpha, 3);
      const q2 = identifiableFromPhysical(rep);
      for (const key of Object.keys(q) as (keyof typeof q)[]) expect(q2[key]).toBeCloseTo(q[key], 10);
    }
  });
});

describe('corollaries', () => {
  it('Cor. 3.2: |G − G∞| equals ε exactly at the predicted time, and is below it after', () => {
    for (const p of cases) {
      const q = identifiableFromPhysical(p);
      const delta = q.solverAmplitude - q.verifierAmplitude;
      const gInf = p.b / p.k;
      const eps = 1e-3 * Math.abs(delta);
      const tStar = roundsToConverge(delta, q.rate, eps);
      expect(Math.abs(closedForm(q, tStar).gap - gInf)).toBeCloseTo(eps, 12);
      const ode = simulateDynamics({ ...p, potential: linearPotential(p.k, p.b) }, [0, tStar * 0.99, tStar * 1.01], 1e-3);
      expect(Math.abs(ode.gap[1] - gInf)).toBeGreaterThan(eps);
      expect(Math.abs(ode.gap[2] - gInf)).toBeLessThan(eps);
    }
    expect(roundsToConverge(0.01, 0.5, 0.1)).toBe(0);
    expect(() => roundsToConverge(1, 0.5, 0)).toThrow(/epsilon/);
    expect(() => roundsToConverge(1, 0, 0.1)).toThrow(/rate must be > 0, got 0/); // no relaxation: never within ε
    expect(() => roundsToConverge(1, -0.5, 0.1)).toThrow(/rate must be > 0, got -0.5/);
  });

  it('Cor. 3.1: −β/(α−β) matches a central difference of the fitted limit in G0 (U_v0 fixed)', () => {
    const p = cases[0];
    const t = Array.from({ length: 30 }, (_, i) => 0.5 * i);
    const h = 1e-3;
    const fittedLimit = (g0: number) => {
      const run = simulateDynamics({ ...p, solver0: p.verifier0 + g0, potential: linearPotential(p.k, p.b) }, t, 1e-3);
      return fitSharedRate(run).limits.solver.value;
    };
    const g0 = p.solver0 - p.verifier0;
    const derivative = (fittedLimit(g0 + h) - fittedLimit(g0 - h)) / (2 * h);
    expect(derivative).toBeCloseTo(solverLimitSensitivity(p.alpha, p.beta), 6);
    // and the state formula agrees with the closed-form limit
    expect(solverLimitFromState(p, p.solver0, p.verifier0)).toBeCloseTo(identifiableFromPhysical(p).solverLimit, 12);
    // with k ≠ 1, by hand: (2.5·21 − 1.1·30 + 2.5·(−0.2)/0.3)/(2.5 − 1.1) = 17.8333…/1.4 = 12.7380952…, from any state on the path
    const q = cases[1];
    expect(solverLimitFromState(q, q.solver0, q.verifier0)).toBeCloseTo(17.833333333333333 / 1.4, 10);
    const later = closedForm(identifiableFromPhysical(q), 2);
    expect(solverLimitFromState(q, later.solver, later.verifier)).toBeCloseTo(17.833333333333333 / 1.4, 10);
    expect(() => solverLimitSensitivity(1, 1)).toThrow(/alpha != beta/);
  });
});
