// The benchmark module: per-backend throughput, round time and where it goes, MFU, the PyTorch reference, the sweep.
export { THROUGHPUT_STAGES, type BackendResult, type WorkerSpec } from './backend.js';
export {
  causalPairs,
  forwardFlops,
  layerMatmulWeights,
  loraWeights,
  samplingWorkload,
  teacherForcedWorkload,
  trainFlops,
} from './flops.js';
export { formatReport } from './format.js';
export { microConfig, resolveBenchModel } from './model.js';
export { BREAKDOWN_PARTS, type KernelCall, breakdown, dispatchCost, matmulCallFlops, profileKernels } from './profile.js';
export { benchRound, stageShare, type RoundTiming, type RoundSizes } from './round.js';
export {
  BENCH_BACKENDS,
  BENCH_SIZES,
  BENCH_TIMING,
  type BenchOptions,
  type BenchReport,
  SMOKE_SIZES,
  SMOKE_TIMING,
  parseBackends,
  runBench,
  sweepPoints,
  validateBenchOptions,
} from './run.js';
export { measure, median } from './stats.js';
export { ratios, referenceValues, runTorchReference } from './torch.js';
