// Adapter to the optional native backend (native/tfjs-backend-torch): registers tfjs backend 'torch' when its
// addon is built and loads, and otherwise says why. Importing this file never touches the addon.

export interface TorchLoadResult {
  available: boolean;
  reason?: string;
  device?: string; // 'cpu' or 'cuda'
  version?: string; // libtorch version
  threads?: number; // libtorch intra-op threads actually in use
  precision?: 'fp32' | 'tf32' | 'bf16'; // matmul precision in use
}

interface TorchPackage {
  registerTorchBackend(opts: {
    device?: 'cpu' | 'cuda' | 'auto';
    threads?: number;
    precision?: 'fp32' | 'tf32' | 'bf16';
  }):
    | { available: true; info: { device: string; version: string; threads: number; precision?: 'fp32' | 'tf32' | 'bf16' } }
    | { available: false; reason: string };
  torchDeviceMemory(resetPeak?: boolean): { peakBytes: number; currentBytes: number } | undefined;
}

let loaded: TorchPackage | undefined;

/** Peak and current bytes of the CUDA caching allocator (the peak reset when asked); undefined off CUDA or before loading. */
export function torchDeviceMemory(resetPeak = false): { peakBytes: number; currentBytes: number } | undefined {
  return loaded?.torchDeviceMemory(resetPeak);
}

// Running from TypeScript sources (tsx, vitest), use the package's sources too, so a stale dist/ never shadows them;
// compiled (dist/engine/torch.js), use the built workspace package first.
const SOURCE = new URL('../../native/tfjs-backend-torch/lib/index.js', import.meta.url).href;
const CANDIDATES = import.meta.url.endsWith('.ts') ? [SOURCE, 'tfjs-backend-torch'] : ['tfjs-backend-torch', SOURCE];

async function importPackage(): Promise<TorchPackage> {
  const errors: string[] = [];
  for (const specifier of CANDIDATES) {
    try {
      return (await import(specifier)) as TorchPackage;
    } catch (error) {
      errors.push(`${specifier}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`tfjs-backend-torch could not be imported (${errors.join('; ')})`);
}

/** Registers the 'torch' backend (device cpu by default); never throws. */
export async function loadTorchBackend(
  opts: { device?: 'cpu' | 'cuda' | 'auto'; threads?: number; precision?: 'fp32' | 'tf32' | 'bf16' } = {},
): Promise<TorchLoadResult> {
  let pkg: TorchPackage;
  try {
    pkg = await importPackage();
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
  try {
    const result = pkg.registerTorchBackend({ device: opts.device ?? 'cpu', threads: opts.threads, precision: opts.precision });
    if (!result.available) return { available: false, reason: result.reason };
    loaded = pkg;
    return {
      available: true,
      device: result.info.device,
      version: result.info.version,
      threads: result.info.threads,
      precision: result.info.precision,
    };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}
