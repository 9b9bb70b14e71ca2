// Measures the time spent inside the addon (libtorch work plus N-API crossing), to split a step's time
// into native compute and JS-side dispatch (tfjs engine, gradient tape, model code).
import { tryLoadAddon } from './addon.js';

export interface NativeTime {
  calls: number;
  ms: number;
}

type AnyFn = (...args: unknown[]) => unknown;

/** Wraps every addon function with a timer while enabled; `read()` returns the totals since `start()`. */
export function nativeTimer(): { start(): void; stop(): void; read(): NativeTime } {
  const addon = tryLoadAddon() as unknown as Record<string, unknown> | undefined;
  const originals = new Map<string, AnyFn>();
  const total: NativeTime = { calls: 0, ms: 0 };
  return {
    start() {
      total.calls = 0;
      total.ms = 0;
      if (!addon || originals.size > 0) return;
      for (const [name, value] of Object.entries(addon)) {
        if (typeof value !== 'function') continue;
        const fn = value as AnyFn;
        originals.set(name, fn);
        addon[name] = (...args: unknown[]) => {
          const t0 = performance.now();
          try {
            return fn(...args);
          } finally {
            total.ms += performance.now() - t0;
            total.calls++;
          }
        };
      }
    },
    stop() {
      if (!addon) return;
      for (const [name, fn] of originals) addon[name] = fn;
      originals.clear();
    },
    read: () => ({ ...total }),
  };
}
