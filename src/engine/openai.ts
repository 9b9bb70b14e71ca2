// The engine over OpenAI-compatible servers (vLLM, SGLang, `npm run serve`): requests spread over the endpoints with
// bounded concurrency, per-request timeouts, retries with backoff on 429 / 5xx / connection errors / malformed
// JSON. Sampling sends one seeded request per question, so a retry or another endpoint gives the same completions;
// U is re-scored from prompt_logprobs (the model's own distribution at temperature 1, never the sampler's).
import type { ScoreResult } from '../model/sample.js';
import type { AdapterRef, AsyncModelEngine, Completion, SampleParams, SampleRequest } from './model-engine.js';

export interface OpenAIEngineOptions {
  endpoints: string[]; // base URLs, with or without /v1
  model: string; // the served base model's name
  apiKey?: string;
  concurrency: number; // requests in flight per endpoint
  timeoutMs: number; // per request
  retries: number; // further attempts after the first, on another endpoint each time
  backoffMs: number; // wait before retry k: backoffMs · 2^k
  scoreBatch: number; // sequences per scoring request
  log?: (line: string) => void;
}

export const OPENAI_DEFAULTS = { concurrency: 4, timeoutMs: 600_000, retries: 5, backoffMs: 500, scoreBatch: 16 } as const;

/** A failure worth another attempt: connection, timeout, 429, 5xx, a body that is not the JSON expected. */
class Retryable extends Error {}

type Json = Record<string, unknown>;

function baseUrl(endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

async function postOnce(endpoint: string, path: string, body: Json, options: OpenAIEngineOptions): Promise<unknown> {
  const url = `${baseUrl(endpoint)}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const cause =
      error instanceof Error && error.name === 'TimeoutError'
        ? `timed out after ${options.timeoutMs} ms`
        : String((error as Error).cause ?? error);
    throw new Retryable(`POST ${url}: ${cause}`);
  }
  const text = await response.text().catch((error: unknown) => {
    throw new Retryable(`POST ${url}: reading the body failed: ${String(error)}`);
  });
  if (response.status === 429 || response.status >= 500) throw new Retryable(`POST ${url}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new Retryable(`POST ${url}: the response is not valid JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** POSTs with retries; attempt k goes to endpoint (first + k) mod E, so a dead endpoint is routed around. */
async function post(
  first: number,
  path: string,
  body: Json,
  options: OpenAIEngineOptions,
  check: (reply: unknown) => void = () => undefined,
): Promise<unknown> {
  let last: Error | undefined;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    const endpoint = options.endpoints[(first + attempt) % options.endpoints.length];
    try {
      const reply = await postOnce(endpoint, path, body, options);
      check(reply);
      return reply;
    } catch (error) {
      if (!(error instanceof Retryable)) throw error;
      last = error;
      options.log?.(`${error.message}; ${attempt < options.retries ? `retry ${attempt + 1} of ${options.retries}` : 'giving up'}`);
      if (attempt < options.retries) await sleep(options.backoffMs * 2 ** attempt);
    }
  }
  throw new Error(`${last!.message} (after ${options.retries + 1} attempts over ${options.endpoints.join(', ')})`);
}

/** Runs tasks with `concurrency` per endpoint; task i starts on endpoint i mod E. Results keep the tasks' order. */
async function runAll<T>(count: number, options: OpenAIEngineOptions, task: (i: number, endpoint: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(count, options.endpoints.length * options.concurrency) }, async (_, w) => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i, w % options.endpoints.length);
    }
  });
  await Promise.all(workers);
  return results;
}

interface Choice {
  index: number;
  token_ids?: number[];
  logprobs?: { tokens?: string[]; token_logprobs?: (number | null)[] } | null;
  finish_reason?: string;
  stop_reason?: number | string | null;
  prompt_logprobs?: (Record<string, { logprob: number }> | null)[] | null;
  svgap_token_stats?: { prompt_entropy: number[]; prompt_self_certainty: number[] };
}

/** The choices of a completion response, in index order; malformed replies are retried. */
function choicesOf(reply: unknown, expected: number): Choice[] {
  const choices = (reply as { choices?: unknown })?.choices;
  if (!Array.isArray(choices) || choices.length !== expected) {
    throw new Retryable(
      `expected ${expected} choices, got ${Array.isArray(choices) ? choices.length : JSON.stringify(reply).slice(0, 200)}`,
    );
  }
  return [...(choices as Choice[])].sort((a, b) => a.index - b.index);
}

function completionOf(choice: Choice, stopIds: number[]): Completion {
  const logProbs = choice.logprobs?.token_logprobs;
  const tokens = choice.token_ids ?? choice.logprobs?.tokens?.map((t) => Number(/^token_id:(\d+)$/.exec(t)?.[1] ?? Number.NaN));
  if (!tokens || !logProbs || tokens.some((t) => !Number.isInteger(t)) || logProbs.length !== tokens.length) {
    throw new Retryable(
      'a choice lacks its token ids or token log-probs (the request asked for logprobs: 0 and return_tokens_as_token_ids)',
    );
  }
  const finished = choice.finish_reason === 'stop';
  const stop = choice.stop_reason;
  // vLLM may leave the stop token out of the output: put it back, as the in-process sampler keeps it
  if (finished && typeof stop === 'number' && !stopIds.includes(tokens[tokens.length - 1] ?? -1))
    return { tokens: [...tokens, stop], logProbs: [...(logProbs as number[]), Number.NaN], finished };
  return { tokens, logProbs: logProbs as number[], finished };
}

function missingFeature(endpoints: string[], what: string): Error {
  return new Error(
    `the engine at ${endpoints.join(', ')} did not return ${what}: svgap needs vLLM's prompt_logprobs extension ` +
      '(vLLM ≥ 0.4: POST /v1/completions with "prompt_logprobs": 0; SGLang: run it with its OpenAI server and logprob support) to re-score responses',
  );
}

/** Per-sequence prompt log-probs of every token after the first, from `prompt_logprobs` replies. */
function promptLogProbs(choice: Choice, sequence: number[], endpoints: string[]): number[] {
  const rows = choice.prompt_logprobs;
  if (!Array.isArray(rows)) throw missingFeature(endpoints, 'prompt_logprobs');
  return sequence.slice(1).map((id, t) => {
    const value = rows[t + 1]?.[String(id)]?.logprob;
    if (typeof value !== 'number') throw new Retryable(`prompt_logprobs lacks token ${id} at position ${t + 1}`);
    return value;
  });
}

interface Scored {
  logProbs: number[];
  entropy?: number[];
  selfCertainty?: number[];
}

async function scoreSequences(sequences: number[][], model: () => string, options: OpenAIEngineOptions): Promise<Scored[]> {
  const batches = Math.ceil(sequences.length / options.scoreBatch);
  const replies = await runAll(batches, options, async (b, endpoint) => {
    const rows = sequences.slice(b * options.scoreBatch, (b + 1) * options.scoreBatch);
    const body = { model: model(), prompt: rows, max_tokens: 1, temperature: 0, prompt_logprobs: 0, svgap_token_stats: true };
    let scored: Scored[] = [];
    await post(endpoint, '/completions', body, options, (reply) => {
      scored = choicesOf(reply, rows.length).map((c, i) => ({
        logProbs: promptLogProbs(c, rows[i], options.endpoints),
        entropy: c.svgap_token_stats?.prompt_entropy,
        selfCertainty: c.svgap_token_stats?.prompt_self_certainty,
      }));
    });
    return scored;
  });
  return replies.flat();
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

/** U and its diagnostics from per-token scores (entropy / self-certainty NaN where the engine does not give them). */
function scoreResult(scored: Scored[], prompts: number[][], responses: number[][]): ScoreResult {
  const result: ScoreResult = { nll: [], length: [], normalizedNll: [], entropy: [], selfCertainty: [] };
  scored.forEach((s, i) => {
    const from = prompts[i].length - 1; // index of the first response token among tokens 1…
    const length = responses[i].length;
    const window = (xs: number[] | undefined) => (xs ? sum(xs.slice(from, from + length)) / Math.max(1, length) : Number.NaN);
    const nll = -sum(s.logProbs.slice(from, from + length));
    result.nll.push(nll);
    result.length.push(length);
    result.normalizedNll.push(nll / Math.max(1, length));
    result.entropy.push(window(s.entropy));
    result.selfCertainty.push(window(s.selfCertainty));
  });
  return result;
}

async function sampleRemote(
  requests: SampleRequest[],
  params: SampleParams,
  model: string,
  options: OpenAIEngineOptions,
): Promise<Completion[][]> {
  return runAll(requests.length, options, async (q, endpoint) => {
    const r = requests[q];
    const body = {
      model,
      prompt: r.prompt,
      n: r.n,
      seed: r.seed,
      temperature: params.temperature,
      top_p: params.topP,
      max_tokens: params.maxNewTokens,
      stop_token_ids: params.stopIds,
      logprobs: 0,
      return_tokens_as_token_ids: true,
      skip_special_tokens: false,
    };
    let completions: Completion[] = [];
    await post(endpoint, '/completions', body, options, (reply) => {
      completions = choicesOf(reply, r.n).map((c) => completionOf(c, params.stopIds));
    });
    return completions;
  });
}

/** Loads the adapter on every endpoint ("already loaded" is fine: a resumed run reloads what a live server has). */
async function loadEverywhere(adapter: AdapterRef, options: OpenAIEngineOptions): Promise<void> {
  await Promise.all(
    options.endpoints.map(async (endpoint) => {
      try {
        await postOnce(endpoint, '/load_lora_adapter', { lora_name: adapter.name, lora_path: adapter.dir }, options);
      } catch (error) {
        if (/already been loaded/.test((error as Error).message)) return;
        throw new Error(
          `loading LoRA adapter ${adapter.name} from ${adapter.dir} on ${endpoint} failed: ${(error as Error).message}` +
            ' (start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; the directory must be readable by the server)',
        );
      }
    }),
  );
}

/** The client of one or more OpenAI-compatible servers serving the same base model (the loop blocks on it: blocking.ts). */
export function openaiClient(options: OpenAIEngineOptions): AsyncModelEngine {
  if (options.endpoints.length === 0) throw new Error('--endpoint: give at least one server URL');
  let adapter: AdapterRef | undefined;
  const current = () => adapter?.name ?? options.model;
  // a server restarted since the adapter was loaded no longer knows it (404): load it again, then repeat the call once
  const withAdapter = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (!adapter || !/HTTP 404/.test((error as Error).message)) throw error;
      options.log?.(`adapter ${adapter.name} unknown to a server (restarted?): loading it again`);
      await loadEverywhere(adapter, options);
      return call();
    }
  };
  return {
    name: `openai(${options.endpoints.join(',')})`,
    sample: (requests, params) => withAdapter(() => sampleRemote(requests, params, current(), options)),
    score: (prompts, responses) =>
      withAdapter(async () => {
        const scored = await scoreSequences(
          prompts.map((p, i) => [...p, ...responses[i]]),
          current,
          options,
        );
        return scoreResult(scored, prompts, responses);
      }),
    tokenLogProbs: (prompts, ids) =>
      withAdapter(async () => {
        const scored = await scoreSequences(
          prompts.flatMap((p) => ids.map((id) => [...p, id])),
          current,
          options,
        );
        return prompts.map((_, p) => ids.map((_, k) => scored[p * ids.length + k].logProbs.at(-1)!));
      }),
    useAdapter: async (next) => {
      if (next) await loadEverywhere(next, options);
      adapter = next;
    },
    close: async () => undefined,
  };
}
