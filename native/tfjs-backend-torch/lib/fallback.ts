// Any kernel without a native implementation runs tfjs-backend-cpu's kernel on copies of its inputs:
// download into a private MathBackendCPU, run, upload the outputs. Slow but correct; counted per kernel.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { TorchBackend } from './backend.js';

// Shared through globalThis: the package may be loaded twice (dist/ and, under tsx, lib/) in one process.
const shared = ((globalThis as Record<symbol, unknown>)[Symbol.for('tfjs-backend-torch.fallbacks')] ??= new Map<string, number>()) as Map<
  string,
  number
>;
const counts = shared;
let cpu: MathBackendCPU | undefined;

/** How many times each kernel fell back to the cpu implementation since the last reset. */
export function fallbackCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}

export function resetFallbackCounts(): void {
  counts.clear();
}

function privateCpu(): MathBackendCPU {
  if (!cpu) {
    cpu = new MathBackendCPU();
    // silence the "install the node backend" notice the cpu backend prints on its first write
    (cpu as unknown as { firstUse: boolean }).firstUse = false;
  }
  return cpu;
}

/** Runs a cpu kernel on torch tensors: the result lives on torch again. */
export function runOnCpu(
  config: KernelConfig,
  backend: TorchBackend,
  inputs: NamedTensorInfoMap | TensorInfo[],
  attrs: NamedAttrMap | undefined,
): TensorInfo | TensorInfo[] {
  const name = config.kernelName;
  const seen = counts.get(name);
  if (seen === undefined) {
    console.warn(`tfjs-backend-torch: kernel '${name}' has no native implementation; falling back to the cpu backend (slow)`);
  }
  counts.set(name, (seen ?? 0) + 1);
  const host = privateCpu();
  const copies: TensorInfo[] = [];
  const copy = (t: TensorInfo | undefined): TensorInfo | undefined => {
    if (t == null) return t;
    const c = { dataId: host.write(backend.readSync(t.dataId), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
    copies.push(c);
    return c;
  };
  const cpuInputs = Array.isArray(inputs) ? inputs.map(copy) : Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, copy(t)]));
  const result = (config.kernelFunc as KernelFunc)({ inputs: cpuInputs as NamedTensorInfoMap, backend: host, attrs });
  const outputs = Array.isArray(result) ? result : [result];
  const uploaded = outputs.map((o) => ({
    dataId: backend.write(host.readSync(o.dataId), o.shape, o.dtype),
    shape: o.shape,
    dtype: o.dtype,
  }));
  for (const t of [...copies, ...outputs]) host.disposeData(t.dataId, true);
  return Array.isArray(result) ? uploaded : uploaded[0];
}

/** A torch kernel that always takes the fallback path. */
export function fallbackKernel(config: KernelConfig): KernelFunc {
  return ({ inputs, backend, attrs }) => runOnCpu(config, backend as TorchBackend, inputs, attrs);
}
