// Flag checks shared by the library's option validators: errors name the flag and the value given.

export function requirePositiveInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag}: must be a positive integer (got ${value})`);
}

export function requireNonNegativeInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${flag}: must be a non-negative integer (got ${value})`);
}

/** The flags typed in `args` (the command line after the script) as written, `--no-x` as x: ['out', 'lr', 'fresh-pool']. */
export function typedFlags(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--') && a.length > 2).map((a) => a.slice(2).split('=')[0].replace(/^no-/, ''));
}

/**
 * Refuses what yargs would pass on silently or as a raw error: a flag given twice (an array where one value is meant;
 * `arrays` lists the flags that take several), and `--boolean-flag=VALUE` with VALUE other than true or false.
 */
export function checkFlags(argv: Record<string, unknown>, args: string[], booleans: string[], arrays: string[] = []): void {
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || /[A-Z]/.test(key) || arrays.includes(key) || !Array.isArray(value)) continue;
    throw new Error(`--${key}: given ${value.length} times (${value.join(', ')}); give it once`);
  }
  for (const arg of args) {
    const m = /^--([^=]+)=(.*)$/.exec(arg);
    if (m && booleans.includes(m[1]) && !['true', 'false'].includes(m[2]))
      throw new Error(`--${m[1]}: must be true or false (got '${m[2]}')`);
  }
}
