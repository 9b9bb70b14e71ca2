// Vega-Lite spec builders, one per figure. Each takes plain arrays (see prepare.ts for how runs become these),
// so the same figure works for a training run, a CSV given to `fit`, or the paper's digitized Figure 4.
import type { TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY } from './render.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const SERIES_COLORS = { solver: '#1f77b4', verifier: '#d62728', gap: '#2ca02c' } as const;
const TABLEAU = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
const PANEL_WIDTH = 300;
const PANEL_HEIGHT = 220;

const config = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 12,
  view: { stroke: '#bbb' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', grid: true, gridColor: '#eee' },
  // About one tick per 60 px keeps flushed end labels clear of their neighbours on a 300 px panel.
  axisQuantitative: { tickCount: 6 },
  // labelLimit 0: never truncate (vega estimates text width without a canvas, so its limits cut labels short).
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 0, symbolSize: 60 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: 'start', subtitleColor: '#555', offset: 10 },
  concat: { spacing: 24 },
  header: { labelFontSize: 12, titleFontSize: 12 },
} as const;

export type Series = 'solver' | 'verifier' | 'gap';
export const SERIES: Series[] = ['solver', 'verifier', 'gap'];
const SERIES_NAME: Record<Series, string> = { solver: 'Uₛ solver', verifier: 'Uᵥ verifier', gap: 'G gap' };

export interface Band {
  value: number[];
  lower: number[];
  upper: number[];
}

/** One panel of Figure 4: measured points, the shared-rate fit on a dense grid, optional early-fit forecast. */
export interface FitPanel {
  title: string;
  t: number[];
  solver: number[];
  verifier: number[];
  gap: number[];
  curve: { t: number[]; solver: number[]; verifier: number[]; gap: number[] };
  r2: { solver: number; verifier: number; gap: number };
  /** Fit on the first `first` points only, predicted over the whole range with a band (Cor. 3.2 style early prediction). */
  forecast?: { first: number; tFirst: number; t: number[]; solver: Band; verifier: Band; gap: Band };
}

export interface FigureOptions {
  title?: string;
  subtitle?: string | string[];
  xTitle?: string;
  yTitle?: string;
  /** unit of uncertainty for derived axis titles (default nats) */
  unit?: string;
  columns?: number;
}

export const TIME_TITLE = 'training time t (epochs)';
export const UNCERTAINTY_TITLE = 'uncertainty (nats per response)';

function fmtR2(r2: number): string {
  return Number.isFinite(r2) ? r2.toFixed(3) : 'n/a';
}

function seriesLabel(series: Series, r2: number): string {
  return Number.isFinite(r2) ? `${SERIES_NAME[series]}  R² = ${fmtR2(r2)}` : `${SERIES_NAME[series]} (no fit)`;
}

function titleOf(text: string | undefined, subtitle?: string | string[]): { text: string; subtitle?: string | string[] } | undefined {
  if (text === undefined) return undefined;
  return subtitle === undefined ? { text } : { text, subtitle };
}

/** Specs are assembled as plain objects (vega-lite's union types are too deep to build piecewise); compile checks them. */
function topLevel(spec: Record<string, unknown>): TopLevelSpec {
  return { $schema: SCHEMA, config, ...spec } as unknown as TopLevelSpec;
}

function panelTitle(text: string, subtitle?: string): Record<string, unknown> {
  return { text, fontSize: 12, ...(subtitle ? { subtitle, subtitleFontSize: 10 } : {}) };
}

/** Several panels go into a grid with independent colour scales (each legend carries its own R²); a single panel
 * keeps the figure title, with the panel title moved into the subtitle. */
function arrange(panels: Record<string, unknown>[], title: string, options: FigureOptions): TopLevelSpec {
  if (panels.length === 1) {
    const { title: pt, ...panel } = panels[0];
    const head = (pt ?? {}) as { text?: string; subtitle?: string };
    const sub = [options.subtitle ?? [], head.text ?? [], head.subtitle ?? []].flat();
    return topLevel({ title: titleOf(title, sub.length ? sub : undefined), ...panel });
  }
  return topLevel({
    title: titleOf(title, options.subtitle),
    concat: panels,
    columns: options.columns ?? 2,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
  });
}

/** Rows with a non-finite value are dropped so no NaN reaches an SVG path. */
function keepFinite<T extends Record<string, unknown>>(rows: T[], keys: (keyof T)[]): T[] {
  return rows.filter((row) => keys.every((k) => typeof row[k] === 'number' && Number.isFinite(row[k] as number)));
}

function fitPanelSpec(panel: FitPanel, options: FigureOptions): Record<string, unknown> {
  const labels = SERIES.map((s) => seriesLabel(s, panel.r2[s]));
  // Every layer carries the identical colour encoding so vega-lite merges them into one legend.
  const color = {
    field: 'label',
    type: 'nominal',
    title: null,
    scale: { domain: labels, range: SERIES.map((s) => SERIES_COLORS[s]) },
    // Symbols drawn opaque: the first layer (the forecast band) would otherwise lend the legend its faint fill.
    legend: { orient: 'right', symbolOpacity: 1, symbolType: 'circle', symbolStrokeWidth: 0 },
  };
  const points = keepFinite(
    SERIES.flatMap((s, i) => panel.t.map((t, j) => ({ t, value: panel[s][j], label: labels[i] }))),
    ['t', 'value'],
  );
  const curve = keepFinite(
    SERIES.flatMap((s, i) => panel.curve.t.map((t, j) => ({ t, value: panel.curve[s][j], label: labels[i] }))),
    ['t', 'value'],
  );
  const x = { field: 't', type: 'quantitative', title: options.xTitle ?? TIME_TITLE };
  const y = { field: 'value', type: 'quantitative', title: options.yTitle ?? UNCERTAINTY_TITLE, scale: { zero: false } };
  const layer: Record<string, unknown>[] = [];
  const f = panel.forecast;
  if (f) {
    const band = keepFinite(
      SERIES.flatMap((s, i) =>
        f.t.map((t, j) => ({ t, value: f[s].value[j], lower: f[s].lower[j], upper: f[s].upper[j], label: labels[i] })),
      ),
      ['t', 'value', 'lower', 'upper'],
    );
    layer.push(
      {
        data: { values: band },
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x, y: { ...y, field: 'lower' }, y2: { field: 'upper' }, color },
      },
      {
        data: { values: band },
        mark: { type: 'line', strokeDash: [5, 3], strokeWidth: 1.5 },
        encoding: { x, y, color },
      },
      {
        data: { values: [{ t: f.tFirst }] },
        mark: { type: 'rule', color: '#777', strokeDash: [2, 2] },
        encoding: { x },
      },
    );
  }
  layer.push(
    { data: { values: curve }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color } },
    { data: { values: points }, mark: { type: 'point', filled: true, size: 36, opacity: 0.9 }, encoding: { x, y, color } },
  );
  const note = f ? `dashed + band: forecast from the first ${f.first} points (t ≤ ${fmtNum(f.tFirst)}, dotted line)` : undefined;
  return { title: panelTitle(panel.title, note), width: PANEL_WIDTH, height: PANEL_HEIGHT, layer };
}

/** Figure 4: U_s, U_v and G per evaluation point (markers), the shared-rate fit (lines), R² in the legend. */
export function uncertaintyFitSpec(panels: FitPanel[], options: FigureOptions = {}): TopLevelSpec {
  if (panels.length === 0) throw new Error('uncertaintyFitSpec: no panels');
  return arrange(
    panels.map((p) => fitPanelSpec(p, options)),
    options.title ?? 'Uncertainty dynamics and the shared-rate fit (Figure 4)',
    options,
  );
}

/** One panel of Figure 2: finite-difference −dG/dt against G and the regression line. */
export interface LinearityPanel {
  title: string;
  points: { t: number; gap: number; gapRate: number }[];
  slope: number;
  intercept: number;
  r2: number;
}

/** Figure 2: −dG/dt against G with the regression line (E ≈ kG − b, so −dG/dt = (α−β)(kG − b) is linear in G). */
export function gapLinearitySpec(panels: LinearityPanel[], options: FigureOptions = {}): TopLevelSpec {
  if (panels.length === 0) throw new Error('gapLinearitySpec: no panels');
  const specs = panels.map((p) => {
    const pts = keepFinite(
      p.points.map((q) => ({ ...q })),
      ['t', 'gap', 'gapRate'],
    );
    const gaps = pts.map((q) => q.gap);
    const lo = Math.min(...gaps);
    const hi = Math.max(...gaps);
    const sign = p.intercept < 0 ? '−' : '+';
    const fitLabel = `least squares ${fmtNum(p.slope)}·G ${sign} ${fmtNum(Math.abs(p.intercept))}, R² = ${fmtR2(p.r2)}`;
    const pointLabel = 'finite differences';
    const line = keepFinite(
      [lo, hi].map((g) => ({ gap: g, gapRate: p.slope * g + p.intercept, label: fitLabel })),
      ['gap', 'gapRate'],
    );
    const color = {
      field: 'label',
      type: 'nominal',
      title: null,
      scale: { domain: [pointLabel, fitLabel], range: ['#4c78a8', '#e45756'] },
      legend: { orient: 'right', symbolOpacity: 1 },
    };
    const unit = options.unit ?? 'nats';
    const x = { field: 'gap', type: 'quantitative', title: options.xTitle ?? `gap G (${unit})`, scale: { zero: false } };
    const y = { field: 'gapRate', type: 'quantitative', title: options.yTitle ?? `−dG/dt (${unit} per epoch)`, scale: { zero: false } };
    return {
      title: panelTitle(p.title),
      width: PANEL_WIDTH,
      height: PANEL_HEIGHT,
      layer: [
        { data: { values: line }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color } },
        {
          data: { values: pts.map((q) => ({ ...q, label: pointLabel })) },
          mark: { type: 'point', filled: true, size: 40 },
          encoding: {
            x,
            y,
            color,
            tooltip: [{ field: 't', type: 'quantitative', title: 't (epochs)' }],
          },
        },
      ],
    };
  });
  return arrange(specs, options.title ?? 'Gap rate against gap: is E ≈ kG − b linear? (Figure 2)', options);
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

export interface AccuracyRow {
  t: number;
  solverAccuracy: number;
  verifierAccuracy: number;
  testAccuracy: number;
  testSampledAccuracy?: number;
  solverUncertainty: number;
  verifierUncertainty: number;
  gap: number;
  meanResponseLength?: number;
  meanPickLength?: number;
  answerDiversity?: number;
}

/** pass@k against k at one evaluation point (Figure 3 draws the first and the last). */
export interface PassAtKRow {
  label: string;
  k: number;
  value: number;
}

type SeriesDef = [keyof AccuracyRow, string, string];

/** One time-series panel of Figure 3: a line with markers per series, its own legend. */
function seriesPanel(
  rows: AccuracyRow[],
  defs: SeriesDef[],
  y: { title: string; format?: string; zero?: boolean },
  width: number,
  xTitle: string | null,
) {
  const values = keepFinite(
    defs.flatMap(([key, label]) => rows.map((r) => ({ t: r.t, value: r[key] as number, label }))),
    ['t', 'value'],
  );
  const present = defs.filter((d) => values.some((v) => v.label === d[1]));
  const color = {
    field: 'label',
    type: 'nominal',
    title: null,
    scale: { domain: present.map((d) => d[1]), range: present.map((d) => d[2]) },
    legend: { orient: 'right', symbolOpacity: 1 },
  };
  const x = { field: 't', type: 'quantitative', title: xTitle };
  const yEnc = {
    field: 'value',
    type: 'quantitative',
    title: y.title,
    scale: { zero: y.zero ?? false },
    ...(y.format ? { axis: { format: y.format } } : {}),
  };
  return {
    width,
    height: 170,
    data: { values },
    layer: [
      { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: yEnc, color } },
      { mark: { type: 'point', filled: true, size: 30 }, encoding: { x, y: yEnc, color } },
    ],
  };
}

/**
 * Figure 3: accuracy over training (sampled and picked on the training questions, greedy and sampled on held-out ones),
 * pass@k against k at the first and last point, mean length of samples and picks, answer diversity, and U_s, U_v, G.
 * Panels whose fields a run lacks (runs before these were logged) are left out.
 */
export function accuracySpec(rows: AccuracyRow[], options: FigureOptions & { passAtK?: PassAtKRow[] } = {}): TopLevelSpec {
  const xTitle = options.xTitle ?? TIME_TITLE;
  const acc: SeriesDef[] = [
    ['solverAccuracy', 'solver (sampled)', SERIES_COLORS.solver],
    ['verifierAccuracy', 'verifier (picked)', SERIES_COLORS.verifier],
    ['testAccuracy', 'test (held out)', '#444'],
    ['testSampledAccuracy', 'test, sampled (held out)', '#999'],
  ];
  const unc: SeriesDef[] = [
    ['solverUncertainty', SERIES_NAME.solver, SERIES_COLORS.solver],
    ['verifierUncertainty', SERIES_NAME.verifier, SERIES_COLORS.verifier],
    ['gap', SERIES_NAME.gap, SERIES_COLORS.gap],
  ];
  const length: SeriesDef[] = [
    ['meanResponseLength', 'samples', SERIES_COLORS.solver],
    ['meanPickLength', 'picks', SERIES_COLORS.verifier],
  ];
  const has = (key: keyof AccuracyRow) => rows.some((r) => typeof r[key] === 'number' && Number.isFinite(r[key]));
  const small: Record<string, unknown>[] = [];
  const passAtK = keepFinite(
    (options.passAtK ?? []).map((r) => ({ ...r })),
    ['k', 'value'],
  );
  if (passAtK.length > 0) {
    const labels = [...new Set(passAtK.map((r) => r.label))];
    const color = {
      field: 'label',
      type: 'nominal',
      title: null,
      scale: { domain: labels, range: ['#9ecae1', '#08519c'] },
      legend: { orient: 'right', symbolOpacity: 1 },
    };
    const x = {
      field: 'k',
      type: 'quantitative',
      title: 'k (samples drawn)',
      scale: { type: 'log', base: 2 },
      axis: { values: [...new Set(passAtK.map((r) => r.k))], format: 'd' },
    };
    const y = {
      field: 'value',
      type: 'quantitative',
      title: 'pass@k (evaluation questions)',
      scale: { domain: [0, 1] },
      axis: { format: '.0%' },
    };
    small.push({
      width: PANEL_WIDTH,
      height: 170,
      data: { values: passAtK },
      layer: [
        { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color } },
        { mark: { type: 'point', filled: true, size: 30 }, encoding: { x, y, color } },
      ],
    });
  }
  if (has('meanResponseLength') || has('meanPickLength'))
    small.push(seriesPanel(rows, length, { title: 'mean length (tokens)', zero: true }, PANEL_WIDTH, xTitle)); // from 0: a 1 % change looks like 1 %
  if (has('answerDiversity'))
    small.push(
      seriesPanel(
        rows,
        [['answerDiversity', 'distinct answers', '#54a24b']],
        { title: 'distinct answers per question', zero: true },
        PANEL_WIDTH,
        xTitle,
      ),
    );
  small.push(seriesPanel(rows, unc, { title: options.yTitle ?? UNCERTAINTY_TITLE }, PANEL_WIDTH, xTitle));
  const pairs: Record<string, unknown>[] = [];
  const independent = { scale: { color: 'independent' }, legend: { color: 'independent' } };
  for (let i = 0; i < small.length; i += 2)
    pairs.push(small.length - i === 1 ? small[i] : { hconcat: small.slice(i, i + 2), spacing: 40, resolve: independent });
  return topLevel({
    title: titleOf(
      options.title ?? 'Accuracy, pass@k, length, diversity and uncertainty over self-improvement (Figure 3)',
      options.subtitle,
    ),
    vconcat: [seriesPanel(rows, acc, { title: 'accuracy', format: '.0%' }, 2 * PANEL_WIDTH + 40, xTitle), ...pairs],
    resolve: independent,
  });
}

export interface ThroughputRow {
  round: number;
  stage: string;
  seconds: number;
}

/** Throughput: stacked wall time per stage per round. */
export function throughputSpec(rows: ThroughputRow[], options: FigureOptions = {}): TopLevelSpec {
  const stages = [...new Set(rows.map((r) => r.stage))];
  const values = keepFinite(
    rows.map((r) => ({ ...r, order: stages.indexOf(r.stage) })),
    ['round', 'seconds'],
  );
  return topLevel({
    title: titleOf(options.title ?? 'Time per stage per round', options.subtitle),
    width: 2 * PANEL_WIDTH,
    height: PANEL_HEIGHT,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'round', type: 'ordinal', title: options.xTitle ?? 'round', axis: { labelAngle: 0 } },
      y: { field: 'seconds', type: 'quantitative', aggregate: 'sum', title: options.yTitle ?? 'wall time (s)', stack: 'zero' },
      color: { field: 'stage', type: 'nominal', title: 'stage', scale: { domain: stages, range: TABLEAU } },
      order: { field: 'order', type: 'quantitative', sort: 'ascending' },
      tooltip: [
        { field: 'stage', type: 'nominal' },
        { field: 'seconds', type: 'quantitative', aggregate: 'sum', format: '.2f' },
      ],
    },
  });
}

export interface CrossFigureData {
  /** Final test accuracy per arm with the standard deviation across seeds. */
  bars: { arm: string; accuracy: number; sd: number; initial: number }[];
  /** Per-round curves: measured (mean over seeds) and the theory's prediction. */
  curves: { arm: string; t: number; value: number; source: 'measured' | 'theory' }[];
  budget: number;
  gamma: number;
  /** What the curves plot, for the y-axis title. */
  curveTitle?: string;
}

/** Cross-improvement: final test accuracy per allocation arm (bars ± seed sd) and per-round curves with the theory (Prop. 5.1). */
export function crossSpec(data: CrossFigureData, options: FigureOptions = {}): TopLevelSpec {
  const arms = data.bars.map((b) => b.arm);
  const armColor = { field: 'arm', type: 'nominal', title: 'arm', scale: { domain: arms, range: TABLEAU }, legend: { symbolOpacity: 1 } };
  const bars = keepFinite(
    data.bars.map((b) => ({
      ...b,
      lo: b.accuracy - (Number.isFinite(b.sd) ? b.sd : 0),
      hi: b.accuracy + (Number.isFinite(b.sd) ? b.sd : 0),
    })),
    ['accuracy', 'lo', 'hi'],
  );
  const initialValues = data.bars.map((b) => b.initial).filter(Number.isFinite);
  const initial = initialValues.length ? [{ initial: initialValues.reduce((a, b) => a + b, 0) / initialValues.length }] : [];
  const barPanel = {
    width: 240,
    height: PANEL_HEIGHT,
    data: { values: bars },
    layer: [
      {
        mark: { type: 'bar', opacity: 0.85 },
        encoding: {
          x: { field: 'arm', type: 'nominal', title: 'allocation arm', sort: arms, axis: { labelAngle: 0 } },
          y: { field: 'accuracy', type: 'quantitative', title: 'final test accuracy (mean ± sd)', axis: { format: '.0%' } },
          color: armColor,
        },
      },
      {
        mark: { type: 'errorbar', ticks: { size: 14 }, color: '#222' },
        encoding: {
          x: { field: 'arm', type: 'nominal', sort: arms },
          y: { field: 'lo', type: 'quantitative', title: 'final test accuracy (mean ± sd)' },
          y2: { field: 'hi' },
        },
      },
      {
        // All arms start from the same model, so the initial accuracy is one horizontal line.
        data: { values: initial },
        layer: [
          { mark: { type: 'rule', color: '#222', strokeDash: [4, 3] }, encoding: { y: { field: 'initial', type: 'quantitative' } } },
          {
            mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -2, fontSize: 10, color: '#222', x: 'width' },
            encoding: { y: { field: 'initial', type: 'quantitative' }, text: { value: 'initial' } },
          },
        ],
      },
    ],
  };
  const curves = keepFinite(
    data.curves.map((c) => ({ ...c })),
    ['t', 'value'],
  );
  const x = { field: 't', type: 'quantitative', title: TIME_TITLE };
  const y = { field: 'value', type: 'quantitative', title: data.curveTitle ?? 'solver uncertainty Uₛ (nats)', scale: { zero: false } };
  const curvePanel = {
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    layer: [
      {
        data: { values: curves.filter((c) => c.source === 'theory') },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { x, y, color: armColor },
      },
      {
        data: { values: curves.filter((c) => c.source === 'measured') },
        mark: { type: 'point', filled: true, size: 36 },
        encoding: { x, y, color: armColor },
      },
    ],
  };
  return topLevel({
    title: titleOf(
      options.title ?? 'Cross-improvement: external verification budget by allocation',
      options.subtitle ?? [
        `budget M = ${data.budget} external queries, γ = ${fmtNum(data.gamma)} per query; theory: Uᵥ ← Uᵥ/(1 + γ·M·ηₜ) each round (Prop. 5.1)`,
        'left: final test accuracy, mean ± sd over seeds; right: solver uncertainty, points measured, lines theory',
      ],
    ),
    spacing: 40,
    hconcat: [barPanel, curvePanel],
  });
}
