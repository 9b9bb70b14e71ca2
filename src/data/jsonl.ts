// Line-by-line JSONL reading with file:line errors (or skipping bad lines with a reported count).
import { readFileSync } from 'node:fs';

export interface SkippedLine {
  line: number;
  reason: string;
}

/** Thrown by a row parser to reject a line; readJsonl turns it into "file:line: reason". */
export class BadLine extends Error {}

/**
 * Parse every non-blank line of `path` as a JSON object and map it through `parseRow(obj, lineIndex)`.
 * lineIndex is 0-based (the `idx` of the problem). A malformed line throws `path:line: reason`
 * unless skipBadLines, in which case it is counted in `skipped`.
 */
export function readJsonl<T>(
  path: string,
  parseRow: (row: Record<string, unknown>, lineIndex: number) => T,
  skipBadLines = false,
): { items: T[]; skipped: SkippedLine[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read: ${code === 'EISDIR' ? 'a directory, not a .jsonl file' : (error as Error).message}`);
  }
  const lines = text.replace(/^\uFEFF/, '').split('\n'); // a byte-order mark some editors write is no part of the first line
  const items: T[] = [];
  const skipped: SkippedLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].replace(/\r$/, '');
    if (text.trim() === '') continue;
    try {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new BadLine(`invalid JSON (${(err as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BadLine(`expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
      }
      items.push(parseRow(value as Record<string, unknown>, i));
    } catch (err) {
      if (!(err instanceof BadLine)) throw err;
      if (!skipBadLines) throw new Error(`${path}:${i + 1}: ${err.message} (use --skip-bad-lines to skip such lines)`);
      skipped.push({ line: i + 1, reason: err.message });
    }
  }
  return { items, skipped };
}

/** Print how many lines were skipped (stderr), so a partial load is never silent. */
export function reportSkipped(path: string, skipped: SkippedLine[]): void {
  if (skipped.length === 0) return;
  const first = skipped[0];
  console.warn(`${path}: skipped ${skipped.length} malformed line(s); first at line ${first.line}: ${first.reason}`);
}

/** A string field (numbers are accepted and stringified, since custom answers are often numeric). */
export function stringField(row: Record<string, unknown>, field: string): string {
  const value = row[field];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value === undefined) throw new BadLine(`missing field "${field}" (fields: ${Object.keys(row).join(', ') || 'none'})`);
  throw new BadLine(`field "${field}" must be a string, got ${value === null ? 'null' : typeof value}`);
}
