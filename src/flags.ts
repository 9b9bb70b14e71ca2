// Flag checks shared by the library's option validators: errors name the flag and the value given.

export function requirePositiveInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag}: must be a positive integer (got ${value})`);
}

export function requireNonNegativeInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${flag}: must be a non-negative integer (got ${value})`);
}
