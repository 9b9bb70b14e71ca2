// The self-improvement loop's public API: a run (runTraining with the options table), one round (runRound and its
// parts), verifiers and question selection as values, cross-improvement (runCross), the data and prompts of a run.
export { runTraining, defaultRunName, type RunResult, type RunHooks } from './run.js';
export {
  OPTIONS,
  TRAIN_DEFAULTS,
  trainOptionsFrom,
  withOptions,
  validateTrainOptions,
  type TrainOptions,
  type FlatOptions,
  type OptionRow,
} from './options.js';
export {
  runRound,
  verifyAndPick,
  sftSchedule,
  type RoundContext,
  type Round,
  type RoundOutcome,
  type EvalPoint,
  type PoolOutcome,
} from './round.js';
export {
  generateCandidates,
  greedyCorrect,
  greedyAccuracy,
  sampledAccuracy,
  type SamplingOptions,
  type Progress,
  type StageTimes,
} from './sampling.js';
export { evaluate, passAtK, passAtKValues, type Evaluation } from './evaluate.js';
export { selfVerifier, oracleVerifier, externalVerifier, type Verifier, type OwnedVerifier } from './verifiers.js';
export { pickCandidate, verifierScores, VERIFIER_KINDS, type Candidate, type Pick, type VerifierKind } from './verify.js';
export {
  questionSelection,
  parseAllocation,
  budgetPerRound,
  EXTERNAL_SELECTS,
  type ExternalSelect,
  type QuestionSelection,
} from './external.js';
export {
  runCross,
  parseArms,
  defaultBudget,
  summarizeCross,
  crossTheory,
  formatCrossTable,
  DEFAULT_ARMS,
  type CrossOptions,
  type CrossResult,
  type CrossArm,
} from './cross.js';
export { loadLoopData, type LoopData } from './data.js';
export { promptIds, verificationPromptIds, VERIFIER_TEMPLATES } from './prompts.js';
export { pretrain, type PretrainOptions, type PretrainResult } from './pretrain.js';
