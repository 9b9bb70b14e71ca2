// npx tsx scripts/load_serve.ts URL [CLIENTS] [REQUESTS]: a load test of `npm run serve` (or any OpenAI-compatible server
// serving tiny-arith's token ids): C clients sending 8-token sampling requests back to back; requests/s, p50/p99 latency,
// and every reply checked for one choice with its token ids.
import { loadTest } from '../src/bench/load.js';

const [url, clients = '8', requests = '200'] = process.argv.slice(2);
if (!url) throw new Error('usage: load_serve.ts URL [CLIENTS] [REQUESTS]');
const result = await loadTest(url, {
  clients: Number(clients),
  requests: Number(requests),
  body: (i) => ({ model: 'tiny-arith', prompt: [1, 5 + (i % 50), 6, 7], n: 1, seed: i, temperature: 1, max_tokens: 8, logprobs: 0 }),
  check: (i, reply) => {
    const choices = (reply as { choices?: { token_ids?: number[] }[] }).choices;
    return choices?.length === 1 && Array.isArray(choices[0]!.token_ids)
      ? undefined
      : `request ${i}: ${JSON.stringify(reply).slice(0, 200)}`;
  },
});
console.log(JSON.stringify(result));
