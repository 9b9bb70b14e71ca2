// Public API of the data module: generated arith problems, the GSM8K / MATH / custom JSONL loaders, answer grading.
export type { Problem } from './datasets.js';
export { loadGsm8k, loadMath, loadJsonl, stripCalculatorAnnotations } from './datasets.js';
export { resolveDataDir, chooseDataDir, dataFile, DEFAULT_DATA_DIR, PACKAGE_ROOT } from './paths.js';
export type { DataDirChoice } from './paths.js';
export type { ArithOptions } from './arith.js';
export { generateArith, corruptSolution, arithProblem, ARITH_DEFAULTS, ARITH_LEVELS } from './arith.js';
export { extractAnswer, answersEqual, isCorrect, normalizeAnswer, parseNumber, lastBoxed, lastNumber } from './answer.js';
export { readJsonl, BadLine } from './jsonl.js';
export type { SkippedLine } from './jsonl.js';
export type { Prediction, GradeItem, GradeReport } from './grade.js';
export { readPredictions, gradePredictions } from './grade.js';
