// Node-API addon: a handle table of libtorch tensors plus the ops the tfjs 'torch' backend calls.
// Every op takes integer handles, returns the handle of a new tensor and writes that tensor's dtype and
// shape into a shared Int32Array (`meta`), so JS never allocates to learn an output shape.
#include <napi.h>
#include <torch/torch.h>
#include <ATen/Parallel.h>
#if TORCH_BUILT_WITH_CUDA && !defined(SVGAP_NO_CUDA_STATS)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

// tfjs dtype codes, shared with lib/addon.ts.
enum DType : int32_t { kF32 = 0, kI32 = 1, kBool = 2 };
constexpr int kMaxRank = 16;

std::vector<at::Tensor> slots;   // handle -> tensor; undefined tensor = free slot
std::vector<int32_t> freeSlots;  // reusable handles
int64_t liveCount = 0;
int32_t* meta = nullptr;  // [dtype, rank, dims...]
Napi::Reference<Napi::ArrayBuffer> metaRef;
at::Device device(at::kCPU);

// Matmul precision (SetPrecision): fp32; tf32 (TF32 tensor cores for float32 matmuls on CUDA, a no-op on CPU);
// bf16 (autocast semantics: matmul inputs cast to bfloat16, products accumulated and returned in float32).
enum Precision : int32_t { kFp32 = 0, kTf32 = 1, kBf16 = 2 };
int32_t precision = kFp32;

at::ScalarType scalarOf(int32_t code) {
  switch (code) {
    case kF32: return at::kFloat;
    case kI32: return at::kInt;
    case kBool: return at::kBool;
  }
  throw std::runtime_error("tfjs-backend-torch: unknown dtype code " + std::to_string(code));
}

// tfjs only has float32/int32/bool: torch results of other types are narrowed to those.
at::Tensor normalize(at::Tensor t) {
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kInt:
    case at::kBool:
      return t;
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16:
      return t.to(at::kFloat);
    default:
      return t.to(at::kInt);
  }
}

int32_t codeOf(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return kF32;
    case at::kInt: return kI32;
    case at::kBool: return kBool;
    default: throw std::runtime_error("tfjs-backend-torch: unexpected tensor dtype");
  }
}

void writeMeta(const at::Tensor& t) {
  const int64_t rank = t.dim();
  if (rank > kMaxRank) throw std::runtime_error("tfjs-backend-torch: rank > 16 is not supported");
  meta[0] = codeOf(t);
  meta[1] = static_cast<int32_t>(rank);
  for (int64_t i = 0; i < rank; ++i) meta[2 + i] = static_cast<int32_t>(t.size(i));
}

// float -> int32 as JS stores a number into an Int32Array (ToInt32): NaN and ±Inf become 0, the rest truncates
// and wraps modulo 2^32. A plain C++ cast would be undefined outside the int32 range.
at::Tensor toInt32(const at::Tensor& t) {
  if (!t.is_floating_point()) return t.to(at::kInt);
  auto d = t.to(at::kDouble).nan_to_num(0, 0, 0).trunc();
  return at::fmod(d, 4294967296.0).to(at::kLong).to(at::kInt);
}

at::Tensor castTo(const at::Tensor& t, at::ScalarType st) { return st == at::kInt ? toInt32(t) : t.to(st); }

int32_t put(at::Tensor t, int32_t dtype = -1) {
  t = normalize(std::move(t));
  if (dtype >= 0 && codeOf(t) != dtype) t = castTo(t, scalarOf(dtype));
  writeMeta(t);
  int32_t id;
  if (!freeSlots.empty()) {
    id = freeSlots.back();
    freeSlots.pop_back();
    slots[id] = std::move(t);
  } else {
    id = static_cast<int32_t>(slots.size());
    slots.push_back(std::move(t));
  }
  ++liveCount;
  return id;
}

at::Tensor get(const Napi::Value& v) {
  const int32_t id = v.As<Napi::Number>().Int32Value();
  if (id < 0 || id >= static_cast<int32_t>(slots.size()) || !slots[id].defined()) {
    throw std::runtime_error("tfjs-backend-torch: invalid tensor handle " + std::to_string(id));
  }
  return slots[id];
}

int32_t I(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }
double D(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
bool B(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }

std::vector<int64_t> ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().Int64Value());
  } else if (v.IsTypedArray()) {
    auto ta = v.As<Napi::Int32Array>();
    out.assign(ta.Data(), ta.Data() + ta.ElementLength());
  } else if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    const uint32_t n = arr.Length();
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i) out.push_back(arr.Get(i).As<Napi::Number>().Int64Value());
  } else {
    throw std::runtime_error("tfjs-backend-torch: expected a number array");
  }
  return out;
}

std::vector<at::Tensor> tensors(const Napi::Value& v) {
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(get(arr.Get(i)));
  return out;
}

Napi::Value ids(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, put(ts[i])));
  return arr;
}

at::TensorOptions opts(at::ScalarType st) { return at::TensorOptions().dtype(st).device(device); }

// Wraps an op so libtorch errors become JS exceptions and autograd bookkeeping is off.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    c10::InferenceMode guard;
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value num(const Napi::CallbackInfo& info, int32_t id) { return Napi::Number::New(info.Env(), id); }

// ---------------------------------------------------------------- setup, data

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string want = info[0].As<Napi::String>().Utf8Value();
  const int32_t threads = I(info, 1);
  const bool cudaOk = torch::cuda::is_available();
  if (want == "cuda" && !cudaOk) {
    throw std::runtime_error(TORCH_BUILT_WITH_CUDA ? "device 'cuda' requested but no CUDA device is visible"
                                                   : "device 'cuda' requested but the addon was built against a CPU-only libtorch");
  }
  if (want != "cpu" && want != "cuda" && want != "auto") throw std::runtime_error("device must be cpu, cuda or auto, got " + want);
  device = (want == "cuda" || (want == "auto" && cudaOk)) ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (threads > 0) at::set_num_threads(threads);
  auto out = Napi::Object::New(env);
  out.Set("device", device.is_cuda() ? "cuda" : "cpu");
  out.Set("threads", Napi::Number::New(env, at::get_num_threads()));
  out.Set("version", Napi::String::New(env, TORCH_VERSION));
  out.Set("builtWithCuda", Napi::Boolean::New(env, TORCH_BUILT_WITH_CUDA != 0));
  out.Set("cudaAvailable", Napi::Boolean::New(env, cudaOk));
  out.Set("cudaDeviceCount", Napi::Number::New(env, cudaOk ? static_cast<double>(torch::cuda::device_count()) : 0.0));
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(I(info, 0));
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

// Copies host memory (owned by JS) into a new tensor on the device. On CUDA the bytes go through a pinned
// staging buffer (torch's caching host allocator) so the upload is asynchronous, and one-element tensors
// (scalars from JS numbers) are filled on the device without any copy.
at::Tensor fromHost(void* data, at::IntArrayRef shape, at::ScalarType src) {
  at::Tensor host = torch::from_blob(data, shape, at::TensorOptions().dtype(src));
  if (device.is_cpu()) return host.clone();
  if (host.numel() == 1) return at::full(shape, host.item(), opts(src));
  at::Tensor pinned = at::empty(shape, at::TensorOptions().dtype(src).pinned_memory(true));
  std::memcpy(pinned.data_ptr(), data, host.nbytes());
  return pinned.to(device, /*non_blocking=*/true);
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  auto ta = info[0].As<Napi::TypedArray>();
  auto shape = ints(info[1]);
  const int32_t dtype = I(info, 2);
  at::ScalarType src;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: src = at::kFloat; break;
    case napi_int32_array: src = at::kInt; break;
    case napi_uint8_array:
    case napi_uint8_clamped_array: src = dtype == kBool ? at::kBool : at::kByte; break;
    case napi_int8_array: src = at::kChar; break;
    case napi_int16_array: src = at::kShort; break;
    case napi_float64_array: src = at::kDouble; break;
    default: throw std::runtime_error("tfjs-backend-torch: unsupported typed array for write");
  }
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (static_cast<int64_t>(ta.ElementLength()) != n) {
    throw std::runtime_error("tfjs-backend-torch: write got " + std::to_string(ta.ElementLength()) + " values for " +
                             std::to_string(n) + " elements");
  }
  void* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return num(info, put(castTo(fromHost(data, shape, src), scalarOf(dtype))));
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = get(info[0]).contiguous();
  if (!t.is_cpu()) t = t.cpu();
  const size_t n = static_cast<size_t>(t.numel());
  const size_t bytes = n * t.element_size();
  auto ab = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(ab.Data(), t.data_ptr(), bytes);
  switch (codeOf(t)) {
    case kF32: return Napi::Float32Array::New(env, n, ab, 0);
    case kI32: return Napi::Int32Array::New(env, n, ab, 0);
    default: return Napi::Uint8Array::New(env, n, ab, 0);
  }
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  const int32_t id = I(info, 0);
  if (id >= 0 && id < static_cast<int32_t>(slots.size()) && slots[id].defined()) {
    slots[id] = at::Tensor();
    freeSlots.push_back(id);
    --liveCount;
  }
  return info.Env().Undefined();
}

Napi::Value Meta(const Napi::CallbackInfo& info) {
  writeMeta(get(info[0]));
  return info.Env().Undefined();
}

// [live tensors, bytes held by their (deduplicated) storages]
Napi::Value Stats(const Napi::CallbackInfo& info) {
  std::unordered_set<const void*> seen;
  double bytes = 0;
  for (const auto& t : slots) {
    if (!t.defined()) continue;
    const auto& st = t.storage();
    if (seen.insert(st.unsafeGetStorageImpl()).second) bytes += static_cast<double>(st.nbytes());
  }
  auto arr = Napi::Array::New(info.Env(), 2);
  arr.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(liveCount)));
  arr.Set(1u, Napi::Number::New(info.Env(), bytes));
  return arr;
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  if (device.is_cuda()) torch::cuda::synchronize();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- elementwise

#define UNARY_OPS(X)                                                                                       \
  X(Abs) X(Acos) X(Acosh) X(Asin) X(Asinh) X(Atan) X(Atanh) X(Ceil) X(Cos) X(Cosh) X(Elu) X(Erf) X(Exp)  \
  X(Expm1) X(Floor) X(IsFinite) X(IsInf) X(IsNan) X(Log) X(Log1p) X(LogicalNot) X(Neg) X(Reciprocal)     \
  X(Relu) X(Relu6) X(Round) X(Rsqrt) X(Selu) X(Sigmoid) X(Sign) X(Sin) X(Sinh) X(Softplus) X(Sqrt)       \
  X(Square) X(Tan) X(Tanh) X(Step) X(LeakyRelu) X(ZerosLike) X(OnesLike) X(Clone)

#define BINARY_OPS(X)                                                                                     \
  X(Add) X(Sub) X(Multiply) X(RealDiv) X(Maximum) X(Minimum) X(Pow) X(SquaredDifference) X(FloorDiv)     \
  X(Mod) X(Atan2) X(Equal) X(NotEqual) X(Less) X(LessEqual) X(Greater) X(GreaterEqual) X(LogicalAnd)     \
  X(LogicalOr) X(Prelu) X(EluGrad) X(BitwiseAnd)

#define REDUCE_OPS(X) X(Sum) X(Prod) X(Max) X(Min) X(Mean) X(All) X(Any)

#define ENUM_ITEM(n) n,
#define NAME_ITEM(n) #n,
enum class U { UNARY_OPS(ENUM_ITEM) };
enum class Bi { BINARY_OPS(ENUM_ITEM) };
enum class R { REDUCE_OPS(ENUM_ITEM) };
const char* unaryNames[] = {UNARY_OPS(NAME_ITEM)};
const char* binaryNames[] = {BINARY_OPS(NAME_ITEM)};
const char* reduceNames[] = {REDUCE_OPS(NAME_ITEM)};

Napi::Array names(Napi::Env env, const char* const* list, size_t n) {
  auto arr = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) arr.Set(static_cast<uint32_t>(i), list[i]);
  return arr;
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("unary", names(info.Env(), unaryNames, std::size(unaryNames)));
  out.Set("binary", names(info.Env(), binaryNames, std::size(binaryNames)));
  out.Set("reduce", names(info.Env(), reduceNames, std::size(reduceNames)));
  return out;
}

at::Tensor floatOf(const at::Tensor& x) { return x.is_floating_point() ? x : x.to(at::kFloat); }

// unary(op, x, param, outDtype)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const auto op = static_cast<U>(I(info, 0));
  at::Tensor x = get(info[1]);
  const double p = D(info, 2);
  const int32_t dtype = I(info, 3);
  at::Tensor y;
  const bool integral = !x.is_floating_point();
  switch (op) {
    case U::Abs: y = x.abs(); break;
    case U::Acos: y = floatOf(x).acos(); break;
    case U::Acosh: y = floatOf(x).acosh(); break;
    case U::Asin: y = floatOf(x).asin(); break;
    case U::Asinh: y = floatOf(x).asinh(); break;
    case U::Atan: y = floatOf(x).atan(); break;
    case U::Atanh: y = floatOf(x).atanh(); break;
    case U::Ceil: y = integral ? x : x.ceil(); break;
    case U::Cos: y = floatOf(x).cos(); break;
    case U::Cosh: y = floatOf(x).cosh(); break;
    case U::Elu: y = at::elu(floatOf(x)); break;
    case U::Erf: y = floatOf(x).erf(); break;
    case U::Exp: y = floatOf(x).exp(); break;
    case U::Expm1: y = floatOf(x).expm1(); break;
    case U::Floor: y = integral ? x : x.floor(); break;
    case U::IsFinite: y = x.isfinite(); break;
    case U::IsInf: y = x.isinf(); break;
    case U::IsNan: y = x.isnan(); break;
    case U::Log: y = floatOf(x).log(); break;
    case U::Log1p: y = floatOf(x).log1p(); break;
    case U::LogicalNot: y = x.logical_not(); break;
    case U::Neg: y = x.neg(); break;
    case U::Reciprocal: y = floatOf(x).reciprocal(); break;
    case U::Relu: y = x.clamp_min(0); break;
    case U::Relu6: y = x.clamp(0, 6); break;
    case U::Round: y = integral ? x : x.round(); break;
    case U::Rsqrt: y = floatOf(x).rsqrt(); break;
    case U::Selu: y = at::selu(floatOf(x)); break;
    case U::Sigmoid: y = floatOf(x).sigmoid(); break;
    case U::Sign: y = x.sign(); break;
    case U::Sin: y = floatOf(x).sin(); break;
    case U::Sinh: y = floatOf(x).sinh(); break;
    case U::Softplus: y = at::softplus(floatOf(x)); break;
    case U::Sqrt: y = floatOf(x).sqrt(); break;
    case U::Square: y = x * x; break;
    case U::Tan: y = floatOf(x).tan(); break;
    case U::Tanh: y = floatOf(x).tanh(); break;
    // tfjs step: NaN stays NaN, x > 0 -> 1, else alpha
    case U::Step:
      y = at::where(x > 0, at::ones_like(x), at::full_like(x, p));
      if (x.is_floating_point()) y = y.masked_fill(x.isnan(), NAN);
      break;
    case U::LeakyRelu: y = at::where(x < 0, x * p, x); break;
    case U::ZerosLike: y = at::zeros_like(x, at::MemoryFormat::Contiguous); break;
    case U::OnesLike: y = at::ones_like(x, at::MemoryFormat::Contiguous); break;
    case U::Clone: y = x.clone(at::MemoryFormat::Contiguous); break;
  }
  return num(info, put(y, dtype));
}

// binary(op, a, b, outDtype)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const auto op = static_cast<Bi>(I(info, 0));
  at::Tensor a = get(info[1]);
  at::Tensor b = get(info[2]);
  const int32_t dtype = I(info, 3);
  at::Tensor y;
  switch (op) {
    case Bi::Add: y = a + b; break;
    case Bi::Sub: y = a - b; break;
    case Bi::Multiply: y = a * b; break;
    case Bi::RealDiv: y = at::div(a, b); break;
    case Bi::Maximum: y = at::maximum(a, b); break;
    case Bi::Minimum: y = at::minimum(a, b); break;
    case Bi::Pow:
      y = a.is_floating_point() ? at::pow(a, b) : at::pow(a.to(at::kDouble), b.to(at::kDouble));
      break;
    case Bi::SquaredDifference: {
      auto d = a - b;
      y = d * d;
      break;
    }
    case Bi::FloorDiv: y = at::div(floatOf(a), floatOf(b), "floor"); break;
    case Bi::Mod: y = at::remainder(a, b); break;
    case Bi::Atan2: y = at::atan2(floatOf(a), floatOf(b)); break;
    case Bi::Equal: y = at::eq(a, b); break;
    case Bi::NotEqual: y = at::ne(a, b); break;
    case Bi::Less: y = at::lt(a, b); break;
    case Bi::LessEqual: y = at::le(a, b); break;
    case Bi::Greater: y = at::gt(a, b); break;
    case Bi::GreaterEqual: y = at::ge(a, b); break;
    case Bi::LogicalAnd: y = at::logical_and(a, b); break;
    case Bi::LogicalOr: y = at::logical_or(a, b); break;
    case Bi::Prelu: y = at::where(a < 0, a * b, a); break;
    // tfjs EluGrad(dy, y): dy where y >= 0, dy * (y + 1) elsewhere
    case Bi::EluGrad: y = at::where(b >= 0, a, a * (b + 1)); break;
    case Bi::BitwiseAnd: y = at::bitwise_and(a, b); break;
  }
  return num(info, put(y, dtype));
}

// reduce(op, x, axes, keepDims, outDtype); empty axes is the identity (torch would reduce everything)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  const auto op = static_cast<R>(I(info, 0));
  at::Tensor x = get(info[1]);
  auto axes = ints(info[2]);
  const bool keep = B(info, 3);
  const int32_t dtype = I(info, 4);
  if (axes.empty()) return num(info, put(op == R::Mean ? floatOf(x) : x, dtype));
  std::sort(axes.begin(), axes.end(), std::greater<int64_t>());
  at::Tensor y;
  switch (op) {
    case R::Sum: y = x.sum(axes, keep); break;
    case R::Mean: y = floatOf(x).mean(axes, keep); break;
    case R::Max: y = at::amax(x, axes, keep); break;
    case R::Min: y = at::amin(x, axes, keep); break;
    case R::Prod:
    case R::All:
    case R::Any:
      // these reduce one dim at a time; descending order keeps the remaining indices valid
      y = x;
      for (auto ax : axes) y = op == R::Prod ? y.prod(ax, keep) : op == R::All ? y.all(ax, keep) : y.any(ax, keep);
      break;
  }
  return num(info, put(y, dtype));
}

// argReduce(isMax, x, axis)
Napi::Value ArgReduce(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[1]);
  const int64_t axis = I(info, 2);
  return num(info, put(B(info, 0) ? x.argmax(axis) : x.argmin(axis)));
}

Napi::Value Cast(const Napi::CallbackInfo& info) { return num(info, put(castTo(get(info[0]), scalarOf(I(info, 1))))); }

// clip(x, min, max)
Napi::Value Clip(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  return num(info, put(x.clamp(D(info, 1), D(info, 2)), codeOf(x)));
}

// select(cond, a, b); a rank-1 condition picks along the first axis
Napi::Value Select(const Napi::CallbackInfo& info) {
  at::Tensor c = get(info[0]);
  at::Tensor a = get(info[1]);
  at::Tensor b = get(info[2]);
  if (c.dim() == 1 && a.dim() > 1) {
    std::vector<int64_t> shape(a.dim(), 1);
    shape[0] = c.size(0);
    c = c.reshape(shape);
  }
  return num(info, put(at::where(c.to(at::kBool), a, b)));
}

Napi::Value AddN(const Napi::CallbackInfo& info) {
  auto ts = tensors(info[0]);
  at::Tensor y = ts[0];
  for (size_t i = 1; i < ts.size(); ++i) y = y + ts[i];
  if (ts.size() == 1) y = y.clone();
  return num(info, put(y));
}

// ---------------------------------------------------------------- shapes and indexing

Napi::Value Reshape(const Napi::CallbackInfo& info) { return num(info, put(get(info[0]).reshape(ints(info[1])))); }

Napi::Value Transpose(const Napi::CallbackInfo& info) { return num(info, put(get(info[0]).permute(ints(info[1])))); }

// slice(x, begin, size)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  auto begin = ints(info[1]);
  auto size = ints(info[2]);
  for (size_t d = 0; d < begin.size(); ++d) {
    if (begin[d] != 0 || size[d] != x.size(d)) x = x.narrow(d, begin[d], size[d]);
  }
  return num(info, put(x));
}

// stridedSlice(x, begin, strides, sizes, finalShape): out[loc] = x[begin + loc * strides], loc < sizes
Napi::Value StridedSlice(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  auto begin = ints(info[1]);
  auto strides = ints(info[2]);
  auto sizes = ints(info[3]);
  auto finalShape = ints(info[4]);
  for (size_t d = 0; d < sizes.size(); ++d) {
    const int64_t n = sizes[d], b = begin[d], s = strides[d];
    if (n == 0) {
      x = x.narrow(d, 0, 0);
    } else if (s > 0) {
      x = x.slice(d, b, b + (n - 1) * s + 1, s);
    } else {
      auto idx = at::arange(b, b + n * s, s, opts(at::kLong));
      x = x.index_select(d, idx);
    }
  }
  return num(info, put(x.reshape(finalShape)));
}

Napi::Value Concat(const Napi::CallbackInfo& info) { return num(info, put(at::cat(tensors(info[0]), I(info, 1)))); }

Napi::Value Stack(const Napi::CallbackInfo& info) { return num(info, put(at::stack(tensors(info[0]), I(info, 1)))); }

Napi::Value Unstack(const Napi::CallbackInfo& info) {
  return ids(info.Env(), get(info[0]).unbind(I(info, 1)));
}

Napi::Value Split(const Napi::CallbackInfo& info) {
  return ids(info.Env(), get(info[0]).split_with_sizes(ints(info[1]), I(info, 2)));
}

Napi::Value Tile(const Napi::CallbackInfo& info) { return num(info, put(get(info[0]).repeat(ints(info[1])))); }

Napi::Value BroadcastTo(const Napi::CallbackInfo& info) { return num(info, put(get(info[0]).expand(ints(info[1])))); }

Napi::Value Reverse(const Napi::CallbackInfo& info) { return num(info, put(get(info[0]).flip(ints(info[1])))); }

// pad(x, flatPairs [b0, a0, b1, a1, ...], value)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  auto pairs = ints(info[1]);
  std::vector<int64_t> pad;  // torch wants the last dim first
  for (int64_t d = static_cast<int64_t>(pairs.size()) / 2 - 1; d >= 0; --d) {
    pad.push_back(pairs[2 * d]);
    pad.push_back(pairs[2 * d + 1]);
  }
  return num(info, put(at::constant_pad_nd(x, pad, D(info, 2))));
}

// gather(x, indices, axis): out shape = x[:axis] + indices.shape + x[axis+1:]
Napi::Value Gather(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  at::Tensor idx = get(info[1]);
  const int64_t axis = I(info, 2);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  for (auto s : idx.sizes()) shape.push_back(s);
  for (int64_t d = axis + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
  return num(info, put(x.index_select(axis, idx.reshape({-1}).to(at::kLong)).reshape(shape)));
}

// gatherNd(x, indices): indices [..., K] address the first K dims of x
Napi::Value GatherNd(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  at::Tensor idx = get(info[1]);
  const int64_t k = idx.size(-1);
  std::vector<int64_t> outShape(idx.sizes().begin(), idx.sizes().end() - 1);
  int64_t lead = 1;
  for (int64_t d = 0; d < k; ++d) lead *= x.size(d);
  for (int64_t d = k; d < x.dim(); ++d) outShape.push_back(x.size(d));
  auto flatIdx = idx.reshape({-1, k}).to(at::kLong);
  std::vector<int64_t> strides(k);
  int64_t s = 1;
  for (int64_t d = k - 1; d >= 0; --d) {
    strides[d] = s;
    s *= x.size(d);
  }
  auto lin = (flatIdx * at::tensor(strides, at::TensorOptions().dtype(at::kLong)).to(device)).sum(-1);
  std::vector<int64_t> flatShape = {lead};
  for (int64_t d = k; d < x.dim(); ++d) flatShape.push_back(x.size(d));
  return num(info, put(x.reshape(flatShape).index_select(0, lin).reshape(outShape)));
}

// segmentSum(x, segmentIds, numSegments): ids outside [0, n) are dropped, as in tfjs
Napi::Value SegmentSum(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  at::Tensor seg = get(info[1]);
  const int64_t n = I(info, 2);
  auto flatSeg = seg.reshape({-1}).to(at::kLong);
  flatSeg = at::where((flatSeg >= 0) & (flatSeg < n), flatSeg, at::full_like(flatSeg, n));
  std::vector<int64_t> rowShape = {flatSeg.size(0)};
  std::vector<int64_t> outShape = {n + 1};
  for (int64_t d = seg.dim(); d < x.dim(); ++d) {
    rowShape.push_back(x.size(d));
    outShape.push_back(x.size(d));
  }
  auto out = at::zeros(outShape, x.options());
  out.index_add_(0, flatSeg, x.reshape(rowShape));
  return num(info, put(out.narrow(0, 0, n)));
}

// oneHot(indices, depth, on, off, dtype); out-of-range indices give an all-off row
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  at::Tensor idx = get(info[0]);
  const int64_t depth = I(info, 1);
  const auto st = scalarOf(I(info, 4));
  auto hit = idx.unsqueeze(-1) == at::arange(depth, opts(idx.scalar_type()));
  return num(info, put(at::where(hit, at::scalar_tensor(D(info, 2), opts(st)), at::scalar_tensor(D(info, 3), opts(st)))));
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  return num(info, put(at::full(ints(info[0]), D(info, 1), opts(scalarOf(I(info, 2))))));
}

Napi::Value LinSpace(const Napi::CallbackInfo& info) {
  return num(info, put(at::linspace(D(info, 0), D(info, 1), I(info, 2), opts(at::kFloat))));
}

// ---------------------------------------------------------------- linear algebra, softmax, sampling

// a · b under the precision setting; float32 in, float32 out
at::Tensor product(const at::Tensor& a, const at::Tensor& b) {
  if (precision == kBf16 && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat) {
    return at::matmul(a.to(at::kBFloat16), b.to(at::kBFloat16)).to(at::kFloat);
  }
  return at::matmul(a, b);
}

enum Activation { kLinear = 0, kRelu, kRelu6, kElu, kSigmoid, kLeakyRelu, kPrelu };

// matmul(a, b, transposeA, transposeB, bias|-1, activation, prelu|-1, alpha)
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  at::Tensor a = get(info[0]);
  at::Tensor b = get(info[1]);
  if (B(info, 2)) a = a.transpose(-1, -2);
  if (B(info, 3)) b = b.transpose(-1, -2);
  const int32_t biasId = I(info, 4);
  at::Tensor y;
  if (biasId >= 0 && a.dim() == 2 && b.dim() == 2 && precision != kBf16) {
    y = at::addmm(get(info[4]), a, b);
  } else {
    y = product(a, b);
    if (biasId >= 0) y = y + get(info[4]);
  }
  switch (I(info, 5)) {
    case kLinear: break;
    case kRelu: y = y.clamp_min(0); break;
    case kRelu6: y = y.clamp(0, 6); break;
    case kElu: y = at::elu(y); break;
    case kSigmoid: y = y.sigmoid(); break;
    case kLeakyRelu: y = at::where(y < 0, y * D(info, 7), y); break;
    case kPrelu: y = at::where(y < 0, y * get(info[6]), y); break;
    default: throw std::runtime_error("tfjs-backend-torch: unknown fused activation");
  }
  return num(info, put(y));
}

Napi::Value Einsum(const Napi::CallbackInfo& info) {
  return num(info, put(at::einsum(info[0].As<Napi::String>().Utf8Value(), tensors(info[1]))));
}

// softmax(x, dim, log)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  const int64_t dim = I(info, 1);
  return num(info, put(B(info, 2) ? at::log_softmax(floatOf(x), dim) : at::softmax(floatOf(x), dim)));
}

// topK(x, k) -> [values, indices]; a stable descending sort keeps tfjs's lower-index-first tie order
Napi::Value TopK(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  const int64_t k = I(info, 1);
  auto sorted = at::sort(x, /*stable=*/true, /*dim=*/-1, /*descending=*/true);
  return ids(info.Env(), {std::get<0>(sorted).narrow(-1, 0, k), std::get<1>(sorted).narrow(-1, 0, k)});
}

// cumulative(isProd, x, axis, exclusive, reverse)
Napi::Value Cumulative(const Napi::CallbackInfo& info) {
  const bool prod = B(info, 0);
  at::Tensor x = get(info[1]);
  const int64_t axis = I(info, 2);
  const bool exclusive = B(info, 3), reverse = B(info, 4);
  const int32_t dtype = codeOf(x) == kBool ? kI32 : codeOf(x);
  if (reverse) x = x.flip(axis);
  at::Tensor y = prod ? x.cumprod(axis) : x.cumsum(axis);
  if (exclusive) {
    const int64_t n = x.size(axis);
    auto first = prod ? at::ones_like(x.narrow(axis, 0, 1)) : at::zeros_like(x.narrow(axis, 0, 1));
    y = at::cat({first.to(y.scalar_type()), y.narrow(axis, 0, std::max<int64_t>(n - 1, 0))}, axis);
  }
  if (reverse) y = y.flip(axis);
  return num(info, put(y, dtype));
}

// multinomial(logits [batch, events], uniforms Float64Array [samples], normalized): every row uses the
// same uniforms, exactly like tfjs-backend-cpu, so both backends draw the same samples for a seed.
// A sample is the first event whose float32 cdf exceeds the uniform (compared in double, as in JS).
Napi::Value Multinomial(const Napi::CallbackInfo& info) {
  at::Tensor logits = get(info[0]);
  auto u = info[1].As<Napi::Float64Array>();
  const bool normalized = B(info, 2);
  const int64_t batch = logits.size(0), events = logits.size(1), samples = u.ElementLength();
  if (events <= 1) return num(info, put(at::zeros({batch, samples}, opts(at::kInt))));
  auto probs = normalized ? floatOf(logits) : at::softmax(floatOf(logits), -1);
  auto cdf = probs.cumsum(-1).narrow(-1, 0, events - 1).to(at::kDouble).contiguous();
  auto r = fromHost(u.Data(), {1, samples}, at::kDouble);
  r = r.expand({batch, samples}).contiguous();
  return num(info, put(at::searchsorted(cdf, r, /*out_int32=*/true, /*right=*/true)));
}

Napi::Value SearchSorted(const Napi::CallbackInfo& info) {
  return num(info, put(at::searchsorted(get(info[0]).contiguous(), get(info[1]).contiguous(), true, B(info, 2))));
}

// ---------------------------------------------------------------- fused model ops (src/model/fused.ts holds the
// tfjs compositions they replace, in the same operation order, and the conformance tests compare the two)

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w, double eps) { return x * at::rsqrt((x * x).mean(-1, true) + eps) * w; }

// rmsNorm(x, weight, eps)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) { return num(info, put(rmsNorm(get(info[0]), get(info[1]), D(info, 2)))); }

// addRmsNorm(x, residual, weight, eps) -> [x + residual, rmsNorm(x + residual)]
Napi::Value AddRmsNorm(const Napi::CallbackInfo& info) {
  at::Tensor h = get(info[0]) + get(info[1]);
  return ids(info.Env(), {h, rmsNorm(h, get(info[2]), D(info, 3))});
}

// swiGlu(gateUp [n, 2m]) -> silu(gate) * up, gate and up the two halves of the last axis
Napi::Value SwiGlu(const Napi::CallbackInfo& info) {
  auto parts = get(info[0]).chunk(2, -1);
  return num(info, put(parts[0] * parts[0].sigmoid() * parts[1]));
}

// linear(x [n, in], weight [out, in], bias|-1, loraA [r, in]|-1, loraB [out, r]|-1, scale) -> x Wᵀ + b + scale · (x Aᵀ) Bᵀ
Napi::Value Linear(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  at::Tensor y = product(x, get(info[1]).t());
  if (I(info, 2) >= 0) y = y + get(info[2]);
  if (I(info, 3) >= 0) y = y + product(product(x, get(info[3]).t()), get(info[4]).t()) * D(info, 5);
  return num(info, put(y));
}

// HF rotate_half on the first `rot` dims of x [..., hd]; cos, sin broadcast against [..., rot/2]
at::Tensor rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rot) {
  const int64_t half = rot / 2, hd = x.size(-1);
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  std::vector<at::Tensor> parts = {x1 * cos - x2 * sin, x2 * cos + x1 * sin};
  if (rot < hd) parts.push_back(x.narrow(-1, rot, hd - rot));
  return at::cat(parts, -1);
}

// attention(qkv [b·t, (h + 2kv)·hd], cos, sin [b, t, 1, rot/2], mask [b, 1, 1, t, keys], cacheK|-1, cacheV|-1,
//           [b, t, h, kv, hd, rot], scale) -> [context [b·t, h·hd], keys [b, kv, keys, hd], values]:
// rotary on q and k, the new keys/values appended to the cache, grouped-query softmax(q kᵀ · scale + mask) v.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  at::Tensor qkv = get(info[0]), cos = get(info[1]), sin = get(info[2]), mask = get(info[3]);
  auto d = ints(info[6]);
  const int64_t batch = d[0], time = d[1], heads = d[2], kvHeads = d[3], hd = d[4], rot = d[5], group = heads / kvHeads;
  auto parts = qkv.split_with_sizes({heads * hd, kvHeads * hd, kvHeads * hd}, 1);
  auto q = rotary(parts[0].reshape({batch, time, heads, hd}), cos, sin, rot);
  auto k = rotary(parts[1].reshape({batch, time, kvHeads, hd}), cos, sin, rot).permute({0, 2, 1, 3});
  auto v = parts[2].reshape({batch, time, kvHeads, hd}).permute({0, 2, 1, 3});
  if (I(info, 4) >= 0) {
    k = at::cat({get(info[4]), k}, 2);
    v = at::cat({get(info[5]), v}, 2);
  }
  const int64_t keys = k.size(2);
  auto qg = q.reshape({batch, time, kvHeads, group, hd}).permute({0, 2, 3, 1, 4}).reshape({batch, kvHeads, group * time, hd});
  auto scores = (product(qg, k.transpose(-1, -2)) * D(info, 7)).reshape({batch, kvHeads, group, time, keys}) + mask;
  auto weights = at::softmax(scores, -1).reshape({batch, kvHeads, group * time, keys});
  auto context = product(weights, v).reshape({batch, kvHeads, group, time, hd}).permute({0, 3, 1, 2, 4}).reshape({batch * time, heads * hd});
  return ids(info.Env(), {context, k, v});
}

// adamW(param, grad, m, v, clipScale, [b1, 1-b1, b2, 1-b2, biasCorrection1, biasCorrection2, eps, weightDecay|0, lr])
//   -> [param', m', v'] (src/model/train.ts's update, decoupled decay when weightDecay > 0)
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  at::Tensor p = get(info[0]), g = get(info[1]) * get(info[4]), m = get(info[2]), v = get(info[3]);
  auto h = info[5].As<Napi::Float64Array>();
  const double* c = h.Data();
  at::Tensor m2 = m * c[0] + g * c[1];
  at::Tensor v2 = v * c[2] + (g * g) * c[3];
  at::Tensor update = (m2 / c[4]) / ((v2 / c[5]).sqrt() + c[6]);
  if (c[7] != 0) update = update + p * c[7];
  return ids(info.Env(), {p - update * c[8], m2, v2});
}

// sample(logits [rows, ..., vocab], uniforms Float64Array [rows], temperature, topP) -> [tokens int32 [rows],
// logProbs float32 [rows]]: src/model/sample.ts's drawToken on the device, in float64 like the JS it replaces. A row draws
// the first token whose running weight reaches u · total (weights exp((logp − max) / T), top-p: the smallest prefix, by
// weight then id, whose mass reaches topP − 1e-9); greedy (argmax) at T <= 0. Only tokens and log-probs come back.
Napi::Value Sample(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  const int64_t vocab = x.size(-1);
  at::Tensor lp = at::log_softmax(x.reshape({-1, vocab}).to(at::kDouble), -1);
  const int64_t rows = lp.size(0);
  auto u = info[1].As<Napi::Float64Array>();
  if (static_cast<int64_t>(u.ElementLength()) != rows) throw std::runtime_error("tfjs-backend-torch: sample needs one uniform per row");
  const double temperature = D(info, 2), topP = D(info, 3);
  at::Tensor best = lp.argmax(-1, true);
  at::Tensor tokens = best;
  if (temperature > 0) {
    at::Tensor w = ((lp - lp.gather(-1, best)) / temperature).exp();
    at::Tensor target = fromHost(u.Data(), {rows, 1}, at::kDouble);
    if (topP >= 1) {
      auto j = at::searchsorted(w.cumsum(-1), target * w.sum(-1, true));
      tokens = at::where(j < vocab, j, best);  // JS falls back to the best token when rounding leaves u > 0
    } else {
      auto sorted = at::sort(w, /*stable=*/true, /*dim=*/-1, /*descending=*/true);
      at::Tensor sw = std::get<0>(sorted), order = std::get<1>(sorted);
      at::Tensor mass = (sw / w.sum(-1, true)).cumsum(-1);
      at::Tensor kept = ((mass < topP - 1e-9).sum(-1, true) + 1).clamp_max(vocab);  // prefix length, the crossing token included
      at::Tensor running = sw.cumsum(-1);
      auto j = at::minimum(at::searchsorted(running, target * running.gather(-1, kept - 1)), kept - 1);
      tokens = order.gather(-1, j);
    }
  }
  return ids(info.Env(), {tokens.reshape({rows}).to(at::kInt), lp.gather(-1, tokens).reshape({rows}).to(at::kFloat)});
}

// randomNormal(shape, std, seed): N(0, std²) drawn on the device by libtorch's generator (random bench weights of
// multi-billion-parameter shapes, which JS would take minutes to draw; not tfjs's random stream)
Napi::Value RandomNormal(const Napi::CallbackInfo& info) {
  torch::manual_seed(static_cast<uint64_t>(D(info, 2)));
  return num(info, put(at::randn(ints(info[0]), opts(at::kFloat)) * D(info, 1)));
}

// setPrecision(code) -> code in use; tf32 on CPU changes nothing (CPU matmuls have no TF32 path)
Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  const int32_t p = I(info, 0);
  if (p < kFp32 || p > kBf16) throw std::runtime_error("tfjs-backend-torch: precision code must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  precision = p;
#ifndef SVGAP_NO_TF32_API
  at::globalContext().setFloat32MatmulPrecision(p == kTf32 ? "high" : "highest");
  at::globalContext().setAllowTF32CuDNN(p == kTf32);
#endif
  return Napi::Number::New(info.Env(), precision);
}

// memoryStats(resetPeak) -> [peak allocated bytes, allocated bytes] of the CUDA caching allocator, [-1, -1] on CPU
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  double peak = -1, current = -1;
#if TORCH_BUILT_WITH_CUDA && !defined(SVGAP_NO_CUDA_STATS)
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    peak = static_cast<double>(stats.allocated_bytes[0].peak);  // [0]: the aggregate over pool types
    current = static_cast<double>(stats.allocated_bytes[0].current);
    if (B(info, 0)) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
  }
#endif
  auto arr = Napi::Array::New(info.Env(), 2);
  arr.Set(0u, Napi::Number::New(info.Env(), peak));
  arr.Set(1u, Napi::Number::New(info.Env(), current));
  return arr;
}

#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, guarded<name>, #name))

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  auto ab = Napi::ArrayBuffer::New(env, sizeof(int32_t) * (2 + kMaxRank));
  meta = static_cast<int32_t*>(ab.Data());
  metaRef = Napi::Persistent(ab);
  exports.Set("meta", Napi::Int32Array::New(env, 2 + kMaxRank, ab, 0));
  EXPORT(Init);
  EXPORT(SetThreads);
  EXPORT(OpNames);
  EXPORT(Write);
  EXPORT(Read);
  EXPORT(Free);
  EXPORT(Meta);
  EXPORT(Stats);
  EXPORT(Sync);
  EXPORT(Unary);
  EXPORT(Binary);
  EXPORT(Reduce);
  EXPORT(ArgReduce);
  EXPORT(Cast);
  EXPORT(Clip);
  EXPORT(Select);
  EXPORT(AddN);
  EXPORT(Reshape);
  EXPORT(Transpose);
  EXPORT(Slice);
  EXPORT(StridedSlice);
  EXPORT(Concat);
  EXPORT(Stack);
  EXPORT(Unstack);
  EXPORT(Split);
  EXPORT(Tile);
  EXPORT(BroadcastTo);
  EXPORT(Reverse);
  EXPORT(Pad);
  EXPORT(Gather);
  EXPORT(GatherNd);
  EXPORT(SegmentSum);
  EXPORT(OneHot);
  EXPORT(Fill);
  EXPORT(LinSpace);
  EXPORT(MatMul);
  EXPORT(Einsum);
  EXPORT(Softmax);
  EXPORT(TopK);
  EXPORT(Cumulative);
  EXPORT(Multinomial);
  EXPORT(SearchSorted);
  EXPORT(RmsNorm);
  EXPORT(AddRmsNorm);
  EXPORT(SwiGlu);
  EXPORT(Linear);
  EXPORT(Attention);
  EXPORT(AdamW);
  EXPORT(SetPrecision);
  EXPORT(RandomNormal);
  EXPORT(Sample);
  EXPORT(MemoryStats);
  return exports;
}

}  // namespace

NODE_API_MODULE(tfjs_backend_torch, Module)
