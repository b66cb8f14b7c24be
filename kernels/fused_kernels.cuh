// Launchers of the fused kernels (fused_kernels.cu): the projection tile P = Z·A computed on chip
// (FusedGemm: exact float32 FFMA, or tensor cores) with the ECF epilogue (forward) or the dP
// epilogue (backward) applied in place, so that the forward never writes P to device memory.
//
// Math: docs/design.md §1 (ECF sums, dP), §5 (one sincos per element, the other knots by rotation).
// Shapes (row-major, 0-based): Z V×N×D (float, or the 16-bit type's bits for kBf16 / kFp16),
// A D×K float, coefficients V×M×2×K float (from launch_backward_coefficients), dP V×N×K (float
// for kFfma / kTf32, rounded to Z's 16-bit type for kBf16 / kFp16), partials
// [v][row block][j][cos/sin][k] double with fused_row_blocks(N) row blocks — the layout
// launch_ecf_finish reduces.
//
// Only M ≤ kFusedMaxKnots (the epilogue keeps every knot's sums in registers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/ecf_kernels.cuh"

namespace sigreg::kernels {

// One block: kFusedRows samples × kFusedSlices slices of P, D walked in chunks of kFusedDepth.
constexpr int kFusedRows = 128;
constexpr int kFusedSlices = 64;
constexpr int kFusedDepth = 16;
constexpr int kFusedThreads = 256;
constexpr int kFusedMaxKnots = 32;
// Forward: one tile's kFusedRows samples make one row block of partials; each thread accumulates
// kFusedRows / 4 of them in float before the block sums its lanes in double.

inline bool fused_supports(int M) { return M >= 2 && M <= kFusedMaxKnots; }

// How the fused kernels form the P tile; every one accumulates in FP32.
enum class FusedGemm {
  kFfma,  // float32 Z, exact float32 FFMA
  kTf32,  // float32 Z and A rounded to TF32 (10-bit mantissa, to nearest) on tensor cores
  kBf16,  // bf16 Z, A rounded to bf16 (to nearest even) on tensor cores
  kFp16,  // fp16 Z, A rounded to fp16 (to nearest even) on tensor cores
};
// Whether this build has `gemm`: the tensor-core ones need the CuTe headers at build time
// (SIGREG_HAVE_CUTE; kernels/mma_projection.cuh) and an sm_80+ GPU at run time.
bool fused_gemm_available(FusedGemm gemm);

inline int64_t fused_row_blocks(int64_t N) { return (N + kFusedRows - 1) / kFusedRows; }
// Doubles in the fused forward's partials buffer: V·RB·M·2·K.
inline int64_t fused_partials_count(int64_t V, int64_t N, int64_t K, int M) {
  return V * fused_row_blocks(N) * M * 2 * K;
}

// partials (fused_partials_count doubles) ← per-row-block Σ_n (cos(t_j p) − φ_j), Σ_n sin(t_j p)
// of p = (Z·A)[v,n,k]. Follow with launch_ecf_finish(…, fused_row_blocks(N), …).
cudaError_t launch_fused_ecf_partials(FusedGemm gemm, const void* Z, const float* A, int64_t V,
                                      int64_t N, int64_t D, int64_t K,
                                      const KnotTable::Floats& knots, double* partials,
                                      cudaStream_t stream);

// dP (V×N×K) ← Σ_j a_j cos(t_j p) + b_j sin(t_j p), p = (Z·A)[v,n,k] recomputed on chip.
cudaError_t launch_fused_dp(FusedGemm gemm, const void* Z, const float* A,
                            const float* coefficients, int64_t V, int64_t N, int64_t D, int64_t K,
                            const KnotTable::Floats& knots, void* dP, cudaStream_t stream);

}  // namespace sigreg::kernels
