// Reading trajectories from files: this project's metrics.jsonl, any CSV/JSONL with a time column and
// two uncertainty columns (e.g. exported from a PyTorch run), or the long format panel,series,time,value
// (the paper's digitised Figure 4). Every problem is an error naming the file, line and column.

import { readFileSync } from 'node:fs';
import type { Trajectory } from './fit.js';

export interface ReadOptions {
  /** time column; default: the first of t, epoch, round, step that exists */
  timeCol?: string;
  /** wide format: solver/verifier uncertainty columns (defaults: this project's metrics.jsonl names) */
  solverCol?: string;
  verifierCol?: string;
  /** wide format: optional measured-gap column (default 'gap' when present) */
  gapCol?: string;
  /** long format: the value column (default 'value') */
  valueCol?: string;
  /** panel column (default 'panel'); absent → one panel named 'default' */
  panelCol?: string;
  /** long format: series column (default 'series'; values solver, verifier, gap) */
  seriesCol?: string;
}

export interface TrajectoryTable {
  format: 'wide' | 'long';
  timeCol: string;
  panels: Record<string, Trajectory>;
}

export const DEFAULT_COLUMNS = {
  time: ['t', 'epoch', 'round', 'step'],
  solver: 'solverUncertainty',
  verifier: 'verifierUncertainty',
  gap: 'gap',
  value: 'value',
  panel: 'panel',
  series: 'series',
};

type Cell = unknown;
interface Row {
  line: number;
  cells: Record<string, Cell>;
}

/** Split one CSV line, honouring double quotes ("" inside quotes is a literal quote). */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out.map((f) => f.trim());
}

function parseCsv(text: string, source: string): { columns: string[]; rows: Row[] } {
  const lines = text.split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new Error(`${source}: file is empty`);
  const headerLine = lines[headerIndex];
  const delimiter = headerLine.includes('\t') && !headerLine.includes(',') ? '\t' : ',';
  const columns = splitCsvLine(headerLine, delimiter);
  columns.forEach((c, i) => {
    if (c === '') throw new Error(`${source}:${headerIndex + 1}: header column ${i + 1} is empty`);
    if (columns.indexOf(c) !== i) throw new Error(`${source}:${headerIndex + 1}: header repeats column '${c}'`);
  });
  const rows: Row[] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const fields = splitCsvLine(lines[i], delimiter);
    if (fields.length !== columns.length) throw new Error(`${source}:${i + 1}: ${fields.length} fields, the header has ${columns.length}`);
    const cells: Record<string, Cell> = {};
    columns.forEach((c, j) => (cells[c] = fields[j]));
    rows.push({ line: i + 1, cells });
  }
  return { columns, rows };
}

function parseJsonl(text: string, source: string): { columns: string[]; rows: Row[] } {
  const rows: Row[] = [];
  const columns = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error(`${source}:${i + 1}: expected one JSON object per line`);
    const cells = value as Record<string, Cell>;
    Object.keys(cells).forEach((k) => columns.add(k));
    rows.push({ line: i + 1, cells });
  });
  return { columns: [...columns], rows };
}

function toNumber(row: Row, column: string, source: string): number {
  const raw = row.cells[column];
  if (raw === undefined) throw new Error(`${source}:${row.line}: column '${column}' is missing`);
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(value)) throw new Error(`${source}:${row.line}: column '${column}' has ${JSON.stringify(raw)}, not a finite number`);
  return value;
}

function toLabel(row: Row, column: string, source: string): string {
  const raw = row.cells[column];
  if (raw === undefined || raw === null || String(raw).trim() === '') throw new Error(`${source}:${row.line}: column '${column}' is empty`);
  return String(raw).trim();
}

function requireColumn(columns: string[], name: string, what: string, flag: string, source: string): void {
  if (!columns.includes(name)) throw new Error(`${source}: no ${what} column '${name}' (pass ${flag}); columns are: ${columns.join(', ')}`);
}

/** Parse trajectories from file text. `source` names the file in error messages; JSONL if it ends in .jsonl/.ndjson or the text starts with '{'. */
export function parseTrajectoryText(text: string, source: string, options: ReadOptions = {}): TrajectoryTable {
  const isJsonl = /\.(jsonl|ndjson)$/i.test(source) || text.trimStart().startsWith('{');
  const { columns, rows } = isJsonl ? parseJsonl(text, source) : parseCsv(text, source);
  if (rows.length === 0) throw new Error(`${source}: no data rows`);

  let timeCol = options.timeCol;
  if (timeCol !== undefined) requireColumn(columns, timeCol, 'time', '--time-col', source);
  else {
    timeCol = DEFAULT_COLUMNS.time.find((c) => columns.includes(c));
    if (!timeCol)
      throw new Error(
        `${source}: no time column (looked for ${DEFAULT_COLUMNS.time.join(', ')}; pass --time-col); columns are: ${columns.join(', ')}`,
      );
  }
  const panelCol = options.panelCol ?? DEFAULT_COLUMNS.panel;
  if (options.panelCol !== undefined) requireColumn(columns, panelCol, 'panel', '--panel-col', source);
  const hasPanel = columns.includes(panelCol);
  const seriesCol = options.seriesCol ?? DEFAULT_COLUMNS.series;
  if (options.seriesCol !== undefined) requireColumn(columns, seriesCol, 'series', '--series-col', source);
  const long = columns.includes(seriesCol);
  if (options.valueCol !== undefined && !long)
    throw new Error(
      `${source}: --value-col is for the long format, which needs a '${seriesCol}' column; columns are: ${columns.join(', ')}`,
    );

  // collect (t, value, line) per panel and series, in file order
  type Points = { t: number[]; y: number[]; lines: number[] };
  const panels = new Map<string, Map<string, Points>>();
  const add = (panel: string, series: string, t: number, y: number, line: number) => {
    if (!panels.has(panel)) panels.set(panel, new Map());
    const bySeries = panels.get(panel)!;
    if (!bySeries.has(series)) bySeries.set(series, { t: [], y: [], lines: [] });
    const p = bySeries.get(series)!;
    const prev = p.t[p.t.length - 1];
    if (prev !== undefined && !(t > prev))
      throw new Error(
        `${source}:${line}: time ${t} in column '${timeCol}' does not increase (previous ${prev} on line ${p.lines[p.lines.length - 1]}) for panel '${panel}' series '${series}'`,
      );
    p.t.push(t);
    p.y.push(y);
    p.lines.push(line);
  };

  if (long) {
    const valueCol = options.valueCol ?? DEFAULT_COLUMNS.value;
    requireColumn(columns, valueCol, 'value', '--value-col', source);
    for (const row of rows) {
      const series = toLabel(row, seriesCol, source).toLowerCase();
      if (series !== 'solver' && series !== 'verifier' && series !== 'gap')
        throw new Error(`${source}:${row.line}: column '${seriesCol}' has '${series}'; expected solver, verifier or gap`);
      const panel = hasPanel ? toLabel(row, panelCol, source) : 'default';
      add(panel, series, toNumber(row, timeCol, source), toNumber(row, valueCol, source), row.line);
    }
  } else {
    const solverCol = options.solverCol ?? DEFAULT_COLUMNS.solver;
    const verifierCol = options.verifierCol ?? DEFAULT_COLUMNS.verifier;
    requireColumn(columns, solverCol, 'solver', '--solver-col', source);
    requireColumn(columns, verifierCol, 'verifier', '--verifier-col', source);
    if (options.gapCol !== undefined) requireColumn(columns, options.gapCol, 'gap', '--gap-col', source);
    const gapCol = options.gapCol ?? (columns.includes(DEFAULT_COLUMNS.gap) ? DEFAULT_COLUMNS.gap : undefined);
    for (const row of rows) {
      const panel = hasPanel ? toLabel(row, panelCol, source) : 'default';
      const t = toNumber(row, timeCol, source);
      add(panel, 'solver', t, toNumber(row, solverCol, source), row.line);
      add(panel, 'verifier', t, toNumber(row, verifierCol, source), row.line);
      if (gapCol) add(panel, 'gap', t, toNumber(row, gapCol, source), row.line);
    }
  }

  const out: Record<string, Trajectory> = {};
  for (const [panel, bySeries] of panels) {
    const solver = bySeries.get('solver');
    const verifier = bySeries.get('verifier');
    if (!solver || !verifier) throw new Error(`${source}: panel '${panel}' needs both a solver and a verifier series`);
    const sameTimes = (a: Points, name: string) => {
      if (a.t.length !== solver.t.length || a.t.some((t, i) => t !== solver.t[i]))
        throw new Error(
          `${source}: panel '${panel}': the ${name} series has times ${a.t.join(',')} but the solver series has ${solver.t.join(',')}`,
        );
    };
    sameTimes(verifier, 'verifier');
    const gap = bySeries.get('gap');
    if (gap) sameTimes(gap, 'gap');
    out[panel] = { t: solver.t, solver: solver.y, verifier: verifier.y, ...(gap ? { gap: gap.y } : {}) };
  }
  return { format: long ? 'long' : 'wide', timeCol, panels: out };
}

/** Read trajectories from a CSV/TSV/JSONL file (see parseTrajectoryText). */
export function readTrajectoryFile(path: string, options: ReadOptions = {}): TrajectoryTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseTrajectoryText(text, path, options);
}
