// Figure 3's paragraph and table of what moved (issue 19): the numbers from hand-made metrics, untrusted text escaped.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accountingRows, passAtKRows, runFigures, whatMoved, writeRunReport } from '../src/report/index.js';
import { parseMetrics } from '../src/formats.js';

const point = (t: number, o: Record<string, number>) => ({ t, round: t, gap: 0, solverAccuracy: 0.3, verifierAccuracy: 0.4, ...o });
// U_s 5 → 1.85 (−63 %), sample length 30 → 29.4 (−2 %), sampled test 20 → 24 % (+4), greedy 25.5 → 22 % (−3.5), pass@16 83 → 50 % (−33)
const metrics = parseMetrics(
  [
    point(0, {
      solverUncertainty: 5,
      verifierUncertainty: 3,
      solverUncertaintyPerToken: 5 / 30,
      verifierUncertaintyPerToken: 0.12,
      meanResponseLength: 30,
      meanPickLength: 25,
      testAccuracy: 0.255,
      testSampledAccuracy: 0.2,
      passAt1: 0.2,
      passAt2: 0.33,
      passAt4: 0.5,
      passAt8: 0.7,
      passAt16: 0.83,
      passAtN: 0.83,
      answerDiversity: 6.5,
    }),
    point(3, { solverUncertainty: 3, verifierUncertainty: 1, meanResponseLength: 30, testAccuracy: 0.25 }),
    point(6, {
      solverUncertainty: 1.85,
      verifierUncertainty: 0.5,
      solverUncertaintyPerToken: 1.85 / 29.4,
      verifierUncertaintyPerToken: 0.02,
      meanResponseLength: 29.4,
      meanPickLength: 25,
      testAccuracy: 0.22,
      testSampledAccuracy: 0.24,
      passAt1: 0.24,
      passAt2: 0.3,
      passAt4: 0.38,
      passAt8: 0.45,
      passAt16: 0.5,
      passAtN: 0.5,
      answerDiversity: 2,
    }),
  ]
    .map((m) => JSON.stringify(m))
    .join('\n'),
  'hand.jsonl',
);

describe('what moved', () => {
  it('says it in one paragraph with the hand-computed changes', () => {
    expect(whatMoved(metrics)).toBe(
      'From t = 0 to t = 6: U_s fell 63 % while the mean sample length fell 2.0 %, so U_s per token fell 62 %; U_v fell 83 % (pick length did not change); ' +
        'held-out sampled accuracy +4.0 points (20.0 → 24.0 %), greedy −3.5 points (25.5 → 22.0 %); pass@1 +4.0 points (20.0 → 24.0 %), pass@16 −33.0 points (83.0 → 50.0 %); ' +
        'distinct answers per question 6.5 → 2.',
    );
  });

  it('tabulates every quantity at the first and last point, and pass@k for both ends of the figure', () => {
    const rows = accountingRows(metrics);
    expect(rows.map((r) => r.label)).toEqual([
      'U_s (nats per response)',
      'U_v (nats per response)',
      'U_s per token',
      'U_v per token',
      'mean length of samples (tokens)',
      'mean length of picks (tokens)',
      'test accuracy, greedy (held out)',
      'test accuracy, sampled (held out)',
      'solver accuracy, sampled (training questions)',
      'verifier accuracy, picked (training questions)',
      'pass@1',
      'pass@2',
      'pass@4',
      'pass@8',
      'pass@16',
      'distinct answers per question',
    ]);
    expect(rows.find((r) => r.label === 'pass@16')).toEqual({ label: 'pass@16', first: 0.83, last: 0.5, kind: 'share' });
    expect(
      passAtKRows(metrics)
        .filter((r) => r.label === 't = 6')
        .map((r) => [r.k, r.value]),
    ).toEqual([
      [1, 0.24],
      [2, 0.3],
      [4, 0.38],
      [8, 0.45],
      [16, 0.5],
    ]);
  });

  it('a run from before these fields gets a shorter paragraph, no error', () => {
    const old = parseMetrics(
      [
        point(0, { solverUncertainty: 5, verifierUncertainty: 3, testAccuracy: 0.2 }),
        point(1, { solverUncertainty: 4, verifierUncertainty: 3.3, testAccuracy: 0.3 }),
      ]
        .map((m) => JSON.stringify(m))
        .join('\n'),
      'old.jsonl',
    );
    expect(whatMoved(old)).toBe('From t = 0 to t = 1: U_s fell 20 %; U_v rose 10 %; greedy +10.0 points (20.0 → 30.0 %).');
    expect(passAtKRows(old)).toEqual([]);
  });
});

const root = mkdtempSync(join(tmpdir(), 'svgap-accounting-report-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the report of a run', () => {
  it("shows the new panels, the paragraph and the table, with the run's name escaped", async () => {
    const dir = join(root, 'run<script>&x');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
    const figure3 = runFigures([{ dir, name: 'run<script>&x', info: null, metrics }]).find((f) => f.name === 'figure3-accuracy')!;
    expect(figure3.caption).toContain('U_s fell 63 % while the mean sample length fell 2.0 %');
    expect(figure3.tables[0].caption).toBe('what moved: first and last evaluation point');
    expect(figure3.tables[0].rows.find((r) => r[0] === 'pass@16')).toEqual(['pass@16', '83.0 %', '50.0 %', '−33.0 points']);
    const html = readFileSync(await writeRunReport(dir, { formats: ['svg'] }), 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).toContain('run&lt;script&gt;&amp;x: From t = 0 to t = 6');
    expect(html).toContain('pass@k (evaluation questions)');
  });
});
