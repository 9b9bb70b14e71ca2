// The package's two entry points: the library (one namespace per concept) and the `svgap <command>` CLI.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as svgap from '../src/index.js';
import { closedForm } from '../src/theory/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const cli = (...args: string[]) => spawnSync(tsx, [join(root, 'src', 'cli', 'index.ts'), ...args], { cwd: root, encoding: 'utf8' });

describe('entry points', () => {
  it('the library exposes every module as a namespace', () => {
    expect(Object.keys(svgap).sort()).toEqual(['bench', 'data', 'engine', 'loop', 'model', 'report', 'theory', 'tokenizer', 'uncertainty']);
    expect(svgap.theory.closedForm).toBe(closedForm);
    for (const fn of [
      svgap.engine.initBackend,
      svgap.model.initModel,
      svgap.tokenizer.loadTokenizer,
      svgap.data.generateArith,
      svgap.uncertainty.solverUncertainty,
      svgap.loop.runTraining,
      svgap.loop.runCross,
      svgap.report.writeRunReport,
    ])
      expect(typeof fn).toBe('function');
  });

  it('svgap <command> runs that command; no command prints the list, an unknown one is an error', () => {
    const usage = cli();
    expect(usage.status).toBe(1);
    for (const command of ['train', 'pretrain', 'fit', 'figures', 'cross', 'grade', 'bench'])
      expect(usage.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    const unknown = cli('trian');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'trian'; one of train, pretrain/);
    const fit = cli('fit', '--help');
    expect(fit.status).toBe(0);
    expect(fit.stdout).toMatch(/--law/);
    const cross = cli('cross', '--help');
    expect(cross.stdout).toMatch(/--jobs/);
  });
});
