// XLA:CPU FFI custom calls for the two memory-bound parts of an LM decode step (cpu_kernels.py):
// - TwoRowMatvec: y[r, o] = sum_i w[o, i] x[r, i] for r = 0, 1, a CFG step's cond and null rows.
//   XLA:CPU reads a weight at the memory bandwidth only for a single row; for two rows every
//   formulation tried read it at 8-20 GB/s against 27 (bench/lm_decode_profile.py, probes). This
//   reads each weight once for both rows.
// - CachedAttention: one query per (batch, head) over the first `length` positions of the KV
//   cache, where XLA's attention reads the whole preallocated window at every step.
// Both split their work over the intra-op threads.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// One vector register of floats; kBlockRows weight rows are read side by side (memory-level
// parallelism), their 2 x kBlockRows accumulators kept in registers (AVX-512 has 32, AVX2 16).
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16, kBlockRows = 8;
#elif defined(__AVX__)
constexpr int64_t kLanes = 8, kBlockRows = 4;
#else
constexpr int64_t kLanes = 4, kBlockRows = 4;
#endif
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
constexpr int64_t kChunkRows = 64;     // weight rows per task a thread takes
constexpr int64_t kPrefetchAhead = 128;  // floats: +4% over the hardware prefetcher alone
constexpr int64_t kParallelBytes = 256 << 10;  // below this, one thread (no hand-off)

inline Lanes Load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float Sum(Lanes v) {
  float s = 0;
  for (int64_t i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// Rows [lo, hi) of y for both x rows.
void Rows(const float* x, const float* w, float* y, int64_t in, int64_t out, int64_t lo,
          int64_t hi) {
  const float* x1 = x + in;
  const int64_t vector_in = in / kLanes * kLanes;
  int64_t o = lo;
  for (; o + kBlockRows <= hi; o += kBlockRows) {
    Lanes acc[kBlockRows][2] = {};
    const float* wo = w + o * in;
    for (int64_t i = 0; i < vector_in; i += kLanes) {
      const Lanes a = Load(x + i), b = Load(x1 + i);
      for (int64_t k = 0; k < kBlockRows; ++k) {
        const Lanes wk = Load(wo + k * in + i);
        // An address, not a pointer (it may lie past the end); prefetches never fault.
        __builtin_prefetch(reinterpret_cast<const void*>(
            reinterpret_cast<uintptr_t>(wo + k * in + i) + kPrefetchAhead * sizeof(float)));
        acc[k][0] += wk * a;
        acc[k][1] += wk * b;
      }
    }
    for (int64_t k = 0; k < kBlockRows; ++k) {
      float s0 = Sum(acc[k][0]), s1 = Sum(acc[k][1]);
      for (int64_t i = vector_in; i < in; ++i) {
        s0 += wo[k * in + i] * x[i];
        s1 += wo[k * in + i] * x1[i];
      }
      y[o + k] = s0;
      y[out + o + k] = s1;
    }
  }
  for (; o < hi; ++o) {
    float s0 = 0, s1 = 0;
    for (int64_t i = 0; i < in; ++i) {
      s0 += w[o * in + i] * x[i];
      s1 += w[o * in + i] * x1[i];
    }
    y[o] = s0;
    y[out + o] = s1;
  }
}

// Tasks 0..count-1 handed out to whichever thread asks next; the calling thread takes tasks too,
// so nothing waits on a queued helper. Helpers that start after the call returned find no task
// left (they hold the shared state, not the call's).
template <typename Task>
void ParallelFor(ffi::ThreadPool& pool, int64_t count, Task task) {
  struct State {
    State(Task task, int64_t count) : task(task), count(count) {}
    Task task;
    int64_t count;
    std::atomic<int64_t> next{0}, done{0};
    void Run() {
      for (int64_t i; (i = next.fetch_add(1)) < count;) {
        task(i);
        done.fetch_add(1, std::memory_order_release);
      }
    }
  };
  auto state = std::make_shared<State>(task, count);
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), count) - 1;
  for (int64_t h = 0; h < helpers; ++h) pool.Schedule([state] { state->Run(); });
  state->Run();
  while (state->done.load(std::memory_order_acquire) < count) std::this_thread::yield();
}

ffi::Error TwoRowMatvec(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                        ffi::ResultBuffer<ffi::F32> y) {
  const auto dims = w.dimensions();
  if (dims.size() != 2 || x.element_count() != 2 * dims[1] || y->element_count() != 2 * dims[0])
    return ffi::Error::InvalidArgument("two_row_matvec: x [2, in], w [out, in], y [2, out]");
  const int64_t out = dims[0], in = dims[1];
  const float* xs = x.typed_data();
  const float* ws = w.typed_data();
  float* ys = y->typed_data();
  if (out * in * 4 < kParallelBytes) {
    Rows(xs, ws, ys, in, out, 0, out);
    return ffi::Error::Success();
  }
  ParallelFor(pool, (out + kChunkRows - 1) / kChunkRows, [=](int64_t c) {
    Rows(xs, ws, ys, in, out, c * kChunkRows, std::min(out, (c + 1) * kChunkRows));
  });
  return ffi::Error::Success();
}

// softmax(q k / sqrt(d)) v for one query per (batch, head) over positions [0, length) of the
// cache: q [B, H, d] (already scaled), k [B, H, d, L], v [B, H, L, d] -> o [B, H, d].
ffi::Error CachedAttention(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> q, ffi::Buffer<ffi::F32> k,
                           ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::S32> length,
                           ffi::ResultBuffer<ffi::F32> o) {
  const auto dims = k.dimensions();
  if (dims.size() != 4 || q.element_count() != dims[0] * dims[1] * dims[2] ||
      v.element_count() != k.element_count() || length.element_count() != 1)
    return ffi::Error::InvalidArgument(
        "cached_attention: q [B, H, d], k [B, H, d, L], v [B, H, L, d], length []");
  const int64_t heads = dims[0] * dims[1], d = dims[2], window = dims[3];
  if (window == 0) return ffi::Error::InvalidArgument("cached_attention: an empty cache");
  const int64_t n = std::clamp<int64_t>(length.typed_data()[0], 1, window);
  const float* qs = q.typed_data();
  const float* ks = k.typed_data();
  const float* vs = v.typed_data();
  float* os = o->typed_data();
  ParallelFor(pool, heads, [=](int64_t h) {
    const float* qh = qs + h * d;
    const float* kh = ks + h * d * window;
    const float* vh = vs + h * window * d;
    std::vector<float> p(n, 0.0f);
    for (int64_t j = 0; j < d; ++j) {  // logits: the rows of k, each n long
      const float qj = qh[j];
      const float* kj = kh + j * window;
      for (int64_t s = 0; s < n; ++s) p[s] += qj * kj[s];
    }
    const float top = *std::max_element(p.begin(), p.end());
    float total = 0;
    for (int64_t s = 0; s < n; ++s) total += (p[s] = std::exp(p[s] - top));
    float* oh = os + h * d;
    std::fill(oh, oh + d, 0.0f);
    for (int64_t s = 0; s < n; ++s) {
      const float ps = p[s] / total;
      const float* vr = vh + s * d;
      for (int64_t j = 0; j < d; ++j) oh[j] += ps * vr[j];
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SoundgenTwoRowMatvec, TwoRowMatvec,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(SoundgenCachedAttention, CachedAttention,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
