// The options table (src/loop/options.ts): one row per flag gives the nested TrainOptions, the defaults, the yargs
// options, validation, and the comparisons of --resume and cross.
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import {
  OPTIONS,
  TRAIN_DEFAULTS,
  getOption,
  optionDifferences,
  savedOptions,
  trainOptionsFrom,
  validateTrainOptions,
  withOptions,
} from '../src/loop/options.js';
import { toTrainOptions, trainOptions } from '../src/cli/options.js';

describe('the options table', () => {
  it('gives the defaults of the flat options it replaced, nested by group', () => {
    const flat = {
      model: 'tiny-arith',
      dataset: 'arith',
      seed: 1,
      backend: 'auto',
      rounds: 6,
      poolSize: 256,
      freshPool: false,
      samples: 16,
      temperature: 1.0,
      topP: 1.0,
      maxNewTokens: 64,
      sampleBatch: 64,
      verifier: 'majority',
      sigma: 0.5,
      epochsPerRound: 1,
      lr: 2e-3,
      batchSize: 16,
      fullFinetune: false,
      loraRank: 8,
      loraAlpha: 16,
      evalsPerEpoch: 2,
      evalSize: 64,
      testSize: 200,
      testSamples: 4,
      report: true,
    };
    const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    for (const [key, value] of Object.entries(flat))
      expect(getOption(TRAIN_DEFAULTS, OPTIONS.find((row) => camel(row.flag) === key)!.path), key).toBe(value);
    expect(TRAIN_DEFAULTS.sampling).toEqual({ samples: 16, temperature: 1, topP: 1, maxNewTokens: 64, sampleBatch: 64 });
    expect(TRAIN_DEFAULTS.external).toEqual({});
    expect(new Set(OPTIONS.map((row) => row.path.split('.')[0]))).toEqual(
      new Set(['model', 'seed', 'rounds', 'data', 'sampling', 'verify', 'sft', 'eval', 'external', 'runtime']),
    );
    expect(new Set(OPTIONS.map((row) => row.flag)).size).toBe(OPTIONS.length); // each flag once
  });

  it('every row is a yargs option; parsed flags land at their paths and the typed ones are recorded', async () => {
    const args = ['--pool-size', '8', '--fresh-pool', '--verifier', 'tf', '--external-verifier', 'oracle', '--lr', '0.01', '--no-report'];
    const parser = trainOptions(yargs(args));
    const known = (parser as unknown as { getOptions: () => { key: Record<string, unknown> } }).getOptions().key; // yargs' own table
    for (const row of OPTIONS) expect(known, row.flag).toHaveProperty([row.flag]);
    const argv = await parser.strict().parseAsync();
    const o = toTrainOptions(argv as Record<string, unknown>, args);
    expect([o.data.poolSize, o.data.freshPool, o.verify.verifier, o.external.verifier, o.sft.lr, o.runtime.report]).toEqual([
      8,
      true,
      'tf',
      'oracle',
      0.01,
      false,
    ]);
    expect(o.rounds).toBe(6); // --rounds has no command-line default, so --resume can tell it was not typed
    expect(o.extendRounds).toBeUndefined();
    expect(o.explicitFlags).toEqual(['pool-size', 'fresh-pool', 'verifier', 'lr', 'external-verifier', 'report']);
    await expect(
      Promise.resolve().then(() =>
        trainOptions(yargs(['--verifier', 'psychic']))
          .strict()
          .fail(false)
          .parseAsync(),
      ),
    ).rejects.toThrow(/psychic/);
  });

  it('validation comes from the rows: type, choices, check, naming the flag', () => {
    expect(() => validateTrainOptions(withOptions(TRAIN_DEFAULTS, { poolSize: 2.5 }))).toThrow(
      /--pool-size: must be a positive integer \(got 2\.5\)/,
    );
    expect(() => validateTrainOptions(withOptions(TRAIN_DEFAULTS, { freshPool: 'yes' as never }))).toThrow(
      /--fresh-pool: must be true or false/,
    );
    expect(() => validateTrainOptions(withOptions(TRAIN_DEFAULTS, { externalSelect: 'luck' as never }))).toThrow(
      /--external-select: unknown 'luck'; choose one of random, doubt/,
    );
    expect(() => validateTrainOptions(withOptions(TRAIN_DEFAULTS, { topP: 0 }))).toThrow(/--top-p: must be in \(0, 1\]/);
    expect(() => validateTrainOptions(withOptions(TRAIN_DEFAULTS, { out: ' ' }))).toThrow(/--out: " " is no directory name/);
    expect(() => validateTrainOptions(TRAIN_DEFAULTS)).not.toThrow();
    expect(() => trainOptionsFrom({ poolsize: 3 } as never)).toThrow(/unknown option poolsize/);
  });

  it('reads run.json options written flat before the table, and compares options flag by flag', () => {
    const old = savedOptions({
      model: 'm',
      poolSize: 4,
      externalVerifier: 'oracle',
      allocation: 'late',
      lr: 0.01,
      out: '/r',
      explicitFlags: ['lr'],
    });
    expect([old.model, old.data.poolSize, old.external.verifier, old.external.allocation, old.sft.lr, old.runtime.out]).toEqual([
      'm',
      4,
      'oracle',
      'late',
      0.01,
      '/r',
    ]);
    expect(old.data.evalSize).toBe(64); // unset: the default
    expect(savedOptions(JSON.parse(JSON.stringify(old)) as Record<string, unknown>)).toEqual(JSON.parse(JSON.stringify(old))); // nested: as is
    const other = withOptions(old, { lr: 0.02, out: '/elsewhere' });
    expect(optionDifferences(old, other, (row) => !row.path.startsWith('runtime.'))).toEqual([{ flag: 'lr', a: 0.01, b: 0.02 }]);
  });
});
