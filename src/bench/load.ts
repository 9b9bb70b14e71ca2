// A load test of an OpenAI-compatible server (`npm run serve`, vLLM): C clients each sending requests back to back;
// requests/s, latency percentiles, and a check that every request got its own, complete answer.
import { quantile } from '../stats.js';

export interface LoadOptions {
  clients: number;
  requests: number; // in all, shared among the clients
  body: (i: number) => Record<string, unknown>; // request i's completion body
  check?: (i: number, reply: unknown) => string | undefined; // why reply i is wrong, if it is
  timeoutMs?: number;
}

export interface LoadResult {
  clients: number;
  requests: number;
  ok: number;
  failed: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: string[]; // the first few failures, for the report
}

async function one(url: string, i: number, options: LoadOptions): Promise<string | undefined> {
  try {
    const reply = await fetch(`${url.replace(/\/+$/, '')}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(options.body(i)),
      signal: AbortSignal.timeout(options.timeoutMs ?? 600_000),
    });
    const text = await reply.text();
    if (!reply.ok) return `request ${i}: HTTP ${reply.status}: ${text.slice(0, 200)}`;
    return options.check?.(i, JSON.parse(text));
  } catch (error) {
    return `request ${i}: ${String(error)}`;
  }
}

/** Runs the load and measures it; a request counts as ok only when its reply passes `check`. */
export async function loadTest(url: string, options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (next < options.requests) {
        const i = next++;
        const t0 = performance.now();
        const error = await one(url, i, options);
        latencies.push(performance.now() - t0);
        if (error) errors.push(error);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return {
    clients: options.clients,
    requests: options.requests,
    ok: options.requests - errors.length,
    failed: errors.length,
    seconds,
    requestsPerSecond: options.requests / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    errors: errors.slice(0, 5),
  };
}
