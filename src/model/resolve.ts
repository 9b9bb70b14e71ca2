// `--model NAME`: where a checkpoint directory is. A directory, a shipped model under models/, a Hugging Face hub id
// (`microsoft/Phi-4-mini-instruct`, optionally `@revision`) in the standard HF cache (refs/<rev> → snapshots/<sha>), or,
// when online, downloaded into that cache with @huggingface/hub (the same blobs/snapshots/refs layout Python's
// huggingface_hub writes, so `huggingface-cli download` and this share one copy).
import { downloadFileToCacheDir, getHFHubCachePath, getRepoFolderName, modelInfo, pathsInfo } from '@huggingface/hub';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../io.js';
import { INDEX_FILE, SINGLE_FILE } from './hf.js';

/** Short names for hub ids. */
export const MODEL_ALIASES: Record<string, string> = { 'phi-mini': 'microsoft/Phi-4-mini-instruct' };

/** The model name an OpenAI-compatible server serves `--model spec` under: the hub id of an alias, else the spec as given (vllm serve ID). */
export function servedName(spec: string): string {
  return MODEL_ALIASES[spec] ?? spec;
}

/** A model directory's files besides config and weights: generation settings, tokenizer and chat template. */
export const TOKENIZER_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
];
/** The files of a model repository a run reads (each downloaded only when the repository has it); shards come from the index. */
const MODEL_FILES = ['config.json', ...TOKENIZER_FILES, INDEX_FILE, SINGLE_FILE];

const COMMIT = /^[0-9a-f]{40}$/;
const HUB_ID = /^([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/;

export interface HubRef {
  repo: string; // org/name
  revision: string; // branch, tag or commit (default main)
}

/** `org/name[@revision]` (or an alias) as a hub reference; undefined when the spec is not shaped like a hub id. */
export function parseHubId(spec: string): HubRef | undefined {
  const match = HUB_ID.exec(MODEL_ALIASES[spec] ?? spec);
  return match ? { repo: match[1], revision: match[2] ?? 'main' } : undefined;
}

/** HF_HUB_OFFLINE as Python's huggingface_hub reads it (1, true, yes, on). */
export function hubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
}

/** The hub cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub) and the folder of one repository in it. */
export function repoCacheDir(repo: string, cacheDir = getHFHubCachePath()): string {
  return join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

/** The files a checkpoint directory still lacks: config.json, then the weights (model.safetensors, or the index and its shards). */
export function missingModelFiles(dir: string): string[] {
  if (!existsSync(join(dir, 'config.json'))) return ['config.json'];
  if (existsSync(join(dir, INDEX_FILE))) {
    const index = readJsonFile(join(dir, INDEX_FILE)) as { weight_map?: Record<string, string> };
    return [...new Set(Object.values(index.weight_map ?? {}))].filter((file) => !existsSync(join(dir, file)));
  }
  return existsSync(join(dir, SINGLE_FILE)) ? [] : [SINGLE_FILE];
}

/** The snapshot `refs/<revision>` points at (a commit is its own snapshot), when it is in the cache. */
function cachedSnapshot(ref: HubRef, cacheDir: string): string | undefined {
  const repoDir = repoCacheDir(ref.repo, cacheDir);
  const refPath = join(repoDir, 'refs', ref.revision);
  const commit = COMMIT.test(ref.revision) ? ref.revision : existsSync(refPath) ? readFileSync(refPath, 'utf8').trim() : undefined;
  return commit === undefined ? undefined : join(repoDir, 'snapshots', commit);
}

export interface LocatedModel {
  dir?: string; // a complete checkpoint directory
  searched: string[]; // every place looked at, in order, for the error message
  hub?: HubRef;
}

/** Looks for `spec` without the network: the directory itself, models/NAME, then (hub ids and aliases) the HF cache. */
export function locateModel(spec: string, modelsDir: string, cacheDir = getHFHubCachePath()): LocatedModel {
  const hub = parseHubId(spec);
  const candidates = [resolve(spec), join(modelsDir, spec), ...(hub && MODEL_ALIASES[spec] ? [join(modelsDir, hub.repo)] : [])];
  const searched = [...new Set(candidates)];
  for (const dir of searched)
    if (existsSync(join(dir, 'config.json')) && missingModelFiles(dir).length === 0) return { dir, searched, hub };
  if (!hub) return { searched };
  const snapshot = cachedSnapshot(hub, cacheDir);
  searched.push(snapshot ?? join(repoCacheDir(hub.repo, cacheDir), 'refs', hub.revision));
  return { dir: snapshot && missingModelFiles(snapshot).length === 0 ? snapshot : undefined, searched, hub };
}

/** What an adapter's base_model_name_or_path records for `--model spec`: the hub id when it came from the hub, else the directory or preset. */
export function baseModelName(spec: string, modelsDir: string): string {
  const located = locateModel(spec, modelsDir);
  if (located.hub && located.dir?.includes(`${repoCacheDir(located.hub.repo, '')}/snapshots/`)) return located.hub.repo;
  return located.dir ?? spec;
}

/** The error for a hub model that is not on this machine and may not be downloaded (`why`: the reason it is not). */
export function notFoundOffline(spec: string, located: LocatedModel, why = 'downloads are off (--offline or HF_HUB_OFFLINE=1)'): Error {
  const id = located.hub ? located.hub.repo : spec;
  const revision = located.hub && located.hub.revision !== 'main' ? ` --revision ${located.hub.revision}` : '';
  return new Error(
    `--model ${spec}: ${id} is not on this machine and ${why}. ` +
      `Searched: ${located.searched.join(', ')}. Fetch it with \`huggingface-cli download ${id}${revision}\`, ` +
      `or run \`npm run train -- --model ${spec}\` without --offline (and without HF_HUB_OFFLINE) to download it into ${getHFHubCachePath()}.`,
  );
}

/** Download progress: bytes so far of the total, and the file being fetched (the shape of the loop's Progress, with a name). */
export type DownloadProgress = (stage: string, done: number, total: number) => void;

export interface FetchOptions {
  modelsDir: string;
  offline?: boolean; // also on with HF_HUB_OFFLINE
  cacheDir?: string; // default: the standard HF cache
  hubUrl?: string; // default: HF_ENDPOINT, else https://huggingface.co
  progress?: DownloadProgress;
  log?: (line: string) => void;
}

/** The checkpoint directory of `spec`, downloading a hub model into the HF cache when it is not there (and downloads are on). */
export async function fetchModel(spec: string, options: FetchOptions): Promise<string | undefined> {
  const cacheDir = options.cacheDir ?? getHFHubCachePath();
  const located = locateModel(spec, options.modelsDir, cacheDir);
  if (located.dir) return located.dir;
  if (!located.hub) return undefined; // not a hub id: the caller's own "no such model" error applies
  if (options.offline || hubOffline()) throw notFoundOffline(spec, located);
  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  options.log?.(`downloading ${located.hub.repo}@${located.hub.revision} from ${hubUrl} into ${repoCacheDir(located.hub.repo, cacheDir)}`);
  try {
    return await downloadSnapshot(located.hub, { ...options, cacheDir, hubUrl });
  } catch (error) {
    const cause =
      error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
    throw new Error(
      `--model ${spec}: downloading ${located.hub.repo} from ${hubUrl} failed (${cause}); run again to resume, ` +
        `or fetch it with \`huggingface-cli download ${located.hub.repo}\` and use --offline`,
    );
  }
}

type HubParams = { repo: { type: 'model'; name: string }; hubUrl: string; accessToken?: string };

/** Fills snapshots/<sha> with the model's files, writes refs/<revision> = sha, and returns the snapshot directory. */
async function downloadSnapshot(ref: HubRef, options: FetchOptions & { cacheDir: string; hubUrl: string }): Promise<string> {
  const hub: HubParams = {
    repo: { type: 'model', name: ref.repo },
    hubUrl: options.hubUrl,
    ...(process.env.HF_TOKEN ? { accessToken: process.env.HF_TOKEN } : {}),
  };
  // one commit for every file: with a branch name, @huggingface/hub would file each under the commit that last touched it
  const info = (await modelInfo({ ...hub, name: ref.repo, revision: ref.revision, additionalFields: ['sha', 'filePaths'] })) as {
    sha?: string;
    filePaths?: string[];
  };
  if (!info.sha || !COMMIT.test(info.sha))
    throw new Error(`${hub.hubUrl}: ${ref.repo}@${ref.revision} has no commit sha in its model info`);
  const present = new Set(info.filePaths ?? []);
  const wanted = MODEL_FILES.filter((file) => present.has(file) && (file !== SINGLE_FILE || !present.has(INDEX_FILE)));
  if (!wanted.includes('config.json'))
    throw new Error(`${ref.repo}@${ref.revision}: the repository has no config.json (not a transformers model)`);
  if (!wanted.includes(INDEX_FILE) && !wanted.includes(SINGLE_FILE))
    throw new Error(
      `${ref.repo}@${ref.revision}: the repository has no ${SINGLE_FILE} or ${INDEX_FILE} (only safetensors weights are read)`,
    );
  const snapshot = join(repoCacheDir(ref.repo, options.cacheDir), 'snapshots', info.sha);
  const small = wanted.filter((file) => file !== SINGLE_FILE);
  await downloadFiles(hub, info.sha, small, options);
  const shards = wanted.includes(SINGLE_FILE) ? [SINGLE_FILE] : missingModelFiles(snapshot);
  await downloadFiles(hub, info.sha, shards, options);
  if (!COMMIT.test(ref.revision)) writeFileAtomic(join(repoCacheDir(ref.repo, options.cacheDir), 'refs', ref.revision), info.sha);
  const missing = missingModelFiles(snapshot);
  if (missing.length > 0) throw new Error(`${snapshot}: still missing ${missing.join(', ')} after the download`);
  return snapshot;
}

/** Downloads files of one commit into the cache, one after another, reporting bytes received over their total size. */
async function downloadFiles(hub: HubParams, commit: string, files: string[], options: FetchOptions & { cacheDir: string }): Promise<void> {
  if (files.length === 0) return;
  const sizes = await pathsInfo({ ...hub, paths: files, revision: commit });
  const total = sizes.reduce((sum, file) => sum + (file.lfs?.size ?? file.size ?? 0), 0);
  let done = 0;
  let current = '';
  const counting: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (
      !response.body ||
      new Headers(init?.headers).has('Range') ||
      !String(input instanceof Request ? input.url : input).includes('/resolve/')
    )
      return response;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        done += chunk.byteLength;
        options.progress?.(`download ${current}`, done, total);
        out.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(counter), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  const debug = console.debug;
  console.debug = () => {}; // @huggingface/hub prints "Downloading FILE to ..." for each file, which would break the bar
  try {
    for (const file of files) {
      current = file;
      await downloadFileToCacheDir({ ...hub, fetch: counting, path: file, revision: commit, cacheDir: options.cacheDir });
    }
  } finally {
    console.debug = debug;
  }
}
