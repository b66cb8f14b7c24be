// Launchers of the launch-lean kernels (lean_kernels.cu, kernel version "lean"): for the small
// shapes where a call's cost is its launches, not its arithmetic. The forward is one kernel —
// directions (optional), the projection tile on chip, the ECF partials, and the finish to sums,
// stats and loss by the last tile to arrive (an integer ticket; no float atomics) — and the
// backward two: dP with P recomputed on chip, then dZ = dP·Aᵀ.
//
// Math: docs/design.md §1 (ECF sums, stats, loss, dP), §2 (directions), §5 (rotation recurrence).
// Shapes (row-major, 0-based): Z V×N×D (float, or the bits of a 16-bit type), A D×K float, sums
// V×K×M×2 double, stats V×K float, dZ V×N×D in Z's type. Workspace: partials
// [v][row block][j][cos/sin][k] double (lean_partials_count), the stats in double (V·K, for the
// loss), the tickets (lean_ticket_count unsigned ints), dP V×N×K float (backward; it may share
// the partials' bytes).
//
// Only D ≤ kLeanMaxFeatures (a tile's A columns live in shared memory for the whole depth) and
// M ≤ kLeanMaxKnots (every knot's sums in registers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/knots.hpp"
#include "core/math.hpp"

namespace sigreg::kernels {

// One tile: kLeanRows samples × kLeanSlices slices, 256 threads (a warp across the slices).
constexpr int kLeanRows = 128;
constexpr int kLeanSlices = 32;
constexpr int kLeanThreads = 256;
constexpr int kLeanMaxFeatures = 128;
constexpr int kLeanMaxKnots = 32;

__host__ __device__ inline bool lean_supports(int64_t D, int M) {
  return D >= 1 && D <= kLeanMaxFeatures && M >= 2 && M <= kLeanMaxKnots;
}
__host__ __device__ inline int64_t lean_row_blocks(int64_t N) {
  return (N + kLeanRows - 1) / kLeanRows;
}
__host__ __device__ inline int64_t lean_slice_tiles(int64_t K) {
  return (K + kLeanSlices - 1) / kLeanSlices;
}
// Doubles of the forward's partials: V·RB·M·2·K.
inline int64_t lean_partials_count(int64_t V, int64_t N, int64_t K, int M) {
  return V * lean_row_blocks(N) * M * 2 * K;
}
// Tickets: one per (v, slice tile) — its row blocks arrive — and one for the loss.
inline int64_t lean_ticket_count(int64_t V, int64_t K) { return V * lean_slice_tiles(K) + 1; }

// The forward's workspace pieces.
struct LeanWorkspace {
  double* partials;   // lean_partials_count
  double* stats;      // V·K: the stats in double, for the loss (used only with a loss)
  unsigned* tickets;  // lean_ticket_count, zeroed by the launcher and left at zero
};

struct LeanForward {
  const void* Z;  // V×N×D of dtype
  DType dtype;
  int64_t V, N, D, K;
  // Directions: A (D×K) when not null; else drawn per tile from (seed, step) — step =
  // *step_memory when that is not null — exactly as launch_directions draws them, and written
  // to A_out (D×K, required then) for the backward.
  const float* A;
  uint64_t seed, step;
  const uint64_t* step_memory;
  float* A_out;
  math::CountArg count;  // N behind stats and loss (unused without them)
  double* sums;          // V×K×M×2
  float* stats;          // V×K, may be null
  float* loss;           // scalar, may be null
  LeanWorkspace work;
};

// One memset of the tickets, then the one forward kernel.
cudaError_t launch_lean_forward(const LeanForward& args, const KnotTable& knots,
                                cudaStream_t stream);

struct LeanBackward {
  const void* Z;  // V×N×D of dtype
  DType dtype;
  int64_t V, N, D, K;
  const float* A;          // D×K
  const double* sums;      // V×K×M×2, globally reduced
  math::CountArg count;    // N (global) behind the sums
  const float* grad_loss;  // g, or null for 1
  float* dP;               // V×N×K workspace
  void* dZ;                // V×N×D of dtype
};

// The two backward kernels: dP (coefficients from the sums, P recomputed on chip), then dZ.
cudaError_t launch_lean_backward(const LeanBackward& args, const KnotTable& knots,
                                 cudaStream_t stream);

}  // namespace sigreg::kernels
