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
  wallSeconds: number; // median wall time of the stage, unprofiled
  kernels: number; // kernel calls in one run of the stage (tf.profile)
  matmulSeconds: number; // matmul kernels' time less their fixed per-call cost
  matmulFlops: number; // what the matmul kernels executed (backward, padding and one-hot embedding included)
  memorySeconds: number; // every other kernel: element-wise, softmax, transpose, concat, gather, ... (memory-bound at these sizes)
  memoryBytes: number; // bytes those kernels read and wrote (4 per element)
  dispatchSeconds: number; // kernels × the measured fixed cost per call (a trivial kernel's)
  jsSeconds: number; // the wall time outside kernels and dispatch, ≥ 0
  share: Record<BreakdownPart, number>; // of the sum of the four parts (the profiler's own overhead can push kernels past the wall time)
  dominant: BreakdownPart;
  peakBytes: number; // most bytes of live tfjs tensors during the stage
  topKernels: { name: string; calls: number; seconds: number }[];
}

const elements = (shape: number[] | null) => (shape ? shape.reduce((a, b) => a * b, 1) : 0);

/** FLOPs of one matmul call from its shapes: out [...batch, m, n]; the shared dimension is whichever of a's last two is not m. */
export function matmulCallFlops(inputShapes: (number[] | null)[], outputShape: number[]): number {
  const a = inputShapes[0];
  if (!a || a.length < 2 || outputShape.length < 2) return 0;
  const m = outputShape[outputShape.length - 2]!;
  const n = outputShape[outputShape.length - 1]!;
  const k = a[a.length - 2] === m ? a[a.length - 1]! : a[a.length - 2]!;
  return 2 * elements(outputShape.slice(0, -2)) * m * n * k;
}

/** The fixed cost of one kernel call: in all (engine + backend), and the part the profiler sees inside the kernel. */
export interface DispatchCost {
  perCallSeconds: number; // a trivial kernel's whole cost, chained (what `µs/kernel` reports)
  insideKernelSeconds: number; // of which the profiler times inside the kernel (backend entry, N-API crossing, ...)
}

/**
 * Splits a stage's wall time into four parts from one profiled run's kernel list: dispatch = kernels × the fixed cost
 * per call; matmul and memory = their kernels' time less that fixed cost inside them; JS = the wall time left over.
 */
export function breakdown(calls: KernelCall[], wallSeconds: number, dispatch: DispatchCost, peakBytes: number): StageBreakdown {
  let matmulSeconds = 0;
  let matmulFlops = 0;
  let memorySeconds = 0;
  let memoryBytes = 0;
  let kernelSeconds = 0;
  const byName = new Map<string, { calls: number; seconds: number }>();
  for (const call of calls) {
    const seconds = call.ms / 1000;
    kernelSeconds += seconds;
    const work = Math.max(0, seconds - dispatch.insideKernelSeconds);
    if (MATMUL_KERNELS.has(call.name)) {
      matmulSeconds += work;
      matmulFlops += matmulCallFlops(call.inputShapes, call.outputShapes[0] ?? []);
    } else {
      memorySeconds += work;
      memoryBytes += 4 * (call.inputShapes.reduce((s, shape) => s + elements(shape), 0) + call.outputShapes.reduce((s, shape) => s + elements(shape), 0));
    }
    const entry = byName.get(call.name) ?? { calls: 0, seconds: 0 };
    entry.calls += 1;
    entry.seconds += seconds;
    byName.set(call.name, entry);
  }
  const dispatchSeconds = calls.length * dispatch.perCallSeconds;
  const outsideKernel = Math.max(0, dispatch.perCallSeconds - dispatch.insideKernelSeconds);
  const jsSeconds = Math.max(0, wallSeconds - kernelSeconds - calls.length * outsideKernel);
  const parts: Record<BreakdownPart, number> = { matmul: matmulSeconds, memory: memorySeconds, dispatch: dispatchSeconds, js: jsSeconds };
  const total = Object.values(parts).reduce((a, b) => a + b, 0) || 1;
  const share = Object.fromEntries(BREAKDOWN_PARTS.map((p) => [p, parts[p] / total])) as Record<BreakdownPart, number>;
  const dominant = BREAKDOWN_PARTS.reduce((best, p) => (parts[p] > parts[best] ? p : best), BREAKDOWN_PARTS[0]);
  const topKernels = [...byName.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.seconds - a.seconds).slice(0, 5);
  return { wallSeconds, kernels: calls.length, matmulSeconds, matmulFlops, memorySeconds, memoryBytes, dispatchSeconds, jsSeconds, share, dominant, peakBytes, topKernels };
}

/**
 * Runs fn once under tf.profile and returns its kernel calls with their times. Ops with a custom gradient (logSoftmax)
 * appear twice, as their scope (`logSoftmax__op`, no registered kernel) and as the kernels inside it: only the latter count.
 */
export async function profileKernels(fn: () => void): Promise<{ calls: KernelCall[]; peakBytes: number }> {
  const info = await tf.profile(() => {
    fn();
  });
  const backend = tf.getBackend();
  const calls = info.kernels
    .filter((k) => tf.getKernel(k.name, backend) !== undefined)
    .map((k) => ({ name: k.name, ms: Number(k.kernelTimeMs), inputShapes: k.inputShapes, outputShapes: k.outputShapes }));
  return { calls, peakBytes: info.peakBytes };
}

/**
 * The fixed cost of a kernel call on the running backend: a chain of `count` trivial kernels (add on 8 numbers), timed
 * whole (median of `reps`), and once under the profiler for the part spent inside the kernels.
 */
export async function dispatchCost(count = 500, reps = 5): Promise<DispatchCost> {
  const chain = () => tf.tidy(() => {
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
  const perCallSeconds = median(seconds) / (count + 2); // + ones and the download
  const inside = (await profileKernels(chain)).calls.filter((c) => c.name === 'Add').map((c) => c.ms / 1000);
  return { perCallSeconds, insideKernelSeconds: Math.min(perCallSeconds, inside.length > 0 ? median(inside) : 0) };
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
