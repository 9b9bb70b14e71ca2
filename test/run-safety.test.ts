// Issue 18's crash and bad-input probe: locks, checkpoint swaps, validation before the run directory exists, resume.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'processes');

/** Runs a fixture script under tsx; resolves with its exit code and output. */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    child.on('close', (code, signal) => done({ code, signal, output }));
  });
}

function deadPid(): number {
  for (let pid = 999_999; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

describe('the run lock (issue 18, defect 3)', () => {
  it('four processes racing for one directory: exactly one wins each round, on a fresh directory and on a dead holder\'s lock', async () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-lock-race-'));
    const contenders = 4;
    const rounds = 24;
    for (let round = 0; round < rounds; round++) {
      mkdirSync(join(root, `barrier-${round}`));
      if (round % 2 === 1) { // odd rounds: a stale lock left by a killed run
        mkdirSync(join(root, `round-${round}`));
        writeFileSync(join(root, `round-${round}`, '.lock'), `${deadPid()}\n`);
      }
    }
    const results = await Promise.all(Array.from({ length: contenders }, (_, id) => runScript('lock-race.ts', [root, String(id), String(contenders), String(rounds)])));
    for (const result of results) expect(result.output).toBe('');
    for (const result of results) expect(result.code).toBe(0);
    const winners = Array.from({ length: rounds }, (_, round) => readdirSync(join(root, `barrier-${round}`)).filter((f) => f.startsWith('won-')).length);
    expect(winners).toEqual(new Array(rounds).fill(1));
    for (let round = 0; round < rounds; round++) expect(existsSync(join(root, `round-${round}`, '.lock'))).toBe(false); // released
  });
});
