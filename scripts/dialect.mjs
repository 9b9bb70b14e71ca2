#!/usr/bin/env node
// node scripts/dialect.mjs: the project's one TypeScript dialect, applied mechanically (re-runnable after a merge).
// tsconfig has noUncheckedIndexedAccess off, so an index access is typed as the element and `xs[i]!` asserts nothing:
// the `!` after a closing bracket is dropped everywhere. `]!==` and `]!=` (comparisons) are left alone.
// Where a `!` was load-bearing after all (a Partial record, an element type that includes undefined), tsc says so:
// the lines it flags get their original text back, and a file still failing gets all of it back.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOTS = [
  'src',
  'test',
  'scripts',
  'native/tfjs-backend-torch/src',
  'native/tfjs-backend-torch/test',
  'native/tfjs-backend-torch/scripts',
];
const SKIP = new Set(['node_modules', 'dist', 'build']);

function* tsFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return; // a root this checkout does not have
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (SKIP.has(name)) continue;
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

const original = new Map(); // path → text before
let dropped = 0;
for (const root of ROOTS) {
  for (const path of tsFiles(root)) {
    const text = readFileSync(path, 'utf8');
    const next = text.replace(/\]!(?!=)/g, () => (dropped++, ']'));
    if (next !== text) {
      original.set(resolve(path), text);
      writeFileSync(path, next);
    }
  }
}

/** tsc's errors as absolute path → line numbers (1-based). */
function typeErrors() {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.test.json'], {
    encoding: 'utf8',
  });
  const errors = new Map();
  for (const m of tsc.stdout.matchAll(/^(.+?)\((\d+),\d+\): error/gm)) {
    const path = resolve(m[1]);
    errors.set(path, [...(errors.get(path) ?? []), Number(m[2])]);
  }
  return errors;
}

let restoredLines = 0;
for (let pass = 0; pass < 3; pass++) {
  const errors = typeErrors();
  if (errors.size === 0) break;
  for (const [path, lines] of errors) {
    const before = original.get(path);
    if (before === undefined) continue;
    const now = readFileSync(path, 'utf8').split('\n');
    const old = before.split('\n');
    const fixable = pass < 2 && lines.some((l) => now[l - 1] !== old[l - 1]);
    if (!fixable) {
      writeFileSync(path, before); // the error is elsewhere than the dropped `!`: keep the file as it was
      continue;
    }
    for (const l of lines) if (now[l - 1] !== old[l - 1]) ((now[l - 1] = old[l - 1]), restoredLines++);
    writeFileSync(path, now.join('\n'));
  }
}
const left = [...original].filter(([path, text]) => readFileSync(path, 'utf8') !== text).length;
console.log(
  `dialect: dropped ${dropped} index non-null assertions (${restoredLines} lines kept where tsc needs them); ${left} files changed`,
);
