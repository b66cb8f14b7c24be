// Grid sizing for grid-stride kernels, shared by the library's kernels (kernels/launch.cuh) and
// the toy driver's: at least one block (a launch over zero items stays valid), at most
// `max_blocks` (a grid-stride loop covers any count; more blocks would only queue).
#pragma once

#include <algorithm>
#include <cstdint>

namespace sigreg::math {

inline unsigned int grid_blocks(int64_t work_items, int64_t items_per_block, int64_t max_blocks) {
  const int64_t blocks = (work_items + items_per_block - 1) / items_per_block;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, max_blocks));
}

}  // namespace sigreg::math
