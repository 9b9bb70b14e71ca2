// writePaperComparison (npm run paper -- figures) on synthetic runs with known dynamics: the run's columns recover the
// closed form's rate and limits, the paper's are the fit of the digitised points, bad panels and run dirs are named.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR } from '../src/data/index.js';
import { markdownTable, readPaperFig4, writePaperComparison } from '../src/report/index.js';
import { fitSharedRate } from '../src/theory/index.js';
import { DEFAULT_PHYSICAL, writeSyntheticRun } from './fixtures/report/synthetic.js';
import { sharedData } from './helpers.js';

const FIG4 = join(DEFAULT_DATA_DIR, 'paper-fig4', 'phi4_figure4_digitized.csv');
const HAVE_FIG4 = sharedData(DEFAULT_DATA_DIR, 'paper-fig4/phi4_figure4_digitized.csv');

// Prop. 3.1 by hand for DEFAULT_PHYSICAL (α 1.5, β 0.5, k 0.6, b 0.3, U_s0 9, U_v0 6.5): r = k(α−β) = 0.6,
// G∞ = b/k = 0.5, U_s∞ = (αU_v0 − βU_s0 + αb/k)/(α−β) = 9.75 − 4.5 + 0.75 = 6, U_v∞ = U_s∞ − G∞ = 5.5
const TRUTH = { rate: 0.6, solver: 6, verifier: 5.5 };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'svgap-paper-report-'));
  expect(DEFAULT_PHYSICAL).toEqual({ alpha: 1.5, beta: 0.5, k: 0.6, b: 0.3, solver0: 9, verifier0: 6.5 });
  writeSyntheticRun(join(dir, 'runs', 'gsm8k_tf'), { rounds: 10, noise: 0 });
  writeSyntheticRun(join(dir, 'runs', 'math_qe'), { rounds: 10, noise: 0.05, seed: 4 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_FIG4)('writePaperComparison', () => {
  it('fits each run and the paper panel beside it, and writes figures, markdown and JSON', async () => {
    const out = join(dir, 'figures');
    const { rows, markdown, json } = await writePaperComparison({
      runsDir: join(dir, 'runs'),
      paperFig4: FIG4,
      panels: ['gsm8k_tf', 'math_qe'],
      out,
      formats: ['svg'],
    });
    const [exact, noisy] = rows;
    expect(exact.run.points).toBe(21);
    expect(exact.run.rate!).toBeCloseTo(TRUTH.rate, 6);
    expect(exact.run.limits.solver!).toBeCloseTo(TRUTH.solver, 6);
    expect(exact.run.limits.verifier!).toBeCloseTo(TRUTH.verifier, 6);
    expect(exact.run.r2.solver!).toBeCloseTo(1, 9);
    expect(exact.run.flags).toEqual([]);
    // the noisy run's columns are the shared-rate fit of its own metrics.jsonl
    const lines = readFileSync(join(dir, 'runs', 'math_qe', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const fit = fitSharedRate({
      t: lines.map((m) => m.t),
      solver: lines.map((m) => m.solverUncertainty),
      verifier: lines.map((m) => m.verifierUncertainty),
    });
    expect(noisy.run.rate).toBe(fit.rate.value);
    expect(noisy.run.limits).toEqual({ solver: fit.limits.solver.value, verifier: fit.limits.verifier.value });
    expect(noisy.run.r2).toEqual(fit.r2);
    const paper = fitSharedRate(readPaperFig4(FIG4).math_qe);
    expect(noisy.paper.rate).toBe(paper.rate.value);
    expect(noisy.paper.r2).toEqual(paper.r2);

    expect(JSON.parse(readFileSync(json, 'utf8')).panels).toEqual(rows);
    const md = readFileSync(markdown, 'utf8').split('\n');
    expect(md[4]).toMatch(/^\| GSM8K, TF verifier \| 21 \| 1 \/ 1 \/ 1 \| 6 \| 5\.5 \| 0\.6 \| 20 \| /);
    expect(md[5]).toMatch(/^\| MATH, QE verifier \| 21 \| /);
    const svg = readFileSync(join(out, 'paper-gsm8k_tf.svg'), 'utf8');
    expect(svg).toContain('this run, gsm8k_tf (nats per response)');
    expect(svg).toContain('the paper, Phi-4, digitised (rescaled units)');
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('paper U_s∞');
  });

  it('keeps a run too short to fit: its points drawn, nulls and the reason in the table', async () => {
    writeSyntheticRun(join(dir, 'short', 'gsm8k_qe'), { trajectory: { t: [0, 0.5], solver: [9, 8], verifier: [6.5, 6.2] } });
    const out = join(dir, 'short-figures');
    const { rows, markdown } = await writePaperComparison({
      runsDir: join(dir, 'short'),
      paperFig4: FIG4,
      panels: ['gsm8k_qe'],
      out,
      formats: ['svg'],
    });
    expect(rows[0].run).toMatchObject({
      points: 2,
      rate: null,
      limits: { solver: null, verifier: null },
      r2: { solver: null, verifier: null, gap: null },
    });
    expect(rows[0].run.error).toMatch(/2 time points, need at least 3/);
    expect(Number.isFinite(rows[0].paper.rate)).toBe(true);
    expect(readFileSync(markdown, 'utf8')).toMatch(
      /\| GSM8K, QE verifier \| 2 \| n\/a \/ n\/a \/ n\/a \| n\/a \| n\/a \| n\/a \| 20 \| .*2 time points, need at least 3/,
    );
    expect(readFileSync(join(out, 'paper-gsm8k_qe.svg'), 'utf8')).toContain('(no fit)');
  });

  it('names a panel the CSV lacks and a panel without a run directory', async () => {
    const base = { runsDir: join(dir, 'runs'), paperFig4: FIG4, out: join(dir, 'bad'), formats: ['svg' as const] };
    await expect(writePaperComparison({ ...base, panels: ['gsm8k_xx'] })).rejects.toThrow(/no panel 'gsm8k_xx' \(it has .*gsm8k_tf/);
    await expect(writePaperComparison({ ...base, panels: ['gsm8k_tf', 'math_tf'] })).rejects.toThrow(
      `${join(dir, 'runs', 'math_tf')}: not a run directory (no metrics.jsonl)`,
    );
  });
});

describe('markdownTable', () => {
  it('escapes pipes, formats numbers and keeps one line per row', () => {
    const md = markdownTable({
      caption: 'c',
      header: ['a', 'b'],
      rows: [
        ['x|y', 0.123456789],
        ['two\nlines', NaN],
      ],
    });
    expect(md).toBe('c\n\n| a | b |\n| --- | --- |\n| x\\|y | 0.1235 |\n| two lines | n/a |\n');
  });
});
