// svgap as a library: one namespace per concept, e.g. `import { theory, loop } from 'svgap'`.
export * as engine from './engine/index.js';
export * as model from './model/index.js';
export * as tokenizer from './tokenizer/index.js';
export * as data from './data/index.js';
export * as uncertainty from './uncertainty/index.js';
export * as loop from './loop/index.js';
export * as theory from './theory/index.js';
export * as report from './report/index.js';
export * as bench from './bench/index.js';
