// Each figure rendered from small synthetic fixtures: SVG content (series, axis titles, no NaN) and PNG validity.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyRows,
  accuracySpec,
  passAtKRows,
  crossData,
  crossSpec,
  fitPanel,
  gapLinearitySpec,
  linearityPanel,
  paperFig4Figures,
  pngSize,
  rasterise,
  readCross,
  readRun,
  renderPng,
  renderSvg,
  svgWidth,
  throughputRows,
  throughputSpec,
  trajectoryOf,
  uncertaintyFitSpec,
} from '../src/report/index.js';
import { linearityCheck, predictShared } from '../src/theory/index.js';
import { CROSS_ARMS, writeSyntheticCross, writeSyntheticRun } from './fixtures/report/synthetic.js';
import { sharedData } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'svgap-figures-'));
  writeSyntheticRun(join(dir, 'run'), { seed: 3 });
  writeSyntheticCross(join(dir, 'cross'), { seeds: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Text content of every <text> element, one entry per line (multi-line titles are <tspan>s). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].flatMap((m) => {
    const spans = [...m[1].matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g)].map((t) => t[1]);
    return (spans.length ? spans : [m[1]]).map(unescapeXml);
  });
}

/** The bodies of the mark groups whose class starts with `cls` (mark groups hold only paths, no nested groups). */
function markGroups(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`<g class="${cls}[^"]*"[^>]*>(.*?)</g>`, 'gs'))].map((m) => m[1]);
}

function countPaths(body: string): number {
  return (body.match(/<path/g) ?? []).length;
}

function expectClean(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).not.toMatch(/NaN/);
  expect(svg).not.toMatch(/Infinity/);
  // no legend or axis label was cut short
  expect(texts(svg).some((t) => t.includes('…'))).toBe(false);
}

async function expectPng(svg: string): Promise<void> {
  const width = 2 * svgWidth(svg);
  const png = renderPng(svg, width);
  const size = pngSize(png);
  expect(size.width).toBe(width);
  const h = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)![1]);
  expect(Math.abs(size.height - 2 * h)).toBeLessThanOrEqual(1);
}

describe('Figure 4: uncertainty and the shared-rate fit', () => {
  it('draws markers per series, one fitted line per series, R² of the fit in the legend', async () => {
    const run = readRun(join(dir, 'run'));
    const trajectory = trajectoryOf(run.metrics);
    const { panel, fit } = fitPanel('synthetic', trajectory);
    // the fitted curve is the theory's prediction at the grid times
    const mid = Math.floor(panel.curve.t.length / 2);
    expect(panel.curve.solver[mid]).toBeCloseTo(predictShared(fit, panel.curve.t[mid]).solver, 12);
    const svg = await renderSvg(uncertaintyFitSpec([panel]));
    expectClean(svg);
    const labels = texts(svg);
    expect(labels).toContain('training time t (epochs)');
    expect(labels).toContain('uncertainty (nats per response)');
    for (const [name, r2] of [
      ['solver', fit.r2.solver],
      ['verifier', fit.r2.verifier],
      ['gap', fit.r2.gap],
    ] as const) {
      expect(labels.some((l) => l.includes(name) && l.includes(`R² = ${r2.toFixed(3)}`))).toBe(true);
    }
    const lines = markGroups(svg, 'mark-line role-mark');
    expect(lines).toHaveLength(3);
    lines.forEach((l) => expect(countPaths(l)).toBe(1));
    const points = markGroups(svg, 'mark-symbol role-mark');
    expect(points).toHaveLength(1);
    expect(countPaths(points[0])).toBe(3 * trajectory.t.length);
    await expectPng(svg);
  });

  it('adds the early-prediction forecast: bands, dashed lines and the cut-off rule', async () => {
    const trajectory = trajectoryOf(readRun(join(dir, 'run')).metrics);
    const { panel } = fitPanel('synthetic', trajectory, { first: 5 });
    expect(panel.forecast?.tFirst).toBe(trajectory.t[4]);
    const svg = await renderSvg(uncertaintyFitSpec([panel]));
    expectClean(svg);
    expect(markGroups(svg, 'mark-area role-mark')).toHaveLength(3);
    expect(markGroups(svg, 'mark-line role-mark')).toHaveLength(6);
    expect(texts(svg).some((t) => t.includes('first 5 points'))).toBe(true);
  });

  it('skips non-finite measurements instead of drawing NaN', async () => {
    const trajectory = trajectoryOf(readRun(join(dir, 'run')).metrics);
    const { panel } = fitPanel('with a hole', trajectory);
    panel.verifier = panel.verifier.map((v, i) => (i === 3 ? NaN : v));
    const svg = await renderSvg(uncertaintyFitSpec([panel, { ...panel, title: 'second' }]));
    expectClean(svg);
    const points = markGroups(svg, 'mark-symbol role-mark');
    expect(points).toHaveLength(2);
    expect(countPaths(points[0])).toBe(3 * trajectory.t.length - 1);
  });
});

describe('Figure 2: −dG/dt against G', () => {
  it('plots the finite differences and the regression line with its R²', async () => {
    const trajectory = trajectoryOf(readRun(join(dir, 'run')).metrics);
    const panel = linearityPanel('synthetic', trajectory);
    const check = linearityCheck(trajectory);
    const svg = await renderSvg(gapLinearitySpec([panel]));
    expectClean(svg);
    const labels = texts(svg);
    expect(labels).toContain('gap G (nats)');
    expect(labels).toContain('−dG/dt (nats per epoch)');
    expect(labels.some((l) => l.includes(`R² = ${check.r2.toFixed(3)}`))).toBe(true);
    expect(countPaths(markGroups(svg, 'mark-symbol role-mark')[0])).toBe(trajectory.t.length - 1);
    expect(markGroups(svg, 'mark-line role-mark')).toHaveLength(1);
    await expectPng(svg);
  });
});

describe('Figure 3: accuracy, pass@k, length, diversity and uncertainty over training', () => {
  it('has an accuracy row (percent axis), pass@k at the first and last point, length, diversity and uncertainty', async () => {
    const run = readRun(join(dir, 'run'));
    const svg = await renderSvg(accuracySpec(accuracyRows(run.metrics), { passAtK: passAtKRows(run.metrics) }));
    expectClean(svg);
    const labels = texts(svg);
    for (const l of [
      'accuracy',
      'uncertainty (nats per response)',
      'solver (sampled)',
      'verifier (picked)',
      'test (held out)',
      'test, sampled (held out)',
      'G gap',
      'pass@k (evaluation questions)',
      'k (samples drawn)',
      't = 0',
      't = 6',
      'mean length (tokens)',
      'samples',
      'picks',
      'distinct answers per question',
    ]) {
      expect(labels).toContain(l);
    }
    expect(labels.some((l) => /^\d+%$/.test(l))).toBe(true);
    // lines: 4 accuracies, 2 pass@k curves, 2 lengths, 1 diversity, 3 uncertainties
    expect(markGroups(svg, 'mark-line role-mark')).toHaveLength(12);
    await expectPng(svg);
  });

  it('a run without the new fields keeps the accuracy and uncertainty panels only', async () => {
    const old = readRun(join(dir, 'run')).metrics.map((m) => ({
      t: m.t,
      round: m.round,
      solverUncertainty: m.solverUncertainty,
      verifierUncertainty: m.verifierUncertainty,
      gap: m.gap,
      solverAccuracy: m.solverAccuracy,
      verifierAccuracy: m.verifierAccuracy,
      testAccuracy: m.testAccuracy,
    }));
    const svg = await renderSvg(accuracySpec(accuracyRows(old), { passAtK: passAtKRows(old) }));
    expectClean(svg);
    expect(texts(svg)).not.toContain('pass@k (evaluation questions)');
    expect(markGroups(svg, 'mark-line role-mark')).toHaveLength(6);
  });
});

describe('Throughput: time per stage per round', () => {
  it('stacks one bar segment per stage and round', async () => {
    const run = readRun(join(dir, 'run'));
    const rows = throughputRows(run.metrics);
    const svg = await renderSvg(throughputSpec(rows));
    expectClean(svg);
    const labels = texts(svg);
    for (const stage of ['sample', 'score', 'verify', 'train', 'eval']) expect(labels).toContain(stage);
    expect(labels).toContain('wall time (s)');
    const bars = markGroups(svg, 'mark-rect role-mark');
    expect(bars).toHaveLength(1);
    expect(countPaths(bars[0])).toBe(rows.length);
    await expectPng(svg);
  });
});

describe('Cross-improvement', () => {
  it('draws a bar with error bar per arm and measured points plus theory lines per arm', async () => {
    const cross = readCross(join(dir, 'cross'));
    expect(Object.keys(cross.runs).sort()).toEqual([...CROSS_ARMS].sort());
    const data = crossData(cross);
    const svg = await renderSvg(crossSpec(data));
    expectClean(svg);
    const labels = texts(svg);
    for (const arm of CROSS_ARMS) expect(labels.filter((l) => l === arm).length).toBeGreaterThanOrEqual(2); // axis + legend
    expect(labels).toContain('final test accuracy (mean ± sd)');
    expect(labels).toContain('solver uncertainty Uₛ (nats)');
    expect(countPaths(markGroups(svg, 'mark-rect role-mark')[0])).toBe(CROSS_ARMS.length);
    expect(markGroups(svg, 'mark-line role-mark')).toHaveLength(CROSS_ARMS.length);
    await expectPng(svg);
  });

  it('the theory lines are the predicted trajectories of summary.json, drawn as written (no refit)', () => {
    const cross = readCross(join(dir, 'cross'));
    const data = crossData(cross);
    const theory = (arm: string) => data.curves.filter((c) => c.arm === arm && c.source === 'theory');
    const summaryTheory = cross.summary.theory;
    if (!summaryTheory || 'error' in summaryTheory) throw new Error('the fixture writes theory trajectories');
    for (const arm of CROSS_ARMS) {
      const written = summaryTheory.trajectories![arm];
      expect(theory(arm).map((c) => [c.t, c.value])).toEqual(written.t.map((t, i) => [t, written.solver[i]]));
      expect(theory(arm).at(-1)!.value).toBeCloseTo(cross.summary.arms[arm].predictedFinalSolverUncertainty, 12);
    }
    expect(theory('early').at(-1)!.value).toBeLessThan(theory('none').at(-1)!.value - 0.5);
    // a summary without theory trajectories (written before them) draws the measured curves only
    const bare = crossData({ ...cross, summary: { ...cross.summary, theory: { error: 'no fit' } } });
    expect(bare.curves.filter((c) => c.source === 'theory')).toEqual([]);
    expect(bare.curves.filter((c) => c.source === 'measured')).toEqual(data.curves.filter((c) => c.source === 'measured'));
  });
});

describe('PNG rendering', () => {
  it('draws text with the figure font', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><text x="4" y="22" font-family="sans-serif" font-size="18">Uₛ R² 0.99</text></svg>';
    const blank = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"></svg>';
    const dark = (image: { pixels: Buffer }) => {
      const px = image.pixels; // the getter copies the buffer on every access
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] < 128) n++;
      return n;
    };
    expect(dark(rasterise(blank, 240))).toBe(0);
    expect(dark(rasterise(svg, 240))).toBeGreaterThan(200);
  });

  it('rejects a width that is not a positive integer and bytes that are not PNG', () => {
    expect(() => renderPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', 0)).toThrow(/width/);
    expect(() => pngSize(Buffer.from('not a png at all, really not'))).toThrow(/not a PNG/);
  });
});

const dataRoot = process.env.SVGAP_DATA ?? resolve(__dirname, '..', '..', 'shared', 'datasets');
const paperCsv = join(dataRoot, 'paper-fig4', 'phi4_figure4_digitized.csv');

describe.runIf(sharedData(dataRoot, 'paper-fig4/phi4_figure4_digitized.csv'))('the paper’s Figure 4 (digitized CSV)', () => {
  it('redraws four panels with this project’s fits', async () => {
    const [fig4, fig2] = paperFig4Figures(paperCsv);
    const svg = await renderSvg(fig4.spec);
    expectClean(svg);
    const labels = texts(svg);
    for (const title of [
      'Phi-4: MATH, QE verifier',
      'Phi-4: GSM8K, QE verifier',
      'Phi-4: MATH, TF verifier',
      'Phi-4: GSM8K, TF verifier',
    ]) {
      expect(labels).toContain(title);
    }
    // 12 legend entries (3 per panel), each with an R² that a good exponential fit earns on the paper's curves
    const r2 = labels
      .map((l) => /R² = ([\d.]+)/.exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    expect(r2).toHaveLength(12);
    r2.forEach((v) => expect(v).toBeGreaterThan(0.9));
    expect(countPaths(markGroups(svg, 'mark-symbol role-mark').join(''))).toBe(4 * 3 * 20);
    expect(fig2.name).toBe('paper-figure2-linearity');
    expectClean(await renderSvg(fig2.spec));
    await expectPng(svg);
  });
});
