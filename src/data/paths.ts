// Where the real datasets live: --data-dir > SVGAP_DATA > ../shared/datasets beside the repository.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../root.js';

export { PACKAGE_ROOT } from '../root.js';
export const DEFAULT_DATA_DIR: string = resolve(PACKAGE_ROOT, '..', 'shared', 'datasets');

const HOW_TO_PROVIDE =
  'pass --data-dir DIR or set SVGAP_DATA=DIR, where DIR holds gsm8k/{train,test}.jsonl and math/test.jsonl ' + '(see datasets/README.md)';

export interface DataDirChoice {
  dir: string;
  source: 'flag' | 'env' | 'default';
}

export function chooseDataDir(flag?: string): DataDirChoice {
  if (flag !== undefined && flag !== '') {
    const dir = resolve(flag);
    if (!isDirectory(dir)) throw new Error(`--data-dir ${flag}: no such directory (${dir}); ${HOW_TO_PROVIDE}`);
    return { dir, source: 'flag' };
  }
  const env = process.env.SVGAP_DATA;
  if (env !== undefined && env !== '') {
    const dir = resolve(env);
    if (!isDirectory(dir)) throw new Error(`SVGAP_DATA=${env}: no such directory (${dir}); ${HOW_TO_PROVIDE}`);
    return { dir, source: 'env' };
  }
  if (isDirectory(DEFAULT_DATA_DIR)) return { dir: DEFAULT_DATA_DIR, source: 'default' };
  throw new Error(
    `no data directory: neither --data-dir nor SVGAP_DATA is set and the default ${DEFAULT_DATA_DIR} ` +
      `does not exist; ${HOW_TO_PROVIDE}`,
  );
}

/** --data-dir value > env SVGAP_DATA > ../shared/datasets relative to the repo root (when it exists). */
export function resolveDataDir(flag?: string): string {
  return chooseDataDir(flag).dir;
}

/** Path of one dataset file under the data dir; a missing file is an error saying where it looked and how to fix it. */
export function dataFile(relativePath: string, dataDirFlag?: string): string {
  const choice = chooseDataDir(dataDirFlag);
  const file = join(choice.dir, relativePath);
  if (!existsSync(file)) {
    const from = { flag: '--data-dir', env: 'SVGAP_DATA', default: 'the default ../shared/datasets' }[choice.source];
    throw new Error(`dataset file not found: ${file} (data dir ${choice.dir} from ${from}); ${HOW_TO_PROVIDE}`);
  }
  return file;
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}
