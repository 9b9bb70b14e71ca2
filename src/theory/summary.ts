// One panel's full analysis as plain JSON (what `npm run fit -- --json` prints) and as a readable table.

import { combosFromIdentifiable, type IdentifiableCombos } from './closedForm.js';
import { fitSharedRate, identifiableFromFit, type Interval, type Trajectory } from './fit.js';
import type { FitFlag } from './flags.js';
import { compareLaws, earlyPrediction, LAW_NAMES, type LawName } from './laws.js';
import { linearityCheck } from './linearity.js';

export interface AnalysisOptions {
  /** laws compared by AIC/BIC besides the shared-rate fit ('shared' only = no comparison) */
  laws?: LawName[];
  /** early prediction from the first k points */
  first?: number;
  bootstrap?: number;
  seed?: number;
  /** Cor. 3.2 tolerance; default 1 % of |δ| */
  epsilon?: number;
}

type Triple = { solver: number; verifier: number; gap: number };

export interface PanelAnalysis {
  n: number;
  timeRange: [number, number];
  /** the time the amplitudes refer to (the first data point) */
  origin: number;
  rate: number;
  limits: Triple;
  amplitudes: Triple;
  alphaOverBeta: number;
  r2: Triple;
  stderr: Record<'rate' | 'solverLimit' | 'verifierLimit' | 'gapLimit' | 'solverAmplitude' | 'verifierAmplitude' | 'gapAmplitude', number>;
  intervals: Record<'rate' | 'solverLimit' | 'verifierLimit' | 'gapLimit', [number, number]>;
  intervalMethod: 'wald' | 'bootstrap';
  confidence: number;
  rss: number;
  aic: number;
  bic: number;
  identifiable: IdentifiableCombos;
  roundsToConverge: { epsilon: number; t: number };
  linearity?: {
    slope: number;
    intercept: number;
    r2: number;
    gapAtZeroRate: number;
    solverSlope: number;
    solverIntercept: number;
    solverR2: number;
  };
  laws?: {
    law: LawName;
    numParameters: number;
    rss: number;
    aic: number;
    bic: number;
    deltaAic: number;
    deltaBic: number;
    aicWeight: number;
    r2: Triple;
    limits: Triple;
    parameters: Record<string, number>;
  }[];
  bestLawByAic?: LawName;
  bestLawByBic?: LawName;
  skippedLaws?: { law: LawName; reason: string }[];
  early?: {
    first: number;
    rate: number;
    limits: Triple;
    limitIntervals: Record<'solver' | 'verifier' | 'gap', [number, number]>;
    rmse: Triple;
    maxAbsError: Triple;
    heldOut: { t: number; observed: Triple; predicted: Triple }[];
  };
  /** why the shared-rate fit cannot be trusted (fitFlags), empty when nothing is wrong */
  flags: FitFlag[];
  warnings: string[];
  fitMs: number;
}

const span = (i: Interval): [number, number] => [i.lower, i.upper];

/** Fit and check one trajectory: shared-rate fit, Cor. 3.2, linearity, optional law comparison and early prediction. */
export function analyseTrajectory(trajectory: Trajectory, options: AnalysisOptions = {}): PanelAnalysis {
  const started = performance.now();
  const fit = fitSharedRate(trajectory, { bootstrap: options.bootstrap, seed: options.seed });
  const fitMs = performance.now() - started;
  const delta = fit.amplitudes.gap.value;
  const epsilon = options.epsilon ?? 0.01 * Math.abs(delta);
  const analysis: PanelAnalysis = {
    n: fit.n,
    timeRange: [trajectory.t[0], trajectory.t[trajectory.t.length - 1]],
    origin: fit.origin,
    rate: fit.rate.value,
    limits: { solver: fit.limits.solver.value, verifier: fit.limits.verifier.value, gap: fit.limits.gap.value },
    amplitudes: { solver: fit.amplitudes.solver.value, verifier: fit.amplitudes.verifier.value, gap: delta },
    alphaOverBeta: fit.alphaOverBeta,
    r2: fit.r2,
    stderr: {
      rate: fit.rate.stderr,
      solverLimit: fit.limits.solver.stderr,
      verifierLimit: fit.limits.verifier.stderr,
      gapLimit: fit.limits.gap.stderr,
      solverAmplitude: fit.amplitudes.solver.stderr,
      verifierAmplitude: fit.amplitudes.verifier.stderr,
      gapAmplitude: fit.amplitudes.gap.stderr,
    },
    intervals: {
      rate: span(fit.rate),
      solverLimit: span(fit.limits.solver),
      verifierLimit: span(fit.limits.verifier),
      gapLimit: span(fit.limits.gap),
    },
    intervalMethod: fit.intervalMethod,
    confidence: 0.95,
    rss: fit.rss,
    aic: fit.aic,
    bic: fit.bic,
    identifiable: combosFromIdentifiable(identifiableFromFit(fit)),
    roundsToConverge: { epsilon, t: epsilon > 0 ? fit.roundsToConverge(epsilon) : NaN },
    flags: fit.flags,
    warnings: fit.warnings.slice(),
    fitMs,
  };
  if (trajectory.t.length >= 4) {
    const lin = linearityCheck(trajectory);
    analysis.linearity = {
      slope: lin.slope,
      intercept: lin.intercept,
      r2: lin.r2,
      gapAtZeroRate: lin.gapAtZeroRate,
      solverSlope: lin.solver.slope,
      solverIntercept: lin.solver.intercept,
      solverR2: lin.solver.r2,
    };
  }
  const laws = options.laws ?? ['shared'];
  if (laws.some((l) => l !== 'shared')) {
    const comparison = compareLaws(
      trajectory,
      LAW_NAMES.filter((l) => l === 'shared' || laws.includes(l)),
    );
    analysis.laws = comparison.fits.map((f) => ({
      law: f.law,
      numParameters: f.numParameters,
      rss: f.rss,
      aic: f.aic,
      bic: f.bic,
      deltaAic: f.deltaAic,
      deltaBic: f.deltaBic,
      aicWeight: f.aicWeight,
      r2: f.r2,
      limits: f.limits,
      parameters: f.parameters,
    }));
    analysis.bestLawByAic = comparison.bestByAic;
    analysis.bestLawByBic = comparison.bestByBic;
    if (comparison.skipped.length) analysis.skippedLaws = comparison.skipped;
  }
  if (options.first !== undefined) {
    const early = earlyPrediction(trajectory, options.first, 'shared');
    const s = early.shared!;
    analysis.early = {
      first: early.first,
      rate: s.rate.value,
      limits: early.predictedLimits,
      limitIntervals: { solver: span(s.limits.solver), verifier: span(s.limits.verifier), gap: span(s.limits.gap) },
      rmse: early.rmse,
      maxAbsError: early.maxAbsError,
      heldOut: early.heldOut,
    };
    for (const w of s.warnings) analysis.warnings.push(`early prediction: ${w}`);
  }
  return analysis;
}

function fmt(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(digits - 1);
  return x.toFixed(digits);
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j])))
      .join('  ')
      .trimEnd(),
  );
}

/** A readable multi-line table of one panel's analysis. */
export function formatAnalysis(name: string, a: PanelAnalysis): string {
  const out: string[] = [];
  const method = a.intervalMethod === 'wald' ? '95% Wald, Student-t' : '95% bootstrap percentile';
  out.push(`panel ${name}: ${a.n} points, t ${fmt(a.timeRange[0], 3)}..${fmt(a.timeRange[1], 3)}, fit ${a.fitMs.toFixed(1)} ms`);
  out.push(`  shared-rate law (Prop. 3.1): U = A·exp(−r t) + U∞, intervals ${method}`);
  out.push(
    ...table([
      ['', 'value', 'lower', 'upper', 'stderr'],
      ['rate r = k(α−β)', fmt(a.rate), fmt(a.intervals.rate[0]), fmt(a.intervals.rate[1]), fmt(a.stderr.rate)],
      [
        'solver limit U_s∞',
        fmt(a.limits.solver),
        fmt(a.intervals.solverLimit[0]),
        fmt(a.intervals.solverLimit[1]),
        fmt(a.stderr.solverLimit),
      ],
      [
        'verifier limit U_v∞',
        fmt(a.limits.verifier),
        fmt(a.intervals.verifierLimit[0]),
        fmt(a.intervals.verifierLimit[1]),
        fmt(a.stderr.verifierLimit),
      ],
      ['gap limit G∞ = b/k', fmt(a.limits.gap), fmt(a.intervals.gapLimit[0]), fmt(a.intervals.gapLimit[1]), fmt(a.stderr.gapLimit)],
    ]).map((l) => '    ' + l),
  );
  out.push(
    `  amplitudes at t=${fmt(a.origin, 3)} (the first point): α′ ${fmt(a.amplitudes.solver)}, β′ ${fmt(a.amplitudes.verifier)}, δ ${fmt(a.amplitudes.gap)}; α/β = ${fmt(a.alphaOverBeta, 3)}; kα ${fmt(a.identifiable.alphaK)}, kβ ${fmt(a.identifiable.betaK)}`,
  );
  out.push(`  R²: solver ${a.r2.solver.toFixed(3)}  verifier ${a.r2.verifier.toFixed(3)}  gap ${a.r2.gap.toFixed(3)}`);
  out.push(`  Cor. 3.2: |G − G∞| < ε = ${fmt(a.roundsToConverge.epsilon)} once t > ${fmt(a.roundsToConverge.t, 3)}`);
  if (a.linearity)
    out.push(
      `  linearity (Fig. 2): −dG/dt = ${fmt(a.linearity.slope)}·G ${a.linearity.intercept < 0 ? '−' : '+'} ${fmt(Math.abs(a.linearity.intercept))} (R² ${a.linearity.r2.toFixed(3)}); −dU_s/dt vs G: R² ${a.linearity.solverR2.toFixed(3)}`,
    );
  if (a.laws) {
    out.push(`  laws (best by AIC: ${a.bestLawByAic}, by BIC: ${a.bestLawByBic}):`);
    out.push(
      ...table([
        ['law', 'k', 'RSS', 'AIC', 'ΔAIC', 'BIC', 'ΔBIC', 'weight', 'R² s/v/g', 'U_s∞'],
        ...a.laws.map((l) => [
          l.law,
          String(l.numParameters),
          fmt(l.rss),
          l.aic.toFixed(2),
          l.deltaAic.toFixed(2),
          l.bic.toFixed(2),
          l.deltaBic.toFixed(2),
          l.aicWeight.toFixed(3),
          `${l.r2.solver.toFixed(3)}/${l.r2.verifier.toFixed(3)}/${l.r2.gap.toFixed(3)}`,
          fmt(l.limits.solver),
        ]),
      ]).map((l) => '    ' + l),
    );
    for (const s of a.skippedLaws ?? []) out.push(`    ${s.law}: skipped, ${s.reason}`);
  }
  if (a.early) {
    const e = a.early;
    out.push(`  early prediction from the first ${e.first} points (${e.heldOut.length} held out): r ${fmt(e.rate)}`);
    out.push(
      `    forecast U_s∞ ${fmt(e.limits.solver)} [${fmt(e.limitIntervals.solver[0])}, ${fmt(e.limitIntervals.solver[1])}]  (all points: ${fmt(a.limits.solver)})`,
    );
    out.push(
      `    forecast U_v∞ ${fmt(e.limits.verifier)} [${fmt(e.limitIntervals.verifier[0])}, ${fmt(e.limitIntervals.verifier[1])}]  (all points: ${fmt(a.limits.verifier)})`,
    );
    out.push(
      `    held-out RMSE: solver ${fmt(e.rmse.solver)}, verifier ${fmt(e.rmse.verifier)}, gap ${fmt(e.rmse.gap)}; max |error| solver ${fmt(e.maxAbsError.solver)}`,
    );
  }
  for (const w of a.warnings) out.push(`  warning: ${w}`);
  return out.join('\n');
}
