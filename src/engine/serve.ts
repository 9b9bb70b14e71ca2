// `npm run serve`: an OpenAI-compatible HTTP server over the in-process engine, with the subset of vLLM's server the
// loop uses (completions with n / seed / logprobs / prompt_logprobs / echo, LoRA load and unload, models, health), so
// the engine path is tested against a real server here and one loaded model can serve several runs.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TSX_IMPORT } from '../child.js';
import { type Lora, type Model } from '../model/model.js';
import { sequenceLogProbs } from '../model/sample.js';
import { type Completion, sampleLocally } from './model-engine.js';

export interface ServeOptions {
  model: Model;
  modelName: string; // what requests name as `model` for the base weights
  padId: number;
  stopIds: number[]; // default stop ids (EOS first); a request's stop_token_ids are added to them
  batchSize: number;
  readAdapter: (dir: string) => Lora; // a PEFT adapter directory → LoRA weights for this model
  encode?: (text: string) => number[]; // for string prompts
  decode: (ids: number[]) => string;
  log?: (line: string) => void;
}

/** An error sent back as OpenAI-style JSON with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 << 20;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new ApiError(413, `request body over ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function parseJson(body: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ApiError(400, `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError(400, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
  response.end(text);
}

function sendError(response: ServerResponse, error: unknown): void {
  const api = error instanceof ApiError ? error : new ApiError(500, `internal error: ${(error as Error).message ?? String(error)}`);
  const type = api.status >= 500 ? 'internal_server_error' : api.status === 404 ? 'not_found_error' : 'invalid_request_error';
  send(response, api.status, { error: { message: api.message, type, param: api.param, code: api.code } });
}

// ---- request fields ----------------------------------------------------------------------------------------------

function integerField(body: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = body[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ApiError(400, `${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`, name);
  }
  return value;
}

function numberField(body: Record<string, unknown>, name: string, fallback: number, ok: (x: number) => boolean, range: string): number {
  const value = body[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value))
    throw new ApiError(400, `${name} must be a number ${range}, got ${JSON.stringify(value)}`, name);
  return value;
}

function optionalInteger(body: Record<string, unknown>, name: string, max: number): number | null {
  return body[name] === undefined || body[name] === null ? null : integerField(body, name, 0, 0, max);
}

const isIdList = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && t >= 0);

/** `prompt`: ids, a list of id lists, a string or a list of strings (strings need the tokenizer). */
function promptsOf(body: Record<string, unknown>, options: ServeOptions): number[][] {
  const prompt = body.prompt;
  const encode = (text: string) => {
    if (!options.encode) throw new ApiError(400, 'this server has no tokenizer: send prompts as token ids', 'prompt');
    return options.encode(text);
  };
  if (typeof prompt === 'string') return [encode(prompt)];
  if (isIdList(prompt)) return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(isIdList)) return prompt;
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string'))
    return prompt.map((p) => encode(p as string));
  throw new ApiError(
    400,
    'prompt must be a string, a list of strings, a list of token ids or a list of token-id lists (non-empty)',
    'prompt',
  );
}

function checkIds(prompts: number[][], vocab: number, context: number, maxTokens: number): void {
  for (const prompt of prompts) {
    const bad = prompt.find((id) => id >= vocab);
    if (bad !== undefined) throw new ApiError(400, `token id ${bad} is outside the vocabulary (${vocab})`, 'prompt');
    if (prompt.length + maxTokens > context) {
      throw new ApiError(
        400,
        `prompt of ${prompt.length} tokens + max_tokens ${maxTokens} exceeds the context length ${context}`,
        'max_tokens',
      );
    }
  }
}

interface CompletionRequest {
  prompts: number[][];
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  logprobs: number | null;
  promptLogprobs: number | null;
  echo: boolean;
  stopIds: number[];
  idsAsTokens: boolean;
  tokenStats: boolean;
}

function completionRequest(body: Record<string, unknown>, options: ServeOptions): CompletionRequest {
  const config = options.model.config;
  const maxTokens = integerField(body, 'max_tokens', 16, 0, config.max_position_embeddings);
  const prompts = promptsOf(body, options);
  checkIds(prompts, config.vocab_size, config.max_position_embeddings, maxTokens);
  const logprobs = optionalInteger(body, 'logprobs', 20);
  const promptLogprobs = optionalInteger(body, 'prompt_logprobs', 20);
  if ((logprobs ?? 0) > 0 || (promptLogprobs ?? 0) > 0) {
    throw new ApiError(
      400,
      'top alternatives (logprobs or prompt_logprobs > 0) are not served here: ask for 0 (the chosen tokens only)',
      logprobs ? 'logprobs' : 'prompt_logprobs',
    );
  }
  const stop = body.stop_token_ids ?? [];
  if (!Array.isArray(stop) || !stop.every((t) => Number.isInteger(t) && t >= 0))
    throw new ApiError(400, 'stop_token_ids must be a list of token ids', 'stop_token_ids');
  return {
    prompts,
    maxTokens,
    logprobs,
    promptLogprobs,
    n: integerField(body, 'n', 1, 1, 256),
    temperature: numberField(body, 'temperature', 1, (x) => x >= 0, '≥ 0'),
    topP: numberField(body, 'top_p', 1, (x) => x > 0 && x <= 1, 'in (0, 1]'),
    seed: integerField(body, 'seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1),
    echo: body.echo === true,
    stopIds: [...options.stopIds, ...(stop as number[])],
    idsAsTokens: body.return_tokens_as_token_ids === true,
    tokenStats: body.svgap_token_stats === true,
  };
}

// ---- responses ---------------------------------------------------------------------------------------------------

interface PromptScores {
  logProbs: number[]; // of prompt tokens 1 … length−1
  entropy: number[];
  selfCertainty: number[];
}

function tokenName(id: number, options: ServeOptions, idsAsTokens: boolean): string {
  return idsAsTokens ? `token_id:${id}` : options.decode([id]);
}

/** OpenAI's legacy logprobs object over `ids` with their log-probs (null where there is none: the first prompt token). */
function logprobsObject(ids: number[], logProbs: (number | null)[], options: ServeOptions, idsAsTokens: boolean) {
  const tokens = ids.map((id) => tokenName(id, options, idsAsTokens));
  const offsets: number[] = [];
  let offset = 0;
  for (const token of tokens) {
    offsets.push(offset);
    offset += token.length;
  }
  return { tokens, token_logprobs: logProbs, top_logprobs: null, text_offset: offsets };
}

function choiceOf(
  request: CompletionRequest,
  prompt: number[],
  scores: PromptScores | undefined,
  completion: Completion,
  index: number,
  options: ServeOptions,
) {
  const ids = request.echo ? [...prompt, ...completion.tokens] : completion.tokens;
  const promptLogProbs: (number | null)[] = [null, ...(scores?.logProbs ?? [])];
  const logProbs = request.echo ? [...promptLogProbs, ...completion.logProbs] : completion.logProbs;
  const last = completion.tokens[completion.tokens.length - 1];
  return {
    index,
    text: options.decode(ids),
    logprobs: request.logprobs === null ? null : logprobsObject(ids, logProbs, options, request.idsAsTokens),
    finish_reason: completion.finished ? 'stop' : 'length',
    stop_reason: completion.finished ? (last ?? null) : null,
    prompt_token_ids: prompt,
    token_ids: completion.tokens,
    ...(request.promptLogprobs === null
      ? {}
      : {
          prompt_logprobs: promptLogProbs.map((lp, t) =>
            lp === null ? null : { [prompt[t]]: { logprob: lp, rank: null, decoded_token: options.decode([prompt[t]]) } },
          ),
        }),
    ...(request.tokenStats && scores
      ? { svgap_token_stats: { prompt_entropy: scores.entropy, prompt_self_certainty: scores.selfCertainty } }
      : {}),
  };
}

let completionCounter = 0;

function complete(body: Record<string, unknown>, options: ServeOptions, modelName: string) {
  const request = completionRequest(body, options);
  const needScores = request.promptLogprobs !== null || (request.echo && request.logprobs !== null) || request.tokenStats;
  const scores = needScores
    ? sequenceLogProbs(options.model, request.prompts, { padId: options.padId, batchSize: options.batchSize })
    : undefined;
  const completions: Completion[][] =
    request.maxTokens === 0
      ? request.prompts.map(() => Array.from({ length: request.n }, () => ({ tokens: [], logProbs: [], finished: false })))
      : sampleLocally(
          options.model,
          request.prompts.map((prompt) => ({ prompt, n: request.n, seed: request.seed })),
          { temperature: request.temperature, topP: request.topP, maxNewTokens: request.maxTokens, stopIds: request.stopIds },
          { padId: options.padId, batchSize: options.batchSize },
        );
  const choices = request.prompts.flatMap((prompt, p) =>
    completions[p].map((c, j) => choiceOf(request, prompt, scores?.[p], c, p * request.n + j, options)),
  );
  const promptTokens = request.prompts.reduce((s, p) => s + p.length, 0);
  const completionTokens = completions.flat().reduce((s, c) => s + c.tokens.length, 0);
  return {
    id: `cmpl-${++completionCounter}`,
    object: 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model: modelName,
    choices,
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

// ---- the server --------------------------------------------------------------------------------------------------

interface ServerState {
  adapters: Map<string, Lora>;
  base: Lora | undefined;
}

/** Runs `fn` with the named adapter (or the base weights) in place on the model. */
function withModel<T>(name: unknown, options: ServeOptions, state: ServerState, fn: (modelName: string) => T): T {
  if (typeof name !== 'string') throw new ApiError(400, 'model must be a string: the served model or a loaded LoRA adapter', 'model');
  const adapter = name === options.modelName ? state.base : state.adapters.get(name);
  if (name !== options.modelName && !adapter) {
    throw new ApiError(
      404,
      `the model \`${name}\` does not exist: served are ${[options.modelName, ...state.adapters.keys()].join(', ')}`,
      'model',
      'model_not_found',
    );
  }
  options.model.lora = adapter;
  try {
    return fn(name);
  } finally {
    options.model.lora = state.base;
  }
}

function loraName(body: Record<string, unknown>): string {
  const name = body.lora_name;
  if (typeof name !== 'string' || name.length === 0) throw new ApiError(400, 'lora_name must be a non-empty string', 'lora_name');
  return name;
}

function loadAdapter(body: Record<string, unknown>, options: ServeOptions, state: ServerState): string {
  const name = loraName(body);
  if (typeof body.lora_path !== 'string') throw new ApiError(400, 'lora_path must be a string: a PEFT adapter directory', 'lora_path');
  if (name === options.modelName || state.adapters.has(name))
    throw new ApiError(400, `The lora adapter '${name}' has already been loaded.`, 'lora_name');
  let adapter: Lora;
  try {
    adapter = options.readAdapter(body.lora_path);
  } catch (error) {
    throw new ApiError(400, `cannot load LoRA adapter '${name}' from ${body.lora_path}: ${(error as Error).message}`, 'lora_path');
  }
  state.adapters.set(name, adapter);
  return `Success: LoRA adapter '${name}' added successfully.`;
}

function unloadAdapter(body: Record<string, unknown>, state: ServerState): string {
  const name = loraName(body);
  const adapter = state.adapters.get(name);
  if (!adapter) throw new ApiError(404, `The lora adapter '${name}' cannot be found.`, 'lora_name', 'model_not_found');
  for (const variable of Object.values(adapter.params)) variable.dispose();
  state.adapters.delete(name);
  return `Success: LoRA adapter '${name}' removed successfully.`;
}

function modelList(options: ServeOptions, state: ServerState) {
  const created = Math.floor(Date.now() / 1000);
  const entry = (id: string, parent: string | null) => ({
    id,
    object: 'model',
    created,
    owned_by: 'svgap',
    root: id,
    parent,
    max_model_len: options.model.config.max_position_embeddings,
  });
  return {
    object: 'list',
    data: [entry(options.modelName, null), ...[...state.adapters.keys()].map((name) => entry(name, options.modelName))],
  };
}

async function route(request: IncomingMessage, response: ServerResponse, options: ServeOptions, state: ServerState): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const method = request.method ?? 'GET';
  if (method === 'GET' && path === '/health') return send(response, 200, '');
  if (method === 'GET' && path === '/v1/models') return send(response, 200, modelList(options, state));
  const posts: Record<string, (body: Record<string, unknown>) => unknown> = {
    '/v1/completions': (body) => withModel(body.model, options, state, (name) => complete(body, options, name)),
    '/v1/load_lora_adapter': (body) => loadAdapter(body, options, state),
    '/v1/unload_lora_adapter': (body) => unloadAdapter(body, state),
  };
  const handler = posts[path ?? ''];
  if (!handler) throw new ApiError(404, `no route ${method} ${path}`);
  if (method !== 'POST') throw new ApiError(405, `${path} takes POST, not ${method}`);
  return send(response, 200, handler(parseJson(await readBody(request))));
}

/** The server, not yet listening. Requests are computed one at a time (the model runs synchronously in this process). */
export function createEngineServer(options: ServeOptions): Server {
  const state: ServerState = { adapters: new Map(), base: options.model.lora };
  return createServer((request, response) => {
    const start = performance.now();
    route(request, response, options, state)
      .catch((error: unknown) => sendError(response, error))
      .finally(() => options.log?.(`${request.method} ${request.url} ${response.statusCode} ${(performance.now() - start).toFixed(0)} ms`));
  });
}

/** Starts the server on host:port (port 0: any free port); resolves with its base URL. */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return `http://${host}:${address.port}`;
}

/** `npm run serve` (src/cli/serve.ts) with `flags` in a process of its own on a free port: its URL, and stop() to end it. */
export function startServeProcess(flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ url: string; stop: () => void }> {
  const entry = fileURLToPath(new URL(`../cli/serve${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  const args = [...(entry.endsWith('.ts') ? TSX_IMPORT : []), entry, '--port', '0', ...flags];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const url = /at (http:\/\/\S+)\/v1/.exec(chunk.toString())?.[1];
      if (url) resolve({ url, stop: () => child.kill() });
    });
    child.on('exit', (code) => reject(new Error(`npm run serve exited (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`)));
  });
}
