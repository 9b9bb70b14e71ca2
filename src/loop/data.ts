// Where a run's questions come from: the round's pool (unlabelled for the loop), the fixed evaluation subset of
// train questions, and the held-out test split.
import { type Problem, generateArith, loadGsm8k, loadJsonl, loadMath } from '../data/index.js';
import { Rng } from '../model/rng.js';

export interface LoopDataOptions {
  dataset: string; // arith | gsm8k | math | path/to/file.jsonl
  dataDir?: string;
  questionField?: string;
  answerField?: string;
  skipBadLines?: boolean;
  poolSize: number;
  freshPool: boolean;
  evalSize: number;
  testSize: number;
  seed: number;
}

export interface LoopData {
  pool: (round: number) => Problem[];
  eval: Problem[];
  test: Problem[];
  notes: string[]; // caveats to show the user (e.g. MATH has no train split here)
}

// arith index ranges: pre-training draws from [0, 1e6), pools from [1e6, 2e6), the test split from 2e6 on
export const ARITH_POOL_OFFSET = 1_000_000;
export const ARITH_TEST_OFFSET = 2_000_000;
export const ARITH_TEST_SEED = 20250701; // fixed, so test accuracy is comparable across --seed values

/** arith and gsm8k have a test split of their own; math and custom jsonl hold out their last --test-size problems. */
export function hasSeparateTestSplit(dataset: string): boolean {
  return dataset === 'arith' || dataset === 'gsm8k';
}

function chunk(problems: Problem[], size: number, round: number, fresh: boolean): Problem[] {
  if (problems.length === 0) throw new Error('the dataset has no problems');
  const start = fresh ? (round * size) % problems.length : 0;
  return Array.from({ length: Math.min(size, problems.length) }, (_, i) => problems[(start + i) % problems.length]);
}

export function loadLoopData(options: LoopDataOptions): LoopData {
  const { poolSize, evalSize, testSize, seed, freshPool } = options;
  if (options.dataset === 'arith') {
    const fixedPool = generateArith({ count: Math.max(poolSize, evalSize), seed, offset: ARITH_POOL_OFFSET });
    return {
      pool: (round) =>
        freshPool ? generateArith({ count: poolSize, seed, offset: ARITH_POOL_OFFSET + round * poolSize }) : fixedPool.slice(0, poolSize),
      eval: fixedPool.slice(0, evalSize),
      test: generateArith({ count: testSize, seed: ARITH_TEST_SEED, offset: ARITH_TEST_OFFSET }),
      notes: [],
    };
  }
  let train: Problem[];
  let test: Problem[];
  const notes: string[] = [];
  if (options.dataset === 'gsm8k') {
    train = loadGsm8k({ split: 'train', dataDir: options.dataDir, stripCalculator: true, skipBadLines: options.skipBadLines });
    test = loadGsm8k({ split: 'test', dataDir: options.dataDir, stripCalculator: true, skipBadLines: options.skipBadLines }).slice(
      0,
      testSize,
    );
  } else {
    const all =
      options.dataset === 'math'
        ? loadMath({ dataDir: options.dataDir, skipBadLines: options.skipBadLines })
        : loadJsonl({
            path: options.dataset,
            questionField: options.questionField ?? 'question',
            answerField: options.answerField ?? 'answer',
            skipBadLines: options.skipBadLines,
          });
    if (all.length <= testSize)
      throw new Error(`--dataset ${options.dataset}: ${all.length} problems leave none for the pool after --test-size ${testSize}`);
    notes.push(`${options.dataset} has no separate train split here: the last ${testSize} problems are the test split, the rest the pool`);
    test = all.slice(all.length - testSize);
    train = all.slice(0, all.length - testSize);
  }
  const shuffled = new Rng(seed).shuffle([...train]);
  return { pool: (round) => chunk(shuffled, poolSize, round, freshPool), eval: shuffled.slice(0, evalSize), test, notes };
}
