// `--engine openai` end to end: a micro run whose sampling, scoring and verification go to `npm run serve` (one server,
// then two) writes the metrics and samples the in-process run writes (the same sampled text; numbers within 1e-5), with
// the round's adapter loaded on every server before each round and evaluation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTorchBackend } from '../src/engine/torch.js';
import { differences, readRecorded, recordedFiles, runMicro } from './fixtures/micro-run/runs.js';
import { BUILD_NATIVE, requireOrSkip } from './helpers.js';

const torch = await loadTorchBackend({ device: 'cpu', threads: 1 });
const HAVE_TORCH = requireOrSkip('the native torch backend', torch.available, `${BUILD_NATIVE} (${torch.reason})`);
const ROOT = join(import.meta.dirname, '..');
const servers: ChildProcess[] = [];

/** Starts `npm run serve` on a free port; resolves with its URL once it listens. */
function serve(): Promise<string> {
  const child = spawn(
    'npx',
    ['tsx', 'src/cli/serve.ts', '--model', 'tiny-arith', '--port', '0', '--backend', 'torch', '--device', 'cpu', '--threads', '1'],
    { cwd: ROOT, env: { ...process.env, OMP_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  ); // its own group: npx's children go too
  servers.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const url = /at (http:\/\/\S+)\/v1/.exec(chunk.toString())?.[1];
      if (url) resolve(url);
    });
    child.on('exit', (code) => reject(new Error(`npm run serve exited (${code}): ${stderr}`)));
  });
}

/** Every difference between two run directories' recorded files, numbers to a relative 1e-5. */
function runDifferences(a: string, b: string): string[] {
  expect(recordedFiles(b)).toEqual(recordedFiles(a));
  return recordedFiles(a).flatMap((file) => differences(readRecorded(join(a, file)), readRecorded(join(b, file)), file, 1e-5));
}

describe.skipIf(!HAVE_TORCH)('a run on OpenAI-compatible servers', () => {
  let urls: string[];
  let local: string;
  beforeAll(async () => {
    urls = await Promise.all([serve(), serve()]);
    local = join(mkdtempSync(join(tmpdir(), 'svgap-engine-')), 'local');
    runMicro('self-tf', local);
  }, 300_000);
  afterAll(() => servers.forEach((child) => process.kill(-child.pid!, 'SIGTERM')));

  it("with one server: the in-process run's samples and metrics, adapters published before each round and evaluation", () => {
    const remote = join(mkdtempSync(join(tmpdir(), 'svgap-engine-')), 'remote');
    runMicro('self-tf', remote, ['--engine', 'openai', '--endpoint', urls[0]]);
    expect(runDifferences(local, remote)).toEqual([]);
    // two rounds of two evaluation points each, t = 0 and the start of each round: distinct adapters, as the model changed
    expect(readdirSync(join(remote, 'adapters', 'published')).filter((name) => name.startsWith('svgap-')).length).toBeGreaterThanOrEqual(4);
  }, 300_000);

  it('with two servers sharing the requests: the same', () => {
    const remote = join(mkdtempSync(join(tmpdir(), 'svgap-engine-')), 'two');
    runMicro('self-tf', remote, ['--engine', 'openai', '--endpoint', urls.join(',')]);
    expect(runDifferences(local, remote)).toEqual([]);
  }, 300_000);
});
