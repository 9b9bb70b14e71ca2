// Kernel conformance cases: each runs the same tfjs ops on the same seeded inputs on 'cpu' and 'torch';
// the outputs must agree in shape, dtype and values within the case's stated bounds
// (|torch - cpu| <= abs + rel * |cpu|, NaN and ±Infinity exactly). Shared by the vitest suite and
// scripts/conformance.ts (the standalone runner used on GPU machines).
import * as tf from '@tensorflow/tfjs';

export interface Tolerance {
  abs: number;
  rel: number;
}

/** Makes the inputs of a case; reset per backend so both see identical values. */
export class Inputs {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  /** mulberry32: a small deterministic generator, independent of both backends. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  rand(shape: number[], lo = -2, hi = 2): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * this.next();
    return tf.tensor(v, shape, 'float32');
  }
  /** Floats on a coarse grid, so comparisons and max/min see exact ties. */
  grid(shape: number[], lo = -3, hi = 3): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.floor(lo + (hi - lo + 1) * this.next());
    return tf.tensor(v, shape, 'float32');
  }
  ints(shape: number[], lo: number, hi: number): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + Math.floor((hi - lo) * this.next());
    return tf.tensor(v, shape, 'int32');
  }
  bools(shape: number[]): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Uint8Array(n);
    for (let i = 0; i < n; i++) v[i] = this.next() < 0.5 ? 1 : 0;
    return tf.tensor(v, shape, 'bool');
  }
}

export interface Case {
  name: string;
  /** The tfjs kernels this case is meant to exercise (checked against tf.profile). */
  kernels: string[];
  run: (t: Inputs) => tf.Tensor | tf.Tensor[];
  tol?: Tolerance;
  /** Compare against this function on cpu instead of `run` (for kernels the cpu backend lacks). */
  reference?: (t: Inputs) => tf.Tensor | tf.Tensor[];
}

export const EXACT: Tolerance = { abs: 0, rel: 0 };
export const ELEMENTWISE: Tolerance = { abs: 1e-6, rel: 1e-5 };
export const REDUCTION: Tolerance = { abs: 1e-5, rel: 1e-4 };

const unaryDomains: Record<string, [number, number]> = {
  Acos: [-0.99, 0.99],
  Asin: [-0.99, 0.99],
  Atanh: [-0.95, 0.95],
  Acosh: [1, 4],
  Log: [0.01, 5],
  Log1p: [-0.9, 5],
  Sqrt: [0, 5],
  Rsqrt: [0.05, 5],
  Reciprocal: [0.1, 3],
  Tan: [-1.2, 1.2],
  Exp: [-10, 10],
  Expm1: [-3, 3],
  Sinh: [-5, 5],
  Cosh: [-5, 5],
  Softplus: [-30, 30],
  Erf: [-3, 3],
  Sigmoid: [-20, 20],
  Tanh: [-6, 6],
};

const unaryOps: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
  ['Abs', tf.abs],
  ['Acos', tf.acos],
  ['Acosh', tf.acosh],
  ['Asin', tf.asin],
  ['Asinh', tf.asinh],
  ['Atan', tf.atan],
  ['Atanh', tf.atanh],
  ['Ceil', tf.ceil],
  ['Cos', tf.cos],
  ['Cosh', tf.cosh],
  ['Elu', tf.elu],
  ['Erf', tf.erf],
  ['Exp', tf.exp],
  ['Expm1', tf.expm1],
  ['Floor', tf.floor],
  ['Log', tf.log],
  ['Log1p', tf.log1p],
  ['Neg', tf.neg],
  ['Reciprocal', tf.reciprocal],
  ['Relu', tf.relu],
  ['Relu6', tf.relu6],
  ['Round', tf.round],
  ['Rsqrt', tf.rsqrt],
  ['Selu', tf.selu],
  ['Sigmoid', tf.sigmoid],
  ['Sign', tf.sign],
  ['Sin', tf.sin],
  ['Sinh', tf.sinh],
  ['Softplus', tf.softplus],
  ['Sqrt', tf.sqrt],
  ['Square', tf.square],
  ['Tan', tf.tan],
  ['Tanh', tf.tanh],
  ['ZerosLike', tf.zerosLike],
  ['OnesLike', tf.onesLike],
];

const binaryOps: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
  ['Add', tf.add],
  ['Sub', tf.sub],
  ['Multiply', tf.mul],
  ['RealDiv', tf.div],
  ['Maximum', tf.maximum],
  ['Minimum', tf.minimum],
  ['SquaredDifference', tf.squaredDifference],
  ['Atan2', tf.atan2],
  ['Mod', tf.mod],
  ['Equal', tf.equal],
  ['NotEqual', tf.notEqual],
  ['Less', tf.less],
  ['LessEqual', tf.lessEqual],
  ['Greater', tf.greater],
  ['GreaterEqual', tf.greaterEqual],
];

// tf.div on int32 inputs runs FloorDiv; tf.pow on a float base keeps float.
const BROADCASTS: Array<[number[], number[]]> = [
  [
    [2, 3],
    [2, 3],
  ],
  [
    [2, 1, 3],
    [4, 1],
  ],
  [[], [2, 3]],
  [
    [3, 1],
    [1, 4],
  ],
  [
    [0, 3],
    [1, 3],
  ],
];

export const cases: Case[] = [
  // ---------------------------------------------------------------- unary
  ...unaryOps.map(([name, f]): Case => ({
    name: `${name} float [3,5]`,
    kernels: [name],
    run: (t) => f(t.rand([3, 5], ...(unaryDomains[name] ?? [-4, 4]))),
    tol: ELEMENTWISE,
  })),
  ...['Abs', 'Neg', 'Square', 'Relu', 'Sign', 'Round', 'ZerosLike', 'OnesLike'].map((name): Case => ({
    name: `${name} int32 [7]`,
    kernels: [name],
    run: (t) => unaryOps.find(([n]) => n === name)![1](t.ints([7], -5, 5)),
    tol: EXACT,
  })),
  { name: 'Round half to even', kernels: ['Round'], run: () => tf.round(tf.tensor1d([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49])), tol: EXACT },
  {
    name: 'Exp/Sqrt scalar and empty',
    kernels: ['Exp', 'Sqrt'],
    run: (t) => [tf.exp(t.rand([])), tf.sqrt(t.rand([0, 4], 0, 1))],
    tol: ELEMENTWISE,
  },
  { name: 'Exp int32 -> float32', kernels: ['Exp'], run: (t) => tf.exp(t.ints([5], -3, 3)), tol: ELEMENTWISE },
  {
    name: 'int32 inputs of float math keep int32 (JS ToInt32: NaN -> 0); LeakyRelu gives float32',
    kernels: ['Log1p', 'Expm1', 'Reciprocal', 'Softplus', 'Selu', 'Relu6', 'Step', 'LeakyRelu', 'Erf'],
    run: () => {
      const x = tf.tensor1d([1, 2, 4, 9, -3, 0], 'int32');
      return [
        tf.log1p(x),
        tf.expm1(x),
        tf.reciprocal(x),
        tf.softplus(x),
        tf.selu(x),
        tf.relu6(x),
        tf.step(x, 0.5),
        tf.leakyRelu(x, 0.2),
        tf.erf(x),
      ];
    },
    tol: ELEMENTWISE,
  },
  {
    name: 'IsNan IsInf IsFinite',
    kernels: ['IsNan', 'IsInf', 'IsFinite'],
    run: () => {
      const x = tf.tensor1d([0, NaN, Infinity, -Infinity, 1.5]);
      return [tf.isNaN(x), tf.isInf(x), tf.isFinite(x)];
    },
    tol: EXACT,
  },
  { name: 'LeakyRelu alpha 0.1', kernels: ['LeakyRelu'], run: (t) => tf.leakyRelu(t.rand([4, 4]), 0.1), tol: ELEMENTWISE },
  { name: 'Step alpha 0.3 with NaN', kernels: ['Step'], run: () => tf.step(tf.tensor1d([-1, 0, 2, NaN]), 0.3), tol: EXACT },
  { name: 'Prelu broadcast alpha', kernels: ['Prelu'], run: (t) => tf.prelu(t.rand([2, 3, 4]), t.rand([4], 0, 0.5)), tol: ELEMENTWISE },
  { name: 'LogicalNot', kernels: ['LogicalNot'], run: (t) => tf.logicalNot(t.bools([9])), tol: EXACT },
  {
    name: 'ClipByValue float and int',
    kernels: ['ClipByValue'],
    run: (t) => [tf.clipByValue(t.rand([3, 4]), -0.5, 0.7), tf.clipByValue(t.ints([6], -9, 9), -3, 4)],
    tol: EXACT,
  },
  {
    name: 'Cast float->int32 (truncates; NaN, Inf -> 0; wraps mod 2^32), int->bool, bool->float, float->bool',
    kernels: ['Cast'],
    run: (t) => {
      const x = tf.tensor1d([-2.7, -0.5, 0, 0.5, 2.7, NaN, Infinity, -Infinity, 3e9, -5e9, 1e20]);
      return [tf.cast(x, 'int32'), tf.cast(t.ints([6], -2, 2), 'bool'), tf.cast(t.bools([5]), 'float32'), tf.cast(x, 'bool')];
    },
    tol: EXACT,
  },
  {
    name: 'EluGrad',
    kernels: ['EluGrad'],
    run: (t) => tf.engine().runKernel('EluGrad', { dy: t.rand([3, 4]), y: tf.elu(t.rand([3, 4])) }) as tf.Tensor,
    tol: ELEMENTWISE,
  },
  { name: 'Identity (clone)', kernels: ['Identity'], run: (t) => tf.clone(t.rand([2, 2])), tol: EXACT },

  // ---------------------------------------------------------------- binary with broadcasting
  ...binaryOps.flatMap(([name, f]) =>
    BROADCASTS.map(([sa, sb]): Case => ({
      name: `${name} ${JSON.stringify(sa)} x ${JSON.stringify(sb)}`,
      kernels: [name],
      run: (t) => (['Mod', 'RealDiv', 'Atan2'].includes(name) ? f(t.rand(sa), t.rand(sb, 0.5, 3)) : f(t.grid(sa), t.grid(sb))),
      tol: ELEMENTWISE,
    })),
  ),
  ...(['Add', 'Sub', 'Multiply', 'Maximum', 'Minimum', 'Mod', 'SquaredDifference'] as const).map((name): Case => ({
    name: `${name} int32 broadcast`,
    kernels: [name],
    run: (t) => binaryOps.find(([n]) => n === name)![1](t.ints([3, 4], -9, 9), name === 'Mod' ? t.ints([4], 1, 5) : t.ints([4], -9, 9)),
    tol: EXACT,
  })),
  { name: 'Pow float base', kernels: ['Pow'], run: (t) => tf.pow(t.rand([3, 4], 0.1, 3), t.rand([4], -2, 2)), tol: ELEMENTWISE },
  { name: 'Pow int32', kernels: ['Pow'], run: (t) => tf.pow(t.ints([6], -3, 4), t.ints([6], 0, 4)), tol: EXACT },
  {
    name: 'FloorDiv float and int (div on int32)',
    kernels: ['FloorDiv'],
    run: (t) => [tf.floorDiv(t.rand([3, 4], -9, 9), t.rand([4], 0.5, 3)), tf.div(t.ints([8], -20, 20), t.ints([8], 1, 6))],
    tol: ELEMENTWISE,
  },
  {
    name: 'RealDiv by zero gives ±Inf/NaN',
    kernels: ['RealDiv'],
    run: () => tf.div(tf.tensor1d([1, -1, 0]), tf.tensor1d([0, 0, 0])),
    tol: EXACT,
  },
  {
    name: 'LogicalAnd LogicalOr broadcast',
    kernels: ['LogicalAnd', 'LogicalOr'],
    run: (t) => [tf.logicalAnd(t.bools([3, 4]), t.bools([4])), tf.logicalOr(t.bools([3, 1]), t.bools([1, 4]))],
    tol: EXACT,
  },
  { name: 'BitwiseAnd', kernels: ['BitwiseAnd'], run: (t) => tf.bitwiseAnd(t.ints([8], 0, 255), t.ints([8], 0, 255)), tol: EXACT },
  {
    name: 'Equal int32 and bool',
    kernels: ['Equal'],
    run: (t) => [tf.equal(t.ints([6], 0, 3), t.ints([6], 0, 3)), tf.equal(t.bools([5]), t.bools([5]))],
    tol: EXACT,
  },
  { name: 'AddN of 3', kernels: ['AddN'], run: (t) => tf.addN([t.rand([2, 3]), t.rand([2, 3]), t.rand([2, 3])]), tol: ELEMENTWISE },
  { name: 'Select same shape', kernels: ['Select'], run: (t) => tf.where(t.bools([2, 3]), t.rand([2, 3]), t.rand([2, 3])), tol: EXACT },
  {
    name: 'Select int32 with broadcast condition',
    kernels: ['Select'],
    run: (t) => tf.where(t.bools([1, 4]), t.ints([3, 4], 0, 9), t.ints([3, 4], -9, 0)),
    tol: EXACT,
  },

  // ---------------------------------------------------------------- reductions
  ...(['Sum', 'Mean', 'Max', 'Min', 'Prod'] as const).flatMap((name) => {
    const f = { Sum: tf.sum, Mean: tf.mean, Max: tf.max, Min: tf.min, Prod: tf.prod }[name];
    return [
      { axis: undefined, keep: false },
      { axis: 0, keep: false },
      { axis: -1, keep: true },
      { axis: [0, 2], keep: false },
      { axis: [1, 2], keep: true },
    ].map(({ axis, keep }): Case => ({
      name: `${name} [3,4,5] axis ${JSON.stringify(axis ?? null)} keepDims ${keep}`,
      kernels: [name],
      run: (t) => f(name === 'Prod' ? t.rand([3, 4, 5], 0.7, 1.3) : t.rand([3, 4, 5]), axis, keep),
      tol: REDUCTION,
    }));
  }),
  { name: 'Sum int32 and bool', kernels: ['Sum'], run: (t) => [tf.sum(t.ints([4, 5], -9, 9), 1), tf.sum(t.bools([4, 5]), 0)], tol: EXACT },
  {
    name: 'Max/Min int32',
    kernels: ['Max', 'Min'],
    run: (t) => [tf.max(t.ints([4, 5], -9, 9), 1), tf.min(t.ints([4, 5], -9, 9), 0)],
    tol: EXACT,
  },
  { name: 'Mean int32 -> float32', kernels: ['Mean'], run: (t) => tf.mean(t.ints([4, 5], -9, 9), 1), tol: REDUCTION },
  { name: 'Prod int32', kernels: ['Prod'], run: (t) => tf.prod(t.ints([3, 4], -3, 3), 1), tol: EXACT },
  {
    name: 'Sum over size-0 axis and of a scalar',
    kernels: ['Sum'],
    run: (t) => [tf.sum(t.rand([0, 3]), 0), tf.sum(t.rand([]))],
    tol: EXACT,
  },
  {
    name: 'All Any',
    kernels: ['All', 'Any'],
    run: (t) => [tf.all(t.bools([4, 6]), 1), tf.any(t.bools([4, 6]), 0), tf.all(t.bools([3, 2, 2]), [1, 2]), tf.any(t.bools([5]))],
    tol: EXACT,
  },
  {
    name: 'ArgMax ArgMin with ties',
    kernels: ['ArgMax', 'ArgMin'],
    run: (t) => [tf.argMax(t.grid([5, 6], 0, 2), 1), tf.argMin(t.grid([5, 6], 0, 2), 0), tf.argMax(t.ints([7], 0, 3))],
    tol: EXACT,
  },
  ...[
    { exclusive: false, reverse: false },
    { exclusive: true, reverse: false },
    { exclusive: false, reverse: true },
    { exclusive: true, reverse: true },
  ].map(({ exclusive, reverse }): Case => ({
    name: `Cumsum Cumprod exclusive ${exclusive} reverse ${reverse}`,
    kernels: ['Cumsum', 'Cumprod'],
    run: (t) => [
      tf.cumsum(t.rand([3, 6]), 1, exclusive, reverse),
      tf.cumsum(t.ints([4, 3], -5, 5), 0, exclusive, reverse),
      tf.cumprod(t.rand([2, 5], 0.5, 1.5), 1, exclusive, reverse),
    ],
    tol: REDUCTION,
  })),

  // ---------------------------------------------------------------- shapes
  {
    name: 'Reshape with -1, to scalar, empty',
    kernels: ['Reshape'],
    run: (t) => [tf.reshape(t.rand([2, 3, 4]), [4, -1]), tf.reshape(t.rand([1, 1]), []), tf.reshape(t.rand([0, 3]), [3, 0])],
    tol: EXACT,
  },
  {
    name: 'Reshape of a transposed view',
    kernels: ['Reshape', 'Transpose'],
    run: (t) => tf.reshape(tf.transpose(t.rand([3, 4, 5]), [2, 0, 1]), [5, 12]),
    tol: EXACT,
  },
  {
    name: 'ExpandDims',
    kernels: ['ExpandDims'],
    run: (t) => [tf.expandDims(t.rand([2, 3]), 1), tf.expandDims(t.rand([2, 3]), -1), tf.expandDims(t.ints([], 0, 5), 0)],
    tol: EXACT,
  },
  {
    name: 'Transpose rank 2, 4',
    kernels: ['Transpose'],
    run: (t) => [
      tf.transpose(t.rand([3, 5])),
      tf.transpose(t.rand([2, 3, 4, 5]), [0, 2, 1, 3]),
      tf.transpose(t.ints([2, 3, 4], 0, 9), [2, 1, 0]),
    ],
    tol: EXACT,
  },
  {
    name: 'Slice with -1 size',
    kernels: ['Slice'],
    run: (t) => [
      tf.slice(t.rand([4, 5, 6]), [1, 0, 2], [2, -1, 3]),
      tf.slice(t.ints([6], 0, 9), [2], [3]),
      tf.slice(t.rand([3, 3]), [1, 1], [0, 2]),
    ],
    tol: EXACT,
  },
  {
    name: 'StridedSlice steps, negative strides, masks',
    kernels: ['StridedSlice'],
    run: (t) => {
      const x = t.rand([5, 6, 7]);
      return [
        tf.stridedSlice(x, [0, 1, 0], [5, 6, 7], [2, 2, 3]),
        tf.stridedSlice(x, [4, 0, 6], [0, 6, 0], [-1, 1, -2]),
        tf.stridedSlice(x, [1, 0, 0], [2, 6, 7], [1, 1, 1], 0, 0, 0, 0, 1), // shrink axis 0
        tf.stridedSlice(x, [0, 2], [0, 5], [1, 1], 1, 1), // begin/end mask on axis 0
        tf.stridedSlice(x, [0, 0, 0], [5, 6, 7], [1, 1, 1]), // identity
        tf.stridedSlice(x, [0, 1], [0, 3], [1, 1], 0, 0, 0, 1), // new axis
        tf.stridedSlice(x, [0, 2], [1, 4], [1, 1], 0, 0, 1), // ellipsis
      ];
    },
    tol: EXACT,
  },
  {
    name: 'Concat axis 0/1/-1, with empty, int',
    kernels: ['Concat'],
    run: (t) => [
      tf.concat([t.rand([2, 3]), t.rand([1, 3]), t.rand([4, 3])], 0),
      tf.concat([t.rand([2, 3]), t.rand([2, 0]), t.rand([2, 2])], 1),
      tf.concat([t.ints([2, 2, 1], 0, 9), t.ints([2, 2, 3], 0, 9)], -1),
      tf.concat([t.rand([0, 3]), t.rand([2, 3])], 0),
    ],
    tol: EXACT,
  },
  {
    name: 'Pack Unpack',
    kernels: ['Pack', 'Unpack'],
    run: (t) => [tf.stack([t.rand([2, 3]), t.rand([2, 3])], 1), ...tf.unstack(t.rand([3, 4]), 1), tf.stack([t.ints([3], 0, 9)])],
    tol: EXACT,
  },
  {
    name: 'SplitV sizes with -1 and even split',
    kernels: ['SplitV'],
    run: (t) => [...tf.split(t.rand([4, 9]), [2, -1, 3], 1), ...tf.split(t.ints([6, 2], 0, 9), 3, 0)],
    tol: EXACT,
  },
  {
    name: 'Tile',
    kernels: ['Tile'],
    run: (t) => [tf.tile(t.rand([2, 3]), [2, 3]), tf.tile(t.ints([3], 0, 9), [4]), tf.tile(t.bools([2, 1]), [1, 3])],
    tol: EXACT,
  },
  {
    name: 'broadcastTo (runs Tile)',
    kernels: ['Tile'],
    run: (t) => [tf.broadcastTo(t.rand([3, 1]), [2, 3, 4]), tf.broadcastTo(t.ints([1], 0, 9), [5])],
    tol: EXACT,
  },
  {
    // tfjs's broadcastTo op runs Tile; the BroadcastTo kernel (no cpu version) is reached through runKernel only
    name: 'BroadcastTo kernel vs tf.broadcastTo on cpu',
    kernels: ['BroadcastTo'],
    run: (t) => tf.engine().runKernel('BroadcastTo', { x: t.rand([1, 3, 1]) }, { shape: [2, 3, 4], inputShape: [1, 3, 1] }) as tf.Tensor,
    reference: (t) => tf.broadcastTo(t.rand([1, 3, 1]), [2, 3, 4]),
    tol: EXACT,
  },
  {
    name: 'Reverse',
    kernels: ['Reverse'],
    run: (t) => [tf.reverse(t.rand([3, 4, 2]), [0, 2]), tf.reverse(t.ints([5], 0, 9)), tf.reverse(t.rand([2, 3]), -1)],
    tol: EXACT,
  },
  {
    name: 'PadV2',
    kernels: ['PadV2'],
    run: (t) => [
      tf.pad(
        t.rand([2, 3]),
        [
          [1, 2],
          [0, 3],
        ],
        0.5,
      ),
      tf.pad(t.ints([3], 0, 9), [[2, 0]], -1),
    ],
    tol: EXACT,
  },

  // ---------------------------------------------------------------- indexing and creation
  {
    name: 'GatherV2 axis 0/1/-1, 2-D indices',
    kernels: ['GatherV2'],
    run: (t) => [
      tf.gather(t.rand([6, 4]), t.ints([3, 5], 0, 6)),
      tf.gather(t.rand([3, 5, 2]), t.ints([4], 0, 5), 1),
      tf.gather(t.ints([2, 7], 0, 9), t.ints([3], 0, 7), -1),
    ],
    tol: EXACT,
  },
  {
    name: 'GatherV2 batchDims 1 (falls back)',
    kernels: ['GatherV2'],
    run: (t) => tf.gather(t.rand([3, 5, 2]), t.ints([3, 4], 0, 5), 1, 1),
    tol: EXACT,
  },
  {
    name: 'GatherNd',
    kernels: ['GatherNd'],
    run: (t) => [tf.gatherND(t.rand([4, 5, 3]), t.ints([6, 2], 0, 4)), tf.gatherND(t.rand([4, 5]), t.ints([2, 3, 1], 0, 4))],
    tol: EXACT,
  },
  {
    name: 'UnsortedSegmentSum with repeats and out-of-range ids',
    kernels: ['UnsortedSegmentSum'],
    run: (t) => [
      tf.unsortedSegmentSum(t.rand([8, 3]), tf.tensor1d([0, 2, 2, 5, 1, 0, 7, 3], 'int32'), 6),
      tf.unsortedSegmentSum(t.rand([5]), t.ints([5], 0, 3) as tf.Tensor1D, 3),
    ],
    tol: REDUCTION,
  },
  {
    name: 'OneHot with -1 and >= depth',
    kernels: ['OneHot'],
    run: () => [
      tf.oneHot(tf.tensor1d([0, 3, -1, 5, 2], 'int32'), 4),
      tf.oneHot(
        tf.tensor2d(
          [
            [1, 0],
            [2, 2],
          ],
          [2, 2],
          'int32',
        ),
        3,
        5,
        -1,
        'float32',
      ),
    ],
    tol: EXACT,
  },
  { name: 'Fill', kernels: ['Fill'], run: () => [tf.fill([2, 3], 1.5), tf.fill([4], 7, 'int32'), tf.zeros([0, 2])], tol: EXACT },
  {
    name: 'Range incl. countdown and empty',
    kernels: ['Range'],
    run: () => [tf.range(0, 10, 3), tf.range(5, 0, 1), tf.range(2, 2), tf.range(0, 1, 0.1, 'float32'), tf.range(10, 0, -4, 'int32')],
    tol: ELEMENTWISE,
  },
  { name: 'LinSpace', kernels: ['LinSpace'], run: () => tf.linspace(-1, 2, 7), tol: ELEMENTWISE },
  {
    name: 'SearchSorted left and right',
    kernels: ['SearchSorted'],
    run: () => [
      tf.lowerBound(
        tf.tensor2d([
          [1, 2, 2, 4],
          [0, 5, 6, 9],
        ]),
        tf.tensor2d([
          [2, 3],
          [5, 10],
        ]),
      ),
      tf.upperBound(tf.tensor1d([1, 2, 2, 4]), tf.tensor1d([2, 0, 4.5])),
    ],
    tol: EXACT,
  },

  // ---------------------------------------------------------------- matmul, softmax, sampling
  {
    name: 'BatchMatMul 2-D/3-D, transposes, broadcast batch',
    kernels: ['BatchMatMul'],
    run: (t) => [
      tf.matMul(t.rand([5, 7]), t.rand([7, 3])),
      tf.matMul(t.rand([2, 4, 6]), t.rand([2, 5, 6]), false, true),
      tf.matMul(t.rand([3, 6, 4]), t.rand([3, 6, 2]), true, false),
      tf.matMul(t.rand([1, 3, 4]), t.rand([2, 4, 5])),
      tf.matMul(t.rand([2, 2, 3, 4]), t.rand([4, 2])),
    ],
    tol: REDUCTION,
  },
  {
    name: '_FusedMatMul bias + relu / leakyrelu / prelu',
    kernels: ['_FusedMatMul'],
    run: (t) => [
      tf.fused.matMul({ a: t.rand([4, 6]), b: t.rand([6, 3]), bias: t.rand([3]), activation: 'relu' }),
      tf.fused.matMul({
        a: t.rand([2, 4, 6]),
        b: t.rand([2, 3, 6]),
        transposeB: true,
        bias: t.rand([3]),
        activation: 'leakyrelu',
        leakyreluAlpha: 0.3,
      }),
      tf.fused.matMul({ a: t.rand([4, 6]), b: t.rand([6, 3]), activation: 'prelu', preluActivationWeights: t.rand([3], 0, 0.5) }),
    ],
    tol: REDUCTION,
  },
  {
    name: 'Einsum',
    kernels: ['Einsum'],
    run: (t) => [tf.einsum('ij,jk->ik', t.rand([3, 4]), t.rand([4, 2])), tf.einsum('bij,bkj->bik', t.rand([2, 3, 4]), t.rand([2, 5, 4]))],
    tol: REDUCTION,
  },
  {
    name: 'Softmax last dim, rank 1-3',
    kernels: ['Softmax'],
    run: (t) => [tf.softmax(t.rand([4, 7], -10, 10)), tf.softmax(t.rand([5])), tf.softmax(t.rand([2, 3, 9], -50, 50))],
    tol: ELEMENTWISE,
  },
  {
    name: 'LogSoftmax kernel vs tf.logSoftmax on cpu',
    kernels: ['LogSoftmax'],
    run: (t) => tf.engine().runKernel('LogSoftmax', { logits: t.rand([3, 8], -20, 20) }, { axis: -1 }) as tf.Tensor,
    reference: (t) => tf.logSoftmax(t.rand([3, 8], -20, 20)),
    tol: ELEMENTWISE,
  },
  {
    name: 'TopK with ties, k=1, k=n, int32',
    kernels: ['TopK'],
    run: (t) => {
      const a = tf.topk(t.grid([3, 8], 0, 3), 3);
      const b = tf.topk(t.rand([5]), 1);
      const c = tf.topk(t.ints([2, 4], 0, 3), 4);
      return [a.values, a.indices, b.values, b.indices, c.values, c.indices];
    },
    tol: EXACT,
  },
  // (cpu orders tied -Infinity entries arbitrarily: its comparator computes -Inf - -Inf = NaN; only values compare)
  {
    name: 'TopK of -Infinity-masked logits',
    kernels: ['TopK'],
    run: () => {
      const r = tf.topk(tf.tensor2d([[-Infinity, 2, -Infinity, 1, -Infinity]]), 4);
      const s = tf.topk(tf.tensor2d([[-Infinity, 2, -Infinity, 1, -Infinity]]), 2);
      return [r.values, s.indices];
    },
    tol: EXACT,
  },
  {
    name: 'Multinomial seeded (logits and probabilities)',
    kernels: ['Multinomial'],
    run: (t) => [
      tf.multinomial(t.rand([3, 10], -3, 3) as tf.Tensor2D, 50, 1234),
      tf.multinomial(
        tf.tensor2d([
          [0.1, 0.2, 0.7],
          [0.5, 0.5, 0],
        ]),
        40,
        77,
        true,
      ),
    ],
    tol: EXACT,
  },
];

/** One compared output: the largest errors seen and whether the case's bound held. */
export interface Comparison {
  ok: boolean;
  message: string;
  maxAbs: number;
  maxRel: number;
}

export function compare(
  actual: { shape: number[]; dtype: string; values: ArrayLike<number> },
  expected: { shape: number[]; dtype: string; values: ArrayLike<number> },
  tol: Tolerance,
): Comparison {
  const fail = (message: string): Comparison => ({ ok: false, message, maxAbs: Infinity, maxRel: Infinity });
  if (actual.shape.join(',') !== expected.shape.join(',')) return fail(`shape [${actual.shape}] != cpu [${expected.shape}]`);
  if (actual.dtype !== expected.dtype) return fail(`dtype ${actual.dtype} != cpu ${expected.dtype}`);
  if (actual.values.length !== expected.values.length) return fail(`length ${actual.values.length} != cpu ${expected.values.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < expected.values.length; i++) {
    const a = actual.values[i];
    const e = expected.values[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) return fail(`element ${i}: ${a} vs cpu ${e}`);
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) return fail(`element ${i}: ${a} vs cpu ${e}`);
      continue;
    }
    const err = Math.abs(a - e);
    maxAbs = Math.max(maxAbs, err);
    if (e !== 0) maxRel = Math.max(maxRel, err / Math.abs(e));
    if (err > tol.abs + tol.rel * Math.abs(e)) {
      return {
        ok: false,
        message: `element ${i}: ${a} vs cpu ${e} (|diff| ${err.toExponential(2)} > ${tol.abs} + ${tol.rel}·|cpu|)`,
        maxAbs,
        maxRel,
      };
    }
  }
  return { ok: true, message: 'ok', maxAbs, maxRel };
}

export interface Snapshot {
  shape: number[];
  dtype: string;
  values: number[];
}

/** Runs a case on the active backend with fresh seeded inputs; returns plain copies of its outputs. */
export function runOn(c: Case, seed: number, useReference: boolean): Snapshot[] {
  const f = useReference && c.reference ? c.reference : c.run;
  return tf.tidy(() => {
    const result = f(new Inputs(seed));
    const list = Array.isArray(result) ? result : [result];
    return list.map((x) => ({ shape: x.shape.slice(), dtype: x.dtype as string, values: Array.from(x.dataSync() as ArrayLike<number>) }));
  });
}

/** Kernel names a case dispatches on the active backend (tf.profile). */
export async function kernelsOf(c: Case, seed: number): Promise<string[]> {
  const info = await tf.profile(() => {
    const result = c.run(new Inputs(seed));
    const list = Array.isArray(result) ? result : [result];
    list.forEach((x) => x.dispose());
  });
  return info.kernelNames;
}
