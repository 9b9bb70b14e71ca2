// The report: reading run directories, the forecast band, timings, index.html, the CLI and text measurement.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  figuresOf,
  fitBand,
  loadFontMetrics,
  pngSize,
  readCross,
  readRun,
  scopeSvgIds,
  svgWidth,
  textWidth,
  throughputRows,
  trajectoryOf,
  writeRunReport,
} from '../src/report/index.js';
import { parseMetrics } from '../src/formats.js';
import { fitSharedRate, predictShared, type SharedRateFit } from '../src/theory/index.js';
import { writeSyntheticCross, writeSyntheticRun } from './fixtures/report/synthetic.js';

const root = resolve(__dirname, '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'svgap-report-'));
  writeSyntheticRun(join(dir, 'run'), { seed: 7, name: 'run' });
  writeSyntheticCross(join(dir, 'cross'), { seeds: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reading runs', () => {
  it('names the file and line of a bad metrics line', () => {
    expect(() => parseMetrics('{"t":0}\n', 'm.jsonl')).toThrow(/m\.jsonl:1: field "round"/);
    const good = JSON.stringify({ t: 0, round: 0, solverUncertainty: 1, verifierUncertainty: 0.5, gap: 0.5 });
    expect(() => parseMetrics(`${good}\n{oops\n`, 'm.jsonl')).toThrow(/m\.jsonl:2: not valid JSON/);
    expect(() => parseMetrics('\n\n', 'm.jsonl')).toThrow(/no evaluation points/);
    expect(parseMetrics(`${good}\n\n${good}\n`, 'm.jsonl')).toHaveLength(2);
  });

  it('says which directory is not a run and which summary field is missing', () => {
    expect(() => readRun(join(dir, 'nothing'))).toThrow(/no metrics\.jsonl/);
    const bad = join(dir, 'bad-cross');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'summary.json'), JSON.stringify({ budget: 1, gamma: 1, arms: { early: { initialTestAccuracy: 0.1 } } }));
    expect(() => readCross(bad)).toThrow(/arms\.early\.finalTestAccuracy/);
  });

  it('groups the seeds of each arm of a cross-improvement directory', () => {
    const cross = readCross(join(dir, 'cross'));
    for (const arm of ['none', 'early', 'uniform', 'late'])
      expect(cross.runs[arm].map((r) => r.name)).toEqual([`${arm}-seed1`, `${arm}-seed2`]);
  });
});

describe('forecast band (delta method)', () => {
  it('matches a finite-difference gradient of the prediction through the covariance', () => {
    const fit = fitSharedRate(trajectoryOf(readRun(join(dir, 'run')).metrics));
    const times = [0, 0.7, 2, 5];
    const band = fitBand(fit, times);
    const z = (fit.rate.upper - fit.rate.value) / fit.rate.stderr;
    // parameter order of the covariance: [r, α′, U_s∞, β′, U_v∞]
    const perturb = (i: number, h: number): SharedRateFit => {
      const f = structuredClone({ ...fit, roundsToConverge: undefined }) as unknown as SharedRateFit;
      const targets = [f.rate, f.amplitudes.solver, f.limits.solver, f.amplitudes.verifier, f.limits.verifier];
      targets[i].value += h;
      return f;
    };
    times.forEach((t, k) => {
      for (const key of ['solver', 'verifier', 'gap'] as const) {
        const grad = [0, 1, 2, 3, 4].map((i) => {
          const h = 1e-6;
          return (predictShared(perturb(i, h), t)[key] - predictShared(perturb(i, -h), t)[key]) / (2 * h);
        });
        let variance = 0;
        for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) variance += grad[i] * fit.covariance[i][j] * grad[j];
        const half = z * Math.sqrt(variance);
        expect(band[key].value[k]).toBeCloseTo(predictShared(fit, t)[key], 12);
        expect(band[key].upper[k] - band[key].value[k]).toBeCloseTo(half, 6);
        expect(band[key].value[k] - band[key].lower[k]).toBeCloseTo(half, 6);
      }
    });
    // at t = 0 the solver band is the interval of U_s0 = α′ + U_s∞, wider than nothing
    expect(band.solver.upper[0]).toBeGreaterThan(band.solver.value[0]);
  });
});

describe('throughput rows', () => {
  it('takes each round’s cumulative stage clocks from its last evaluation point and puts the rest in "other"', () => {
    const metrics = readRun(join(dir, 'run')).metrics;
    const rows = throughputRows(metrics);
    expect([...new Set(rows.map((r) => r.round))]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const round of [0, 1, 3]) {
      // the fixture evaluates twice per round: t = round − 0.5 and t = round; the second one closes the round
      const closing = metrics.find((m) => Math.abs(m.t - round) < 1e-9)!;
      const get = (stage: string) => rows.find((r) => r.round === round && r.stage === stage)?.seconds ?? 0;
      for (const stage of ['sample', 'score', 'verify', 'train', 'eval'] as const)
        expect(get(stage)).toBeCloseTo(closing.timing?.[stage] ?? 0, 12);
      const staged = ['sample', 'score', 'verify', 'train', 'eval'].reduce((s, st) => s + get(st), 0);
      expect(staged + get('other')).toBeCloseTo(closing.timing!.round!, 9);
    }
    // mid-round lines never add to the total: the round's train time is the closing line's, not the sum of both
    const mid = metrics.find((m) => Math.abs(m.t - 2.5) < 1e-9)!;
    const closing = metrics.find((m) => Math.abs(m.t - 3) < 1e-9)!;
    expect(rows.find((r) => r.round === 3 && r.stage === 'train')!.seconds).toBeLessThan(mid.timing!.train! + closing.timing!.train!);
  });
});

function svgCount(html: string): number {
  return (html.match(/<svg /g) ?? []).length;
}

describe('writeRunReport', () => {
  it('writes every figure as SVG and PNG and one index.html with fit table and settings', async () => {
    const index = await writeRunReport(join(dir, 'run'));
    expect(index).toBe(join(dir, 'run', 'report', 'index.html'));
    const html = readFileSync(index, 'utf8');
    const names = ['figure4-uncertainty', 'figure2-linearity', 'figure3-accuracy', 'throughput'];
    expect(svgCount(html)).toBe(names.length);
    for (const name of names) {
      expect(html).toContain(`id="${name}"`);
      const svg = readFileSync(join(dir, 'run', 'report', `${name}.svg`), 'utf8');
      const size = pngSize(readFileSync(join(dir, 'run', 'report', `${name}.png`)));
      expect(size.width).toBe(2 * svgWidth(svg));
    }
    const fit = fitSharedRate(trajectoryOf(readRun(join(dir, 'run')).metrics));
    expect(html).toContain('rate r = k(α−β)');
    expect(html).toContain(`<td>${Number(fit.rate.value.toPrecision(4))}</td>`);
    expect(html).toContain('<td>dataset.name</td><td>arith</td>');
    expect(html).not.toMatch(/NaN/);
    // no temp files left behind
    expect(readdirSync(join(dir, 'run', 'report')).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('writes only SVG when asked, and the cross-improvement report for a cross directory', async () => {
    const out = join(dir, 'svg-only');
    writeSyntheticRun(out, { seed: 2 });
    await writeRunReport(out, { formats: ['svg'] });
    const files = readdirSync(join(out, 'report'));
    expect(files.filter((f) => f.endsWith('.png'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.svg'))).toHaveLength(4);
    const html = readFileSync(await writeRunReport(join(dir, 'cross')), 'utf8');
    expect(html).toContain('id="cross-improvement"');
    expect(html).toContain('predicted final U_s');
    expect(svgCount(html)).toBe(1);
  });
});

describe('short runs', () => {
  it('a run too short to fit still gets its figures, with the reason in the table', async () => {
    const out = join(dir, 'short');
    writeSyntheticRun(out, { seed: 4, rounds: 1, evalsPerRound: 1 }); // two evaluation points
    const html = readFileSync(await writeRunReport(out, { formats: ['svg'], first: 5 }), 'utf8');
    expect(html).toContain('id="figure4-uncertainty"');
    expect(html).toContain('shared-rate fit: 2 time points, need at least 3');
    expect(html).not.toContain('id="figure2-linearity"'); // the linearity check needs 4 points
    expect(html).toContain('Uₛ solver (no fit)');
    expect(html).not.toMatch(/NaN/);
  });

  it('a forecast that cannot be made is reported, the full fit is kept', async () => {
    const out = join(dir, 'long-first');
    writeSyntheticRun(out, { seed: 5, rounds: 3 }); // seven evaluation points
    const html = readFileSync(await writeRunReport(out, { formats: ['svg'], first: 7 }), 'utf8');
    expect(html).toContain('<td>forecast</td><td>early prediction: --first 7 leaves no held-out points');
    expect(html).toContain('rate r = k(α−β)');
  });
});

describe('figuresOf', () => {
  it('accepts a CSV as `fit` reads it and draws Figures 4 and 2 from it', () => {
    const csv = join(dir, 'traj.csv');
    const metrics = readRun(join(dir, 'run')).metrics;
    writeFileSync(
      csv,
      'epoch,solverUncertainty,verifierUncertainty\n' +
        metrics.map((m) => `${m.t},${m.solverUncertainty},${m.verifierUncertainty}`).join('\n') +
        '\n',
    );
    const { figures } = figuresOf({ inputs: [csv] });
    expect(figures.map((f) => f.name)).toEqual(['figure4-uncertainty', 'figure2-linearity']);
    expect(JSON.stringify(figures[0].spec)).toContain('traj.csv');
  });

  it('names the missing input', () => {
    expect(() => figuresOf({ inputs: [join(dir, 'missing')] })).toThrow(/missing: no such file/);
  });
});

describe('npm run figures', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/figures.ts'), ...args], { cwd: root, encoding: 'utf8' });

  it('renders runs into --out as PNG only', () => {
    const out = join(dir, 'cli-out');
    const result = cli([join(dir, 'run'), '--out', out, '--format', 'png', '--first', '5']);
    expect(result.status, result.stderr).toBe(0);
    const files = readdirSync(out);
    expect(files).toContain('index.html');
    expect(files).toContain('figure4-uncertainty.png');
    expect(files.filter((f) => f.endsWith('.svg'))).toEqual([]);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('forecast from the first 5 points');
  });

  it('fails with a message naming the bad flag', () => {
    const result = cli([join(dir, 'run'), '--format', 'gif', '--out', join(dir, 'x')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--format: unknown format 'gif'/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});

describe('html', () => {
  it('prefixes SVG ids and their references so inlined figures do not clash', () => {
    const svg = '<svg><defs><clipPath id="clip1"/></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
    expect(scopeSvgIds(svg, 'fig')).toBe(
      '<svg><defs><clipPath id="fig-clip1"/></defs><g clip-path="url(#fig-clip1)"><use href="#fig-clip1"/></g></svg>',
    );
  });
});

describe('text measurement', () => {
  const font = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
  it.runIf(existsSync(font))('agrees with what resvg draws', () => {
    const metrics = loadFontMetrics(font)!;
    expect(metrics.unitsPerEm).toBe(2048);
    for (const text of ['MMMMMMMMMM', 'uncertainty (nats per response)', 'Uₛ solver R² = 0.998']) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="30" font-family="DejaVu Sans" font-size="20">${text}</text></svg>`;
      const resvg = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [font], defaultFontFamily: 'DejaVu Sans' } });
      const ink = resvg.getBBox()!.width;
      const advance = textWidth(metrics, text, 20);
      // ink width = advance minus the side bearings of the first and last glyphs (about 1–2 px at 20 px)
      expect(Math.abs(advance - ink)).toBeLessThan(2 + 0.02 * advance);
    }
  });
});

// Keep the fixture generator runnable as a script (how a reader makes example runs to look at).
describe('fixture script', () => {
  it('writes a run and a cross directory', () => {
    const out = join(dir, 'script');
    execFileSync(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/report/synthetic.ts'), out], { cwd: root });
    expect(existsSync(join(out, 'run', 'metrics.jsonl'))).toBe(true);
    expect(existsSync(join(out, 'cross', 'summary.json'))).toBe(true);
  });
});

describe('several runs', () => {
  it('gives each run its own Figure 3 and throughput files, unique even when directory names repeat', () => {
    const a = join(dir, 'a', 'same name');
    const b = join(dir, 'b', 'same name');
    writeSyntheticRun(a, { seed: 11 });
    writeSyntheticRun(b, { seed: 12 });
    const { figures } = figuresOf({ inputs: [a, b] });
    const names = figures.map((f) => f.name);
    expect(names).toEqual([
      'figure4-uncertainty',
      'figure2-linearity',
      'figure3-accuracy-same-name',
      'throughput-same-name',
      'figure3-accuracy-same-name-2',
      'throughput-same-name-2',
    ]);
    // one Figure 4 panel per run
    expect((figures[0].spec as { concat?: unknown[] }).concat).toHaveLength(2);
  });
});
