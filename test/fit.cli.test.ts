// End-to-end: `npm run fit` (tsx src/cli/fit.ts) on fixture files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (name: string) => join(root, 'test', 'fixtures', 'theory', name);
const tsx = join(root, 'node_modules', '.bin', 'tsx');

function fit(...args: string[]) {
  const r = spawnSync(tsx, [join(root, 'src', 'cli', 'fit.ts'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const outDir = mkdtempSync(join(tmpdir(), 'svgap-fit-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('npm run fit', () => {
  it('fits metrics.jsonl, prints JSON with the documented shape, and writes --out atomically', () => {
    const r = fit(fixture('metrics.jsonl'), '--json', '--law', 'all', '--first', '6', '--out', outDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    const p = json.panels.default;
    // generated from U_s = 9e^{−0.4t} + 12, U_v = 4e^{−0.4t} + 9 with noise sd 0.05
    expect(p.rate).toBeGreaterThan(p.intervals.rate[0]);
    expect(p.intervals.rate[0]).toBeLessThan(0.4);
    expect(p.intervals.rate[1]).toBeGreaterThan(0.4);
    expect(p.limits.solver).toBeCloseTo(12, 0);
    expect(p.limits.gap).toBeCloseTo(3, 0);
    expect(Object.keys(p.r2)).toEqual(['solver', 'verifier', 'gap']);
    expect(p.stderr.rate).toBeGreaterThan(0);
    expect(p.alphaOverBeta).toBeCloseTo(p.amplitudes.solver / p.amplitudes.verifier, 12);
    expect(p.laws.map((l: { law: string }) => l.law).sort()).toEqual(['power', 'separate', 'shared', 'twoexp']);
    expect(p.early.heldOut).toHaveLength(7);
    expect(p.roundsToConverge.t).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(outDir, 'fit.json'), 'utf8'))).toEqual(json);
    expect(readFileSync(join(outDir, 'fit.txt'), 'utf8')).toMatch(/panel default: 13 points/);
    expect(existsSync(join(outDir, 'fit.json.tmp-' + process.pid))).toBe(false);
  });

  it('prints a readable table per panel for the long format', () => {
    const r = fit(fixture('long.csv'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/panel alpha: 10 points/);
    expect(r.stdout).toMatch(/panel beta: 10 points/);
    expect(r.stdout).toMatch(/R²: solver \d\.\d{3}  verifier \d\.\d{3}  gap \d\.\d{3}/);
    expect(r.stdout).toMatch(/Cor\. 3\.2: \|G − G∞\| < ε/);
  });

  it('takes custom column names for a third-party CSV', () => {
    const r = fit(
      fixture('pytorch_export.csv'),
      '--time-col',
      'step',
      '--solver-col',
      'solver_nll',
      '--verifier-col',
      'verifier_nll',
      '--json',
    );
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout).panels.default;
    expect(p.rate).toBeCloseTo(0.0015, 4);
  });

  it('fails clearly on bad input, naming the column or line', () => {
    const cases: [string[], RegExp][] = [
      [[fixture('bad_missing_column.csv')], /no verifier column 'verifierUncertainty'/],
      [[fixture('bad_nonnumeric.csv')], /bad_nonnumeric\.csv:4: column 'solverUncertainty' has "abc"/],
      [[fixture('bad_too_few.csv')], /2 time points, need at least 3/],
      [[fixture('long.csv'), '--law', 'cubic'], /Invalid values/],
    ];
    for (const [args, message] of cases) {
      const r = fit(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
  });
});
