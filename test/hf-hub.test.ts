// --model with hub ids: a local hub on 127.0.0.1 (the routes @huggingface/hub calls: model info, paths-info, resolve)
// serves a tiny sharded checkpoint; the download fills the standard HF cache layout and a second resolve, with the
// server stopped, finds it there. Offline and absent is an error naming the id, the places searched and the fix.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { INDEX_FILE } from '../src/model/hf.js';
import { fetchModel, locateModel, parseHubId, repoCacheDir } from '../src/model/resolve.js';
import { resolveModel } from '../src/model/index.js';
import { PHI4_LIKE, maxAbsDiff, ourLogits, randomTokens, writeCheckpoint } from './hf-fixtures.js';

const REPO = 'tiny-org/Tiny-Phi';
const COMMIT = 'a'.repeat(8) + createHash('sha1').update('tiny').digest('hex').slice(8);
let root: string;
let source: string; // the checkpoint the hub serves
let server: Server;
let hubUrl: string;
const requests: string[] = [];

/** A hub that knows one repository at one commit: the three routes downloadFileToCacheDir and modelInfo use. */
function serveHub(files: Record<string, Buffer>): Promise<string> {
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
  const entry = (path: string) => {
    const data = files[path];
    const lfs = path.endsWith('.safetensors') ? { lfs: { oid: sha256(data), size: data.length, pointerSize: 134 } } : {};
    return {
      type: 'file',
      path,
      oid: gitOid(data),
      size: data.length,
      ...lfs,
      lastCommit: { id: COMMIT, title: 'upload', date: '2026-01-01T00:00:00Z' },
    };
  };
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url!, 'http://x');
    const info = url.pathname.match(new RegExp(`^/api/models/${REPO}/revision/([^/]+)$`));
    if (req.method === 'GET' && info && (info[1] === 'main' || info[1] === COMMIT)) {
      res.setHeader('Content-Type', 'application/json');
      return res.end(
        JSON.stringify({
          _id: 'x',
          id: REPO,
          sha: COMMIT,
          private: false,
          siblings: Object.keys(files).map((rfilename) => ({ rfilename })),
        }),
      );
    }
    if (req.method === 'POST' && url.pathname === `/api/models/${REPO}/paths-info/${COMMIT}`) {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const paths = (JSON.parse(body) as { paths: string[] }).paths.filter((p) => p in files);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(paths.map(entry)));
      });
      return;
    }
    const resolved = url.pathname.match(new RegExp(`^/${REPO}/resolve/${COMMIT}/(.+)$`));
    const data = resolved ? files[decodeURIComponent(resolved[1])] : undefined;
    if (req.method === 'GET' && data) {
      const e = entry(decodeURIComponent(resolved![1]));
      res.setHeader('ETag', `"${e.lfs?.oid ?? e.oid}"`);
      res.setHeader('X-Repo-Commit', COMMIT);
      if (req.headers.range === 'bytes=0-0') {
        res.writeHead(206, { 'Content-Range': `bytes 0-0/${data.length}`, 'Content-Length': '1' });
        return res.end(data.subarray(0, 1));
      }
      res.writeHead(200, { 'Content-Length': String(data.length) });
      return res.end(data);
    }
    res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' });
    res.end('not found');
  });
  return new Promise((ready) =>
    server.listen(0, '127.0.0.1', () => ready(`http://127.0.0.1:${(server.address() as { port: number }).port}`)),
  );
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  root = mkdtempSync(join(tmpdir(), 'svgap-hub-'));
  source = writeCheckpoint(root, 'source', PHI4_LIKE, { dtype: 'BF16', shardBytes: 6000 });
  writeFileSync(join(source, 'tokenizer_config.json'), '{"eos_token": "<|end|>"}');
  writeFileSync(join(source, 'README.md'), 'not needed by a run');
  hubUrl = await serveHub(Object.fromEntries(readdirSync(source).map((file) => [file, readFileSync(join(source, file))])));
});
afterAll(() => {
  server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('hub ids', () => {
  it('parses ids, revisions and the phi-mini alias; other specs are not hub ids', () => {
    expect(parseHubId('phi-mini')).toEqual({ repo: 'microsoft/Phi-4-mini-instruct', revision: 'main' });
    expect(parseHubId('org/name@v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0' });
    expect(parseHubId('tiny-arith')).toBeUndefined();
    expect(parseHubId('/abs/path')).toBeUndefined();
    expect(parseHubId('a/b/c')).toBeUndefined();
  });

  it('downloads into the standard cache layout with progress, then resolves from the cache with the server stopped', async () => {
    const cacheDir = join(root, 'hub-cache');
    const progress: [string, number, number][] = [];
    const dir = await fetchModel(REPO, {
      modelsDir: join(root, 'models'),
      cacheDir,
      hubUrl,
      progress: (stage, done, total) => progress.push([stage, done, total]),
    });
    const repoDir = repoCacheDir(REPO, cacheDir);
    expect(repoDir).toBe(join(cacheDir, 'models--tiny-org--Tiny-Phi'));
    expect(dir).toBe(join(repoDir, 'snapshots', COMMIT));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const index = JSON.parse(readFileSync(join(source, INDEX_FILE), 'utf8')) as { weight_map: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map))];
    expect(shards.length).toBeGreaterThan(1);
    const expected = ['config.json', 'tokenizer_config.json', INDEX_FILE, ...shards].sort();
    expect(readdirSync(dir!).sort()).toEqual(expected); // README.md is not a model file
    for (const file of expected) {
      const link = join(dir!, file);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
      expect(readFileSync(link).equals(readFileSync(join(source, file)))).toBe(true);
    }
    const shardBlob = readlinkSync(join(dir!, shards[0])).split('/').pop()!;
    expect(shardBlob).toBe(
      createHash('sha256')
        .update(readFileSync(join(source, shards[0])))
        .digest('hex'),
    ); // LFS files are stored by sha256
    expect(readdirSync(join(repoDir, 'blobs')).some((f) => f.endsWith('.incomplete'))).toBe(false);
    const shardBytes = shards.reduce((sum, f) => sum + readFileSync(join(source, f)).length, 0);
    const last = progress[progress.length - 1];
    expect(last[1]).toBe(shardBytes);
    expect(last[2]).toBe(shardBytes);
    expect(progress.every(([stage]) => stage.startsWith('download '))).toBe(true);

    await new Promise((closed) => server.close(closed));
    const before = requests.length;
    expect(await fetchModel(REPO, { modelsDir: join(root, 'models'), cacheDir, hubUrl })).toBe(dir);
    expect(requests.length).toBe(before);
    await expect(fetchModel(REPO, { modelsDir: join(root, 'models'), cacheDir: join(root, 'other-cache'), hubUrl })).rejects.toThrow(
      /--model tiny-org\/Tiny-Phi: downloading tiny-org\/Tiny-Phi from http:\/\/127\.0\.0\.1:\d+ failed \(.+\); run again to resume/,
    );
    process.env.HF_HUB_CACHE = cacheDir;
    try {
      const tokens = randomTokens(3, 1, 6, PHI4_LIKE.vocab_size as number);
      expect(maxAbsDiff(ourLogits(dir!, tokens), ourLogits(source, tokens))).toBe(0);
      const { model } = resolveModel(REPO, { vocabSize: PHI4_LIKE.vocab_size as number, seed: 1, embedMode: 'gather' }); // sync path: the cache
      expect(model.config.hidden_size).toBe(PHI4_LIKE.hidden_size);
      for (const v of Object.values(model.params)) v.dispose();
    } finally {
      delete process.env.HF_HUB_CACHE;
    }
  });

  it('offline and absent: an error naming the id, the places searched and the command that fetches it', async () => {
    const cacheDir = join(root, 'empty-cache');
    const modelsDir = join(root, 'models');
    const located = locateModel('phi-mini', modelsDir, cacheDir);
    expect(located.dir).toBeUndefined();
    expect(located.searched).toContain(join(modelsDir, 'phi-mini'));
    expect(located.searched).toContain(join(cacheDir, 'models--microsoft--Phi-4-mini-instruct', 'refs', 'main'));
    const offline = fetchModel('phi-mini', { modelsDir, cacheDir, offline: true });
    await expect(offline).rejects.toThrow(/--model phi-mini: microsoft\/Phi-4-mini-instruct is not on this machine and downloads are off/);
    await expect(fetchModel('phi-mini', { modelsDir, cacheDir, offline: true })).rejects.toThrow(
      /models--microsoft--Phi-4-mini-instruct.*huggingface-cli download microsoft\/Phi-4-mini-instruct/,
    );
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await expect(fetchModel(`${REPO}@v2`, { modelsDir, cacheDir })).rejects.toThrow(
        /downloads are off.*huggingface-cli download tiny-org\/Tiny-Phi --revision v2/,
      );
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    expect(await fetchModel('not-a-model', { modelsDir, cacheDir })).toBeUndefined();
    expect(existsSync(join(cacheDir))).toBe(false); // nothing was written
  });
});
