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

// A fraction a/b, a number with thousands separators, or a plain/decimal number (optionally negative).
const NUMBER_PATTERN = /-?\d+\/\d+|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+/g;

/** The last number-like token in free text, or null. */
export function lastNumber(text: string): string | null {
  const matches = text.match(NUMBER_PATTERN);
  return matches ? matches[matches.length - 1] : null;
}

/** Final answer of a worked solution or a model output: text after the last '####', else last \boxed{}, else last number. */
export function extractAnswer(text: string): string | null {
  const hash = text.lastIndexOf('####');
  if (hash >= 0) {
    const rest = text.slice(hash + 4).split('\n')[0].trim();
    if (rest !== '') return rest;
  }
  const boxed = lastBoxed(text);
  if (boxed !== null && boxed !== '') return boxed;
  return lastNumber(text);
}

/** Canonical string form of an answer (LaTeX spacing, units, $, %, degrees, \text, dfrac, thousands commas removed). */
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
  // Units after a value: "5 \text{ cm}", "12\mbox{ inches}" -> "5", "12".
  s = s.replace(/^(.*[\d}])\s*\\(?:text|mbox|textrm|mathrm)\{\s*[A-Za-z][A-Za-z .]*\}\s*$/, '$1');
  s = s.replace(/\\(?:text|mbox|textrm|mathrm|textbf|mathbf)\{([^{}]*)\}/g, '$1');
  s = s.trim().replace(/\.+$/, '').trim(); // trailing full stop of a sentence
  // Plain words after a number: "5 apples", "18 dollars" -> the number.
  const unit = /^(-?[\d.,/]*\d)\s+[A-Za-z]{2,}[A-Za-z ]*$/.exec(s);
  if (unit) s = unit[1];
  // "x = 5", "k=3" -> "5" (a short left-hand side only, like Hendrycks).
  const eq = /^([^=]{1,2})=(.+)$/.exec(s);
  if (eq && !/\d/.test(eq[1])) s = eq[2];
  s = s.replace(/\s+/g, '');
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  s = s.replace(/\\sqrt(\w)/g, '\\sqrt{$1}');
  s = s.replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}').replace(/\\frac(\d)\{/g, '\\frac{$1}{').replace(/\\frac\{([^{}]*)\}(\d)/g, '\\frac{$1}{$2}');
  s = s.replace(/(^|[^\d])\.(\d)/g, (_m, before: string, digit: string) => `${before}0.${digit}`); // ".5" -> "0.5"
  return s;
}

/** The value of a normalised answer that is a plain number, decimal, a/b or \frac{a}{b}; null otherwise. */
export function parseNumber(normalized: string): number | null {
  const s = normalized;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  let m = /^(-?)(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(s);
  if (!m) m = /^(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$/.exec(s);
  if (m) {
    const den = Number(m[3]);
    if (den === 0) return null;
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) / den);
  }
  return null;
}

/** Equal after normalisation, or both numbers within 1e-6 relative tolerance. null never equals anything. */
export function answersEqual(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  const na = normalizeAnswer(a);
  const nb = normalizeAnswer(b);
  if (na === '' || nb === '') return false;
  if (na === nb) return true;
  const x = parseNumber(na);
  const y = parseNumber(nb);
  if (x === null || y === null) return false;
  return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(x), Math.abs(y));
}

/** Extract the final answer from a model output and compare it with the reference final answer. */
export function isCorrect(prediction: string, reference: string): boolean {
  return answersEqual(extractAnswer(prediction), reference);
}
