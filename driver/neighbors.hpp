// Brute-force k-nearest neighbours (squared Euclidean distance) for the toy driver: used to build
// the training pairs in input space and by the k-NN probe. Distances come from one BLAS product
// per block of queries (‖q‖² + ‖r‖² − 2·q·r) on centred data; ties break by index, so the result
// is deterministic.
#pragma once

#include <cstdint>
#include <vector>

namespace sigreg::toy {

// For each of the nq query rows of Q (nq×d), the indices of its k nearest rows of R (nr×d), nearest
// first: an nq×k row-major array. With `exclude_self`, Q and R are the same set and row i never
// lists itself. Needs k ≤ nr (− 1 with exclude_self).
std::vector<int32_t> nearest_neighbors(const float* Q, int64_t nq, const float* R, int64_t nr,
                                       int64_t d, int64_t k, bool exclude_self);

}  // namespace sigreg::toy
