// The one child-process protocol (src/child.ts) of cross arms and bench workers: input in, log lines and one answer out.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runInChild } from '../src/child.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'processes', 'child.ts');

describe('runInChild', () => {
  it('sends the input, forwards the log lines, resolves with the result from another process', async () => {
    const lines: string[] = [];
    const result = await runInChild<{ echoed: string; pid: number }>(CHILD, { say: 'hello' }, { log: (l) => lines.push(l) });
    expect(result.echoed).toBe('hello');
    expect(result.pid).not.toBe(process.pid);
    expect(lines).toEqual(['heard hello']);
  });

  it("rejects with the child's error, or with its exit and last stderr line when it dies without an answer", async () => {
    await expect(runInChild(CHILD, { fail: 'no such model' })).rejects.toThrow(/^no such model$/);
    await expect(runInChild(CHILD, { crash: 3 })).rejects.toThrow(/its process exited \(code 3\): about to crash/);
  });
});
