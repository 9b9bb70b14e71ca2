// The PyTorch reference (scripts/bench_torch.py: the same model config and batch in PyTorch) and the ratio table
// ours / PyTorch. The script is run with Debian's python3-torch by default.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../data/paths.js';

export const TORCH_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'bench_torch.py');
export const DEFAULT_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export const COMPARED_KEYS = [
  'trainTokensPerSecond',
  'trainLoraTokensPerSecond',
  'sampleTokensPerSecond',
  'scoreTokensPerSecond',
  'verifyTokensPerSecond',
] as const;
export type ComparedKey = (typeof COMPARED_KEYS)[number];

// the snake_case names bench_torch.py may print instead
const SNAKE_CASE: Record<ComparedKey, string> = {
  trainTokensPerSecond: 'train_tokens_per_s',
  trainLoraTokensPerSecond: 'train_lora_tokens_per_s',
  sampleTokensPerSecond: 'sample_tokens_per_s',
  scoreTokensPerSecond: 'score_tokens_per_s',
  verifyTokensPerSecond: 'verify_tokens_per_s',
};

export interface TorchRequest {
  preset: string; // tiny | small: the presets the script mirrors
  vocab: number;
  batch: number;
  seq: number; // SFT row length (prompt + response − 1)
  sampleBatch: number;
  prompt: number;
  newTokens: number;
  verifyLength: number;
  loraRank: number;
  loraAlpha: number;
  topP: number; // nucleus mass of the sampler (the run default is 1)
  threads: number;
  steps: number; // timed runs of each measurement (median)
  warmup: number;
}

export interface TorchReference {
  command: string;
  values: Partial<Record<ComparedKey, number>>;
  row: Record<string, unknown>; // everything the script reported
}

export interface TorchComparison {
  reference?: TorchReference;
  error?: string; // why there is no reference
  ratios: { backend: string; ratios: Partial<Record<ComparedKey, number>> }[]; // ours / PyTorch, per backend
}

/** The throughput figures of one script row, under our key names (camelCase or the script's snake_case). */
export function referenceValues(row: Record<string, unknown>): Partial<Record<ComparedKey, number>> {
  const values: Partial<Record<ComparedKey, number>> = {};
  for (const key of COMPARED_KEYS) {
    const value = row[key] ?? row[SNAKE_CASE[key]];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) values[key] = value;
  }
  return values;
}

/** ours / PyTorch for every key both sides measured (> 1: faster than PyTorch). */
export function ratios(
  ours: Partial<Record<ComparedKey, number>>,
  reference: Partial<Record<ComparedKey, number>>,
): Partial<Record<ComparedKey, number>> {
  const out: Partial<Record<ComparedKey, number>> = {};
  for (const key of COMPARED_KEYS) {
    const a = ours[key];
    const b = reference[key];
    if (a !== undefined && b !== undefined && b > 0) out[key] = a / b;
  }
  return out;
}

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error) => resolve({ code: -1, stdout, stderr: error.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The flags the script accepts (from its --help), so that older and newer versions of it both work. */
async function supportedFlags(python: string, script: string): Promise<Set<string>> {
  const help = await run(python, [script, '--help']);
  if (help.code !== 0) {
    const why = help.stderr.includes('No module named') ? `PyTorch is not importable by ${python}` : help.stderr.trim().split('\n').pop();
    throw new Error(
      `${script} --help failed (${why}); install Debian's PyTorch with \`apt-get install -y python3-torch\` or pass --python PATH`,
    );
  }
  return new Set(help.stdout.match(/--[a-z][a-z-]*/g) ?? []);
}

/** Runs the PyTorch reference for one preset and returns its figures. */
export async function runTorchReference(
  request: TorchRequest,
  options: { python?: string; script?: string } = {},
): Promise<TorchReference> {
  const python = options.python ?? DEFAULT_PYTHON;
  const script = options.script ?? TORCH_SCRIPT;
  if (!existsSync(script)) throw new Error(`${script} is missing`);
  if (!['tiny', 'small'].includes(request.preset))
    throw new Error(`bench_torch.py mirrors the presets tiny and small only (got --model ${request.preset})`);
  const flags = await supportedFlags(python, script);
  const dir = mkdtempSync(join(tmpdir(), 'svgap-bench-torch-'));
  const jsonPath = join(dir, 'torch.json');
  const wanted: [string, number | string][] = [
    ['--preset', request.preset],
    ['--vocab', request.vocab],
    ['--batch', request.batch],
    ['--seq', request.seq],
    ['--sample-batch', request.sampleBatch],
    ['--prompt', request.prompt],
    ['--new-tokens', request.newTokens],
    ['--verify-length', request.verifyLength],
    ['--lora-rank', request.loraRank],
    ['--lora-alpha', request.loraAlpha],
    ['--top-p', request.topP],
    ['--threads', request.threads],
    ['--steps', request.steps],
    ['--sample-runs', request.steps],
    ['--warmup', request.warmup],
    ['--json', jsonPath],
  ];
  const args = [script, ...wanted.filter(([flag]) => flags.has(flag)).flatMap(([flag, value]) => [flag, String(value)])];
  const command = [python, ...args].join(' ');
  try {
    const result = await run(python, args);
    if (result.code !== 0)
      throw new Error(`${command} failed (exit ${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    if (!existsSync(jsonPath)) throw new Error(`${command} wrote no ${jsonPath}`);
    const parsed = JSON.parse(readFileSync(jsonPath, 'utf8')) as unknown;
    const rows = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
    const row = rows.find((r) => r.preset === request.preset) ?? rows[0];
    if (!row) throw new Error(`${command}: no result row in ${jsonPath}`);
    return { command, values: referenceValues(row), row };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
