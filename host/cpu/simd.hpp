// Eight-lane float vectors (GCC/Clang vector extensions) and the vectorised sincos the CPU fast
// path uses for the first knot angle θ = Δ·P[v,n,k] (docs/design.md §5; the other knots follow by
// rotation). The same source compiles to AVX2+FMA or to pairs of SSE2 instructions, depending
// on the target of the function it is inlined into (cpu_kernels.cpp builds both).
//
// sincos: Cody–Waite reduction by π/2 in three parts, then Cephes' single-precision minimax
// polynomials on [−π/4, π/4]. Exact reduction needs |x| ≤ kFastLimit; callers route larger (or
// non-finite) arguments to sincos_exact, which uses the float64 libm per lane.
#pragma once

#include <cmath>
#include <cstdint>

#include "host/cpu/cpu_kernels.hpp"

#define SIGREG_ALWAYS_INLINE inline __attribute__((always_inline))

namespace sigreg::detail::simd {

constexpr int kLanes = cpu::kVectorSlices;
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u8 __attribute__((vector_size(32)));

// q = round(x·2/π) stays below 2^12 here, so q·kPio2Hi and q·kPio2Mid (12-bit constants) are
// exact in float and x − q·kPio2Hi has no rounding error, with or without FMA.
constexpr float kFastLimit = 6400.0f;

SIGREG_ALWAYS_INLINE f8 load(const float* p) { return *reinterpret_cast<const f8*>(p); }
SIGREG_ALWAYS_INLINE void store(float* p, const f8& x) { *reinterpret_cast<f8*>(p) = x; }
SIGREG_ALWAYS_INLINE f8 splat(float x) { return f8{} + x; }

// True when every lane satisfies |x| ≤ kFastLimit (false for NaN lanes).
SIGREG_ALWAYS_INLINE i8 in_fast_range(const f8& x) {
  const f8 ax = reinterpret_cast<f8>(reinterpret_cast<u8>(x) & 0x7fffffffu);
  return ax <= kFastLimit;
}

SIGREG_ALWAYS_INLINE void sincos_fast(const f8& x, f8* sin_out, f8* cos_out) {
  constexpr float kTwoOverPi = 0.636619772367581343f;
  constexpr float kRound = 0x1.8p23f;  // adding and subtracting it rounds to nearest integer
  constexpr float kPio2Hi = 0x1.922p+0f;
  constexpr float kPio2Mid = -0x1.2aep-18f;
  constexpr float kPio2Lo = -0x1.de973ep-31f;
  const f8 q = (x * kTwoOverPi + kRound) - kRound;
  const u8 qi = reinterpret_cast<u8>(__builtin_convertvector(q, i8));
  f8 r = x - q * kPio2Hi;
  r = r - q * kPio2Mid;
  r = r - q * kPio2Lo;
  const f8 z = r * r;
  // Cephes sinf / cosf minimax coefficients on [−π/4, π/4].
  const f8 sp = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const f8 cp =
      ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
      0.5f * z + 1.0f;
  // Quadrant q mod 4: odd quadrants swap sin and cos; the sign bits come from q's low bits.
  const i8 swap = (qi & 1u) != 0u;
  const f8 s = swap ? cp : sp;
  const f8 c = swap ? sp : cp;
  *sin_out = reinterpret_cast<f8>(reinterpret_cast<u8>(s) ^ ((qi & 2u) << 30));
  *cos_out = reinterpret_cast<f8>(reinterpret_cast<u8>(c) ^ (((qi + 1u) & 2u) << 30));
}

// Per-lane float64 libm: for arguments outside the fast range, NaN and ±inf (rare; slow).
SIGREG_ALWAYS_INLINE void sincos_exact(const f8& x, f8* sin_out, f8* cos_out) {
  f8 s, c;
  for (int l = 0; l < kLanes; ++l) {
    const double xd = static_cast<double>(x[l]);
    s[l] = static_cast<float>(std::sin(xd));
    c[l] = static_cast<float>(std::cos(xd));
  }
  *sin_out = s;
  *cos_out = c;
}

template <bool kExact>
SIGREG_ALWAYS_INLINE void sincos(const f8& x, f8* sin_out, f8* cos_out) {
  if constexpr (kExact) {
    sincos_exact(x, sin_out, cos_out);
  } else {
    sincos_fast(x, sin_out, cos_out);
  }
}

}  // namespace sigreg::detail::simd
