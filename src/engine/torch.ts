// Adapter to the optional native backend (native/tfjs-backend-torch): registers tfjs backend 'torch' when its
// addon is built and loads, and otherwise says why. Importing this file never touches the addon.

export interface TorchLoadResult {
  available: boolean;
  reason?: string;
  device?: string; // 'cpu' or 'cuda'
  version?: string; // libtorch version
  threads?: number; // libtorch intra-op threads actually in use
}

interface TorchPackage {
  registerTorchBackend(opts: {
    device?: 'cpu' | 'cuda' | 'auto';
    threads?: number;
  }): { available: true; info: { device: string; version: string; threads: number } } | { available: false; reason: string };
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
export async function loadTorchBackend(opts: { device?: 'cpu' | 'cuda' | 'auto'; threads?: number } = {}): Promise<TorchLoadResult> {
  let pkg: TorchPackage;
  try {
    pkg = await importPackage();
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
  try {
    const result = pkg.registerTorchBackend({ device: opts.device ?? 'cpu', threads: opts.threads });
    if (!result.available) return { available: false, reason: result.reason };
    return { available: true, device: result.info.device, version: result.info.version, threads: result.info.threads };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}
