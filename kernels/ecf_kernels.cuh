// Launchers of the CUDA backend's kernels (ecf_kernels.cu) and the tile shapes that decide the
// workspace layout (host/cuda carves the workspace with the same helpers).
//
// Math: docs/design.md §1 (ECF sums, stats, dP), §2 (directions), §5 (rotation recurrence).
// Shapes (row-major, 0-based): P V×N×K float (the projections Z·A, computed by cuBLAS),
// sums V×K×M×2 double, partials RB×… double (see ecf_partials_count), coefficients
// V×M×2×K float ([v][j][a, b][k], core/math.hpp's backward_coefficient).
//
// Every launcher enqueues on `stream` and returns cudaGetLastError() of its launch; none
// allocates or synchronises. Sizes are int64; grids are 1-D and grid-stride over tiles, so no
// grid dimension limit is ever reached and results do not depend on the grid size.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/knots.hpp"
#include "core/math.hpp"

namespace sigreg::kernels {

// ECF and dP tiles: kTileSlices slices across a warp (coalesced along k) × kRowLanes row lanes.
constexpr int kTileSlices = 32;
constexpr int kRowLanes = 8;
constexpr int kTileThreads = kTileSlices * kRowLanes;
// Samples one thread accumulates in float per 32 knots before the block reduction in double.
constexpr int kRunPerKnotChunk = 32;

// Row blocks of the ECF partial sums: each block of the partials kernel reduces
// kRowLanes · run rows, run = kRunPerKnotChunk · ceil(M/32), so the partials shrink as M grows.
__host__ __device__ inline int64_t ecf_rows_per_block(int M) {
  return static_cast<int64_t>(kRowLanes) * kRunPerKnotChunk * ((M + 31) / 32);
}
__host__ __device__ inline int64_t ecf_row_blocks(int64_t N, int M) {
  const int64_t rows = ecf_rows_per_block(M);
  return (N + rows - 1) / rows;
}
// Doubles in the partials buffer: [v][row block][j][cos/sin][k], V·RB·M·2·K.
inline int64_t ecf_partials_count(int64_t V, int64_t N, int64_t K, int M) {
  return V * ecf_row_blocks(N, M) * M * 2 * K;
}
// Floats in the backward coefficient buffer: [v][j][a, b][k], V·M·2·K.
inline int64_t coefficients_count(int64_t V, int64_t K, int M) { return V * M * 2 * K; }

// cudaSuccess when the current device can run these kernels (the build holds an image for it).
cudaError_t probe_kernel_image();

// A (D×K): column k = Philox normals keyed by (seed, step, k), divided by their norm; the step
// is *step_memory (device) when that is not null, else `step`.
cudaError_t launch_directions(int64_t D, int64_t K, uint64_t seed, uint64_t step,
                              const uint64_t* step_memory, float* A, cudaStream_t stream);

// partials (ecf_partials_count doubles) ← per-row-block Σ_n (cos(t_j p) − φ_j), Σ_n sin(t_j p)
// of P (V×N×K).
cudaError_t launch_ecf_partials(const float* P, int64_t V, int64_t N, int64_t K,
                                const KnotTable::Floats& knots, double* partials,
                                cudaStream_t stream);

// sums (V×K×M×2) ← Σ over `row_blocks` row blocks of partials in the layout above, plus N·φ_j on
// the cosine half (the simple path's partials: ecf_row_blocks(N, M); the fused forward's:
// kernels/fused_kernels.cuh).
cudaError_t launch_ecf_finish(const double* partials, int64_t V, int64_t N, int64_t K,
                              const KnotTable::Floats& knots, int64_t row_blocks, double* sums,
                              cudaStream_t stream);

// stats (V×K, may be null) and loss (scalar, may be null) from sums; N from `count`.
cudaError_t launch_finalize(const double* sums, int64_t V, int64_t K, const KnotTable& knots,
                            math::CountArg count, float* stats, float* loss, cudaStream_t stream);

// coefficients (V×M×2×K, math::backward_coefficient) from sums, with s = g·2/(V·K),
// g = *grad_loss (device) or 1 when grad_loss is null; N from `count`.
cudaError_t launch_backward_coefficients(const double* sums, int64_t V, int64_t K,
                                         const KnotTable& knots, math::CountArg count,
                                         const float* grad_loss, float* coefficients,
                                         cudaStream_t stream);

// dP = Σ_j a_j cos(t_j P) + b_j sin(t_j P) of P (V×N×K): in place over P for `out` kFloat32,
// else rounded to `out` (bf16 / fp16) into dP16 (V×N×K).
cudaError_t launch_dp(float* P, const float* coefficients, int64_t V, int64_t N, int64_t K,
                      const KnotTable::Floats& knots, DType out, uint16_t* dP16,
                      cudaStream_t stream);

// out[i] ← in[i] rounded to `out_type` (kBFloat16 or kFloat16), to nearest, ties to even.
cudaError_t launch_round(const float* in, int64_t count, DType out_type, uint16_t* out,
                         cudaStream_t stream);

}  // namespace sigreg::kernels
