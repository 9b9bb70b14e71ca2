// Atomic file and directory writes: readers see the old content or the new, never half of either.
import {
  mkdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  existsSync,
  readFileSync,
  openSync,
  fsyncSync,
  closeSync,
  linkSync,
  readdirSync,
  statSync,
  accessSync,
  constants,
} from 'node:fs';
import { dirname, basename, join } from 'node:path';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

const FS_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'it is a directory',
  ENOENT: 'no such file or directory',
};

/** What went wrong writing `path`, in words with the error code; a read-only file system is named as such, not as ENOENT. */
export function explainFsError(error: unknown, path: string): string {
  const raw = error as NodeJS.ErrnoException;
  let code = raw.code ?? '';
  if (code === 'ENOENT') {
    // a recursive mkdir on a read-only file system fails with ENOENT: ask the nearest existing folder why
    let up = dirname(path);
    while (!existsSync(up) && up !== dirname(up)) up = dirname(up);
    try {
      accessSync(up, constants.W_OK);
    } catch (probe) {
      code = (probe as NodeJS.ErrnoException).code ?? code;
    }
  }
  return FS_ERRORS[code] ? `${FS_ERRORS[code]} (${code})` : raw.message;
}

/** mkdir -p that names the flag and path it failed for. */
export function makeDir(dir: string, flag: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new Error(`${flag} ${dir}: cannot create the directory: ${explainFsError(error, dir)}`);
  }
}

/** Checks before long work that `path` can be a file written with writeFileAtomic (not an existing directory). */
export function checkWritableFile(path: string, flag: string): void {
  if (path.trim() === '') throw new Error(`${flag}: an empty file name`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${flag} ${path}: a directory; give a file name`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temp = tempName(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temp, data);
    const fd = openSync(temp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new Error(`cannot write ${path}: ${explainFsError(error, path)}`);
  }
}

/**
 * Builds a directory in a temp sibling (`.NAME.tmp-ID.partial` while it fills, `.NAME.tmp-ID` once complete), then swaps
 * it in place of `path` (the old one is moved to `.NAME.tmp-ID.old` and removed only after the swap). A kill at any
 * point leaves `path` or a complete sibling for recoverDirAtomic.
 */
export function writeDirAtomic(path: string, fill: (tempDir: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempName(path);
  const partial = `${temp}.partial`;
  mkdirSync(partial);
  try {
    fill(partial);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
  renameSync(partial, temp);
  if (existsSync(path)) {
    const old = tempName(path) + '.old';
    renameSync(path, old);
    if (process.env.SVGAP_TEST_KILL_AT === 'dir-swap') process.kill(process.pid, 'SIGKILL'); // tests kill a process here (issue 18)
    renameSync(temp, path);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(temp, path);
  }
}

/**
 * After a kill: puts back `path` when a writeDirAtomic swap was cut between its renames (the complete new directory,
 * else the old one moved aside), and removes the leftover temp files and directories of atomic writes in its parent.
 * Call only while holding the parent's lock. Returns what it restored, if anything.
 */
export function recoverDirAtomic(path: string): string | undefined {
  const parent = dirname(path);
  const leftovers = readdirSync(parent).filter((name) => name.startsWith('.') && name.includes('.tmp-') && !name.startsWith('.lock.'));
  const ours = leftovers.filter((name) => name.startsWith(`.${basename(path)}.tmp-`));
  const newestFirst = (names: string[]) => names.sort((a, b) => statSync(join(parent, b)).mtimeMs - statSync(join(parent, a)).mtimeMs);
  let restored: string | undefined;
  if (!existsSync(path)) {
    restored =
      newestFirst(ours.filter((name) => !name.endsWith('.partial') && !name.endsWith('.old')))[0] ??
      newestFirst(ours.filter((name) => name.endsWith('.old')))[0];
    if (restored) renameSync(join(parent, restored), path);
  }
  for (const name of leftovers) if (name !== restored) rmSync(join(parent, name), { recursive: true, force: true });
  return restored;
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

/** Creates `path` holding `content` only if it does not exist, complete at once (written aside, then hard-linked). */
function createExclusive(path: string, content: string): boolean {
  const temp = tempName(path);
  writeFileSync(temp, content);
  try {
    linkSync(temp, path); // fails with EEXIST when path exists; never shows an empty or half-written file
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Removes the lock at `path` if it still holds `staleContent` (a dead holder's). Takers serialise on PATH.takeover, so
 * two processes that both saw the dead holder cannot each remove a lock the other has just created.
 */
function removeStaleLock(path: string, staleContent: string): void {
  const guard = `${path}.takeover`;
  if (!createExclusive(guard, `${process.pid}\n`)) {
    const taker = Number(readIfExists(guard)?.trim());
    if (Number.isInteger(taker) && taker > 0 && !processAlive(taker))
      rmSync(guard, { force: true }); // a taker killed mid-takeover
    else Atomics.wait(pause, 0, 0, 5); // another process is taking over: look again shortly
    return;
  }
  try {
    if (readIfExists(path) === staleContent) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * Claims `dir` for this process through DIR/.lock (its pid), so two processes never write one run at once; returns the
 * release. A lock whose process is gone (killed) is taken over; one held by a live process is an error naming `flag`.
 */
export function lockDir(dir: string, flag: string): () => void {
  makeDir(dir, flag);
  const path = join(dir, '.lock');
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (createExclusive(path, mine))
      return () => {
        if (readIfExists(path) === mine) rmSync(path, { force: true });
      };
    const content = readIfExists(path);
    if (content === undefined) continue; // released in between: try again
    const holder = Number(content.trim());
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      throw new Error(`${flag} ${dir}: another process (pid ${holder}) is running there; wait for it, or stop it (its lock is ${path})`);
    }
    removeStaleLock(path, content); // its process is gone (or the file is not a lock we wrote): a stale lock
  }
  throw new Error(`${flag} ${dir}: could not take ${path}`);
}

/** Parses a JSON file; a missing or malformed file is an error naming it (and the flag it came from, when given). */
export function readJsonFile(path: string, flag?: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${flag ? `${flag}: ` : ''}${path} is not valid JSON (${(error as Error).message})`);
  }
}
