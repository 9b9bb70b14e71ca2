// Final-answer extraction ("#### n", last \boxed{}, else last number) and answer equivalence.
// Normalisation follows Hendrycks et al.'s MATH `strip_string`, plus numeric comparison of plain numbers and fractions.

/** Content of the last \boxed{...} (or \fbox{...}) with nested braces; `\boxed 5` without braces too. */
export function lastBoxed(text: string): string | null {
  const start = Math.max(text.lastIndexOf('\\boxed'), text.lastIndexOf('\\fbox'));
  if (start < 0) return null;
  let i = start + (text.startsWith('\\boxed', start) ? 6 : 5);
  if (text[i] === ' ') {
    // `\boxed 5`: the argument runs to the next space or `$`.
    const m = /^ +([^\s$]+)/.exec(text.slice(i));
    return m ? m[1] : null;
  }
  if (text[i] !== '{') return null;
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    if (text[j] === '{') depth++;
    else if (text[j] === '}' && --depth === 0) return text.slice(i + 1, j).trim();
  }
  return null; // unbalanced braces
}

// A fraction a/b, a number with thousands separators (commas, or spaces as in "1 000"), or a plain/decimal number in
// plain or scientific notation (1e6), optionally negative with '-' or a Unicode minus.
const NUMBER_PATTERN =
  /[-\u2212]?\d+\/\d+|[-\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-\u2212]?\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?:\.\d+)?(?!\d)|[-\u2212]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[-\u2212]?\.\d+/g;

/** The last number-like token in free text, or null. */
export function lastNumber(text: string): string | null {
  const matches = text.match(NUMBER_PATTERN);
  return matches ? matches[matches.length - 1] : null;
}

/** Final answer of a worked solution or a model output: text after the last '####', else last \boxed{}, else last number. */
export function extractAnswer(text: string): string | null {
  const hash = text.lastIndexOf('####');
  if (hash >= 0) {
    const rest = text
      .slice(hash + 4)
      .split('\n')[0]
      .trim();
    if (rest !== '') return rest;
  }
  const boxed = lastBoxed(text);
  if (boxed !== null && boxed !== '') return boxed;
  return lastNumber(text);
}

// Units glued to a value ("5m", "12cm") or after it ("5 meters" is caught by the words rule). Single letters other than
// m and g are left alone: "5x" is an expression, not 5.
const UNITS = new Set([
  'm',
  'g',
  'mm',
  'cm',
  'km',
  'in',
  'inch',
  'inches',
  'ft',
  'feet',
  'yd',
  'mi',
  'kg',
  'mg',
  'lb',
  'lbs',
  'oz',
  'ml',
  'sec',
  'min',
  'hr',
  'hrs',
  'mph',
  'kph',
  'cents',
]);

/** `s` without its trailing full stops (a loop: /\.+$/ backtracks quadratically on a long run of dots). */
function dropTrailingDots(s: string): string {
  let end = s.length;
  while (end > 0 && s[end - 1] === '.') end--;
  return s.slice(0, end).trim();
}

/** "5 \text{ cm}", "12\mbox{ inches}", "10\text{ cm}^2" -> "5", "12", "10" (Hendrycks' _remove_right_units). */
function dropTextUnit(s: string): string {
  const at = s.lastIndexOf('\\');
  const unit = /^\\(?:text|mbox|textrm|mathrm)\{\s*[A-Za-z][A-Za-z .]*\}\s*(?:\^\{?\d\}?)?\s*$/.exec(s.slice(at));
  const before = s.slice(0, at).trimEnd();
  return unit && /[\d}]$/.test(before) ? before : s;
}

/** Canonical string form of an answer (LaTeX spacing, units, $, %, degrees, \text, dfrac, thousands separators removed). */
export function normalizeAnswer(answer: string): string {
  let s = answer.trim().replace(/\n/g, ' ');
  s = s.replace(/\u2212/g, '-'); // unicode minus
  s = s.replace(/\\!/g, '');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\\(?:left|right)(?![A-Za-z])/g, ''); // \left( \right) but not \rightarrow
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°/g, ''); // degrees
  s = s.replace(/\\\$|\$/g, '');
  s = s.replace(/\\%|%/g, '');
  s = s.replace(/\{,\}/g, ','); // 1{,}000
  s = s.replace(/(?<!\\)\\[,;: ]/g, ' '); // thin spaces (not a \\ row break followed by a space)
  s = dropTextUnit(s);
  s = s.replace(/\\(?:text|mbox|textrm|mathrm|textbf|mathbf)\{([^{}]*)\}/g, '$1');
  s = dropTrailingDots(s.trim()); // trailing full stop of a sentence
  // Plain words after a number: "5 apples", "18 dollars" -> the number.
  const unit = /^(-?[\d.,/]*\d)\s+[A-Za-z]{2,}[A-Za-z ]*$/.exec(s);
  if (unit) s = unit[1];
  // "x = 5", "k=3" -> "5" (a short left-hand side only, like Hendrycks).
  const eq = /^([^=]{1,2})=(.+)$/.exec(s);
  if (eq && !/\d/.test(eq[1])) s = eq[2];
  s = s.replace(/\s+/g, '');
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  const glued = /^(-?[\d.]*\d)([a-z]+)$/.exec(s); // "5m", "12cm"
  if (glued && UNITS.has(glued[2])) s = glued[1];
  s = s.replace(/^\(([A-E])\)$/, '$1'); // a multiple-choice letter: "(B)", "\text{(B)}" -> "B"
  s = s.replace(/([\^_])\{([A-Za-z0-9])\}/g, '$1$2'); // x^{2} -> x^2, a_{1} -> a_1
  s = s.replace(/\\sqrt(\w)/g, '\\sqrt{$1}');
  s = s
    .replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac(\d)\{/g, '\\frac{$1}{')
    .replace(/\\frac\{([^{}]*)\}(\d)/g, '\\frac{$1}{$2}');
  s = s.replace(/(^|[^\d])\.(\d)/g, (_m, before: string, digit: string) => `${before}0.${digit}`); // ".5" -> "0.5"
  return s;
}

/** An exact rational number: numerator / denominator, denominator > 0. */
interface Rational {
  num: bigint;
  den: bigint;
}

const DECIMAL = '-?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?';
const PLAIN_NUMBER = new RegExp(`^${DECIMAL}$`, 'i');
const SLASH_FRACTION = new RegExp(`^(-?)(${DECIMAL})/(${DECIMAL})$`, 'i');
const LATEX_FRACTION = new RegExp(`^(-?)\\\\frac\\{(${DECIMAL})\\}\\{(${DECIMAL})\\}$`, 'i');
const MAX_DIGITS = 1000; // longer "numbers" (and exponents beyond ±MAX_DIGITS) are compared as strings only

/** "-12.5e3" as an exact rational, or null when it is too long to be an answer. */
function decimalRational(text: string): Rational | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([-+]?\d+))?$/i.exec(text)!;
  const [, sign, whole, fraction = '', exponentText = '0'] = m;
  const exponent = Number(exponentText) - fraction.length;
  if (whole.length + fraction.length > MAX_DIGITS || Math.abs(exponent) > MAX_DIGITS) return null;
  const digits = BigInt(whole + fraction) * (sign === '-' ? -1n : 1n);
  return exponent >= 0 ? { num: digits * 10n ** BigInt(exponent), den: 1n } : { num: digits, den: 10n ** BigInt(-exponent) };
}

/** The exact value of a normalised answer that is a plain number (decimal, 1e6), a/b or \frac{a}{b}; null otherwise. */
function exactNumber(normalized: string): Rational | null {
  if (PLAIN_NUMBER.test(normalized)) return decimalRational(normalized);
  const m = SLASH_FRACTION.exec(normalized) ?? LATEX_FRACTION.exec(normalized);
  if (!m) return null;
  const top = decimalRational(m[2]);
  const bottom = decimalRational(m[3]);
  if (top === null || bottom === null || bottom.num === 0n) return null;
  const sign = (m[1] === '-' ? -1n : 1n) * (bottom.num < 0n ? -1n : 1n);
  const num = sign * top.num * bottom.den;
  const den = top.den * (bottom.num < 0n ? -bottom.num : bottom.num);
  return { num, den };
}

/** The value of a normalised answer that is a plain number, decimal, a/b or \frac{a}{b} (as a double); null otherwise. */
export function parseNumber(normalized: string): number | null {
  const exact = exactNumber(normalized);
  return exact === null ? null : Number(exact.num) / Number(exact.den);
}

/**
 * Equal after normalisation, or both the same number exactly (as rationals, so 0.5 = \frac{1}{2} = 1/2 like the MATH
 * grader's strip_string, while 1000000 ≠ 999999 and 0.3333 ≠ 1/3). null never equals anything.
 */
export function answersEqual(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  const na = normalizeAnswer(a);
  const nb = normalizeAnswer(b);
  if (na === '' || nb === '') return false;
  if (na === nb) return true;
  const x = exactNumber(na);
  const y = exactNumber(nb);
  return x !== null && y !== null && x.num * y.den === y.num * x.den;
}

/** Extract the final answer from a model output and compare it with the reference final answer. */
export function isCorrect(prediction: string, reference: string): boolean {
  return answersEqual(extractAnswer(prediction), reference);
}
