#!/usr/bin/env node
// node scripts/dialect.mjs: the project's one TypeScript dialect, applied mechanically (re-runnable after a merge).
// tsconfig has noUncheckedIndexedAccess off, so an index access is typed as the element and `xs[i]!` asserts nothing:
// the `!` after a closing bracket is dropped everywhere. `]!==` and `]!=` (comparisons) are left alone.
// Then `npm run typecheck` says whether any `!` dropped was load-bearing (an element type that includes undefined).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOTS = ['src', 'test', 'scripts', 'native/tfjs-backend-torch/src', 'native/tfjs-backend-torch/test', 'native/tfjs-backend-torch/scripts'];
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

let changed = 0;
let dropped = 0;
for (const root of ROOTS) {
  for (const path of tsFiles(root)) {
    const text = readFileSync(path, 'utf8');
    const next = text.replace(/\]!(?!=)/g, () => (dropped++, ']'));
    if (next !== text) {
      writeFileSync(path, next);
      changed++;
    }
  }
}
console.log(`dialect: dropped ${dropped} index non-null assertions in ${changed} files`);
