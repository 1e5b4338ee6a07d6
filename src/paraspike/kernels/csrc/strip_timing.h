// A microbenchmark of the register-blocked kernels alone (paraspike::strip_timing, run by
// `python -m paraspike.bench.strip_cycles`): the paper's DSN (4 taps, tau = 1/4, N = 4, rectangular
// surrogate) on one thread, on buffers it allocates itself, with no dispatcher, autograd, thread pool
// or allocator in the way. Layer [T, B, C, 16, 16]: batch * channels * 256 neurons, each channel's taps
// broadcast as in a conv layer. With few channels every stream fits in L1/L2, so the time is the
// arithmetic and how it overlaps; and the buffers' offsets within their 4 KiB pages are parameters,
// because a load whose address matches an earlier store's in its low 12 bits waits for that store
// (4 KiB aliasing): with rows a multiple of 4 KiB apart and the input at the outputs' page offset,
// each step's input load would wait for the previous step's stores.
#pragma once

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include "strip_kernels.h"

namespace paraspike {

// Page-aligned storage with the data `offset` bytes into its first page.
class OffsetBuffer {
 public:
  OffsetBuffer(int64_t count, int64_t offset) : base_(static_cast<char*>(std::aligned_alloc(4096, round(count, offset)))) {
    TORCH_CHECK(base_ != nullptr, "strip_timing: out of memory");
    data_ = reinterpret_cast<float*>(base_ + offset);
    std::fill(data_, data_ + count, 0.0f);
  }
  ~OffsetBuffer() { std::free(base_); }
  OffsetBuffer(const OffsetBuffer&) = delete;
  OffsetBuffer& operator=(const OffsetBuffer&) = delete;
  float* data() const { return data_; }

 private:
  static size_t round(int64_t count, int64_t offset) {
    return static_cast<size_t>((count * 4 + offset + 4095) / 4096 * 4096);
  }
  char* base_;
  float* data_;
};

// Seconds per call of `run`, the best of `rounds` rounds of enough calls for about 20 ms each.
template <typename Run>
double best_seconds(Run&& run, int64_t rounds) {
  using Clock = std::chrono::steady_clock;
  run();
  const auto start = Clock::now();
  run();
  const double once = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t calls = std::max<int64_t>(1, static_cast<int64_t>(0.02 / std::max(once, 1e-9)));
  double best = 1e30;
  for (int64_t round = 0; round < rounds; ++round) {
    const auto begin = Clock::now();
    for (int64_t call = 0; call < calls; ++call) run();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - begin).count() / calls);
  }
  return best;
}

// The core clock in GHz from a chain of dependent one-cycle integer adds (x86-64; 0 elsewhere).
inline double core_clock_ghz() {
#if defined(__x86_64__)
  auto chain = [] {
    int64_t value = 0;
    for (int64_t i = 0; i < 50000000; ++i) {
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(value));
    }
    return value;
  };
  return 4 * 50000000 / best_seconds(chain, 3) * 1e-9;
#else
  return 0.0;
#endif
}

// [forward ns, backward ns per 16-lane vector-step, clock GHz] for T steps of batch x channels x 256 neurons,
// the input `input_offset` bytes and every output `output_offset` bytes into their pages.
inline std::vector<double> strip_timing(int64_t steps, int64_t batch, int64_t channels, int64_t rounds,
                                        int64_t input_offset, int64_t output_offset) {
  TORCH_CHECK(steps >= 1 && batch >= 1 && channels >= 1 && rounds >= 1,
              "strip_timing: steps, batch, channels and rounds must be >= 1");
  TORCH_CHECK(input_offset >= 0 && input_offset < 4096 && input_offset % 64 == 0 && output_offset >= 0 &&
                  output_offset < 4096 && output_offset % 64 == 0,
              "strip_timing: offsets are multiples of 64 bytes below 4096");
  constexpr int64_t kPositions = 256;  // a 16 x 16 map per channel
  const int64_t P = channels * kPositions, M = batch * P, TM = steps * M;
  OffsetBuffer x(TM, input_offset), grad_s(TM, input_offset), spikes(TM, output_offset), h(TM, output_offset),
      dx(TM, output_offset), h_last(M, output_offset);
  std::vector<float> w(4 * P), b(P), wc(channels * 4), bc(channels, 0.0f);
  std::mt19937 generator(0);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < TM; ++i) {
    x.data()[i] = 1.5f * normal(generator);
    grad_s.data()[i] = normal(generator);
  }
  for (auto& tap : wc) tap = 0.3f * normal(generator);
  for (int64_t j = 0; j < 4; ++j) {
    for (int64_t p = 0; p < P; ++p) w[j * P + p] = wc[(p / kPositions) * 4 + j];
  }
  DsnArgs<float> a;
  a.x = x.data();
  a.w = w.data();
  a.b = b.data();
  a.wc = wc.data();
  a.bc = bc.data();
  a.S = kPositions;
  a.T_ = steps;
  a.M = M;
  a.P = P;
  a.K = 4;
  a.inv_tau = 4;
  a.power = 4;
  a.min_sigmoid = std::exp(Limits<float>::kMinLog / 4);
  a.vth = 1;
  a.max_spike = 4;
  a.surrogate_alpha = 4;
  BackwardArgs<float> g;
  g.grad_s = grad_s.data();
  const bool recompute = recompute_h();  // as the op runs it: H checkpoints saved, the backward recomputes H
  g.h = recompute ? nullptr : h.data();
  g.h_checkpoints = recompute && checkpoint_rows(steps) > 0 ? h.data() : nullptr;  // h has room for them
  g.dx = dx.data();
  std::vector<float> dw(4 * kBlock), db(kBlock);
  auto forward = [&] {
    for (int64_t r0 = 0; r0 < P; r0 += kBlock) {
      forward_strips<float, 4, 4, false>(a, r0, kBlock, 0, batch, spikes.data(), recompute ? nullptr : h.data(),
                                         recompute ? h.data() : nullptr, h_last.data(), false);
    }
  };
  const bool by_rows = backward_by_rows(M * int64_t{4}, P * int64_t{4}, steps);  // as the op decides
  auto backward = [&] {
    for (int64_t r0 = 0; r0 < P; r0 += kBlock) {
      backward_strips<float, 4, 4, kRectSTE>(a, g, r0, kBlock, 0, batch, dw.data(), db.data(), false, by_rows);
    }
  };
  const double vector_steps = static_cast<double>(TM) / simd::kLanes<float>;
  const double forward_ns = best_seconds(forward, rounds) / vector_steps * 1e9;
  const double backward_ns = best_seconds(backward, rounds) / vector_steps * 1e9;
  static const double clock_ghz = core_clock_ghz();  // measured once per process
  return {forward_ns, backward_ns, clock_ghz};
}

}  // namespace paraspike
