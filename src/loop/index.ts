// The self-improvement loop: one round (sample, verify, pick, fine-tune, evaluate), whole runs, cross-improvement.
export * from './run.js';
export * from './options.js';
export * from './cross.js';
export * from './external.js';
export * from './verify.js';
export * from './verifiers.js';
export * from './round.js';
export * from './sampling.js';
export * from './evaluate.js';
export * from './prompts.js';
export * from './data.js';
export * from './pretrain.js';
