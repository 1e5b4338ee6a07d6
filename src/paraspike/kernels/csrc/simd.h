// 64-byte SIMD vectors (16 floats or 8 doubles) through GCC/Clang vector extensions: the compiler
// maps them to AVX-512, 2 x AVX2 or 4 x NEON registers. Only what the strip kernels need: loads and
// stores (whole or partial), min/max/select with IEEE NaN propagation, floor, and exp.
#pragma once

#include "common.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace paraspike {
namespace simd {

template <typename T>
struct Types;
template <>
struct Types<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef float Unaligned __attribute__((vector_size(64), aligned(4), may_alias));
  typedef int32_t I __attribute__((vector_size(64)));
};
template <>
struct Types<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef double Unaligned __attribute__((vector_size(64), aligned(8), may_alias));
  typedef int64_t I __attribute__((vector_size(64)));
};
template <typename T>
using Vec = typename Types<T>::V;
template <typename T>
using Mask = typename Types<T>::I;
template <typename T>
constexpr int kLanes = 64 / sizeof(T);

template <typename T>
inline Vec<T> splat(T value) {
  // The bit pattern broadcast as an integer vector: exact for -0.0 and NaN ({} + value turns -0.0 into
  // +0.0), and one broadcast instruction. A lane-by-lane fill of a run-time value (V_th, N) compiled
  // to sixteen masked moves per use, inside the step loops.
  using Bits = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  Bits bits;
  std::memcpy(&bits, &value, sizeof bits);
  return (Vec<T>)(Mask<T>{} + bits);
}

// n lanes from p (n < kLanes reads only n values; the other lanes are 0). Partial strips use masked
// loads and stores where the CPU has them (no library call in the loop, so nothing is spilled).
template <typename T>
inline Vec<T> load(const T* p, int n) {
  using U = typename Types<T>::Unaligned;
  if (n == kLanes<T>) return *reinterpret_cast<const U*>(p);
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    return (Vec<T>)_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  } else {
    return (Vec<T>)_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
  }
#else
  Vec<T> v{};
  for (int i = 0; i < n; ++i) v[i] = p[i];
  return v;
#endif
}
template <typename T>
inline void store(T* p, Vec<T> v, int n) {
  using U = typename Types<T>::Unaligned;
  if (n == kLanes<T>) {
    *reinterpret_cast<U*>(p) = v;
    return;
  }
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), (__m512)v);
  } else {
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), (__m512d)v);
  }
#else
  for (int i = 0; i < n; ++i) p[i] = v[i];
#endif
}
// A whole vector stored past the caches (non-temporal) when p is 64-byte aligned: for outputs much
// larger than the cache, which a plain store would first read from memory (read for ownership).
// Falls back to a plain store elsewhere. Callers order these stores before others read the data
// (a fence, or the end of the parallel region, whose barrier is a locked instruction).
template <typename T>
inline void store_streaming(T* p, Vec<T> v, int n) {
#if defined(__AVX512F__)
  if (n == kLanes<T> && (reinterpret_cast<uintptr_t>(p) & 63) == 0) {
    if constexpr (std::is_same_v<T, float>) {
      _mm512_stream_ps(p, (__m512)v);
    } else {
      _mm512_stream_pd(p, (__m512d)v);
    }
    return;
  }
#endif
  store(p, v, n);
}

inline void fence_streaming_stores() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

template <typename T>
inline T sum_lanes(Vec<T> v, int n) {
  T total = 0;
  for (int i = 0; i < n; ++i) total += v[i];
  return total;
}

template <typename T>
inline Vec<T> select(Mask<T> m, Vec<T> a, Vec<T> b) {
  return m ? a : b;
}
// (a < b) ? b : a and (b < a) ? b : a: a NaN in `a` is kept (as std::max(a, b) / std::min(a, b) do).
// With AVX-512 one vmaxps / vminps with the operands swapped is exactly that (it returns its second
// operand when either is NaN or both are equal); GCC compiles the ternary to a compare and a masked move.
template <typename T>
inline Vec<T> max(Vec<T> a, Vec<T> b) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    return (Vec<T>)_mm512_max_ps((__m512)b, (__m512)a);
  } else {
    return (Vec<T>)_mm512_max_pd((__m512d)b, (__m512d)a);
  }
#else
  return a < b ? b : a;
#endif
}
template <typename T>
inline Vec<T> min(Vec<T> a, Vec<T> b) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    return (Vec<T>)_mm512_min_ps((__m512)b, (__m512)a);
  } else {
    return (Vec<T>)_mm512_min_pd((__m512d)b, (__m512d)a);
  }
#else
  return b < a ? b : a;
#endif
}
// -|v| (the sign bit set); NaN stays NaN.
template <typename T>
inline Vec<T> negative_abs(Vec<T> v) {
  return (Vec<T>)((Mask<T>)v | (Mask<T>)splat(T(-0.0)));
}
template <typename T>
inline Vec<T> abs(Vec<T> v) {
  return (Vec<T>)((Mask<T>)v & ~(Mask<T>)splat(T(-0.0)));
}
template <typename T>
inline Mask<T> is_nan(Vec<T> v) {
  return v != v;
}

// floor for |v| < 2^30 (callers clamp first; any v with AVX-512); exact.
template <typename T>
inline Vec<T> floor_small(Vec<T> v) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    return (Vec<T>)_mm512_roundscale_ps((__m512)v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  } else {
    return (Vec<T>)_mm512_roundscale_pd((__m512d)v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  }
#else
  const Vec<T> truncated = __builtin_convertvector(__builtin_convertvector(v, Mask<T>), Vec<T>);
  return select<T>(truncated > v, truncated - T(1), truncated);
#endif
}

// 1 / d for d in [1, 2] (the sigmoid's 1 + e): exact division for double; for float with AVX-512, a
// 14-bit reciprocal estimate and one Newton step (relative error about 2^-24, like the division).
template <typename T>
inline Vec<T> reciprocal_1_2(Vec<T> d) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const Vec<T> r = (Vec<T>)_mm512_rcp14_ps((__m512)d);
    return r * (T(2) - d * r);
  }
#endif
  return T(1) / d;
}

// c[0] + c[1] x + ... + c[N-1] x^(N-1) in Estrin's form: pairs c[2i] + c[2i+1] x, then pairs of those
// with x^2, x^4, ...: about log2(N) FMAs deep where Horner's rule is N - 1. The strip kernels are
// bound by how deep each step's chain of dependent operations is (see strip_kernels.h).
template <typename T, int N>
__attribute__((always_inline)) inline Vec<T> polynomial(Vec<T> x, const T (&c)[N]) {
  static_assert(N >= 1, "polynomial: at least one coefficient");
  Vec<T> level[(N + 1) / 2];
  for (int i = 0; i < N / 2; ++i) level[i] = x * c[2 * i + 1] + c[2 * i];
  if (N % 2 == 1) level[N / 2] = splat(c[N - 1]);
  Vec<T> power = x * x;
  for (int count = (N + 1) / 2; count > 1; count = (count + 1) / 2) {
    for (int i = 0; i < count / 2; ++i) level[i] = level[2 * i + 1] * power + level[2 * i];
    if (count % 2 == 1) level[count / 2] = level[count - 1];
    power = power * power;
  }
  return level[0];
}

// exp(y) for y in [-87, 0] (float) / [-700, 0] (double), as exp_float in common.h: Cody-Waite
// reduction, a minimax (float) or degree-13 Taylor (double, error below 1e-16) polynomial, and 2^n
// from the integer rounded into the low mantissa bits of y log2(e) + 1.5 * 2^mantissa.
// Callers pass y <= 0 (as -|z|, clamped); NaN gives NaN.
inline Vec<float> exp_nonpositive(Vec<float> y) {
  using V = Vec<float>;
  using I = Mask<float>;
  constexpr float kMagic = 12582912.0f;
  const V t = y * 1.44269504088896341f + kMagic;
  const V n = t - kMagic;
  V r = n * -0.693145751953125f + y;
  r = n * -1.428606765330187045e-06f + r;
  // exp(r) = 1 + r + r^2 (c0 + c1 r + ... + c5 r^5), the polynomial in Estrin's form: pairs p01, p23,
  // p45, then r^4 (p23 + r^2 p45) + (r^2 p01 + (r + 1)), two FMAs deep after the pairs (the exp sits on
  // each step's longest chain). Written out: through polynomial() the backward at T = 1-2 took 15-20%
  // longer (paraspike.bench.strip_cycles); as (p45 r^4 + (p23 r^2 + p01)) r^2 + (r + 1), three FMAs
  // deep, the loops took 1-4% longer (`--steps 1 2 4 8 32 --batch 16 --rounds 9`, alternated twice:
  // forward 31.1-32.4 -> 30.0-31.6 cycles per vector-step, backward T = 2 52.2-53.6 -> 50.7-51.1).
  const V r2 = r * r;
  const V p01 = r * 1.6666665459e-1f + 5.0000001201e-1f;
  const V p23 = r * 8.3334519073e-3f + 4.1665795894e-2f;
  const V p45 = r * 1.9875691500e-4f + 1.3981999507e-3f;
  const V p = (r2 * r2) * (r2 * p45 + p23) + (r2 * p01 + (r + 1.0f));
  const I scale = (((I)t) - float_bits(kMagic) + 127) << 23;
  return p * (V)scale;
}
inline Vec<double> exp_nonpositive(Vec<double> y) {
  using V = Vec<double>;
  using I = Mask<double>;
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  const V t = y * 1.4426950408889634074 + kMagic;
  const V n = t - kMagic;
  V r = n * -6.93147180369123816490e-01 + y;  // ln 2, high and low parts (fdlibm)
  r = n * -1.90821492927058770002e-10 + r;
  V p = splat(1.0 / 6227020800.0);  // 1/13!
  const double inverse_factorials[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                       1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                                       1.0 / 6.0, 0.5, 1.0, 1.0};
  for (double c : inverse_factorials) p = p * r + c;
  int64_t magic_bits;
  std::memcpy(&magic_bits, &kMagic, sizeof magic_bits);
  const I scale = (((I)t) - magic_bits + 1023) << 52;
  return p * (V)scale;
}

// log1p(e) for e in [0, 1] (the softplus term of log sigmoid, e = exp(-|z|)), without libm:
// log1p(e) = 2 atanh(s) with s = e / (2 + e) in [0, 1/3] (no cancellation for small e), an odd series
// in s: terms to s^15 (float) / s^35 (double), truncation below 2^-24 / 2^-56 relative.
template <typename T>
inline Vec<T> log1p_unit(Vec<T> e) {
  using V = Vec<T>;
  const V s = e / (e + T(2));
  constexpr int kTerms = std::is_same_v<T, float> ? 8 : 18;  // 1, 1/3, 1/5, ..., 1/(2 kTerms - 1)
  T odd_inverse[kTerms];
  for (int k = 0; k < kTerms; ++k) odd_inverse[k] = T(1) / T(2 * k + 1);
  return (s + s) * polynomial<T>(s * s, odd_inverse);
}

// expm1(y) for y in [kMinLog, 0] (1 - alpha = -expm1(log alpha) without cancellation near alpha = 1):
// a Taylor polynomial where |y| < 1/2 (to y^9 float / y^15 double: truncation below 2^-26 / 2^-56
// relative), exp(y) - 1 elsewhere (exp(y) <= 0.61 there, so at most a couple of ulps lost).
template <typename T>
inline Vec<T> expm1_nonpositive(Vec<T> y) {
  using V = Vec<T>;
  constexpr int kDegree = std::is_same_v<T, float> ? 9 : 15;
  T inverse_factorial[kDegree];  // 1 / (k + 1)!: expm1(y) = y (1 + y / 2! + y^2 / 3! + ...)
  inverse_factorial[0] = T(1);
  for (int k = 1; k < kDegree; ++k) inverse_factorial[k] = inverse_factorial[k - 1] / T(k + 1);
  const V series = polynomial<T>(y, inverse_factorial) * y;
  return select<T>(y > T(-0.5), series, exp_nonpositive(y) - T(1));
}

}  // namespace simd
}  // namespace paraspike
