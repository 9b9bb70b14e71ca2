// Repeated timing on a shared, noisy machine: warm up, repeat within a time budget, report the median and spread.

export interface TimingOptions {
  warmup: number; // untimed runs first (first-call allocation, kernel set-up)
  reps: number; // timed runs wanted
  maxSeconds: number; // fewer runs once this much timed wall time is spent (always at least one)
}

export interface Timing {
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  reps: number;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The nearest-rank q-quantile (q in (0, 1]): the smallest value with at least q of the values at or below it. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Times fn after `warmup` untimed runs: `reps` timed runs, or fewer (at least one) once maxSeconds is spent. */
export function measure(fn: () => void, options: TimingOptions): Timing {
  for (let i = 0; i < options.warmup; i++) fn();
  const seconds: number[] = [];
  let spent = 0;
  while (seconds.length === 0 || (seconds.length < options.reps && spent < options.maxSeconds)) {
    const start = performance.now();
    fn();
    const elapsed = (performance.now() - start) / 1000;
    seconds.push(elapsed);
    spent += elapsed;
  }
  return { medianSeconds: median(seconds), minSeconds: Math.min(...seconds), maxSeconds: Math.max(...seconds), reps: seconds.length };
}
