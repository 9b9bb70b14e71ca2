// Placeholder until the native torch backend lands (native/tfjs-backend-torch): reports it unavailable.
export async function loadTorchBackend(_opts: { device?: 'cpu' | 'cuda' | 'auto'; threads?: number }): Promise<{
  available: boolean; reason?: string; device?: string; version?: string; threads?: number;
}> {
  return { available: false, reason: 'the torch addon is not part of this build yet' };
}
