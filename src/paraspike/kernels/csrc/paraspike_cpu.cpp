// paraspike's CPU kernels as torch.library operators (schema, CPU implementation, autograd), so
// that eager calls cost one dispatcher call each way and torch.compile / torch.export / tracing see
// one opaque op (fake implementations are registered from Python: paraspike/kernels/cpu.py).
//
//   paraspike::dsn_cpu(x [T, B, C, *], history? [K-1, B, C, *], h0? [B, C, *], weight [C, K], bias [C],
//                      tau, v_threshold, max_spike, surrogate, surrogate_alpha, store_h, checkpoint_h=False)
//     -> (spikes [T, B, C, *] in x's dtype, H [T, B, C, *] if store_h, else with checkpoint_h the H of each
//         32-step tile's last step but T-1 [(T-1)/32, B, C, *] (k <= 4 taps), else [0]; H_last [B, C, *])
//   paraspike::dsn_cpu_backward(..., h, ...) -> (dx, dhistory, dh0, dweight, dbias): h the saved H
//     [T, B, C, *], or the checkpoints [(T-1)/32, B, C, *] (k <= 4 taps; an empty [0] when T <= 32), from
//     which the kernels recompute H (autograd's default)
//   paraspike::scan_cpu(u [T, *], log_decay [T, *], h0? [*]) -> h [T, *]
//   paraspike::scan_cpu_backward(grad_h, log_decay, h, h0?, need_dh0) -> (du, dlog_decay, dh0)
//   paraspike::cpu_output_cache_stats() -> [held bytes, hits, misses, dropped]; release_cpu_output_cache()
//   paraspike::strip_timing(steps, batch, channels, rounds, input_offset, output_offset) -> [forward ns, backward ns
//     per vector-step, clock GHz]: the register-blocked kernels alone (strip_timing.h)
// H and H_last are in the accumulation dtype (float32 for float16/bfloat16 inputs, else x's dtype).
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <unistd.h>

#include <array>
#include <algorithm>

#include "dsn_kernels.h"
#include "scan_kernels.h"
#include "strip_kernels.h"
#include "strip_timing.h"

namespace paraspike {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

// Threads are used from this many elements (T x neurons) per thread: the forward (~1 ns per element)
// loses from waking the pool below 2^16, the backward (~3 ns) gains from 2^14 (2-core measurements).
constexpr int64_t kForwardWorkPerThread = 1 << 16;
constexpr int64_t kBackwardWorkPerThread = 1 << 14;
constexpr int64_t kWorkPerGrab = 1 << 12;  // elements a thread takes from the shared counter at once
// Whether an output stream of this many bytes is stored past the caches (non-temporal stores): from half
// the last-level cache up, with the other streams of the layer it would be evicted before anything reads
// it, and a plain store first reads each line from memory. Smaller ones stay cached for the next layer.
// (Measured on the 2-core EPYC, 32 MiB L3, one thread, [8, 16, 128, 16, 16] forward + backward: 3.4 ->
// 2.9 ns per neuron-step with S, H and dx of 16 MiB streamed; at 8 MiB streaming gained nothing.)
// PARASPIKE_STREAMING_BYTES overrides the threshold (0: always; tests use it).
bool bypasses_caches(int64_t bytes) {
  static const int64_t half_llc = [] {
    const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);  // 0 or -1 where unknown
    return llc > 0 ? static_cast<int64_t>(llc) / 2 : int64_t{16} << 20;
  }();
  const char* forced = std::getenv("PARASPIKE_STREAMING_BYTES");
  return bytes >= (forced != nullptr && *forced != '\0' ? std::atoll(forced) : half_llc);
}

at::ScalarType accumulation_type(at::ScalarType t) {
  return (t == at::kHalf || t == at::kBFloat16) ? at::kFloat : t;
}

// Sum of n values in a fixed order (W-lane partial sums, then across the lanes), so it does not depend
// on the number of threads; vectorised, where std::accumulate is one serial chain of adds.
template <typename T>
T lane_sum(const T* p, int64_t n) {
  constexpr int W = simd::kLanes<T>;
  simd::Vec<T> partial{};
  int64_t i = 0;
  for (; i + W <= n; i += W) partial += simd::load<T>(p + i, W);
  T total = simd::sum_lanes<T>(partial, W);
  for (; i < n; ++i) total += p[i];
  return total;
}

Tensor stream_input(const Tensor& t, at::ScalarType dtype) { return t.to(dtype).contiguous(); }
Tensor optional_input(const OptTensor& t, at::ScalarType dtype) {
  return t.has_value() && t->defined() ? stream_input(*t, dtype) : Tensor();
}
template <typename T>
const T* pointer_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Conv taps the kernels run for a k-tap layer: the strip kernels' kStripTaps when k fits (a k-tap causal
// conv is a kStripTaps-tap one whose first taps are zero; the strip kernels read inputs before the history
// as zeros too), else k (the block kernels).
int64_t kernel_taps(int64_t k) { return k <= kStripTaps ? kStripTaps : k; }

struct Tile {
  Tensor w, b;    // [taps, P], [P]: each channel's taps and bias repeated over its S positions
  Tensor wc, bc;  // [C, taps], [C]: once per channel (the strip kernels broadcast them when S > 1)
};
// The parameters as the kernels read them, the weight [C, k] padded in front to `taps` columns with zeros.
Tile tile_parameters(const Tensor& weight, const Tensor& bias, int64_t taps, int64_t S, at::ScalarType dtype) {
  const int64_t C = weight.size(0), k = weight.size(1);
  const auto padded = k < taps ? at::constant_pad_nd(weight, {taps - k, 0}) : weight;
  const auto wc = padded.to(dtype).contiguous(), bc = bias.to(dtype).contiguous();
  auto wt = wc.t();
  if (S == 1) return {wt.contiguous(), bc, wc, bc};
  return {wt.unsqueeze(-1).expand({taps, C, S}).reshape({taps, C * S}).contiguous(),
          bc.unsqueeze(-1).expand({C, S}).reshape({C * S}).contiguous(), wc, bc};
}

int power_of(double tau) {
  const double n = std::round(1.0 / tau);
  return (std::abs(1.0 / tau - n) < 1e-12 && (n == 1 || n == 2 || n == 4)) ? static_cast<int>(n) : 0;
}

template <typename T>
DsnArgs<T> make_args(const Tensor& x, const Tensor& hist, const Tensor& h0, const Tile& tile, int64_t K,
                     const Layout& L, double tau, double vth, int64_t max_spike, double surrogate_alpha) {
  DsnArgs<T> a;
  a.x = x.data_ptr<T>();
  a.hist = pointer_or_null<T>(hist);
  a.h0 = pointer_or_null<T>(h0);
  a.w = tile.w.data_ptr<T>();
  a.b = tile.b.data_ptr<T>();
  // Every strip of a block lies inside one channel when a channel spans whole strips (or is cut
  // into parts wider than a block): the strip kernels then broadcast the channel's taps and bias
  // instead of loading K + 1 rows of the tiled parameters per strip and batch row (at T = 1-2 a conv
  // layer read more parameter bytes than input bytes).
  if (L.S > 1 && (L.S > kBlock || L.S % simd::kLanes<T> == 0)) {
    a.wc = tile.wc.data_ptr<T>();
    a.bc = tile.bc.data_ptr<T>();
    a.S = L.S;
  }
  a.T_ = L.T;
  a.M = L.M;
  a.P = L.P;
  a.K = K;
  a.inv_tau = static_cast<T>(1.0 / tau);
  a.power = power_of(tau);
  a.min_sigmoid = a.power > 0 ? static_cast<T>(std::exp(Limits<T>::kMinLog / a.power)) : T(0);
  a.vth = static_cast<T>(vth);
  a.max_spike = static_cast<T>(max_spike);
  a.surrogate_alpha = static_cast<T>(surrogate_alpha);
  return a;
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

void check_dsn(const Tensor& x, const OptTensor& hist, const OptTensor& h0, const Tensor& w, const Tensor& b) {
  TORCH_CHECK(x.device().is_cpu(), "paraspike::dsn_cpu runs on CPU tensors, got ", x.device());
  TORCH_CHECK(x.dim() >= 3, "paraspike::dsn_cpu expects x [T, B, C, *], got ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), "paraspike::dsn_cpu expects a floating-point x, got ", x.scalar_type());
  TORCH_CHECK(w.dim() == 2 && w.size(0) == x.size(2) && w.size(1) >= 1, "weight must be [C, K] with C = ",
              x.size(2), ", got ", w.sizes());
  TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(2), "bias must be [C], got ", b.sizes());
  const auto step = x.sizes().slice(1);
  if (hist.has_value() && hist->defined()) {
    TORCH_CHECK(hist->dim() == x.dim() && hist->size(0) == w.size(1) - 1 && hist->sizes().slice(1) == step,
                "history must be [K-1, B, C, *] = [", w.size(1) - 1, ", ", step, "], got ", hist->sizes());
  }
  if (h0.has_value() && h0->defined()) {
    TORCH_CHECK(h0->sizes() == step, "h0 must be [B, C, *] = ", step, ", got ", h0->sizes());
  }
}

// Work items: (range of batch rows, range of consecutive blocks); weight-gradient sums stay per item
// and batch-row range. The strip kernels run an item block by block, each block over all the item's
// batch rows in one call (they prefetch what they read next themselves; one call per block and batch
// row paid the call's setup, the gradient-sum zeroing and flushing, per 256 neurons: at T = 1 that was
// a fifth of the backward). The generic block kernels run its batch rows one after the other and, in
// each, its blocks left to right, so every [T, M] row is read front to back.
// Up to 16 block ranges, and batch ranges enough for about 64 items, so threads can share them out.
struct Grouping {
  int64_t blocks, per_range, ranges, chunks;
  explicit Grouping(const Layout& L) {
    blocks = L.blocks();
    per_range = std::max<int64_t>(1, (blocks + 15) / 16);
    ranges = (blocks + per_range - 1) / per_range;
    chunks = std::max<int64_t>(1, std::min<int64_t>(L.B, (64 + ranges - 1) / std::max<int64_t>(ranges, 1)));
  }
  int64_t items() const { return chunks * ranges; }
  // The batch rows [b0, b1) and blocks [k0, k1) of item `item` (what each() visits).
  std::array<int64_t, 4> bounds(const Layout& L, int64_t item) const {
    const int64_t chunk = item / ranges, range = item % ranges;
    const int64_t k0 = range * per_range;
    return {chunk * L.B / chunks, (chunk + 1) * L.B / chunks, k0, std::min(blocks, k0 + per_range)};
  }
  // Calls body(batch, block) for item `item` in order.
  template <typename Body>
  void each(const Layout& L, int64_t item, const Body& body) const {
    const auto [b0, b1, k0, k1] = bounds(L, item);
    for (int64_t batch = b0; batch < b1; ++batch) {
      for (int64_t blk = k0; blk < k1; ++blk) body(batch, blk);
    }
  }
  int64_t elements_per_item(const Layout& L) const {
    return L.T * std::min<int64_t>(kBlock, L.P) * per_range * ((L.B + chunks - 1) / chunks);
  }
};

std::tuple<Tensor, Tensor, Tensor> dsn_cpu(const Tensor& x_in, const OptTensor& hist_in, const OptTensor& h0_in,
                                           const Tensor& weight, const Tensor& bias, double tau, double vth,
                                           int64_t max_spike, int64_t surrogate, double surrogate_alpha,
                                           bool store_h, bool checkpoint_h) {
  check_dsn(x_in, hist_in, h0_in, weight, bias);
  const auto dtype = accumulation_type(x_in.scalar_type());
  const Layout L(x_in);
  const auto x = stream_input(x_in, dtype);
  const auto hist = optional_input(hist_in, dtype);
  const auto h0 = optional_input(h0_in, dtype);
  const int64_t K = weight.size(1), taps = kernel_taps(K);
  const bool strips = taps == kStripTaps;  // the register-blocked kernels (strip_kernels.h), any tau
  const Tile tile = tile_parameters(weight, bias, taps, L.S, dtype);
  auto spikes = empty_stream(x.sizes(), x.options());
  TORCH_CHECK(!checkpoint_h || strips, "paraspike::dsn_cpu writes H checkpoints only for k <= ", kStripTaps,
              " taps, got k = ", K);
  auto checkpoint_sizes = x.sizes().vec();
  if (!checkpoint_sizes.empty()) checkpoint_sizes[0] = checkpoint_rows(L.T);
  const bool checkpoints = checkpoint_h && !store_h;
  auto h = store_h       ? empty_stream(x.sizes(), x.options())
           : checkpoints ? at::empty(checkpoint_sizes, x.options())
                         : at::empty({0}, x.options());
  auto h_last = empty_stream(x.sizes().slice(1), x.options());
  const Grouping G(L);
  if (L.M > 0) {
    AT_DISPATCH_FLOATING_TYPES(dtype, "paraspike::dsn_cpu", [&] {
      const auto a = make_args<scalar_t>(x, hist, h0, tile, K, L, tau, vth, max_spike, surrogate_alpha);
      scalar_t* s_ptr = spikes.data_ptr<scalar_t>();
      scalar_t* h_ptr = store_h ? h.data_ptr<scalar_t>() : nullptr;
      scalar_t* checkpoint_ptr = checkpoints && h.numel() > 0 ? h.data_ptr<scalar_t>() : nullptr;
      scalar_t* last_ptr = h_last.data_ptr<scalar_t>();
      const int64_t per_item = G.elements_per_item(L);
      const bool streaming = bypasses_caches(L.M * L.T * static_cast<int64_t>(sizeof(scalar_t)));
      with_power(a.power, [&](auto power_tag) {
        constexpr int kPower = decltype(power_tag)::value;
        auto run = [&](auto binary_tag) {
          constexpr bool kBinary = decltype(binary_tag)::value;
          parallel_items(G.items(), kForwardWorkPerThread / per_item, 1, [&](int64_t item) {
            const auto [b0, b1, k0, k1] = G.bounds(L, item);
            if (strips) {  // one call per block over the item's batch rows (per-call setup paid once)
              for (int64_t blk = k0; blk < k1; ++blk) {
                forward_strips<scalar_t, kStripTaps, kPower, kBinary>(a, L.block_start[blk], L.width(blk), b0, b1,
                                                                      s_ptr, h_ptr, checkpoint_ptr, last_ptr,
                                                                      streaming);
              }
              return;
            }
            G.each(L, item, [&](int64_t batch, int64_t blk) {  // row by row: each row's blocks in memory order
              const int64_t r0 = L.block_start[blk], nb = L.width(blk);
              forward_block<scalar_t, kPower, kBinary>(a, batch * L.P + r0, r0, nb, s_ptr, h_ptr, last_ptr);
            });
          });
        };
        if (max_spike == 1) {
          run(std::true_type{});
        } else {
          run(std::false_type{});
        }
      });
    });
  }
  (void)surrogate;  // forward spikes do not depend on the surrogate
  return {spikes.to(x_in.scalar_type()), h, h_last};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> dsn_cpu_backward(
    const OptTensor& grad_s_in, const OptTensor& grad_h_in, const OptTensor& grad_last_in, const Tensor& x_in,
    const OptTensor& hist_in, const OptTensor& h0_in, const Tensor& h_in, const Tensor& weight, const Tensor& bias,
    double tau, double vth, int64_t max_spike, int64_t surrogate, double surrogate_alpha, bool need_dx,
    bool need_dhistory, bool need_dh0) {
  check_dsn(x_in, hist_in, h0_in, weight, bias);
  const auto dtype = accumulation_type(x_in.scalar_type());
  const Layout L(x_in);
  const int64_t K = weight.size(1), taps = kernel_taps(K);
  const bool strips = taps == kStripTaps;  // the register-blocked kernels (strip_kernels.h), any tau
  // h: the saved H, or the checkpoints to recompute it from ([0] too where there are none, T <= 32)
  const bool recompute = h_in.sizes() != x_in.sizes();
  const bool checkpoint_shape = h_in.dim() == x_in.dim() && h_in.size(0) == checkpoint_rows(L.T) &&
                                h_in.sizes().slice(1) == x_in.sizes().slice(1);
  TORCH_CHECK(!recompute || checkpoint_shape || (h_in.dim() == 1 && h_in.numel() == 0 && checkpoint_rows(L.T) == 0),
              "h must be the saved [T, B, C, *] potentials or their checkpoints [(T-1)/", kTile, ", B, C, *] = [",
              checkpoint_rows(L.T), ", ...], got ", h_in.sizes());
  TORCH_CHECK(!recompute || strips, "paraspike::dsn_cpu_backward recomputes H from checkpoints only for k <= ",
              kStripTaps, " taps, got k = ", K, ": pass the saved potentials");
  const auto x = stream_input(x_in, dtype);
  const auto hist = optional_input(hist_in, dtype);
  const auto h0 = optional_input(h0_in, dtype);
  const auto h = stream_input(h_in, dtype);
  const auto grad_s = optional_input(grad_s_in, dtype);
  const auto grad_h = optional_input(grad_h_in, dtype);
  const auto grad_last = optional_input(grad_last_in, dtype);
  const Tile tile = tile_parameters(weight, bias, taps, L.S, dtype);
  auto dx = need_dx ? empty_stream(x.sizes(), x.options()) : at::empty({0}, x.options());
  const bool dhist_wanted = need_dhistory && hist.defined();
  const bool dh0_wanted = need_dh0 && h0.defined();
  auto dhist = dhist_wanted ? empty_stream(hist.sizes(), x.options()) : at::empty({0}, x.options());
  auto dh0 = dh0_wanted ? empty_stream(h0.sizes(), x.options()) : at::empty({0}, x.options());
  auto dweight = at::zeros({L.C, K}, x.options());  // zeros: written below only when M > 0
  auto dbias = at::zeros({L.C}, x.options());
  // Each work item sums its lanes' weight gradients over its batch rows, then over the lanes of each
  // channel segment (a whole channel, or the part of a channel wider than a block that one block
  // holds), and writes partial[batch range][tap][segment]; the final sum runs in a fixed order, so the
  // result does not depend on the number of threads.
  const Grouping G(L);
  const int64_t chunks = G.chunks;
  const int64_t per_channel = L.S <= kBlock ? 1 : (L.S + kBlock - 1) / kBlock;  // segments per channel
  const int64_t segments = L.C * per_channel;
  auto partial = at::empty({chunks, taps + 1, segments}, x.options());
  if (L.M > 0) {
    AT_DISPATCH_FLOATING_TYPES(dtype, "paraspike::dsn_cpu_backward", [&] {
      using T = scalar_t;
      const auto a = make_args<T>(x, hist, h0, tile, K, L, tau, vth, max_spike, surrogate_alpha);
      BackwardArgs<T> g;
      g.grad_s = pointer_or_null<T>(grad_s);
      g.grad_h = pointer_or_null<T>(grad_h);
      g.grad_last = pointer_or_null<T>(grad_last);
      g.h = recompute ? nullptr : h.data_ptr<T>();  // null: the strip kernels recompute H
      g.h_checkpoints = recompute && h.numel() > 0 ? h.data_ptr<T>() : nullptr;
      g.dx = need_dx ? dx.data_ptr<T>() : nullptr;
      g.dhist = dhist_wanted ? dhist.data_ptr<T>() : nullptr;
      g.dh0 = dh0_wanted ? dh0.data_ptr<T>() : nullptr;
      T* part = partial.data_ptr<T>();
      const int64_t per_item = G.elements_per_item(L);
      const bool streaming = bypasses_caches(L.M * L.T * static_cast<int64_t>(sizeof(T)));
      const int64_t bytes = static_cast<int64_t>(sizeof(T));
      const bool by_rows = backward_by_rows(L.M * bytes, L.P * bytes, L.T);
      auto run = [&](auto slope, auto slope_id) {
        using Slope = decltype(slope);
        constexpr int64_t kSlope = decltype(slope_id)::value;
        with_power(a.power, [&](auto power_tag) {
          constexpr int kPower = decltype(power_tag)::value;
          parallel_items(G.items(), kBackwardWorkPerThread / per_item, 1, [&](int64_t item) {
            const int64_t chunk = item / G.ranges;
            const auto bounds = G.bounds(L, item);  // not a structured binding: the lambda below captures k0
            const int64_t b0 = bounds[0], b1 = bounds[1], k0 = bounds[2], k1 = bounds[3];
            // lane sums of the item's blocks: [block][taps][kBlock] and [block][kBlock]
            std::vector<T> dw(G.per_range * taps * kBlock, T(0)), db(G.per_range * kBlock, T(0));
            bool done = false;
            if (strips) {  // one call per block over the item's batch rows (per-call setup paid once)
              for (int64_t blk = k0; blk < k1; ++blk) {
                backward_strips<T, kStripTaps, kPower, kSlope>(a, g, L.block_start[blk], L.width(blk), b0, b1,
                                                               dw.data() + (blk - k0) * taps * kBlock,
                                                               db.data() + (blk - k0) * kBlock, streaming, by_rows);
              }
              done = true;
            }
            if (!done) {
              std::vector<T> ring(K * kBlock);  // the block kernels' scratch
              G.each(L, item, [&](int64_t batch, int64_t blk) {
                const int64_t r0 = L.block_start[blk], nb = L.width(blk);
                backward_block<T, Slope, kPower>(a, g, batch * L.P + r0, r0, nb, ring.data(),
                                                 dw.data() + (blk - k0) * taps * kBlock,
                                                 db.data() + (blk - k0) * kBlock);
              });
            }
            for (int64_t blk = k0; blk < k1; ++blk) {
              const int64_t r0 = L.block_start[blk], nb = L.width(blk);
              const int64_t run = std::min(L.S, nb);  // lanes per segment in this block
              for (int64_t j = 0; j <= taps; ++j) {
                const T* lanes =
                    j < taps ? dw.data() + ((blk - k0) * taps + j) * kBlock : db.data() + (blk - k0) * kBlock;
                T* out = part + (chunk * (taps + 1) + j) * segments;
                if (run == 1) {  // one lane per channel (S = 1): the lanes are the segments r0..r0+nb
                  std::copy(lanes, lanes + nb, out + r0);
                  continue;
                }
                for (int64_t first = 0; first < nb; first += run) {
                  const int64_t segment = per_channel == 1 ? (r0 + first) / L.S : blk;
                  out[segment] = lane_sum(lanes + first, run);
                }
              }
            }
          });
        });
      };
      using Id = int64_t;
      if (max_spike > 1) {
        run(IntegerSlope<T>{}, std::integral_constant<Id, kRectSTE>{});
      } else if (surrogate == kAtan) {
        run(AtanSlope<T>{}, std::integral_constant<Id, kAtan>{});
      } else if (surrogate == kSigmoid) {
        run(SigmoidSlope<T>{}, std::integral_constant<Id, kSigmoid>{});
      } else {
        TORCH_CHECK(surrogate == kRect, "paraspike::dsn_cpu_backward: unknown surrogate id ", surrogate);
        run(RectSlope<T>{}, std::integral_constant<Id, kRect>{});
      }
      // Sum the chunks' partial rows (contiguous [taps + 1][segments] rows: vectorised), then channel
      // c's segments [c per_channel, (c + 1) per_channel); the zero taps in front have no gradient.
      T* dw_out = dweight.data_ptr<T>();
      T* db_out = dbias.data_ptr<T>();
      const int64_t row_size = (taps + 1) * segments, pad = taps - K;
      for (int64_t chunk = 1; chunk < chunks; ++chunk) row_add(part, part + chunk * row_size, row_size);
      for (int64_t j = pad; j <= taps; ++j) {
        const T* row = part + j * segments;
        for (int64_t c = 0; c < L.C; ++c) {
          const T sum = per_channel == 1 ? row[c] : lane_sum(row + c * per_channel, per_channel);
          (j < taps ? dw_out[c * K + j - pad] : db_out[c]) = sum;
        }
      }
    });
  }
  return {need_dx ? dx.to(x_in.scalar_type()) : dx,
          dhist_wanted ? dhist.to(hist_in->scalar_type()) : dhist,
          dh0_wanted ? dh0.to(h0_in->scalar_type()) : dh0,
          dweight.to(weight.scalar_type()),
          dbias.to(bias.scalar_type())};
}

// ----------------------------------------------------------------------------------- plain scan
void check_scan(const Tensor& u, const Tensor& g, const OptTensor& h0) {
  TORCH_CHECK(u.device().is_cpu() && u.dim() >= 1, "paraspike::scan_cpu expects CPU tensors [T, *]");
  TORCH_CHECK(g.sizes() == u.sizes() && g.scalar_type() == u.scalar_type(), "log_decay must match u");
  if (h0.has_value() && h0->defined()) {
    TORCH_CHECK(h0->sizes() == u.sizes().slice(1), "h0 must be u's trailing shape");
  }
}

int64_t trailing_size(const Tensor& t) { return t.dim() > 1 ? t.numel() / t.size(0) : 1; }

Tensor scan_cpu(const Tensor& u_in, const Tensor& g_in, const OptTensor& h0_in) {
  check_scan(u_in, g_in, h0_in);
  const auto u = u_in.contiguous(), g = g_in.contiguous();
  const auto h0 = optional_input(h0_in, u.scalar_type());
  auto h = empty_stream(u.sizes(), u.options());
  const int64_t steps = u.size(0), M = trailing_size(u), blocks = (M + kBlock - 1) / kBlock;
  if (u.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "paraspike::scan_cpu", [&] {
      const int64_t per_item = steps * std::min(kBlock, M);
      parallel_items(blocks, kForwardWorkPerThread / per_item, 1 + kWorkPerGrab / per_item, [&](int64_t blk) {
        scan_forward_block<scalar_t>(u.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), pointer_or_null<scalar_t>(h0),
                                     h.data_ptr<scalar_t>(), steps, M, blk * kBlock, std::min(kBlock, M - blk * kBlock));
      });
    });
  }
  return h;
}

std::tuple<Tensor, Tensor, Tensor> scan_cpu_backward(const Tensor& grad_in, const Tensor& g_in, const Tensor& h_in,
                                                     const OptTensor& h0_in, bool need_dh0) {
  check_scan(h_in, g_in, h0_in);
  const auto grad = grad_in.contiguous(), g = g_in.contiguous(), h = h_in.contiguous();
  const auto h0 = optional_input(h0_in, g.scalar_type());
  auto du = empty_stream(g.sizes(), g.options());
  auto dg = empty_stream(g.sizes(), g.options());
  const bool dh0_wanted = need_dh0 && h0.defined();
  auto dh0 = dh0_wanted ? empty_stream(h0.sizes(), g.options()) : at::empty({0}, g.options());
  const int64_t steps = g.size(0), M = trailing_size(g), blocks = (M + kBlock - 1) / kBlock;
  if (g.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "paraspike::scan_cpu_backward", [&] {
      const int64_t per_item = steps * std::min(kBlock, M);
      parallel_items(blocks, kBackwardWorkPerThread / per_item, 1 + kWorkPerGrab / per_item, [&](int64_t blk) {
        scan_backward_block<scalar_t>(grad.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                                      pointer_or_null<scalar_t>(h0), du.data_ptr<scalar_t>(), dg.data_ptr<scalar_t>(),
                                      dh0_wanted ? dh0.data_ptr<scalar_t>() : nullptr, steps, M, blk * kBlock,
                                      std::min(kBlock, M - blk * kBlock));
      });
    });
  }
  return {du, dg, dh0};
}

// ----------------------------------------------------------------------------------- autograd
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool needs_grad(std::initializer_list<const Tensor*> tensors) {
  if (!at::GradMode::is_enabled()) return false;
  for (const Tensor* t : tensors) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

// Saved tensors are gone when backward already ran through this graph (without retain_graph).
variable_list saved_or_explain(AutogradContext* ctx) {
  try {
    return ctx->get_saved_variables();
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, error.what_without_backtrace(),
                "\nparaspike: a neuron's state carried over from a sequence whose graph was already used by "
                "backward()? Call paraspike.reset_net(model) before every new sequence, or "
                "paraspike.detach_net(model) to keep the state with truncated backpropagation through time.");
  }
}

Tensor value_or_undefined(const OptTensor& t) { return t.has_value() ? *t : Tensor(); }
OptTensor defined_or_none(const Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

class DsnFunction : public torch::autograd::Function<DsnFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& x, const OptTensor& hist, const OptTensor& h0,
                               const Tensor& weight, const Tensor& bias, double tau, double vth, int64_t max_spike,
                               int64_t surrogate, double surrogate_alpha, bool store_h, bool checkpoint_h,
                               bool grad) {
    // grad: whether a backward may follow (decided by the caller: grad mode is off in here); checkpoint_h:
    // the caller asks for the checkpoints as the second output (without store_h)
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("paraspike::dsn_cpu", "").typed<decltype(dsn_cpu)>();
    const Tensor hist_t = value_or_undefined(hist), h0_t = value_or_undefined(h0);
    // With the 4-tap strip kernels the backward recomputes H (unless PARASPIKE_RECOMPUTE_H=0): the
    // forward writes, and autograd saves, only the checkpoints it starts each 32-step tile from (none up
    // to 32 steps; taken from H when H is returned anyway). Else, with one step (the block kernels'
    // single-step calls) H is H_last, so backward reads it from there and the kernel writes one output
    // stream fewer.
    const bool recompute = grad && weight.size(1) <= kStripTaps && recompute_h();
    const bool h_is_last = grad && !recompute && !store_h && x.size(0) == 1;
    Tensor spikes, h, h_last;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      std::tie(spikes, h, h_last) = op.call(x, hist, h0, weight, bias, tau, vth, max_spike, surrogate, surrogate_alpha,
                                            store_h || (grad && !recompute && !h_is_last),
                                            (recompute || checkpoint_h) && !store_h);
    }
    Tensor for_backward;
    if (recompute) {  // the checkpoints: written by the kernel, or rows kTile-1, 2 kTile-1, .. < T-1 of H
      const int64_t steps = x.size(0);
      for_backward = store_h ? h.slice(0, kTile - 1, std::max<int64_t>(steps - 1, 0), kTile).contiguous() : h;
    } else if (grad) {
      for_backward = h_is_last ? h_last : h;
    }
    ctx->save_for_backward({x, hist_t, h0_t, weight, bias, for_backward});
    ctx->saved_data["h_is_last"] = h_is_last;
    ctx->saved_data["config"] = c10::List<double>({tau, vth, static_cast<double>(max_spike),
                                                   static_cast<double>(surrogate), surrogate_alpha});
    ctx->saved_data["store_h"] = store_h;
    ctx->set_materialize_grads(false);
    return {spikes, store_h || checkpoint_h ? h : at::empty({0}, h.options()), h_last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("paraspike::dsn_cpu_backward", "")
                         .typed<decltype(dsn_cpu_backward)>();
    const auto saved = saved_or_explain(ctx);
    const auto config = ctx->saved_data["config"].toDoubleList();
    // needs_input_grad counts only the tensors given: x, history (if any), h0 (if any), weight, bias.
    const bool has_hist = saved[1].defined(), has_h0 = saved[2].defined();
    const bool need_dx = ctx->needs_input_grad(0);
    const bool need_dhist = has_hist && ctx->needs_input_grad(1);
    const bool need_dh0 = has_h0 && ctx->needs_input_grad(has_hist ? 2 : 1);
    // H is an output only with store_h (else an empty placeholder, whose gradient is not used)
    const Tensor& grad_h = ctx->saved_data["store_h"].toBool() ? grads[1] : Tensor();
    const Tensor h = ctx->saved_data["h_is_last"].toBool() ? saved[5].unsqueeze(0) : saved[5];
    auto [dx, dhist, dh0, dw, db] = op.call(
        defined_or_none(grads[0]), defined_or_none(grad_h), defined_or_none(grads[2]), saved[0],
        defined_or_none(saved[1]), defined_or_none(saved[2]), h, saved[3], saved[4], config[0], config[1],
        static_cast<int64_t>(config[2]), static_cast<int64_t>(config[3]), config[4], need_dx, need_dhist, need_dh0);
    return {need_dx ? dx : Tensor(),
            need_dhist ? dhist : Tensor(),
            need_dh0 ? dh0 : Tensor(),
            dw,
            db,
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

std::tuple<Tensor, Tensor, Tensor> dsn_cpu_autograd(const Tensor& x, const OptTensor& hist, const OptTensor& h0,
                                                    const Tensor& weight, const Tensor& bias, double tau, double vth,
                                                    int64_t max_spike, int64_t surrogate, double surrogate_alpha,
                                                    bool store_h, bool checkpoint_h) {
  const Tensor hist_t = value_or_undefined(hist), h0_t = value_or_undefined(h0);
  const bool grad = needs_grad({&x, &hist_t, &h0_t, &weight, &bias});
  auto out = DsnFunction::apply(x, hist, h0, weight, bias, tau, vth, max_spike, surrogate, surrogate_alpha, store_h,
                                checkpoint_h, grad);
  return {out[0], out[1], out[2]};
}

class ScanFunction : public torch::autograd::Function<ScanFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& u, const Tensor& g, const OptTensor& h0) {
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("paraspike::scan_cpu", "").typed<decltype(scan_cpu)>();
    Tensor h;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      h = op.call(u, g, h0);
    }
    ctx->save_for_backward({g, h, value_or_undefined(h0)});
    return {h};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("paraspike::scan_cpu_backward", "")
                         .typed<decltype(scan_cpu_backward)>();
    const auto saved = saved_or_explain(ctx);
    const bool need_dh0 = saved[2].defined() && ctx->needs_input_grad(2);
    const Tensor grad = grads[0].defined() ? grads[0] : at::zeros_like(saved[1]);
    auto [du, dg, dh0] = op.call(grad, saved[0], saved[1], defined_or_none(saved[2]), need_dh0);
    return {du, dg, need_dh0 ? dh0 : Tensor()};
  }
};

Tensor scan_cpu_autograd(const Tensor& u, const Tensor& g, const OptTensor& h0) {
  return ScanFunction::apply(u, g, h0)[0];
}

}  // namespace
}  // namespace paraspike

TORCH_LIBRARY_FRAGMENT(paraspike, m) {
  m.def(
      "dsn_cpu(Tensor x, Tensor? history, Tensor? h0, Tensor weight, Tensor bias, float tau, float v_threshold, "
      "int max_spike, int surrogate, float surrogate_alpha, bool store_h, bool checkpoint_h=False) "
      "-> (Tensor, Tensor, Tensor)");
  m.def(
      "dsn_cpu_backward(Tensor? grad_spikes, Tensor? grad_h, Tensor? grad_last, Tensor x, Tensor? history, "
      "Tensor? h0, Tensor h, Tensor weight, Tensor bias, float tau, float v_threshold, int max_spike, "
      "int surrogate, float surrogate_alpha, bool need_dx, bool need_dhistory, bool need_dh0) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("scan_cpu(Tensor u, Tensor log_decay, Tensor? h0) -> Tensor");
  m.def("cpu_output_cache_stats() -> int[]", [] { return paraspike::OutputPool::instance().stats(); });
  m.def("release_cpu_output_cache() -> ()", [] { paraspike::OutputPool::instance().release(); });
  m.def("strip_timing(int steps, int batch, int channels, int rounds, int input_offset, int output_offset) "
        "-> float[]",
        &paraspike::strip_timing);
  m.def(
      "scan_cpu_backward(Tensor grad_h, Tensor log_decay, Tensor h, Tensor? h0, bool need_dh0) "
      "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(paraspike, CPU, m) {
  m.impl("dsn_cpu", &paraspike::dsn_cpu);
  m.impl("dsn_cpu_backward", &paraspike::dsn_cpu_backward);
  m.impl("scan_cpu", &paraspike::scan_cpu);
  m.impl("scan_cpu_backward", &paraspike::scan_cpu_backward);
}

TORCH_LIBRARY_IMPL(paraspike, Autograd, m) {
  m.impl("dsn_cpu", &paraspike::dsn_cpu_autograd);
  m.impl("scan_cpu", &paraspike::scan_cpu_autograd);
}
