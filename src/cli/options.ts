// Command-line options of train, cross, bench and pretrain: the yargs options come from the rows of src/loop/options.ts.
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { typedFlags } from '../flags.js';
import { OPTIONS, type OptionRow, type TrainOptions, trainOptionsFrom } from '../loop/options.js';

function addRows<T>(y: Argv<T>, rows: readonly OptionRow[]): Argv<T> {
  for (const row of rows) {
    y.option(row.flag, {
      type: row.type,
      describe: row.describe,
      ...(row.choices ? { choices: row.choices } : {}),
      ...(row.default !== undefined && row.cliDefault !== false ? { default: row.default } : {}),
    });
  }
  return y;
}

const BACKEND_FLAGS = ['backend', 'threads', 'device'];

/** --backend, --threads, --device. */
export function backendOptions<T>(y: Argv<T>): Argv<T> {
  return addRows(
    y,
    OPTIONS.filter((row) => BACKEND_FLAGS.includes(row.flag)),
  );
}

/** Every option of a run. */
export function trainOptions<T>(y: Argv<T>): Argv<T> {
  return addRows(y, OPTIONS);
}

export const TRAIN_BOOLEANS: string[] = OPTIONS.filter((row) => row.type === 'boolean').map((row) => row.flag);

/** Parsed trainOptions flags as the loop's TrainOptions, with the flags typed in `args` (here, not in train.ts, so cross can use it). */
export function toTrainOptions(argv: Record<string, unknown>, args: string[] = hideBin(process.argv)): TrainOptions {
  const given = OPTIONS.filter((row) => argv[row.flag] !== undefined); // the rest keep their defaults (--rounds has none on the command line)
  const flat = Object.fromEntries(given.map((row) => [row.flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()), argv[row.flag]]));
  const typed = new Set(typedFlags(args));
  return {
    ...trainOptionsFrom(flat),
    extendRounds: argv.rounds as number | undefined,
    explicitFlags: OPTIONS.map((row) => row.flag).filter((flag) => typed.has(flag)),
  };
}
