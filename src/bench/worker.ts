// One backend's measurements in a process of its own: `tsx src/bench/worker.ts '<WorkerSpec as JSON>'`.
// Progress goes to stderr; the result is the one stdout line that starts with RESULT_MARKER.
import { RESULT_MARKER, type WorkerSpec, benchBackend, benchSweep } from './backend.js';

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: worker.ts <WorkerSpec JSON>');
  const spec = JSON.parse(raw) as WorkerSpec;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const result = spec.sweep ? await benchSweep(spec, log) : await benchBackend(spec, log);
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify({ ok: true, result })}\n`, () => process.exit(0));
}

main().catch((error: Error) => {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify({ ok: false, error: error.message })}\n`, () => process.exit(1));
});
