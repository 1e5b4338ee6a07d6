// The plain linear scan h_t = exp(g_t) h_{t-1} + u_t over [T, M], and its reverse pass:
//   d_t = dL/dh_t + exp(g_{t+1}) d_{t+1},  du_t = d_t,  dg_t = d_t exp(g_t) h_{t-1},  dh_0 = exp(g_0) d_0.
// log decays below kMinLog count as kMinLog (exp(-80) is 0 next to any state); NaN propagates.
#pragma once

#include "common.h"

namespace paraspike {

template <typename T>
inline T scan_decay(T g) {
  return exp_any(std::max(g, Limits<T>::kMinLog));
}

template <typename T>
void scan_forward_block(const T* u, const T* g, const T* h0, T* h, int64_t steps, int64_t M, int64_t n0, int64_t nb) {
  T state[kBlock];
  for (int64_t i = 0; i < nb; ++i) state[i] = h0 != nullptr ? h0[n0 + i] : T(0);
  for (int64_t t = 0; t < steps; ++t) {
    const T* __restrict ur = u + t * M + n0;
    const T* __restrict gr = g + t * M + n0;
    T* __restrict hr = h + t * M + n0;
    for (int64_t i = 0; i < nb; ++i) {
      const T v = std::fma(scan_decay(gr[i]), state[i], ur[i]);
      state[i] = v;
      hr[i] = v;
    }
  }
}

template <typename T>
void scan_backward_block(const T* grad_h, const T* g, const T* h, const T* h0, T* du, T* dg, T* dh0, int64_t steps,
                         int64_t M, int64_t n0, int64_t nb) {
  T d_next[kBlock], decay_next[kBlock];
  alignas(64) static const T zeros[kBlock] = {};
  for (int64_t i = 0; i < nb; ++i) {
    d_next[i] = 0;
    decay_next[i] = 1;
  }
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* __restrict ghr = grad_h + t * M + n0;
    const T* __restrict gr = g + t * M + n0;
    const T* __restrict hprev = t > 0 ? h + (t - 1) * M + n0 : (h0 != nullptr ? h0 + n0 : zeros);
    T* __restrict dur = du + t * M + n0;
    T* __restrict dgr = dg + t * M + n0;
    for (int64_t i = 0; i < nb; ++i) {
      const T decay = scan_decay(gr[i]);
      const T d = std::fma(decay_next[i], d_next[i], ghr[i]);
      dur[i] = d;
      dgr[i] = d * decay * hprev[i];
      d_next[i] = d;
      decay_next[i] = decay;
    }
  }
  if (dh0 != nullptr) {
    for (int64_t i = 0; i < nb; ++i) dh0[n0 + i] = decay_next[i] * d_next[i];
  }
}

}  // namespace paraspike
