// Starts a TypeScript worker module under tsx (tests and npm scripts run the .ts sources): `--import tsx` does not
// reach worker threads, so the worker registers tsx's loader itself, then imports workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
