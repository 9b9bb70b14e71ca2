import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, generateArith, ARITH_LEVELS, loadGsm8k, loadMath } from '../src/data/index.js';
import { DEFAULT_TOKENIZER_PATH, loadTokenizer, readModelPieces, type Tokenizer } from '../src/tokenizer/index.js';
import { sharedData } from './helpers.js';

const HAVE_SHARED = sharedData(DEFAULT_DATA_DIR, 'gsm8k/test.jsonl', 'math/test.jsonl');

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer();
});

function roundTripFailures(texts: string[]): string[] {
  return texts.filter((t) => tok.decode(tok.encode(t)) !== t);
}

describe('shipped tokenizer', () => {
  it('has the documented size and special ids', () => {
    expect(tok.modelPath).toBe(DEFAULT_TOKENIZER_PATH);
    expect(tok.vocabSize).toBe(1000);
    expect([tok.padId, tok.bosId, tok.eosId, tok.sepId]).toEqual([0, 2, 3, 4]);
    expect(['<pad>', '<s>', '</s>', '<sep>'].map((p) => tok.pieceToId(p))).toEqual([0, 2, 3, 4]);
    // user-defined single pieces: newline, answer marker, verifier labels, digits
    expect(['\n', '####', 'True', 'False'].map((p) => tok.pieceToId(p))).toEqual([5, 6, 7, 8]);
    expect('0123456789'.split('').map((d) => tok.pieceToId(d))).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
    expect(tok.idToPiece(7)).toBe('True');
  });

  it('agrees with the .vocab file spm_train wrote next to the model (independent check of the proto reader)', () => {
    const pieces = readModelPieces(readFileSync(DEFAULT_TOKENIZER_PATH));
    // spm writes the "\n" piece raw, which splits its line: rejoin it before comparing.
    const vocab = readFileSync(DEFAULT_TOKENIZER_PATH.replace(/\.model$/, '.vocab'), 'utf8').replace('\n\n\t', '\n\\n\t');
    const rows = vocab
      .trimEnd()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(rows).toHaveLength(pieces.length);
    rows.forEach(([piece, score], id) => {
      expect(piece).toBe(pieces[id].piece === '\n' ? '\\n' : pieces[id].piece);
      expect(Number(score)).toBeCloseTo(pieces[id].score, 4);
    });
    expect(pieces.filter((p) => p.type === 'byte')).toHaveLength(256);
  });

  it('keeps newlines, repeated spaces, tabs, unicode and LaTeX exactly (lossless)', () => {
    const tricky = [
      '',
      ' ',
      '\n',
      'a\nb',
      '\n\nline\n\n',
      '  two  spaces  ',
      '\ttab\tand\r\nCRLF',
      ' leading',
      'trailing ',
      'Déjà vu — 30€, ½ cup, 😀',
      '$\\frac{3}{4}$ and \\boxed{\\{1, 2\\}}',
      '#### 1,000',
      'x^{2}_{i} \\cdot \\sqrt[3]{8}',
      '<sep> <s> </s> <pad> are plain text here',
    ];
    expect(roundTripFailures(tricky)).toEqual([]);
    expect(tok.encode('a\nb').map((id) => tok.idToPiece(id))).toEqual(['a', '\n', 'b']);
    // control pieces are never produced from text
    const fromText = tok.encode('<sep><s></s><pad>');
    expect(fromText).not.toContain(tok.sepId);
    expect(fromText).not.toContain(tok.bosId);
  });

  it('round-trips arith problems at every difficulty level', () => {
    const texts = Object.values(ARITH_LEVELS).flatMap((level) =>
      generateArith({ count: 500, seed: 4, ...level }).flatMap((p) => [p.question, p.solution, `${p.question}\n${p.solution}`]),
    );
    expect(roundTripFailures(texts)).toEqual([]);
  });

  it('splits numbers into digits and reads verifier labels from one next token', () => {
    const pieces = (text: string) => tok.encode(text).map((id) => tok.idToPiece(id));
    expect(pieces('Tom has 305 apples')).toEqual(['Tom', '▁has', '▁', '3', '0', '5', '▁apples']);
    const tf = '\nIs the answer correct? ';
    expect(tok.encode(`${tf}True`)).toEqual([...tok.encode(tf), tok.pieceToId('True')]);
    expect(tok.encode(`${tf}False`)).toEqual([...tok.encode(tf), tok.pieceToId('False')]);
    const rating = '\nRating (1-5): ';
    for (const d of '12345') expect(tok.encode(`${rating}${d}`)).toEqual([...tok.encode(rating), tok.pieceToId(d)]);
    expect(tok.encode('#### 42')).toEqual([6, tok.pieceToId('▁'), 13, 11]);
  });

  it('decode skips pad/bos/eos/sep and rejects ids outside the vocabulary', () => {
    const ids = tok.encode('3+4=7');
    expect(tok.decode([tok.bosId, ...ids, tok.sepId, ...ids, tok.eosId, tok.padId, tok.padId])).toBe('3+4=73+4=7');
    expect(tok.decode([])).toBe('');
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside \[0, 1000\)/);
    expect(() => tok.decode([1.5])).toThrow(/token id 1.5/);
    expect(() => tok.idToPiece(-1)).toThrow(/outside/);
    expect(() => tok.pieceToId(' True')).toThrow(/not a piece/);
  });

  it('gives a clear error for a missing or invalid model file', async () => {
    await expect(loadTokenizer('/no/such/svgap.model')).rejects.toThrow(/tokenizer model not found: \/no\/such\/svgap.model/);
    await expect(loadTokenizer(join(__dirname, 'fixtures', 'data', 'custom.jsonl'))).rejects.toThrow(/not a SentencePiece model/);
  });
});

describe.skipIf(!HAVE_SHARED)('round trip on real data', () => {
  it('is lossless on every GSM8K test question and solution (annotations kept and stripped)', () => {
    const raw = loadGsm8k({ split: 'test', dataDir: DEFAULT_DATA_DIR });
    const stripped = loadGsm8k({ split: 'test', stripCalculator: true, dataDir: DEFAULT_DATA_DIR });
    const texts = [...raw, ...stripped].flatMap((p) => [p.question, p.solution]);
    expect(roundTripFailures(texts)).toEqual([]);
  });

  it('is lossless on every MATH test problem and solution (LaTeX, byte fallback)', () => {
    const texts = loadMath({ dataDir: DEFAULT_DATA_DIR }).flatMap((p) => [p.question, p.solution]);
    expect(texts).toHaveLength(10_000);
    expect(roundTripFailures(texts)).toEqual([]);
  });
});
