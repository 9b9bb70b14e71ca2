// Atomic file and directory writes: readers see the old content or the new, never half of either.
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync, readFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempName(path);
  writeFileSync(temp, data);
  const fd = openSync(temp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, path);
}

/** Builds a directory in a temp sibling, then swaps it in place of `path` (the old one is removed only after the swap). */
export function writeDirAtomic(path: string, fill: (tempDir: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempName(path);
  mkdirSync(temp);
  try {
    fill(temp);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  if (existsSync(path)) {
    const old = tempName(path) + '.old';
    renameSync(path, old);
    renameSync(temp, path);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(temp, path);
  }
}

/** Appends one JSON line by rewriting the file atomically (metrics files are small; a crash never leaves half a line). */
export function appendJsonlAtomic(path: string, record: unknown): void {
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
  writeFileAtomic(path, before + JSON.stringify(record) + '\n');
}


function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // it exists, but is not ours to signal
  }
}

/**
 * Claims `dir` for this process through DIR/.lock (its pid), so two processes never write one run at once; returns the
 * release. A lock whose process is gone (killed) is taken over; one held by a live process is an error naming `flag`.
 */
export function lockDir(dir: string, flag: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, '.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue; // released in between: try again
    }
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      throw new Error(`${flag} ${dir}: another process (pid ${holder}) is running there; wait for it, or stop it (its lock is ${path})`);
    }
    rmSync(path, { force: true }); // its process is gone: a stale lock
  }
  throw new Error(`${flag} ${dir}: could not take ${path}`);
}

/** Parses a JSON file; a missing or malformed file is an error naming it. */
export function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: cannot read JSON (${(error as Error).message})`);
  }
}
