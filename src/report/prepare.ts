// From run data to the plain arrays the figure builders take: fits, forecast bands, per-stage timings, cross arms.
import { earlyPrediction, fitSharedRate, linearityCheck, predictShared, type SharedRateFit, type Trajectory } from '../theory/index.js';
import { mean } from '../stats.js';
import { finite, STAGES, type CrossData } from './data.js';
import type { MetricsRow } from '../formats.js';
import type { AccuracyRow, Band, CrossFigureData, FitPanel, LinearityPanel, PassAtKRow, ThroughputRow } from './figures.js';
import { formatNumber } from './html.js';

/** The uncertainty trajectory of a run (rows with a non-finite uncertainty are skipped). */
export function trajectoryOf(metrics: MetricsRow[]): Trajectory {
  const rows = metrics.filter((m) => finite(m.t) && finite(m.solverUncertainty) && finite(m.verifierUncertainty));
  return {
    t: rows.map((m) => m.t),
    solver: rows.map((m) => m.solverUncertainty),
    verifier: rows.map((m) => m.verifierUncertainty),
    gap: rows.map((m) => (finite(m.gap) ? m.gap : m.solverUncertainty - m.verifierUncertainty)),
  };
}

/** `count` evenly spaced times covering [min t, max t] (for smooth fitted curves). */
export function denseGrid(t: number[], count = 121): number[] {
  const lo = Math.min(...t);
  const hi = Math.max(...t);
  return Array.from({ length: count }, (_, i) => lo + ((hi - lo) * i) / (count - 1));
}

/**
 * Pointwise confidence band of the fitted curves (delta method): Var f(t) = ∇fᵀ C ∇f with C the covariance of
 * [r, α′, U_s∞, β′, U_v∞] and f = α′e^{−rt} + U_s∞ (Prop. 3.1). The multiplier is the one the fit used for its
 * own Wald intervals, so the band matches the fit table. Without a finite covariance the band collapses to the curve.
 */
export function fitBand(fit: SharedRateFit, times: number[]): { solver: Band; verifier: Band; gap: Band } {
  const C = fit.covariance;
  const z = fit.rate.stderr > 0 && Number.isFinite(fit.rate.stderr) ? (fit.rate.upper - fit.rate.value) / fit.rate.stderr : NaN;
  const usable = Array.isArray(C) && C.length === 5 && Number.isFinite(z) && C.every((row) => row.every(Number.isFinite));
  const quad = (g: number[]) => g.reduce((s, gi, i) => s + gi * g.reduce((u, gj, j) => u + C[i][j] * gj, 0), 0);
  const out = { solver: emptyBand(), verifier: emptyBand(), gap: emptyBand() };
  const a = fit.amplitudes.solver.value;
  const b = fit.amplitudes.verifier.value;
  for (const t of times) {
    const p = predictShared(fit, t);
    const s = t - fit.origin; // the amplitudes are those at the fit's first point
    const e = Math.exp(-fit.rate.value * s);
    // gradients with respect to [r, α′, U_s∞, β′, U_v∞]
    const grads = {
      solver: [-a * s * e, e, 1, 0, 0],
      verifier: [-b * s * e, 0, 0, e, 1],
      gap: [-(a - b) * s * e, e, 1, -e, -1],
    };
    for (const key of ['solver', 'verifier', 'gap'] as const) {
      const half = usable ? z * Math.sqrt(Math.max(0, quad(grads[key]))) : 0;
      out[key].value.push(p[key]);
      out[key].lower.push(p[key] - half);
      out[key].upper.push(p[key] + half);
    }
  }
  return out;
}

function emptyBand(): Band {
  return { value: [], lower: [], upper: [] };
}

/**
 * Figure 4 panel of one trajectory: the shared-rate fit of all points (lines) and, with `first`, the early
 * prediction from the first `first` points (dashed, with its band) over the whole range.
 */
export function fitPanel(
  title: string,
  trajectory: Trajectory,
  options: { fit?: SharedRateFit; first?: number } = {},
): { panel: FitPanel; fit: SharedRateFit } {
  const fit = options.fit ?? fitSharedRate(trajectory);
  const grid = denseGrid(trajectory.t);
  const curve = { t: grid, solver: [] as number[], verifier: [] as number[], gap: [] as number[] };
  for (const t of grid) {
    const p = predictShared(fit, t);
    curve.solver.push(p.solver);
    curve.verifier.push(p.verifier);
    curve.gap.push(p.gap);
  }
  // A measured gap may carry its own constant offset (the paper's digitized panel); draw it at the level of U_s − U_v.
  const measuredGap = trajectory.gap ?? trajectory.solver.map((s, i) => s - trajectory.verifier[i]);
  const offset = mean(trajectory.solver.map((s, i) => s - trajectory.verifier[i] - measuredGap[i]));
  const panel: FitPanel = {
    title,
    t: trajectory.t,
    solver: trajectory.solver,
    verifier: trajectory.verifier,
    gap: measuredGap.map((g) => g + offset),
    curve,
    r2: fit.r2,
  };
  if (options.first !== undefined) panel.forecast = forecastOf(trajectory, options.first, grid);
  return { panel, fit };
}

/** The early prediction from the first `first` points (dashed lines) with its 95 % pointwise band, over `grid`. */
export function forecastOf(trajectory: Trajectory, first: number, grid: number[]): NonNullable<FitPanel['forecast']> {
  const early = earlyPrediction(trajectory, first, 'shared');
  if (!early.shared) throw new Error('early prediction returned no shared-rate fit');
  return { first, tFirst: trajectory.t[first - 1], t: grid, ...fitBand(early.shared, grid) };
}

/** Figure 2 panel: finite-difference −dG/dt against G and its regression line. */
export function linearityPanel(title: string, trajectory: Trajectory): LinearityPanel {
  const check = linearityCheck(trajectory);
  return { title, points: check.points, slope: check.slope, intercept: check.intercept, r2: check.r2 };
}

/** Figure 3 rows. */
export function accuracyRows(metrics: MetricsRow[]): AccuracyRow[] {
  return metrics.map((m) => ({
    t: m.t,
    solverAccuracy: m.solverAccuracy,
    verifierAccuracy: m.verifierAccuracy,
    testAccuracy: m.testAccuracy,
    testSampledAccuracy: m.testSampledAccuracy,
    solverUncertainty: m.solverUncertainty,
    verifierUncertainty: m.verifierUncertainty,
    gap: m.gap,
    meanResponseLength: m.meanResponseLength,
    meanPickLength: m.meanPickLength,
    answerDiversity: m.answerDiversity,
  }));
}

/** The pass@k fields of an evaluation point, by k (passAtN, the same as the largest k, is left out). */
export function passAtKOf(m: MetricsRow): { k: number; value: number }[] {
  return Object.entries(m)
    .map(([key, value]) => ({ k: /^passAt(\d+)$/.exec(key)?.[1], value }))
    .filter((e): e is { k: string; value: number } => e.k !== undefined && finite(e.value))
    .map((e) => ({ k: Number(e.k), value: e.value }))
    .sort((a, b) => a.k - b.k);
}

/** Figure 3's pass@k panel: pass@k against k at the first and at the last evaluation point. */
export function passAtKRows(metrics: MetricsRow[]): PassAtKRow[] {
  const ends = [metrics[0], metrics[metrics.length - 1]].filter((m, i, all) => i === 0 || m !== all[0]);
  return ends.flatMap((m) => passAtKOf(m).map(({ k, value }) => ({ label: `t = ${Number(m.t.toPrecision(4))}`, k, value })));
}

/** What issue 19 accounts for, at the first and the last evaluation point: [label, first, last, kind]; absent fields are left out. */
export function accountingRows(
  metrics: MetricsRow[],
): { label: string; first: number; last: number; kind: 'share' | 'nats' | 'tokens' | 'count' }[] {
  const first = metrics[0];
  const last = metrics[metrics.length - 1];
  const rows: { label: string; first: number; last: number; kind: 'share' | 'nats' | 'tokens' | 'count' }[] = [];
  const add = (label: string, key: keyof MetricsRow, kind: 'share' | 'nats' | 'tokens' | 'count') => {
    const a = first[key];
    const b = last[key];
    if (finite(a) && finite(b)) rows.push({ label, first: a, last: b, kind });
  };
  add('U_s (nats per response)', 'solverUncertainty', 'nats');
  add('U_v (nats per response)', 'verifierUncertainty', 'nats');
  add('U_s per token', 'solverUncertaintyPerToken', 'nats');
  add('U_v per token', 'verifierUncertaintyPerToken', 'nats');
  add('mean length of samples (tokens)', 'meanResponseLength', 'tokens');
  add('mean length of picks (tokens)', 'meanPickLength', 'tokens');
  add('test accuracy, greedy (held out)', 'testAccuracy', 'share');
  add('test accuracy, sampled (held out)', 'testSampledAccuracy', 'share');
  add('solver accuracy, sampled (training questions)', 'solverAccuracy', 'share');
  add('verifier accuracy, picked (training questions)', 'verifierAccuracy', 'share');
  const lastPass = new Map(passAtKOf(last).map((p) => [p.k, p.value]));
  for (const { k, value } of passAtKOf(first))
    if (lastPass.has(k)) rows.push({ label: `pass@${k}`, first: value, last: lastPass.get(k)!, kind: 'share' });
  add('distinct answers per question', 'answerDiversity', 'count');
  return rows;
}

/**
 * One paragraph on what moved between the first and the last evaluation point, uncertainty beside length, accuracy,
 * pass@k and diversity (e.g. "U_s fell 63 % while mean length fell 2 % …; held-out sampled accuracy +4.0 points, greedy −3.5").
 */
export function whatMoved(metrics: MetricsRow[]): string {
  const rows = new Map(accountingRows(metrics).map((r) => [r.label, r]));
  const relative = (label: string) => {
    const r = rows.get(label);
    if (!r || r.first === 0) return undefined;
    const change = (100 * (r.last - r.first)) / Math.abs(r.first);
    if (Math.abs(change) < 0.05) return 'did not change';
    return `${change < 0 ? 'fell' : 'rose'} ${Math.abs(change).toFixed(Math.abs(change) < 9.95 ? 1 : 0)} %`;
  };
  const points = (label: string) => {
    const r = rows.get(label);
    if (!r) return undefined;
    const change = 100 * (r.last - r.first);
    return `${change >= 0 ? '+' : '−'}${Math.abs(change).toFixed(1)} points (${(100 * r.first).toFixed(1)} → ${(100 * r.last).toFixed(1)} %)`;
  };
  const first = metrics[0];
  const last = metrics[metrics.length - 1];
  const parts: string[] = [];
  const us = relative('U_s (nats per response)');
  const length = relative('mean length of samples (tokens)');
  if (us)
    parts.push(
      `U_s ${us}${length ? ` while the mean sample length ${length}` : ''}${relative('U_s per token') ? `, so U_s per token ${relative('U_s per token')}` : ''}`,
    );
  const uv = relative('U_v (nats per response)');
  if (uv)
    parts.push(
      `U_v ${uv}${relative('mean length of picks (tokens)') ? ` (pick length ${relative('mean length of picks (tokens)')})` : ''}`,
    );
  const accuracy = [
    points('test accuracy, sampled (held out)') && `held-out sampled accuracy ${points('test accuracy, sampled (held out)')}`,
    points('test accuracy, greedy (held out)') && `greedy ${points('test accuracy, greedy (held out)')}`,
  ].filter(Boolean);
  if (accuracy.length) parts.push(accuracy.join(', '));
  const ks = accountingRows(metrics).filter((r) => r.label.startsWith('pass@'));
  if (ks.length)
    parts.push(
      ks
        .filter((r, i) => i === 0 || i === ks.length - 1)
        .map((r) => `${r.label} ${points(r.label)}`)
        .join(', '),
    );
  const diversity = rows.get('distinct answers per question');
  if (diversity) parts.push(`distinct answers per question ${formatNumber(diversity.first)} → ${formatNumber(diversity.last)}`);
  return `From t = ${formatNumber(first.t)} to t = ${formatNumber(last.t)}: ${parts.join('; ')}.`;
}

/** The round an evaluation point belongs to: `round` counts rounds completed, fractional mid-round (0.5 = half of round 1). */
export function roundIndex(round: number): number {
  return Math.max(0, Math.ceil(round - 1e-9));
}

/**
 * Seconds per stage per round. The loop's timing is cumulative within a round (its stage clocks restart each round and
 * every evaluation point records them so far), so a round's time is the timing of its last evaluation point; what the
 * round's wall clock ("round") has beyond the stages is "other". Round 0 is the evaluation before any training.
 */
export function throughputRows(metrics: MetricsRow[]): ThroughputRow[] {
  const last = new Map<number, MetricsRow>();
  for (const m of metrics) {
    if (!m.timing || !finite(m.round)) continue;
    const k = roundIndex(m.round);
    const seen = last.get(k);
    if (!seen || m.round >= seen.round) last.set(k, m);
  }
  const rows: ThroughputRow[] = [];
  for (const [round, m] of [...last].sort((a, b) => a[0] - b[0])) {
    const timing: Partial<Record<(typeof STAGES)[number] | 'round', number>> = m.timing ?? {}; // older runs may lack stages
    let staged = 0;
    for (const stage of STAGES) {
      const seconds = finite(timing[stage]) ? timing[stage] : 0;
      staged += seconds;
      rows.push({ round, stage, seconds });
    }
    const total = finite(timing.round) ? timing.round : staged;
    rows.push({ round, stage: 'other', seconds: Math.max(0, total - staged) });
  }
  // Drop stages that never took time (e.g. "other" when the stages account for the whole round).
  const used = new Set(rows.filter((r) => r.seconds > 0).map((r) => r.stage));
  return rows.filter((r) => used.has(r.stage));
}

function meanBy<T>(items: T[], key: (x: T) => number, value: (x: T) => number): { key: number; value: number }[] {
  const groups = new Map<number, number[]>();
  for (const item of items) {
    const k = key(item);
    const v = value(item);
    if (!finite(k) || !finite(v)) continue;
    groups.set(k, [...(groups.get(k) ?? []), v]);
  }
  return [...groups].sort((a, b) => a[0] - b[0]).map(([k, vs]) => ({ key: k, value: mean(vs) }));
}

/**
 * Cross-improvement figure data: bars from summary.json; curves = solver uncertainty per evaluation point (mean over
 * seeds) and the theory's prediction for every arm, custom ones included, as summary.json records it (cross's
 * fitCrossGamma: the base arm's shared-rate dynamics with the fitted γ and each arm's allocation). Nothing is refitted.
 */
export function crossData(cross: CrossData): CrossFigureData {
  const arms = Object.keys(cross.summary.arms);
  const bars = arms.map((arm) => {
    const s = cross.summary.arms[arm];
    return {
      arm,
      accuracy: s.finalTestAccuracy,
      sd: finite(s.finalTestAccuracySd) ? s.finalTestAccuracySd : 0,
      initial: s.initialTestAccuracy,
    };
  });
  const curves: CrossFigureData['curves'] = [];
  for (const arm of arms.filter((a) => (cross.runs[a] ?? []).length > 0)) {
    const rows = cross.runs[arm].flatMap((run) => run.metrics);
    for (const p of meanBy(
      rows,
      (m) => m.t,
      (m) => m.solverUncertainty,
    ))
      curves.push({ arm, t: p.key, value: p.value, source: 'measured' });
  }
  const theory = cross.summary.theory;
  const predicted = theory && !('error' in theory) ? (theory.trajectories ?? {}) : {}; // summaries before issue 14 have none
  for (const [arm, p] of Object.entries(predicted)) p.t.forEach((t, i) => curves.push({ arm, t, value: p.solver[i], source: 'theory' }));
  return { bars, curves, budget: cross.summary.budget, gamma: cross.summary.gamma };
}
