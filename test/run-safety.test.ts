// Issue 18's crash and bad-input probe: locks, checkpoint swaps, validation before the run directory exists, resume.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/engine/index.js';
import { initModel, saveCheckpoint } from '../src/model/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { type MetricsRecord, type TrainOptions, TRAIN_DEFAULTS, runTraining } from '../src/loop/run.js';
import { MICRO } from './helpers.js';

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

let microDir: string;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  const tokenizer = await loadTokenizer();
  microDir = join(mkdtempSync(join(tmpdir(), 'svgap-safety-')), 'micro');
  saveCheckpoint(microDir, initModel({ ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 }, 3));
});

function microOptions(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...TRAIN_DEFAULTS, model: microDir, out, backend: 'cpu', rounds: 2, poolSize: 4, samples: 3, maxNewTokens: 6, evalSize: 2, testSize: 2,
    batchSize: 2, sampleBatch: 8, verifier: 'majority', report: false, loraRank: 2, loraAlpha: 4, ...extra,
  };
}

// as written to metrics.jsonl (NaN interval ends become null), without the wall-clock fields
const withoutTimes = (m: MetricsRecord) => JSON.parse(JSON.stringify({ ...m, timing: undefined, tokensPerSecond: undefined })) as unknown;

describe('the checkpoint swap (issue 18, defect 4)', () => {
  it('a process killed between the two renames of a checkpoint swap resumes from the complete new checkpoint, and the leftovers are cleaned', async () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-swap-'));
    const whole = await runTraining(microOptions(join(root, 'whole')));
    const out = join(root, 'killed');
    // the first save has nothing to swap; round 2's save is killed after moving round 1's checkpoint aside
    const killed = await runScript('train.ts', [JSON.stringify(microOptions(out))], { SVGAP_TEST_KILL_AT: 'dir-swap' });
    expect(killed.signal).toBe('SIGKILL');
    const left = readdirSync(out);
    expect(left).not.toContain('checkpoint');
    expect(left.filter((f) => /^\.checkpoint\.tmp-.*\.old$/.test(f))).toHaveLength(1);
    writeFileSync(join(out, '.metrics.jsonl.tmp-1-abc'), 'half a line'); // a file write killed before its rename
    const lines: string[] = [];
    const resumed = await runTraining({ ...microOptions(out), resume: true }, { log: (l) => lines.push(l) });
    expect(lines.some((l) => /recovered .*checkpoint/.test(l))).toBe(true);
    expect(lines.some((l) => /resuming .* after round 2/.test(l))).toBe(true);
    expect(resumed.metrics.map(withoutTimes)).toEqual(whole.metrics.map(withoutTimes));
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('--resume refuses to start again from t=0 when completed rounds are on record but no checkpoint is left', async () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-nockpt-'));
    const out = join(root, 'run');
    await runTraining(microOptions(out, { rounds: 1 }));
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    (await import('node:fs')).rmSync(join(out, 'checkpoint'), { recursive: true });
    await expect(runTraining({ ...microOptions(out), resume: true })).rejects.toThrow(/--resume: .*checkpoint.* missing/);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(metrics); // nothing truncated
  });
});

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
