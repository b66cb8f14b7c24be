// What every kernel file shares: the grid cap of the grid-stride loops and the one sincos that
// starts the rotation recurrence (core/phasor.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/grid.hpp"
#include "core/phasor.hpp"

// The kernel emulation (tests/kernel_emulation) builds with a cap of 3 blocks, so that every
// grid-stride loop runs several tiles per block and results must not depend on the grid size.
#ifndef SIGREG_KERNEL_MAX_BLOCKS
#define SIGREG_KERNEL_MAX_BLOCKS (int64_t{1} << 20)
#endif

namespace sigreg::kernels {

// Grid-stride kernels never need more blocks than this; more would only queue.
constexpr int64_t kMaxBlocks = SIGREG_KERNEL_MAX_BLOCKS;

// Blocks for `work_items` items of `items_per_block` each: at least 1, at most kMaxBlocks.
inline unsigned int blocks_for(int64_t work_items, int64_t items_per_block = 1) {
  return math::grid_blocks(work_items, items_per_block, kMaxBlocks);
}

// (cos, sin) of `angle` with full-precision sincosf (the build never uses --use_fast_math).
__device__ __forceinline__ math::Phasor phasor_of(float angle) {
  math::Phasor x;
  sincosf(angle, &x.s, &x.c);
  return x;
}

// dP of one projection p from its slice's coefficients (docs/design.md §1.3): Σ_{j<M} a_j·cos(t_j
// p)
// + b_j·sin(t_j p), the knots' pairs by the rotation recurrence from (1, 0) — no anchor is needed
// for the M ≤ kChunk ≤ math::kAnchorKnots knots of the on-chip dP epilogues. `a`, `b` hold kChunk
// values (zero past M).
template <int kChunk>
__device__ __forceinline__ float dp_of_projection(const float (&a)[kChunk],
                                                  const float (&b)[kChunk], int M, float delta,
                                                  float p) {
  static_assert(kChunk <= math::kAnchorKnots, "the recurrence runs unanchored");
  const math::Phasor step = phasor_of(delta * p);
  math::Phasor x{1.0f, 0.0f};
  float dp = 0.0f;
#pragma unroll
  for (int jj = 0; jj < kChunk; ++jj) {
    if (jj == M) break;
    dp += a[jj] * x.c + b[jj] * x.s;
    math::rotate(x, step);
  }
  return dp;
}

}  // namespace sigreg::kernels
