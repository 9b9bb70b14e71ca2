// The paper's Figure 4 reproduced (scripts/reproduce_paper.sh): each panel's run (GSM8K/MATH × TF/QE verifier) beside
// the paper's digitised Phi-4 points, both fitted with this project's shared-rate law, and a table of the two fits.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../io.js';
import { formatFitFlags, type SharedRateFit, type Trajectory } from '../theory/index.js';
import { readRun } from './data.js';
import { uncertaintyFitSpec } from './figures.js';
import { formatNumber, type Table } from './html.js';
import { PAPER_PANEL_TITLES, fittedPanel, readPaperFig4, writeFigures, type Figure, type FigureFormat } from './index.js';
import { trajectoryOf } from './prepare.js';

/** The paper's Figure 4 panels, named as in the digitised CSV: `<dataset>_<verifier>`. */
export const PAPER_PANELS = ['gsm8k_tf', 'gsm8k_qe', 'math_tf', 'math_qe'] as const;

/** What a (re-)invocation does with a panel's run directory: start it, continue it (--resume), or leave it. */
export type RunStatus = 'new' | 'resume' | 'done';

/** `done` once run.json says the run finished with at least `rounds` rounds; `resume` when it was started; else `new`. */
export function runStatus(runDir: string, rounds: number): RunStatus {
  const runJson = join(runDir, 'run.json');
  if (!existsSync(runJson)) return 'new';
  const info = readJsonFile(runJson) as { finishedAt?: string; options?: { rounds?: number } };
  // run.json is rewritten without finishedAt when a run (re)starts, so its presence means the last start completed
  return info.finishedAt !== undefined && (info.options?.rounds ?? 0) >= rounds ? 'done' : 'resume';
}

/** The numbers of one shared-rate fit the table compares (null where there is no fit). */
export interface FitSummary {
  points: number;
  r2: { solver: number | null; verifier: number | null; gap: number | null };
  limits: { solver: number | null; verifier: number | null };
  rate: number | null;
  flags: string[];
  error?: string;
}

export interface PanelComparison {
  panel: string;
  title: string;
  runDir: string;
  run: FitSummary;
  paper: FitSummary;
}

function summaryOf(trajectory: Trajectory, fit: SharedRateFit | null, error?: string): FitSummary {
  const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null); // JSON has no NaN
  return {
    points: trajectory.t.length,
    r2: { solver: finite(fit?.r2.solver), verifier: finite(fit?.r2.verifier), gap: finite(fit?.r2.gap) },
    limits: { solver: finite(fit?.limits.solver.value), verifier: finite(fit?.limits.verifier.value) },
    rate: finite(fit?.rate.value),
    flags: [...new Set(fit?.flags.map((f) => f.code) ?? [])],
    ...(error ? { error } : {}),
  };
}

/** One panel: its figure (the run and the paper side by side, each with its fit) and the row of the table. */
export function comparePanel(panel: string, runDir: string, paper: Trajectory): { figure: Figure; row: PanelComparison } {
  const title = PAPER_PANEL_TITLES[panel] ?? panel;
  const trajectory = trajectoryOf(readRun(runDir).metrics);
  const ours = fittedPanel(`this run, ${basename(runDir)} (nats per response)`, trajectory);
  const theirs = fittedPanel('the paper, Phi-4, digitised (rescaled units)', paper);
  const row: PanelComparison = {
    panel,
    title,
    runDir,
    run: summaryOf(trajectory, ours.fit, ours.error),
    paper: summaryOf(paper, theirs.fit, theirs.error),
  };
  const flagText = (fit: SharedRateFit | null) => (fit?.flags.length ? ` (${formatFitFlags(fit.flags)})` : '');
  const figure: Figure = {
    name: `paper-${panel}`,
    title: `Figure 4, ${title}: this run beside the paper`,
    caption:
      `Left: U_s (mean NLL of the sampled responses), U_v (mean NLL of the picks) and G = U_s − U_v of the run in ${runDir}, in nats per response; ` +
      `right: the paper's Phi-4 panel as digitised, in the digitisation's rescaled units (its limits are not in nats, its rate r is per epoch as ours). ` +
      `Lines: the shared-rate fit of Prop. 3.1 of each, R² in the legends.${flagText(ours.fit)}`,
    spec: uncertaintyFitSpec([ours.panel, theirs.panel], {
      title: `${title}: this run and the paper's Figure 4 (Phi-4)`,
      yTitle: 'uncertainty',
    }),
    tables: [ours.table, theirs.table],
  };
  return { figure, row };
}

const show = (x: number | null) => (x === null ? 'n/a' : formatNumber(x));
const r2Of = (s: FitSummary) => `${show(s.r2.solver)} / ${show(s.r2.verifier)} / ${show(s.r2.gap)}`;

/** The comparison as a table: R² (U_s / U_v / G) and the fitted limits and rate of each run next to the paper's. */
export function comparisonTable(rows: PanelComparison[]): Table {
  return {
    caption:
      "Shared-rate fits (Prop. 3.1): each run next to the paper's digitised Figure 4 panel (the paper's limits are in its rescaled units)",
    header: [
      'panel',
      'points',
      'R² U_s / U_v / G',
      'U_s∞',
      'U_v∞',
      'r (1/epoch)',
      'paper points',
      'paper R² U_s / U_v / G',
      'paper U_s∞',
      'paper U_v∞',
      'paper r (1/epoch)',
      'flags',
    ],
    rows: rows.map((c) => [
      c.title,
      c.run.points,
      r2Of(c.run),
      show(c.run.limits.solver),
      show(c.run.limits.verifier),
      show(c.run.rate),
      c.paper.points,
      r2Of(c.paper),
      show(c.paper.limits.solver),
      show(c.paper.limits.verifier),
      show(c.paper.rate),
      [
        ...c.run.flags.map((f) => `run: ${f}`),
        ...c.paper.flags.map((f) => `paper: ${f}`),
        ...[c.run.error, c.paper.error].filter(Boolean),
      ].join('; '),
    ]),
  };
}

/** A table as GitHub markdown (caption as a paragraph above it). */
export function markdownTable(table: Table): string {
  const cell = (v: string | number) =>
    String(typeof v === 'number' ? formatNumber(v) : v)
      .replace(/\|/g, '\\|')
      .replace(/\n/g, ' ');
  const line = (cells: (string | number)[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [table.caption, '', line(table.header), line(table.header.map(() => '---')), ...table.rows.map(line), ''].join('\n');
}

export interface PaperComparisonOptions {
  /** directory holding one run directory per panel (runsDir/gsm8k_tf, ...) */
  runsDir: string;
  /** the paper's digitised Figure 4 CSV */
  paperFig4: string;
  panels?: readonly string[];
  out: string;
  formats?: FigureFormat[];
}

/** Figures (one per panel) + index.html, and the table as paper-table.md and paper-table.json, in `out`. */
export async function writePaperComparison(
  options: PaperComparisonOptions,
): Promise<{ index: string; markdown: string; json: string; rows: PanelComparison[] }> {
  const paper = readPaperFig4(options.paperFig4);
  const panels = options.panels ?? PAPER_PANELS;
  const figures: Figure[] = [];
  const rows: PanelComparison[] = [];
  for (const panel of panels) {
    if (!paper[panel]) throw new Error(`${options.paperFig4}: no panel '${panel}' (it has ${Object.keys(paper).join(', ')})`);
    const { figure, row } = comparePanel(panel, join(options.runsDir, panel), paper[panel]);
    figures.push(figure);
    rows.push(row);
  }
  const table = comparisonTable(rows);
  const index = await writeFigures(figures, options.out, {
    title: "The paper's Figure 4 reproduced",
    intro: `Runs in ${options.runsDir}; the paper's points from ${options.paperFig4}.`,
    settings: [table],
    formats: options.formats,
  });
  const markdown = join(options.out, 'paper-table.md');
  const json = join(options.out, 'paper-table.json');
  writeFileAtomic(markdown, markdownTable(table));
  writeFileAtomic(json, JSON.stringify({ runsDir: options.runsDir, paperFig4: options.paperFig4, panels: rows }, null, 2) + '\n');
  return { index, markdown, json, rows };
}
