// The CPU fast path's inner loops on one tile of projections P (rows n × lanes k, row stride
// ldp, lanes padded to a multiple of 8 with finite values). They are built twice — AVX2+FMA and
// baseline x86-64 — and the loader picks the one the CPU runs (cpu_kernels.cpp).
// Math: docs/design.md §1 (ECF sums, dP) with the knot rotation of §5. The knots are the float
// view of the knot table: first angle θ = Δ·p; knots j = 1..M−1 (j = 0 contributes nothing to
// the centred sums and has zero weight in the gradient); φ_j are the centring constants.
#pragma once

#include <cstdint>

#include "core/knots.hpp"

namespace sigreg::detail::cpu {

// Slices per vector: the lane count of the tile kernels (8 floats = one AVX2 register).
constexpr int kVectorSlices = 8;

// acc[((kv·M + j)·2 + {0: cos, 1: sin})·8 + lane] += Σ_rows (cos(jθ) − φ_j), Σ_rows sin(jθ)
// for lane vectors kv = 0..vectors−1 (k = 8·kv + lane), j = 1..M−1. Float accumulation: the
// caller keeps `rows` short and adds the totals into float64. Exactly rows·φ_j is subtracted.
void ecf_accumulate_tile(const float* P, int64_t rows, int64_t ldp, int64_t vectors,
                         const KnotTable::Floats& knots, float* acc);

// Overwrites P with dP[n,k] = Σ_{j=1}^{M−1} a[j−1][k]·cos(jθ) + b[j−1][k]·sin(jθ), where
// a = coef_cos, b = coef_sin are (M−1)×ldc tables starting at knot 1 (the per-slice coefficients
// of docs/design.md §1.3, already scaled by g·2/(V·K): math::backward_coefficient).
void ecf_grad_tile(float* P, int64_t rows, int64_t ldp, int64_t vectors,
                   const KnotTable::Floats& knots, const float* coef_cos, const float* coef_sin,
                   int64_t ldc);

// sin and cos of `count` floats with the kernels' own vectorised sincos (exposed for tests).
void sincos_array(const float* x, int64_t count, float* sin_out, float* cos_out);

// Which build of the kernels this CPU runs: "avx2-fma" or "baseline".
const char* kernel_isa();

}  // namespace sigreg::detail::cpu
