// Fused CPU kernels for paraspike: the linear scan and the whole DSN, one pass forward and one
// reverse pass backward, vectorised over neurons and threaded over neuron blocks.
//
// Layout: every sequence tensor is [T, M] contiguous (time first, M = all neurons). Neuron n uses
// the per-neuron parameters at column n % P (P = "period": the neurons of one batch row, tiled).
//
// DSN (spec shared/spec/dsn.md, causal depthwise conv decay with K taps, j = 0 the oldest):
//   z_t     = b + sum_j w_j x_{t-(K-1)+j}            (x_{<0} from the history rows)
//   la_t    = max(logsigmoid(z_t) / tau, LA_MIN)     log alpha_t
//   H_t     = alpha_t H_{t-1} + (1 - alpha_t) x_t
//   S_t     = clip(floor(H_t / vth + 1/2), 0, N)     or 1[H_t / vth >= 1/2] when binary
// Backward, t = T-1..0 (d_T = dL/dH_last, alpha_T = 1; gH = dL/dH_t from uses of H itself, if any):
//   d_t   = dS_t f'(H_t) + gH_t + alpha_{t+1} d_{t+1}
//   dz_t  = d_t (H_{t-1} - x_t) alpha_t (1 - sigmoid(z_t)) / tau
//   dx_t  = d_t (1 - alpha_t) + sum_j w_j dz_{t+(K-1)-j}
//   dw_j += dz_t x_{t-(K-1)+j},  db += dz_t,  dH_0 = alpha_0 d_0
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace {

constexpr int64_t kBlock = 256;  // neurons per task: a few KiB of state per row, stays in L1/L2

// A fresh [T, M] output. Large buffers come from fresh mappings (or from heap pages the allocator
// has just trimmed), whose every 4 KiB page faults on first write: at T = 16384 x 1024 neurons the
// page faults of two outputs took about half of the forward, and the timings of mid sizes (8 MiB at
// T = 2048) varied 2x with the allocator's state. Asking for transparent huge pages (honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or "always") cuts the faults 512-fold.
// Only whole 2 MiB pages inside the buffer are advised; a no-op off Linux.
torch::Tensor empty_stream_like(const torch::Tensor& like) {
  auto out = torch::empty_like(like, at::MemoryFormat::Contiguous);
#ifdef __linux__
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto bytes = static_cast<uintptr_t>(out.nbytes());
  if (bytes >= 2 * kHuge) {
    const auto begin = reinterpret_cast<uintptr_t>(out.data_ptr());
    const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t last = (begin + bytes) & ~(kHuge - 1);
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#endif
  return out;
}

template <typename T>
struct Limits;
template <>
struct Limits<float> {
  // exp() below about -87 takes the slow denormal path; exp(-80) is already 0 for any state.
  static constexpr float kMinLog = -80.0f;
};
template <>
struct Limits<double> {
  static constexpr double kMinLog = -700.0;
};

struct Task {
  int64_t row_start;   // first neuron of the task (global column)
  int64_t param_start; // its column in the per-neuron parameter arrays (row_start % P)
  int64_t count;       // neurons in the task
  int64_t period_index;  // row_start / P: which slice of the parameter-gradient partials it owns
};

// Software prefetch of the row a task will touch `kPrefetchRows` steps later. A task reads 1 KiB of
// each [T, M] row and then jumps M * 4 bytes on: with M >= 1024 every row lies on its own 4 KiB page,
// where the hardware stream prefetchers (which stop at page boundaries) never get going. Measured on
// 2 cores at T = 2048 x 1024 neurons: the backward ran at 10 ns per element without this.
constexpr int64_t kPrefetchRows = 6;
template <int kWrite, typename scalar_t>
inline void prefetch_row(const scalar_t* row, int64_t count) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (int64_t offset = 0; offset < count * static_cast<int64_t>(sizeof(scalar_t)); offset += 64) {
    __builtin_prefetch(bytes + offset, kWrite, 3);
  }
}

// Tasks per thread chunk: small problems run on the calling thread (waking the pool costs 10-30 us).
// Measured at T = 32 x 1024 neurons on 2 cores: the forward (~1.2 ns per element) loses from
// threading below 2^16 elements, the backward (~3.5 ns per element) gains from 2^14.
constexpr int64_t kForwardWorkPerThread = 1 << 16;   // elements
constexpr int64_t kBackwardWorkPerThread = 1 << 14;  // elements
int64_t task_grain(int64_t T, int64_t task_width, int64_t min_work = kForwardWorkPerThread) {
  return std::max<int64_t>(1, min_work / std::max<int64_t>(1, T * task_width));
}

std::vector<Task> make_tasks(int64_t M, int64_t P) {
  std::vector<Task> tasks;
  for (int64_t base = 0; base < M; base += P) {
    for (int64_t c = 0; c < P; c += kBlock) {
      tasks.push_back({base + c, c, std::min(kBlock, P - c), base / P});
    }
  }
  return tasks;
}

void check_2d(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 2 && t.is_contiguous(), name, " must be a contiguous [T, M] tensor");
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
}

// ------------------------------------------------------------------------------------ plain scan
template <typename scalar_t>
void scan_forward_impl(const scalar_t* u, const scalar_t* g, const scalar_t* h0, scalar_t* h, int64_t T,
                       int64_t M) {
  const scalar_t min_log = Limits<scalar_t>::kMinLog;
  at::parallel_for(0, (M + kBlock - 1) / kBlock, task_grain(T, kBlock), [&](int64_t begin, int64_t end) {
    scalar_t state[kBlock];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t n0 = blk * kBlock, nb = std::min(kBlock, M - n0);
      for (int64_t i = 0; i < nb; ++i) state[i] = h0[n0 + i];
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* __restrict ur = u + t * M + n0;
        const scalar_t* __restrict gr = g + t * M + n0;
        scalar_t* __restrict hr = h + t * M + n0;
        for (int64_t i = 0; i < nb; ++i) {
          const scalar_t v = std::exp(std::max(gr[i], min_log)) * state[i] + ur[i];
          state[i] = v;
          hr[i] = v;
        }
      }
    }
  });
}

template <typename scalar_t>
void scan_backward_impl(const scalar_t* grad_h, const scalar_t* grad_last, const scalar_t* g, const scalar_t* h,
                        const scalar_t* h0, scalar_t* du, scalar_t* dg, scalar_t* dh0, int64_t T, int64_t M) {
  const scalar_t min_log = Limits<scalar_t>::kMinLog;
  at::parallel_for(0, (M + kBlock - 1) / kBlock, task_grain(T, kBlock), [&](int64_t begin, int64_t end) {
    scalar_t d_next[kBlock], decay_next[kBlock];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t n0 = blk * kBlock, nb = std::min(kBlock, M - n0);
      for (int64_t i = 0; i < nb; ++i) {
        d_next[i] = grad_last[n0 + i];
        decay_next[i] = 1;
      }
      for (int64_t t = T - 1; t >= 0; --t) {
        const scalar_t* __restrict ghr = grad_h + t * M + n0;
        const scalar_t* __restrict gr = g + t * M + n0;
        const scalar_t* __restrict hprev = t > 0 ? h + (t - 1) * M + n0 : h0 + n0;
        scalar_t* __restrict dur = du + t * M + n0;
        scalar_t* __restrict dgr = dg + t * M + n0;
        for (int64_t i = 0; i < nb; ++i) {
          const scalar_t decay = std::exp(std::max(gr[i], min_log));
          const scalar_t d = ghr[i] + decay_next[i] * d_next[i];
          dur[i] = d;
          dgr[i] = d * decay * hprev[i];
          d_next[i] = d;
          decay_next[i] = decay;
        }
      }
      for (int64_t i = 0; i < nb; ++i) dh0[n0 + i] = decay_next[i] * d_next[i];
    }
  });
}

std::vector<torch::Tensor> scan_forward(torch::Tensor u, torch::Tensor g, torch::Tensor h0) {
  check_2d(u, "u");
  check_2d(g, "log_decay");
  TORCH_CHECK(g.sizes() == u.sizes() && g.dtype() == u.dtype(), "log_decay must match u");
  TORCH_CHECK(h0.is_contiguous() && h0.numel() == u.size(1) && h0.dtype() == u.dtype(), "h0 must be [M]");
  auto h = empty_stream_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "paraspike_scan_forward", [&] {
    scan_forward_impl<scalar_t>(u.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(),
                                h.data_ptr<scalar_t>(), u.size(0), u.size(1));
  });
  return {h};
}

std::vector<torch::Tensor> scan_backward(torch::Tensor grad_h, torch::Tensor grad_last, torch::Tensor g,
                                         torch::Tensor h, torch::Tensor h0) {
  check_2d(grad_h, "grad_h");
  check_2d(g, "log_decay");
  check_2d(h, "h");
  auto du = empty_stream_like(g);
  auto dg = empty_stream_like(g);
  auto dh0 = torch::empty_like(h0);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "paraspike_scan_backward", [&] {
    scan_backward_impl<scalar_t>(grad_h.data_ptr<scalar_t>(), grad_last.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                 h.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(), du.data_ptr<scalar_t>(),
                                 dg.data_ptr<scalar_t>(), dh0.data_ptr<scalar_t>(), g.size(0), g.size(1));
  });
  return {du, dg, dh0};
}

// ------------------------------------------------------------------------------------ fused DSN
enum Surrogate : int64_t { kRectSTE = 0, kAtan = 1, kSigmoid = 2, kRect = 3 };

template <typename scalar_t>
struct DsnArgs {
  const scalar_t* x;     // [T, M]
  const scalar_t* hist;  // [K-1, M] inputs before t = 0
  const scalar_t* h0;    // [M]
  const scalar_t* w;     // [K, P]
  const scalar_t* b;     // [P]
  int64_t T, M, P, K;
  scalar_t inv_tau, vth;
  int power;             // 1/tau when it is 1, 2 or 4 (specialised kernels), else 0
  scalar_t min_sigmoid;  // sigmoid floor so that alpha = s^power stays above exp(kMinLog)
  scalar_t max_spike;  // N; binary firing when `binary`
  bool binary;
  int64_t surrogate;
  scalar_t surrogate_alpha;

  // Row t (t >= -(K-1)) of the input, offset to column n0.
  const scalar_t* x_row(int64_t t, int64_t n0) const {
    return t >= 0 ? x + t * M + n0 : hist + (t + K - 1) * M + n0;
  }
};

// Decay logits z[0..nb) at step t for neurons n0.. with parameters at column p0.
template <typename scalar_t>
inline void decay_logits(const DsnArgs<scalar_t>& a, int64_t t, int64_t n0, int64_t p0, int64_t nb,
                         scalar_t* __restrict z) {
  const scalar_t* __restrict bias = a.b + p0;
  for (int64_t i = 0; i < nb; ++i) z[i] = bias[i];
  for (int64_t j = 0; j < a.K; ++j) {
    const scalar_t* __restrict wj = a.w + j * a.P + p0;
    const scalar_t* __restrict xj = a.x_row(t - (a.K - 1) + j, n0);
    for (int64_t i = 0; i < nb; ++i) z[i] += wj[i] * xj[i];
  }
}

// alpha, 1 - alpha and 1 - sigmoid(z) from the logits, without cancellation. With e = exp(-|z|):
//   sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e),   1 - sigmoid(z) = (z >= 0 ? e : 1) / (1 + e).
// kPower = n > 0 (1/tau = n; the paper's tau = 1/4 is n = 4): alpha = s^n and
//   1 - alpha = (1 - s)(1 + s + ... + s^(n-1)): one exp and one division per element.
// kPower = 0 (any other tau): log alpha = (min(z, 0) - log1p(e)) / tau, alpha = exp, 1 - alpha = -expm1.
template <typename scalar_t, int kPower>
inline void decay_terms(const DsnArgs<scalar_t>& a, scalar_t z, scalar_t& alpha, scalar_t& one_minus_alpha,
                        scalar_t& one_minus_sig) {
  const scalar_t min_log = Limits<scalar_t>::kMinLog;
  const scalar_t e = std::exp(std::max(-std::abs(z), min_log));
  const scalar_t r = 1 / (1 + e);
  one_minus_sig = z >= 0 ? e * r : r;
  if constexpr (kPower > 0) {
    const scalar_t s = std::max(z >= 0 ? r : e * r, a.min_sigmoid);
    scalar_t power = s, geometric = 1;
    for (int k = 1; k < kPower; ++k) {  // compile-time trip count: fully unrolled
      geometric += power;
      power *= s;
    }
    alpha = power;
    one_minus_alpha = one_minus_sig * geometric;
  } else {
    const scalar_t log_alpha = std::max((std::min(z, scalar_t(0)) - std::log1p(e)) * a.inv_tau, min_log);
    alpha = std::exp(log_alpha);
    one_minus_alpha = -std::expm1(log_alpha);
  }
}

template <typename scalar_t, int kPower>
void dsn_forward_impl(const DsnArgs<scalar_t>& args, scalar_t* spikes, scalar_t* h_out) {
  const auto tasks = make_tasks(args.M, args.P);
  at::parallel_for(0, static_cast<int64_t>(tasks.size()), task_grain(args.T, kBlock), [&](int64_t begin, int64_t end) {
    const DsnArgs<scalar_t> a = args;  // a local copy: output stores cannot alias its fields
    scalar_t z[kBlock], state[kBlock];
    for (int64_t k = begin; k < end; ++k) {
      const Task& task = tasks[k];
      const int64_t n0 = task.row_start, p0 = task.param_start, nb = task.count;
      for (int64_t i = 0; i < nb; ++i) state[i] = a.h0[n0 + i];
      for (int64_t t = 0; t < a.T; ++t) {
        if (t + kPrefetchRows < a.T) {
          const int64_t ahead = (t + kPrefetchRows) * a.M + n0;
          prefetch_row<0>(a.x + ahead, nb);
          prefetch_row<1>(h_out + ahead, nb);
          prefetch_row<1>(spikes + ahead, nb);
        }
        decay_logits(a, t, n0, p0, nb, z);
        const scalar_t* __restrict xr = a.x + t * a.M + n0;
        scalar_t* __restrict hr = h_out + t * a.M + n0;
        scalar_t* __restrict sr = spikes + t * a.M + n0;
        for (int64_t i = 0; i < nb; ++i) {
          scalar_t alpha, one_minus_alpha, one_minus_sig;
          decay_terms<scalar_t, kPower>(a, z[i], alpha, one_minus_alpha, one_minus_sig);
          const scalar_t hv = alpha * state[i] + one_minus_alpha * xr[i];
          state[i] = hv;
          hr[i] = hv;
          const scalar_t q = hv / a.vth;
          sr[i] = a.binary ? scalar_t(q >= scalar_t(0.5))
                           : std::min(std::max(std::floor(q + scalar_t(0.5)), scalar_t(0)), a.max_spike);
        }
      }
    }
  });
}

// dS/dH at H, one functor per firing mode so that the backward loop has no branches.
template <typename scalar_t>
struct IntegerSlope {  // rectangular straight-through window 0 <= H/vth <= N
  static scalar_t at(const DsnArgs<scalar_t>& a, scalar_t hv) {
    const scalar_t q = hv / a.vth;
    return (q >= 0 && q <= a.max_spike) ? 1 / a.vth : scalar_t(0);
  }
};
template <typename scalar_t>
struct AtanSlope {
  static scalar_t at(const DsnArgs<scalar_t>& a, scalar_t hv) {
    const scalar_t r = scalar_t(M_PI / 2) * a.surrogate_alpha * (hv / a.vth - scalar_t(0.5));
    return (a.surrogate_alpha / 2) / (1 + r * r) / a.vth;
  }
};
template <typename scalar_t>
struct SigmoidSlope {
  static scalar_t at(const DsnArgs<scalar_t>& a, scalar_t hv) {
    const scalar_t s = 1 / (1 + std::exp(-a.surrogate_alpha * (hv / a.vth - scalar_t(0.5))));
    return a.surrogate_alpha * s * (1 - s) / a.vth;
  }
};
template <typename scalar_t>
struct RectSlope {
  static scalar_t at(const DsnArgs<scalar_t>& a, scalar_t hv) {
    const scalar_t zz = hv / a.vth - scalar_t(0.5);
    return std::abs(zz) < 1 / (2 * a.surrogate_alpha) ? a.surrogate_alpha / a.vth : scalar_t(0);
  }
};

template <typename scalar_t, typename Slope, int kPower>
void dsn_backward_impl(const DsnArgs<scalar_t>& args, const scalar_t* grad_s, const scalar_t* grad_h,
                       const scalar_t* grad_last,
                       const scalar_t* h, scalar_t* dx, scalar_t* dhist, scalar_t* dh0, scalar_t* dw_part,
                       scalar_t* db_part) {
  const auto tasks = make_tasks(args.M, args.P);
  const int64_t K = args.K;
  const int64_t grain = task_grain(args.T, kBlock, kBackwardWorkPerThread);
  at::parallel_for(0, static_cast<int64_t>(tasks.size()), grain, [&](int64_t begin, int64_t end) {
    const DsnArgs<scalar_t> a = args;  // a local copy: output stores cannot alias its fields
    scalar_t z[kBlock], d_next[kBlock], alpha_next[kBlock], acc[kBlock], db[kBlock], zeros[kBlock] = {};
    std::vector<scalar_t> ring(K * kBlock), dw(K * kBlock);
    for (int64_t k = begin; k < end; ++k) {
      const Task& task = tasks[k];
      const int64_t n0 = task.row_start, p0 = task.param_start, nb = task.count;
      std::fill(ring.begin(), ring.end(), scalar_t(0));
      std::fill(dw.begin(), dw.end(), scalar_t(0));
      for (int64_t i = 0; i < nb; ++i) {
        d_next[i] = grad_last[n0 + i];
        alpha_next[i] = 1;
        db[i] = 0;
      }
      for (int64_t t = a.T - 1; t >= 0; --t) {
        if (t >= kPrefetchRows + 1) {  // rows t - D (and t - D - 1 of h, read as h_{t-1})
          const int64_t ahead = (t - kPrefetchRows) * a.M + n0;
          prefetch_row<0>(a.x + ahead, nb);
          prefetch_row<0>(grad_s + ahead, nb);
          prefetch_row<0>(h + ahead - a.M, nb);
          if (grad_h != nullptr) prefetch_row<0>(grad_h + ahead, nb);
          prefetch_row<1>(dx + ahead, nb);
        }
        decay_logits(a, t, n0, p0, nb, z);
        const scalar_t* __restrict xr = a.x + t * a.M + n0;
        const scalar_t* __restrict gsr = grad_s + t * a.M + n0;
        const scalar_t* __restrict hr = h + t * a.M + n0;
        const scalar_t* __restrict ghr = grad_h != nullptr ? grad_h + t * a.M + n0 : zeros;
        const scalar_t* __restrict hprev = t > 0 ? h + (t - 1) * a.M + n0 : a.h0 + n0;
        scalar_t* __restrict dz = ring.data() + (t % K) * kBlock;
        for (int64_t i = 0; i < nb; ++i) {
          scalar_t alpha, one_minus_alpha, one_minus_sig;
          decay_terms<scalar_t, kPower>(a, z[i], alpha, one_minus_alpha, one_minus_sig);
          const scalar_t d = gsr[i] * Slope::at(a, hr[i]) + ghr[i] + alpha_next[i] * d_next[i];
          const scalar_t dzv = d * (hprev[i] - xr[i]) * alpha * one_minus_sig * a.inv_tau;
          dz[i] = dzv;
          db[i] += dzv;
          acc[i] = d * one_minus_alpha;
          d_next[i] = d;
          alpha_next[i] = alpha;
        }
        // dx_t: the direct term plus the conv taps that read x_t (logits at t..t+K-1).
        for (int64_t m = 0; m < K; ++m) {
          const scalar_t* __restrict wj = a.w + (K - 1 - m) * a.P + p0;
          const scalar_t* __restrict dzm = ring.data() + ((t + m) % K) * kBlock;
          for (int64_t i = 0; i < nb; ++i) acc[i] += wj[i] * dzm[i];
        }
        scalar_t* __restrict dxr = dx + t * a.M + n0;
        for (int64_t i = 0; i < nb; ++i) dxr[i] = acc[i];
        for (int64_t j = 0; j < K; ++j) {
          const scalar_t* __restrict xj = a.x_row(t - (K - 1) + j, n0);
          scalar_t* __restrict dwj = dw.data() + j * kBlock;
          for (int64_t i = 0; i < nb; ++i) dwj[i] += dz[i] * xj[i];
        }
      }
      for (int64_t i = 0; i < nb; ++i) dh0[n0 + i] = alpha_next[i] * d_next[i];
      // History row p holds x at time p-(K-1): read by the logits at times 0..p (tap j = p - time).
      for (int64_t p = 0; p < K - 1; ++p) {
        scalar_t* __restrict out = dhist + p * a.M + n0;
        for (int64_t i = 0; i < nb; ++i) out[i] = 0;
        for (int64_t time = 0; time <= p && time < a.T; ++time) {
          const scalar_t* __restrict wj = a.w + (p - time) * a.P + p0;
          const scalar_t* __restrict dzt = ring.data() + (time % K) * kBlock;
          for (int64_t i = 0; i < nb; ++i) out[i] += wj[i] * dzt[i];
        }
      }
      const int64_t part = task.period_index;
      for (int64_t j = 0; j < K; ++j) {
        scalar_t* __restrict out = dw_part + (part * K + j) * a.P + p0;
        for (int64_t i = 0; i < nb; ++i) out[i] = dw[j * kBlock + i];
      }
      for (int64_t i = 0; i < nb; ++i) db_part[part * a.P + p0 + i] = db[i];
    }
  });
}

// Calls body(std::integral_constant<int, power>) for the specialised powers, 0 otherwise.
template <typename Body>
void with_power(int power, Body&& body) {
  switch (power) {
    case 1: return body(std::integral_constant<int, 1>{});
    case 2: return body(std::integral_constant<int, 2>{});
    case 4: return body(std::integral_constant<int, 4>{});
    default: return body(std::integral_constant<int, 0>{});
  }
}

template <typename scalar_t>
DsnArgs<scalar_t> make_args(const torch::Tensor& x, const torch::Tensor& hist, const torch::Tensor& h0,
                            const torch::Tensor& w, const torch::Tensor& b, double tau, double vth, int64_t max_spike,
                            int64_t surrogate, double surrogate_alpha) {
  DsnArgs<scalar_t> a;
  a.x = x.data_ptr<scalar_t>();
  a.hist = hist.data_ptr<scalar_t>();
  a.h0 = h0.data_ptr<scalar_t>();
  a.w = w.data_ptr<scalar_t>();
  a.b = b.data_ptr<scalar_t>();
  a.T = x.size(0);
  a.M = x.size(1);
  a.K = w.size(0);
  a.P = w.size(1);
  a.inv_tau = static_cast<scalar_t>(1.0 / tau);
  const double n = std::round(1.0 / tau);
  // Specialised powers 1, 2 and 4 (tau = 1, 1/2, 1/4); any other tau takes the exp/log path.
  a.power = (std::abs(1.0 / tau - n) < 1e-12 && (n == 1 || n == 2 || n == 4)) ? static_cast<int>(n) : 0;
  a.min_sigmoid = a.power > 0 ? static_cast<scalar_t>(std::exp(Limits<scalar_t>::kMinLog / a.power)) : scalar_t(0);
  a.vth = static_cast<scalar_t>(vth);
  a.max_spike = static_cast<scalar_t>(max_spike);
  a.binary = max_spike == 1;
  a.surrogate = surrogate;
  a.surrogate_alpha = static_cast<scalar_t>(surrogate_alpha);
  return a;
}

void check_dsn_inputs(const torch::Tensor& x, const torch::Tensor& hist, const torch::Tensor& h0,
                      const torch::Tensor& w, const torch::Tensor& b) {
  check_2d(x, "x");
  TORCH_CHECK(w.dim() == 2 && w.is_contiguous(), "weight must be a contiguous [K, P] tensor");
  const int64_t K = w.size(0), P = w.size(1), M = x.size(1);
  TORCH_CHECK(P > 0 && M % P == 0, "the parameter period P must divide the neuron count M");
  TORCH_CHECK(hist.is_contiguous() && hist.numel() == (K - 1) * M, "history must be a contiguous [K-1, M] tensor");
  TORCH_CHECK(h0.is_contiguous() && h0.numel() == M, "h0 must be a contiguous [M] tensor");
  TORCH_CHECK(b.is_contiguous() && b.numel() == P, "bias must be a contiguous [P] tensor");
  for (const auto* t : {&hist, &h0, &w, &b}) TORCH_CHECK(t->dtype() == x.dtype(), "all tensors must share x's dtype");
}

// Absent state (None from Python) is zeros: [K-1, M] history and [M] initial potential.
torch::Tensor history_or_zeros(const c10::optional<torch::Tensor>& hist, const torch::Tensor& x, int64_t K) {
  return hist.has_value() ? *hist : torch::zeros({K - 1, x.size(1)}, x.options());
}
torch::Tensor state_or_zeros(const c10::optional<torch::Tensor>& h0, const torch::Tensor& x) {
  return h0.has_value() ? *h0 : torch::zeros({x.size(1)}, x.options());
}

// Returns {spikes, H, H_last}.
std::vector<torch::Tensor> dsn_forward(torch::Tensor x, c10::optional<torch::Tensor> hist_in,
                                       c10::optional<torch::Tensor> h0_in, torch::Tensor w, torch::Tensor b,
                                       double tau, double vth, int64_t max_spike) {
  const auto hist = history_or_zeros(hist_in, x, w.size(0));
  const auto h0 = state_or_zeros(h0_in, x);
  check_dsn_inputs(x, hist, h0, w, b);
  auto spikes = empty_stream_like(x);
  auto h = empty_stream_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "paraspike_dsn_forward", [&] {
    const auto a = make_args<scalar_t>(x, hist, h0, w, b, tau, vth, max_spike, kRectSTE, 1.0);
    with_power(a.power, [&](auto power_tag) {
      dsn_forward_impl<scalar_t, decltype(power_tag)::value>(a, spikes.data_ptr<scalar_t>(), h.data_ptr<scalar_t>());
    });
  });
  return {spikes, h, h.select(0, x.size(0) - 1).clone()};
}

// Returns {dx, dhist, dh0, dw [K, P], db [P]} (dhist and dh0 also when the state was absent).
std::vector<torch::Tensor> dsn_backward(c10::optional<torch::Tensor> grad_s_in, c10::optional<torch::Tensor> grad_h_in,
                                        c10::optional<torch::Tensor> grad_last_in, torch::Tensor x,
                                        c10::optional<torch::Tensor> hist_in, c10::optional<torch::Tensor> h0_in,
                                        torch::Tensor h, torch::Tensor w, torch::Tensor b, double tau, double vth,
                                        int64_t max_spike, int64_t surrogate, double surrogate_alpha) {
  const auto hist = history_or_zeros(hist_in, x, w.size(0));
  const auto h0 = state_or_zeros(h0_in, x);
  check_dsn_inputs(x, hist, h0, w, b);
  const auto grad_s = grad_s_in.has_value() ? grad_s_in->contiguous() : torch::zeros_like(x);
  const auto grad_last = grad_last_in.has_value() ? grad_last_in->contiguous() : torch::zeros_like(h0);
  check_2d(grad_s, "grad_spikes");
  check_2d(h, "h");
  TORCH_CHECK(grad_last.numel() == x.size(1), "grad_last must be [M]");
  const bool has_grad_h = grad_h_in.has_value();
  const auto grad_h = has_grad_h ? grad_h_in->contiguous() : torch::Tensor();
  if (has_grad_h) check_2d(grad_h, "grad_h");
  const int64_t K = w.size(0), P = w.size(1), parts = x.size(1) / P;
  auto dx = empty_stream_like(x);
  auto dhist = torch::empty_like(hist);
  auto dh0 = torch::empty_like(h0);
  auto dw_part = torch::empty({parts, K, P}, x.options());
  auto db_part = torch::empty({parts, P}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "paraspike_dsn_backward", [&] {
    const auto a = make_args<scalar_t>(x, hist, h0, w, b, tau, vth, max_spike, surrogate, surrogate_alpha);
    auto run = [&](auto slope) {
      using Slope = decltype(slope);
      with_power(a.power, [&](auto power_tag) {
        dsn_backward_impl<scalar_t, Slope, decltype(power_tag)::value>(
            a, grad_s.data_ptr<scalar_t>(), has_grad_h ? grad_h.data_ptr<scalar_t>() : nullptr,
            grad_last.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(),
            dhist.data_ptr<scalar_t>(), dh0.data_ptr<scalar_t>(), dw_part.data_ptr<scalar_t>(),
            db_part.data_ptr<scalar_t>());
      });
    };
    if (!a.binary) return run(IntegerSlope<scalar_t>{});
    switch (surrogate) {
      case kAtan: return run(AtanSlope<scalar_t>{});
      case kSigmoid: return run(SigmoidSlope<scalar_t>{});
      case kRect: return run(RectSlope<scalar_t>{});
      default: TORCH_CHECK(false, "unknown surrogate id ", surrogate);
    }
  });
  return {dx, dhist, dh0, parts == 1 ? dw_part[0] : dw_part.sum(0), parts == 1 ? db_part[0] : db_part.sum(0)};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_forward", &scan_forward, "linear scan forward: h = scan(u, exp(g), h0)");
  m.def("scan_backward", &scan_backward, "linear scan backward: reverse scan");
  m.def("dsn_forward", &dsn_forward, "fused DSN forward: conv decay, log-sigmoid, scan, firing");
  m.def("dsn_backward", &dsn_backward, "fused DSN backward: one reverse pass");
}
