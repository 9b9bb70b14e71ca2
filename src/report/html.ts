// The one-page report: every figure inline (SVG), its tables, and the run's settings. No scripts, no external files.

export interface Table {
  caption: string;
  header: string[];
  rows: (string | number)[][];
}

export interface RenderedFigure {
  name: string;
  title: string;
  caption: string;
  svg: string;
  files: string[];
  tables: Table[];
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function cell(value: string | number): string {
  return escapeHtml(typeof value === 'number' ? formatNumber(value) : value);
}

/** Numbers for tables: 4 significant digits, exponent only for very small or large magnitudes. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'n/a' : x > 0 ? '∞' : '−∞';
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(3) : Number(x.toPrecision(4)).toString();
}

export function tableHtml(table: Table): string {
  const head = table.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = table.rows.map((row) => `<tr>${row.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`).join('\n');
  return `<table><caption>${escapeHtml(table.caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `
body { font-family: 'DejaVu Sans', system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9em; max-width: 60em; }
table { border-collapse: collapse; margin: 0.8em 1.5em 0.8em 0; font-size: 0.85em; display: inline-table; vertical-align: top; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
td { font-variant-numeric: tabular-nums; max-width: 50em; overflow-wrap: anywhere; }
.files a { margin-right: 1em; font-size: 0.85em; }
nav a { margin-right: 1em; }
`;

export function reportHtml(page: { title: string; intro?: string; figures: RenderedFigure[]; settings?: Table[] }): string {
  const nav = page.figures.map((f) => `<a href="#${f.name}">${escapeHtml(f.title)}</a>`).join('\n');
  const figures = page.figures
    .map(
      (f) => `<section id="${f.name}">
<h2>${escapeHtml(f.title)}</h2>
<figure>
${scopeSvgIds(stripXmlProlog(f.svg), f.name)}
<figcaption>${escapeHtml(f.caption)}</figcaption>
</figure>
<div class="files">${f.files.map((file) => `<a href="${encodeURI(file)}">${escapeHtml(file)}</a>`).join('')}</div>
${f.tables.map(tableHtml).join('\n')}
</section>`,
    )
    .join('\n');
  const settings = page.settings?.length
    ? `<section id="settings"><h2>Settings</h2>\n${page.settings.map(tableHtml).join('\n')}</section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.intro ? `<p>${escapeHtml(page.intro)}</p>` : ''}
<nav>${nav}${settings ? '\n<a href="#settings">Settings</a>' : ''}</nav>
${figures}
${settings}
</body>
</html>
`;
}

/** Several SVGs inlined in one page share one id namespace; prefix clip-path/gradient ids per figure. */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

function stripXmlProlog(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

/** Flatten nested settings (run.json) into key-path rows; arrays and long strings are shown as JSON. */
export function flattenSettings(value: unknown, prefix = ''): [string, string][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [[prefix || '(value)', typeof value === 'string' ? value : JSON.stringify(value)]];
  }
  const rows: [string, string][] = [];
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) rows.push(...flattenSettings(v, path));
    else rows.push([path, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return rows;
}
