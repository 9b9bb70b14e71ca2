import { describe, expect, it } from 'vitest';
import {
  allocationFractions,
  closedForm,
  compareAllocations,
  conservedQuantity,
  fitGamma,
  identifiableFromPhysical,
  simulateCrossImprovement,
  solverLimitFromState,
} from '../src/theory/index.js';
import { makeRng } from '../src/theory/numeric.js';

const base = { alpha: 0.6, beta: 0.24, k: 1, b: 0.04, solver0: 1, verifier0: 0.4 };

describe('allocation schedules', () => {
  it('builds early/uniform/late fractions that sum to 1 and validates custom ones', () => {
    for (const a of ['early', 'uniform', 'late'] as const) {
      const f = allocationFractions(a, 10);
      expect(f).toHaveLength(10);
      expect(f.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    }
    expect(allocationFractions('early', 9).slice(0, 3)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(allocationFractions('late', 9).slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(allocationFractions([0.5, 0.5, 0], 3)).toEqual([0.5, 0.5, 0]);
    expect(() => allocationFractions([0.5, 0.4, 0], 3)).toThrow(/sum to 1/);
    expect(() => allocationFractions([0.5, 0.5], 3)).toThrow(/2 fractions given for 3 rounds/);
    expect(() => allocationFractions([1.5, -0.5, 0], 3)).toThrow(/non-negative/);
    expect(() => allocationFractions('uniform', 0)).toThrow(/positive integer/);
  });
});

describe('simulateCrossImprovement', () => {
  it('without external data follows the closed form at every round', () => {
    const q = identifiableFromPhysical(base);
    const run = simulateCrossImprovement({ ...base, gamma: 0, rounds: 12, fractions: allocationFractions('uniform', 12), dt: 1e-3 });
    expect(run.t).toEqual(Array.from({ length: 13 }, (_, i) => i));
    run.t.forEach((t, i) => expect(Math.abs(run.solver[i] - closedForm(q, t).solver)).toBeLessThan(1e-8));
  });

  it('moves the conserved quantity by exactly α·ΔU_v at an injection, and the limit follows it', () => {
    const fractions = [0, 0, 1, 0, 0, 0];
    const gamma = 0.5;
    const run = simulateCrossImprovement({ ...base, gamma, rounds: 6, fractions, dt: 1e-3 });
    // the injection happens at the start of round 3 (t = 2 → 3); between round ends 2 and 3 the only jump is it
    const vBefore = run.verifier[2];
    const dv = vBefore - vBefore / (1 + gamma);
    const q2 = conservedQuantity(base.alpha, base.beta, run.solver[2], run.verifier[2]);
    const q3 = conservedQuantity(base.alpha, base.beta, run.solver[3], run.verifier[3]);
    expect(q3 - q2).toBeCloseTo(-base.alpha * dv, 10);
    // the stated limit is where a long continuation really ends
    const last = run.solver.length - 1;
    const limit = solverLimitFromState(base, run.solver[last], run.verifier[last]);
    const cont = simulateCrossImprovement({
      ...base,
      solver0: run.solver[last],
      verifier0: run.verifier[last],
      gamma: 0,
      rounds: 80,
      fractions: new Array(80).fill(1 / 80),
      dt: 0.01,
    });
    expect(cont.solver[80]).toBeCloseTo(limit, 9);
  });

  it('rejects mismatched fractions and a γ that makes some 1 + γη_t ≤ 0; a milder negative γ raises U_v', () => {
    expect(() => simulateCrossImprovement({ ...base, gamma: 1, rounds: 3, fractions: [1] })).toThrow(/1 fractions for 3 rounds/);
    expect(() => simulateCrossImprovement({ ...base, gamma: -1, rounds: 1, fractions: [1] })).toThrow(/1 \+ γη in round 1 is 0/);
    expect(() => simulateCrossImprovement({ ...base, gamma: NaN, rounds: 1, fractions: [1] })).toThrow(/gamma must be finite/);
    const raised = simulateCrossImprovement({ ...base, gamma: -0.5, rounds: 1, fractions: [1], dt: 1e-3 });
    const plain = simulateCrossImprovement({ ...base, verifier0: base.verifier0 * 2, gamma: 0, rounds: 1, fractions: [1], dt: 1e-3 });
    expect(raised.solver[1]).toBeCloseTo(plain.solver[1], 12); // U_v/(1 − 0.5) = 2·U_v at the start of the round
  });
});

describe('Prop. 5.1: allocation-independence with a limited budget', () => {
  it('a small budget leaves the final solver nearly allocation-independent, a large one does not', () => {
    const small = compareAllocations({ ...base, gamma: 0.02, rounds: 15 });
    expect(small.outcomes.map((o) => o.name)).toEqual(['early', 'uniform', 'late']);
    expect(small.regime.independent).toBe(true);
    // the first-order estimate bounds the spread of the limits
    expect(small.regime.limitSpread).toBeLessThanOrEqual(small.regime.limitSpreadEstimate);
    // external data helps whatever the schedule
    const none = compareAllocations({ ...base, gamma: 0, rounds: 15 });
    for (const o of small.outcomes) expect(o.finalSolver).toBeLessThan(none.outcomes[1].finalSolver);

    const large = compareAllocations({ ...base, gamma: 2, rounds: 15 });
    expect(large.regime.independent).toBe(false);
    expect(large.regime.finalSpread).toBeGreaterThan(10 * small.regime.finalSpread);
    expect(large.regime.limitSpread).toBeLessThanOrEqual(large.regime.limitSpreadEstimate);
  });

  it('budget scales gamma, and custom schedules are accepted', () => {
    const a = compareAllocations({ ...base, gamma: 0.1, budget: 3, rounds: 6 }, { mid: [0, 0, 0.5, 0.5, 0, 0] });
    const b = compareAllocations({ ...base, gamma: 0.3, rounds: 6 }, { mid: [0, 0, 0.5, 0.5, 0, 0] });
    expect(a.outcomes[0].finalSolver).toBeCloseTo(b.outcomes[0].finalSolver, 12);
  });
});

describe('fitGamma', () => {
  const fractions = allocationFractions('early', 12);
  const gamma = 0.6;
  const run = simulateCrossImprovement({ ...base, gamma, rounds: 12, fractions });

  it('recovers γ and the identifiable dynamics from a noiseless run with external data', () => {
    const fit = fitGamma({ t: run.t, solver: run.solver, verifier: run.verifier }, fractions);
    expect(fit.gamma.value).toBeCloseTo(gamma, 5);
    expect(fit.alphaK).toBeCloseTo(base.alpha * base.k, 5);
    expect(fit.betaK).toBeCloseTo(base.beta * base.k, 5);
    expect(fit.bOverK).toBeCloseTo(base.b / base.k, 5);
  });

  it('brackets γ with its interval under noise, and validates round indices', () => {
    const rng = makeRng(2);
    const noisy = {
      t: run.t,
      solver: run.solver.map((v) => v + 0.003 * rng.normal()),
      verifier: run.verifier.map((v) => v + 0.003 * rng.normal()),
    };
    const fit = fitGamma(noisy, fractions);
    expect(fit.gamma.lower).toBeLessThan(gamma);
    expect(fit.gamma.upper).toBeGreaterThan(gamma);
    expect(fit.r2.solver).toBeGreaterThan(0.99);
    expect(() => fitGamma({ t: [0, 0.5, 1, 2], solver: [1, 1, 1, 1], verifier: [1, 1, 1, 1] }, fractions)).toThrow(
      /t\[1\] = 0.5 is not a round index/,
    );
  });
});
