// Behaviour kept through the orchestration redesign (issue 14): the micro runs recorded before it reproduce their
// metrics.jsonl, samples, fit.json and final-test.json in every field that is not a time (scripts/record-micro-fixture.ts).
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTorchBackend } from '../src/engine/torch.js';
import { MICRO_RUNS, differences, readRecorded, recordedFiles, runMicro } from './fixtures/micro-run/runs.js';
import { BUILD_NATIVE, requireOrSkip } from './helpers.js';

const torch = await loadTorchBackend({ device: 'cpu', threads: 1 });
const HAVE_TORCH = requireOrSkip('the native torch backend', torch.available, `${BUILD_NATIVE} (${torch.reason})`);
const FIXTURES = join(import.meta.dirname, 'fixtures', 'micro-run');

describe('the comparison of recorded and new outputs', () => {
  it('skips timing, compares integers exactly and other numbers to 1e-9 relative, and sees missing keys', () => {
    expect(differences({ t: 0.5, timing: { round: 1 }, n: 3 }, { t: 0.5 * (1 + 1e-12), timing: { round: 9 }, n: 3 })).toEqual([]);
    expect(differences({ n: 3 }, { n: 4 })).toEqual(['.n: 3 vs 4']);
    expect(differences({ u: 1.5 }, { u: 1.5 * (1 + 1e-8) })).toHaveLength(1);
    expect(differences({ a: 'x', b: [1, 2] }, { a: 'y', b: [1] })).toEqual(['.a: "x" vs "y"', '.b: length 2 vs 1']);
    expect(differences({ a: 1 }, { a: 1, c: null })).toEqual(['.c: new']);
  });
});

describe.skipIf(!HAVE_TORCH)('the recorded micro runs, run again', () => {
  for (const name of Object.keys(MICRO_RUNS)) {
    it(`${name}: every non-timing field of metrics.jsonl, samples, fit.json and final-test.json as recorded`, () => {
      const out = join(mkdtempSync(join(tmpdir(), 'svgap-micro-')), 'run');
      runMicro(name, out);
      const recorded = recordedFiles(join(FIXTURES, name));
      expect(recorded).toContain('metrics.jsonl');
      expect(recordedFiles(out)).toEqual(recorded);
      for (const file of recorded) {
        expect(existsSync(join(out, file))).toBe(true);
        expect(differences(readRecorded(join(FIXTURES, name, file)), readRecorded(join(out, file))), file).toEqual([]);
      }
    });
  }
});
