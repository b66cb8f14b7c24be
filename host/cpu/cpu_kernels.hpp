// The CPU fast path's inner loops on one tile of projections P (rows n × lanes k, row stride
// ldp). The lanes are slices, L of them per vector (16 or 8, the build's `lanes`); k is padded
// to whole vectors with finite values. P, acc and the coefficient tables are 64-byte aligned and
// ldp, ldc are multiples of 16. Each build of the loops (cpu_kernels.cpp) is one Kernels entry;
// the backend takes the one kernels() names when a handle is created.
// Math: docs/design.md §1 (ECF sums, dP) with the knot rotation of §5. The knots are the float
// view of the knot table: first angle θ = Δ·p; knots j = 1..M−1 (j = 0 contributes nothing to
// the centred sums and has zero weight in the gradient); φ_j are the centring constants.
#pragma once

#include <cstdint>

#include "core/knots.hpp"

namespace sigreg::detail::cpu {

// The most lanes of any build: the backend pads k to a multiple of this for every build.
constexpr int kMaxLanes = 16;

struct Kernels {
  const char* isa;      // "avx512", "avx2-fma", "avx2-fma-x16" or "baseline"
  int lanes;            // slices per vector, L: 16 or 8
  bool (*runs_here)();  // whether this CPU has the build's instructions

  // acc[((kv·M + j)·2 + {0: cos, 1: sin})·L + lane] += Σ_rows (cos(jθ) − φ_j), Σ_rows sin(jθ)
  // for lane vectors kv = 0..vectors−1 (k = L·kv + lane), j = 1..M−1. Float accumulation: the
  // caller keeps `rows` short and adds the totals into float64. Exactly rows·φ_j is subtracted.
  void (*accumulate)(const float* P, int64_t rows, int64_t ldp, int64_t vectors,
                     const KnotTable::Floats& knots, float* acc);

  // Overwrites P with dP[n,k] = Σ_{j=1}^{M−1} a[j−1][k]·cos(jθ) + b[j−1][k]·sin(jθ), where
  // a = coef_cos, b = coef_sin are (M−1)×ldc tables starting at knot 1 (the per-slice
  // coefficients of docs/design.md §1.3, already scaled by g·2/(V·K): math::backward_coefficient).
  void (*grad)(float* P, int64_t rows, int64_t ldp, int64_t vectors, const KnotTable::Floats& knots,
               const float* coef_cos, const float* coef_sin, int64_t ldc);

  // sin and cos of `count` floats (any alignment) with the build's vectorised sincos (tests).
  void (*sincos)(const float* x, int64_t count, float* sin_out, float* cos_out);
};

// Every build in this binary, the preferred first: avx512 (16 lanes, x86-64-v4: AVX-512
// F/BW/VL/DQ), avx2-fma (8 lanes, x86-64-v3: AVX2+FMA), avx2-fma-x16 (the 16-lane loops for
// x86-64-v3, each vector a pair of AVX2 registers: the avx512 build's arithmetic on AVX2
// machines, for tests), baseline (8 lanes, x86-64). Builds by a compiler other than GCC for
// x86-64, or configured with SIGREG_CPU_MULTIVERSION=OFF, have the baseline only. `count`
// receives the number of entries.
const Kernels* kernel_builds(int* count);

// The build handles created now use: the one use_kernels() chose, otherwise the first build
// this CPU runs (decided once, from the CPU's features).
const Kernels& kernels();

// Makes the build named `isa` the one handles created from now on use (tests, benchmarks).
// Returns false, changing nothing, when this binary has no such build or this CPU lacks its
// instructions.
bool use_kernels(const char* isa);

// kernels().isa.
const char* kernel_isa();

}  // namespace sigreg::detail::cpu
