// Backend selection: the fastest tfjs backend that loads here, or exactly the one asked for.
import * as tf from '@tensorflow/tfjs-core';
import './register.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { existsSync, readdirSync } from 'node:fs';
import { requirePositiveInteger } from '../flags.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'torch', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type DeviceChoice = 'auto' | 'cpu' | 'cuda';

export interface BackendInfo {
  name: string; // the tfjs backend name actually running: tensorflow | torch | wasm | cpu
  package: string; // npm package that provides it
  version: string;
  threads: number;
  device: string; // cpu, cuda, or gpu for tfjs-node-gpu
  tried: { name: string; reason: string }[]; // backends skipped by `auto`, with why
}

export interface BackendOptions {
  backend?: BackendChoice;
  threads?: number;
  device?: DeviceChoice;
}

const require = createRequire(import.meta.url);

/** The installed version of an npm package, or 'unknown'. */
export function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * --threads, else OMP_NUM_THREADS, else 1: the small models here are dispatch-bound, and libtorch's OpenMP threads
 * spin-wait, so two threads on a core another process uses made a tiny training step 18x slower (5.0 s vs 0.28 s, measured).
 */
function defaultThreads(threads?: number): number {
  if (threads !== undefined) {
    requirePositiveInteger('threads', threads);
    return threads;
  }
  const fromEnv = Number(process.env.OMP_NUM_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 1;
}

class BackendUnavailable extends Error {}

type Loader = (threads: number, device: DeviceChoice) => Promise<Omit<BackendInfo, 'tried'>>;

// tfjs-node(-gpu) registers itself as 'tensorflow' on import; both are optional dependencies that rarely install.
async function loadTensorflow(gpu: boolean): Promise<Omit<BackendInfo, 'tried'>> {
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  let packageDir: string;
  try {
    packageDir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new BackendUnavailable(`${pkg} is not installed`);
  }
  // npm may install the package but skip (or fail) its install script, which downloads libtensorflow and builds the
  // binding; importing it then fails half-way and leaves duplicate kernel registrations behind, so look first
  const libDir = join(packageDir, 'lib');
  const hasBinding = existsSync(libDir) && readdirSync(libDir).some((d) => existsSync(join(libDir, d, 'tfjs_binding.node')));
  if (!hasBinding)
    throw new BackendUnavailable(`${pkg} is installed without its native binding (its install script did not download libtensorflow)`);
  try {
    await import(pkg);
  } catch (error) {
    throw new BackendUnavailable(`${pkg} is not installed or failed to load (${(error as Error).message.split('\n')[0]})`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new BackendUnavailable(`${pkg} loaded but backend 'tensorflow' did not initialise`);
  return {
    name: 'tensorflow',
    package: pkg,
    version: packageVersion(pkg),
    threads: os.availableParallelism(),
    device: gpu ? 'gpu' : 'cpu',
  };
}

async function loadTorch(threads: number, device: DeviceChoice): Promise<Omit<BackendInfo, 'tried'>> {
  const { loadTorchBackend } = await import('./torch.js');
  const torch = await loadTorchBackend({ device, threads });
  if (!torch.available)
    throw new BackendUnavailable(
      `torch backend unavailable: ${torch.reason ?? 'addon not built'} (build it with \`npm run build:native\`)`,
    );
  if (!(await tf.setBackend('torch'))) throw new BackendUnavailable("the torch addon loaded but backend 'torch' did not initialise");
  return {
    name: 'torch',
    package: 'tfjs-backend-torch',
    version: torch.version ?? 'unknown',
    threads: torch.threads ?? threads,
    device: torch.device ?? 'cpu',
  };
}

async function loadWasm(threads: number): Promise<Omit<BackendInfo, 'tried'>> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const distDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(join(distDir, '/'));
  wasm.setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailable('the wasm backend did not initialise');
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    version: packageVersion('@tensorflow/tfjs-backend-wasm'),
    threads: wasm.getThreadsCount(),
    device: 'cpu',
  };
}

async function loadCpu(): Promise<Omit<BackendInfo, 'tried'>> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailable('the cpu backend did not initialise');
  // the cpu backend greets Node users with a banner about tfjs-node; our own start-up line already says which backend runs
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return {
    name: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    version: packageVersion('@tensorflow/tfjs-backend-cpu'),
    threads: 1,
    device: 'cpu',
  };
}

// The order of `auto` (DEVELOPERS.md): tfjs-node-gpu > torch (CUDA) > tfjs-node > torch (CPU) > wasm > cpu.
function autoOrder(): { name: string; load: Loader }[] {
  return [
    { name: 'tensorflow (tfjs-node-gpu)', load: () => loadTensorflow(true) },
    { name: 'torch (cuda)', load: (threads) => loadTorch(threads, 'cuda') },
    { name: 'tensorflow (tfjs-node)', load: () => loadTensorflow(false) },
    { name: 'torch (cpu)', load: (threads) => loadTorch(threads, 'cpu') },
    { name: 'wasm', load: (threads) => loadWasm(threads) },
    { name: 'cpu', load: () => loadCpu() },
  ];
}

let current: BackendInfo | undefined;

/** Picks and initialises the backend once per process; asking for one that is not available is an error. */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const choice = options.backend ?? 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new Error(`--backend: unknown backend '${choice}'; choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const threads = defaultThreads(options.threads);
  const device = options.device ?? 'auto';
  if (current && (choice === 'auto' || current.name === choice)) return current;
  const tried: { name: string; reason: string }[] = [];
  if (choice === 'auto') {
    for (const candidate of autoOrder()) {
      try {
        current = { ...(await candidate.load(threads, device)), tried };
        return current;
      } catch (error) {
        if (!(error instanceof BackendUnavailable) && !(error instanceof Error)) throw error;
        tried.push({ name: candidate.name, reason: (error as Error).message });
      }
    }
    throw new Error(`no tfjs backend could be initialised: ${tried.map((t) => `${t.name}: ${t.reason}`).join('; ')}`);
  }
  try {
    const loaded =
      choice === 'tensorflow'
        ? await loadTensorflow(device !== 'cpu').catch(() => loadTensorflow(false))
        : choice === 'torch'
          ? await loadTorch(threads, device)
          : choice === 'wasm'
            ? await loadWasm(threads)
            : await loadCpu();
    current = { ...loaded, tried };
    return current;
  } catch (error) {
    throw new Error(`--backend ${choice}: not available here: ${(error as Error).message}`);
  }
}

// One tiny bench round on 2 shared cores, 1 thread (README: Benchmarks): how much slower the fallbacks are.
const BENCH_ROUND_SECONDS: Record<string, number> = { torch: 1.3, wasm: 14, cpu: 99 };

/**
 * The warning a run prints at its start when `auto` fell back to wasm or cpu: the expected slowdown and the command
 * that gets the native backend; undefined on a native backend or when wasm/cpu was asked for.
 */
export function fallbackWarning(info: BackendInfo): string | undefined {
  const seconds = BENCH_ROUND_SECONDS[info.name];
  if (info.tried.length === 0 || (info.name !== 'wasm' && info.name !== 'cpu') || seconds === undefined) return undefined;
  const torch = info.tried.find((t) => t.name.startsWith('torch'))?.reason ?? 'not built';
  return (
    `warning: running on ${info.name}, about ${Math.round(seconds / BENCH_ROUND_SECONDS.torch!)}x slower than the native torch backend ` +
    `(one bench round: ${seconds} s vs ${BENCH_ROUND_SECONDS.torch} s), because ${torch}. Fix: \`npm run setup\` ` +
    '(on Debian/Ubuntu it runs `apt-get install libtorch-dev libopenblas0-openmp` and `npm run build:native`)'
  );
}

/** A one-line description for logs: "torch 0.1.0 (cpu, 2 threads)". */
export function describeBackend(info: BackendInfo): string {
  return `${info.name} ${info.version} (${info.device}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`;
}

/**
 * How the model should embed tokens on the running backend. wasm lacks the gather gradient (UnsortedSegmentSum) and
 * cpu's takes ~19 s per tiny-model step (measured), so both embed by a one-hot matMul; native backends gather.
 */
export function preferredEmbedMode(): 'gather' | 'onehot' {
  const name = tf.getBackend();
  return name === 'torch' || name === 'tensorflow' ? 'gather' : 'onehot';
}

export { tf };
