// npx tsx scripts/record-micro-fixture.ts: records test/fixtures/micro-run/<name>/ for every micro run (the behaviour the
// orchestration must keep; test/micro-run.test.ts compares). Re-record only when a change of behaviour is intended.
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MICRO_RUNS, recordedFiles, runMicro } from '../test/fixtures/micro-run/runs.js';

const fixtures = join(import.meta.dirname, '..', 'test', 'fixtures', 'micro-run');
for (const name of Object.keys(MICRO_RUNS)) {
  const out = join(mkdtempSync(join(tmpdir(), 'svgap-micro-')), 'run');
  runMicro(name, out);
  rmSync(join(fixtures, name), { recursive: true, force: true });
  for (const file of recordedFiles(out)) {
    mkdirSync(dirname(join(fixtures, name, file)), { recursive: true });
    cpSync(join(out, file), join(fixtures, name, file));
  }
  console.log(`${name}: ${recordedFiles(out).join(', ')}`);
}
