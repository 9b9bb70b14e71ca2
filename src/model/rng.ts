// The model's PRNG lives with the project's others in src/rng.ts.
export { Rng, type RngState } from '../rng.js';
