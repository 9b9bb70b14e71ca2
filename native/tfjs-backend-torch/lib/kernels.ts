// Native kernels: each maps a tfjs kernel (name, inputs, attrs) onto one addon call.
// Semantics follow tfjs-backend-cpu (output dtypes, tie orders, out-of-range rules); the conformance
// tests compare every kernel here against it.
import { backend_util, slice_util, upcastType, util } from '@tensorflow/tfjs-core';
import type { DataType, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { dtypeCode } from './backend.js';
import type { TorchBackend } from './backend.js';

/** A kernel's inputs by name (tfjs passes optional ones as undefined; kernels check those). */
export type Inputs = Record<string, TensorInfo>;
export type NativeKernel = (b: TorchBackend, inputs: Inputs, attrs: NamedAttrMap) => TensorInfo | TensorInfo[];

/** Lets a native kernel hand unusual attribute combinations to the cpu fallback. */
export class UseFallback extends Error {}

type Attr = NamedAttrMap[string];
const num = (v: Attr): number => v as number;
const nums = (v: Attr): number[] => v as number[];
const bool = (v: Attr): boolean => Boolean(v);
const axesOf = (v: Attr, shape: number[]): number[] => util.parseAxisParam((v ?? null) as number | number[], shape);

const UNARY_FLOAT_OUT = new Set(['Exp', 'LeakyRelu']);
const UNARY_BOOL_OUT = new Set(['IsFinite', 'IsInf', 'IsNan', 'LogicalNot']);
const BINARY_BOOL_OUT = new Set(['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual', 'LogicalAnd', 'LogicalOr']);

let opCodes: { unary: Map<string, number>; binary: Map<string, number>; reduce: Map<string, number> } | undefined;

function codes(b: TorchBackend) {
  if (!opCodes) {
    const n = b.addon.OpNames();
    const index = (list: string[]) => new Map(list.map((name, i) => [name, i]));
    opCodes = { unary: index(n.unary), binary: index(n.binary), reduce: index(n.reduce) };
  }
  return opCodes;
}

function unary(name: string, param?: (attrs: NamedAttrMap) => number): NativeKernel {
  let op = -1;
  return (b, { x }, attrs) => {
    const dtype: DataType = UNARY_FLOAT_OUT.has(name) ? 'float32' : UNARY_BOOL_OUT.has(name) ? 'bool' : x.dtype;
    if (op < 0) op = codes(b).unary.get(name)!;
    return b.out(b.addon.Unary(op, b.handle(x), param ? param(attrs) : 0, dtypeCode(dtype)));
  };
}

function binary(name: string, forced?: DataType): NativeKernel {
  let op = -1;
  return (b, { a, b: bt }) => {
    const dtype = forced ?? (BINARY_BOOL_OUT.has(name) ? 'bool' : upcastType(a.dtype, bt.dtype));
    if (op < 0) op = codes(b).binary.get(name)!;
    return b.out(b.addon.Binary(op, b.handle(a), b.handle(bt), dtypeCode(dtype)));
  };
}

function reduce(name: string, axisAttr = 'axis'): NativeKernel {
  let op = -1;
  return (b, { x }, attrs) => {
    const axes = axesOf(attrs[axisAttr], x.shape);
    const dtype: DataType =
      name === 'Mean'
        ? 'float32'
        : name === 'All' || name === 'Any'
          ? 'bool'
          : (name === 'Sum' || name === 'Prod') && x.dtype === 'bool'
            ? 'int32'
            : x.dtype;
    if (op < 0) op = codes(b).reduce.get(name)!;
    return b.out(b.addon.Reduce(op, b.handle(x), axes, bool(attrs.keepDims), dtypeCode(dtype)));
  };
}

const listOf = (inputs: Inputs): TensorInfo[] => Object.values(inputs) as TensorInfo[];

function reshapeTo(b: TorchBackend, x: TensorInfo, shape: number[]): TensorInfo {
  return b.out(b.addon.Reshape(b.handle(x), shape));
}

const FUSED_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5, prelu: 6 };

/** tfjs's range rule (tfjs-backend-cpu rangeImpl): empty when the step points away from stop, and a
 * step of 1 counts down when stop < start; values accumulate in the output dtype. */
function rangeValues(start: number, stop: number, step: number, dtype: 'float32' | 'int32'): Float32Array | Int32Array {
  const empty = start === stop || (start < stop && step < 0) || (stop < start && step > 1);
  const n = empty ? 0 : Math.abs(Math.ceil((stop - start) / step));
  const values = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  if (stop < start && step === 1) step = -1;
  if (n > 0) values[0] = start;
  for (let i = 1; i < n; i++) values[i] = values[i - 1] + step;
  return values;
}

export const nativeKernels: Record<string, NativeKernel> = {
  // ------------------------------------------------------------------ elementwise
  ...Object.fromEntries(
    [
      'Abs',
      'Acos',
      'Acosh',
      'Asin',
      'Asinh',
      'Atan',
      'Atanh',
      'Ceil',
      'Cos',
      'Cosh',
      'Elu',
      'Erf',
      'Exp',
      'Expm1',
      'Floor',
      'IsFinite',
      'IsInf',
      'IsNan',
      'Log',
      'Log1p',
      'LogicalNot',
      'Neg',
      'Reciprocal',
      'Relu',
      'Relu6',
      'Round',
      'Rsqrt',
      'Selu',
      'Sigmoid',
      'Sign',
      'Sin',
      'Sinh',
      'Softplus',
      'Sqrt',
      'Square',
      'Tan',
      'Tanh',
      'ZerosLike',
      'OnesLike',
    ].map((n) => [n, unary(n)]),
  ),
  Step: unary('Step', (attrs) => num(attrs.alpha)),
  LeakyRelu: unary('LeakyRelu', (attrs) => num(attrs.alpha)),
  ...Object.fromEntries(
    [
      'Add',
      'Sub',
      'Multiply',
      'RealDiv',
      'Maximum',
      'Minimum',
      'Pow',
      'SquaredDifference',
      'Mod',
      'Atan2',
      'Equal',
      'NotEqual',
      'Less',
      'LessEqual',
      'Greater',
      'GreaterEqual',
      'LogicalAnd',
      'LogicalOr',
      'BitwiseAnd',
    ].map((n) => [n, binary(n)]),
  ),
  FloorDiv: binary('FloorDiv', 'int32'),
  Prelu: (b, { x, alpha }) => b.out(b.addon.Binary(codes(b).binary.get('Prelu')!, b.handle(x), b.handle(alpha), dtypeCode(x.dtype))),
  EluGrad: (b, { dy, y }) => b.out(b.addon.Binary(codes(b).binary.get('EluGrad')!, b.handle(dy), b.handle(y), dtypeCode(dy.dtype))),
  Identity: (b, { x }) => b.identity(x),
  Cast: (b, { x }, attrs) => {
    const dtype = attrs.dtype as DataType;
    return dtype === x.dtype ? b.identity(x) : b.out(b.addon.Cast(b.handle(x), dtypeCode(dtype)));
  },
  ClipByValue: (b, { x }, attrs) => b.out(b.addon.Clip(b.handle(x), num(attrs.clipValueMin), num(attrs.clipValueMax))),
  Select: (b, { condition, t, e }) => b.out(b.addon.Select(b.handle(condition), b.handle(t), b.handle(e))),
  AddN: (b, inputs) => {
    const list = listOf(inputs);
    return list.length === 1 ? b.identity(list[0]) : b.out(b.addon.AddN(list.map((t) => b.handle(t))));
  },

  // ------------------------------------------------------------------ reductions
  Sum: reduce('Sum'),
  Prod: reduce('Prod'),
  Mean: reduce('Mean'),
  Max: reduce('Max', 'reductionIndices'),
  Min: reduce('Min'),
  All: reduce('All'),
  Any: reduce('Any'),
  ArgMax: (b, { x }, attrs) => b.out(b.addon.ArgReduce(true, b.handle(x), axesOf(attrs.axis, x.shape)[0])),
  ArgMin: (b, { x }, attrs) => b.out(b.addon.ArgReduce(false, b.handle(x), axesOf(attrs.axis, x.shape)[0])),
  Cumsum: (b, { x }, attrs) =>
    b.out(b.addon.Cumulative(false, b.handle(x), axesOf(attrs.axis, x.shape)[0], bool(attrs.exclusive), bool(attrs.reverse))),
  Cumprod: (b, { x }, attrs) =>
    b.out(b.addon.Cumulative(true, b.handle(x), axesOf(attrs.axis, x.shape)[0], bool(attrs.exclusive), bool(attrs.reverse))),

  // ------------------------------------------------------------------ shapes
  Reshape: (b, { x }, attrs) => reshapeTo(b, x, util.inferFromImplicitShape(nums(attrs.shape).slice(), util.sizeFromShape(x.shape))),
  ExpandDims: (b, { input }, attrs) => {
    const rank = input.shape.length;
    const dim = num(attrs.dim);
    const shape = input.shape.slice();
    shape.splice(dim < 0 ? rank + dim + 1 : dim, 0, 1);
    return reshapeTo(b, input, shape);
  },
  Transpose: (b, { x }, attrs) => b.out(b.addon.Transpose(b.handle(x), nums(attrs.perm))),
  Slice: (b, { x }, attrs) => {
    const [begin, size] = slice_util.parseSliceParams(x, attrs.begin as number | number[], attrs.size as number | number[]);
    slice_util.assertParamsValid(x, begin, size);
    return b.out(b.addon.Slice(b.handle(x), begin, size));
  },
  StridedSlice: (b, { x }, attrs) => {
    const info = slice_util.sliceInfo(
      x.shape,
      nums(attrs.begin),
      nums(attrs.end),
      nums(attrs.strides),
      num(attrs.beginMask),
      num(attrs.endMask),
      num(attrs.ellipsisMask),
      num(attrs.newAxisMask),
      num(attrs.shrinkAxisMask),
    );
    if (info.isIdentity) return reshapeTo(b, x, info.finalShape);
    const sizes = slice_util.computeOutShape(info.begin, info.end, info.strides);
    return b.out(b.addon.StridedSlice(b.handle(x), info.begin, info.strides, sizes, info.finalShape));
  },
  Concat: (b, inputs, attrs) => {
    const list = listOf(inputs);
    const axis = util.parseAxisParam(num(attrs.axis), list[0].shape)[0];
    backend_util.assertParamsConsistent(
      list.map((t) => t.shape),
      axis,
    );
    const outShape = backend_util.computeOutShape(
      list.map((t) => t.shape),
      axis,
    );
    if (util.sizeFromShape(outShape) === 0) return b.out(b.addon.Fill(outShape, 0, dtypeCode(list[0].dtype)));
    const nonEmpty = list.filter((t) => util.sizeFromShape(t.shape) > 0);
    if (nonEmpty.length === 1) return b.identity(nonEmpty[0]);
    return b.out(
      b.addon.Concat(
        nonEmpty.map((t) => b.handle(t)),
        axis,
      ),
    );
  },
  Pack: (b, inputs, attrs) => {
    const list = listOf(inputs);
    const axis = num(attrs.axis);
    if (list.length === 1) {
      const shape = list[0].shape.slice();
      shape.splice(axis < 0 ? shape.length + axis + 1 : axis, 0, 1);
      return reshapeTo(b, list[0], shape);
    }
    return b.out(
      b.addon.Stack(
        list.map((t) => b.handle(t)),
        axis,
      ),
    );
  },
  Unpack: (b, { value }, attrs) => b.outs(b.addon.Unstack(b.handle(value), axesOf(attrs.axis, value.shape)[0])),
  SplitV: (b, { x }, attrs) => {
    const axis = axesOf(attrs.axis, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x, attrs.numOrSizeSplits as number | number[], axis);
    return b.outs(b.addon.Split(b.handle(x), sizes, axis));
  },
  Tile: (b, { x }, attrs) => b.out(b.addon.Tile(b.handle(x), nums(attrs.reps))),
  BroadcastTo: (b, { x }, attrs) => b.out(b.addon.BroadcastTo(b.handle(x), nums(attrs.shape))),
  Reverse: (b, { x }, attrs) => (x.shape.length === 0 ? b.identity(x) : b.out(b.addon.Reverse(b.handle(x), axesOf(attrs.dims, x.shape)))),
  PadV2: (b, { x }, attrs) => b.out(b.addon.Pad(b.handle(x), (attrs.paddings as Array<[number, number]>).flat(), num(attrs.constantValue))),

  // ------------------------------------------------------------------ indexing
  GatherV2: (b, { x, indices }, attrs) => {
    if (attrs.batchDims != null && num(attrs.batchDims) !== 0) throw new UseFallback();
    const axis = axesOf(attrs.axis, x.shape)[0];
    return b.out(b.addon.Gather(b.handle(x), b.handle(indices), axis));
  },
  GatherNd: (b, { params, indices }) => b.out(b.addon.GatherNd(b.handle(params), b.handle(indices))),
  UnsortedSegmentSum: (b, { x, segmentIds }, attrs) => b.out(b.addon.SegmentSum(b.handle(x), b.handle(segmentIds), num(attrs.numSegments))),
  OneHot: (b, { indices }, attrs) =>
    b.out(
      b.addon.OneHot(
        b.handle(indices),
        num(attrs.depth),
        num(attrs.onValue),
        num(attrs.offValue),
        dtypeCode((attrs.dtype as DataType) ?? 'int32'),
      ),
    ),
  SearchSorted: (b, { sortedSequence, values }, attrs) =>
    b.out(b.addon.SearchSorted(b.handle(sortedSequence), b.handle(values), attrs.side === 'right')),

  // ------------------------------------------------------------------ creation
  Fill: (b, _inputs, attrs) => {
    if (typeof attrs.value === 'string') throw new UseFallback();
    return b.out(b.addon.Fill(nums(attrs.shape), num(attrs.value), dtypeCode(attrs.dtype as DataType)));
  },
  Range: (b, _inputs, attrs) => {
    const dtype = attrs.dtype as 'float32' | 'int32';
    const values = rangeValues(num(attrs.start), num(attrs.stop), num(attrs.step), dtype);
    return b.makeTensorInfo([values.length], dtype, values);
  },
  LinSpace: (b, _inputs, attrs) => b.out(b.addon.LinSpace(num(attrs.start), num(attrs.stop), num(attrs.num))),

  // ------------------------------------------------------------------ matmul, softmax, sampling
  BatchMatMul: (b, { a, b: bt }, attrs) =>
    b.out(b.addon.MatMul(b.handle(a), b.handle(bt), bool(attrs.transposeA), bool(attrs.transposeB), -1, 0, -1, 0)),
  _FusedMatMul: (b, { a, b: bt, bias, preluActivationWeights }, attrs) => {
    const activation = FUSED_ACTIVATIONS[(attrs.activation as string) ?? 'linear'];
    if (activation === undefined) throw new UseFallback();
    return b.out(
      b.addon.MatMul(
        b.handle(a),
        b.handle(bt),
        bool(attrs.transposeA),
        bool(attrs.transposeB),
        bias ? b.handle(bias) : -1,
        activation,
        preluActivationWeights ? b.handle(preluActivationWeights) : -1,
        num(attrs.leakyreluAlpha ?? 0.2),
      ),
    );
  },
  Einsum: (b, inputs, attrs) =>
    b.out(
      b.addon.Einsum(
        attrs.equation as string,
        listOf(inputs).map((t) => b.handle(t)),
      ),
    ),
  Softmax: (b, { logits }, attrs) => b.out(b.addon.Softmax(b.handle(logits), num(attrs.dim), false)),
  LogSoftmax: (b, { logits }, attrs) => b.out(b.addon.Softmax(b.handle(logits), num(attrs.axis), true)),
  TopK: (b, { x }, attrs) => {
    const k = num(attrs.k);
    const last = x.shape[x.shape.length - 1];
    if (k > last) throw new Error(`'k' passed to topk() must be <= the last dimension (${last}) but got ${k}`);
    return b.outs(b.addon.TopK(b.handle(x), k));
  },
  // Uniforms come from the same alea(seed) stream tfjs-backend-cpu uses, so both backends agree.
  Multinomial: (b, { logits }, attrs) => {
    const random = seedrandom.alea(String(attrs.seed));
    const uniforms = new Float64Array(num(attrs.numSamples));
    for (let i = 0; i < uniforms.length; i++) uniforms[i] = random();
    return b.out(b.addon.Multinomial(b.handle(logits), uniforms, bool(attrs.normalized)));
  },
};
