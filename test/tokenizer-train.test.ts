// Tests scripts/train_tokenizer.ts (needs Debian's spm_train: apt-get install -y sentencepiece; skipped without it, an error under CI=true).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, generateArith } from '../src/data/index.js';
import { DEFAULT_TOKENIZER_PATH, loadTokenizer } from '../src/tokenizer/index.js';
import { requireOrSkip, sharedData } from './helpers.js';

const ROOT = resolve(__dirname, '..');
const HAVE_SPM = requireOrSkip(
  "Debian's spm_train",
  spawnSync('spm_train', ['--version']).status === 0,
  'apt-get install -y sentencepiece',
);
const HAVE_SHARED = HAVE_SPM && sharedData(DEFAULT_DATA_DIR, 'gsm8k/train.jsonl');

const work = mkdtempSync(join(tmpdir(), 'svgap-tok-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function train(args: string[]): void {
  execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'train_tokenizer.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe.skipIf(!HAVE_SPM)('scripts/train_tokenizer.ts', () => {
  it('trains a working tokenizer with the svgap special pieces on a small corpus', async () => {
    const out = join(work, 'small', 'svgap');
    train(['--data-dir', join(ROOT, 'test', 'fixtures', 'data'), '--vocab-size', '400', '--arith-per-level', '300', '--out', out]);
    const tok = await loadTokenizer(`${out}.model`);
    expect(tok.vocabSize).toBe(400);
    expect([tok.padId, tok.bosId, tok.eosId, tok.sepId]).toEqual([0, 2, 3, 4]);
    expect(['\n', '####', 'True', 'False', '0', '9'].map((p) => tok.pieceToId(p))).toEqual([5, 6, 7, 8, 9, 18]);
    const texts = generateArith({ count: 100, seed: 9 }).map((p) => `${p.question}\n${p.solution}`);
    expect(texts.filter((t) => tok.decode(tok.encode(t)) !== t)).toEqual([]);
  });

  it.skipIf(!HAVE_SHARED)('reproduces the shipped model byte for byte', () => {
    const out = join(work, 'full', 'svgap');
    train(['--data-dir', DEFAULT_DATA_DIR, '--out', out]);
    expect(readFileSync(`${out}.model`).equals(readFileSync(DEFAULT_TOKENIZER_PATH))).toBe(true);
  });
});
