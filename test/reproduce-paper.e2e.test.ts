// scripts/reproduce_paper.sh end to end on CPU: a tiny random phi3 checkpoint in Hugging Face layout (written here) and
// reduced sizes, two of the four panels (GSM8K × TF and MATH × QE: both datasets, both verifiers), then a second
// invocation that skips the finished run and resumes the unfinished one without redoing a round.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR } from '../src/data/index.js';
import { readPaperFig4, runStatus, type PanelComparison } from '../src/report/index.js';
import { fitSharedRate } from '../src/theory/index.js';
import { sharedData, writeTinyPhi3 } from './helpers.js';

const ROOT = resolve(__dirname, '..');
const FIG4 = join(DEFAULT_DATA_DIR, 'paper-fig4', 'phi4_figure4_digitized.csv');
const PANELS = ['gsm8k_tf', 'math_qe'];
// the paper's printed R² (solver / verifier / gap) of these panels (its Figure 4 table)
const PAPER_R2: Record<string, [number, number, number]> = { gsm8k_tf: [0.998, 0.98, 0.989], math_qe: [0.998, 0.981, 0.981] };
const SIZES = {
  POOL: '4',
  SAMPLES: '2',
  ROUNDS: '1',
  MAX_NEW_TOKENS: '8',
  EVAL_SIZE: '2',
  TEST_SIZE: '2',
  TEST_SAMPLES: '0',
  PANELS: PANELS.join(' '),
  TRAIN_ARGS: '--sample-batch 4 --batch-size 2 --no-report',
};

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'svgap-paper-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function reproduce(args: string[], env: Record<string, string> = SIZES) {
  return spawnSync('bash', ['scripts/reproduce_paper.sh', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, ...env },
  });
}

const read = (path: string) => readFileSync(path, 'utf8');

describe('runStatus: what a re-invocation does with a run directory', () => {
  it('is new without run.json, resume while unfinished or with fewer rounds, done when finished with enough rounds', () => {
    const dir = join(root, 'status');
    expect(runStatus(dir, 10)).toBe('new');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ options: { rounds: 10 }, startedAt: 'x' }));
    expect(runStatus(dir, 10)).toBe('resume');
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ options: { rounds: 10 }, startedAt: 'x', finishedAt: 'y' }));
    expect(runStatus(dir, 10)).toBe('done');
    expect(runStatus(dir, 12)).toBe('resume'); // ROUNDS raised: the finished run is extended
    writeFileSync(join(dir, 'run.json'), '{ not json');
    expect(() => runStatus(dir, 10)).toThrow(/run\.json is not valid JSON/);
  });
});

describe('scripts/reproduce_paper.sh: bad input', () => {
  it('names an unknown panel and a model directory without config.json before running anything', () => {
    const model = join(root, 'not-a-model');
    mkdirSync(model, { recursive: true });
    const noModel = reproduce(['--out', join(root, 'bad'), model]);
    expect(noModel.status).toBe(2);
    expect(noModel.stderr).toContain(`${model} holds no config.json`);
    writeFileSync(join(model, 'config.json'), '{}');
    const badPanel = reproduce(['--out', join(root, 'bad'), model], { ...SIZES, PANELS: 'gsm8k_tf gsm8k_xx' });
    expect(badPanel.status).toBe(2);
    expect(badPanel.stderr).toContain('PANELS: unknown panel gsm8k_xx');
    expect(existsSync(join(root, 'bad'))).toBe(false); // nothing written
  });
});

const HAVE_DATA = sharedData(
  DEFAULT_DATA_DIR,
  'gsm8k/train.jsonl',
  'gsm8k/test.jsonl',
  'math/test.jsonl',
  'paper-fig4/phi4_figure4_digitized.csv',
);

describe.skipIf(!HAVE_DATA)('scripts/reproduce_paper.sh on a tiny Hugging Face checkpoint', () => {
  it('runs the panels, draws one figure per panel and the table beside the paper, and a second invocation skips or resumes', () => {
    const model = join(root, 'tiny-phi3');
    mkdirSync(model);
    writeTinyPhi3(model, 3);
    const out = join(root, 'paper');
    const first = reproduce(['--data-dir', DEFAULT_DATA_DIR, '--out', out, model]);
    expect(first.stderr).not.toMatch(/error:/);
    expect(first.status).toBe(0);

    for (const panel of PANELS) {
      const run = join(out, 'runs', panel);
      const metrics = read(join(run, 'metrics.jsonl'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number>);
      expect(metrics.map((m) => m.t)).toEqual([0, 0.5, 1]); // ROUNDS=1 round of one epoch, two evaluations per epoch
      for (const m of metrics)
        for (const key of ['solverUncertainty', 'verifierUncertainty', 'gap'])
          expect(Number.isFinite(m[key]), `${panel} ${key}`).toBe(true);
      const info = JSON.parse(read(join(run, 'run.json'))) as { options: Record<string, unknown>; finishedAt?: string };
      expect(info.options).toMatchObject({
        model,
        data: { dataset: panel.split('_')[0], poolSize: 4, dataDir: DEFAULT_DATA_DIR },
        verify: { verifier: panel.split('_')[1] },
        sampling: { samples: 2, maxNewTokens: 8 },
        sft: { epochsPerRound: 1, fullFinetune: false },
        eval: { evalsPerEpoch: 2 },
      });
      expect(info.finishedAt).toBeDefined();
      const svg = read(join(out, 'figures', `paper-${panel}.svg`));
      expect(svg).toContain('the paper, Phi-4, digitised');
      expect(svg).toContain('this run, ' + panel);
      expect(svg).not.toContain('NaN');
      expect(
        readFileSync(join(out, 'figures', `paper-${panel}.png`))
          .subarray(1, 4)
          .toString(),
      ).toBe('PNG');
    }

    // the table: every number finite; the paper's columns are the shared-rate fit of its digitised points
    const table = JSON.parse(read(join(out, 'figures', 'paper-table.json'))) as { panels: PanelComparison[] };
    expect(table.panels.map((p) => p.panel)).toEqual(PANELS);
    const digitised = readPaperFig4(FIG4);
    for (const row of table.panels) {
      for (const side of [row.run, row.paper]) {
        for (const x of [side.r2.solver, side.r2.verifier, side.r2.gap, side.limits.solver, side.limits.verifier, side.rate])
          expect(Number.isFinite(x)).toBe(true);
      }
      expect(row.run.points).toBe(3);
      expect(row.paper.points).toBe(20);
      const fit = fitSharedRate(digitised[row.panel]);
      expect(row.paper.rate).toBeCloseTo(fit.rate.value, 10);
      expect(row.paper.limits).toEqual({ solver: fit.limits.solver.value, verifier: fit.limits.verifier.value });
      const [s, v, g] = PAPER_R2[row.panel];
      expect(Math.abs(row.paper.r2.solver! - s)).toBeLessThanOrEqual(0.0005); // the paper's own table, to 3 decimals
      expect(Math.abs(row.paper.r2.verifier! - v)).toBeLessThanOrEqual(0.0005);
      expect(Math.abs(row.paper.r2.gap! - g)).toBeLessThanOrEqual(0.0005);
      expect(row.paper.flags).toEqual([]);
    }
    const markdown = read(join(out, 'figures', 'paper-table.md'))
      .trim()
      .split('\n');
    expect(markdown[2]).toContain('| paper points | paper R² U_s / U_v / G | paper U_s∞ | paper U_v∞ | paper r (1/epoch) |');
    expect(markdown.filter((l) => /^\| (GSM8K|MATH), /.test(l))).toHaveLength(2);
    expect(markdown.find((l) => l.startsWith('| GSM8K, TF verifier | 3 |'))).toContain(' | 20 | 0.998 / 0.9802 / 0.9892 | ');

    // a killed run (unfinished: run.json without finishedAt) is resumed, a finished one skipped; no round is redone
    const unfinished = join(out, 'runs', 'math_qe', 'run.json');
    const { finishedAt: _dropped, ...killed } = JSON.parse(read(unfinished)) as Record<string, unknown>;
    writeFileSync(unfinished, JSON.stringify(killed, null, 2) + '\n');
    const before = Object.fromEntries(
      PANELS.flatMap((p) =>
        ['metrics.jsonl', 'run.json', 'samples/round-1.jsonl'].map((f) => [`${p}/${f}`, read(join(out, 'runs', p, f))]),
      ),
    );
    const checkpointTime = statSync(join(out, 'runs', 'gsm8k_tf', 'checkpoint', 'config.json')).mtimeMs;
    const second = reproduce(['--data-dir', DEFAULT_DATA_DIR, '--out', out, model]);
    expect(second.stderr).not.toMatch(/error:/);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`== gsm8k_tf: done (${join(out, 'runs', 'gsm8k_tf')})`);
    expect(second.stdout).toContain(`== math_qe: resume (${join(out, 'runs', 'math_qe')})`);
    for (const [file, text] of Object.entries(before))
      if (file !== 'math_qe/run.json') expect(read(join(out, 'runs', file)), file).toBe(text);
    expect(statSync(join(out, 'runs', 'gsm8k_tf', 'checkpoint', 'config.json')).mtimeMs).toBe(checkpointTime);
    const resumed = JSON.parse(read(unfinished)) as { finishedAt?: string; resumedBy?: unknown[] };
    expect(resumed.finishedAt).toBeDefined();
    expect(resumed.resumedBy).toHaveLength(1);
    expect(existsSync(join(out, 'figures', 'paper-math_qe.svg'))).toBe(true);
  }, 900_000);
});
