// The fused DSN, one pass forward and one reverse pass backward per block of neurons.
//
// Layout: [T, M] streams (M = B * P neurons, P = C * S per batch row); per-neuron parameters are
// columns of a tile over one batch row, w [K][P] and b [P], tap j = 0 the oldest (see common.h).
//   z_t     = b + sum_j w_j x_{t-(K-1)+j}            (x_{<0} from the history rows, zeros without one)
//   la_t    = max(logsigmoid(z_t) / tau, LA_MIN)     log alpha_t
//   H_t     = alpha_t H_{t-1} + (1 - alpha_t) x_t    (x_t = +-inf is taken as NaN)
//   S_t     = clip(floor(H_t / vth + 1/2), 0, N)     or 1[H_t / vth >= 1/2] when binary (NaN stays NaN)
// Backward, t = T-1..0 (d_T = dL/dH_last, alpha_T = 1; gH = dL/dH_t from uses of H itself, if any):
//   d_t   = dS_t f'(H_t) + gH_t + alpha_{t+1} d_{t+1}
//   dz_t  = d_t (H_{t-1} - x_t) alpha_t (1 - sigmoid(z_t)) / tau
//   dx_t  = d_t (1 - alpha_t) + sum_j w_j dz_{t+(K-1)-j}
//   dw_j += dz_t x_{t-(K-1)+j},  db += dz_t,  dH_0 = alpha_0 d_0
#pragma once

#include "common.h"

namespace paraspike {

enum SlopeId : int64_t { kRectSTE = 0, kAtan = 1, kSigmoid = 2, kRect = 3 };

template <typename T>
struct DsnArgs {
  const T* x = nullptr;     // [T, M]
  const T* hist = nullptr;  // [K-1, M] inputs before t = 0, or null (zeros)
  const T* h0 = nullptr;    // [M] or null (zeros)
  const T* w = nullptr;     // [K, P]
  const T* b = nullptr;     // [P]
  const T* wc = nullptr;    // [C, K] per channel, or null: the strip kernels broadcast these when set
  const T* bc = nullptr;    // [C]
  int64_t S = 1;            // positions per channel (with wc)
  int64_t T_ = 0, M = 0, P = 0, K = 0;
  T inv_tau = 1, vth = 1, max_spike = 1, surrogate_alpha = 1;
  T min_sigmoid = 0;  // sigmoid floor so that alpha = s^power stays above exp(kMinLog)
  int power = 0;      // 1/tau when it is 1, 2 or 4 (specialised kernels), else 0

  // Row t of the input, offset to neuron n0: x's row, a history row, or `zeros` before the start without
  // history and before the history's K - 1 rows (kernels that run a layer with more taps than its own
  // K, its leading taps zero, read rows from t = -(taps-1)).
  const T* row(int64_t t, int64_t n0, const T* zeros) const {
    if (t >= 0) return x + t * M + n0;
    return hist != nullptr && t >= 1 - K ? hist + (t + K - 1) * M + n0 : zeros;
  }
};

// Row helpers: restrict qualifiers on parameters survive inlining (GCC ignores them on block-scope
// pointers and then vectorises behind run-time alias checks that may fail), so every inner row loop
// is one of these.
template <typename T>
inline void row_fma(T* __restrict acc, const T* __restrict a, const T* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = std::fma(a[i], b[i], acc[i]);
}
template <typename T>
inline void row_add(T* __restrict acc, const T* __restrict a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += a[i];
}
template <typename T>
inline void row_copy(T* __restrict out, const T* __restrict in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = in[i];
}

template <typename T>
const T* zero_row() {
  alignas(64) static const T zeros[kBlock] = {};
  return zeros;
}

// Decay logits z[0..nb) at step t for neurons n0.. whose parameter columns start at r0.
template <typename T>
inline void decay_logits(const DsnArgs<T>& a, int64_t t, int64_t n0, int64_t r0, int64_t nb, T* __restrict z) {
  row_copy(z, a.b + r0, nb);
  for (int64_t j = 0; j < a.K; ++j) row_fma(z, a.w + j * a.P + r0, a.row(t - (a.K - 1) + j, n0, zero_row<T>()), nb);
}

// alpha, 1 - alpha and 1 - sigmoid(z) from the logit, without cancellation. With e = exp(-|z|):
//   sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e),   1 - sigmoid(z) = (z >= 0 ? e : 1) / (1 + e).
// kPower = n > 0 (1/tau = n; the paper's tau = 1/4 is n = 4): alpha = s^n and
//   1 - alpha = (1 - s)(1 + s + ... + s^(n-1)): one exp and one division per element.
// kPower = 0 (any other tau): log alpha = (min(z, 0) - log1p(e)) / tau, alpha = exp, 1 - alpha = -expm1.
template <typename T, int kPower>
inline void decay_terms(const DsnArgs<T>& a, T z, T& alpha, T& one_minus_alpha, T& one_minus_sig) {
  const T e = exp_float(std::max(-std::abs(z), Limits<T>::kMinLog));
  const T r = T(1) / (T(1) + e);
  one_minus_sig = z >= 0 ? e * r : r;
  if constexpr (kPower > 0) {
    const T s = std::max(z >= 0 ? r : e * r, a.min_sigmoid);
    T power = s, geometric = 1;
    for (int k = 1; k < kPower; ++k) {  // compile-time trip count: fully unrolled
      geometric += power;
      power *= s;
    }
    alpha = power;
    one_minus_alpha = one_minus_sig * geometric;
  } else {
    const T log_alpha = std::max((std::min(z, T(0)) - std::log1p(e)) * a.inv_tau, Limits<T>::kMinLog);
    alpha = std::exp(log_alpha);
    one_minus_alpha = -std::expm1(log_alpha);
  }
}

template <typename T, bool kBinary>
inline T fire(const DsnArgs<T>& a, T hv) {
  const T q = hv / a.vth;
  if constexpr (kBinary) {
    return hv != hv ? hv : T(q >= T(0.5));
  } else {
    return std::min(std::max(std::floor(q + T(0.5)), T(0)), a.max_spike);  // IEEE min/max keep NaN
  }
}

// One block of nb neurons starting at n0 (parameter column r0), all T steps. h_out may be null
// (H not kept: inference).
template <typename T, int kPower, bool kBinary>
void forward_block(const DsnArgs<T>& args, int64_t n0, int64_t r0, int64_t nb, T* spikes, T* h_out, T* h_last) {
  const DsnArgs<T> a = args;  // a local copy: the compiler then knows output stores cannot alias its fields
  T z[kBlock], state[kBlock], scratch[kBlock];
  for (int64_t i = 0; i < nb; ++i) state[i] = a.h0 != nullptr ? a.h0[n0 + i] : T(0);
  for (int64_t t = 0; t < a.T_; ++t) {
    if (t + kPrefetchRows < a.T_) {
      const int64_t ahead = (t + kPrefetchRows) * a.M + n0;
      prefetch_row<0>(a.x + ahead, nb);
      if (h_out != nullptr) prefetch_row<1>(h_out + ahead, nb);
      prefetch_row<1>(spikes + ahead, nb);
    }
    decay_logits(a, t, n0, r0, nb, z);
    const T* __restrict xr = a.x + t * a.M + n0;
    T* __restrict hr = h_out != nullptr ? h_out + t * a.M + n0 : scratch;
    T* __restrict sr = spikes + t * a.M + n0;
    for (int64_t i = 0; i < nb; ++i) {
      T alpha, one_minus_alpha, one_minus_sig;
      decay_terms<T, kPower>(a, z[i], alpha, one_minus_alpha, one_minus_sig);
      const T hv = std::fma(alpha, state[i], one_minus_alpha * inf_to_nan(xr[i]));
      state[i] = hv;
      hr[i] = hv;
      sr[i] = fire<T, kBinary>(a, hv);
    }
  }
  for (int64_t i = 0; i < nb; ++i) h_last[n0 + i] = state[i];
}

// dS/dH at H, one functor per firing mode so that the backward loop has no branches.
template <typename T>
struct IntegerSlope {  // straight-through window 0 <= H/vth <= N
  static T at(const DsnArgs<T>& a, T hv) {
    const T q = hv / a.vth;
    return ((q >= T(0)) & (q <= a.max_spike)) ? T(1) / a.vth : T(0);
  }
};
template <typename T>
struct AtanSlope {
  static T at(const DsnArgs<T>& a, T hv) {
    const T r = T(M_PI / 2) * a.surrogate_alpha * (hv / a.vth - T(0.5));
    return (a.surrogate_alpha / 2) / (1 + r * r) / a.vth;
  }
};
template <typename T>
struct SigmoidSlope {
  static T at(const DsnArgs<T>& a, T hv) {
    const T s = T(1) / (T(1) + exp_any(-a.surrogate_alpha * (hv / a.vth - T(0.5))));
    return a.surrogate_alpha * s * (1 - s) / a.vth;
  }
};
template <typename T>
struct RectSlope {
  static T at(const DsnArgs<T>& a, T hv) {
    const T zz = hv / a.vth - T(0.5);
    return std::abs(zz) < 1 / (2 * a.surrogate_alpha) ? a.surrogate_alpha / a.vth : T(0);
  }
};

template <typename T>
struct BackwardArgs {
  const T* grad_s = nullptr;     // [T, M] dL/dS, or null (zeros)
  const T* grad_h = nullptr;     // [T, M] dL/dH from uses of H itself, or null
  const T* grad_last = nullptr;  // [M] dL/dH_last, or null
  const T* h = nullptr;          // [T, M] saved H, or null: the strip kernels recompute it
  const T* h_checkpoints = nullptr;  // recomputing: [(T-1)/kTile, M] H at each tile's last step but T-1
  T* dx = nullptr;               // [T, M], or null (not needed)
  T* dhist = nullptr;            // [K-1, M], or null (not needed)
  T* dh0 = nullptr;              // [M], or null (not needed)
};

// Reverse pass over one block of nb neurons at n0 (parameter column r0); adds the block's weight and
// bias gradients to the lane accumulators dw [K][kBlock] and db [kBlock]; ring is K * kBlock scratch.
template <typename T, typename Slope, int kPower>
void backward_block(const DsnArgs<T>& args, const BackwardArgs<T>& grads, int64_t n0, int64_t r0, int64_t nb,
                    T* __restrict ring, T* __restrict dw, T* __restrict db) {
  const DsnArgs<T> a = args;  // local copies: the compiler then knows stores cannot alias their fields
  const BackwardArgs<T> g = grads;
  const int64_t K = a.K;
  const T* zeros = zero_row<T>();
  T z[kBlock], d_next[kBlock], alpha_next[kBlock], acc[kBlock];
  std::fill(ring, ring + K * kBlock, T(0));
  for (int64_t i = 0; i < nb; ++i) {
    d_next[i] = g.grad_last != nullptr ? g.grad_last[n0 + i] : T(0);
    alpha_next[i] = 1;
  }
  for (int64_t t = a.T_ - 1; t >= 0; --t) {
    if (t >= kPrefetchRows + 1) {  // rows t - D (and t - D - 1 of h, read as H_{t-1})
      const int64_t ahead = (t - kPrefetchRows) * a.M + n0;
      prefetch_row<0>(a.x + ahead, nb);
      if (g.grad_s != nullptr) prefetch_row<0>(g.grad_s + ahead, nb);
      prefetch_row<0>(g.h + ahead - a.M, nb);
      if (g.grad_h != nullptr) prefetch_row<0>(g.grad_h + ahead, nb);
      if (g.dx != nullptr) prefetch_row<1>(g.dx + ahead, nb);
    }
    decay_logits(a, t, n0, r0, nb, z);
    const T* __restrict xr = a.x + t * a.M + n0;
    const T* __restrict gsr = g.grad_s != nullptr ? g.grad_s + t * a.M + n0 : zeros;
    const T* __restrict hr = g.h + t * a.M + n0;
    const T* __restrict ghr = g.grad_h != nullptr ? g.grad_h + t * a.M + n0 : zeros;
    const T* __restrict hprev = t > 0 ? g.h + (t - 1) * a.M + n0 : (a.h0 != nullptr ? a.h0 + n0 : zeros);
    T* __restrict dz = ring + (t % K) * kBlock;
    for (int64_t i = 0; i < nb; ++i) {
      T alpha, one_minus_alpha, one_minus_sig;
      decay_terms<T, kPower>(a, z[i], alpha, one_minus_alpha, one_minus_sig);
      const T d = std::fma(gsr[i], Slope::at(a, hr[i]), std::fma(alpha_next[i], d_next[i], ghr[i]));
      const T dzv = d * (hprev[i] - xr[i]) * alpha * one_minus_sig * a.inv_tau;
      dz[i] = dzv;
      db[i] += dzv;
      acc[i] = d * one_minus_alpha;
      d_next[i] = d;
      alpha_next[i] = alpha;
    }
    // dx_t: the direct term plus the conv taps that read x_t (logits at t..t+K-1).
    for (int64_t m = 0; m < K; ++m) row_fma(acc, a.w + (K - 1 - m) * a.P + r0, ring + ((t + m) % K) * kBlock, nb);
    if (g.dx != nullptr) row_copy(g.dx + t * a.M + n0, acc, nb);
    for (int64_t j = 0; j < K; ++j) row_fma(dw + j * kBlock, dz, a.row(t - (K - 1) + j, n0, zeros), nb);
  }
  if (g.dh0 != nullptr) {
    for (int64_t i = 0; i < nb; ++i) g.dh0[n0 + i] = alpha_next[i] * d_next[i];
  }
  if (g.dhist != nullptr) {
    // History row p holds x at time p-(K-1): read by the logits at times 0..p (tap j = p - time).
    for (int64_t p = 0; p < K - 1; ++p) {
      T* out = g.dhist + p * a.M + n0;
      std::fill(out, out + nb, T(0));
      for (int64_t time = 0; time <= p && time < a.T_; ++time) {
        row_fma(out, a.w + (p - time) * a.P + r0, ring + (time % K) * kBlock, nb);
      }
    }
  }
}

}  // namespace paraspike
