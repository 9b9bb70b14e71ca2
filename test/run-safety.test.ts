// Issue 18's crash and bad-input probe: locks, checkpoint swaps, validation before the run directory exists, resume.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../src/engine/index.js';
import { initModel, loadCheckpoint, saveCheckpoint } from '../src/model/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { loadJsonl } from '../src/data/index.js';
import { explainFsError } from '../src/io.js';
import { defaultRunName, runTraining } from '../src/loop/run.js';
import { type FlatOptions, type TrainOptions, trainOptionsFrom, withOptions } from '../src/loop/options.js';
import type { MetricsRecord } from '../src/formats.js';
import { MICRO } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'processes');

/** Runs a fixture script under tsx; resolves with its exit code and output. */
function runScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, script), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

const ROOT = join(import.meta.dirname, '..');
let microDir: string;
let nanDir: string; // the micro model with one weight matrix of NaN: its first evaluation fails, after the run directory exists

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  const tokenizer = await loadTokenizer();
  const models = mkdtempSync(join(tmpdir(), 'svgap-safety-'));
  const config = { ...MICRO, vocab_size: tokenizer.vocabSize, max_position_embeddings: 160, num_hidden_layers: 1 };
  microDir = join(models, 'micro');
  saveCheckpoint(microDir, initModel(config, 3));
  const broken = initModel(config, 3);
  const weight = Object.values(broken.params)[0];
  weight.assign(tf.fill(weight.shape, NaN));
  nanDir = join(models, 'nan');
  saveCheckpoint(nanDir, broken);
});

/** One of the CLIs under tsx; resolves with its exit status and stderr. */
function cli(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', script), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 90_000,
      killSignal: 'SIGKILL',
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    child.on('close', (code) => done({ code, output }));
  });
}

function microOptions(out: string, extra: FlatOptions = {}): TrainOptions {
  return trainOptionsFrom({
    model: microDir,
    out,
    backend: 'cpu',
    rounds: 2,
    poolSize: 4,
    samples: 3,
    maxNewTokens: 6,
    evalSize: 2,
    testSize: 2,
    batchSize: 2,
    sampleBatch: 8,
    verifier: 'majority',
    report: false,
    loraRank: 2,
    loraAlpha: 4,
    ...extra,
  });
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
    const resumed = await runTraining(withOptions(microOptions(out), { resume: true }), { log: (l) => lines.push(l) });
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
    await expect(runTraining(withOptions(microOptions(out), { resume: true }))).rejects.toThrow(/--resume: .*checkpoint.* missing/);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(metrics); // nothing truncated
  });
});

describe('the run lock (issue 18, defect 3)', () => {
  it("four processes racing for one directory: exactly one wins each round, on a fresh directory and on a dead holder's lock", async () => {
    const root = mkdtempSync(join(tmpdir(), 'svgap-lock-race-'));
    const contenders = 4;
    const rounds = 24;
    for (let round = 0; round < rounds; round++) {
      mkdirSync(join(root, `barrier-${round}`));
      if (round % 2 === 1) {
        // odd rounds: a stale lock left by a killed run
        mkdirSync(join(root, `round-${round}`));
        writeFileSync(join(root, `round-${round}`, '.lock'), `${deadPid()}\n`);
      }
    }
    const results = await Promise.all(
      Array.from({ length: contenders }, (_, id) => runScript('lock-race.ts', [root, String(id), String(contenders), String(rounds)])),
    );
    for (const result of results) expect(result.output).toBe('');
    for (const result of results) expect(result.code).toBe(0);
    const winners = Array.from(
      { length: rounds },
      (_, round) => readdirSync(join(root, `barrier-${round}`)).filter((f) => f.startsWith('won-')).length,
    );
    expect(winners).toEqual(new Array(rounds).fill(1));
    for (let round = 0; round < rounds; round++) expect(existsSync(join(root, `round-${round}`, '.lock'))).toBe(false); // released
  });
});

describe('validation before the run directory exists (issue 18, defects 2, 5, 7, 8, 15)', () => {
  it.each([
    [
      '--max-new-tokens at the context (defect 2)',
      { maxNewTokens: 160 },
      /--max-new-tokens 160: --model .* has a context of 160 tokens; at most 144/,
    ],
    [
      'a bad --allocation (defect 5)',
      { externalVerifier: 'oracle', externalBudget: 2, allocation: 'R9:1' },
      /--allocation: round 9 is outside 1\.\.2/,
    ],
    ['--lora-alpha nan (defect 5)', { loraAlpha: NaN }, /--lora-alpha: must be a finite positive number \(got NaN\)/],
    ['--lr Infinity (defect 5)', { lr: Infinity }, /--lr: must be a finite positive number \(got Infinity\)/],
    [
      '--rounds 1e9 with an external verifier (defect 7)',
      { rounds: 1e9, externalVerifier: 'oracle', externalBudget: 2 },
      /--rounds: at most 1000000 \(got 1000000000\)/,
    ],
    ['--stop-at-convergence nan (defect 15)', { stopAtConvergence: NaN }, /--stop-at-convergence: must be a finite number ≥ 0 \(got NaN\)/],
    ['--fresh-pool maybe (defect 15)', { freshPool: 'maybe' as never }, /--fresh-pool: must be true or false \(got "maybe"\)/],
  ] as [string, FlatOptions, RegExp][])('%s is refused and leaves no directory', async (_name, extra, message) => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-bad-')), 'run');
    await expect(runTraining(microOptions(out, extra))).rejects.toThrow(message);
    expect(existsSync(out)).toBe(false);
  });

  it('--out "" is refused instead of writing into the current directory (defect 8)', async () => {
    await expect(runTraining(microOptions(''))).rejects.toThrow(/--out: "" is no directory name/);
  });

  it('--dataset DIR names the flag (defect 13)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svgap-dsdir-'));
    await expect(runTraining(microOptions(join(dir, 'run'), { dataset: dir }))).rejects.toThrow(
      new RegExp(`--dataset ${dir}: a directory`),
    );
    expect(() => loadJsonl({ path: dir, questionField: 'q', answerField: 'a' })).toThrow(new RegExp(`--dataset ${dir}: a directory`));
  });

  it("a run that fails before its first checkpoint says nothing was saved and can be started again; a user's empty --out survives (defects 5, 10)", async () => {
    const out = mkdtempSync(join(tmpdir(), 'svgap-nan-')); // made by the user, empty
    await expect(runTraining(microOptions(out, { model: nanDir, rounds: 1 }))).rejects.toThrow(
      /NaN\/Inf\): stopping; no round completed, so nothing is saved/,
    );
    expect(existsSync(out)).toBe(true);
    await runTraining(microOptions(out, { rounds: 1 })); // the corrected command, same --out
    expect(existsSync(join(out, 'checkpoint', 'config.json'))).toBe(true);
    await expect(runTraining(microOptions(out, { rounds: 1 }))).rejects.toThrow(/a run already exists there/); // a checkpointed run is kept
    const empty = mkdtempSync(join(tmpdir(), 'svgap-empty-'));
    await expect(runTraining(microOptions(empty, { dataset: join(empty, 'missing.jsonl') }))).rejects.toThrow(/file not found/);
    expect(existsSync(empty)).toBe(true);
  });

  it('default run names differ between runs started in the same second (defect 15)', () => {
    const names = Array.from({ length: 200 }, () => defaultRunName());
    expect(new Set(names).size).toBe(200);
    expect(names[0]).toMatch(/^run-\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{3}-[a-z0-9]{4}$/);
  });

  it('a dataset with a UTF-8 byte-order mark loads (defect 15)', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'svgap-bom-')), 'bom.jsonl');
    writeFileSync(path, '\uFEFF{"q": "1+1?", "a": "2"}\n{"q": "2+2?", "a": "4"}\n');
    expect(loadJsonl({ path, questionField: 'q', answerField: 'a' }).map((p) => p.answer)).toEqual(['2', '4']);
  });
});

describe('--resume with changed flags (issue 18, defect 6)', () => {
  it('is refused, naming the flags; flags left at their defaults are not changes; run.json keeps the command that started the run', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-changed-')), 'run');
    const argv = process.argv;
    try {
      process.argv = [argv[0], 'train.ts', '--out', out, '--rounds', '1', '--lr', '0.01'];
      await runTraining(microOptions(out, { rounds: 1, lr: 0.01 }));
      const started = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
      await expect(runTraining(withOptions(microOptions(out, { rounds: 1, lr: 0.02, samples: 4 }), { resume: true }))).rejects.toThrow(
        /--resume .*changes --samples 4 \(the run has 3\), --lr 0\.02 \(the run has 0\.01\)/,
      );
      await expect(runTraining(withOptions(microOptions(out, { rounds: 1, lr: 0.01 }), { resume: true }))).resolves.toBeDefined(); // the same flags
      // from the command line only typed flags count: --lr left at its default is no change
      process.argv = [argv[0], 'train.ts', '--out', out, '--resume'];
      await runTraining(withOptions(microOptions(out, { rounds: 1 }), { resume: true, explicitFlags: ['out', 'resume'] }));
      const resumed = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
      expect(resumed.options.sft.lr).toBe(0.01);
      expect(resumed.options).not.toHaveProperty('explicitFlags');
      expect(resumed.command).toBe(started.command);
      expect(resumed.command).toContain('--lr 0.01');
      expect(resumed.resumedBy.map((r: { command: string }) => r.command)).toEqual([
        `svgap train --out ${out} --rounds 1 --lr 0.01`,
        `svgap train --out ${out} --resume`,
      ]);
    } finally {
      process.argv = argv;
    }
  });
});

describe('raw errors get a file or flag (issue 18, defect 13)', () => {
  it('a truncated run.json on --resume, a null safetensors header entry, an --out that cannot be made, a full disk', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-trunc-')), 'run');
    mkdirSync(out);
    writeFileSync(join(out, 'run.json'), '{"options": {"mod');
    await expect(runTraining(withOptions(microOptions(out), { resume: true }))).rejects.toThrow(
      new RegExp(`--resume: ${out}/run\\.json is not valid JSON`),
    );
    const broken = join(mkdtempSync(join(tmpdir(), 'svgap-st-')), 'ckpt');
    const { cpSync } = await import('node:fs');
    cpSync(microDir, broken, { recursive: true });
    const header = JSON.stringify({ 'model.norm.weight': null });
    const bytes = Buffer.alloc(8 + header.length);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    bytes.write(header, 8);
    writeFileSync(join(broken, 'model.safetensors'), bytes);
    expect(() => loadCheckpoint(broken)).toThrow(
      /model\.safetensors: not a valid safetensors file: tensor 'model\.norm\.weight' has a malformed entry/,
    );
    const file = join(broken, 'config.json'); // a file where the path needs a directory
    await expect(runTraining(microOptions(join(file, 'run')))).rejects.toThrow(
      new RegExp(`^--out ${file}/run: cannot create the directory: a part of the path is a file, not a directory \\(ENOTDIR\\)`),
    );
    let full: unknown;
    try {
      writeFileSync('/dev/full', 'x');
    } catch (error) {
      full = error;
    }
    expect(explainFsError(full, '/dev/full')).toBe('no space left on the device (ENOSPC)');
  });

  it('the CLIs name a flag given twice and a boolean given a non-boolean value', async () => {
    const results = await Promise.all([
      cli('train.ts', ['--out', 'a', '--out', 'b']),
      cli('train.ts', ['--lr', '0.1', '--lr', '0.2']),
      cli('train.ts', ['--fresh-pool=maybe']),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 1, 1]);
    expect(results[0].output).toMatch(/--out: given 2 times \(a, b\); give it once/);
    expect(results[1].output).toMatch(/--lr: given 2 times \(0\.1, 0\.2\); give it once/);
    expect(results[2].output).toMatch(/--fresh-pool: must be true or false \(got 'maybe'\)/);
  });

  it('bench --out DIR fails before measuring and leaves no temp file (defect 15)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svgap-benchout-'));
    const result = await cli('bench.ts', ['--smoke', '--backend', 'cpu', '--out', dir]);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(new RegExp(`--out ${dir}: a directory; give a file name`));
    expect(result.output).not.toMatch(/tokens\/s|Throughput/);
    expect(readdirSync(join(dir, '..')).filter((f) => f.includes('.tmp-') && f.includes(dir.split('/').at(-1)!))).toEqual([]);
  });
});

describe('resources (issue 18, defects 9 and 16)', () => {
  it('a checkpoint used as --external-verifier is disposed when the run ends', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'svgap-extver-')), 'run');
    const before = tf.memory().numTensors;
    await runTraining(microOptions(out, { rounds: 1, externalVerifier: microDir, externalBudget: 2 }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("loading tokenizers adds no process-wide error listeners (the suite's MaxListenersExceededWarning)", async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    for (let i = 0; i < 3; i++) await loadTokenizer();
    expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(before);
  });
});
