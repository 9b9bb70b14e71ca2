// The self-improvement loop: one round (sample, verify, pick, fine-tune, evaluate), whole runs, cross-improvement.
export * from './run.js';
export * from './cross.js';
export * from './verify.js';
export * from './round.js';
export * from './prompts.js';
export * from './data.js';
export * from './pretrain.js';
