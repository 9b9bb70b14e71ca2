// Every native kernel against tfjs-backend-cpu on seeded random inputs, broadcasting cases and edge shapes.
// Runs on TORCH_DEVICE (cpu by default; cuda on GPU machines). Without the addon: skipped with a notice, an error under CI=true.
import { describe, expect, it } from 'vitest';
import { BUILD_NATIVE, requireOrSkip } from '../../../test/helpers.js';
import * as tf from '@tensorflow/tfjs';
import { fallbackCounts, nativeKernelNames, registerTorchBackend, resetFallbackCounts } from '../lib/index.js';
import { cases, compare, kernelsOf, runOn } from './cases.js';

const device = (process.env.TORCH_DEVICE ?? 'cpu') as 'cpu' | 'cuda' | 'auto';
const registration = registerTorchBackend({ device });
const available = requireOrSkip(
  `the native torch addon on ${device}`,
  registration.available,
  `${BUILD_NATIVE} (${registration.available ? '' : registration.reason})`,
);
const suite = available ? describe : describe.skip;

suite(`torch (${device}) kernels agree with cpu`, () => {
  it.each(cases.map((c, i) => [c.name, i] as const))('%s', async (_name, index) => {
    const c = cases[index];
    const seed = 1000 + index;
    await tf.setBackend('cpu');
    (tf.backend() as unknown as { firstUse: boolean }).firstUse = false; // no tfjs-node banner
    const expected = runOn(c, seed, true);
    await tf.setBackend('torch');
    resetFallbackCounts();
    const before = tf.memory().numTensors;
    const actual = runOn(c, seed, false);
    expect(tf.memory().numTensors, 'tensors leaked by the case').toBe(before);
    expect(actual.length).toBe(expected.length);
    actual.forEach((out, i) => {
      const cmp = compare(out, expected[i], c.tol ?? { abs: 1e-6, rel: 1e-5 });
      expect(cmp.ok, `output ${i}: ${cmp.message}`).toBe(true);
    });
    if (!c.name.includes('falls back')) expect(fallbackCounts(), 'native kernels must not fall back').toEqual({});
  });

  it('exercises every native kernel it registers', async () => {
    await tf.setBackend('torch');
    const seen = new Set<string>();
    for (const [i, c] of cases.entries()) for (const k of await kernelsOf(c, 1000 + i)) seen.add(k);
    const missing = nativeKernelNames().filter((k) => !seen.has(k));
    expect(missing).toEqual([]);
  });

  it('frees native memory when tensors are disposed', async () => {
    await tf.setBackend('torch');
    const start = tf.memory() as tf.MemoryInfo & { numNativeTensors: number; numNativeBytes: number };
    const x = tf.randomNormal([64, 64]);
    const y = tf.tidy(() => tf.matMul(tf.relu(x), tf.transpose(x)));
    const held = tf.memory() as typeof start;
    expect(held.numNativeTensors).toBe(start.numNativeTensors + 2);
    expect(held.numNativeBytes).toBeGreaterThanOrEqual(start.numNativeBytes + 2 * 64 * 64 * 4);
    tf.dispose([x, y]);
    const end = tf.memory() as typeof start;
    expect(end.numNativeTensors).toBe(start.numNativeTensors);
    expect(end.numNativeBytes).toBe(start.numNativeBytes);
  });

  it('moves tensors created on cpu to torch on first use', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    await tf.setBackend('torch');
    const y = tf.mul(x, 2);
    expect(Array.from(await y.data())).toEqual([2, 4, 6, 8]);
    tf.dispose([x, y]);
  });
});
