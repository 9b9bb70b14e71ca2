// The package root, once: src/root.ts and dist/root.js both sit one level below it.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '..');
