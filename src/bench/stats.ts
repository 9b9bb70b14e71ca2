// Repeated timing on a shared, noisy machine: warm up, repeat within a time budget, report the median and spread.
import { median } from '../stats.js';

export { median } from '../stats.js';

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
