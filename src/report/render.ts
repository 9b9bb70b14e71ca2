// Headless rendering: Vega-Lite spec -> SVG (vega, no browser) -> PNG (resvg).
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { loadFontMetrics, textWidth } from './textwidth.js';

export type { TopLevelSpec } from 'vega-lite';

// The font every spec asks for; resvg draws no text at all when no font matches, so we load it explicitly.
export const FONT_FAMILY = 'DejaVu Sans';
const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
  text?: unknown;
}
// vega-scenegraph's text measurer; documented as replaceable (vl-convert does the same), but not in vega's typings.
const vegaTextMetrics = (vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics;
let measuring = false;

/** Make vega lay out text with DejaVu's real advance widths (what resvg will draw), when the font is installed. */
function useFontMetrics(): void {
  if (measuring) return;
  measuring = true;
  const regular = loadFontMetrics(FONT_FILES[0]);
  const bold = loadFontMetrics(FONT_FILES[1]) ?? regular;
  if (!regular || !bold) return;
  vegaTextMetrics.width = (item: TextItem, text?: unknown): number => {
    const s = text == null ? '' : String(text).trim();
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const weight = item.fontWeight;
    const isBold = weight === 'bold' || weight === 'bolder' || (typeof weight === 'number' && weight >= 600);
    const width = textWidth(isBold ? bold : regular, s, size);
    // A limited label is truncated by vega to fit; its drawn width is then at most the limit.
    return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
  };
}

/** Compile a Vega-Lite spec and render it to an SVG string (vega's headless 'none' renderer). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  useFontMetrics();
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    // A NaN coordinate means a series had a non-finite value that slipped through; fail loudly, not with a blank line.
    const bad = /\s[a-z-]+="[^"]*NaN[^"]*"/i.exec(svg);
    if (bad) throw new Error(`renderSvg: non-finite coordinate in rendered SVG (${bad[0].trim().slice(0, 80)})`);
    return svg;
  } finally {
    view.finalize();
  }
}

/** Whether the bundled-with-the-OS font resvg needs for text is present (apt: fonts-dejavu-core). */
export function hasFigureFont(): boolean {
  return existsSync(FONT_FILES[0]);
}

let warnedNoFont = false;

/** Rasterise an SVG to PNG bytes at the given pixel width (height follows the aspect ratio). */
export function renderPng(svg: string, width: number): Buffer {
  return rasterise(svg, width).asPng();
}

/** Rasterise an SVG at the given pixel width: RGBA pixels plus size (what renderPng encodes). */
export function rasterise(svg: string, width: number): { width: number; height: number; pixels: Buffer; asPng: () => Buffer } {
  if (!Number.isInteger(width) || width <= 0) throw new Error(`renderPng: width must be a positive integer, got ${width}`);
  if (!hasFigureFont() && !warnedNoFont) {
    warnedNoFont = true;
    console.warn(`renderPng: ${FONT_FILES[0]} not found; PNG text may be missing (apt-get install fonts-dejavu-core)`);
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'width', value: width },
    background: 'white',
    font: {
      // DejaVu alone is deterministic and fast; scan the system only when it is missing.
      loadSystemFonts: !hasFigureFont(),
      fontFiles: FONT_FILES.filter((f) => existsSync(f)),
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  return resvg.render();
}

/** Width and height of a PNG, read from its IHDR chunk; throws if the bytes are not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || signature.some((b, i) => png[i] !== b) || png.toString('ascii', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG image');
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
