// Small dense numerics for the theory module: least squares by Householder QR, a bounded
// Levenberg–Marquardt, 1-D and 2-D minimisers, Student-t quantiles and a seeded RNG.
// Problems here have at most ~10 parameters and a few hundred residuals, so plain arrays suffice.

/** Least squares min ||A x − y|| by Householder QR. A is row-major (m rows × n cols), m ≥ n. */
export function leastSquares(A: number[][], y: number[]): { x: number[]; rss: number; R: number[][] } {
  const m = A.length;
  const n = m > 0 ? A[0].length : 0;
  if (m < n) throw new Error(`leastSquares: ${m} rows < ${n} columns`);
  const a = A.map((row) => row.slice());
  const b = y.slice();
  for (let j = 0; j < n; j++) {
    let norm = 0;
    for (let i = j; i < m; i++) norm += a[i][j] * a[i][j];
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const alpha = a[j][j] > 0 ? -norm : norm;
    // v = x − alpha e1, stored in place below the diagonal
    const v: number[] = new Array(m - j);
    for (let i = j; i < m; i++) v[i - j] = a[i][j];
    v[0] -= alpha;
    let vv = 0;
    for (const vi of v) vv += vi * vi;
    if (vv === 0) continue;
    for (let c = j; c < n; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * a[i][c];
      const f = (2 * dot) / vv;
      for (let i = j; i < m; i++) a[i][c] -= f * v[i - j];
    }
    let dot = 0;
    for (let i = j; i < m; i++) dot += v[i - j] * b[i];
    const f = (2 * dot) / vv;
    for (let i = j; i < m; i++) b[i] -= f * v[i - j];
  }
  const R = a.slice(0, n).map((row) => row.slice(0, n));
  const x = solveUpper(R, b.slice(0, n));
  let rss = 0;
  for (let i = n; i < m; i++) rss += b[i] * b[i];
  return { x, rss, R };
}

/**
 * Least squares for a tall basis given as columns, several right-hand sides sharing one factorisation: modified
 * Gram–Schmidt with one reorthogonalisation ("twice is enough"), residuals formed by projection (Björck), so O(n·k²)
 * on typed arrays. What the fits' variable projection calls once per trial rate, so 10⁵ points cost milliseconds.
 */
export function columnLeastSquares(columns: Float64Array[], ys: ArrayLike<number>[]): { x: number[][]; rss: number[]; R: number[][] } {
  const k = columns.length;
  const m = k > 0 ? columns[0].length : 0;
  if (m < k) throw new Error(`columnLeastSquares: ${m} rows < ${k} columns`);
  const q = columns.map((c) => c.slice());
  const R: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += a[i] * b[i];
    return s;
  };
  const subtract = (target: Float64Array, c: number, v: Float64Array) => {
    for (let i = 0; i < m; i++) target[i] -= c * v[i];
  };
  for (let j = 0; j < k; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let i = 0; i < j; i++) {
        if (R[i][i] === 0) continue;
        const c = dot(q[i], q[j]);
        R[i][j] += c;
        subtract(q[j], c, q[i]);
      }
    const norm = Math.sqrt(dot(q[j], q[j]));
    const scale = Math.sqrt(dot(columns[j], columns[j]));
    R[j][j] = norm > 1e-13 * scale ? norm : 0; // a column inside the span of the others: rank deficient, coefficient 0
    if (R[j][j] > 0) for (let i = 0; i < m; i++) q[j][i] /= norm;
  }
  const x: number[][] = [];
  const rss: number[] = [];
  for (const y of ys) {
    const r = new Float64Array(y);
    const c = new Array<number>(k).fill(0);
    for (let pass = 0; pass < 2; pass++)
      for (let j = 0; j < k; j++) {
        if (R[j][j] === 0) continue;
        const d = dot(q[j], r);
        c[j] += d;
        subtract(r, d, q[j]);
      }
    x.push(solveUpper(R, c));
    rss.push(dot(r, r));
  }
  return { x, rss, R };
}

/**
 * Least squares of several series y ≈ a·column + c (one column plus a constant) in closed form: centred sums give
 * a = Σ(x−x̄)(y−ȳ)/Σ(x−x̄)², c = ȳ − a·x̄, and the rss is summed from the residuals themselves (no cancellation).
 * Three passes over the data: the fits' inner problem, solved once per trial rate.
 */
export function affineLeastSquares(column: Float64Array, ys: ArrayLike<number>[]): { x: number[][]; rss: number[] } {
  const m = column.length;
  let xMean = 0;
  for (let i = 0; i < m; i++) xMean += column[i];
  xMean /= m;
  let sxx = 0;
  for (let i = 0; i < m; i++) sxx += (column[i] - xMean) ** 2;
  const x: number[][] = [];
  const rss: number[] = [];
  for (const y of ys) {
    let yMean = 0;
    for (let i = 0; i < m; i++) yMean += y[i];
    yMean /= m;
    let sxy = 0;
    for (let i = 0; i < m; i++) sxy += (column[i] - xMean) * (y[i] - yMean);
    const a = sxx > 1e-28 * m * (xMean * xMean + 1e-300) ? sxy / sxx : 0; // a constant column: rank deficient, slope 0
    const c = yMean - a * xMean;
    let r = 0;
    for (let i = 0; i < m; i++) r += (a * column[i] + c - y[i]) ** 2;
    x.push([a, c]);
    rss.push(r);
  }
  return { x, rss };
}

/** Solve R x = b for upper-triangular R; a zero pivot (rank deficiency) gives 0 for that unknown. */
export function solveUpper(R: number[][], b: number[]): number[] {
  const n = b.length;
  const x = new Array<number>(n).fill(0);
  const scale = Math.max(...R.map((row, i) => Math.abs(row[i])), 0);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let j = i + 1; j < n; j++) s -= R[i][j] * x[j];
    x[i] = Math.abs(R[i][i]) > 1e-14 * scale ? s / R[i][i] : 0;
  }
  return x;
}

/** (JᵀJ)⁻¹ from the R factor of J (= R⁻¹R⁻ᵀ); Infinity on the diagonal where J is rank deficient. */
export function inverseNormalMatrix(J: number[][]): number[][] {
  return inverseFromR(leastSquares(J, new Array(J.length).fill(0)).R);
}

/** R⁻¹R⁻ᵀ = (JᵀJ)⁻¹ for the triangular factor R of J (from QR or Gram–Schmidt); Infinity on the diagonal when R is singular. */
export function inverseFromR(R: number[][]): number[][] {
  const n = R.length;
  const scale = Math.max(...R.map((row, i) => Math.abs(row[i])), 0);
  const singular = R.some((row, i) => !(Math.abs(row[i]) > 1e-13 * scale));
  if (singular) {
    return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? Infinity : NaN)));
  }
  // Rinv columns: solve R x = e_j
  const Rinv: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let j = 0; j < n; j++) {
    const e = new Array<number>(n).fill(0);
    e[j] = 1;
    const col = solveUpper(R, e);
    for (let i = 0; i < n; i++) Rinv[i][j] = col[i];
  }
  const C: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += Rinv[i][k] * Rinv[j][k];
      C[i][j] = s;
    }
  return C;
}

export interface LmOptions {
  lower?: number[];
  upper?: number[];
  maxIterations?: number;
  /** stop when the relative decrease of the residual sum of squares falls below this */
  tolerance?: number;
}

/**
 * Levenberg–Marquardt with box bounds (steps are projected onto the box). `jacobian` may be
 * omitted, then central differences are used. Steps solve the damped problem by QR of [J; √λ D].
 */
export function levenbergMarquardt(
  residuals: (p: number[]) => number[],
  p0: number[],
  jacobian?: (p: number[]) => number[][],
  options: LmOptions = {},
): { p: number[]; rss: number; iterations: number } {
  const n = p0.length;
  const lower = options.lower ?? new Array<number>(n).fill(-Infinity);
  const upper = options.upper ?? new Array<number>(n).fill(Infinity);
  const maxIterations = options.maxIterations ?? 200;
  const tolerance = options.tolerance ?? 1e-15;
  const clamp = (p: number[]) => p.map((v, i) => Math.min(upper[i], Math.max(lower[i], v)));
  const jac = jacobian ?? ((p: number[]) => finiteDifferenceJacobian(residuals, p, lower, upper));
  const sumSq = (r: number[]) => r.reduce((s, v) => s + v * v, 0);
  let p = clamp(p0);
  let r = residuals(p);
  let rss = sumSq(r);
  let lambda = 1e-3;
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const J = jac(p);
    const diag = new Array<number>(n).fill(0);
    for (const row of J) for (let j = 0; j < n; j++) diag[j] += row[j] * row[j];
    let improved = false;
    for (let attempt = 0; attempt < 30; attempt++) {
      const A = J.map((row) => row.slice());
      const y = r.map((v) => -v);
      for (let j = 0; j < n; j++) {
        const row = new Array<number>(n).fill(0);
        row[j] = Math.sqrt(lambda * Math.max(diag[j], 1e-300));
        A.push(row);
        y.push(0);
      }
      const step = leastSquares(A, y).x;
      const candidate = clamp(p.map((v, j) => v + step[j]));
      const rc = residuals(candidate);
      const rssc = sumSq(rc);
      if (Number.isFinite(rssc) && rssc < rss) {
        const decrease = (rss - rssc) / Math.max(rss, 1e-300);
        p = candidate;
        r = rc;
        rss = rssc;
        lambda = Math.max(lambda / 10, 1e-15);
        improved = true;
        if (decrease < tolerance) return { p, rss, iterations: iterations + 1 };
        break;
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  return { p, rss, iterations };
}

/** Central-difference Jacobian, one-sided at a bound. */
export function finiteDifferenceJacobian(
  residuals: (p: number[]) => number[],
  p: number[],
  lower?: number[],
  upper?: number[],
): number[][] {
  const r0 = residuals(p);
  const J: number[][] = r0.map(() => new Array<number>(p.length).fill(0));
  for (let j = 0; j < p.length; j++) {
    const h = 1e-6 * Math.max(Math.abs(p[j]), 1e-3);
    const up = p.slice();
    const dn = p.slice();
    up[j] = Math.min(p[j] + h, upper?.[j] ?? Infinity);
    dn[j] = Math.max(p[j] - h, lower?.[j] ?? -Infinity);
    const ru = residuals(up);
    const rd = residuals(dn);
    const width = up[j] - dn[j];
    for (let i = 0; i < r0.length; i++) J[i][j] = (ru[i] - rd[i]) / width;
  }
  return J;
}

/** Golden-section search for a minimum of f on [a, b]. */
export function goldenSection(f: (x: number) => number, a: number, b: number, tolerance = 1e-12): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 200 && Math.abs(b - a) > tolerance * (Math.abs(a) + Math.abs(b) + 1e-300); i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return fc < fd ? c : d;
}

/** Nelder–Mead simplex minimiser (unconstrained; callers work in log-parameters for positivity). */
export function nelderMead(f: (x: number[]) => number, x0: number[], step: number[], maxIterations = 2000, tolerance = 1e-13): number[] {
  const n = x0.length;
  let simplex = [x0.slice(), ...x0.map((_, i) => x0.map((v, j) => (i === j ? v + step[i] : v)))];
  let values = simplex.map(f);
  for (let it = 0; it < maxIterations; it++) {
    const order = values.map((v, i) => i).sort((i, j) => values[i] - values[j]);
    simplex = order.map((i) => simplex[i]);
    values = order.map((i) => values[i]);
    if (Math.abs(values[n] - values[0]) <= tolerance * (Math.abs(values[0]) + 1e-300)) break;
    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += simplex[i][j] / n;
    const along = (t: number) => centroid.map((c, j) => c + t * (simplex[n][j] - c));
    const reflected = along(-1);
    const fr = f(reflected);
    if (fr < values[0]) {
      const expanded = along(-2);
      const fe = f(expanded);
      [simplex[n], values[n]] = fe < fr ? [expanded, fe] : [reflected, fr];
    } else if (fr < values[n - 1]) {
      [simplex[n], values[n]] = [reflected, fr];
    } else {
      const contracted = fr < values[n] ? along(-0.5) : along(0.5);
      const fc = f(contracted);
      if (fc < Math.min(fr, values[n])) {
        [simplex[n], values[n]] = [contracted, fc];
      } else {
        for (let i = 1; i <= n; i++) {
          simplex[i] = simplex[i].map((v, j) => simplex[0][j] + 0.5 * (v - simplex[0][j]));
          values[i] = f(simplex[i]);
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i <= n; i++) if (values[i] < values[best]) best = i;
  return simplex[best];
}

/** log Γ(x) for x > 0 (Lanczos, g = 7). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised incomplete beta I_x(a, b) by Lentz's continued fraction. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - (logGamma(a) + logGamma(b) - logGamma(a + b))) / a;
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 400; i++) {
    const m = Math.floor(i / 2);
    let numerator: number;
    if (i === 0) numerator = 1;
    else if (i % 2 === 0) numerator = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    else numerator = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + numerator * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = 1 + numerator / c;
    if (Math.abs(c) < tiny) c = tiny;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-15) break;
  }
  return front * (f - 1);
}

/** Student-t CDF with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** Student-t quantile (inverse CDF) by bisection; the normal quantile when df is Infinity. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`studentTQuantile: p must be in (0,1), got ${p}`);
  if (!(df > 0)) throw new Error(`studentTQuantile: df must be > 0, got ${df}`);
  const cdf = Number.isFinite(df) ? (t: number) => studentTCdf(t, df) : normalCdf;
  let lo = -1e6;
  let hi = 1e6;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

export { makeRng } from '../rng.js'; // seeded mulberry32 uniforms and Box–Muller normals

/** Coefficient of determination 1 − SS_res/SS_tot. */
export function rSquared(observed: number[], fitted: number[]): number {
  const mean = observed.reduce((s, v) => s + v, 0) / observed.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < observed.length; i++) {
    ssRes += (observed[i] - fitted[i]) ** 2;
    ssTot += (observed[i] - mean) ** 2;
  }
  return 1 - ssRes / ssTot;
}

/** Quantile of a sample by linear interpolation between order statistics. */
export function quantile(values: number[], q: number): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
