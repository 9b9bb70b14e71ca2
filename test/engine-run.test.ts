// `--engine openai` end to end: a micro run whose sampling, scoring and verification go to `npm run serve` (one server,
// then two) writes the metrics and samples the in-process run writes (the same sampled text; numbers within 1e-5), with
// the round's adapter loaded on every server before each round and evaluation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServeProcess } from '../src/engine/serve.js';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTorchBackend } from '../src/engine/torch.js';
import { differences, readRecorded, recordedFiles, runMicro } from './fixtures/micro-run/runs.js';
import { BUILD_NATIVE, requireOrSkip } from './helpers.js';

const torch = await loadTorchBackend({ device: 'cpu', threads: 1 });
const HAVE_TORCH = requireOrSkip('the native torch backend', torch.available, `${BUILD_NATIVE} (${torch.reason})`);
const servers: { url: string; stop: () => void }[] = [];

/** `npm run serve` of tiny-arith on torch, one thread. */
async function serve(): Promise<string> {
  const server = await startServeProcess(['--model', 'tiny-arith', '--backend', 'torch', '--device', 'cpu', '--threads', '1'], {
    ...process.env,
    OMP_NUM_THREADS: '1',
  });
  servers.push(server);
  return server.url;
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
  afterAll(() => servers.forEach((server) => server.stop()));

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
