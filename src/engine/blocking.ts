// The OpenAI engine as the loop calls it: synchronously. The HTTP client (openai.ts) runs on a worker thread; each call
// posts the request there and blocks on an Atomics.wait until the worker has put the answer on a MessagePort, which
// is then read with receiveMessageOnPort. The round stays a plain sequence of calls, whatever engine it talks to.
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { entryBeside } from '../child.js';
import type { ModelEngine } from './model-engine.js';
import type { OpenAIEngineOptions } from './openai.js';

/** What the worker answers a call with: the result or the error, and the log lines of the call (retries). */
export type WorkerAnswer = { result: unknown; logs: string[] } | { error: string; logs: string[] };

/** The OpenAI engine (openai.ts openaiClient) behind synchronous calls; close() ends its worker. */
export function openaiEngine(options: Omit<OpenAIEngineOptions, 'log'>, log: (line: string) => void = () => {}): ModelEngine {
  const entry = entryBeside(import.meta.url, 'openai-worker');
  const { port1, port2 } = new MessageChannel();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  // a .ts entry (tests, npm scripts): tsx-worker.mjs registers tsx's loader in the worker, then imports it
  const workerData = { options, port: port2, signal, entry: pathToFileURL(entry).href };
  const worker = new Worker(entry.endsWith('.ts') ? new URL('./tsx-worker.mjs', import.meta.url) : entry, {
    workerData,
    transferList: [port2],
  });
  worker.unref();
  const call = (method: string, ...args: unknown[]): unknown => {
    Atomics.store(signal, 0, 0);
    worker.postMessage({ method, args });
    // the worker sets it to 1 and notifies once the answer is on the port; a worker that died never does
    const waited = Atomics.wait(signal, 0, 0, options.timeoutMs * (options.retries + 2) + 60_000);
    if (waited === 'timed-out') throw new Error(`the OpenAI engine's worker did not answer ${method} (it may have died: ${entry})`);
    const answer = receiveMessageOnPort(port1)?.message as WorkerAnswer | undefined;
    if (!answer) throw new Error(`the OpenAI engine's worker gave no answer to ${method}`);
    answer.logs.forEach((line) => log(line));
    if ('error' in answer) throw new Error(answer.error);
    return answer.result;
  };
  return {
    name: `openai(${options.endpoints.join(',')})`,
    remote: true,
    sample: (requests, params) => call('sample', requests, params) as ReturnType<ModelEngine['sample']>,
    score: (prompts, responses) => call('score', prompts, responses) as ReturnType<ModelEngine['score']>,
    tokenLogProbs: (prompts, ids) => call('tokenLogProbs', prompts, ids) as number[][],
    useAdapter: (adapter) => void call('useAdapter', adapter),
    close: () => void worker.terminate(),
  };
}
