// `npm run setup` (scripts/setup.sh) in --dry-run, with stand-ins for dpkg, apt-get and id so every branch shows here
// without installing anything; and the warning a run gives when it falls back to a slow backend (issue 18).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackendInfo, fallbackWarning } from '../src/engine/index.js';

const ROOT = join(import.meta.dirname, '..');

/** A folder of stand-in commands, put first on PATH: `dpkg` says no package is installed, `id -u` says root. */
function standIns(withAptGet: boolean): string {
  const bin = mkdtempSync(join(tmpdir(), 'svgap-setup-bin-'));
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script('dpkg', 'exit 1');
  script('id', 'echo 0');
  if (withAptGet) script('apt-get', 'echo "apt-get must not run in a dry run" >&2; exit 3');
  return bin;
}

function setup(env: NodeJS.ProcessEnv) {
  return spawnSync('bash', ['scripts/setup.sh', '--dry-run'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SVGAP_SETUP_PYTHONS: 'no-such-python', ...env },
  });
}

describe('npm run setup', () => {
  it("as root with apt-get: installs libtorch-dev and OpenBLAS (and CI's extra packages), then npm ci and the native build", () => {
    const bin = standIns(true);
    const run = setup({ PATH: `${bin}:${process.env.PATH}`, SVGAP_SETUP_EXTRA_PACKAGES: 'fonts-dejavu-core sentencepiece' });
    expect(run.status, run.stderr).toBe(0);
    const commands = run.stdout.split('\n').filter((l) => l.startsWith('+ '));
    expect(commands).toEqual([
      '+ apt-get update -qq',
      '+ apt-get install -y -qq --no-install-recommends libtorch-dev libopenblas0-openmp fonts-dejavu-core sentencepiece',
      '+ npm ci --no-audit --no-fund',
      '+ npm run build:native',
    ]);
    expect(run.stdout).toMatch(/setup: done:\n {2}- installed libtorch-dev libopenblas0-openmp fonts-dejavu-core sentencepiece/);
    expect(run.stdout).toMatch(/setup: dry run: nothing was installed or built/);
  });

  it('without a package manager: says what it could not do and prints the commands that would', () => {
    const bin = standIns(false);
    const run = setup({ PATH: `${bin}:${process.env.PATH}`, SVGAP_SETUP_PACKAGE_MANAGER: 'none' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/\+ .*apt-get/);
    expect(run.stdout).toMatch(
      /setup: could not:\n {2}- install libtorch: no apt-get here.*LIBTORCH_DIR=\/path\/to\/libtorch npm run setup/,
    );
    expect(run.stdout).toContain('+ npm ci --no-audit --no-fund');
  });

  it('with a CUDA PyTorch: builds against its libtorch and installs no libtorch package', () => {
    const bin = standIns(true);
    writeFileSync(join(bin, 'cuda-python'), '#!/bin/sh\necho /opt/cuda-torch/torch\n'); // what `import torch` with torch.version.cuda set prints
    chmodSync(join(bin, 'cuda-python'), 0o755);
    const run = setup({ PATH: `${bin}:${process.env.PATH}`, SVGAP_SETUP_PYTHONS: 'cuda-python' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/apt-get/);
    expect(run.stdout).toMatch(/found a CUDA PyTorch: building against its libtorch \(\/opt\/cuda-torch\/torch\)/);
  });

  it('refuses an unknown option', () => {
    const run = spawnSync('bash', ['scripts/setup.sh', '--fast'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/setup: unknown option --fast/);
  });
});

describe('falling back to a slow backend', () => {
  const info = (name: string, tried: BackendInfo['tried']): BackendInfo => ({
    name,
    package: name,
    version: '1',
    threads: 1,
    device: 'cpu',
    tried,
  });
  const missing = [{ name: 'torch (cpu)', reason: 'torch backend unavailable: addon not built' }];

  it("says so with the slowdown from the README's bench rounds and the command that fixes it", () => {
    expect(fallbackWarning(info('wasm', missing))).toMatch(
      /^warning: running on wasm, about 11x slower .*14 s vs 1\.3 s.*addon not built.*`npm run setup`/,
    );
    expect(fallbackWarning(info('cpu', missing))).toMatch(/^warning: running on cpu, about 76x slower .*99 s vs 1\.3 s/);
  });

  it('is silent on torch and when wasm or cpu was asked for', () => {
    expect(fallbackWarning(info('torch', []))).toBeUndefined();
    expect(fallbackWarning(info('wasm', []))).toBeUndefined();
  });
});
