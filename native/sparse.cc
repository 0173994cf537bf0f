// Sparse kernels for masked layers (issue 20): a convolution (a dense layer is the 1×1 case on a
// 1×1 image) whose filter is zero outside a fixed mask, forward and both backward products,
// touching only the kept weights.
//
// Why by hand: no library on this machine multiplies a dense activation by an unstructured sparse
// filter in a convolution, and oneDNN has no sparse convolution. The approach is SparseProp's
// (Nikdan et al., 2023): put the batch innermost (activations transposed from NHWC to C·H·W·N),
// so every kept weight becomes a broadcast multiply-add over a contiguous row of batch values,
// accumulated in vector registers; no im2col, no branch per batch element.
//
// A pattern is built once per mask (`sparsePattern`): the kept positions of an HWIO filter grouped
// by output channel (forward, filter gradient) and by input channel (input gradient). The weights'
// values are read from the filter at each call (they change every step; the mask does not).
// Results equal the dense product with the masked filter up to float summation order; the filter
// gradient is computed at kept positions only and is 0 elsewhere (the optimizer masks it anyway).
// Every sum runs in a fixed order on one thread, so the same inputs give the same bits.

#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"

namespace cyclesparse {
namespace {

typedef float v8 __attribute__((vector_size(32)));
constexpr int64_t kLanes = 8;

// A kept weight: its filter position p = ((ky·KW + kx)·C + ci)·O + o, and the other channel
// (ci in a by-output list, o in a by-input list).
struct Entry {
  int32_t ky, kx, channel;
  int64_t p;
};

// A grow-only, 32-byte aligned scratch buffer (activations in batch-innermost layout): kept between
// calls so a step does not page-fault fresh megabytes for every layer.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }
  float* Get(size_t floats) {
    if (floats > size_) {
      std::free(data_);
      size_ = floats;
      data_ = static_cast<float*>(std::aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64));
      if (data_ == nullptr) {
        size_ = 0;
        throw Error{"sparse kernels: out of memory for " + std::to_string(floats) + " floats of scratch"};
      }
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

struct Pattern {
  int64_t kh, kw, c, o, kept;
  std::vector<std::vector<Entry>> by_output;  // [o] → entries with channel = ci
  std::vector<std::vector<Entry>> by_input;   // [ci] → entries with channel = o
  // The input of the last forward, batch innermost, when the caller asked to keep it: the
  // backward pass of the same step reads it instead of transposing the input again.
  std::shared_ptr<Scratch> kept_input;
};

std::mutex patterns_lock;
std::map<int64_t, std::unique_ptr<Pattern>> patterns;
int64_t next_pattern = 1;

Pattern& FindPattern(int64_t id) {
  std::lock_guard<std::mutex> guard(patterns_lock);
  auto found = patterns.find(id);
  if (found == patterns.end()) throw Error{"sparse pattern " + std::to_string(id) + " does not exist (freed?)"};
  return *found->second;
}

Scratch scratch_a, scratch_c;

// The convolution's geometry, as the dense kernels take it (see ReadConv in kernels.cc).
struct Geometry {
  int64_t n, h, w, c, kh, kw, o, sh, sw, dh, dw, top, left, oh, ow;
  int64_t Np() const { return (n + kLanes - 1) / kLanes * kLanes; }  // batch padded to the lanes
};

Geometry ReadGeometry(Args& args, size_t first, const Pattern& pattern) {
  Geometry g{};
  int64_t* fields[] = {&g.n, &g.h, &g.w, &g.c, &g.kh, &g.kw, &g.o, &g.sh, &g.sw, &g.dh, &g.dw,
                       &g.top, &g.left, &g.oh, &g.ow};
  for (size_t i = 0; i < 15; i++) *fields[i] = args.Int(first + i);
  if (g.n < 1 || g.h < 1 || g.w < 1 || g.c < 1 || g.kh < 1 || g.kw < 1 || g.o < 1 || g.sh < 1 ||
      g.sw < 1 || g.dh < 1 || g.dw < 1 || g.oh < 1 || g.ow < 1 || g.top < 0 || g.left < 0)
    throw Error{"sparse conv: bad dimensions"};
  if (g.kh != pattern.kh || g.kw != pattern.kw || g.c != pattern.c || g.o != pattern.o)
    throw Error{"sparse conv: the filter is " + std::to_string(g.kh) + "×" + std::to_string(g.kw) + "×" +
                std::to_string(g.c) + "×" + std::to_string(g.o) + ", the pattern was built for " +
                std::to_string(pattern.kh) + "×" + std::to_string(pattern.kw) + "×" + std::to_string(pattern.c) +
                "×" + std::to_string(pattern.o)};
  return g;
}

#ifdef __AVX__
// Transposes the 8×8 block held in r (row i = r[i]) in registers.
inline void Transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

// NHWC [n][s][c] → batch innermost [c][s][np], the padding lanes zero: the matrix [n][s·c]
// transposed, its rows permuted. Blocks of 16 images × 8 columns are transposed in registers, so
// each image's row is read as one sequential stream and every write is a whole 64-byte line
// (measured 2.3× faster than through an L1 tile, 5× memcpy's time before); leftover images and
// columns go one value at a time.
void ToBatchInner(const float* x, int64_t n, int64_t s, int64_t c, int64_t np, float* t) {
  const int64_t columns = s * c;
  const auto row_of = [&](int64_t column) { return (column % c) * s + column / c; };
  int64_t blocked_rows = 0, blocked_columns = 0;
#ifdef __AVX__
  blocked_rows = n / 16 * 16;
  blocked_columns = columns / 8 * 8;
  constexpr int64_t kChunk = 2048;  // columns per task: work for every thread at any batch
  const int64_t chunks = (blocked_columns + kChunk - 1) / kChunk;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b0 = 0; b0 < blocked_rows; b0 += 16)
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
      const int64_t end = std::min(blocked_columns, (chunk + 1) * kChunk);
      for (int64_t j0 = chunk * kChunk; j0 < end; j0 += 8) {
        __m256 low[8], high[8];
        for (int i = 0; i < 8; i++) {
          low[i] = _mm256_loadu_ps(x + (b0 + i) * columns + j0);
          high[i] = _mm256_loadu_ps(x + (b0 + 8 + i) * columns + j0);
        }
        Transpose8(low);
        Transpose8(high);
        for (int k = 0; k < 8; k++) {
          float* dst = t + row_of(j0 + k) * np + b0;
          _mm256_storeu_ps(dst, low[k]);
          _mm256_storeu_ps(dst + 8, high[k]);
        }
      }
    }
#endif
  // What the blocks left: every column of the leftover images (and the padding lanes), and the
  // leftover columns of the blocked images.
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < columns; j++) {
    float* dst = t + row_of(j) * np;
    const int64_t first = j < blocked_columns ? blocked_rows : 0;
    for (int64_t b = first; b < n; b++) dst[b] = x[b * columns + j];
    for (int64_t b = n; b < np; b++) dst[b] = 0.f;
  }
}

// out[0..V·8) = Σ_e value[e] · rows[e][0..V·8), in entry order, in registers.
template <int V>
inline void SumRows(int64_t count, const float* const* rows, const float* values, int64_t lane, float* out) {
  v8 acc[V];
  for (int j = 0; j < V; j++) acc[j] = v8{} ;
  for (int64_t e = 0; e < count; e++) {
    const v8* row = reinterpret_cast<const v8*>(rows[e] + lane);
    const float w = values[e];
    for (int j = 0; j < V; j++) acc[j] += w * row[j];
  }
  v8* dst = reinterpret_cast<v8*>(out + lane);
  for (int j = 0; j < V; j++) dst[j] = acc[j];
}

// out[0..np) = Σ_e value[e] · rows[e][0..np), lanes in register blocks of 8, 4, 2, 1 vectors.
void SumRowsAll(int64_t count, const float* const* rows, const float* values, int64_t np, float* out) {
  int64_t lane = 0;
  for (; lane + 8 * kLanes <= np; lane += 8 * kLanes) SumRows<8>(count, rows, values, lane, out);
  if (lane + 4 * kLanes <= np) SumRows<4>(count, rows, values, lane, out), lane += 4 * kLanes;
  if (lane + 2 * kLanes <= np) SumRows<2>(count, rows, values, lane, out), lane += 2 * kLanes;
  if (lane + kLanes <= np) SumRows<1>(count, rows, values, lane, out);
}

// Copies a staged image row — `positions` × `channels` rows of np lanes, batch innermost — into
// NHWC: out[b·stride + position·channels + channel] for b < n. Written image by image, one
// contiguous run per image: scattering each position's lines (64 KB apart) instead missed the
// cache on every line and cost more than the products themselves.
inline void StageToNhwc(const float* stage, int64_t positions, int64_t channels, int64_t np, int64_t n,
                        int64_t stride, float* out) {
  const int64_t run = positions * channels;
  int64_t blocked_b = 0, blocked_k = 0;
#ifdef __AVX__
  blocked_b = n / 8 * 8;
  blocked_k = run / 8 * 8;
  for (int64_t b0 = 0; b0 < blocked_b; b0 += 8)
    for (int64_t k0 = 0; k0 < blocked_k; k0 += 8) {
      __m256 block[8];
      for (int i = 0; i < 8; i++) block[i] = _mm256_load_ps(stage + (k0 + i) * np + b0);
      Transpose8(block);
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + (b0 + i) * stride + k0, block[i]);
    }
#endif
  for (int64_t b = 0; b < n; b++) {
    float* row = out + b * stride;
    for (int64_t k = b < blocked_b ? blocked_k : 0; k < run; k++) row[k] = stage[k * np + b];
  }
}

// Forward: y[b][oy][ox][o] = Σ over kept (ky, kx, ci) of w · x[ci][iy][ix][b], from x batch
// innermost, written to NHWC y a row at a time. Threads take output rows.
void Forward(const Pattern& pattern, const Geometry& g, const float* xt, const float* filter, float* y) {
  const int64_t np = g.Np(), s_in = g.h * g.w, s_out = g.oh * g.ow;
  // Stages are allocated here: an exception (out of memory) must not escape a parallel region.
  std::vector<Scratch> stages(static_cast<size_t>(omp_get_max_threads()));
  for (Scratch& stage : stages) stage.Get(size_t(g.ow * g.o * np));
#pragma omp parallel
  {
    std::vector<const float*> rows;
    std::vector<float> values;
    float* stage = stages[size_t(omp_get_thread_num())].Get(size_t(g.ow * g.o * np));
#pragma omp for schedule(static)
    for (int64_t oy = 0; oy < g.oh; oy++) {
      // Output channel outermost: its few kept weights read x as that many sequential streams
      // along the row, which the hardware prefetches (position-major, every kept weight of the
      // layer at once, each load waited on memory).
      for (int64_t o = 0; o < g.o; o++) {
        const auto& entries = pattern.by_output[size_t(o)];
        rows.resize(entries.size());
        values.resize(entries.size());
        for (int64_t ox = 0; ox < g.ow; ox++) {
          int64_t count = 0;
          for (const Entry& e : entries) {
            const int64_t iy = oy * g.sh - g.top + e.ky * g.dh, ix = ox * g.sw - g.left + e.kx * g.dw;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            rows[size_t(count)] = xt + (e.channel * s_in + iy * g.w + ix) * np;
            values[size_t(count)] = filter[e.p];
            count++;
          }
          SumRowsAll(count, rows.data(), values.data(), np, stage + (ox * g.o + o) * np);
        }
      }
      StageToNhwc(stage, g.ow, g.o, np, g.n, s_out * g.o, y + oy * g.ow * g.o);
    }
  }
}

// Input gradient: dx[b][iy][ix][ci] = Σ over kept (ky, kx, o) and the outputs (oy, ox) that read
// (iy, ix) through (ky, kx) of w · dy[o][oy][ox][b], from dy batch innermost, written to NHWC dx
// a row at a time. Threads take input rows.
void BackwardInput(const Pattern& pattern, const Geometry& g, const float* dyt, const float* filter, float* dx) {
  const int64_t np = g.Np(), s_in = g.h * g.w, s_out = g.oh * g.ow;
  // Stages are allocated here: an exception (out of memory) must not escape a parallel region.
  std::vector<Scratch> stages(static_cast<size_t>(omp_get_max_threads()));
  for (Scratch& stage : stages) stage.Get(size_t(g.w * g.c * np));
#pragma omp parallel
  {
    std::vector<const float*> rows;
    std::vector<float> values;
    float* stage = stages[size_t(omp_get_thread_num())].Get(size_t(g.w * g.c * np));
#pragma omp for schedule(static)
    for (int64_t iy = 0; iy < g.h; iy++) {
      // Input channel outermost, for sequential streams along the row (as in Forward).
      for (int64_t ci = 0; ci < g.c; ci++) {
        const auto& entries = pattern.by_input[size_t(ci)];
        rows.resize(entries.size());
        values.resize(entries.size());
        for (int64_t ix = 0; ix < g.w; ix++) {
          int64_t count = 0;
          for (const Entry& e : entries) {
            const int64_t ty = iy + g.top - e.ky * g.dh, tx = ix + g.left - e.kx * g.dw;
            if (ty < 0 || tx < 0 || ty % g.sh != 0 || tx % g.sw != 0) continue;
            const int64_t oy = ty / g.sh, ox = tx / g.sw;
            if (oy >= g.oh || ox >= g.ow) continue;
            rows[size_t(count)] = dyt + (e.channel * s_out + oy * g.ow + ox) * np;
            values[size_t(count)] = filter[e.p];
            count++;
          }
          SumRowsAll(count, rows.data(), values.data(), np, stage + (ix * g.c + ci) * np);
        }
      }
      StageToNhwc(stage, g.w, g.c, np, g.n, s_in * g.c, dx + iy * g.w * g.c);
    }
  }
}

// Filter gradient at kept positions: dw[p] = Σ over (oy, ox) of x[ci][iy][ix][:] · dy[o][oy][ox][:];
// every other position is 0. Row by row of the output, so that one row of dy[o] stays in cache
// for every kept weight of o. Each kept weight is summed by one thread in a fixed order.
void BackwardFilter(const Pattern& pattern, const Geometry& g, const float* xt, const float* dyt, float* dw) {
  const int64_t np = g.Np(), s_in = g.h * g.w, s_out = g.oh * g.ow, vectors = np / kLanes;
  std::fill(dw, dw + g.kh * g.kw * g.c * g.o, 0.f);
#pragma omp parallel
  {
    std::vector<v8> totals;
#pragma omp for schedule(dynamic, 1)
    for (int64_t o = 0; o < g.o; o++) {
      const auto& entries = pattern.by_output[size_t(o)];
      totals.assign(entries.size(), v8{});
      for (int64_t oy = 0; oy < g.oh; oy++)
        for (size_t k = 0; k < entries.size(); k++) {
          const Entry& e = entries[k];
          const int64_t iy = oy * g.sh - g.top + e.ky * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          v8 acc[4] = {v8{}, v8{}, v8{}, v8{}};
          for (int64_t ox = 0; ox < g.ow; ox++) {
            const int64_t ix = ox * g.sw - g.left + e.kx * g.dw;
            if (ix < 0 || ix >= g.w) continue;
            const v8* a = reinterpret_cast<const v8*>(xt + (e.channel * s_in + iy * g.w + ix) * np);
            const v8* b = reinterpret_cast<const v8*>(dyt + (o * s_out + oy * g.ow + ox) * np);
            int64_t j = 0;
            for (; j + 4 <= vectors; j += 4) {
              acc[0] += a[j] * b[j];
              acc[1] += a[j + 1] * b[j + 1];
              acc[2] += a[j + 2] * b[j + 2];
              acc[3] += a[j + 3] * b[j + 3];
            }
            for (; j < vectors; j++) acc[0] += a[j] * b[j];
          }
          totals[k] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
      for (size_t k = 0; k < entries.size(); k++) {
        float sum = 0.f;
        for (int lane = 0; lane < kLanes; lane++) sum += totals[k][lane];
        dw[entries[k].p] = sum;
      }
    }
  }
}

// sparsePattern(mask: Uint8Array of kh·kw·c·o bytes, 0 or 1, HWIO order, kh, kw, c, o) → id
napi_value SparsePattern(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 5);
    const int64_t kh = args.Int(1), kw = args.Int(2), c = args.Int(3), o = args.Int(4);
    if (kh < 1 || kw < 1 || c < 1 || o < 1) throw Error{"sparsePattern: bad dimensions"};
    size_t count = 5;
    napi_value values[5];
    napi_get_cb_info(env, info, &count, values, nullptr, nullptr);
    bool is_typed = false;
    napi_is_typedarray(env, values[0], &is_typed);
    if (!is_typed) throw Error{"sparsePattern: argument 0: expected a Uint8Array"};
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_get_typedarray_info(env, values[0], &type, &length, &data, nullptr, nullptr);
    if (type != napi_uint8_array) throw Error{"sparsePattern: argument 0: expected a Uint8Array"};
    if (int64_t(length) != kh * kw * c * o)
      throw Error{"sparsePattern: the mask has " + std::to_string(length) + " bytes, the filter " +
                  std::to_string(kh * kw * c * o) + " weights"};
    const uint8_t* mask = static_cast<const uint8_t*>(data);
    auto pattern = std::make_unique<Pattern>();
    *pattern = Pattern{kh, kw, c, o, 0, std::vector<std::vector<Entry>>(size_t(o)),
                       std::vector<std::vector<Entry>>(size_t(c)), nullptr};
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t kx = 0; kx < kw; kx++)
        for (int64_t ci = 0; ci < c; ci++)
          for (int64_t oc = 0; oc < o; oc++) {
            const int64_t p = ((ky * kw + kx) * c + ci) * o + oc;
            if (mask[p] > 1) throw Error{"sparsePattern: mask byte " + std::to_string(p) + " is not 0 or 1"};
            if (mask[p] == 0) continue;
            pattern->by_output[size_t(oc)].push_back({int32_t(ky), int32_t(kx), int32_t(ci), p});
            pattern->by_input[size_t(ci)].push_back({int32_t(ky), int32_t(kx), int32_t(oc), p});
            pattern->kept++;
          }
    std::lock_guard<std::mutex> guard(patterns_lock);
    const int64_t id = next_pattern++;
    patterns[id] = std::move(pattern);
    napi_value out;
    napi_create_int64(env, id, &out);
    return out;
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
}

// sparseFree(id): forgets a pattern (unknown ids are an error: a double free is a bug).
napi_value SparseFree(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 1);
    const int64_t id = args.Int(0);
    std::lock_guard<std::mutex> guard(patterns_lock);
    if (patterns.erase(id) == 0) throw Error{"sparseFree: pattern " + std::to_string(id) + " does not exist"};
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// sparseConv2d(memory, x, filter, y, pattern, keepInput, ...15 dims): y = conv(x, filter) over the
// kept weights; keepInput keeps x (batch innermost) in the pattern for the backward pass.
napi_value SparseConv2d(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 21);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    Pattern& pattern = FindPattern(args.Int(4));
    const bool keep = args.Bool(5);
    const Geometry g = ReadGeometry(args, 6, pattern);
    const int64_t x = args.Int(1), filter = args.Int(2), y = args.Int(3);
    const int64_t np = g.Np(), s_in = g.h * g.w, s_out = g.oh * g.ow;
    RequireRange("sparseConv2d x", x, g.n * s_in * g.c, length);
    RequireRange("sparseConv2d filter", filter, g.kh * g.kw * g.c * g.o, length);
    RequireRange("sparseConv2d y", y, g.n * s_out * g.o, length);
    if (keep && !pattern.kept_input) pattern.kept_input = std::make_shared<Scratch>();
    float* xt = (keep ? *pattern.kept_input : scratch_a).Get(size_t(g.c * s_in * np));
    ToBatchInner(memory + x, g.n, s_in, g.c, np, xt);
    Forward(pattern, g, xt, memory + filter, memory + y);
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

// sparseConv2dGrads(memory, x, dy, filter, dx, dw, pattern, inputKept, ...15 dims): the filter
// gradient at kept positions into dw (0 elsewhere) and, unless dx is −1, the input gradient into
// dx, from one transpose of dy. inputKept: the pattern holds this x from its forward pass.
napi_value SparseConv2dGrads(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 23);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    Pattern& pattern = FindPattern(args.Int(6));
    const bool input_kept = args.Bool(7);
    const Geometry g = ReadGeometry(args, 8, pattern);
    const int64_t x = args.Int(1), dy = args.Int(2), filter = args.Int(3), dx = args.Int(4), dw = args.Int(5);
    const int64_t np = g.Np(), s_in = g.h * g.w, s_out = g.oh * g.ow;
    RequireRange("sparseConv2dGrads x", x, g.n * s_in * g.c, length);
    RequireRange("sparseConv2dGrads dy", dy, g.n * s_out * g.o, length);
    RequireRange("sparseConv2dGrads filter", filter, g.kh * g.kw * g.c * g.o, length);
    if (dx != -1) RequireRange("sparseConv2dGrads dx", dx, g.n * s_in * g.c, length);
    RequireRange("sparseConv2dGrads dw", dw, g.kh * g.kw * g.c * g.o, length);
    if (input_kept && !pattern.kept_input) throw Error{"sparseConv2dGrads: no input was kept by the forward pass"};
    float* dyt = scratch_a.Get(size_t(g.o * s_out * np));
    ToBatchInner(memory + dy, g.n, s_out, g.o, np, dyt);
    if (dx != -1) BackwardInput(pattern, g, dyt, memory + filter, memory + dx);
    float* xt = input_kept ? pattern.kept_input->Get(size_t(g.c * s_in * np)) : nullptr;
    if (xt == nullptr) {
      xt = scratch_c.Get(size_t(g.c * s_in * np));
      ToBatchInner(memory + x, g.n, s_in, g.c, np, xt);
    }
    BackwardFilter(pattern, g, xt, dyt, memory + dw);
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

}  // namespace

void RegisterSparse(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"sparsePattern", nullptr, SparsePattern, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseFree", nullptr, SparseFree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseConv2d", nullptr, SparseConv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseConv2dGrads", nullptr, SparseConv2dGrads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
}

}  // namespace cyclesparse
