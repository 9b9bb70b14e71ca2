// The paper's theory (Sun et al., arXiv 2507.00075): closed form, ODE, corollaries, fitting, alternative
// laws, early prediction, the linearity check and cross-improvement. No model and no tfjs needed.

export {
  closedForm,
  combosFromIdentifiable,
  conservedQuantity,
  identifiableFromPhysical,
  physicalFromIdentifiable,
  roundsToConverge,
  solverLimitFromState,
  solverLimitSensitivity,
  type IdentifiableCombos,
  type IdentifiableParams,
  type PhysicalParams,
} from './closedForm.js';
export { integrate, linearPotential, rk4Step, simulateDynamics, type DynamicsParams, type SimulatedTrajectory } from './ode.js';
export {
  fitSharedRate,
  gapR2,
  identifiableFromFit,
  predictShared,
  validateTrajectory,
  type FitOptions,
  type Interval,
  type SharedRateFit,
  type Trajectory,
} from './fit.js';
export {
  compareLaws,
  earlyPrediction,
  fitLaw,
  lawFitFromShared,
  LAW_NAMES,
  LAW_PARAMETER_COUNT,
  minPointsForLaw,
  type EarlyPrediction,
  type LawComparison,
  type LawFit,
  type LawName,
} from './laws.js';
export { linearityCheck, linearRegression, type LinearityCheck, type Regression } from './linearity.js';
export {
  allocationFractions,
  compareAllocations,
  fitCrossGamma,
  type CrossArmTrajectory,
  type CrossGammaFit,
  fitGamma,
  simulateCrossImprovement,
  type Allocation,
  type AllocationOutcome,
  type AllocationRegime,
  type CrossParams,
  type GammaFit,
} from './cross.js';
export { DEFAULT_COLUMNS, parseTrajectoryText, readTrajectoryFile, type ReadOptions, type TrajectoryTable } from './io.js';
export { fitFlags, formatFitFlags, MIN_POINTS_FOR_LIMITS, MIN_RELAXATION_SEEN, type FitFlag, type FitFlagCode } from './flags.js';
export { analyseTrajectory, formatAnalysis, type AnalysisOptions, type PanelAnalysis } from './summary.js';
export { forecastFrom, type Forecast } from './forecast.js';
