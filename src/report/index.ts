// Figures and the HTML report of runs (issue 8): Vega-Lite specs rendered headlessly to SVG and PNG.
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../io.js';
import { formatFitFlags, readTrajectoryFile, type ReadOptions, type SharedRateFit, type Trajectory } from '../theory/index.js';
import { isCrossDir, readCross, readRun, type CrossData, type RunData } from './data.js';
import {
  accuracySpec,
  crossSpec,
  gapLinearitySpec,
  throughputSpec,
  uncertaintyFitSpec,
  type FitPanel,
  type LinearityPanel,
} from './figures.js';
import { flattenSettings, formatNumber, reportHtml, type RenderedFigure, type Table } from './html.js';
import {
  accountingRows,
  accuracyRows,
  crossData,
  fitPanel,
  forecastOf,
  linearityPanel,
  passAtKRows,
  throughputRows,
  trajectoryOf,
  whatMoved,
} from './prepare.js';
import { renderPng, renderSvg, type TopLevelSpec } from './render.js';

export { readCross, readRun, isCrossDir, type RunData, type CrossData } from './data.js';
export { accuracySpec, crossSpec, gapLinearitySpec, throughputSpec, uncertaintyFitSpec } from './figures.js';
export {
  accountingRows,
  accuracyRows,
  crossData,
  fitBand,
  fitPanel,
  linearityPanel,
  passAtKRows,
  throughputRows,
  trajectoryOf,
  whatMoved,
} from './prepare.js';
export { renderSvg, renderPng, rasterise, pngSize, hasFigureFont, FONT_FAMILY } from './render.js';
export { parseTrueType, textWidth, loadFontMetrics, type FontMetrics } from './textwidth.js';
export { reportHtml, tableHtml, flattenSettings, formatNumber, scopeSvgIds, escapeHtml, type Table, type RenderedFigure } from './html.js';

export type FigureFormat = 'svg' | 'png';

/** A figure before rendering: its spec plus what the report prints around it. */
export interface Figure {
  /** file stem, e.g. figure4-uncertainty */
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
  tables: Table[];
}

export interface FigureInputOptions {
  /** early prediction: fit on the first k evaluation points and draw the forecast band (Figure 4) */
  first?: number;
}

/** The shared-rate fit as a table: each identifiable parameter with its interval, R², information criteria. */
export function fitTable(caption: string, fit: SharedRateFit): Table {
  const iv = (name: string, i: { value: number; lower: number; upper: number }, unit: string): (string | number)[] => [
    name,
    i.value,
    `[${formatNumber(i.lower)}, ${formatNumber(i.upper)}]`,
    unit,
  ];
  const delta = fit.amplitudes.solver.value - fit.amplitudes.verifier.value;
  const epsilon = 0.01 * Math.abs(delta);
  const level = fit.intervalMethod === 'bootstrap' ? 'bootstrap 95 %' : '95 %';
  return {
    caption,
    header: ['parameter', 'value', `${level} interval`, 'unit'],
    rows: [
      iv('rate r = k(α−β)', fit.rate, '1/epoch'),
      iv('U_s∞ (solver limit)', fit.limits.solver, 'nats'),
      iv('U_v∞ (verifier limit)', fit.limits.verifier, 'nats'),
      iv('G∞ = b/k (gap limit)', fit.limits.gap, 'nats'),
      iv('α′ (solver amplitude)', fit.amplitudes.solver, 'nats'),
      iv('β′ (verifier amplitude)', fit.amplitudes.verifier, 'nats'),
      ['α/β = α′/β′', fit.alphaOverBeta, '', ''],
      [
        'R² solver / verifier / gap',
        `${formatNumber(fit.r2.solver)} / ${formatNumber(fit.r2.verifier)} / ${formatNumber(fit.r2.gap)}`,
        '',
        '',
      ],
      ['points n, AIC, BIC', `${fit.n}, ${formatNumber(fit.aic)}, ${formatNumber(fit.bic)}`, '', ''],
      ['t with |G − G∞| < 1 % of δ (Cor. 3.2)', fit.roundsToConverge(epsilon), '', 'epochs'],
      ...fit.warnings.map((w) => ['warning: cannot be trusted', w, '', '']),
    ],
  };
}

/** Figure 4 panels, their fits, and the Figure 2 panels of several trajectories (runs, CSVs or paper panels). */
function trajectoryFigures(
  items: { title: string; trajectory: Trajectory }[],
  options: FigureInputOptions & { yTitle?: string; xTitle?: string; unit?: string; source: string; titlePrefix?: string },
): Figure[] {
  const panels: FitPanel[] = [];
  const tables: Table[] = [];
  const fits: (SharedRateFit | null)[] = [];
  for (const item of items) {
    try {
      const { panel, fit } = fitPanel(item.title, item.trajectory);
      const table = fitTable(`shared-rate fit: ${item.title}`, fit);
      if (options.first !== undefined) {
        try {
          panel.forecast = forecastOf(item.trajectory, options.first, panel.curve.t);
        } catch (e) {
          // One short run among several must not cost the others their figure: say it in the table instead.
          table.rows.push(['forecast', (e as Error).message, '', '']);
          console.warn(`${item.title}: no forecast: ${(e as Error).message}`);
        }
      }
      panels.push(panel);
      fits.push(fit);
      tables.push(table);
    } catch (e) {
      // Too few points or a degenerate run: still show the measurements, say why there is no fit.
      const tr = item.trajectory;
      panels.push({
        title: item.title,
        t: tr.t,
        solver: tr.solver,
        verifier: tr.verifier,
        gap: tr.solver.map((s, i) => s - tr.verifier[i]),
        curve: { t: [], solver: [], verifier: [], gap: [] },
        r2: { solver: NaN, verifier: NaN, gap: NaN },
      });
      fits.push(null);
      tables.push({ caption: `shared-rate fit: ${item.title}`, header: ['problem'], rows: [[(e as Error).message]] });
    }
  }
  const figures: Figure[] = [];
  const describe = items.map((item, i) => {
    const tr = item.trajectory;
    const last = tr.t.length - 1;
    const fit = fits[i];
    const fitText = fit
      ? `; shared rate r = ${formatNumber(fit.rate.value)}/epoch, limits U_s∞ = ${formatNumber(fit.limits.solver.value)}, U_v∞ = ${formatNumber(fit.limits.verifier.value)}, R² = ${formatNumber(fit.r2.solver)} / ${formatNumber(fit.r2.verifier)} / ${formatNumber(fit.r2.gap)}` +
        (fit.flags.length ? ` (${formatFitFlags(fit.flags)})` : '')
      : '';
    return `${item.title}: U_s ${formatNumber(tr.solver[0])} → ${formatNumber(tr.solver[last])}, U_v ${formatNumber(tr.verifier[0])} → ${formatNumber(tr.verifier[last])} over t = ${formatNumber(tr.t[0])}…${formatNumber(tr.t[last])}${fitText}`;
  });
  figures.push({
    name: 'figure4-uncertainty',
    title: 'Figure 4: uncertainty dynamics and the shared-rate fit',
    caption:
      `Markers: solver uncertainty U_s (mean NLL of sampled responses), verifier uncertainty U_v (mean NLL of the picks) and the gap G = U_s − U_v per evaluation point (${options.source}). ` +
      `Lines: joint least-squares fit with one shared rate r (Prop. 3.1); R² per series in the legend.` +
      (options.first
        ? ` Dashed lines and bands: the forecast from the first ${options.first} points with its 95 % pointwise confidence band.`
        : '') +
      ` ${describe.join('. ')}.`,
    spec: uncertaintyFitSpec(panels, {
      xTitle: options.xTitle,
      yTitle: options.yTitle,
      title: options.titlePrefix ? `${options.titlePrefix}: uncertainty dynamics and this project's shared-rate fit (Figure 4)` : undefined,
    }),
    tables,
  });
  const linearity: LinearityPanel[] = [];
  const linTable: Table = {
    caption: 'regression of −dG/dt on G',
    header: ['panel', 'slope (≈ r)', 'intercept', 'R²', 'G where −dG/dt = 0', 'fitted r', 'fitted G∞'],
    rows: [],
  };
  items.forEach((item, i) => {
    try {
      const panel = linearityPanel(item.title, item.trajectory);
      linearity.push(panel);
      const fit = fits[i];
      linTable.rows.push([
        item.title,
        panel.slope,
        panel.intercept,
        panel.r2,
        -panel.intercept / panel.slope,
        fit?.rate.value ?? NaN,
        fit?.limits.gap.value ?? NaN,
      ]);
    } catch (e) {
      linTable.rows.push([item.title, (e as Error).message, '', '', '', '', '']);
    }
  });
  if (linearity.length > 0) {
    figures.push({
      name: 'figure2-linearity',
      title: 'Figure 2: gap rate against gap (E ≈ kG − b)',
      caption:
        'Finite-difference −dG/dt between consecutive evaluation points (at the interval midpoint, mean gap) against G, with the least-squares line. ' +
        'E ≈ kG − b makes −dG/dt = rG − (α−β)b affine in G; the slope should match the shared-rate fit r and the zero crossing G∞ = b/k.',
      spec: gapLinearitySpec(linearity, {
        unit: options.unit,
        title: options.titlePrefix ? `${options.titlePrefix}: gap rate against gap (Figure 2)` : undefined,
      }),
      tables: [linTable],
    });
  }
  return figures;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a';
}

/** Figure 3 and the throughput figure of one run. */
function runOnlyFigures(run: RunData, suffix: string): Figure[] {
  const figures: Figure[] = [];
  const m = run.metrics;
  const first = m[0];
  const last = m[m.length - 1];
  const accKeys = [
    ['solver accuracy (sampled)', 'solverAccuracy'],
    ['verifier accuracy (picked)', 'verifierAccuracy'],
    ['test accuracy (held out)', 'testAccuracy'],
    ['pass@N', 'passAtN'],
    ['majority vote', 'majorityAccuracy'],
    ['mean response length (tokens)', 'meanResponseLength'],
  ] as const;
  figures.push({
    name: `figure3-accuracy${suffix}`,
    title: `Figure 3: accuracy, pass@k, length, diversity and uncertainty over training${suffix ? ` (${run.name})` : ''}`,
    caption:
      `Top: accuracy of the sampled responses (solver) and of the picks on the training questions, and on held-out test questions greedy and sampled ` +
      `(--test-samples per question, at the sampling temperature). Then pass@k against k (unbiased estimator over the N samples of each evaluation question) ` +
      `at the first and the last evaluation point, the mean length of samples and picks, the distinct final answers per question, and U_s, U_v, G. ` +
      `${run.name}: ${whatMoved(m)}`,
    spec: accuracySpec(accuracyRows(m), { subtitle: run.name, passAtK: passAtKRows(m) }),
    tables: [
      {
        caption: 'what moved: first and last evaluation point',
        header: ['quantity', `t = ${formatNumber(first.t)}`, `t = ${formatNumber(last.t)}`, 'change'],
        rows: accountingRows(m).map((r) => {
          const show = (v: number) => (r.kind === 'share' ? pct(v) : formatNumber(v));
          const change =
            r.kind === 'share'
              ? `${r.last >= r.first ? '+' : '−'}${(100 * Math.abs(r.last - r.first)).toFixed(1)} points`
              : r.first !== 0
                ? `${r.last >= r.first ? '+' : '−'}${((100 * Math.abs(r.last - r.first)) / Math.abs(r.first)).toFixed(1)} %`
                : '';
          return [r.label, show(r.first), show(r.last), change];
        }),
      },
      {
        caption: 'accuracy over training',
        header: ['metric', `t = ${formatNumber(first.t)}`, `t = ${formatNumber(last.t)}`, 'best'],
        rows: accKeys
          .filter(([, key]) => typeof first[key] === 'number')
          .map(([label, key]) => {
            const values = m.map((row) => row[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
            const isLength = key === 'meanResponseLength';
            const show = (v: number | undefined) => (v === undefined ? 'n/a' : isLength ? formatNumber(v) : pct(v));
            return [label, show(first[key]), show(last[key]), isLength ? '' : show(Math.max(...values))];
          }),
      },
    ],
  });
  const rows = throughputRows(m);
  if (rows.length > 0) {
    const stages = [...new Set(rows.map((r) => r.stage))];
    const rounds = [...new Set(rows.map((r) => r.round))];
    const total = (stage: string) => rows.filter((r) => r.stage === stage).reduce((s, r) => s + r.seconds, 0);
    const all = stages.reduce((s, st) => s + total(st), 0);
    const tps = (['sample', 'score', 'train'] as const).map((stage) => {
      const values = m
        .map((row) => row.tokensPerSecond?.[stage])
        .filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
      return [
        `${stage} tokens/s (mean over evaluation points)`,
        values.length ? values.reduce((s, v) => s + v, 0) / values.length : NaN,
      ] as (string | number)[];
    });
    figures.push({
      name: `throughput${suffix}`,
      title: `Throughput: time per stage per round${suffix ? ` (${run.name})` : ''}`,
      caption:
        `Wall time per round split into sampling, verifier scoring, selection, training and evaluation (the round's stage clocks at its last evaluation point; round 0 is the evaluation before training; "other" is the rest of the round's wall clock). ` +
        `${run.name}: ${formatNumber(all)} s over ${rounds.length} rounds; largest share ${stages.slice().sort((a, b) => total(b) - total(a))[0]} (${pct(Math.max(...stages.map(total)) / all)}).`,
      spec: throughputSpec(rows, { subtitle: run.name }),
      tables: [
        {
          caption: 'time per stage',
          header: ['stage', 'total (s)', 'mean per round (s)', 'share'],
          rows: stages.map((st) => [st, total(st), total(st) / rounds.length, pct(total(st) / all)]),
        },
        { caption: 'throughput', header: ['quantity', 'value'], rows: tps },
      ],
    });
  }
  return figures;
}

/** Figures of one or more run directories: Figure 4 and 2 with a panel per run, Figure 3 and throughput per run. */
export function runFigures(runs: RunData[], options: FigureInputOptions = {}): Figure[] {
  const figures = trajectoryFigures(
    runs.map((run) => ({ title: runTitle(run), trajectory: trajectoryOf(run.metrics) })),
    { ...options, source: runs.length === 1 ? `run “${runs[0].name}”` : `${runs.length} runs` },
  );
  const used = new Set<string>();
  for (const run of runs) {
    // file-safe and unique: two runs may share a directory name (a/run, b/run)
    let suffix = runs.length === 1 ? '' : `-${run.name.replace(/[^A-Za-z0-9_.-]+/g, '-')}`;
    for (let k = 2; used.has(suffix); k++) suffix = `-${run.name.replace(/[^A-Za-z0-9_.-]+/g, '-')}-${k}`;
    used.add(suffix);
    figures.push(...runOnlyFigures(run, suffix));
  }
  return figures;
}

function runTitle(run: RunData): string {
  const dataset = run.info?.dataset?.name;
  const verifier = run.info?.verifier?.kind;
  const extra = [dataset, verifier ? `${verifier.toUpperCase()} verifier` : undefined].filter(Boolean).join(', ');
  return extra ? `${run.name} (${extra})` : run.name;
}

/** Figures of trajectories given directly (e.g. CSVs given to `fit`). */
export function trajectoryFiguresOf(items: { title: string; trajectory: Trajectory }[], options: FigureInputOptions = {}): Figure[] {
  return trajectoryFigures(items, { ...options, source: 'given trajectories' });
}

const PAPER_PANEL_TITLES: Record<string, string> = {
  math_qe: 'MATH, QE verifier',
  gsm8k_qe: 'GSM8K, QE verifier',
  math_tf: 'MATH, TF verifier',
  gsm8k_tf: 'GSM8K, TF verifier',
};

/** The paper's Figure 4 (Phi-4, digitized) redrawn with this project's shared-rate fits. */
export function paperFig4Figures(csvPath: string, options: FigureInputOptions = {}): Figure[] {
  const table = readTrajectoryFile(csvPath, { timeCol: 'epoch', valueCol: 'affine_uncertainty' });
  const figures = trajectoryFigures(
    Object.entries(table.panels).map(([panel, trajectory]) => ({ title: `Phi-4: ${PAPER_PANEL_TITLES[panel] ?? panel}`, trajectory })),
    {
      ...options,
      source: 'digitized from the paper, in the digitization’s rescaled units',
      yTitle: 'uncertainty (digitized, rescaled units)',
      unit: 'rescaled units',
      titlePrefix: 'The paper, Phi-4 (digitized)',
    },
  );
  for (const f of figures) {
    f.name = `paper-${f.name}`;
    f.title = `The paper's ${f.title} (Phi-4, digitized)`;
  }
  return figures;
}

/** Cross-improvement figure of an `npm run cross` output directory. */
export function crossFigures(cross: CrossData): Figure[] {
  const data = crossData(cross);
  const arms = Object.entries(cross.summary.arms);
  const best = arms.slice().sort((a, b) => b[1].finalTestAccuracy - a[1].finalTestAccuracy)[0];
  return [
    {
      name: 'cross-improvement',
      title: 'Cross-improvement: external verification by allocation',
      caption:
        `Left: final test accuracy per allocation of the external-verification budget (mean over seeds, whiskers ± one sd; dashed: initial accuracy). ` +
        `Right: solver uncertainty per evaluation point (markers, mean over seeds) and the theory (lines): the shared-rate dynamics fitted to the arm without external help, ` +
        `with U_v ← U_v/(1 + γη_t) per round (Prop. 5.1 predicts the final solver depends on the total budget, hardly on its timing). ` +
        (best ? `Best arm: ${best[0]} at ${pct(best[1].finalTestAccuracy)}.` : ''),
      spec: crossSpec(data),
      tables: [
        {
          caption: `summary.json (budget M = ${cross.summary.budget}, γ = ${formatNumber(cross.summary.gamma)})`,
          header: [
            'arm',
            'seeds',
            'initial test acc.',
            'final test acc.',
            'sd',
            'final U_s',
            'predicted final U_s',
            'final U_v',
            'external queries',
          ],
          rows: arms.map(([arm, s]) => [
            arm,
            cross.runs[arm]?.length ?? 0,
            pct(s.initialTestAccuracy),
            pct(s.finalTestAccuracy),
            pct(s.finalTestAccuracySd),
            s.finalSolverUncertainty,
            s.predictedFinalSolverUncertainty,
            s.finalVerifierUncertainty,
            s.externalQueries,
          ]),
        },
      ],
    },
  ];
}

/** Render figures into `outDir` (SVG always, PNG at twice the SVG's size when asked) and write index.html. */
export async function writeFigures(
  figures: Figure[],
  outDir: string,
  page: { title: string; intro?: string; settings?: Table[]; formats?: FigureFormat[] },
): Promise<string> {
  const formats = page.formats ?? ['svg', 'png'];
  const rendered: RenderedFigure[] = [];
  for (const figure of figures) {
    const svg = await renderSvg(figure.spec);
    const files: string[] = [];
    if (formats.includes('svg')) {
      writeFileAtomic(join(outDir, `${figure.name}.svg`), svg);
      files.push(`${figure.name}.svg`);
    }
    if (formats.includes('png')) {
      writeFileAtomic(join(outDir, `${figure.name}.png`), renderPng(svg, 2 * svgWidth(svg)));
      files.push(`${figure.name}.png`);
    }
    writeFileAtomic(join(outDir, `${figure.name}.vl.json`), JSON.stringify(figure.spec, null, 1));
    files.push(`${figure.name}.vl.json`);
    rendered.push({ name: figure.name, title: figure.title, caption: figure.caption, svg, files, tables: figure.tables });
  }
  const index = join(outDir, 'index.html');
  writeFileAtomic(index, reportHtml({ title: page.title, intro: page.intro, figures: rendered, settings: page.settings }));
  return index;
}

/** Pixel width of a rendered SVG (its width attribute). */
export function svgWidth(svg: string): number {
  const match = /<svg[^>]*\swidth="([\d.]+)"/.exec(svg);
  if (!match) throw new Error('SVG has no width attribute');
  return Math.round(Number(match[1]));
}

/** The settings table of a run (run.json flattened), or nothing when the run has no run.json. */
export function settingsTables(runs: RunData[]): Table[] {
  return runs
    .filter((run) => run.info)
    .map((run) => ({ caption: `run.json: ${run.name}`, header: ['setting', 'value'], rows: flattenSettings(run.info) }));
}

/**
 * The report of one run directory (or of an `npm run cross` output directory), written to `runDir/report/`.
 * Called by the training loop at the end of a run. Returns the path of index.html.
 */
export async function writeRunReport(runDir: string, options: { formats?: FigureFormat[]; first?: number } = {}): Promise<string> {
  const outDir = join(runDir, 'report');
  if (isCrossDir(runDir)) {
    const cross = readCross(runDir);
    const armRuns = Object.values(cross.runs).flat();
    return writeFigures(crossFigures(cross), outDir, {
      title: `Cross-improvement report: ${runDir}`,
      settings: [
        {
          caption: 'summary.json',
          header: ['setting', 'value'],
          rows: flattenSettings({ budget: cross.summary.budget, gamma: cross.summary.gamma }),
        },
        ...settingsTables(armRuns.slice(0, 1)),
      ],
      formats: options.formats,
    });
  }
  const run = readRun(runDir);
  return writeFigures(runFigures([run], { first: options.first }), outDir, {
    title: `Self-improvement report: ${run.name}`,
    intro: run.info?.command ? `Command: ${run.info.command}` : undefined,
    settings: settingsTables([run]),
    formats: options.formats,
  });
}

export interface FigureSources {
  /** run directories, `npm run cross` output directories, or trajectory files (CSV/TSV/JSONL as `fit` reads them) */
  inputs: string[];
  /** the paper's digitized Figure 4 CSV */
  paperFig4?: string;
  first?: number;
  /** column names for trajectory files (see the theory module's readTrajectoryFile) */
  readOptions?: ReadOptions;
}

/** Every figure the given sources support, with the settings tables of the runs among them. */
export function figuresOf(sources: FigureSources): { figures: Figure[]; settings: Table[]; title: string } {
  const runs: RunData[] = [];
  const crosses: CrossData[] = [];
  const trajectories: { title: string; trajectory: Trajectory }[] = [];
  for (const input of sources.inputs) {
    if (!existsSync(input)) throw new Error(`${input}: no such file or directory`);
    if (statSync(input).isDirectory()) {
      if (isCrossDir(input)) crosses.push(readCross(input));
      else runs.push(readRun(input));
    } else {
      const table = readTrajectoryFile(input, sources.readOptions);
      const panels = Object.entries(table.panels);
      for (const [panel, trajectory] of panels) {
        trajectories.push({ title: panels.length === 1 ? basename(input) : `${basename(input)}: ${panel}`, trajectory });
      }
    }
  }
  const figures: Figure[] = [];
  if (runs.length > 0) figures.push(...runFigures(runs, { first: sources.first }));
  if (trajectories.length > 0) {
    const own = trajectoryFiguresOf(trajectories, { first: sources.first });
    // Names must not collide with the run figures when both kinds are given.
    if (runs.length > 0) for (const f of own) f.name = `${f.name}-files`;
    figures.push(...own);
  }
  crosses.forEach((cross, i) => {
    for (const f of crossFigures(cross))
      figures.push(crosses.length > 1 ? { ...f, name: `${f.name}-${i + 1}`, title: `${f.title} (${cross.dir})` } : f);
  });
  if (sources.paperFig4) figures.push(...paperFig4Figures(sources.paperFig4, { first: sources.first }));
  if (figures.length === 0) throw new Error('nothing to draw: give run directories, trajectory files or --paper-fig4 PATH');
  const onlyOneRun = runs.length === 1 && crosses.length === 0 && trajectories.length === 0 && !sources.paperFig4;
  const title = onlyOneRun ? `Self-improvement report: ${runs[0].name}` : 'svgap figures';
  return { figures, settings: settingsTables(runs), title };
}
