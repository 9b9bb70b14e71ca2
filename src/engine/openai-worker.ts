// The worker thread of blocking.ts: runs the OpenAI client's calls and hands each answer back through the port.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type OpenAIEngineOptions, openaiClient } from './openai.js';
import type { WorkerAnswer } from './blocking.js';

const { options, port, signal } = workerData as { options: OpenAIEngineOptions; port: MessagePort; signal: Int32Array };
let logs: string[] = [];
const client = openaiClient({ ...options, log: (line) => logs.push(line) });

parentPort!.on(
  'message',
  async ({ method, args }: { method: 'sample' | 'score' | 'tokenLogProbs' | 'useAdapter' | 'close'; args: never[] }) => {
    let answer: WorkerAnswer;
    try {
      answer = { result: await (client[method] as (...a: never[]) => Promise<unknown>)(...args), logs };
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error), logs };
    }
    logs = [];
    port.postMessage(answer);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  },
);
