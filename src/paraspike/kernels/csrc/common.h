// Shared pieces of paraspike's CPU kernels: float math that vectorises without -ffast-math, the
// neuron layout, fresh output buffers, and the task scheduler.
//
// The kernels are compiled without -ffast-math on purpose: IEEE semantics keep NaN propagating
// through every min/max/compare, so a non-finite input behaves as in PyTorch's own ops. The one
// transcendental the default DSN needs per element, exp(y) for y <= 0, is written out below so
// that GCC and Clang vectorise it (glibc's vector exp is only declared under -ffast-math).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "output_pool.h"

namespace paraspike {

constexpr int64_t kBlock = 256;  // neurons per task: a few KiB of state per row, stays in L1

template <typename T>
struct Limits;
template <>
struct Limits<float> {
  // exp() below about -87 is subnormal (slow on some CPUs); exp(-80) is already 0 next to any state.
  static constexpr float kMinLog = -80.0f;
};
template <>
struct Limits<double> {
  static constexpr double kMinLog = -700.0;
};

inline int32_t float_bits(float v) {
  int32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
inline float bits_float(int32_t b) {
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// exp(y) for y in [-87, 88] (callers clamp), relative error below 2e-7; NaN in, NaN out.
// Cody-Waite reduction y = n ln2 + r, |r| <= ln2/2, and the Cephes minimax polynomial for exp(r).
// n is rounded with the 1.5 * 2^23 trick, so no float-to-int conversion of a NaN is ever made.
inline float exp_float(float y) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: t's low mantissa bits hold round(y log2 e)
  const float t = std::fma(y, 1.44269504088896341f, kMagic);
  const float n = t - kMagic;
  float r = std::fma(n, -0.693145751953125f, y);
  r = std::fma(n, -1.428606765330187045e-06f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r + 1.0f);
  const int32_t scale = (float_bits(t) - float_bits(kMagic) + 127) << 23;  // 2^n, n in [-126, 127]
  return p * bits_float(scale);
}
inline double exp_float(double y) { return std::exp(y); }

// exp(y) for any y: clamped to the range where exp_float is exact-ish (0 below it, inf above it).
template <typename T>
inline T exp_any(T y) {
  if constexpr (std::is_same_v<T, float>) {
    const float clamped = std::min(std::max(y, -87.0f), 88.0f);  // NaN stays NaN (IEEE min/max order)
    const float value = exp_float(clamped);
    return y > 88.0f ? INFINITY : (y < -87.0f ? 0.0f : value);
  } else {
    return std::exp(y);
  }
}

// +-inf becomes NaN, finite values are unchanged (0 * inf = NaN; the compiler may not fold it
// without -ffast-math). The DSN treats a non-finite input as NaN: see paraspike.neurons.dsn.
template <typename T>
inline T inf_to_nan(T v) {
  return std::fma(T(0), v, v);
}

// A fresh contiguous tensor for a [T, M] stream output: large ones come from the output pool
// (output_pool.h), whose blocks stay mapped from one call to the next.
inline at::Tensor empty_stream(at::IntArrayRef sizes, const at::TensorOptions& options) {
  return OutputPool::instance().empty(sizes, options);
}

// Software prefetch of a row a task will touch a few steps later: a task reads 1 KiB of each [T, M]
// row and jumps M * 4 bytes on; with M >= 1024 every row lies on its own 4 KiB page, where the
// hardware stream prefetchers (which stop at page boundaries) never get going.
constexpr int64_t kPrefetchRows = 6;
template <int kWrite, typename T>
inline void prefetch_row(const T* row, int64_t count) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (int64_t offset = 0; offset < count * static_cast<int64_t>(sizeof(T)); offset += 64) {
    __builtin_prefetch(bytes + offset, kWrite, 3);
  }
}

// Runs body(i) for i in [0, n) on PyTorch's thread pool with dynamic scheduling: threads take
// `grain` consecutive items at a time from a shared counter, so a thread that loses its core to
// another process (a shared machine) delays only the items it holds, not a fixed share of the work.
// Problems of fewer than `min_items` items run on the calling thread (waking the pool costs 10-30 us).
template <typename Body>
void parallel_items(int64_t n, int64_t min_items, int64_t grain, const Body& body) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n / std::max<int64_t>(min_items, 1));
  if (threads <= 1 || at::in_parallel_region()) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t start = next.fetch_add(grain, std::memory_order_relaxed);
      if (start >= n) break;
      const int64_t stop = std::min(n, start + grain);
      for (int64_t i = start; i < stop; ++i) body(i);
    }
  });
}

// The neurons of a layer input [T, B, C, *] as a flat [T, M] stream, M = B * P, P = C * S neurons per
// batch row. A batch row is cut into blocks of at most kBlock neurons; blocks are the same for every
// row, so per-neuron parameter columns (a "tile" over one row, [P]) serve every batch row.
struct Layout {
  int64_t T = 0, B = 0, C = 0, S = 1, P = 0, M = 0;
  std::vector<int64_t> block_start;  // first neuron of each block within a row; plus P at the end

  Layout(const at::Tensor& x) {
    T = x.size(0);
    B = x.dim() > 1 ? x.size(1) : 1;
    C = x.dim() > 2 ? x.size(2) : 1;
    for (int64_t d = 3; d < x.dim(); ++d) S *= x.size(d);
    P = C * S;
    M = B * P;
    // Whole channels per block when a channel is narrower than a block (so a block's channels do not
    // straddle blocks); a wide channel is cut into near-equal parts of at most kBlock neurons.
    if (P == 0) {  // an empty row (no channels, or an empty spatial dimension): no blocks
      block_start.push_back(0);
      return;
    }
    if (S <= kBlock) {
      const int64_t width = std::max<int64_t>(1, kBlock / S) * S;
      for (int64_t r = 0; r < P; r += width) block_start.push_back(r);
    } else {
      const int64_t parts = (S + kBlock - 1) / kBlock;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < parts; ++p) block_start.push_back(c * S + p * S / parts);
    }
    block_start.push_back(P);
  }
  int64_t blocks() const { return static_cast<int64_t>(block_start.size()) - 1; }
  int64_t width(int64_t blk) const { return block_start[blk + 1] - block_start[blk]; }
};

}  // namespace paraspike
