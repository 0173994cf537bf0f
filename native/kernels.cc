// Native CPU kernels for the TF.js wasm backend: matrix products on oneDNN's sgemm, and 2-D
// convolutions (forward, filter gradient, input gradient) as oneDNN convolution primitives
// (in oneDNN's preferred blocked layouts, reordered from and to TF.js's on the way),
// multithreaded with OpenMP.
//
// The kernels read and write the wasm backend's own memory: JavaScript passes the
// WebAssembly.Memory's ArrayBuffer and float offsets into it, so no tensor is copied in or out.
// Layouts are TF.js's: NHWC activations, HWIO filters, row-major matrices, which oneDNN takes
// as they are (format tags nhwc and hwio). Primitives are built once per shape and cached. When
// oneDNN declines a shape, convolutions fall back to im2col + GEMM (the HWIO filter flattened to
// [KH·KW·C, O] is already the GEMM's right operand), in batch chunks so the column buffer stays
// small; `setConvolution("im2col")` forces that path, which the tests use as a second reference.
//
// Every entry point checks that what it touches lies inside the buffer and throws otherwise.

#include <node_api.h>
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "common.h"

namespace {

using cyclesparse::Args;
using cyclesparse::Error;
using cyclesparse::RequireRange;
using cyclesparse::Throw;

constexpr size_t kMaxColumnFloats = size_t(16) << 20;  // 64 MB of im2col buffer at most

void Gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.f)
      for (int64_t i = 0; i < m; i++) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  if (dnnl_sgemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc) != dnnl_success)
    throw Error{"dnnl_sgemm failed"};
}

// matmul(memory, batchA, batchB, m, n, k, transposeA, transposeB, aOffset, bOffset, cOffset)
// C[i] = op(A[i or 0]) · op(B[i or 0]) for i < max(batchA, batchB); a batch of 1 broadcasts.
napi_value MatMul(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 11);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t batch_a = args.Int(1), batch_b = args.Int(2), m = args.Int(3), n = args.Int(4),
                  k = args.Int(5);
    const bool ta = args.Bool(6), tb = args.Bool(7);
    const int64_t a = args.Int(8), b = args.Int(9), c = args.Int(10);
    if (m < 0 || n < 0 || k < 0 || batch_a < 1 || batch_b < 1 ||
        (batch_a != batch_b && batch_a != 1 && batch_b != 1))
      throw Error{"matmul: bad dimensions"};
    const int64_t batch = std::max(batch_a, batch_b);
    RequireRange("matmul a", a, batch_a * m * k, length);
    RequireRange("matmul b", b, batch_b * k * n, length);
    RequireRange("matmul c", c, batch * m * n, length);
    for (int64_t i = 0; i < batch; i++) {
      const float* ai = memory + a + (batch_a == 1 ? 0 : i) * m * k;
      const float* bi = memory + b + (batch_b == 1 ? 0 : i) * k * n;
      Gemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, ai, ta ? m : k, bi, tb ? k : n, 0.f,
           memory + c + i * m * n, n);
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

struct Conv {
  int64_t n, h, w, c, kh, kw, o, sh, sw, dh, dw, top, left, oh, ow;
  int64_t K() const { return kh * kw * c; }
  int64_t Rows() const { return oh * ow; }  // GEMM rows per image
  bool Pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && top == 0 && left == 0 && oh == h && ow == w;
  }
  int64_t Chunk() const {
    const int64_t per_image = std::max<int64_t>(1, Rows() * K());
    return std::max<int64_t>(1, std::min<int64_t>(n, int64_t(kMaxColumnFloats) / per_image));
  }
};

Conv ReadConv(Args& args, size_t first) {
  Conv v{};
  int64_t* fields[] = {&v.n, &v.h, &v.w, &v.c, &v.kh, &v.kw, &v.o, &v.sh, &v.sw, &v.dh, &v.dw,
                       &v.top, &v.left, &v.oh, &v.ow};
  for (size_t i = 0; i < 15; i++) *fields[i] = args.Int(first + i);
  if (v.n < 1 || v.h < 1 || v.w < 1 || v.c < 1 || v.kh < 1 || v.kw < 1 || v.o < 1 || v.sh < 1 ||
      v.sw < 1 || v.dh < 1 || v.dw < 1 || v.oh < 1 || v.ow < 1)
    throw Error{"conv: bad dimensions"};
  return v;
}

// The buffers of one convolution call, checked to lie in the memory: the activation (x or dx),
// the filter (filter or dw) and the output-shaped one (y or dy). Each entry point passes them in
// its own argument order (TF.js's), after the memory and before the 15 dimensions.
struct ConvCall {
  Conv v;
  float* activation;
  float* filter;
  float* output;
};

ConvCall ReadConvCall(Args& args, const std::string& name, size_t activation_arg, size_t filter_arg,
                      size_t output_arg) {
  size_t length = 0;
  float* memory = args.Floats(0, &length);
  const Conv v = ReadConv(args, 4);
  const int64_t activation = args.Int(activation_arg), filter = args.Int(filter_arg),
                output = args.Int(output_arg);
  RequireRange((name + " activation").c_str(), activation, v.n * v.h * v.w * v.c, length);
  RequireRange((name + " filter").c_str(), filter, v.K() * v.o, length);
  RequireRange((name + " output").c_str(), output, v.n * v.Rows() * v.o, length);
  return {v, memory + activation, memory + filter, memory + output};
}

// Columns of images [first, first + count): row (b, y, x), column (ky, kx, ci).
void Im2col(const Conv& v, const float* x, int64_t first, int64_t count, float* col) {
  const int64_t K = v.K();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < count; b++)
    for (int64_t y = 0; y < v.oh; y++) {
      const float* image = x + (first + b) * v.h * v.w * v.c;
      for (int64_t xo = 0; xo < v.ow; xo++) {
        float* row = col + ((b * v.oh + y) * v.ow + xo) * K;
        for (int64_t ky = 0; ky < v.kh; ky++) {
          const int64_t iy = y * v.sh - v.top + ky * v.dh;
          for (int64_t kx = 0; kx < v.kw; kx++) {
            const int64_t ix = xo * v.sw - v.left + kx * v.dw;
            float* out = row + (ky * v.kw + kx) * v.c;
            if (iy < 0 || iy >= v.h || ix < 0 || ix >= v.w)
              std::fill(out, out + v.c, 0.f);
            else
              std::memcpy(out, image + (iy * v.w + ix) * v.c, v.c * sizeof(float));
          }
        }
      }
    }
}

// The adjoint of Im2col: adds column entries back into the images they came from.
void Col2im(const Conv& v, const float* col, int64_t first, int64_t count, float* dx) {
  const int64_t K = v.K();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < count; b++) {
    float* image = dx + (first + b) * v.h * v.w * v.c;
    for (int64_t y = 0; y < v.oh; y++)
      for (int64_t xo = 0; xo < v.ow; xo++) {
        const float* row = col + ((b * v.oh + y) * v.ow + xo) * K;
        for (int64_t ky = 0; ky < v.kh; ky++) {
          const int64_t iy = y * v.sh - v.top + ky * v.dh;
          if (iy < 0 || iy >= v.h) continue;
          for (int64_t kx = 0; kx < v.kw; kx++) {
            const int64_t ix = xo * v.sw - v.left + kx * v.dw;
            if (ix < 0 || ix >= v.w) continue;
            const float* in = row + (ky * v.kw + kx) * v.c;
            float* out = image + (iy * v.w + ix) * v.c;
            for (int64_t ci = 0; ci < v.c; ci++) out[ci] += in[ci];
          }
        }
      }
  }
}

// ---- oneDNN convolution primitives -------------------------------------------------------

bool use_primitives = true;

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A plain (TF.js-layout) buffer as the primitive wants it: the buffer itself when the layouts
// agree, else a cached blocked copy reached through a reorder. oneDNN's direct convolutions run
// on blocked layouts (nChw16c, OIhw16i16o) and are 2–5× faster here than its GEMM-based ones on
// the plain NHWC/HWIO layouts for the channel counts of CIFAR ResNets, reorders included.
struct Operand {
  dnnl::memory::desc plain, wanted;
  // Shared by the operands of the same role (source, destination, weights) across the three
  // primitives of a shape when their layouts agree: one blocked copy per role, not per use.
  std::shared_ptr<dnnl::memory> blocked;
  dnnl::reorder to_wanted, to_plain;
  bool ready = false;

  Operand(const dnnl::memory::desc& plain_desc, const dnnl::memory::desc& wanted_desc)
      : plain(plain_desc), wanted(wanted_desc) {}
  bool Same() const { return plain == wanted; }
  dnnl::memory Prepare(dnnl::stream& stream, float* data, bool read) {
    dnnl::memory user(plain, Engine(), data);
    if (Same()) return user;
    if (!*blocked) *blocked = dnnl::memory(wanted, Engine());
    if (!ready) {
      to_wanted = dnnl::reorder(user, *blocked);
      to_plain = dnnl::reorder(*blocked, user);
      ready = true;
    }
    if (read) to_wanted.execute(stream, user, *blocked);
    return *blocked;
  }
  void Finish(dnnl::stream& stream, float* data) {
    if (Same()) return;
    dnnl::memory user(plain, Engine(), data);
    to_plain.execute(stream, *blocked, user);
  }
};

// Gives operands of one role a common blocked buffer where their layouts agree.
void ShareBuffers(std::vector<Operand>& operands, std::initializer_list<size_t> role) {
  for (size_t i : role) {
    for (size_t j : role) {
      if (j >= i) break;
      if (operands[j].wanted == operands[i].wanted) {
        operands[i].blocked = operands[j].blocked;
        break;
      }
    }
    if (!operands[i].blocked) operands[i].blocked = std::make_shared<dnnl::memory>();
  }
}

struct Primitives {
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  // Operands of each primitive: forward (src, weights, dst), backward data (diff dst, weights,
  // diff src), backward weights (src, diff dst, diff weights).
  std::vector<Operand> operands;
};

// The primitives of a convolution shape, or null when oneDNN has none for it.
Primitives* PrimitivesFor(const Conv& v) {
  static std::map<std::vector<int64_t>, std::unique_ptr<Primitives>> cache;
  static std::mutex lock;
  const std::vector<int64_t> key = {v.n, v.h, v.w, v.c, v.kh, v.kw, v.o, v.sh, v.sw,
                                    v.dh, v.dw, v.top, v.left, v.oh, v.ow};
  std::lock_guard<std::mutex> guard(lock);
  auto found = cache.find(key);
  if (found != cache.end()) return found->second.get();
  std::unique_ptr<Primitives> made;
  try {
    using dims = dnnl::memory::dims;
    using tag = dnnl::memory::format_tag;
    const auto f32 = dnnl::memory::data_type::f32;
    const dims src_dims = {v.n, v.c, v.h, v.w}, weight_dims = {v.o, v.c, v.kh, v.kw},
               dst_dims = {v.n, v.o, v.oh, v.ow};
    dnnl::memory::desc src(src_dims, f32, tag::nhwc), weights(weight_dims, f32, tag::hwio),
        dst(dst_dims, f32, tag::nhwc);
    dnnl::memory::desc src_any(src_dims, f32, tag::any), weights_any(weight_dims, f32, tag::any),
        dst_any(dst_dims, f32, tag::any);
    // oneDNN's right padding makes (in + left + right − effective kernel) / stride + 1 = out.
    const int64_t bottom = (v.oh - 1) * v.sh + (v.kh - 1) * v.dh + 1 - v.h - v.top;
    const int64_t right = (v.ow - 1) * v.sw + (v.kw - 1) * v.dw + 1 - v.w - v.left;
    const dims strides = {v.sh, v.sw}, dilates = {v.dh - 1, v.dw - 1};
    const dims pad_l = {v.top, v.left}, pad_r = {bottom, right};
    const auto algorithm = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc forward(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, src_any,
                                        weights_any, dst_any, strides, dilates, pad_l, pad_r),
        Engine());
    dnnl::convolution_backward_data::primitive_desc backward_data(
        dnnl::convolution_backward_data::desc(algorithm, src_any, weights_any, dst_any, strides,
                                              dilates, pad_l, pad_r),
        Engine(), forward);
    dnnl::convolution_backward_weights::primitive_desc backward_weights(
        dnnl::convolution_backward_weights::desc(algorithm, src_any, weights_any, dst_any, strides,
                                                 dilates, pad_l, pad_r),
        Engine(), forward);
    made.reset(new Primitives{dnnl::convolution_forward(forward),
                              dnnl::convolution_backward_data(backward_data),
                              dnnl::convolution_backward_weights(backward_weights),
                              {}});
    made->operands = {
        Operand(src, forward.src_desc()),
        Operand(weights, forward.weights_desc()),
        Operand(dst, forward.dst_desc()),
        Operand(dst, backward_data.diff_dst_desc()),
        Operand(weights, backward_data.weights_desc()),
        Operand(src, backward_data.diff_src_desc()),
        Operand(src, backward_weights.src_desc()),
        Operand(dst, backward_weights.diff_dst_desc()),
        Operand(weights, backward_weights.diff_weights_desc()),
    };
    ShareBuffers(made->operands, {0, 5, 6});  // sources
    ShareBuffers(made->operands, {2, 3, 7});  // destinations
    ShareBuffers(made->operands, {1, 4, 8});  // weights
  } catch (const dnnl::error&) {
    made.reset();
  }
  Primitives* out = made.get();
  cache[key] = std::move(made);
  return out;
}

// Runs one primitive on buffers inside the wasm memory; false when there is none for the shape.
// which: 0 forward (reads src, weights; writes dst), 1 backward data (reads dst = dy, weights;
// writes src = dx), 2 backward weights (reads src, dst = dy; writes weights = dw).
bool RunPrimitive(const ConvCall& call, int which) {
  if (!use_primitives) return false;
  const Conv& v = call.v;
  float *src = call.activation, *weights = call.filter, *dst = call.output;
  Primitives* p = PrimitivesFor(v);
  if (p == nullptr) return false;
  dnnl::stream stream(Engine());
  auto& o = p->operands;
  if (which == 0) {
    dnnl::memory s = o[0].Prepare(stream, src, true), w = o[1].Prepare(stream, weights, true),
                 d = o[2].Prepare(stream, dst, false);
    p->forward.execute(stream, {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}});
    o[2].Finish(stream, dst);
  } else if (which == 1) {
    dnnl::memory d = o[3].Prepare(stream, dst, true), w = o[4].Prepare(stream, weights, true),
                 s = o[5].Prepare(stream, src, false);
    p->backward_data.execute(stream, {{DNNL_ARG_DIFF_DST, d}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, s}});
    o[5].Finish(stream, src);
  } else {
    dnnl::memory s = o[6].Prepare(stream, src, true), d = o[7].Prepare(stream, dst, true),
                 w = o[8].Prepare(stream, weights, false);
    p->backward_weights.execute(stream, {{DNNL_ARG_SRC, s}, {DNNL_ARG_DIFF_DST, d}, {DNNL_ARG_DIFF_WEIGHTS, w}});
    o[8].Finish(stream, weights);
  }
  stream.wait();
  return true;
}

// conv2d(memory, xOffset, filterOffset, yOffset, ...15 conv dims)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 19);
    const ConvCall call = ReadConvCall(args, "conv2d", 1, 2, 3);
    const Conv& v = call.v;
    if (RunPrimitive(call, 0)) return nullptr;
    if (v.Pointwise()) {
      Gemm('N', 'N', v.n * v.Rows(), v.o, v.c, call.activation, v.c, call.filter, v.o, 0.f, call.output, v.o);
      return nullptr;
    }
    const int64_t chunk = v.Chunk();
    std::vector<float> col(size_t(chunk * v.Rows() * v.K()));
    for (int64_t first = 0; first < v.n; first += chunk) {
      const int64_t count = std::min(chunk, v.n - first);
      Im2col(v, call.activation, first, count, col.data());
      Gemm('N', 'N', count * v.Rows(), v.o, v.K(), col.data(), v.K(), call.filter, v.o, 0.f,
           call.output + first * v.Rows() * v.o, v.o);
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// conv2dBackpropFilter(memory, xOffset, dyOffset, dwOffset, ...15 conv dims)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 19);
    const ConvCall call = ReadConvCall(args, "conv2dBackpropFilter", 1, 3, 2);
    const Conv& v = call.v;
    if (RunPrimitive(call, 2)) return nullptr;
    if (v.Pointwise()) {
      Gemm('T', 'N', v.c, v.o, v.n * v.Rows(), call.activation, v.c, call.output, v.o, 0.f, call.filter, v.o);
      return nullptr;
    }
    const int64_t chunk = v.Chunk();
    std::vector<float> col(size_t(chunk * v.Rows() * v.K()));
    for (int64_t first = 0; first < v.n; first += chunk) {
      const int64_t count = std::min(chunk, v.n - first);
      Im2col(v, call.activation, first, count, col.data());
      Gemm('T', 'N', v.K(), v.o, count * v.Rows(), col.data(), v.K(),
           call.output + first * v.Rows() * v.o, v.o, first == 0 ? 0.f : 1.f, call.filter, v.o);
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// conv2dBackpropInput(memory, dyOffset, filterOffset, dxOffset, ...15 conv dims)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 19);
    const ConvCall call = ReadConvCall(args, "conv2dBackpropInput", 3, 2, 1);
    const Conv& v = call.v;
    if (RunPrimitive(call, 1)) return nullptr;
    if (v.Pointwise()) {
      Gemm('N', 'T', v.n * v.Rows(), v.c, v.o, call.output, v.o, call.filter, v.o, 0.f, call.activation, v.c);
      return nullptr;
    }
    std::fill(call.activation, call.activation + v.n * v.h * v.w * v.c, 0.f);
    const int64_t chunk = v.Chunk();
    std::vector<float> col(size_t(chunk * v.Rows() * v.K()));
    for (int64_t first = 0; first < v.n; first += chunk) {
      const int64_t count = std::min(chunk, v.n - first);
      Gemm('N', 'T', count * v.Rows(), v.K(), v.o, call.output + first * v.Rows() * v.o, v.o,
           call.filter, v.o, 0.f, col.data(), v.K());
      Col2im(v, col.data(), first, count, call.activation);
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// setThreads(n): threads of every kernel from now on; returns the previous count.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 1);
    const int64_t threads = args.Int(0);
    if (threads < 1 || threads > 1024) throw Error{"setThreads: expected 1 to 1024 threads"};
    const int previous = omp_get_max_threads();
    omp_set_num_threads(int(threads));
    napi_value out;
    napi_create_int32(env, previous, &out);
    return out;
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
}

// ---- Batch normalisation in training mode ---------------------------------------------------
// Rows are every position of every image (N·H·W for NHWC, N for a dense layer), columns the C
// channels; statistics are per channel over the rows, summed in double per thread.

// Per-channel sums of f(row, channel, sums) over all rows, in double: f adds into `sums`, which
// holds `width` doubles per channel (several sums in one pass over the data).
template <typename F>
std::vector<double> ChannelSums(int64_t rows, int64_t channels, int64_t width, F f) {
  const int threads = omp_get_max_threads();
  const int64_t stride = channels * width;
  std::vector<double> partial(size_t(threads) * stride, 0.0);
#pragma omp parallel
  {
    double* mine = partial.data() + size_t(omp_get_thread_num()) * stride;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) f(r, mine);
  }
  std::vector<double> total(stride, 0.0);
  for (int t = 0; t < threads; t++)
    for (int64_t i = 0; i < stride; i++) total[i] += partial[size_t(t) * stride + i];
  return total;
}

// Two zeroed float accumulators of `channels` values for one block of rows: on the stack when
// small (every CIFAR/ImageNet ResNet layer), else on the heap.
struct BlockSums {
  static constexpr int64_t kStack = 512;
  float stack[2 * kStack];
  std::vector<float> heap;
  float* first;
  float* second;
  explicit BlockSums(int64_t channels) {
    float* base = stack;
    if (channels > kStack) {
      heap.assign(size_t(2 * channels), 0.f);
      base = heap.data();
    } else {
      std::fill(stack, stack + 2 * channels, 0.f);
    }
    first = base;
    second = base + channels;
  }
};

// ReLU as TF.js's cpu kernel computes it (Math.max(0, v)): NaN stays NaN, −0 becomes +0.
inline float Relu(float v) { return v > 0.f ? v : (std::isnan(v) ? v : 0.f); }
// ReLU's derivative as TF.js's step(x) gives it, read from x or from relu(x) alike: 1 above 0,
// NaN at NaN, 0 elsewhere.
inline float Step(float v) { return v > 0.f ? 1.f : (std::isnan(v) ? v : 0.f); }

// batchNormTrain(memory, x, gamma, beta, y, mean, variance, rstd, rows, channels, epsilon, relu)
// y = (x − mean) · rstd · gamma + beta with the batch's mean and biased variance, then ReLU when
// `relu` (the layer after it, fused: one pass instead of two, and no pre-activation tensor);
// rstd = 1 / sqrt(variance + epsilon). One pass over x for both moments: sums of x − x[0] and
// of its square, in double (shifted by the first row so a large mean does not cancel).
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 12);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t x = args.Int(1), gamma = args.Int(2), beta = args.Int(3), y = args.Int(4),
                  mean = args.Int(5), variance = args.Int(6), rstd = args.Int(7), rows = args.Int(8),
                  channels = args.Int(9);
    const bool relu = args.Bool(11);
    double epsilon = 0;
    {
      size_t count = 12;
      napi_value values[12];
      napi_get_cb_info(env, info, &count, values, nullptr, nullptr);
      if (napi_get_value_double(env, values[10], &epsilon) != napi_ok) throw Error{"epsilon: expected a number"};
    }
    if (rows < 1 || channels < 1) throw Error{"batchNormTrain: bad dimensions"};
    RequireRange("batchNormTrain x", x, rows * channels, length);
    RequireRange("batchNormTrain y", y, rows * channels, length);
    for (int64_t o : {gamma, beta, mean, variance, rstd}) RequireRange("batchNormTrain channel vector", o, channels, length);
    const float* in = memory + x;
    const std::vector<float> shift_f(in, in + channels);
    const std::vector<double> shift(in, in + channels);
    const double* k = shift.data();
    // Blocks of 16 rows summed in float (vectorised), blocks added in double.
    constexpr int64_t kBlock = 16;
    const std::vector<double> sums = ChannelSums((rows + kBlock - 1) / kBlock, channels, 2, [&](int64_t block, double* acc) {
      BlockSums block_sums(channels);
      float* p0 = block_sums.first;
      float* p1 = block_sums.second;
      const float* kf = shift_f.data();
      const int64_t end = std::min(rows, (block + 1) * kBlock);
      for (int64_t r = block * kBlock; r < end; r++) {
        const float* row = in + r * channels;
        for (int64_t c = 0; c < channels; c++) {
          const float d = row[c] - kf[c];
          p0[c] += d;
          p1[c] += d * d;
        }
      }
      for (int64_t c = 0; c < channels; c++) {
        acc[c] += p0[c];
        acc[channels + c] += p1[c];
      }
    });
    std::vector<float> scale(channels), offset(channels);
    const double n = double(rows);
    for (int64_t c = 0; c < channels; c++) {
      const double centred = sums[c] / n;
      const double var = std::max(0.0, sums[channels + c] / n - centred * centred);
      const double mu = k[c] + centred;
      const double r = 1.0 / std::sqrt(var + epsilon);
      memory[mean + c] = float(mu);
      memory[variance + c] = float(var);
      memory[rstd + c] = float(r);
      scale[c] = float(r * memory[gamma + c]);
      offset[c] = float(memory[beta + c] - mu * r * memory[gamma + c]);
    }
    float* out = memory + y;
    const float* a = scale.data();
    const float* b = offset.data();
    if (relu) {
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < channels; c++) out[r * channels + c] = Relu(in[r * channels + c] * a[c] + b[c]);
    } else {
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < channels; c++) out[r * channels + c] = in[r * channels + c] * a[c] + b[c];
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// Per channel: Σ g and Σ g·(x − mean) over the rows, g = dy (times step(y) when kRelu), in
// double per thread; rows are summed in float blocks of kBlock first, so the inner loop stays in
// float and vectorises.
template <bool kRelu>
std::vector<double> GradSums(const float* g, const float* in, const float* mu, const float* y, int64_t rows,
                             int64_t channels) {
  constexpr int64_t kBlock = 16;
  return ChannelSums((rows + kBlock - 1) / kBlock, channels, 2, [&](int64_t block, double* acc) {
    BlockSums block_sums(channels);
    float* p0 = block_sums.first;
    float* p1 = block_sums.second;
    const int64_t end = std::min(rows, (block + 1) * kBlock);
    for (int64_t i = block * kBlock; i < end; i++) {
      const int64_t at = i * channels;
      for (int64_t c = 0; c < channels; c++) {
        const float gi = kRelu ? g[at + c] * Step(y[at + c]) : g[at + c];
        p0[c] += gi;
        p1[c] += gi * (in[at + c] - mu[c]);
      }
    }
    for (int64_t c = 0; c < channels; c++) {
      acc[c] += p0[c];
      acc[channels + c] += p1[c];
    }
  });
}

// batchNormGrad(memory, dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, channels, y)
// With x̂ = (x − mean)·rstd: dβ = Σ dy, dγ = Σ dy·x̂,
// dx = γ·rstd/N · (N·dy − Σdy − x̂·Σ(dy·x̂)). With y ≥ 0 (the offset of a fused ReLU's output),
// dy is first multiplied by step(y): the ReLU's gradient, in the same passes. Both sums in one
// pass.
napi_value BatchNormGrad(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 12);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t dy = args.Int(1), x = args.Int(2), mean = args.Int(3), rstd = args.Int(4),
                  gamma = args.Int(5), dx = args.Int(6), dgamma = args.Int(7), dbeta = args.Int(8),
                  rows = args.Int(9), channels = args.Int(10), y = args.Int(11);
    if (rows < 1 || channels < 1) throw Error{"batchNormGrad: bad dimensions"};
    for (int64_t o : {dy, x, dx}) RequireRange("batchNormGrad rows", o, rows * channels, length);
    if (y >= 0) RequireRange("batchNormGrad y", y, rows * channels, length);
    for (int64_t o : {mean, rstd, gamma, dgamma, dbeta}) RequireRange("batchNormGrad channel vector", o, channels, length);
    const float* g = memory + dy;
    const float* in = memory + x;
    const float* mu = memory + mean;
    const float* r = memory + rstd;
    const float* relu = y >= 0 ? memory + y : nullptr;
    // Σdy and Σdy·(x − mean) in one pass (rstd applied after); the ReLU's step where fused.
    std::vector<double> sums;
    if (relu)
      sums = GradSums<true>(g, in, mu, relu, rows, channels);
    else
      sums = GradSums<false>(g, in, mu, relu, rows, channels);
    std::vector<float> a(channels), b(channels), k(channels);
    const double n = double(rows);
    for (int64_t c = 0; c < channels; c++) {
      const double sum_dy = sums[c], sum_dy_xhat = sums[channels + c] * r[c];
      memory[dbeta + c] = float(sum_dy);
      memory[dgamma + c] = float(sum_dy_xhat);
      // dx = γ·rstd·dy − γ·rstd/N·Σdy − γ·rstd/N·x̂·Σ(dy·x̂), with x̂ = (x − mean)·rstd.
      const double factor = double(memory[gamma + c]) * r[c];
      a[c] = float(factor);
      b[c] = float(factor * sum_dy / n);
      k[c] = float(factor * sum_dy_xhat / n * r[c]);
    }
    float* out = memory + dx;
    const float *pa = a.data(), *pb = b.data(), *pk = k.data();
    if (relu) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < channels; c++) {
          const int64_t at = i * channels + c;
          out[at] = pa[c] * (g[at] * Step(relu[at])) - pb[c] - pk[c] * (in[at] - mu[c]);
        }
    } else {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < channels; c++) {
          const int64_t at = i * channels + c;
          out[at] = pa[c] * g[at] - pb[c] - pk[c] * (in[at] - mu[c]);
        }
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// The geometry of a 2-D pooling window over NHWC images, read from 14 arguments from `first`.
struct Pool {
  int64_t n, ih, iw, c, fh, fw, sh, sw, pt, pl, oh, ow;
};

Pool ReadPool(Args& args, size_t first, const char* name) {
  Pool p{};
  int64_t* fields[] = {&p.n, &p.ih, &p.iw, &p.c, &p.fh, &p.fw, &p.sh, &p.sw, &p.pt, &p.pl, &p.oh, &p.ow};
  for (size_t i = 0; i < 12; i++) *fields[i] = args.Int(first + i);
  if (p.n < 1 || p.ih < 1 || p.iw < 1 || p.c < 1 || p.fh < 1 || p.fw < 1 || p.sh < 1 || p.sw < 1 || p.oh < 1 ||
      p.ow < 1)
    throw Error{std::string(name) + ": bad dimensions"};
  return p;
}

// The first maximum (strict >, row-major) of every channel of one output's window, padding
// excluded, for channels [c0, c0 + count), count ≤ kPoolBlock: its value in best, its offset in
// the image in where (−1 where no value exceeds −∞). Branch-free per channel, so random data
// costs no mispredictions.
constexpr int64_t kPoolBlock = 64;
inline void WindowMax(const Pool& p, const float* image, int64_t yr, int64_t yc, int64_t c0, int64_t count,
                      float* best, int32_t* where) {
  const int64_t r0 = yr * p.sh - p.pt, q0 = yc * p.sw - p.pl;
  const int64_t r_min = std::max<int64_t>(r0, 0), r_max = std::min(p.ih, r0 + p.fh);
  const int64_t q_min = std::max<int64_t>(q0, 0), q_max = std::min(p.iw, q0 + p.fw);
  for (int64_t d = 0; d < count; d++) {
    best[d] = -INFINITY;
    where[d] = -1;
  }
  for (int64_t r = r_min; r < r_max; r++)
    for (int64_t q = q_min; q < q_max; q++) {
      const int32_t base = int32_t((r * p.iw + q) * p.c + c0);
      const float* v = image + base;
      for (int64_t d = 0; d < count; d++) {
        const bool above = v[d] > best[d];
        best[d] = above ? v[d] : best[d];
        where[d] = above ? base + int32_t(d) : where[d];
      }
    }
}

// maxPool(memory, x, y, batch, inH, inW, channels, filterH, filterW, strideH, strideW, padTop,
//         padLeft, outH, outW): the maximum of every window, padding excluded (−∞ for a window
// with nothing above it, NaN ignored, as TF.js's cpu kernel), images split across threads.
napi_value MaxPool(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 15);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t x = args.Int(1), y = args.Int(2);
    const Pool p = ReadPool(args, 3, "maxPool");
    RequireRange("maxPool x", x, p.n * p.ih * p.iw * p.c, length);
    RequireRange("maxPool y", y, p.n * p.oh * p.ow * p.c, length);
    if (p.ih * p.iw * p.c > INT32_MAX) throw Error{"maxPool: image too large"};
    const float* in = memory + x;
    float* out = memory + y;
#pragma omp parallel for schedule(static) if (p.n * p.ih * p.iw * p.c > 32768)
    for (int64_t b = 0; b < p.n; b++) {
      const float* image = in + b * p.ih * p.iw * p.c;
      float best[kPoolBlock];
      int32_t where[kPoolBlock];
      for (int64_t yr = 0; yr < p.oh; yr++)
        for (int64_t yc = 0; yc < p.ow; yc++) {
          float* o = out + ((b * p.oh + yr) * p.ow + yc) * p.c;
          for (int64_t c0 = 0; c0 < p.c; c0 += kPoolBlock) {
            const int64_t count = std::min(kPoolBlock, p.c - c0);
            WindowMax(p, image, yr, yc, c0, count, best, where);
            std::memcpy(o + c0, best, count * sizeof(float));
          }
        }
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// maxPoolGrad(memory, dy, x, dx, batch, inH, inW, channels, filterH, filterW, strideH, strideW,
//             padTop, padLeft, outH, outW): each output's gradient goes to the first maximum of
// its window in row-major order (strict >, as TF.js's cpu kernel and PyTorch choose), padding
// excluded; a window with no value above −∞ passes nothing. Images are independent, so the batch
// is split across threads and no two threads write the same dx element.
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 16);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t dy = args.Int(1), x = args.Int(2), dx = args.Int(3);
    const Pool p = ReadPool(args, 4, "maxPoolGrad");
    RequireRange("maxPoolGrad dy", dy, p.n * p.oh * p.ow * p.c, length);
    RequireRange("maxPoolGrad x", x, p.n * p.ih * p.iw * p.c, length);
    RequireRange("maxPoolGrad dx", dx, p.n * p.ih * p.iw * p.c, length);
    if (p.ih * p.iw * p.c > INT32_MAX) throw Error{"maxPoolGrad: image too large"};
    const float* g = memory + dy;
    const float* in = memory + x;
    float* out = memory + dx;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < p.n; b++) {
      const float* image = in + b * p.ih * p.iw * p.c;
      float* grad = out + b * p.ih * p.iw * p.c;
      std::fill(grad, grad + p.ih * p.iw * p.c, 0.f);
      float best[kPoolBlock];
      int32_t where[kPoolBlock];
      for (int64_t yr = 0; yr < p.oh; yr++)
        for (int64_t yc = 0; yc < p.ow; yc++) {
          const float* gy = g + ((b * p.oh + yr) * p.ow + yc) * p.c;
          for (int64_t c0 = 0; c0 < p.c; c0 += kPoolBlock) {
            const int64_t count = std::min(kPoolBlock, p.c - c0);
            WindowMax(p, image, yr, yc, c0, count, best, where);
            for (int64_t d = 0; d < count; d++)
              if (where[d] >= 0) grad[where[d]] += gy[c0 + d];
          }
        }
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// addRelu(memory, a, b, out, n): out = relu(a + b), or relu(a) when b is −1 — a residual
// block's sum and its ReLU in one pass (no sum tensor), or a ReLU on every thread.
napi_value AddRelu(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 5);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t a = args.Int(1), b = args.Int(2), out = args.Int(3), n = args.Int(4);
    if (n < 0) throw Error{"addRelu: bad size"};
    RequireRange("addRelu a", a, n, length);
    if (b != -1) RequireRange("addRelu b", b, n, length);
    RequireRange("addRelu out", out, n, length);
    const float* x = memory + a;
    float* z = memory + out;
    if (b == -1) {
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t i = 0; i < n; i++) z[i] = Relu(x[i]);
    } else {
      const float* y = memory + b;
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t i = 0; i < n; i++) z[i] = Relu(x[i] + y[i]);
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// reluGrad(memory, dy, x, dx, n): dx = dy · step(x), step(x) = 1 where x > 0, NaN where x is NaN,
// 0 elsewhere — TF.js's own formula (mul(dy, step(x))) in one pass instead of three kernels.
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 5);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t dy = args.Int(1), x = args.Int(2), dx = args.Int(3), n = args.Int(4);
    if (n < 0) throw Error{"reluGrad: bad size"};
    for (int64_t o : {dy, x, dx}) RequireRange("reluGrad", o, n, length);
    const float* g = memory + dy;
    const float* in = memory + x;
    float* out = memory + dx;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
      const float step = in[i] > 0.f ? 1.f : (std::isnan(in[i]) ? in[i] : 0.f);
      out[i] = g[i] * step;
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// addRows(memory, a, b, out, rows, cols, broadcast): out = a + b, where b has rows × cols values
// (broadcast false) or cols values added to every row (true) — the bias add of every layer.
napi_value AddRows(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 7);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t a = args.Int(1), b = args.Int(2), out = args.Int(3), rows = args.Int(4), cols = args.Int(5);
    const bool broadcast = args.Bool(6);
    if (rows < 0 || cols < 1) throw Error{"addRows: bad dimensions"};
    RequireRange("addRows a", a, rows * cols, length);
    RequireRange("addRows b", b, broadcast ? cols : rows * cols, length);
    RequireRange("addRows out", out, rows * cols, length);
    const float* x = memory + a;
    const float* y = memory + b;
    float* z = memory + out;
    const int64_t stride = broadcast ? 0 : cols;
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++) z[r * cols + c] = x[r * cols + c] + y[r * stride + c];
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// sumRows(memory, x, out, rows, cols): out[c] = Σ_r x[r·cols + c] — a bias gradient. Each thread
// sums a fixed block of rows in float, and the blocks are added in order: the same thread count
// gives the same bits.
napi_value SumRows(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 5);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t x = args.Int(1), out = args.Int(2), rows = args.Int(3), cols = args.Int(4);
    if (rows < 0 || cols < 1) throw Error{"sumRows: bad dimensions"};
    RequireRange("sumRows x", x, rows * cols, length);
    RequireRange("sumRows out", out, cols, length);
    const float* in = memory + x;
    const int threads = rows * cols > 32768 ? omp_get_max_threads() : 1;
    std::vector<float> partial(size_t(threads) * cols, 0.f);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const int64_t begin = rows * t / threads, end = rows * (t + 1) / threads;
      float* acc = partial.data() + size_t(t) * cols;
      for (int64_t r = begin; r < end; r++)
        for (int64_t c = 0; c < cols; c++) acc[c] += in[r * cols + c];
    }
    float* result = memory + out;
    for (int64_t c = 0; c < cols; c++) {
      float total = 0.f;
      for (int t = 0; t < threads; t++) total += partial[size_t(t) * cols + c];
      result[c] = total;
    }
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// setConvolution("primitives" | "im2col"): how convolutions are computed from now on.
napi_value SetConvolution(napi_env env, napi_callback_info info) {
  size_t count = 1;
  napi_value value;
  napi_get_cb_info(env, info, &count, &value, nullptr, nullptr);
  char text[16] = {0};
  size_t written = 0;
  if (count != 1 || napi_get_value_string_utf8(env, value, text, sizeof(text), &written) != napi_ok)
    return Throw(env, "setConvolution: expected \"primitives\" or \"im2col\"");
  const std::string mode(text, written);
  if (mode != "primitives" && mode != "im2col")
    return Throw(env, "setConvolution: expected \"primitives\" or \"im2col\", got \"" + mode + "\"");
  use_primitives = mode == "primitives";
  return nullptr;
}

napi_value Version(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  const std::string text = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                           std::to_string(v->patch);
  napi_value out;
  napi_create_string_utf8(env, text.c_str(), text.size(), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setConvolution", nullptr, SetConvolution, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrain", nullptr, BatchNormTrain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormGrad", nullptr, BatchNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPool", nullptr, MaxPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addRelu", nullptr, AddRelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluGrad", nullptr, ReluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addRows", nullptr, AddRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumRows", nullptr, SumRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
  cyclesparse::RegisterSparse(env, exports);
  cyclesparse::RegisterOptimizer(env, exports);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
