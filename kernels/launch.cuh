// What every kernel file shares: the grid cap of the grid-stride loops and the one sincos that
// starts the rotation recurrence (core/phasor.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

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
  const int64_t blocks = (work_items + items_per_block - 1) / items_per_block;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min(blocks, kMaxBlocks)));
}

// (cos, sin) of `angle` with full-precision sincosf (the build never uses --use_fast_math).
__device__ __forceinline__ math::Phasor phasor_of(float angle) {
  math::Phasor x;
  sincosf(angle, &x.s, &x.c);
  return x;
}

}  // namespace sigreg::kernels
