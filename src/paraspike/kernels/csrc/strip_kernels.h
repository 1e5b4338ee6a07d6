// Register-blocked DSN kernels: the same math as dsn_kernels.h, for a compile-time number of conv
// taps K (kStripTaps = 4, the paper's; a layer with k < 4 taps runs with 4 - k zero taps in front, at
// the same speed) and 1/tau = kPower in {1, 2, 4} (the paper's tau = 1/4), or kPower = 0: any other tau,
// through vector log1p and expm1 (simd.h; the block kernels call libm's, element by element: at
// [4, 16, 128, 16, 16], two threads, tau = 0.3 took 79 ms forward + backward against 2.7 ms at 0.25).
//
// A block of neurons (up to kBlock of one batch row) is cut into strips of one SIMD vector (16 floats /
// 8 doubles). Two orders run a block's strips:
// - step by step (the forward; the backward of layers with long rows, backward_rows): each step runs
//   every strip of the block, so each row of each [T, M] stream is read and written as one run of up to
//   1 KiB of consecutive lines, which the hardware prefetchers follow; the strips' potentials, scan
//   state and gradient sums wait in small arrays (L1) between steps;
// - strip by strip (the backward of short-row layers and of T <= kStripMajorSteps): a strip runs a tile
//   of kTile steps with everything it carries in registers (the reverse-scan state, the K-1 later dz
//   values, the weight and bias gradient sums), state parked between tiles; it touches one line per
//   row, so each step prefetches the lines the next strip (or tile) touches at its matching step
//   (NextUnit), and where rows lie far apart (each on its own page) that is not enough.
// Both compute the same operations in the same order per neuron, so their results are identical.
// The backward is given no H but its checkpoints (one per kTile steps): each tile's reverse pass first
// runs the forward's steps again (the same step_decay and strip_update), keeping every step's decay
// terms and H for it.
// Outputs from half the last-level cache up are stored non-temporally (no read for ownership).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "dsn_kernels.h"
#include "simd.h"

namespace paraspike {

constexpr int kStripTaps = 4;  // conv taps of the register-blocked kernels; layers with fewer run with zeros in front
constexpr int64_t kTile = 32;  // steps per tile of the strip-by-strip backward
constexpr int64_t kStripMajorSteps = 2;  // backward up to this T: strip by strip over batch rows
// The backward recomputes H from x, a tile of kTile steps at a time (a forward sweep before each tile's
// reverse pass, its decay terms kept for the reverse steps, which then skip their own), so the forward
// writes only H at each tile's last step (a checkpoint, none for T <= kTile) and autograd saves x and
// those: the layer moves about 20 bytes per neuron-step, not 28, and keeps about half the memory for the
// backward. The number of checkpoints of a T-step layer:
inline int64_t checkpoint_rows(int64_t steps) { return steps > 0 ? (steps - 1) / kTile : 0; }
// The checkpoint row holding H_t, for t = kTile - 1 (mod kTile): the forward writes it, and a tile
// starting at t0 > 0 reads it as checkpoint_row(t0 - 1).
inline int64_t checkpoint_row(int64_t t) { return t / kTile; }
// Whether the backward recomputes H (the default) or reads it saved: PARASPIKE_RECOMPUTE_H=0 saves it
// (tests and the before/after benchmarks compare the two with it).
inline bool recompute_h() {
  const char* setting = std::getenv("PARASPIKE_RECOMPUTE_H");
  return setting == nullptr || *setting == '\0' || std::atoll(setting) != 0;
}

template <typename T, int kPower>
inline void strip_decay(simd::Vec<T> z, T min_sigmoid, T inv_tau, simd::Vec<T>& alpha, simd::Vec<T>& one_minus_alpha,
                        simd::Vec<T>& one_minus_sig) {
  // alpha, 1 - alpha and 1 - sigmoid(z), as decay_terms<T, kPower> in dsn_kernels.h.
  using V = simd::Vec<T>;
  const V e = simd::exp_nonpositive(simd::max<T>(simd::negative_abs<T>(z), simd::splat(Limits<T>::kMinLog)));
  const V r = simd::reciprocal_1_2<T>(e + T(1));
  const auto positive = z >= T(0);
  one_minus_sig = simd::select<T>(positive, e * r, r);
  if constexpr (kPower == 0) {  // any other tau: log alpha = (min(z, 0) - log1p(e)) / tau
    const V log_alpha = simd::max<T>((simd::min<T>(z, V{}) - simd::log1p_unit<T>(e)) * inv_tau,
                                     simd::splat(Limits<T>::kMinLog));
    alpha = simd::exp_nonpositive(log_alpha);
    one_minus_alpha = -simd::expm1_nonpositive<T>(log_alpha);
    return;
  }
  const V s = simd::max<T>(simd::select<T>(positive, r, e * r), simd::splat(min_sigmoid));
  // alpha = s^n, 1 - alpha = (1 - s)(1 + s + .. + s^(n-1)); n = 4 as s^4 = (s^2)^2 and
  // 1 + s + s^2 + s^3 = (1 + s)(1 + s^2): two multiplications deep, not three
  if constexpr (kPower == 1) {
    alpha = s;
    one_minus_alpha = one_minus_sig;
  } else if constexpr (kPower == 2) {
    alpha = s * s;
    one_minus_alpha = one_minus_sig * (s + T(1));
  } else if constexpr (kPower == 4) {
    const V s2 = s * s;
    alpha = s2 * s2;
    one_minus_alpha = one_minus_sig * ((s + T(1)) * (s2 + T(1)));
  }
}

// The decay logit z = b + sum_j w_j x_j of a strip (x_j = x_{t-(K-1)+j}). For the K = 4 taps of the
// strip kernels, summed as a tree, (w1 x1 + (w0 x0 + b)) + (w3 x3 + w2 x2): three FMAs and an add deep
// where the running sum is four FMAs (the inputs are all loads, ready together, and the logit heads
// each step's longest chain of dependent operations: the exp, the reciprocal, the powers, the update
// and the firing). The forward and the reverse pass both sum it here, so both see the same z. One
// thread, `python -m paraspike.bench.strip_cycles --steps 2 4 8 --batch 16 --rounds 9`, the two
// alternated twice, forward cycles per vector-step, running sum -> tree: T = 2 33.3-33.5 -> 32.4-32.7,
// T = 4 33.3-33.7 -> 31.8-32.1, T = 8 33.2-33.4 -> 32.1-32.7.
template <int K, typename V>
__attribute__((always_inline)) inline V decay_logit(const V* w, const V* x, V b) {
  if constexpr (K == 4) {
    return (w[1] * x[1] + (w[0] * x[0] + b)) + (w[3] * x[3] + w[2] * x[2]);
  } else {
    V z = b;
    for (int j = 0; j < K; ++j) z = w[j] * x[j] + z;
    return z;
  }
}

// alpha_t, 1 - alpha_t and 1 - sigmoid(z_t) of a step.
template <typename T>
struct StepDecay {
  simd::Vec<T> alpha, one_minus_alpha, one_minus_sig;
};

// A step's decay terms from its window of inputs (window[j] = x_{t-(K-1)+j}): the forward and both
// reverse passes (recomputing or not) call this one function, so all see the same values.
template <typename T, int K, int kPower>
__attribute__((always_inline)) inline StepDecay<T> step_decay(const simd::Vec<T>* w, const simd::Vec<T>* window,
                                                              simd::Vec<T> b, T min_sigmoid, T inv_tau) {
  StepDecay<T> d;
  strip_decay<T, kPower>(decay_logit<K>(w, window, b), min_sigmoid, inv_tau, d.alpha, d.one_minus_alpha,
                         d.one_minus_sig);
  return d;
}

// H_t = alpha_t H_{t-1} + (1 - alpha_t) x_t, an infinite x_t made NaN (x 0 + x): the forward's update and
// the reverse pass's when it recomputes H (the same function, so the same H).
template <typename T>
__attribute__((always_inline)) inline simd::Vec<T> strip_update(const StepDecay<T>& d, simd::Vec<T> h_prev,
                                                                simd::Vec<T> x) {
  const simd::Vec<T> x_clean = x * T(0) + x;
  return d.alpha * h_prev + d.one_minus_alpha * x_clean;
}

// What the recomputing reverse pass keeps of a step: its decay terms and H_t.
template <typename T>
struct StepStash {
  StepDecay<T> decay;
  simd::Vec<T> h;
};

template <typename T, bool kBinary>
inline simd::Vec<T> strip_fire(simd::Vec<T> q, T max_spike) {
  using V = simd::Vec<T>;
  V spikes;
  if constexpr (kBinary) {
    spikes = simd::select<T>(q >= T(0.5), simd::splat(T(1)), simd::splat(T(0)));
  } else {
    // clip(floor(q + 1/2), 0, N) = floor(clip(q + 1/2, 0, N)) (floor is monotonic and 0, N are integers)
    spikes = simd::floor_small<T>(simd::min<T>(simd::max<T>(q + T(0.5), simd::splat(T(0))), simd::splat(max_spike)));
#if defined(__AVX512F__)
    // simd::max / min keep a NaN in their first operand and vrndscale keeps NaN: no select needed (which
    // also lets q + 1/2 fuse with the H / V_th product into one FMA)
    return spikes;
#endif
  }
  return simd::select<T>(simd::is_nan<T>(q), q, spikes);
}

// dS/dH of a strip for each firing mode (vector forms of the slopes in dsn_kernels.h).
template <typename T, int64_t kSlope>
inline simd::Vec<T> strip_slope(simd::Vec<T> hv, T vth, T max_spike, T sur_alpha) {
  using V = simd::Vec<T>;
  const V q = hv * (T(1) / vth);  // only a gradient: a product is as good as the quotient here
  if constexpr (kSlope == kRectSTE) {
    return simd::select<T>((q >= T(0)) & (q <= max_spike), simd::splat(T(1) / vth), V{});
  } else if constexpr (kSlope == kAtan) {
    const V r = (q - T(0.5)) * (T(M_PI / 2) * sur_alpha);
    return (sur_alpha / (2 * vth)) / (r * r + T(1));
  } else if constexpr (kSlope == kSigmoid) {
    // s (1 - s) with s = sigmoid(alpha (q - 1/2)) depends on |argument| only: e / (1 + e)^2, e = exp(-|.|)
    const V e = simd::exp_nonpositive(
        simd::max<T>(simd::negative_abs<T>((q - T(0.5)) * sur_alpha), simd::splat(Limits<T>::kMinLog)));
    const V r = simd::reciprocal_1_2<T>(e + T(1));
    return sur_alpha * (e * r * r) / vth;
  } else {
    const V zz = simd::abs<T>(q - T(0.5));
    return simd::select<T>(zz < T(1) / (2 * sur_alpha), simd::splat(sur_alpha / vth), V{});
  }
}

// Row t (t >= -(kStripTaps-1)) of the input for a strip at neuron `off`, n lanes (DsnArgs::row: zeros
// before the history rows and before the start without history).
template <typename T>
inline simd::Vec<T> input_row(const DsnArgs<T>& a, int64_t t, int64_t off, int n) {
  const T* row = a.row(t, off, nullptr);
  return row != nullptr ? simd::load(row, n) : simd::Vec<T>{};
}

// The decay conv's taps and bias for a strip (parameter column poff, n lanes).
template <typename T, int K>
struct StripParams {
  simd::Vec<T> w[K], b;
  StripParams(const DsnArgs<T>& a, int64_t poff, int n) {
    if (a.wc != nullptr) {  // the strip lies inside channel poff / S: broadcast its taps and bias
      const int64_t c = poff / a.S;
      for (int j = 0; j < K; ++j) w[j] = simd::splat(a.wc[c * K + j]);
      b = simd::splat(a.bc[c]);
      return;
    }
    for (int j = 0; j < K; ++j) w[j] = simd::load(a.w + j * a.P + poff, n);
    b = simd::load(a.b + poff, n);
  }
};

// Stores an output vector, past the caches when `streaming` (outputs larger than the caches hold).
template <typename T>
inline void put(T* p, simd::Vec<T> v, int n, bool streaming) {
  if (streaming) {
    simd::store_streaming(p, v, n);
  } else {
    simd::store(p, v, n);
  }
}

// A unit of work a strip prefetches for (see unit_ahead: a later strip of the block over the same
// steps, or a strip of the next tile or batch row). A strip touches one cache line per row of each
// [T, M] stream, rows M * 4 bytes apart, each on its own page, where the hardware prefetchers do not
// follow; so while a strip runs step t it prefetches the lines that unit touches at its matching step,
// far enough ahead to cover about a memory latency.
struct NextUnit {
  int64_t rows = 0, cols = 0;  // the next unit's step minus this one's, and its neuron offset minus this one's
  int64_t lo = 0, hi = -1;     // prefetch only when the next unit's step lies in [lo, hi)
  static NextUnit at(int64_t rows, int64_t cols, int64_t lo, int64_t hi) { return NextUnit{rows, cols, lo, hi}; }
  bool has(int64_t t) const { return t + rows >= lo && t + rows < hi; }
  int64_t index(int64_t t, int64_t off, int64_t M) const { return (t + rows) * M + off + cols; }
};

// The unit of work `ahead` units after strip s of the tile [t0, t1) of a batch row (units run strip
// by strip within a tile, tiles from the last to the first, steps counted down from each tile's end,
// batch row by batch row), to prefetch for; none past the last batch row. A strip of a short tile runs
// few steps, so one unit ahead is too close to hide a memory latency (at T = 2 a unit is tens of
// nanoseconds): callers ask for enough units to cover ~16 steps. (Timed interleaved with other layers,
// so from cold caches, [2, 128, 4096] forward + backward with 2 threads: one unit ahead 2.79 ms, units
// covering 16 steps 2.35 ms, 32 steps the same.)
inline NextUnit unit_ahead(int64_t s, int64_t strips, int64_t ahead, int64_t t0, int64_t t1, int64_t T,
                           bool last_batch, int64_t P, int W) {
  const int64_t j = s + ahead;
  if (j < strips) return NextUnit::at(0, ahead * W, t0, t1);
  const int64_t cols = (j - strips - s) * W;  // strip j - strips of the following tile, relative to s
  if (t0 > 0) return NextUnit::at(t0 - t1, cols, std::max<int64_t>(0, t0 - kTile), t0);
  if (!last_batch) return NextUnit::at(T - t1, P + cols, (T - 1) / kTile * kTile, T);
  return NextUnit{};
}

// Units to prefetch ahead for a tile of `steps` steps: enough to cover about 16 steps, at most a block.
inline int64_t units_ahead(int64_t steps, int64_t strips) {
  return std::max<int64_t>(1, std::min<int64_t>(strips, (16 + steps - 1) / steps));
}

// ----------------------------------------------------------------------------------------- forward
// The conv taps and bias of each strip of the block of nb neurons at parameter column r0, kept for the
// step-by-step loops (which run every strip at each step).
template <typename T, int K>
struct BlockTaps {
  simd::Vec<T> w[kBlock / simd::kLanes<T>][K], b[kBlock / simd::kLanes<T>];
  BlockTaps(const DsnArgs<T>& a, int64_t r0, int64_t nb) {
    constexpr int W = simd::kLanes<T>;
    for (int64_t s = 0; s * W < nb; ++s) {
      const StripParams<T, K> p(a, r0 + s * W, static_cast<int>(std::min<int64_t>(W, nb - s * W)));
      for (int j = 0; j < K; ++j) w[s][j] = p.w[j];
      b[s] = p.b;
    }
  }
};

// Rows a block prefetches ahead of the row it runs: about 32 strip-steps (a memory latency or more).
inline int64_t rows_ahead(int64_t strips) { return std::max<int64_t>(2, (32 + strips - 1) / strips); }

// Where, in a [T, M] stream, the block at n0 reads `ahead` rows after it runs row t: later rows of its
// batch row, then the next batch row's (`forward`: rows counted up from 0, else down from T - 1); -1
// past the last batch row of the call.
inline int64_t row_ahead(int64_t t, int64_t ahead, int64_t T, int64_t n0, int64_t P, int64_t M, bool last_batch,
                         bool forward) {
  int64_t row = forward ? t + ahead : t - ahead, at = n0;
  if (row >= T || row < 0) {
    if (last_batch) return -1;
    row = forward ? row - T : row + T;
    at += P;
    if (row >= T || row < 0) return -1;
  }
  return row * M + at;
}

// One group: the block of nb neurons at row offset r0, for batch rows [b0, b1). Step by step, each
// step over all the block's strips (up to 1 KiB of consecutive lines per row of each stream), the
// strips' potentials and parameters in small arrays. This order reads and writes each row as one run
// of lines, which the hardware prefetchers follow; a strip running its own steps (as the backward
// below) touches one line per row, each on its own page. One thread, [T, B, 16, 16, 16] (`python -m
// paraspike.bench.strip_cycles --steps 1 2 4 8 32 --batch B --rounds 7`, on 33ba93c and after), cycles
// per 16-lane vector-step, strip by strip -> step by step: B = 128 (streams in memory) T = 1 51.4 ->
// 37.4, T = 8 70.8 -> 40.5, T = 32 67.6 -> 36.0; B = 1 (in L1/L2) T = 1 49.1 -> 45.1, T = 8 36.6 ->
// 33.6, T = 32 35.5 -> 32.9. The arithmetic is the same, operation for operation: results are identical.
template <typename T, int K, int kPower, bool kBinary>
void forward_strips(const DsnArgs<T>& args, int64_t r0, int64_t nb, int64_t b0, int64_t b1, T* spikes, T* h_out,
                    T* h_checkpoints, T* h_last, bool streaming) {
  using V = simd::Vec<T>;
  constexpr int W = simd::kLanes<T>;
  const DsnArgs<T> a = args;
  int exponent;
  const T inv_vth = T(1) / a.vth;
  const bool exact_inverse = std::frexp(a.vth, &exponent) == T(0.5);  // H / V_th == H * (1 / V_th) exactly
  const int64_t full = nb / W, strips = (nb + W - 1) / W, ahead = rows_ahead(strips);
  const int tail = static_cast<int>(nb - full * W);
  auto lanes = [&](int64_t s) { return static_cast<int>(std::min<int64_t>(W, nb - s * W)); };
  const T* zeros = zero_row<T>();
  const BlockTaps<T, K> taps(a, r0, nb);
  V state[kBlock / W];
  for (int64_t batch = b0; batch < b1; ++batch) {
    const int64_t n0 = batch * a.P + r0;
    for (int64_t s = 0; s < strips; ++s) state[s] = a.h0 != nullptr ? simd::load(a.h0 + n0 + s * W, lanes(s)) : V{};
    for (int64_t t = 0; t < a.T_; ++t) {
      const T* rows[K];  // rows[j] = x_{t-(K-1)+j}
      for (int j = 0; j < K; ++j) rows[j] = a.row(t - (K - 1) + j, n0, zeros);
      T* s_row = spikes + t * a.M + n0;
      T* h_row = h_out != nullptr ? h_out + t * a.M + n0 : nullptr;
      // H at each tile's last step but the sequence's, for the recomputing backward (checkpoint_rows)
      T* checkpoint = h_checkpoints != nullptr && t % kTile == kTile - 1 && t < a.T_ - 1
                          ? h_checkpoints + checkpoint_row(t) * a.M + n0
                          : nullptr;
      const int64_t next = row_ahead(t, ahead, a.T_, n0, a.P, a.M, batch + 1 == b1, true);
      // exact: V_th a power of two, so H / V_th is H * (1 / V_th) exactly, and the firing's H / V_th + 1/2
      // is one FMA (a run-time choice between the two quotients kept them apart: a multiply and an add
      // on each step's chain; T = 2-32 forward 32.0-32.6 -> 30.8-31.9 cycles per vector-step)
      auto step = [&](int64_t s, int n, auto exact) {
        const int64_t c = s * W;
        if (next >= 0) {
          __builtin_prefetch(a.x + next + c, 0, 3);
          if (!streaming) {  // plain stores read each line first: fetch it for writing
            __builtin_prefetch(spikes + next + c, 1, 3);
            if (h_out != nullptr) __builtin_prefetch(h_out + next + c, 1, 3);
          }
        }
        V window[K];
        for (int j = 0; j < K; ++j) window[j] = simd::load(rows[j] + c, n);
        const V h = strip_update(step_decay<T, K, kPower>(taps.w[s], window, taps.b[s], a.min_sigmoid, a.inv_tau),
                                 state[s], window[K - 1]);
        state[s] = h;
        if (h_row != nullptr) put(h_row + c, h, n, streaming);
        if (checkpoint != nullptr) simd::store(checkpoint + c, h, n);
        V q;
        if constexpr (decltype(exact)::value) {
          q = h * inv_vth;
        } else {
          q = h / a.vth;
        }
        put(s_row + c, strip_fire<T, kBinary>(q, a.max_spike), n, streaming);
      };
      auto strips_of_step = [&](auto exact) {
        for (int64_t s = 0; s < full; ++s) step(s, W, exact);
        if (tail > 0) step(full, tail, exact);
      };
      if (exact_inverse) {
        strips_of_step(std::true_type{});
      } else {
        strips_of_step(std::false_type{});
      }
    }
    for (int64_t s = 0; s < strips; ++s) simd::store(h_last + n0 + s * W, state[s], lanes(s));
  }
  if (streaming) simd::fence_streaming_stores();
}

// ---------------------------------------------------------------------------------------- backward
template <typename T, int K>
struct BackwardState {
  simd::Vec<T> d_next, alpha_next, later[K > 1 ? K - 1 : 1];  // d_{t+1}, alpha_{t+1}, dz_{t+1..t+K-1}

  // The state after the last step of the strip at neuron `off`: d_T = dL/dH_last, alpha_T = 1, no later dz.
  __attribute__((always_inline)) static BackwardState start(const BackwardArgs<T>& g, int64_t off, int n) {
    BackwardState st;
    st.d_next = g.grad_last != nullptr ? simd::load(g.grad_last + off, n) : simd::Vec<T>{};
    st.alpha_next = simd::splat(T(1));
    for (int m = 0; m < K - 1; ++m) st.later[m] = simd::Vec<T>{};
    return st;
  }
};

// The scalars of a reverse step.
template <typename T>
struct ReverseScalars {
  T min_sigmoid, inv_tau, vth, max_spike, sur_alpha;
  explicit ReverseScalars(const DsnArgs<T>& a)
      : min_sigmoid(a.min_sigmoid),
        inv_tau(a.inv_tau),
        vth(a.vth),
        max_spike(a.max_spike),
        sur_alpha(a.surrogate_alpha) {}
};

// One reverse step of a strip, shared by both traversals, at neuron `index` of step t's row. window[j] =
// x_{t-(K-1)+j}, `decay` the step's terms (step_decay); carried in and out: dn = d_{t+1} -> d_t, an =
// alpha_{t+1} -> alpha_t, future[m] = dz_{t+1+m} -> dz_{t+m}; adds the step's weight and bias gradients
// to dw and db; returns dx_t = d_t (1 - alpha_t) + sum_m w_{K-1-m} dz_{t+m}.
template <typename T, int K, int64_t kSlope>
__attribute__((always_inline)) inline simd::Vec<T> reverse_step(const BackwardArgs<T>& g, const ReverseScalars<T>& c,
                                                                int64_t index, int n, const simd::Vec<T>* w,
                                                                const StepDecay<T>& decay,
                                                                const simd::Vec<T>* window, simd::Vec<T> h_t,
                                                                simd::Vec<T> h_prev, simd::Vec<T>& dn,
                                                                simd::Vec<T>& an, simd::Vec<T>* future,
                                                                simd::Vec<T>* dw, simd::Vec<T>& db) {
  using V = simd::Vec<T>;
  const V alpha = decay.alpha, one_minus_alpha = decay.one_minus_alpha, one_minus_sig = decay.one_minus_sig;
  V local{};  // this step's own share of d_t, then the carried alpha_{t+1} d_{t+1} in one FMA
  if (g.grad_s != nullptr) {
    local = simd::load(g.grad_s + index, n) * strip_slope<T, kSlope>(h_t, c.vth, c.max_spike, c.sur_alpha);
  }
  if (g.grad_h != nullptr) local += simd::load(g.grad_h + index, n);
  const V d = an * dn + local;
  // Grouped so that each step's chains stay short (the kernel is bound by how many steps the CPU
  // overlaps): d's factor alpha (1 - sigmoid) / tau and the later dz's share of dx do not wait for d.
  const V dz = (d * (h_prev - window[K - 1])) * (alpha * one_minus_sig * c.inv_tau);
  db += dz;
  for (int j = 0; j < K; ++j) dw[j] = dz * window[j] + dw[j];
  V dx{};
  if (g.dx != nullptr) {
    V later_share{};
    for (int m = K - 1; m >= 1; --m) later_share = w[K - 1 - m] * future[m - 1] + later_share;
    dx = w[K - 1] * dz + (d * one_minus_alpha + later_share);
  }
  for (int m = K - 2; m > 0; --m) future[m] = future[m - 1];
  if (K > 1) future[0] = dz;
  dn = d;
  an = alpha;
  return dx;
}

// Adds strip s's weight and bias gradient sums to the group's lane sums dw_out [K][kBlock], db_out [kBlock].
template <typename T, int K>
inline void add_lane_sums(T* __restrict dw_out, T* __restrict db_out, int64_t s, int n, const simd::Vec<T>* dw,
                          simd::Vec<T> db) {
  constexpr int W = simd::kLanes<T>;
  for (int j = 0; j < K; ++j) {
    T* lanes = dw_out + j * kBlock + s * W;
    simd::store(lanes, simd::load(lanes, n) + dw[j], n);
  }
  simd::store(db_out + s * W, simd::load(db_out + s * W, n) + db, n);
}

// After step 0: dL/dh0 and the history's gradient at neuron `off` (row p of the history holds x at
// time p-(K-1), read by the logits at times 0..p with tap p - time; later[m] = dz_m, zeros past the
// end). Rows before the layer's a.K - 1 history rows belong to zero taps.
template <typename T, int K>
__attribute__((always_inline)) inline void finish_strip(const DsnArgs<T>& a, const BackwardArgs<T>& g,
                                                        const simd::Vec<T>* w, int64_t off, int n,
                                                        simd::Vec<T> d_next, simd::Vec<T> alpha_next,
                                                        const simd::Vec<T>* later) {
  if (g.dh0 != nullptr) simd::store(g.dh0 + off, alpha_next * d_next, n);
  if (g.dhist == nullptr) return;
  const int pad = K - static_cast<int>(a.K);
  for (int row = pad; row < K - 1; ++row) {
    simd::Vec<T> sum{};
    for (int time = 0; time <= row; ++time) sum = w[row - time] * later[time] + sum;
    simd::store(g.dhist + (row - pad) * a.M + off, sum, n);
  }
}

template <typename T, int K, int kPower, int64_t kSlope>
struct BackwardStrip {
  using V = simd::Vec<T>;
  const DsnArgs<T>& a;
  const BackwardArgs<T>& g;
  bool streaming;  // dx far larger than the caches: store it non-temporally

  // Steps t1-1 down to t0 of the strip at neuron `off`; adds to the gradient sums dw and db. Always
  // inlined, so a caller's sums and state stay in registers from one call to the next. kRecompute (no
  // saved H; t1 - t0 <= kTile, t0 a multiple of kTile): a forward sweep from H_{t0-1} (h0, or the
  // checkpoint the forward wrote) first recomputes each step's decay terms and H_t into a stash (L1)
  // that the reverse steps read instead of recomputing the terms and loading H. kSteps > 0: T = kSteps
  // known when compiled (T <= kStripMajorSteps), so the loops unroll and the stash stays in registers
  // (in memory it cost T = 1-2 about 8 cycles a step).
  template <bool kRecompute, int kSteps = 0>
  __attribute__((always_inline)) inline void run(const StripParams<T, K>& p, int64_t off, int n, int64_t first,
                                                 int64_t end, BackwardState<T, K>& st, V* dw, V& db,
                                                 const NextUnit& next) const {
    const int64_t t0 = kSteps > 0 ? 0 : first, t1 = kSteps > 0 ? kSteps : end;
    const ReverseScalars<T> scalars(a);
    // H_{t0-1}: h0 (or zeros) before the first step; recomputing, the checkpoint at t0 - 1
    const V h_start = t0 > 0 && kRecompute ? simd::load(g.h_checkpoints + checkpoint_row(t0 - 1) * a.M + off, n)
                      : a.h0 != nullptr    ? simd::load(a.h0 + off, n)
                                           : V{};
    StepStash<T> stash[kRecompute ? (kSteps > 0 ? kSteps : kTile) : 1];  // stash[t - t0]
    if constexpr (kRecompute) {
      // the checkpoint the next unit starts from (its steps start at next.lo), one line far from the rest
      // ([16384, 8, 128] backward 10.3 -> 9.75 ms)
      if (next.hi > next.lo && next.lo > 0) {
        __builtin_prefetch(g.h_checkpoints + checkpoint_row(next.lo - 1) * a.M + off + next.cols, 0, 3);
      }
      V window[K];  // window[j] = x_{t-(K-1)+j}, shifted down each step
      for (int j = 1; j < K; ++j) window[j] = input_row(a, t0 - K + j, off, n);
      V h = h_start;
      for (int64_t t = t0; t < t1; ++t) {
        for (int j = 0; j < K - 1; ++j) window[j] = window[j + 1];
        window[K - 1] = input_row(a, t, off, n);
        StepStash<T>& kept = stash[t - t0];
        kept.decay = step_decay<T, K, kPower>(p.w, window, p.b, scalars.min_sigmoid, scalars.inv_tau);
        h = strip_update(kept.decay, h, window[K - 1]);
        kept.h = h;
      }
    }
    V window[K];  // window[j] = x_{t-(K-1)+j}; window[0] is loaded each step
    for (int j = 1; j < K; ++j) window[j] = input_row(a, t1 - 1 - (K - 1) + j, off, n);
    V h_t = kRecompute ? stash[t1 - 1 - t0].h : simd::load(g.h + (t1 - 1) * a.M + off, n);
    V dn = st.d_next, an = st.alpha_next, future[K > 1 ? K - 1 : 1];
    for (int m = 0; m < K - 1; ++m) future[m] = st.later[m];
    // Locals, not the caller's arrays or a's fields: the compiler cannot prove the dx stores leave those
    // alone, so it kept the gradient sums in memory (a store-to-load round trip on every step's chain)
    // and recomputed 1 / V_th every step.
    V dw_sum[K], db_sum = db;
    for (int j = 0; j < K; ++j) dw_sum[j] = dw[j];
    for (int64_t t = t1 - 1; t >= t0; --t) {
      // what the next unit reads at its matching step: x_{t-(K-1)} and H_{t-1}, dS_t; dx_t. Recomputing,
      // its sweep reads x first, from its first step up: x at the mirrored step, first steps first
      // (in the order of this reverse pass, the sweep's first rows came last: [16384, 8, 128] backward
      // 9.75 -> 9.5 ms, against 8.6 from a saved H)
      const int64_t mirrored = t0 + t1 - 1 - t;
      if (kRecompute && next.has(mirrored)) __builtin_prefetch(a.x + next.index(mirrored, off, a.M), 0, 3);
      if (next.has(t)) {
        const int64_t at = next.index(t, off, a.M);
        if (!kRecompute) {
          if (at >= (K - 1) * a.M) __builtin_prefetch(a.x + at - (K - 1) * a.M, 0, 3);
          if (at >= a.M) __builtin_prefetch(g.h + at - a.M, 0, 3);
        }
        if (g.grad_s != nullptr) __builtin_prefetch(g.grad_s + at, 0, 3);
        if (g.dx != nullptr && !streaming) __builtin_prefetch(g.dx + at, 1, 3);
      }
      window[0] = input_row(a, t - (K - 1), off, n);
      V h_prev;
      StepDecay<T> decay;
      if constexpr (kRecompute) {
        h_prev = t > t0 ? stash[t - 1 - t0].h : h_start;
        decay = stash[t - t0].decay;
      } else {
        h_prev = t > 0 ? simd::load(g.h + (t - 1) * a.M + off, n) : h_start;
        decay = step_decay<T, K, kPower>(p.w, window, p.b, scalars.min_sigmoid, scalars.inv_tau);
      }
      const V dxv = reverse_step<T, K, kSlope>(g, scalars, t * a.M + off, n, p.w, decay, window, h_t, h_prev, dn, an,
                                               future, dw_sum, db_sum);
      if (g.dx != nullptr) put(g.dx + t * a.M + off, dxv, n, streaming);
      h_t = h_prev;
      for (int j = K - 1; j > 0; --j) window[j] = window[j - 1];
    }
    st.d_next = dn;
    st.alpha_next = an;
    for (int m = 0; m < K - 1; ++m) st.later[m] = future[m];
    for (int j = 0; j < K; ++j) dw[j] = dw_sum[j];
    db = db_sum;
  }

  inline BackwardState<T, K> start(int64_t off, int n) const { return BackwardState<T, K>::start(g, off, n); }

  inline void finish(const StripParams<T, K>& p, int64_t off, int n, const BackwardState<T, K>& st) const {
    finish_strip<T, K>(a, g, p.w, off, n, st.d_next, st.alpha_next, st.later);
  }
};

// The reverse pass step by step, each step over all the block's strips (as the forward): the strips'
// scan state, later dz values and gradient sums live in small arrays instead of registers. For layers
// whose rows lie far apart in memory (the conv and dense layer shapes), where a strip running its own
// steps touches one line per row, each on its own page; where rows are short (long sequences over few
// neurons), a tile of a strip's steps is one compact region that the prefetchers follow, and the
// register-resident strips win: backward_by_rows decides (with the measurements). Not inlined into
// backward_strips: inlined, it slowed the strip-by-strip loops' code there (T = 4-32, 1-4 cycles a step).
template <typename T, int K, int kPower, int64_t kSlope, bool kRecompute>
__attribute__((noinline)) void backward_rows(const DsnArgs<T>& args, const BackwardArgs<T>& grads, int64_t r0,
                                             int64_t nb, int64_t b0, int64_t b1, T* __restrict dw_out,
                                             T* __restrict db_out, bool streaming) {
  using V = simd::Vec<T>;
  constexpr int W = simd::kLanes<T>;
  const DsnArgs<T> a = args;
  const BackwardArgs<T> g = grads;
  const int64_t full = nb / W, strips = (nb + W - 1) / W;
  const int tail = static_cast<int>(nb - full * W);
  auto lanes = [&](int64_t s) { return static_cast<int>(std::min<int64_t>(W, nb - s * W)); };
  const T* zeros = zero_row<T>();
  const BlockTaps<T, K> taps(a, r0, nb);
  V dw[kBlock / W][K] = {}, db[kBlock / W] = {};
  BackwardState<T, K> state[kBlock / W];
  const ReverseScalars<T> scalars(a);
  const int64_t ahead = rows_ahead(strips);
  // kRecompute: the reverse pass runs a tile of kTile steps at a time, from the last; before each, a
  // forward sweep from the H the tile starts after (h0, or the forward's checkpoint) keeps every step's
  // decay terms and H here, [kTile][strips] (up to 32 x 16 x 256 bytes: L2). Saved H: one tile of T.
  const int64_t span = kRecompute ? kTile : std::max<int64_t>(a.T_, 1);
  const int64_t last_tile_start = a.T_ > 0 ? (a.T_ - 1) / span * span : 0;
  static thread_local std::vector<StepStash<T>> stash;
  if (kRecompute && static_cast<int64_t>(stash.size()) < kTile * strips) stash.resize(kTile * strips);
  for (int64_t batch = b0; batch < b1; ++batch) {
    const int64_t n0 = batch * a.P + r0;
    for (int64_t s = 0; s < strips; ++s) state[s] = BackwardState<T, K>::start(g, n0 + s * W, lanes(s));
    const T* h0_row = a.h0 != nullptr ? a.h0 + n0 : zeros;
    for (int64_t t0 = last_tile_start; t0 >= 0 && a.T_ > 0; t0 -= span) {
      const int64_t t1 = std::min(a.T_, t0 + span);
      // H_{t0-1} (recomputing): h0 before the first step, else the checkpoint at t0 - 1
      const T* start_row = kRecompute && t0 > 0 ? g.h_checkpoints + checkpoint_row(t0 - 1) * a.M + n0 : h0_row;
      if constexpr (kRecompute) {  // the forward's steps again, step by step over the strips (as forward_strips)
        V h[kBlock / W];
        for (int64_t s = 0; s < strips; ++s) h[s] = simd::load(start_row + s * W, lanes(s));
        for (int64_t t = t0; t < t1; ++t) {
          const T* rows[K];
          for (int j = 0; j < K; ++j) rows[j] = a.row(t - (K - 1) + j, n0, zeros);
          // prefetch x ahead, and as the sweep ends the rows its reverse pass reads first: dS_t, dx_t
          const bool sweep_ahead = t + ahead < t1;
          const int64_t row = sweep_ahead ? t + ahead : 2 * t1 - 1 - t - ahead;
          const bool reverse_ahead = !sweep_ahead && row >= t0;
          const int64_t at = row * a.M + n0;
          StepStash<T>* out = stash.data() + (t - t0) * strips;
          for (int64_t s = 0; s < strips; ++s) {
            const int64_t c = s * W;
            const int n = lanes(s);
            if (sweep_ahead) __builtin_prefetch(a.x + at + c, 0, 3);
            if (reverse_ahead && g.grad_s != nullptr) __builtin_prefetch(g.grad_s + at + c, 0, 3);
            if (reverse_ahead && g.dx != nullptr && !streaming) __builtin_prefetch(g.dx + at + c, 1, 3);
            V window[K];
            for (int j = 0; j < K; ++j) window[j] = simd::load(rows[j] + c, n);
            out[s].decay = step_decay<T, K, kPower>(taps.w[s], window, taps.b[s], a.min_sigmoid, a.inv_tau);
            h[s] = strip_update(out[s].decay, h[s], window[K - 1]);
            out[s].h = h[s];
          }
        }
      }
      // recomputing, the rows the next sweep reads first: the previous tile's, or the next batch row's last
      const int64_t sweep_next = t0 > 0 ? t0 - kTile : (batch + 1 < b1 ? last_tile_start : -1);
      const int64_t sweep_next_at = t0 > 0 ? n0 : n0 + a.P;
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const T* rows[K];
        for (int j = 0; j < K; ++j) rows[j] = a.row(t - (K - 1) + j, n0, zeros);
        const T* h_row = kRecompute ? nullptr : g.h + t * a.M + n0;
        const T* h_prev_row = kRecompute ? nullptr : (t > 0 ? g.h + (t - 1) * a.M + n0 : h0_row);
        const StepStash<T>* kept = kRecompute ? stash.data() + (t - t0) * strips : nullptr;
        T* dx_row = g.dx != nullptr ? g.dx + t * a.M + n0 : nullptr;
        // what the block reads at that row: x_{t-(K-1)}, H_{t-1}, dS_t; dx_t. kRecompute: dS_t and dx_t of
        // this tile's later rows (x is in cache from the sweep), then x of the rows the next sweep reads first
        const int64_t next = kRecompute ? (t - ahead >= t0 ? (t - ahead) * a.M + n0 : -1)
                                        : row_ahead(t, ahead, a.T_, n0, a.P, a.M, batch + 1 == b1, false);
        const int64_t sweep_row = sweep_next + (ahead - 1 - (t - t0));
        const int64_t next_sweep = kRecompute && t - t0 < ahead && sweep_next >= 0 && sweep_row < a.T_
                                       ? sweep_row * a.M + sweep_next_at
                                       : -1;
        auto step = [&](int64_t s, int n) {
          const int64_t c = s * W;
          if (next_sweep >= 0) __builtin_prefetch(a.x + next_sweep + c, 0, 3);
          if (next >= 0) {
            const int64_t at = next + c;
            if (!kRecompute && at >= (K - 1) * a.M) __builtin_prefetch(a.x + at - (K - 1) * a.M, 0, 3);
            if (!kRecompute && at >= a.M) __builtin_prefetch(g.h + at - a.M, 0, 3);
            if (g.grad_s != nullptr) __builtin_prefetch(g.grad_s + at, 0, 3);
            if (g.dx != nullptr && !streaming) __builtin_prefetch(g.dx + at, 1, 3);
          }
          V window[K];
          for (int j = 0; j < K; ++j) window[j] = simd::load(rows[j] + c, n);
          V h_t, h_prev;
          StepDecay<T> decay;
          if constexpr (kRecompute) {
            h_t = kept[s].h;
            h_prev = t > t0 ? kept[s - strips].h : simd::load(start_row + c, n);
            decay = kept[s].decay;
          } else {
            h_t = simd::load(h_row + c, n);
            h_prev = simd::load(h_prev_row + c, n);
            decay = step_decay<T, K, kPower>(taps.w[s], window, taps.b[s], a.min_sigmoid, a.inv_tau);
          }
          const V dxv = reverse_step<T, K, kSlope>(g, scalars, t * a.M + n0 + c, n, taps.w[s], decay, window, h_t,
                                                   h_prev, state[s].d_next, state[s].alpha_next, state[s].later,
                                                   dw[s], db[s]);
          if (dx_row != nullptr) put(dx_row + c, dxv, n, streaming);
        };
        for (int64_t s = 0; s < full; ++s) step(s, W);
        if (tail > 0) step(full, tail);
      }
    }
    for (int64_t s = 0; s < strips; ++s) {
      finish_strip<T, K>(a, g, taps.w[s], n0 + s * W, lanes(s), state[s].d_next, state[s].alpha_next,
                         state[s].later);
    }
  }
  for (int64_t s = 0; s < strips; ++s) add_lane_sums<T, K>(dw_out, db_out, s, lanes(s), dw[s], db[s]);
  if (streaming) simd::fence_streaming_stores();
}

// Whether the backward of a [T, M] layer (M = B x P neurons) runs step by step over a block's strips
// (backward_rows): when its rows are long (M from 256 KiB), and either its batch rows are far apart (P
// from 64 KiB) or T >= 8. PARASPIKE_ROW_MAJOR_BYTES=n instead takes every layer with rows from n
// bytes (tests force each path with it). Backward ms, strip by strip -> step by step, two threads
// (`PARASPIKE_ROW_MAJOR_BYTES=4611686018427387904` and `=0 paraspike bench speed --suite layers --steps 3 4
// 8 16 32 --layouts conv dense --only DSN-int --repeats 9 --min-time 1`, results/backward_order/):
//   conv [T, 16, 128, 16, 16] (P = 128 KiB):  T = 3 0.88 -> 0.89, 4 1.23 -> 1.14, 8 2.27 -> 2.12,
//                                             16 5.94 -> 3.99, 32 13.2 -> 7.6
//   dense [T, 128, 4096] (P = 16 KiB):        T = 3 1.21 -> 1.29, 4 1.82 -> 1.75, 8 3.04 -> 2.99,
//                                             16 4.55 -> 5.30, 32 12.7 -> 9.5
// (T = 8-16 with short batch rows is a toss-up: in the layer suite, every model interleaved, so from
// colder caches, dense T = 16 took 8.9 ms with rows and 8.4 with strips, T = 8 5.0 and 6.0.)
// Short rows (long sequences over few neurons) keep the strips: a tile of a strip's steps is then one
// compact region the prefetchers follow (`paraspike bench speed --lengths 2048 16384 --neurons 1024
// --only "DSN-int [cpu]" --repeats 9 --min-time 1`, [T, 8, 128], backward as now -> with
// PARASPIKE_ROW_MAJOR_BYTES=0: T = 2048 1.04 -> 1.40 ms, T = 16384 9.0 -> 12.1 ms).
inline bool backward_by_rows(int64_t row_bytes, int64_t batch_row_bytes, int64_t steps) {
  const char* forced = std::getenv("PARASPIKE_ROW_MAJOR_BYTES");
  if (forced != nullptr && *forced != '\0') return row_bytes >= std::atoll(forced);
  return row_bytes >= (int64_t{256} << 10) && (batch_row_bytes >= (int64_t{64} << 10) || steps >= 8);
}

// Up to kStripMajorSteps steps: each strip runs its batch rows one after another, with its taps and
// weight sums in registers, instead of parking and reloading them per batch row (at T = 1-2 that reload
// was a large part of a strip's work). Prefetch: the unit `ahead` after is the same strip some batch
// rows on, or the next strip's first rows. (Backward, one thread, [T, 16, 128, 16, 16]: T = 1 1.07 ->
// 0.75 ms, T = 2 1.49 -> 1.28, T = 3 about the same, T = 4 2.5 -> 2.9, T = 16 11.6 -> 18: one 64-byte
// line per row and unit, each row on its own page, starves the hardware prefetchers that the batch-row
// order feeds. [T, 128, 4096]: T = 1 0.97 -> 0.67, T = 2 1.37 -> 1.00.)
template <typename T, int K, int kPower, int64_t kSlope, bool kRecompute, int kSteps>
__attribute__((noinline)) void backward_over_batch_rows(const DsnArgs<T>& args, const BackwardArgs<T>& grads,
                                                        int64_t r0, int64_t nb, int64_t b0, int64_t b1,
                                                        T* __restrict dw_out, T* __restrict db_out, bool streaming) {
  using V = simd::Vec<T>;
  constexpr int W = simd::kLanes<T>;
  const DsnArgs<T> a = args;
  const BackwardArgs<T> g = grads;
  const BackwardStrip<T, K, kPower, kSlope> strip{a, g, streaming};
  const int64_t strips = (nb + W - 1) / W;
  const int64_t rows = b1 - b0, ahead = std::max<int64_t>(1, (16 + a.T_ - 1) / a.T_);
  for (int64_t s = 0; s < strips; ++s) {
    const int n = static_cast<int>(std::min<int64_t>(W, nb - s * W));
    const StripParams<T, K> params(a, r0 + s * W, n);
    V dw[K] = {}, db{};
    for (int64_t batch = b0; batch < b1; ++batch) {
      const int64_t off = batch * a.P + r0 + s * W, j = batch - b0 + ahead;
      const int64_t s_next = s + j / rows, b_next = b0 + j % rows;
      const NextUnit next = s_next < strips ? NextUnit::at(0, (b_next - batch) * a.P + (s_next - s) * W, 0, a.T_)
                                            : NextUnit{};
      BackwardState<T, K> st = strip.start(off, n);
      strip.template run<kRecompute, kSteps>(params, off, n, 0, a.T_, st, dw, db, next);
      strip.finish(params, off, n, st);
    }
    add_lane_sums<T, K>(dw_out, db_out, s, n, dw, db);
  }
  if (streaming) simd::fence_streaming_stores();
}

// backward_strips for a saved H (kRecompute false) or its checkpoints (kRecompute): see there.
template <typename T, int K, int kPower, int64_t kSlope, bool kRecompute>
void backward_strips_with(const DsnArgs<T>& args, const BackwardArgs<T>& grads, int64_t r0, int64_t nb, int64_t b0,
                          int64_t b1, T* __restrict dw_out, T* __restrict db_out, bool streaming, bool by_rows) {
  static_assert(kStripMajorSteps == 2, "backward_over_batch_rows: one instance per T up to kStripMajorSteps");
  if (args.T_ == 1) {
    backward_over_batch_rows<T, K, kPower, kSlope, kRecompute, 1>(args, grads, r0, nb, b0, b1, dw_out, db_out,
                                                                  streaming);
    return;
  }
  if (args.T_ == 2) {
    backward_over_batch_rows<T, K, kPower, kSlope, kRecompute, 2>(args, grads, r0, nb, b0, b1, dw_out, db_out,
                                                                  streaming);
    return;
  }
  if (by_rows) {
    backward_rows<T, K, kPower, kSlope, kRecompute>(args, grads, r0, nb, b0, b1, dw_out, db_out, streaming);
    return;
  }
  using V = simd::Vec<T>;
  constexpr int W = simd::kLanes<T>;
  const DsnArgs<T> a = args;
  const BackwardArgs<T> g = grads;
  const BackwardStrip<T, K, kPower, kSlope> strip{a, g, streaming};
  const int64_t strips = (nb + W - 1) / W;
  const int64_t tiles = (a.T_ + kTile - 1) / kTile;
  BackwardState<T, K> state[kBlock / W];
  V dw[kBlock / W][K] = {}, db[kBlock / W] = {};
  for (int64_t batch = b0; batch < b1; ++batch) {
    const int64_t n0 = batch * a.P + r0;
    for (int64_t s = 0; s < strips; ++s) {
      state[s] = strip.start(n0 + s * W, static_cast<int>(std::min<int64_t>(W, nb - s * W)));
    }
    for (int64_t tile = tiles - 1; tile >= 0; --tile) {
      const int64_t t0 = tile * kTile, t1 = std::min(a.T_, t0 + kTile);
      const int64_t ahead = units_ahead(t1 - t0, strips);
      for (int64_t s = 0; s < strips; ++s) {
        const int n = static_cast<int>(std::min<int64_t>(W, nb - s * W));
        const NextUnit next = unit_ahead(s, strips, ahead, t0, t1, a.T_, batch + 1 == b1, a.P, W);
        strip.template run<kRecompute>(StripParams<T, K>(a, r0 + s * W, n), n0 + s * W, n, t0, t1, state[s], dw[s],
                                       db[s], next);
      }
    }
    for (int64_t s = 0; s < strips; ++s) {
      const int n = static_cast<int>(std::min<int64_t>(W, nb - s * W));
      strip.finish(StripParams<T, K>(a, r0 + s * W, n), n0 + s * W, n, state[s]);
    }
  }
  for (int64_t s = 0; s < strips; ++s) {
    add_lane_sums<T, K>(dw_out, db_out, s, static_cast<int>(std::min<int64_t>(W, nb - s * W)), dw[s], db[s]);
  }
  if (streaming) simd::fence_streaming_stores();
}

// One group: the block of nb neurons at row offset r0, for batch rows [b0, b1); adds the group's
// weight and bias gradients to dw_out [K][kBlock] and db_out [kBlock] (lane order). Up to
// kStripMajorSteps steps, strip by strip over the batch rows; else step by step (backward_rows) when
// `by_rows`, or strip by strip in tiles of kTile steps. With no saved H (grads.h null) each tile's
// reverse pass first recomputes it from the checkpoint before the tile (grads.h_checkpoints) or h0.
template <typename T, int K, int kPower, int64_t kSlope>
void backward_strips(const DsnArgs<T>& args, const BackwardArgs<T>& grads, int64_t r0, int64_t nb, int64_t b0,
                     int64_t b1, T* __restrict dw_out, T* __restrict db_out, bool streaming, bool by_rows) {
  if (grads.h == nullptr) {
    backward_strips_with<T, K, kPower, kSlope, true>(args, grads, r0, nb, b0, b1, dw_out, db_out, streaming, by_rows);
  } else {
    backward_strips_with<T, K, kPower, kSlope, false>(args, grads, r0, nb, b0, b1, dw_out, db_out, streaming, by_rows);
  }
}

}  // namespace paraspike
