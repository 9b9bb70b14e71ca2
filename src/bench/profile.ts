// Where a stage's time goes, measured on the running tfjs backend: matmul kernels, the other (memory-bound) kernels,
// the per-kernel dispatch overhead of the tfjs engine, and the JS around them (model code, sampling, gradient tape).
import * as tf from '@tensorflow/tfjs-core';
import { median } from './stats.js';

export const MATMUL_KERNELS: ReadonlySet<string> = new Set(['BatchMatMul', '_FusedMatMul']);
export const BREAKDOWN_PARTS = ['matmul', 'memory', 'dispatch', 'js'] as const;
export type BreakdownPart = (typeof BREAKDOWN_PARTS)[number];

/** What the parts mean, for tables and the JSON reader. */
export const PART_LABELS: Record<BreakdownPart, string> = {
  matmul: 'matmul',
  memory: 'memory traffic (other kernels)',
  dispatch: 'op dispatch',
  js: 'JS (model code, sampling, tape)',
};

export interface KernelCall {
  name: string;
  ms: number;
  inputShapes: (number[] | null)[];
  outputShapes: number[][];
}

export interface StageBreakdown {
  wallSeconds: number; // median wall time of the stage, unprofiled; the part seconds below add up to it
  profiledWallSeconds: number; // the one profiled run's wall time, whose split gives the shares
  kernels: number; // kernel calls in one run of the stage (tf.profile)
  matmulSeconds: number; // matmul kernels' work (their time less the fixed per-call cost inside them)
  matmulFlops: number; // what the matmul kernels executed (backward, padding and one-hot embedding included)
  matmulFlopsPerSecond: number; // their achieved rate
  memorySeconds: number; // every other kernel's work: element-wise, softmax, transpose, concat, gather, ... (memory-bound here)
  memoryBytes: number; // bytes those kernels read and wrote (4 per element)
  memoryBytesPerSecond: number;
  dispatchSeconds: number; // kernels × the fixed cost per call (a trivial kernel's)
  jsSeconds: number; // outside kernels and dispatch: model code in JS (masks, rotary tables), sampling, the gradient tape
  share: Record<BreakdownPart, number>; // of the profiled run, the four parts summing to 1
  dominant: BreakdownPart;
  peakBytes: number; // most bytes of live tfjs tensors during the stage
  topKernels: { name: string; calls: number; seconds: number }[]; // profiled kernel time by kernel name
}

const elements = (shape: number[] | null) => (shape ? shape.reduce((a, b) => a * b, 1) : 0);

/** FLOPs of one matmul call from its shapes: out [...batch, m, n]; the shared dimension is whichever of a's last two is not m. */
export function matmulCallFlops(inputShapes: (number[] | null)[], outputShape: number[]): number {
  const a = inputShapes[0];
  if (!a || a.length < 2 || outputShape.length < 2) return 0;
  const m = outputShape[outputShape.length - 2];
  const n = outputShape[outputShape.length - 1];
  const k = a[a.length - 2] === m ? a[a.length - 1] : a[a.length - 2];
  return 2 * elements(outputShape.slice(0, -2)) * m * n * k;
}

/** The fixed cost of one kernel call, measured on a chain of trivial kernels. */
export interface DispatchCost {
  perCallSeconds: number; // a trivial kernel's whole cost (engine + backend), unprofiled: what `µs/kernel` reports
  insideKernelSeconds: number; // of which the profiler times inside the kernel (backend entry, N-API crossing, ...)
  profilerSeconds: number; // what profiling adds per call (its bookkeeping), to take out of a profiled run's wall time
}

export interface ProfiledRun {
  calls: KernelCall[];
  wallSeconds: number;
  peakBytes: number;
}

/**
 * Splits a stage's time into four parts from one profiled run: dispatch = kernels × the fixed cost per call; matmul and
 * memory = their kernels' time less the fixed cost inside them; JS = the rest of the profiled run (less the profiler's
 * own bookkeeping). The shares come from the profiled run; the seconds scale them to the unprofiled median wall time,
 * so that a run slowed by other processes shifts no share.
 */
export function breakdown(run: ProfiledRun, wallSeconds: number, dispatch: DispatchCost): StageBreakdown {
  let matmul = 0;
  let matmulFlops = 0;
  let memory = 0;
  let memoryBytes = 0;
  let kernelSeconds = 0;
  const byName = new Map<string, { calls: number; seconds: number }>();
  for (const call of run.calls) {
    const seconds = call.ms / 1000;
    kernelSeconds += seconds;
    const work = Math.max(0, seconds - dispatch.insideKernelSeconds);
    if (MATMUL_KERNELS.has(call.name)) {
      matmul += work;
      matmulFlops += matmulCallFlops(call.inputShapes, call.outputShapes[0] ?? []);
    } else {
      memory += work;
      memoryBytes +=
        4 *
        (call.inputShapes.reduce((s, shape) => s + elements(shape), 0) + call.outputShapes.reduce((s, shape) => s + elements(shape), 0));
    }
    const entry = byName.get(call.name) ?? { calls: 0, seconds: 0 };
    entry.calls += 1;
    entry.seconds += seconds;
    byName.set(call.name, entry);
  }
  const n = run.calls.length;
  const outsideKernel = Math.max(0, dispatch.perCallSeconds - dispatch.insideKernelSeconds);
  const parts: Record<BreakdownPart, number> = {
    matmul,
    memory,
    dispatch: n * dispatch.perCallSeconds,
    js: Math.max(0, run.wallSeconds - kernelSeconds - n * (outsideKernel + dispatch.profilerSeconds)),
  };
  const total = Object.values(parts).reduce((a, b) => a + b, 0) || 1;
  const share = Object.fromEntries(BREAKDOWN_PARTS.map((p) => [p, parts[p] / total])) as Record<BreakdownPart, number>;
  const dominant = BREAKDOWN_PARTS.reduce((best, p) => (parts[p] > parts[best] ? p : best), BREAKDOWN_PARTS[0]);
  const topKernels = [...byName.entries()]
    .map(([name, e]) => ({ name, ...e }))
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 5);
  return {
    wallSeconds,
    profiledWallSeconds: run.wallSeconds,
    kernels: n,
    matmulSeconds: share.matmul * wallSeconds,
    matmulFlops,
    matmulFlopsPerSecond: matmul > 0 ? matmulFlops / matmul : 0,
    memorySeconds: share.memory * wallSeconds,
    memoryBytes,
    memoryBytesPerSecond: memory > 0 ? memoryBytes / memory : 0,
    dispatchSeconds: share.dispatch * wallSeconds,
    jsSeconds: share.js * wallSeconds,
    share,
    dominant,
    peakBytes: run.peakBytes,
    topKernels,
  };
}

/**
 * Runs fn once under tf.profile: its kernel calls with their times, its wall time and peak tensor bytes. Ops with a
 * custom gradient (logSoftmax) appear twice, as their scope (`logSoftmax__op`, no registered kernel) and as the kernels
 * inside it: only the latter count.
 */
export async function profileKernels(fn: () => void): Promise<ProfiledRun> {
  let wallSeconds = 0;
  const info = await tf.profile(() => {
    const start = performance.now();
    fn();
    wallSeconds = (performance.now() - start) / 1000;
  });
  const backend = tf.getBackend();
  const calls = info.kernels
    .filter((k) => tf.getKernel(k.name, backend) !== undefined)
    .map((k) => ({ name: k.name, ms: Number(k.kernelTimeMs), inputShapes: k.inputShapes, outputShapes: k.outputShapes }));
  return { calls, wallSeconds, peakBytes: info.peakBytes };
}

/**
 * The fixed cost of a kernel call on the running backend: a chain of `count` trivial kernels (add on 8 numbers), timed
 * whole (median of `reps`), then under the profiler (median of `reps` too) for the part inside the kernels and the
 * profiler's own cost.
 */
export async function dispatchCost(count = 500, reps = 5): Promise<DispatchCost> {
  const chain = () =>
    tf.tidy(() => {
      let x: tf.Tensor = tf.ones([8]);
      for (let i = 0; i < count; i++) x = tf.add(x, 1);
      x.dataSync();
    });
  chain(); // warm-up
  const seconds: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    chain();
    seconds.push((performance.now() - start) / 1000);
  }
  const calls = count + 1; // + ones
  const perCallSeconds = median(seconds) / calls;
  const profiled: ProfiledRun[] = [];
  for (let r = 0; r < reps; r++) profiled.push(await profileKernels(chain));
  const inside = median(profiled.map((run) => run.calls.filter((c) => c.name === 'Add').reduce((s, c) => s + c.ms / 1000, 0) / count));
  const profiledPerCall = median(profiled.map((run) => run.wallSeconds)) / calls;
  return {
    perCallSeconds,
    insideKernelSeconds: Math.min(perCallSeconds, inside),
    profilerSeconds: Math.max(0, profiledPerCall - perCallSeconds),
  };
}

export interface MatmulPeak {
  flopsPerSecond: number;
  size: number; // n of the n×n·n×n product that reached it
  bySize: { size: number; flopsPerSecond: number }[];
}

/**
 * The backend's matmul peak: square float32 products of growing size (median of a few each) until one takes longer
 * than `slowSeconds` or `maxSize` is reached; the best rate wins.
 */
export function matmulPeak(options: { maxSize: number; reps?: number; slowSeconds?: number }): MatmulPeak {
  const reps = options.reps ?? 3;
  const bySize: { size: number; flopsPerSecond: number }[] = [];
  for (let n = 128; n <= options.maxSize; n *= 2) {
    const [a, b] = [tf.randomUniform([n, n], -1, 1, 'float32', 1), tf.randomUniform([n, n], -1, 1, 'float32', 2)];
    const once = () => tf.tidy(() => void tf.sum(tf.matMul(a, b)).dataSync());
    once(); // warm-up
    const seconds: number[] = [];
    for (let r = 0; r < reps; r++) {
      const start = performance.now();
      once();
      seconds.push((performance.now() - start) / 1000);
    }
    tf.dispose([a, b]);
    const mid = median(seconds);
    bySize.push({ size: n, flopsPerSecond: (2 * n ** 3) / mid });
    if (mid > (options.slowSeconds ?? 0.25)) break;
  }
  const best = bySize.reduce((x, y) => (y.flopsPerSecond > x.flopsPerSecond ? y : x));
  return { flopsPerSecond: best.flopsPerSecond, size: best.size, bySize };
}
