// One backend's measurements in a process of its own (runBench), through src/child.ts: the WorkerSpec arrives as the
// input, progress lines go back as log lines, the result as the answer.
import { serveInChild } from '../child.js';
import { type WorkerSpec, benchBackend, benchSweep } from './backend.js';

serveInChild<WorkerSpec, unknown>((spec, log) => (spec.sweep ? benchSweep(spec, log) : benchBackend(spec, log)));
