// What the loop asks of a model, as one interface: sample N completions, score given completions, read next-token
// log-probs (the TF/QE verifiers), take a new adapter. The in-process engine runs the tfjs model here; the OpenAI one
// (openai.ts) sends the same requests to vLLM / SGLang / `npm run serve` over HTTP.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../model/model.js';
import { ADAPTER_WEIGHTS, writePeftAdapter } from '../model/peft.js';
import { Rng } from '../model/rng.js';
import { type ScoreResult, nextTokenLogProbs, sample, score } from '../model/sample.js';

export interface SampleParams {
  temperature: number; // 0 = greedy
  topP: number;
  maxNewTokens: number;
  stopIds: number[]; // a row ends at the first of these (EOS first)
}

/** N completions of one prompt; `seed` fixes them whatever the batching, endpoint or retry. */
export interface SampleRequest {
  prompt: number[];
  n: number;
  seed: number;
}

export interface Completion {
  tokens: number[]; // generated ids, the stop id included when reached
  logProbs: number[]; // of each generated token under the model at temperature 1
  finished: boolean; // reached a stop id
}

/** A LoRA adapter by name, in PEFT layout at `dir` (readable by every endpoint). */
export interface AdapterRef {
  name: string;
  dir: string;
}

/**
 * The loop calls an engine synchronously (the in-process model computes synchronously; the OpenAI engine blocks on a
 * worker thread that does the HTTP, see blocking.ts), so the round stays a plain sequence of calls.
 */
export interface ModelEngine {
  readonly name: string;
  readonly remote: boolean; // its weights live elsewhere: the loop publishes each new adapter to it
  sample(requests: SampleRequest[], params: SampleParams): Completion[][];
  score(prompts: number[][], responses: number[][], options?: { logitChunk?: number }): ScoreResult;
  /** log p(id | prompt) for each prompt and each of `ids` (the verifier's read-out). */
  tokenLogProbs(prompts: number[][], ids: number[]): number[][];
  /** Later requests use this adapter (undefined: the base model). */
  useAdapter(adapter: AdapterRef | undefined): void;
  close(): void;
}

type Method = 'sample' | 'score' | 'tokenLogProbs' | 'useAdapter' | 'close';
/** The same engine with every call asynchronous (the OpenAI client as it talks HTTP). */
export type AsyncModelEngine = { readonly name: string } & {
  [K in Method]: (...args: Parameters<ModelEngine[K]>) => Promise<ReturnType<ModelEngine[K]>>;
};

/** The generator of completion j of a request with this seed: the same on every engine. */
export function completionRng(seed: number, j: number): Rng {
  return new Rng((seed ^ Math.imul(j + 1, 0x9e3779b9)) >>> 0);
}

export interface LocalEngineOptions {
  padId: number;
  batchSize: number; // rows per forward pass when sampling and scoring
}

/** Samples the requests' rows in batches of `batchSize`, each row with its own generator. */
export function sampleLocally(model: Model, requests: SampleRequest[], params: SampleParams, options: LocalEngineOptions): Completion[][] {
  const rows = requests.flatMap((r, q) => Array.from({ length: r.n }, (_, j) => ({ q, prompt: r.prompt, rng: completionRng(r.seed, j) })));
  const out: Completion[][] = requests.map(() => []);
  const [eosId, ...stopIds] = params.stopIds;
  if (eosId === undefined) throw new Error('sampling needs at least one stop id (the EOS)');
  for (let start = 0; start < rows.length; start += options.batchSize) {
    const batch = rows.slice(start, start + options.batchSize);
    const result = sample(
      model,
      batch.map((r) => r.prompt),
      {
        temperature: params.temperature,
        topP: params.topP,
        maxNewTokens: params.maxNewTokens,
        eosId,
        stopIds,
        padId: options.padId,
        rng: batch.map((r) => r.rng),
      },
    );
    batch.forEach((r, i) => out[r.q].push({ tokens: result.tokens[i], logProbs: result.logProbs[i], finished: result.finished[i] }));
  }
  return out;
}

/** The in-process engine: the tfjs model of this process. */
export function localEngine(model: Model, options: LocalEngineOptions): ModelEngine {
  return {
    name: 'local',
    remote: false,
    sample: (requests, params) => sampleLocally(model, requests, params, options),
    score: (prompts, responses, extra) =>
      score(model, prompts, responses, { padId: options.padId, batchSize: options.batchSize, logitChunk: extra?.logitChunk }),
    tokenLogProbs: (prompts, ids) =>
      nextTokenLogProbs(model, prompts, { padId: options.padId, batchSize: options.batchSize }).map((lp) => ids.map((id) => lp[id])),
    useAdapter: () => undefined, // the loop trains this very model: its adapter is already in place
    close: () => undefined,
  };
}

/** Writes the model's adapter in PEFT format under a name from its content (a resumed run reloads the same name) and loads it on the engine. */
export function publishAdapter(engine: ModelEngine, model: Model, dir: string, base: string): void {
  const staging = join(dir, `.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  writePeftAdapter(staging, model, base);
  const name = `svgap-${createHash('sha256')
    .update(readFileSync(join(staging, ADAPTER_WEIGHTS)))
    .digest('hex')
    .slice(0, 16)}`;
  if (existsSync(join(dir, name))) rmSync(staging, { recursive: true });
  else renameSync(staging, join(dir, name));
  engine.useAdapter({ name, dir: join(dir, name) });
}
