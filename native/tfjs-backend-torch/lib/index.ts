// tfjs-backend-torch: registers a tfjs backend named 'torch' whose tensors live in libtorch.
import '@tensorflow/tfjs-backend-cpu';
import { getKernelsForBackend, registerBackend, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { PRECISION_CODE, addonLoadError, tryLoadAddon } from './addon.js';
import type { InitInfo, Precision } from './addon.js';
import { TorchBackend } from './backend.js';
import { fallbackCounts, fallbackKernel, resetFallbackCounts, runOnCpu } from './fallback.js';
import { UseFallback, fusedKernels, nativeKernels } from './kernels.js';
import type { Inputs } from './kernels.js';

export { TorchBackend, fallbackCounts, resetFallbackCounts, nativeKernels };
export { nativeTimer } from './profile.js';
export type { TorchMemoryInfo } from './backend.js';
export type { InitInfo, Precision } from './addon.js';
export const PRECISIONS = Object.keys(PRECISION_CODE) as Precision[];

export const BACKEND_NAME = 'torch';

export interface TorchBackendOptions {
  /** 'cpu' (default), 'cuda', or 'auto' (cuda when the addon has CUDA and a GPU is visible). */
  device?: 'cpu' | 'cuda' | 'auto';
  /** Intra-op threads; default: OMP_NUM_THREADS, else libtorch's own default. */
  threads?: number;
  /** Matmul precision: fp32, tf32 (CUDA only; a no-op on CPU) or bf16 (autocast: bf16 inputs, float32 results).
   * Default: tf32 on CUDA, fp32 on CPU. */
  precision?: Precision;
  /** Registration priority for tfjs's default-backend choice (cpu is 1, wasm 2). Default 0: never the default. */
  priority?: number;
}

export type RegisterResult = { available: true; info: InitInfo } | { available: false; reason: string };

// Shared through globalThis like the fallback counts: one registration per process whichever copy asks.
const state = ((globalThis as Record<symbol, unknown>)[Symbol.for('tfjs-backend-torch.state')] ??= {}) as { registered?: InitInfo };

/** Names of the kernels that run natively on 'torch'; every other cpu kernel runs through the fallback. */
export function nativeKernelNames(): string[] {
  return Object.keys(nativeKernels).sort();
}

/** Kernels registered for 'torch' that run through the cpu fallback. */
export function fallbackKernelNames(): string[] {
  return getKernelsForBackend('cpu')
    .map((k) => k.kernelName)
    .filter((name) => !(name in nativeKernels))
    .sort();
}

/** Names of the fused model ops (kernels.ts fusedKernels) registered for 'torch' only. */
export function fusedKernelNames(): string[] {
  return Object.keys(fusedKernels).sort();
}

/** The precision in use after registration (or undefined before). */
export function torchPrecision(): Precision | undefined {
  return state.registered?.precision;
}

/** Changes the matmul precision of the registered backend (tests and benches); returns the previous one. */
export function setTorchPrecision(precision: Precision): Precision {
  const addon = tryLoadAddon();
  if (!addon || !state.registered) throw new Error('tfjs-backend-torch: registerTorchBackend first');
  if (!(precision in PRECISION_CODE))
    throw new Error(`tfjs-backend-torch: precision must be one of ${PRECISIONS.join(', ')}, got ${precision}`);
  const previous = state.registered.precision ?? 'fp32';
  addon.SetPrecision(PRECISION_CODE[precision]);
  state.registered.precision = precision;
  return previous;
}

/** [peak, current] bytes of the CUDA caching allocator (resetting the peak when asked); undefined off CUDA. */
export function torchDeviceMemory(resetPeak = false): { peakBytes: number; currentBytes: number } | undefined {
  const addon = tryLoadAddon();
  if (!addon || !state.registered || state.registered.device !== 'cuda') return undefined;
  const [peakBytes, currentBytes] = addon.MemoryStats(resetPeak);
  return peakBytes < 0 ? undefined : { peakBytes, currentBytes };
}

function registerKernels(): void {
  const cpuKernels = new Map<string, KernelConfig>(getKernelsForBackend('cpu').map((k) => [k.kernelName, k]));
  for (const config of cpuKernels.values()) {
    registerKernel({ kernelName: config.kernelName, backendName: BACKEND_NAME, kernelFunc: fallbackKernel(config) });
  }
  for (const [name, impl] of Object.entries({ ...nativeKernels, ...fusedKernels })) {
    if (cpuKernels.has(name)) unregisterKernel(name, BACKEND_NAME);
    const cpu = cpuKernels.get(name);
    registerKernel({
      kernelName: name,
      backendName: BACKEND_NAME,
      kernelFunc: ({ inputs, backend, attrs }) => {
        try {
          return impl(backend as TorchBackend, inputs as Inputs, attrs ?? {});
        } catch (err) {
          if (err instanceof UseFallback && cpu) return runOnCpu(cpu, backend as TorchBackend, inputs, attrs);
          throw err;
        }
      },
    });
  }
}

/**
 * Loads the addon, initialises libtorch on the chosen device and registers the 'torch' backend with all
 * its kernels. Never throws: when the addon is missing or the device is unavailable it says why.
 * A second call returns the first registration (libtorch's device is fixed per process).
 */
export function registerTorchBackend(opts: TorchBackendOptions = {}): RegisterResult {
  if (state.registered) return { available: true, info: state.registered };
  const addon = tryLoadAddon();
  if (!addon) return { available: false, reason: addonLoadError() ?? 'addon not loadable' };
  const envThreads = Number(process.env.OMP_NUM_THREADS);
  const threads = opts.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : 0);
  let info: InitInfo;
  try {
    info = addon.Init(opts.device ?? 'cpu', threads);
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
  const precision = opts.precision ?? (info.device === 'cuda' ? 'tf32' : 'fp32');
  if (!(precision in PRECISION_CODE))
    return { available: false, reason: `precision must be one of ${PRECISIONS.join(', ')}, got ${precision}` };
  addon.SetPrecision(PRECISION_CODE[precision]);
  info = { ...info, precision };
  const backend = new TorchBackend(addon, info);
  registerKernels();
  registerBackend(BACKEND_NAME, () => backend, opts.priority ?? 0);
  state.registered = info;
  return { available: true, info };
}
