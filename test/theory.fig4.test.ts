// The paper's Figure 4 (Phi-4, digitised): the shared-rate fit must reproduce its R² table to 3 decimals.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fitSharedRate, readTrajectoryFile } from '../src/theory/index.js';
import { sharedData } from './helpers.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataRoot = process.env.SVGAP_DATA ?? join(repoRoot, '..', 'shared', 'datasets');
const file = join(dataRoot, 'paper-fig4', 'phi4_figure4_digitized.csv');
const present = sharedData(dataRoot, 'paper-fig4/phi4_figure4_digitized.csv');

// the paper's table: solver / verifier / gap
const paper: Record<string, [number, number, number]> = {
  math_qe: [0.998, 0.981, 0.981],
  gsm8k_qe: [0.996, 0.966, 0.948],
  math_tf: [0.998, 0.979, 0.984],
  gsm8k_tf: [0.998, 0.98, 0.989],
};

describe.skipIf(!present)('Figure 4 of the paper', () => {
  it('reproduces the R² table to 3 decimals for all four panels', () => {
    const table = readTrajectoryFile(file, { valueCol: 'affine_uncertainty' });
    expect(table.format).toBe('long');
    expect(table.timeCol).toBe('epoch');
    expect(Object.keys(table.panels).sort()).toEqual(Object.keys(paper).sort());
    for (const [panel, [solver, verifier, gap]] of Object.entries(paper)) {
      const tr = table.panels[panel];
      expect(tr.t).toHaveLength(20);
      expect(tr.gap).toHaveLength(20);
      const fit = fitSharedRate(tr);
      // "to 3 decimals": the fitted R² rounds to the paper's value
      expect(Math.abs(fit.r2.solver - solver), `${panel} solver ${fit.r2.solver}`).toBeLessThanOrEqual(0.0005);
      expect(Math.abs(fit.r2.verifier - verifier), `${panel} verifier ${fit.r2.verifier}`).toBeLessThanOrEqual(0.0005);
      expect(Math.abs(fit.r2.gap - gap), `${panel} gap ${fit.r2.gap}`).toBeLessThanOrEqual(0.0005);
      expect(fit.rate.lower).toBeGreaterThan(0);
    }
  });
});
