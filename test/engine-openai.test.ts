// The engine path: the OpenAI-compatible engine against `npm run serve`'s server on 127.0.0.1 gives what the
// in-process engine gives (same seeds → the same tokens; scores within 1e-5), with one and two servers, with an
// adapter loaded; and it survives faults: errors, malformed JSON, a slow server, a server killed and restarted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, createServer } from 'node:http';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/index.js';
import { type AsyncModelEngine, type SampleParams, type SampleRequest, localEngine } from '../src/engine/model-engine.js';
import { OPENAI_DEFAULTS, type OpenAIEngineOptions, openaiClient } from '../src/engine/openai.js';
import { createEngineServer, listen } from '../src/engine/serve.js';
import { type Lora, type Model, addLora, initModel } from '../src/model/model.js';
import { MICRO } from './helpers.js';
import { loadTest } from '../src/bench/load.js';
import { quantile } from '../src/stats.js';

const CONFIG = { ...MICRO, vocab_size: 29, max_position_embeddings: 48 };
const PAD = 0;
const EOS = 1;
const PARAMS: SampleParams = { temperature: 1, topP: 0.95, maxNewTokens: 8, stopIds: [EOS] };
const decode = (ids: number[]) => ids.map((id) => String.fromCharCode(97 + (id % 26))).join('');

function requests(count: number): SampleRequest[] {
  return Array.from({ length: count }, (_, q) => ({
    prompt: Array.from({ length: 3 + (q % 4) }, (_, t) => 2 + ((q * 7 + t * 3) % 25)),
    n: 3,
    seed: 1000 + q,
  }));
}

/** An adapter with non-zero B, so it changes the logits. */
function randomAdapter(model: Model, seed: number): Lora {
  const saved = model.lora;
  const lora = addLora(model, { rank: 2, alpha: 4, targets: ['qkv_proj', 'down_proj'] }, seed);
  for (const [name, v] of Object.entries(lora.params))
    if (name.endsWith('lora_B')) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', seed));
  model.lora = saved;
  return lora;
}

function client(endpoints: string[], extra: Partial<OpenAIEngineOptions> = {}): AsyncModelEngine {
  return openaiClient({ ...OPENAI_DEFAULTS, endpoints, model: 'micro', backoffMs: 20, retries: 3, timeoutMs: 10_000, ...extra });
}

let model: Model;
let adapter: Lora;
const servers: Server[] = [];
const urls: string[] = [];

async function startServer(port = 0): Promise<{ server: Server; url: string }> {
  const server = createEngineServer({
    model,
    modelName: 'micro',
    padId: PAD,
    stopIds: [EOS],
    batchSize: 4,
    decode,
    readAdapter: () => adapter,
  });
  const url = await listen(server, port);
  servers.push(server);
  return { server, url };
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  model = initModel(CONFIG, 7);
  adapter = randomAdapter(model, 11);
  for (let i = 0; i < 2; i++) urls.push((await startServer()).url);
});

afterAll(() => {
  for (const server of servers) (server.closeAllConnections(), server.close());
});

describe('the OpenAI engine against the served in-process model', () => {
  it('samples the same tokens as the in-process engine, whatever the batching and the number of servers', async () => {
    const reference = await localEngine(model, { padId: PAD, batchSize: 5 }).sample(requests(6), PARAMS);
    const rebatched = await localEngine(model, { padId: PAD, batchSize: 2 }).sample(requests(6), PARAMS);
    expect(rebatched.map((q) => q.map((c) => c.tokens))).toEqual(reference.map((q) => q.map((c) => c.tokens)));
    for (const endpoints of [[urls[0]], urls]) {
      const remote = await client(endpoints).sample(requests(6), PARAMS);
      expect(remote.map((q) => q.map((c) => c.tokens))).toEqual(reference.map((q) => q.map((c) => c.tokens)));
      remote.flat().forEach((c, i) => c.logProbs.forEach((lp, t) => expect(lp).toBeCloseTo(reference.flat()[i].logProbs[t], 5)));
    }
    // the draws are not all the same: different seeds give different completions
    expect(new Set(reference.flat().map((c) => c.tokens.join(','))).size).toBeGreaterThan(6);
  });

  it('scores responses and reads next-token log-probs within 1e-5 of the in-process engine', async () => {
    const local = localEngine(model, { padId: PAD, batchSize: 3 });
    const prompts = requests(5).map((r) => r.prompt);
    const responses = prompts.map((p, i) => Array.from({ length: 1 + i }, (_, t) => 2 + ((p[0] + t * 5) % 25)));
    const [want, got] = [await local.score(prompts, responses), await client(urls, { scoreBatch: 2 }).score(prompts, responses)];
    for (const key of ['nll', 'normalizedNll', 'entropy', 'selfCertainty'] as const) {
      got[key].forEach((x, i) => expect(Math.abs(x - want[key][i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[key][i]))));
    }
    expect(got.length).toEqual(want.length);
    const ids = [3, 4, 9];
    const [lpWant, lpGot] = [await local.tokenLogProbs(prompts, ids), await client(urls).tokenLogProbs(prompts, ids)];
    lpGot.flat().forEach((x, i) => expect(Math.abs(x - lpWant.flat()[i])).toBeLessThan(1e-5));
  });

  it('loads an adapter on every server, and then answers as the model with that adapter does', async () => {
    const remote = client(urls);
    const prompts = requests(3).map((r) => r.prompt);
    const base = await remote.tokenLogProbs(prompts, [2, 5]);
    await remote.useAdapter({ name: 'round-1', dir: '/adapters/round-1' });
    await remote.useAdapter({ name: 'round-1', dir: '/adapters/round-1' }); // a resumed run loads it again: fine
    const adapted = await remote.tokenLogProbs(prompts, [2, 5]);
    model.lora = adapter;
    const want = await localEngine(model, { padId: PAD, batchSize: 4 }).tokenLogProbs(prompts, [2, 5]);
    model.lora = undefined;
    adapted.flat().forEach((x, i) => expect(Math.abs(x - want.flat()[i])).toBeLessThan(1e-5));
    expect(Math.max(...adapted.flat().map((x, i) => Math.abs(x - base.flat()[i])))).toBeGreaterThan(1e-3);
    const models = (await (await fetch(`${urls[1]}/v1/models`)).json()) as { data: { id: string; parent: string | null }[] };
    expect(models.data.map((m) => [m.id, m.parent])).toEqual([
      ['micro', null],
      ['round-1', 'micro'],
    ]);
  });
});

type Fault = 'error' | 'malformed' | 'slow' | 'strip-prompt-logprobs' | 'bad-request';

/** A proxy in front of a server that spoils the first `count` completion requests with `fault`. */
async function faultyProxy(target: string, fault: Fault, count: number): Promise<{ url: string; spoiled: () => number }> {
  let spoiled = 0;
  const proxy = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', async () => {
      const spoil = request.url === '/v1/completions' && (fault === 'strip-prompt-logprobs' || spoiled < count);
      if (spoil) spoiled++;
      if (spoil && fault === 'error') return response.writeHead(503).end('overloaded');
      if (spoil && fault === 'bad-request')
        return response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"n too large"}}');
      if (spoil && fault === 'malformed') return response.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [');
      if (spoil && fault === 'slow') await new Promise((r) => setTimeout(r, 1500));
      const reply = await fetch(`${target}${request.url}`, {
        method: request.method,
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      });
      let text = await reply.text();
      if (spoil && fault === 'strip-prompt-logprobs') text = text.replace(/"prompt_logprobs":\[[^\]]*\]/g, '"prompt_logprobs":null');
      if (!response.destroyed)
        response.writeHead(reply.status, { 'content-type': reply.headers.get('content-type') ?? 'text/plain' }).end(text);
    });
  });
  servers.push(proxy);
  return { url: await listen(proxy, 0), spoiled: () => spoiled };
}

describe('faults on the way to a server', () => {
  const tokensOf = (qs: { tokens: number[] }[][]) => qs.map((q) => q.map((c) => c.tokens));
  let reference: number[][][];
  beforeAll(async () => {
    reference = tokensOf(await localEngine(model, { padId: PAD, batchSize: 4 }).sample(requests(4), PARAMS));
  });

  it.each(['error', 'malformed'] as const)('retries a server answering with %s and gets every completion once', async (fault) => {
    const proxy = await faultyProxy(urls[0], fault, 3);
    const lines: string[] = [];
    const remote = client([proxy.url], { concurrency: 1, log: (l) => lines.push(l) });
    expect(tokensOf(await remote.sample(requests(4), PARAMS))).toEqual(reference);
    expect(proxy.spoiled()).toBe(3);
    expect(lines.filter((l) => /retry/.test(l))).toHaveLength(3);
  });

  it('times a slow server out, retries on the other endpoint, and fails clearly when every attempt times out', async () => {
    const slow = await faultyProxy(urls[0], 'slow', 100);
    const remote = client([slow.url, urls[1]], { timeoutMs: 500, concurrency: 1 });
    expect(tokensOf(await remote.sample(requests(4), PARAMS))).toEqual(reference);
    await expect(client([slow.url], { timeoutMs: 300, retries: 1 }).sample(requests(1), PARAMS)).rejects.toThrow(
      /timed out after 300 ms \(after 2 attempts/,
    );
  });

  it('does not retry a request the server rejects (4xx), and names the endpoint and its message', async () => {
    const rejecting = await faultyProxy(urls[0], 'bad-request', 100);
    await expect(client([rejecting.url]).sample(requests(1), PARAMS)).rejects.toThrow(/HTTP 400: .*n too large/);
    expect(rejecting.spoiled()).toBe(1);
  });

  it('says what is missing when a server does not return prompt_logprobs', async () => {
    const stripped = await faultyProxy(urls[0], 'strip-prompt-logprobs', 0);
    await expect(client([stripped.url]).score([[2, 3]], [[4, 5]])).rejects.toThrow(
      /did not return prompt_logprobs: svgap needs vLLM's prompt_logprobs/,
    );
  });

  it('finishes a sampling call across a server killed mid-way and restarted on its port, nothing lost or duplicated', async () => {
    const { server, url } = await startServer();
    const port = Number(new URL(url).port);
    let answered = 0;
    server.on('request', (_request, response) =>
      response.on('finish', () => {
        if (++answered === 2) {
          server.closeAllConnections();
          server.close();
          setTimeout(() => void startServer(port), 300);
        }
      }),
    );
    const remote = client([url], { concurrency: 1, retries: 6, backoffMs: 100 });
    const got = await remote.sample(requests(4), PARAMS);
    expect(answered).toBe(2);
    expect(tokensOf(got)).toEqual(reference);
  });
});

describe('a server restarted between calls', () => {
  it('no longer knows the adapter: the client loads it again and answers as the adapted model', async () => {
    const { server, url } = await startServer();
    const lines: string[] = [];
    const remote = client([url], { log: (line) => lines.push(line) });
    await remote.useAdapter({ name: 'round-2', dir: '/adapters/round-2' });
    server.closeAllConnections();
    server.close();
    await startServer(Number(new URL(url).port)); // a fresh server on the same port: base weights only
    const prompts = requests(2).map((r) => r.prompt);
    const got = await remote.tokenLogProbs(prompts, [2, 5]);
    model.lora = adapter;
    const want = await localEngine(model, { padId: PAD, batchSize: 4 }).tokenLogProbs(prompts, [2, 5]);
    model.lora = undefined;
    got.flat().forEach((x, i) => expect(Math.abs(x - want.flat()[i])).toBeLessThan(1e-5));
    expect(lines.some((line) => /adapter round-2 unknown to a server \(restarted\?\): loading it again/.test(line))).toBe(true);
  });
});

describe("the server's answers to bad requests", () => {
  const post = async (path: string, body: string) => {
    const reply = await fetch(`${urls[0]}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return {
      status: reply.status,
      body: (await reply.json()) as { error: { message: string; type: string; param: string | null; code: string | null } },
    };
  };

  it.each([
    ['/v1/completions', '{"model": "micro", "prompt": [2, 3', 400, /not valid JSON/, null],
    ['/v1/completions', '{"model": "nope", "prompt": [2, 3]}', 404, /`nope` does not exist: served are micro/, 'model'],
    ['/v1/completions', '{"model": "micro", "prompt": [2, 3], "n": 0}', 400, /n must be an integer in \[1, 256\], got 0/, 'n'],
    ['/v1/completions', '{"model": "micro", "prompt": [2, 300]}', 400, /token id 300 is outside the vocabulary \(29\)/, 'prompt'],
    ['/v1/completions', '{"model": "micro", "prompt": "hello"}', 400, /no tokenizer: send prompts as token ids/, 'prompt'],
    ['/v1/completions', '{"model": "micro", "prompt": [2, 3], "max_tokens": 47}', 400, /exceeds the context length 48/, 'max_tokens'],
    ['/v1/completions', '{"model": "micro", "prompt": [2], "logprobs": 5}', 400, /top alternatives/, 'logprobs'],
    ['/v1/unload_lora_adapter', '{"lora_name": "never-loaded"}', 404, /cannot be found/, 'lora_name'],
    ['/v1/nowhere', '{}', 404, /no route POST \/v1\/nowhere/, null],
  ])('POST %s %s → %i', async (path, body, status, message, param) => {
    const reply = await post(path, body);
    expect(reply.status).toBe(status);
    expect(reply.body.error.message).toMatch(message);
    expect(reply.body.error.param).toBe(param);
    expect(reply.body.error.type).toBe(status === 404 ? 'not_found_error' : 'invalid_request_error');
  });
});

describe('the server under concurrent clients', () => {
  it("answers every request of 8 clients with the completion of that request's own seed (none lost or mixed up)", async () => {
    const reference = await localEngine(model, { padId: PAD, batchSize: 4 }).sample(
      requests(40).map((r) => ({ ...r, n: 1 })),
      PARAMS,
    );
    const result = await loadTest(urls[1], {
      clients: 8,
      requests: 40,
      body: (i) => ({
        model: 'micro',
        prompt: requests(40)[i].prompt,
        n: 1,
        seed: 1000 + i,
        temperature: 1,
        top_p: 0.95,
        max_tokens: 8,
        stop_token_ids: [EOS],
      }),
      check: (i, reply) => {
        const ids = (reply as { choices: { token_ids: number[] }[] }).choices[0].token_ids;
        return ids.join(',') === reference[i][0].tokens.join(',') ? undefined : `request ${i}: ${ids.join(',')}`;
      },
    });
    expect(result.errors).toEqual([]);
    expect([result.ok, result.failed]).toEqual([40, 0]);
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
  });
});

describe('quantile', () => {
  it('is the nearest-rank quantile', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect([quantile(values, 0.5), quantile(values, 0.99), quantile(values, 0.1), quantile(values, 1)]).toEqual([5, 10, 1, 10]);
    expect(() => quantile([], 0.5)).toThrow(/no values/);
  });
});
