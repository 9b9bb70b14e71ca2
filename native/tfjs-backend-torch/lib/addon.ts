// Loads the compiled addon (build/Release/tfjs_backend_torch.node) and types its functions.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** tfjs dtype codes used by the addon (see src/addon.cc). */
export const DTYPE_CODE = { float32: 0, int32: 1, bool: 2 } as const;
export const DTYPE_OF_CODE = ['float32', 'int32', 'bool'] as const;
export type TorchDType = keyof typeof DTYPE_CODE;

export type Ints = number[] | Int32Array;

export interface InitInfo {
  device: 'cpu' | 'cuda';
  threads: number;
  version: string;
  builtWithCuda: boolean;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
}

/** The addon's functions; every tensor argument and result is an integer handle. */
export interface Addon {
  /** [dtypeCode, rank, ...dims] of the tensor an op returned last (or of Meta(id)). */
  meta: Int32Array;
  Init(device: string, threads: number): InitInfo;
  SetThreads(n: number): number;
  OpNames(): { unary: string[]; binary: string[]; reduce: string[] };
  Write(values: Float32Array | Int32Array | Uint8Array, shape: Ints, dtype: number): number;
  Read(id: number): Float32Array | Int32Array | Uint8Array;
  Free(id: number): void;
  Meta(id: number): void;
  Stats(): [number, number];
  Sync(): void;
  Unary(op: number, x: number, param: number, dtype: number): number;
  Binary(op: number, a: number, b: number, dtype: number): number;
  Reduce(op: number, x: number, axes: Ints, keepDims: boolean, dtype: number): number;
  ArgReduce(isMax: boolean, x: number, axis: number): number;
  Cast(x: number, dtype: number): number;
  Clip(x: number, min: number, max: number): number;
  Select(cond: number, a: number, b: number): number;
  AddN(ids: number[]): number;
  Reshape(x: number, shape: Ints): number;
  Transpose(x: number, perm: Ints): number;
  Slice(x: number, begin: Ints, size: Ints): number;
  StridedSlice(x: number, begin: Ints, strides: Ints, sizes: Ints, finalShape: Ints): number;
  Concat(ids: number[], axis: number): number;
  Stack(ids: number[], axis: number): number;
  Unstack(x: number, axis: number): number[];
  Split(x: number, sizes: Ints, axis: number): number[];
  Tile(x: number, reps: Ints): number;
  BroadcastTo(x: number, shape: Ints): number;
  Reverse(x: number, dims: Ints): number;
  Pad(x: number, flatPairs: Ints, value: number): number;
  Gather(x: number, indices: number, axis: number): number;
  GatherNd(x: number, indices: number): number;
  SegmentSum(x: number, segmentIds: number, numSegments: number): number;
  OneHot(indices: number, depth: number, on: number, off: number, dtype: number): number;
  Fill(shape: Ints, value: number, dtype: number): number;
  LinSpace(start: number, stop: number, num: number): number;
  MatMul(
    a: number,
    b: number,
    transposeA: boolean,
    transposeB: boolean,
    bias: number,
    activation: number,
    prelu: number,
    alpha: number,
  ): number;
  Einsum(equation: string, ids: number[]): number;
  Softmax(x: number, dim: number, log: boolean): number;
  TopK(x: number, k: number): [number, number];
  Cumulative(isProd: boolean, x: number, axis: number, exclusive: boolean, reverse: boolean): number;
  Multinomial(logits: number, uniforms: Float64Array, normalized: boolean): number;
  SearchSorted(sorted: number, values: number, right: boolean): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where `npm run build:native` puts the addon (lib/ and dist/ are both one level below the package). */
export const ADDON_PATH = path.resolve(here, '..', 'build', 'Release', 'tfjs_backend_torch.node');

let cached: Addon | undefined;
let loadError: string | undefined;

/** Loads the addon once; returns undefined (and remembers why) when it is not built or cannot load. */
export function tryLoadAddon(): Addon | undefined {
  if (cached || loadError) return cached;
  const file = process.env.TFJS_TORCH_ADDON ?? ADDON_PATH;
  if (!existsSync(file)) {
    loadError = `addon not built: ${file} is missing (run \`npm run build:native\`; needs libtorch, e.g. apt-get install libtorch-dev)`;
    return undefined;
  }
  try {
    cached = createRequire(import.meta.url)(file) as Addon;
  } catch (err) {
    loadError = `addon at ${file} failed to load: ${(err as Error).message}`;
  }
  return cached;
}

export function addonLoadError(): string | undefined {
  return loadError;
}

export function loadAddon(): Addon {
  const addon = tryLoadAddon();
  if (!addon) throw new Error(`tfjs-backend-torch: ${loadError}`);
  return addon;
}
