// Float vectors of 8 or 16 lanes (GCC/Clang vector extensions) and the vectorised sincos the CPU
// fast path uses for the first knot angle θ = Δ·P[v,n,k] (docs/design.md §5; the other knots
// follow by rotation). The same source compiles to AVX-512, AVX2+FMA or SSE2 instructions,
// depending on the target of the function it is inlined into (cpu_kernels.cpp builds each); a
// 16-lane vector on an AVX2 target becomes pairs of 256-bit instructions.
//
// sincos: Cody–Waite reduction by π/2 in three parts, then Cephes' single-precision minimax
// polynomials on [−π/4, π/4]. Exact reduction needs |x| ≤ kFastLimit; callers route larger (or
// non-finite) arguments to sincos_exact, which uses the float64 libm per lane.
#pragma once

#include <cmath>
#include <cstdint>

#define SIGREG_ALWAYS_INLINE inline __attribute__((always_inline))

namespace sigreg::detail::simd {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u8 __attribute__((vector_size(32)));
typedef float f16 __attribute__((vector_size(64)));
typedef int32_t i16 __attribute__((vector_size(64)));
typedef uint32_t u16 __attribute__((vector_size(64)));

// Vec<L>: the float (F), int (I) and unsigned (U) vector types of L lanes.
template <int L>
struct Vec;
template <>
struct Vec<8> {
  using F = f8;
  using I = i8;
  using U = u8;
};
template <>
struct Vec<16> {
  using F = f16;
  using I = i16;
  using U = u16;
};

// Lanes of a float vector type.
template <typename F>
constexpr int kLanesOf = static_cast<int>(sizeof(F) / sizeof(float));

// q = round(x·2/π) stays below 2^12 here, so q·kPio2Hi and q·kPio2Mid (12-bit constants) are
// exact in float and x − q·kPio2Hi has no rounding error, with or without FMA.
constexpr float kFastLimit = 6400.0f;

// Loads and stores need p aligned to the vector's size (32 or 64 bytes).
template <typename F>
SIGREG_ALWAYS_INLINE F load(const float* p) {
  return *reinterpret_cast<const F*>(p);
}
template <typename F>
SIGREG_ALWAYS_INLINE void store(float* p, const F& x) {
  *reinterpret_cast<F*>(p) = x;
}

// True (−1) in every lane with |x| ≤ kFastLimit (false for NaN lanes).
template <typename F>
SIGREG_ALWAYS_INLINE auto in_fast_range(const F& x) {
  using V = Vec<kLanesOf<F>>;
  const F ax = reinterpret_cast<F>(reinterpret_cast<typename V::U>(x) & 0x7fffffffu);
  return ax <= kFastLimit;
}

// Whether every lane of a mask is true.
template <typename I>
SIGREG_ALWAYS_INLINE bool all_lanes(const I& mask) {
  bool all = true;
  for (int l = 0; l < kLanesOf<I>; ++l) all = all && mask[l] != 0;
  return all;
}

template <typename F>
SIGREG_ALWAYS_INLINE void sincos_fast(const F& x, F* sin_out, F* cos_out) {
  using I = typename Vec<kLanesOf<F>>::I;
  using U = typename Vec<kLanesOf<F>>::U;
  constexpr float kTwoOverPi = 0.636619772367581343f;
  constexpr float kRound = 0x1.8p23f;  // adding and subtracting it rounds to nearest integer
  constexpr float kPio2Hi = 0x1.922p+0f;
  constexpr float kPio2Mid = -0x1.2aep-18f;
  constexpr float kPio2Lo = -0x1.de973ep-31f;
  const F q = (x * kTwoOverPi + kRound) - kRound;
  const U qi = reinterpret_cast<U>(__builtin_convertvector(q, I));
  F r = x - q * kPio2Hi;
  r = r - q * kPio2Mid;
  r = r - q * kPio2Lo;
  const F z = r * r;
  // Cephes sinf / cosf minimax coefficients on [−π/4, π/4].
  const F sp = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const F cp =
      ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
      0.5f * z + 1.0f;
  // Quadrant q mod 4: odd quadrants swap sin and cos; the sign bits come from q's low bits.
  const I swap = (qi & 1u) != 0u;
  const F s = swap ? cp : sp;
  const F c = swap ? sp : cp;
  *sin_out = reinterpret_cast<F>(reinterpret_cast<U>(s) ^ ((qi & 2u) << 30));
  *cos_out = reinterpret_cast<F>(reinterpret_cast<U>(c) ^ (((qi + 1u) & 2u) << 30));
}

// Per-lane float64 libm: for arguments outside the fast range, NaN and ±inf (rare; slow).
template <typename F>
SIGREG_ALWAYS_INLINE void sincos_exact(const F& x, F* sin_out, F* cos_out) {
  F s, c;
  for (int l = 0; l < kLanesOf<F>; ++l) {
    const double xd = static_cast<double>(x[l]);
    s[l] = static_cast<float>(std::sin(xd));
    c[l] = static_cast<float>(std::cos(xd));
  }
  *sin_out = s;
  *cos_out = c;
}

template <bool kExact, typename F>
SIGREG_ALWAYS_INLINE void sincos(const F& x, F* sin_out, F* cos_out) {
  if constexpr (kExact) {
    sincos_exact(x, sin_out, cos_out);
  } else {
    sincos_fast(x, sin_out, cos_out);
  }
}

}  // namespace sigreg::detail::simd
