// One protocol for work in a child process (the arms of `npm run cross --jobs N`, the backends of `npm run bench`):
// the parent forks the entry module with an IPC channel and sends it one input; the child answers with log lines and
// then one result or one error. A child that exits without an answer is an error naming its exit and last stderr line,
// so a crash (a native abort, the OOM killer) takes down only its own work.
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type ChildMessage<T> = { log: string } | { result: T } | { error: string };

export interface ChildOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal; // kills the child
}

/** The entry module `name` beside the module at metaUrl: its .ts source under tsx (tests, npm scripts), else the compiled .js. */
export function entryBeside(metaUrl: string, name: string): string {
  const extension = metaUrl.endsWith('.ts') ? '.ts' : metaUrl.endsWith('.mjs') ? '.mjs' : '.js'; // .mjs: the device bundle (scripts/device/bundle.cjs)
  return fileURLToPath(new URL(`./${name}${extension}`, metaUrl));
}

export const TSX_IMPORT = ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];

/** Runs `input` through the child at `entry` (serveInChild there); resolves with its result, rejects with its error or its exit. */
export function runInChild<T>(entry: string, input: unknown, options: ChildOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(entry, [], {
      execArgv: entry.endsWith('.ts') ? TSX_IMPORT : [],
      env: options.env ?? process.env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const kill = () => child.kill();
    options.signal?.addEventListener('abort', kill);
    let answer: { result: T } | { error: string } | undefined;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on('message', (message: ChildMessage<T>) => {
      if ('log' in message) options.log?.(message.log);
      else answer = message;
    });
    child.on('error', (error) => reject(new Error(`could not start ${entry}: ${error.message}`)));
    child.on('exit', (code, killedBy) => {
      options.signal?.removeEventListener('abort', kill);
      if (answer && 'result' in answer) return resolve(answer.result);
      const lastLine = stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : '';
      reject(new Error(answer?.error ?? `its process exited (${killedBy ?? `code ${code}`})${lastLine}`));
    });
    child.send(input as object);
  });
}

/** The child's side: does `work` on the parent's input, sends its log lines, then its result or error, and exits. */
export function serveInChild<I, T>(work: (input: I, log: (line: string) => void) => Promise<T>): void {
  const send = (message: ChildMessage<T>) => new Promise<void>((done) => process.send!(message, () => done()));
  process.once('message', (input: I) => {
    work(input, (line) => void send({ log: line }))
      .then(async (result) => {
        await send({ result });
        process.exit(0);
      })
      .catch(async (error: Error) => {
        await send({ error: error.message });
        process.exit(1);
      });
  });
}
