// The benchmark module: per-backend throughput, round time and where it goes, MFU, the PyTorch reference, the sweep.
export * from './backend.js';
export * from './flops.js';
export * from './format.js';
export * from './machine.js';
export * from './model.js';
export * from './profile.js';
export * from './round.js';
export * from './run.js';
export * from './stats.js';
export * from './torch.js';
export * from './launches.js';
