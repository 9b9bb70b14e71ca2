// Text widths from the font's own advance widths. Without a canvas, vega guesses 0.8 em per character, which
// truncates legend labels and leaves wide gaps; measuring with the font resvg draws with keeps layout and pixels in step.
import { existsSync, readFileSync } from 'node:fs';

export interface FontMetrics {
  unitsPerEm: number;
  /** Advance width (font units) of a code point, or undefined when the font has no glyph for it. */
  advance: (codePoint: number) => number | undefined;
}

/** Parse the advance widths of a TrueType font (tables head, hhea, hmtx and a format-4 cmap). */
export function parseTrueType(font: Buffer): FontMetrics {
  const tables = new Map<string, number>();
  const numTables = font.readUInt16BE(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    tables.set(font.toString('ascii', rec, rec + 4), font.readUInt32BE(rec + 8));
  }
  const need = (tag: string): number => {
    const offset = tables.get(tag);
    if (offset === undefined) throw new Error(`font has no '${tag}' table`);
    return offset;
  };
  const unitsPerEm = font.readUInt16BE(need('head') + 18);
  const numberOfHMetrics = font.readUInt16BE(need('hhea') + 34);
  const hmtx = need('hmtx');
  const advanceOfGlyph = (glyph: number): number => font.readUInt16BE(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1));

  // cmap: Windows Unicode BMP subtable (platform 3, encoding 1), format 4 segment mapping.
  const cmap = need('cmap');
  let sub = -1;
  for (let i = 0; i < font.readUInt16BE(cmap + 2); i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = font.readUInt16BE(rec);
    const encoding = font.readUInt16BE(rec + 2);
    const offset = cmap + font.readUInt32BE(rec + 4);
    if ((platform === 3 && encoding === 1) || (platform === 0 && sub < 0)) {
      if (font.readUInt16BE(offset) === 4) sub = offset;
    }
  }
  if (sub < 0) throw new Error('font has no format-4 Unicode cmap');
  const segCount = font.readUInt16BE(sub + 6) / 2;
  const endCodes = sub + 14;
  const startCodes = endCodes + 2 * segCount + 2;
  const idDeltas = startCodes + 2 * segCount;
  const idRangeOffsets = idDeltas + 2 * segCount;
  const glyphOf = (cp: number): number => {
    if (cp > 0xffff) return 0;
    for (let s = 0; s < segCount; s++) {
      if (cp > font.readUInt16BE(endCodes + 2 * s)) continue;
      const start = font.readUInt16BE(startCodes + 2 * s);
      if (cp < start) return 0;
      const delta = font.readInt16BE(idDeltas + 2 * s);
      const rangeOffsetAt = idRangeOffsets + 2 * s;
      const rangeOffset = font.readUInt16BE(rangeOffsetAt);
      if (rangeOffset === 0) return (cp + delta) & 0xffff;
      const glyph = font.readUInt16BE(rangeOffsetAt + rangeOffset + 2 * (cp - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number | undefined>();
  const advance = (cp: number): number | undefined => {
    if (!cache.has(cp)) {
      const glyph = glyphOf(cp);
      cache.set(cp, glyph === 0 ? undefined : advanceOfGlyph(glyph));
    }
    return cache.get(cp);
  };
  return { unitsPerEm, advance };
}

/** Width in pixels of `text` at `fontSize`; unknown glyphs count as 0.6 em. Kerning is ignored (a few % at most). */
export function textWidth(metrics: FontMetrics, text: string, fontSize: number): number {
  let units = 0;
  for (const ch of text) units += metrics.advance(ch.codePointAt(0) ?? 0) ?? 0.6 * metrics.unitsPerEm;
  return (units / metrics.unitsPerEm) * fontSize;
}

const loaded = new Map<string, FontMetrics | null>();

/** Metrics of a font file, parsed once; null when the file is absent or unreadable. */
export function loadFontMetrics(file: string): FontMetrics | null {
  if (!loaded.has(file)) {
    let metrics: FontMetrics | null = null;
    if (existsSync(file)) {
      try {
        metrics = parseTrueType(readFileSync(file));
      } catch {
        metrics = null;
      }
    }
    loaded.set(file, metrics);
  }
  return loaded.get(file) ?? null;
}
