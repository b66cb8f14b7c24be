// The CPU fast path's inner loops on one tile of projections P (rows n × lanes k, row stride
// ldp, lanes padded to a multiple of 8 with finite values). They are built twice — AVX2+FMA and
// baseline x86-64 — and the loader picks the one the CPU runs (cpu_kernels.cpp).
// Math: DESIGN.md §1 (ECF sums, dP) with the knot rotation of §5.
#pragma once

#include <cstdint>

namespace sigreg::detail::cpu {

// One tile's knot grid: first angle θ = delta·p; knots j = 1..M−1 (j = 0 contributes nothing
// to the centred sums and has zero weight in the gradient).
struct TileKnots {
  int M;
  float delta;       // Δ = t_max/(M−1)
  const float* phi;  // φ_j rounded to float, j = 0..M−1 (the centring constants)
};

// acc[((kv·M + j)·2 + {0: cos, 1: sin})·8 + lane] += Σ_rows (cos(jθ) − φ_j), Σ_rows sin(jθ)
// for lane vectors kv = 0..vectors−1 (k = 8·kv + lane), j = 1..M−1. Float accumulation: the
// caller keeps `rows` short and adds the totals into float64. Exactly rows·φ_j is subtracted.
void ecf_accumulate_tile(const float* P, int64_t rows, int64_t ldp, int64_t vectors,
                         const TileKnots& knots, float* acc);

// Overwrites P with dP[n,k] = Σ_{j=1}^{M−1} a[j−1][k]·cos(jθ) + b[j−1][k]·sin(jθ), where
// a = coef_cos, b = coef_sin are (M−1)×ldc tables (the per-slice coefficients of DESIGN.md §1's
// dP, already scaled by g·2/(V·K)).
void ecf_grad_tile(float* P, int64_t rows, int64_t ldp, int64_t vectors, const TileKnots& knots,
                   const float* coef_cos, const float* coef_sin, int64_t ldc);

// sin and cos of `count` floats with the kernels' own vectorised sincos (exposed for tests).
void sincos_array(const float* x, int64_t count, float* sin_out, float* cos_out);

// Which build of the kernels this CPU runs: "avx2-fma" or "baseline".
const char* kernel_isa();

}  // namespace sigreg::detail::cpu
