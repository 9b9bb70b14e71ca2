import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_DATA_DIR, loadGsm8k, loadJsonl, loadMath, readJsonl, resolveDataDir } from '../src/data/index.js';
import { sharedData } from './helpers.js';

const FIXTURES = resolve(__dirname, 'fixtures', 'data');
const BAD = join(FIXTURES, 'bad.jsonl');
const HAVE_SHARED = sharedData(DEFAULT_DATA_DIR, 'gsm8k/train.jsonl');

describe('resolveDataDir', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.SVGAP_DATA;
    delete process.env.SVGAP_DATA;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.SVGAP_DATA;
    else process.env.SVGAP_DATA = saved;
  });

  it('prefers --data-dir over SVGAP_DATA over the default', () => {
    const other = mkdtempSync(join(tmpdir(), 'svgap-data-'));
    try {
      process.env.SVGAP_DATA = other;
      expect(resolveDataDir(FIXTURES)).toBe(FIXTURES);
      expect(resolveDataDir()).toBe(other);
      delete process.env.SVGAP_DATA;
      if (HAVE_SHARED) expect(resolveDataDir()).toBe(DEFAULT_DATA_DIR);
    } finally {
      rmSync(other, { recursive: true });
    }
  });

  it('names the flag or variable when the directory does not exist', () => {
    expect(() => resolveDataDir('/no/such/dir')).toThrow(/--data-dir \/no\/such\/dir: no such directory.*SVGAP_DATA/);
    process.env.SVGAP_DATA = '/no/such/env/dir';
    expect(() => resolveDataDir()).toThrow(/SVGAP_DATA=\/no\/such\/env\/dir: no such directory/);
  });

  it('says where it looked and how to provide a missing dataset file', () => {
    const empty = mkdtempSync(join(tmpdir(), 'svgap-data-'));
    try {
      expect(() => loadGsm8k({ split: 'test', dataDir: empty })).toThrow(
        new RegExp(`dataset file not found: ${join(empty, 'gsm8k', 'test.jsonl')}.*--data-dir.*SVGAP_DATA`),
      );
      expect(() => loadMath({ dataDir: empty })).toThrow(/math\/test\.jsonl/);
    } finally {
      rmSync(empty, { recursive: true });
    }
  });
});

describe('GSM8K and MATH loaders (fixtures)', () => {
  it('reads question, worked solution, final answer and line index', () => {
    const problems = loadGsm8k({ split: 'train', dataDir: FIXTURES });
    expect(problems.map((p) => p.answer)).toEqual(['7', '10', '12,000', '-3']);
    expect(problems.map((p) => p.idx)).toEqual([0, 1, 2, 3]);
    expect(problems[0].question).toBe('Tom has 3 apples and buys 4 more. How many apples does he have?');
    expect(problems[0].solution).toBe('He has 3+4=<<3+4=7>>7 apples.\n#### 7');
    expect(loadGsm8k({ split: 'test', dataDir: FIXTURES })).toHaveLength(2);
  });

  it('strips calculator annotations on request', () => {
    const stripped = loadGsm8k({ split: 'train', dataDir: FIXTURES, stripCalculator: true });
    expect(stripped[0].solution).toBe('He has 3+4=7 apples.\n#### 7');
    expect(stripped[1].solution).toBe('5 pens cost 5*2=$10.\n#### 10');
    expect(stripped.every((p) => !p.solution.includes('<<'))).toBe(true);
  });

  it('takes the MATH answer from the last \\boxed{} with nested braces', () => {
    const problems = loadMath({ dataDir: FIXTURES });
    expect(problems.map((p) => p.answer)).toEqual(['\\frac{3}{4}', '\\{1, 2\\}', '90^\\circ']);
    expect(problems[0].question).toBe('What is $\\frac{1}{2}+\\frac{1}{4}$?');
  });

  it('rejects an unknown split', () => {
    expect(() => loadGsm8k({ split: 'dev' as 'test', dataDir: FIXTURES })).toThrow(/split must be "train" or "test"/);
  });
});

describe('malformed jsonl lines', () => {
  it('fail with file:line and the reason', () => {
    let message = '';
    try {
      loadJsonl({ path: BAD, questionField: 'question', answerField: 'answer' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.startsWith(`${BAD}:2: invalid JSON`)).toBe(true);
    expect(message).toMatch(/--skip-bad-lines/);
  });

  it('are skipped with --skip-bad-lines and counted on stderr', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const problems = loadJsonl({ path: BAD, questionField: 'question', answerField: 'answer', skipBadLines: true });
      // lines 2 (JSON), 3 (array), 5 (no answer field) are bad; line 6's plain-text answer is a valid custom answer
      expect(problems.map((p) => p.idx)).toEqual([0, 3, 5, 7]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/skipped 3 malformed line\(s\); first at line 2: invalid JSON/);
    } finally {
      warn.mockRestore();
    }
  });

  it('reports each kind of bad line with its line number', () => {
    const result = readJsonl(BAD, (row) => row, true);
    expect(result.items).toHaveLength(5);
    expect(result.skipped.map((s) => s.line)).toEqual([2, 3]);
    expect(result.skipped[1].reason).toMatch(/expected a JSON object, got an array/);
  });

  it('GSM8K rows without "#### " are malformed', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const dir = mkdtempSync(join(tmpdir(), 'svgap-data-'));
      // reuse bad.jsonl as a GSM8K split through a symlinked layout
      mkdirSync(join(dir, 'gsm8k'));
      symlinkSync(BAD, join(dir, 'gsm8k', 'train.jsonl'));
      expect(() => loadGsm8k({ split: 'train', dataDir: dir })).toThrow(/train\.jsonl:2: invalid JSON/);
      const problems = loadGsm8k({ split: 'train', dataDir: dir, skipBadLines: true });
      expect(problems.map((p) => p.idx)).toEqual([0, 3, 7]);
      expect(String(warn.mock.calls[0][0])).toMatch(/skipped 4 malformed/);
      rmSync(dir, { recursive: true });
    } finally {
      warn.mockRestore();
    }
  });
});

describe('custom jsonl (--dataset PATH --question-field --answer-field)', () => {
  it('uses the named fields; extracts from worked solutions, keeps plain answers whole', () => {
    const problems = loadJsonl({ path: join(FIXTURES, 'custom.jsonl'), questionField: 'q', answerField: 'a' });
    expect(problems.map((p) => p.answer)).toEqual(['4', '\\frac{1}{2}', '6', 'x+1']);
    expect(problems[2].solution).toBe('2*3=6\n#### 6');
    expect(problems[0].question).toBe('What is 2+2?');
  });
  it('names a missing field and the file', () => {
    expect(() => loadJsonl({ path: join(FIXTURES, 'custom.jsonl'), questionField: 'question', answerField: 'a' })).toThrow(
      /custom\.jsonl:1: missing field "question" \(fields: q, a\)/,
    );
    expect(() => loadJsonl({ path: join(FIXTURES, 'nope.jsonl'), questionField: 'q', answerField: 'a' })).toThrow(/file not found/);
  });
});
